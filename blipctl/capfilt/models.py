"""CapFilt's two models: the captioner writes synthetic captions, the filter scores texts with
its image-text matching (ITM) head."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import torch

from blipctl.decode import DecodeConfig
from blipctl.models.blip import BlipCaptioner, BlipRetrieval, decode_with_image


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
def synthetic_captions(model: BlipCaptioner, images: torch.Tensor, cfg: CaptionerConfig, prompt: torch.Tensor,
                       tok, seed: int) -> list[list[str]]:
    """images (B, 3, S, S) -> K captions per image, prompt removed. Sampling draws from `seed`,
    so a shard gives the same captions however often it is redone. (Beam search is
    deterministic: the recipe check allows it only with K = 1.)"""
    from blipctl.workflows.infer import strip_prompt

    K = cfg.captions_per_image
    image = model.encode_image(images).repeat_interleave(K, dim=0)  # (B*K, N, D)
    ids = decode_with_image(model.decoder, model.lm_head, image, prompt, replace(cfg.decode, seed=seed),
                            eos=tok.sep_token_id, pad=tok.pad_token_id)
    texts = [strip_prompt(t, cfg.prompt) for t in tok.batch_decode(ids.tolist(), skip_special_tokens=True)]
    return [texts[i * K:(i + 1) * K] for i in range(images.shape[0])]


@torch.no_grad()
def match_probability(model: BlipRetrieval, images: torch.Tensor, pairs: list[tuple[int, str]], tok,
                      cfg: FilterConfig) -> list[float]:
    """P(match) from the ITM head for each (image index, text) pair; images (B, 3, S, S)."""
    from blipctl.data.text import pre_caption

    image = model.encode_image(images)  # (B, N, D)
    enc = tok([pre_caption(t, cfg.max_words) for _, t in pairs], padding="longest", truncation=True,
              max_length=cfg.max_length, return_tensors="pt")
    ids, mask = enc.input_ids.to(images.device), enc.attention_mask.to(images.device)
    ids[:, 0] = tok.enc_token_id
    rows = torch.tensor([i for i, _ in pairs], device=images.device)
    logits = model.itm_logits(image[rows], ids, mask)  # (P, 2)
    return logits.float().softmax(-1)[:, 1].tolist()
