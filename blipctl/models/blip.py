"""BLIP task models built from a ViT and MED text transformers."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from blipctl.decode import DecodeConfig, generate
from blipctl.models.med import KVCache, LMHead, MEDConfig, TextTransformer
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

    @torch.no_grad()
    def generate(self, images: torch.Tensor, prompt: torch.Tensor, cfg: DecodeConfig, eos: int,
                 pad: int) -> torch.Tensor:
        """images: (B, 3, S, S); prompt: (P,) ids starting with [DEC] -> (B, L) ids."""
        image = self.encode_image(images)
        return decode_with_image(self.decoder, self.lm_head, image, prompt, cfg, eos, pad)


def decode_with_image(decoder: TextTransformer, head: LMHead, image: torch.Tensor,
                      prompt: torch.Tensor, cfg: DecodeConfig, eos: int, pad: int) -> torch.Tensor:
    """Generates from an image-grounded decoder; the image's cross-attention keys and values
    are computed once per image and shared by its beams."""
    cache = KVCache(len(decoder.layers))
    emb = decoder.embed.tok.weight

    def step(ids: torch.Tensor, cache: KVCache) -> torch.Tensor:
        h = decoder(ids, image=image, causal=True, cache=cache)  # (N, t, D)
        return head(h[:, -1:], emb)[:, 0]

    return generate(step, cache, prompt.expand(image.shape[0], -1), cfg, eos, pad)


class BlipRetrieval(nn.Module):
    """Image-text matching: ITC features (unimodal encoders, projected to `embed_dim` and
    L2-normalised) and ITM logits (image-grounded text encoder, [CLS] -> 2 classes)."""

    def __init__(self, vision: ViTConfig, text: MEDConfig, embed_dim: int = 256):
        super().__init__()
        self.visual = ViT(vision)
        self.text = TextTransformer(text)
        self.vision_proj = nn.Linear(vision.width, embed_dim)
        self.text_proj = nn.Linear(text.width, embed_dim)
        self.itm_head = nn.Linear(text.width, 2)

    def encode_image(self, images: torch.Tensor) -> torch.Tensor:
        return self.visual(images)  # (B, N, Dv)

    def image_features(self, image: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.vision_proj(image[:, 0]), dim=-1)  # (B, N, Dv) -> (B, E)

    def text_features(self, ids: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        return F.normalize(self.text_proj(self.text(ids, mask)[:, 0]), dim=-1)  # (B, T) -> (B, E)

    def itm_logits(self, image: torch.Tensor, ids: torch.Tensor,
                   mask: torch.Tensor | None = None) -> torch.Tensor:
        """(B, N, Dv) image tokens and (B, T) ids -> (B, 2) logits [no match, match]."""
        return self.itm_head(self.text(ids, mask, image=image)[:, 0])
