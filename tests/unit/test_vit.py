"""The vision tower: position-embedding interpolation and checkpointed blocks."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from blipctl.models.vit import ViT, ViTConfig, resize_pos_embed

TINY = ViTConfig(image_size=32, patch_size=8, width=32, depth=3, heads=4)


def test_resize_pos_embed_keeps_cls_and_interpolates_grid():
    pos = torch.randn(1, 1 + 16, 8)
    out = resize_pos_embed(pos, 36)
    assert out.shape == (1, 37, 8) and torch.equal(out[:, 0], pos[:, 0])
    grid = pos[0, 1:].reshape(4, 4, 8).permute(2, 0, 1)[None]
    want = F.interpolate(grid, size=(6, 6), mode="bicubic", align_corners=False)
    assert torch.allclose(out[0, 1:], want[0].permute(1, 2, 0).reshape(36, 8), atol=1e-6)
    assert resize_pos_embed(pos, 16) is pos


def test_checkpointed_blocks_give_same_output_and_grads():
    torch.manual_seed(0)
    plain = ViT(TINY).train()
    ckpt = ViT(ViTConfig(**{**vars(TINY), "ckpt_layers": 2})).train()
    ckpt.load_state_dict(plain.state_dict())
    x = torch.randn(2, 3, 32, 32)
    a, b = plain(x), ckpt(x)
    assert torch.allclose(a, b)
    a.square().sum().backward()
    b.square().sum().backward()
    for (n, p), q in zip(plain.named_parameters(), ckpt.parameters(), strict=True):
        assert torch.allclose(p.grad, q.grad, atol=1e-6), n


def test_output_is_all_tokens():
    out = ViT(TINY).eval()(torch.randn(2, 3, 32, 32))
    assert out.shape == (2, 17, 32)
