"""Base-size parity (BLIP-base shapes, 384 px): slow, run with `-m slow`."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))


@pytest.mark.slow
def test_base_caption_logits_and_beam_tokens(tmp_path):
    from caption_throughput import base_model, cut, images

    from blipctl.checkpoints.hf import load_captioner
    from blipctl.decode import DecodeConfig

    hf = base_model()
    hf.save_pretrained(tmp_path)
    ours = load_captioner(tmp_path)
    x = images(2)
    ids = torch.tensor([[30522, 1037, 3861, 1997, 1037, 3899]] * 2)
    with torch.no_grad():
        want = hf(pixel_values=x, input_ids=ids).logits
        got = ours(x, ids)
        assert (got - want).abs().max() < 1e-4
        want_ids = hf.generate(pixel_values=x, num_beams=3, min_length=5, max_length=20)
    got_ids = ours.generate(x, torch.tensor([30522]), DecodeConfig(), eos=102, pad=0)
    assert cut(got_ids) == cut(want_ids)
