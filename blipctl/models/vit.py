"""The BLIP vision tower: a timm ViT returning every token, with optional checkpointing of the
last k blocks (BLIP's `vit_ckpt_layer`) and position-embedding interpolation."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import torch
import torch.nn.functional as F
from timm.models.vision_transformer import VisionTransformer
from torch import nn
from torch.utils.checkpoint import checkpoint


@dataclass
class ViTConfig:
    image_size: int = 384
    patch_size: int = 16
    width: int = 768
    depth: int = 12
    heads: int = 12
    mlp_ratio: float = 4.0
    eps: float = 1e-6  # BLIP's ViT; transformers' BLIP configs say 1e-5
    drop_path: float = 0.0
    ckpt_layers: int = 0  # gradient-checkpoint the last k blocks while training


class ViT(VisionTransformer):
    """(B, 3, S, S) images -> (B, 1 + (S/P)^2, width) tokens, [CLS] first, final LayerNorm applied."""

    def __init__(self, cfg: ViTConfig):
        super().__init__(
            img_size=cfg.image_size, patch_size=cfg.patch_size, embed_dim=cfg.width,
            depth=cfg.depth, num_heads=cfg.heads, mlp_ratio=cfg.mlp_ratio, qkv_bias=True,
            num_classes=0, global_pool="", drop_path_rate=cfg.drop_path,
            norm_layer=partial(nn.LayerNorm, eps=cfg.eps), act_layer=nn.GELU,
        )
        self.cfg = cfg

    @property
    def image_size(self) -> int:
        """The square input size it was built for (pixels)."""
        return self.cfg.image_size

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = self._pos_embed(self.patch_embed(images))  # (B, 1+N, D)
        first_ckpt = len(self.blocks) - self.cfg.ckpt_layers
        for i, block in enumerate(self.blocks):
            if self.training and i >= first_ckpt:
                x = checkpoint(block, x, use_reentrant=False)
            else:
                x = block(x)
        return self.norm(x)


def resize_pos_embed(pos: torch.Tensor, num_patches: int) -> torch.Tensor:
    """(1, 1+n, D) -> (1, 1+num_patches, D): bicubic on the patch grid as BLIP does; [CLS] kept."""
    old = int((pos.shape[1] - 1) ** 0.5)
    new = int(num_patches ** 0.5)
    if old == new:
        return pos
    cls, grid = pos[:, :1], pos[:, 1:]
    grid = grid.reshape(1, old, old, -1).permute(0, 3, 1, 2)  # (1, D, old, old)
    grid = F.interpolate(grid.float(), size=(new, new), mode="bicubic", align_corners=False)
    grid = grid.to(pos.dtype).permute(0, 2, 3, 1).reshape(1, new * new, -1)
    return torch.cat([cls, grid], dim=1)
