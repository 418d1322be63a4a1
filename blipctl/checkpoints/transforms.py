"""Tensor transforms for key maps: tensors a format stores differently from blipctl."""

from __future__ import annotations

import torch

from blipctl.checkpoints.keymap import Transform
from blipctl.errors import BlipctlError
from blipctl.models.vit import resize_pos_embed


def to_grid(pos: torch.Tensor, like: torch.Tensor | None) -> torch.Tensor:
    """A ViT position embedding (1, 1+N, D) resized to `like`'s patch grid (BLIP's bicubic
    interpolation, [CLS] kept); unchanged when `like` is None or has its shape."""
    if like is None or like.shape == pos.shape:
        return pos
    return resize_pos_embed(pos, like.shape[1] - 1)


def _read_pos(tensors: list[torch.Tensor], like=None) -> list[torch.Tensor]:
    return [to_grid(tensors[0], like[0] if like else None)]


def _same(tensors: list[torch.Tensor]) -> list[torch.Tensor]:
    return list(tensors)


def pos_embed(ours: str, theirs: str) -> Transform:
    """A position embedding, read at the grid of the model it loads into, written as it is."""
    return Transform((ours,), (theirs,), to_ours=_read_pos, to_theirs=_same)


def fuse_qkv_bias(tensors: list[torch.Tensor], like=None) -> list[torch.Tensor]:
    """[q_bias, v_bias] -> [qkv bias (q, 0, v)]: the key projection has no bias."""
    q, v = tensors
    if q.shape != v.shape:
        raise BlipctlError(f"q_bias {tuple(q.shape)} and v_bias {tuple(v.shape)} differ in shape")
    return [torch.cat([q, torch.zeros_like(q), v])]


def split_qkv_bias(tensors: list[torch.Tensor], like=None) -> list[torch.Tensor]:
    """[qkv bias (q, 0, v)] -> [q_bias, v_bias]; a non-zero key bias has no place there."""
    q, k, v = tensors[0].chunk(3)
    if k.any():
        raise BlipctlError("the key part of the qkv bias is not zero; q_bias and v_bias cannot hold it")
    return [q.clone(), v.clone()]


def qkv_bias(ours: str, q: str, v: str) -> Transform:
    """EVA's attention bias (BLIP-2's vision tower): theirs are `q_bias` and `v_bias`, ours is one
    fused qkv bias `(q, zeros, v)`, e.g. `qkv_bias("blocks.{i}.attn.qkv.bias",
    "blocks.{i}.attn.q_bias", "blocks.{i}.attn.v_bias")`."""
    return Transform((ours,), (q, v), to_ours=fuse_qkv_bias, to_theirs=split_qkv_bias)


def eva_qkv_bias(q: str, v: str, fused: str) -> Transform:
    """The other direction: ours are EVA's `q_bias` and `v_bias` (timm's Eva), theirs one fused
    qkv bias `(q, zeros, v)` (transformers' Blip2VisionModel); a non-zero key part is refused."""
    return Transform((q, v), (fused,), to_ours=split_qkv_bias, to_theirs=fuse_qkv_bias)


def _cls_in(tensors, like=None):
    return [tensors[0].reshape(1, 1, -1)]


def _cls_out(tensors):
    return [tensors[0].reshape(-1)]


def _pos_in(tensors, like=None):
    return [to_grid(tensors[0][None], like[0] if like else None)]


def _pos_out(tensors):
    return [tensors[0][0]]


def unbatched_cls(ours: str, theirs: str) -> Transform:
    """A [CLS] token stored as (D,) (CLIP's `class_embedding`); ours is (1, 1, D)."""
    return Transform((ours,), (theirs,), to_ours=_cls_in, to_theirs=_cls_out)


def unbatched_pos(ours: str, theirs: str) -> Transform:
    """A position embedding stored as (1 + N, D) (CLIP's `positional_embedding`); ours is
    (1, 1 + N, D), read at the grid of the model it loads into."""
    return Transform((ours,), (theirs,), to_ours=_pos_in, to_theirs=_pos_out)
