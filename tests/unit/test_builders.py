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


def test_tiny_pretraining_init_std_redraws_every_linear_and_keeps_momentum_copies_equal():
    import torch
    from torch import nn

    from blipctl.models.builders import blip_pretrain_tiny

    torch.manual_seed(0)
    m = blip_pretrain_tiny(64, queue_size=0, momentum=0.9, init_std=0.05)
    linears = [mod for mod in m.modules() if isinstance(mod, (nn.Linear, nn.Embedding))]
    big = [mod.weight for mod in linears if mod.weight.numel() >= 4096]
    assert all(abs(w.std().item() - 0.05) < 0.005 for w in big)
    assert all(mod.bias is None or not mod.bias.any() for mod in linears if isinstance(mod, nn.Linear))
    for online, target in m.momentum_pairs():
        assert all(torch.equal(a, b) for a, b in zip(online.state_dict().values(),
                                                      target.state_dict().values(), strict=True))
    torch.manual_seed(0)
    default = blip_pretrain_tiny(64, queue_size=0, momentum=0.9)
    assert abs(default.encoder.layers[0].cross.q.weight.std().item() - 0.02) < 0.002
