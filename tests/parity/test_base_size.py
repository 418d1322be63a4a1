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

    from blipctl.checkpoints.load import load_model
    from blipctl.decode import DecodeConfig
    from blipctl.models.blip import BlipCaptioner

    hf = base_model()
    hf.save_pretrained(tmp_path)
    ours = load_model(str(tmp_path))
    assert isinstance(ours, BlipCaptioner)
    x = images(2)
    ids = torch.tensor([[30522, 1037, 3861, 1997, 1037, 3899]] * 2)
    with torch.no_grad():
        want = hf(pixel_values=x, input_ids=ids).logits
        got = ours(x, ids)
        assert (got - want).abs().max() < 1e-4
        want_ids = hf.generate(pixel_values=x, num_beams=3, min_length=5, max_length=20)
    got_ids = ours.generate(x, torch.tensor([30522]), DecodeConfig(), eos=102, pad=0)
    assert cut(got_ids) == cut(want_ids)


@pytest.mark.slow
def test_base_caption_cli_equals_transformers(tmp_path):
    """The acceptance run: a base-size checkpoint saved by transformers, captioned through
    `blipctl caption --model DIR --num-beams 3 --format jsonl`, gives transformers' captions."""
    import json
    import subprocess

    import numpy as np
    from caption_throughput import base_model
    from PIL import Image
    from transformers import BlipImageProcessor

    from blipctl.text.tokenizer import blip_tokenizer

    hf = base_model()
    hf.save_pretrained(tmp_path / "ckpt")
    paths = []  # structured images: a random ViT maps uniform noise images to one caption
    for i, colour in enumerate([(255, 0, 0), (0, 0, 255), (250, 250, 250)]):
        a = np.zeros((300 + 40 * i, 400, 3), np.uint8)
        a[:] = colour
        a[:150, :200] = 255 - np.array(colour)
        paths.append(tmp_path / f"img{i}.png")
        Image.fromarray(a).save(paths[-1])
    proc = subprocess.run([sys.executable, "-m", "blipctl", "caption", "--model", str(tmp_path / "ckpt"),
                           *map(str, paths), "--num-beams", "3", "--format", "jsonl"],
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr
    got = [json.loads(line)["caption"] for line in proc.stdout.splitlines()]

    tok, prompt = blip_tokenizer(), "a picture of "
    pixels = BlipImageProcessor(size={"height": 384, "width": 384})(
        [Image.open(p).convert("RGB") for p in paths], return_tensors="pt").pixel_values
    with torch.no_grad():
        out = hf.generate(pixel_values=pixels, input_ids=torch.tensor([tok(prompt).input_ids] * 3),
                          num_beams=3, min_length=5, max_length=20)
    want = [t[len(prompt.strip()):].strip() for t in tok.batch_decode(out, skip_special_tokens=True)]
    assert got == want and len(set(want)) > 1
