"""Builders give the architectures transformers describes for the same configs."""

from __future__ import annotations

import pytest
import torch

from blipctl.checkpoints.formats.hf_blip import KEYS, hf_config
from blipctl.models import builders


@pytest.mark.parametrize("name", ["blip_caption_tiny", "blip_vqa_tiny", "blip_retrieval_tiny"])
def test_tiny_builders_match_transformers_layout(name):
    """Our state dict, renamed, has exactly the keys and shapes transformers' class has (its
    tied vocab projection included)."""
    import transformers

    ours = getattr(builders, name)()
    cfg = hf_config(ours)
    theirs = getattr(transformers, cfg.architectures[0])(cfg).state_dict()
    renamed = KEYS[type(ours)].to_theirs(ours.state_dict())
    assert set(renamed) == set(theirs)
    assert all(renamed[k].shape == theirs[k].shape for k in renamed)


def test_tiny_caption_forward_shapes():
    m = builders.blip_caption_tiny().eval()
    logits = m(torch.randn(2, 3, 64, 64), torch.tensor([[30522, 1037, 102]] * 2))
    assert logits.shape == (2, 3, 30524)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["blip_caption_base", "blip_vqa_base", "blip_retrieval_base",
                                  "blip_caption_large"])
def test_full_size_builders_match_transformers_layout(name):
    test_tiny_builders_match_transformers_layout(name)


def test_modules_register_in_the_order_optimizer_states_of_earlier_runs_expect():
    """An optimizer.pt indexes its states by parameter order: resuming a run saved by an earlier
    blipctl needs the same module order."""
    from blipctl.models import builders

    def order(m):
        return [name for name, _ in m.named_children()]

    assert order(builders.blip_retrieval_tiny(queue_size=0)) == [
        "visual", "text", "vision_proj", "text_proj", "itm_head", "visual_m", "vision_proj_m", "text_m",
        "text_proj_m"]
    assert order(builders.blip_caption_tiny()) == ["visual", "decoder", "lm_head"]
    assert order(builders.blip_vqa_tiny()) == ["visual", "encoder", "decoder", "lm_head"]
    assert order(builders.blip_pretrain_tiny())[:6] == ["visual", "encoder", "decoder", "lm_head",
                                                       "vision_proj", "text_proj"]
