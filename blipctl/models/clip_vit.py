"""CLIP ViT-L/14 as BLIP-2's alternative frozen image encoder (LAVIS's `clip_L`): timm's
VisionTransformer with CLIP's pre-norm, QuickGELU and no final norm. LAVIS keeps all but the
last of CLIP's blocks; the count is read off each checkpoint. Its config is the ViT's
(`ViTConfig`, eps 1e-5 for CLIP)."""

from __future__ import annotations

from functools import partial

import torch
from torch import nn

from blipctl.models.vit import ViTConfig


class ClipViT(nn.Module):
    """(B, 3, S, S) pixels -> (B, 1 + (S/P)^2, width) tokens, [CLS] first: patches (no bias),
    [CLS] and positions, ln_pre, then pre-LN blocks with QuickGELU; no ln_post."""

    def __init__(self, cfg: ViTConfig):
        from timm.layers import QuickGELU
        from timm.models.vision_transformer import VisionTransformer

        super().__init__()
        self.cfg = cfg
        self.vit = VisionTransformer(
            img_size=cfg.image_size, patch_size=cfg.patch_size, embed_dim=cfg.width, depth=cfg.depth,
            num_heads=cfg.heads, mlp_ratio=cfg.mlp_ratio, qkv_bias=True, pre_norm=True, final_norm=False,
            num_classes=0, global_pool="", norm_layer=partial(nn.LayerNorm, eps=cfg.eps), act_layer=QuickGELU)

    @classmethod
    def empty(cls, cfg: ViTConfig, dtype: torch.dtype = torch.float32) -> ClipViT:
        """Uninitialised weights in `dtype`, for a checkpoint to fill (built on the meta device)."""
        with torch.device("meta"):
            model = cls(cfg)
        return model.to_empty(device="cpu").to(dtype)

    @property
    def image_size(self) -> int:
        return self.cfg.image_size

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.vit.forward_features(images.to(self.vit.patch_embed.proj.weight.dtype))
