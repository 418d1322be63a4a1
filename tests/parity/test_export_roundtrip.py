"""transformers -> blipctl -> transformers is lossless, and the key maps invert each other."""

from __future__ import annotations

import torch
from conftest import run_cli

from blipctl.checkpoints.hf import CAPTION_KEYS, load_captioner


def test_export_to_hf_is_lossless(tmp_path, hf_caption_dir):
    from transformers import BlipForConditionalGeneration, BlipProcessor

    src, hf = hf_caption_dir
    proc = run_cli("export", "--model", str(src), "--to", "hf", "--out", str(tmp_path / "out"))
    assert proc.returncode == 0, proc.stderr
    again = BlipForConditionalGeneration.from_pretrained(tmp_path / "out")
    want, got = hf.state_dict(), again.state_dict()
    assert want.keys() == got.keys()
    assert all(torch.equal(want[k], got[k]) for k in want)
    processor = BlipProcessor.from_pretrained(tmp_path / "out")
    assert processor.tokenizer("a dog").input_ids == [101, 1037, 3899, 102]
    assert len(processor.tokenizer) == 30524


def test_key_maps_invert(hf_caption_dir):
    src, _ = hf_caption_dir
    ours = load_captioner(src).state_dict()
    theirs = CAPTION_KEYS.to_theirs(ours)
    assert all(k.startswith(("vision_model.", "text_decoder.")) for k in theirs)
    back = CAPTION_KEYS.to_ours(theirs)
    assert back.keys() == ours.keys()
    assert all(back[k] is ours[k] for k in ours)
