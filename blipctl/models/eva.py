"""BLIP-2's frozen image encoders: EVA ViT-g/14 (timm's `Eva`) without its last block and
without a final norm, and `Frozen`, which keeps a module in eval mode with no gradients.

transformers' Blip2VisionModel is the same network: its `post_layernorm` is LAVIS's trainable
`ln_vision`, which the BLIP-2 models hold outside the frozen tower.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import torch
from torch import nn

from blipctl.errors import BlipctlError


@dataclass
class EvaConfig:
    image_size: int = 224
    patch_size: int = 14
    width: int = 1408
    depth: int = 39  # of EVA ViT-g's 40 blocks: BLIP-2 reads the second-to-last block's output
    heads: int = 16
    mlp_width: int = 6144
    eps: float = 1e-6


class EvaViT(nn.Module):
    """(B, 3, S, S) pixels -> (B, 1 + (S/P)^2, width) tokens, [CLS] first, no final norm.
    Attention has q and v biases and a constant zero k bias, as EVA and LAVIS have."""

    def __init__(self, cfg: EvaConfig):
        from timm.models.eva import Eva

        super().__init__()
        self.cfg = cfg
        self.eva = Eva(img_size=cfg.image_size, patch_size=cfg.patch_size, embed_dim=cfg.width,
                       depth=cfg.depth, num_heads=cfg.heads, mlp_ratio=cfg.mlp_width / cfg.width,
                       qkv_bias=True, qkv_fused=True, num_classes=0, global_pool="",
                       use_post_transformer_norm=False, use_fc_norm=False,
                       norm_layer=partial(nn.LayerNorm, eps=cfg.eps))
        got = self.eva.blocks[0].mlp.fc1.out_features if cfg.depth else cfg.mlp_width
        if got != cfg.mlp_width:
            raise BlipctlError(f"EVA MLP width {cfg.mlp_width} is not representable as a ratio of "
                               f"width {cfg.width} (timm builds {got})")

    @classmethod
    def empty(cls, cfg: EvaConfig, dtype: torch.dtype = torch.float32) -> EvaViT:
        """Uninitialised weights in `dtype`, for a checkpoint to fill: built on the meta device,
        so nothing is drawn and each weight is allocated once, in its final dtype."""
        with torch.device("meta"):
            model = cls(cfg)
        model = model.to_empty(device="cpu").to(dtype)
        for m in model.modules():  # the constant zero key biases are not in any checkpoint
            if hasattr(m, "k_bias") and m.k_bias is not None:
                m.k_bias.zero_()
        return model

    @property
    def image_size(self) -> int:
        return self.cfg.image_size

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        dtype = self.eva.patch_embed.proj.weight.dtype  # the tower may hold bf16 weights
        return self.eva.forward_features(images.to(dtype))


class Frozen(nn.Module):
    """Wraps a module that never trains: no gradients, and eval mode whatever `.train()` is
    called on its parent (dropout and drop-path stay off). `module` keeps its own dtype.
    source: the checkpoint it was read from, when a recipe built it (`checkpoints.parts`), so
    a training checkpoint may reference its weights instead of storing them. frozen=False
    unfreezes it (BLIP-2's caption and retrieval fine-tuning train the tower) with the same
    parameter names."""

    def __init__(self, module: nn.Module, source: str | None = None, frozen: bool = True):
        super().__init__()
        self.module = module
        self.source = source
        self.frozen = frozen
        if frozen:
            module.requires_grad_(False)
            module.eval()

    def train(self, mode: bool = True) -> Frozen:
        super().train(mode and not self.frozen)
        return self

    def forward(self, *args, **kwargs):
        return self.module(*args, **kwargs)
