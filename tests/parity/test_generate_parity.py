"""Generated token ids: blipctl's decoder against transformers' generate on identical weights."""

from __future__ import annotations

import copy

import pytest
import torch

from blipctl.checkpoints.load import load_model
from blipctl.decode import DecodeConfig
from blipctl.models.blip import BlipCaptioner

BOS, SEP, PAD = 30522, 102, 0


def _hf_generate(hf, images, prompt, **kw):
    ids = torch.tensor([prompt + [SEP]]).expand(images.shape[0], -1).clone()
    return hf.generate(pixel_values=images, input_ids=ids, **kw)


def _cut(ids: torch.Tensor) -> list[list[int]]:
    """Each row up to its first [SEP]: what follows is padding, which transformers' beam search
    fills with [SEP] when pad_token_id is 0 (`pad_token_id or eos_token_id`)."""
    rows = ids.tolist()
    return [r[: r.index(SEP) + 1] if SEP in r else r for r in rows]


def _boost_eos(hf, ours, boost):
    """A copy of each model whose [SEP] logit is raised, so captions end at varied lengths."""
    hf, ours = copy.deepcopy(hf), copy.deepcopy(ours)
    with torch.no_grad():
        hf.text_decoder.cls.predictions.bias[SEP] += boost
        ours.lm_head.bias[SEP] += boost
    return hf, ours


# 3.3: some captions end, others run to max_length; 3.5: all end, at varied lengths
@pytest.mark.parametrize("eos_boost", [0.0, 3.3, 3.5])
@pytest.mark.parametrize("prompt", [[101], [101, 1037, 3861, 1997]])  # none, "a picture of"
@pytest.mark.parametrize("beams", [1, 3])
def test_tokens_identical(hf_caption_dir, images, prompt, beams, eos_boost):
    path, hf = hf_caption_dir
    ours = load_model(str(path))
    assert isinstance(ours, BlipCaptioner)
    hf, ours = _boost_eos(hf, ours, eos_boost)
    with torch.no_grad():
        want = _hf_generate(hf, images, prompt, num_beams=beams, min_length=5, max_length=20)
    cfg = DecodeConfig(num_beams=beams, min_length=5, max_length=20)
    got = ours.generate(images, torch.tensor([BOS] + prompt[1:]), cfg, eos=SEP, pad=PAD)
    assert _cut(got) == _cut(want) and got.shape == want.shape
    assert len({tuple(r) for r in got.tolist()}) > 1  # images give different captions
    assert got.shape[1] > len(prompt)
    if eos_boost and len(prompt) == 1:
        ends = [r.index(SEP) if SEP in r else None for r in got.tolist()]
        assert any(e is not None for e in ends) and len(set(ends)) > 1, ends


def test_repetition_penalty_identical(hf_caption_dir, images):
    path, hf = hf_caption_dir
    ours = load_model(str(path))
    assert isinstance(ours, BlipCaptioner)
    with torch.no_grad():
        want = _hf_generate(hf, images, [101], num_beams=3, min_length=5, max_length=20,
                            repetition_penalty=1.3)
    cfg = DecodeConfig(num_beams=3, min_length=5, max_length=20, repetition_penalty=1.3)
    got = ours.generate(images, torch.tensor([BOS]), cfg, eos=SEP, pad=PAD)
    assert _cut(got) == _cut(want)
