"""BLIP task models built from a ViT and MED text transformers."""

from __future__ import annotations

import torch
from torch import nn

from blipctl.models.med import LMHead, MEDConfig, TextTransformer
from blipctl.models.vit import ViT, ViTConfig


class BlipCaptioner(nn.Module):
    """Image-grounded causal decoder with an LM head: BLIP's captioning model."""

    def __init__(self, vision: ViTConfig, text: MEDConfig, prompt: str = "a picture of "):
        super().__init__()
        self.visual = ViT(vision)
        self.decoder = TextTransformer(text)
        self.lm_head = LMHead(text)
        self.prompt = prompt

    def encode_image(self, images: torch.Tensor) -> torch.Tensor:
        return self.visual(images)  # (B, 3, S, S) -> (B, N, Dv)

    def logits(self, image: torch.Tensor, ids: torch.Tensor,
               mask: torch.Tensor | None = None) -> torch.Tensor:
        """image: (B, N, Dv) tokens; ids: (B, T) starting with [DEC] -> (B, T, V)."""
        h = self.decoder(ids, mask, image=image, causal=True)
        return self.lm_head(h, self.decoder.embed.tok.weight)

    def forward(self, images: torch.Tensor, ids: torch.Tensor,
                mask: torch.Tensor | None = None) -> torch.Tensor:
        return self.logits(self.encode_image(images), ids, mask)
