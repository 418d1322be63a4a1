"""CapFilt's two models: the captioner writes synthetic captions, the filter scores texts with
its image-text matching (ITM) head."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import torch

from blipctl.decode import DecodeConfig
from blipctl.models.protocols import Captioner, Matcher


@dataclass
class CaptionerConfig:
    model: str | None = None        # a caption fine-tune (run dir, .pth, ...); null: no synthetic captions
    captions_per_image: int = 1     # K synthetic captions per image
    prompt: str = "a picture of "
    # BLIP's CapFilt: nucleus sampling (top_p 0.9), 5 to 20 tokens, repetition penalty 1.1;
    # top_p: 0 with num_beams > 1 gives beam search instead
    decode: DecodeConfig = field(default_factory=lambda: DecodeConfig(
        num_beams=1, top_p=0.9, min_length=5, max_length=20, repetition_penalty=1.1))


@dataclass
class FilterConfig:
    model: str | None = None        # a retrieval fine-tune with an ITM head; null: keep every text
    threshold: float = 0.5          # keep texts whose ITM match probability exceeds this
    keep_fraction: float | None = None  # instead: keep this top fraction of each shard's texts
    max_length: int = 35
    max_words: int = 30


@torch.no_grad()
def synthetic_captions(model: Captioner, images: torch.Tensor, cfg: CaptionerConfig,
                       seed: int) -> list[list[str]]:
    """images (B, 3, S, S) -> K captions per image, prompt removed. Sampling draws from `seed`,
    so a shard gives the same captions however often it is redone. (Beam search is
    deterministic: the recipe check allows it only with K = 1.)"""
    K = cfg.captions_per_image
    texts = model.caption(images, cfg.prompt, replace(cfg.decode, seed=seed), per_image=K)
    return [texts[i * K:(i + 1) * K] for i in range(images.shape[0])]


@torch.no_grad()
def match_probability(model: Matcher, images: torch.Tensor, pairs: list[tuple[int, str]],
                      cfg: FilterConfig) -> list[float]:
    """P(match) from the ITM head for each (image index, text) pair; images (B, 3, S, S). The
    texts are encoded by the model's own codec, as `blipctl eval` encodes them."""
    from blipctl.data.text import pre_caption

    image = model.encode_image(images)  # (B, N, D)
    ids, mask = model.codec.encode([pre_caption(t, cfg.max_words) for _, t in pairs], "grounded",
                                   max_length=cfg.max_length, device=images.device)
    rows = torch.tensor([i for i, _ in pairs], device=images.device)
    logits = model.itm_logits(image[rows], ids, mask)  # (P, 2)
    return logits.float().softmax(-1)[:, 1].tolist()
