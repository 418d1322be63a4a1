"""blipctl's captioner against transformers' BlipForConditionalGeneration on identical weights."""

from __future__ import annotations

import torch

from blipctl.checkpoints.load import load_model
from blipctl.models.blip import BlipCaptioner


def test_vision_tokens_match(hf_caption_dir, images):
    path, hf = hf_caption_dir
    ours = load_model(str(path))
    assert isinstance(ours, BlipCaptioner)
    with torch.no_grad():
        want = hf.vision_model(pixel_values=images).last_hidden_state
        got = ours.encode_image(images)
    assert (got - want).abs().max() < 1e-4
    assert (want[0] - want[1]).abs().max() > 1e-2  # images give different features


def test_caption_logits_match(hf_caption_dir, images):
    path, hf = hf_caption_dir
    ours = load_model(str(path))
    assert isinstance(ours, BlipCaptioner)
    ids = torch.tensor([[30522, 1037, 2417, 4418, 2006, 102, 0],
                        [30522, 1037, 2630, 102, 0, 0, 0],
                        [30522, 2048, 3756, 5216, 1999, 1037, 102]])
    mask = (ids != 0).long()
    with torch.no_grad():
        want = hf(pixel_values=images, input_ids=ids, attention_mask=mask).logits
        got = ours(images, ids, mask)
    real = mask.bool()
    assert (got[real] - want[real]).abs().max() < 1e-4
    assert (want[0, 1] - want[1, 1]).abs().max() > 1e-2
