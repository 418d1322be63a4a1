"""NLVR2: is a statement true of an image pair? MED's text encoder with a twin cross-attention
that reads both images (BLIP's `BertLayer` with `mode='multimodal'` and two images)."""

from __future__ import annotations

import torch
from torch import nn

from blipctl.models.layers import KV, Heads
from blipctl.models.med import MEDConfig, TextTransformer
from blipctl.models.vit import ViT, ViTConfig
from blipctl.text.codecs import BlipText


class TwinCrossAttention(nn.Module):
    """Cross-attention to an image pair: heads `h0` and output projection `o0` read the left
    image, `h1` and `o1` the right; the two outputs are averaged, or (merge) concatenated and
    projected; then dropout, residual and LayerNorm. (The names map to BLIP's `self0`/`dense0`
    and `self1`/`dense1`, see `checkpoints.names.BERT_TWIN`.)"""

    def __init__(self, cfg: MEDConfig, merge: bool):
        super().__init__()
        self.h0 = Heads(cfg.width, cfg.heads, cfg.image_width, cfg.dropout)
        self.h1 = Heads(cfg.width, cfg.heads, cfg.image_width, cfg.dropout)
        self.o0 = nn.Linear(cfg.width, cfg.width)
        self.o1 = nn.Linear(cfg.width, cfg.width)
        self.merge = nn.Linear(2 * cfg.width, cfg.width) if merge else None
        self.ln = nn.LayerNorm(cfg.width, eps=cfg.eps)
        self.drop = nn.Dropout(cfg.dropout)

    def kv(self, left: torch.Tensor, right: torch.Tensor) -> tuple[KV, KV]:
        """Image tokens (B, N, Di) of each image -> both heads' keys and values."""
        return self.h0.kv(left), self.h1.kv(right)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None, kv: tuple[KV, KV]) -> torch.Tensor:
        # x: (B, T, D) -> (B, T, D)
        a = self.o0(self.h0.attend(x, mask, kv[0]))
        b = self.o1(self.h1.attend(x, mask, kv[1]))
        out = self.merge(torch.cat([a, b], dim=-1)) if self.merge is not None else (a + b) / 2
        return self.ln(x + self.drop(out))


class BlipNLVR(nn.Module):
    """The text encoder's cross-attention reads both images (`TwinCrossAttention`, merged by a
    projection from layer `merge_from` on, as BLIP does from layer 6); [ENC] -> MLP -> 2 logits
    [false, true]."""

    def __init__(self, vision: ViTConfig, text: MEDConfig, merge_from: int = 6,
                 codec: BlipText | None = None):
        super().__init__()
        self.codec = codec or BlipText()
        self.visual = ViT(vision)
        self.text = TextTransformer(text)
        for i, layer in enumerate(self.text.layers):
            layer.cross = TwinCrossAttention(text, merge=i >= merge_from)
        self.cls_head = nn.Sequential(nn.Linear(text.width, text.width), nn.ReLU(),
                                      nn.Linear(text.width, 2))

    @property
    def image_size(self) -> int:
        return self.visual.image_size

    @property
    def max_text_length(self) -> int:
        return self.text.cfg.max_positions

    def pair_logits(self, left: torch.Tensor, right: torch.Tensor, ids: torch.Tensor,
                    mask: torch.Tensor | None = None) -> torch.Tensor:
        """left, right: (B, 3, S, S); ids: (B, T) grounded -> (B, 2) logits [false, true]."""
        return self(left, right, ids, mask)

    def encode(self, ids: torch.Tensor, mask: torch.Tensor | None, left: torch.Tensor,
               right: torch.Tensor) -> torch.Tensor:
        """(B, T) ids and each image's tokens (B, N, Dv) -> text states (B, T, D)."""
        image_kv = (layer.cross.kv(left, right) for layer in self.text.layers)  # one layer's at a time
        return self.text(ids, mask, image_kv=image_kv)

    def forward(self, left: torch.Tensor, right: torch.Tensor, ids: torch.Tensor,
                mask: torch.Tensor | None = None) -> torch.Tensor:
        """left, right: (B, 3, S, S); ids: (B, T) starting with [ENC] -> (B, 2) logits."""
        image = self.visual(torch.cat([left, right]))  # both images in one ViT batch
        return self.cls_head(self.encode(ids, mask, *image.split(left.shape[0]))[:, 0])
