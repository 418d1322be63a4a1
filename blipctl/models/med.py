"""MED: BLIP's multimodal mixture of encoder-decoder, a BERT-style text transformer.

One `TextTransformer` runs in three modes:
- text encoder:            bidirectional self-attention, no image;
- image-grounded encoder:  bidirectional, cross-attention to image tokens after self-attention;
- image-grounded decoder:  causal self-attention, cross-attention to image tokens.
Every layer has cross-attention; it is skipped when there is no image. BLIP's pretraining
model shares everything but self-attention between its encoder and decoder
(see `share_all_but_self_attention`).

Decoding is functional: `TextTransformer.step` maps new tokens, their positions and the
cached keys and values to hidden states and the extended keys and values, all tensors.
`KVCache` holds them between `decode.generate` steps.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from blipctl.models.layers import (
    KV,
    MLP,
    AttentionSublayer,
    Embeddings,
    bert_init,
    padding_mask,
    self_attention_mask,
)


@dataclass
class MEDConfig:
    vocab_size: int = 30524  # bert-base-uncased + [DEC] + [ENC]
    width: int = 768
    depth: int = 12
    heads: int = 12
    mlp_width: int = 3072
    max_positions: int = 512
    image_width: int = 768  # width of the image tokens cross-attention reads
    eps: float = 1e-12
    dropout: float = 0.1  # hidden and attention-probability dropout, as BERT


class Layer(nn.Module):
    """Self-attention, cross-attention to the image (when given), MLP."""

    def __init__(self, cfg: MEDConfig):
        super().__init__()
        self.attn = AttentionSublayer(cfg.width, cfg.heads, eps=cfg.eps, dropout=cfg.dropout)
        self.cross = AttentionSublayer(cfg.width, cfg.heads, cfg.image_width, cfg.eps, cfg.dropout)
        self.mlp = MLP(cfg.width, cfg.mlp_width, cfg.eps, cfg.dropout)

    def forward(self, x: torch.Tensor, self_mask: torch.Tensor | None, image_kv=None,
                cross_mask: torch.Tensor | None = None) -> torch.Tensor:
        """x: (B, T, D) -> (B, T, D). image_kv: what `cross` reads (`cross.kv(image)`), or None
        for no cross-attention; masks: additive, as `layers.self_attention_mask` makes them."""
        x = self.attn(x, self_mask)
        if image_kv is not None:
            x = self.cross(x, cross_mask, image_kv)
        return self.mlp(x)

    def step(self, x: torch.Tensor, self_mask: torch.Tensor | None, image_kv, cross_mask: torch.Tensor | None,
             past: KV | None) -> tuple[torch.Tensor, KV]:
        """`forward` after cached tokens: past holds their self-attention keys and values
        (B, H, t, Dh) each, or is None. Returns x and the keys and values over t + T tokens.

        (`forward` projects the queries before the keys and values, and `step` after: the
        order in which autograd sums x's gradients follows it, so training keeps `forward`.)
        """
        k, v = self.attn.kv(x)
        if past is not None:
            k, v = torch.cat([past[0], k], dim=2), torch.cat([past[1], v], dim=2)
        x = self.attn(x, self_mask, (k, v))
        if image_kv is not None:
            x = self.cross(x, cross_mask, image_kv)
        return self.mlp(x), (k, v)


class TextTransformer(nn.Module):
    """BERT-style encoder/decoder over token ids, optionally reading image tokens."""

    def __init__(self, cfg: MEDConfig):
        super().__init__()
        self.cfg = cfg
        self.embed = Embeddings(cfg.vocab_size, cfg.width, cfg.max_positions, cfg.eps, cfg.dropout)
        self.layers = nn.ModuleList(Layer(cfg) for _ in range(cfg.depth))
        self.apply(bert_init)

    def forward(self, ids: torch.Tensor, mask: torch.Tensor | None = None,
                image: torch.Tensor | None = None, image_mask: torch.Tensor | None = None,
                causal: bool = False, image_kv: Iterable | None = None) -> torch.Tensor:
        """ids: (B, T); mask: (B, T) 1 = attend; image: (B', N, Di) tokens, B' divides B;
        image_mask: (B', N). Instead of `image`, `image_kv` may give each layer's
        cross-attention input ready-made (NLVR passes its image pairs' keys and values).

        Returns hidden states (B, T, D).
        """
        x = self.embed(ids)
        self_mask = self_attention_mask(mask, ids.shape[1], ids.shape[1], causal, x.dtype, ids.device)
        cross_mask = None if image_mask is None else padding_mask(image_mask, x.dtype)
        if image_kv is None:
            image_kv = [None] * len(self.layers) if image is None else self.image_kv(image)
        for layer, kv in zip(self.layers, image_kv, strict=True):
            x = layer(x, self_mask, kv, cross_mask)
        return x

    def image_kv(self, image: torch.Tensor):
        """Each layer's cross-attention keys and values of image tokens (B', N, Di). A generator:
        a forward pass holds one layer's at a time; `list()` it to keep them (decoding)."""
        return (layer.cross.kv(image) for layer in self.layers)

    def step(self, ids: torch.Tensor, positions: torch.Tensor, past: Sequence[KV] | None,
             image_kv: Sequence[KV] | None = None, image_mask: torch.Tensor | None = None,
             mask: torch.Tensor | None = None) -> tuple[torch.Tensor, list[KV]]:
        """One causal decoding step, a function of tensors only (what an exporter traces).

        ids: (B, T) new tokens at `positions` (T,); past: each layer's self-attention keys and
        values of the t tokens before them, (B, H, t, Dh) each, or None when t = 0; image_kv:
        each layer's cross-attention keys and values (`list(image_kv(image))`); mask: (B, t + T)
        1 = attend, for padded input. Returns hidden states (B, T, D) and each layer's keys and
        values over the t + T tokens.
        """
        t = 0 if past is None else past[0][0].shape[2]
        x = self.embed(ids, positions)
        self_mask = self_attention_mask(mask, ids.shape[1], t + ids.shape[1], True, x.dtype, ids.device)
        cross_mask = None if image_mask is None else padding_mask(image_mask, x.dtype)
        present = []
        for i, layer in enumerate(self.layers):
            x, kv = layer.step(x, self_mask, None if image_kv is None else image_kv[i], cross_mask,
                               None if past is None else past[i])
            present.append(kv)
        return x, present


class KVCache:
    """A decoder's state between `decode.generate` steps: `kv`, each layer's self-attention keys
    and values (B, H, t, Dh) (None before the first step), and `length` = t, a 0-dim long tensor
    from which the next tokens' positions count."""

    def __init__(self, device: torch.device | str | None = None):
        self.kv: list[KV] | None = None
        self.length = torch.zeros((), dtype=torch.long, device=device)

    def positions(self, t: int) -> torch.Tensor:
        """(t,) positions of the next t tokens."""
        return self.length + torch.arange(t, device=self.length.device)

    def update(self, kv: list[KV], t: int) -> None:
        """Takes `step`'s keys and values after t new tokens."""
        self.kv, self.length = kv, self.length + t

    def reorder(self, index: torch.Tensor) -> None:
        """Keeps rows `index` (beam search)."""
        if self.kv is not None:
            self.kv = [(k[index], v[index]) for k, v in self.kv]


def share_all_but_self_attention(encoder: TextTransformer, decoder: TextTransformer) -> None:
    """Makes the decoder use the encoder's embeddings, cross-attention and MLPs (BLIP pretraining)."""
    decoder.embed = encoder.embed
    for enc, dec in zip(encoder.layers, decoder.layers, strict=True):
        dec.cross, dec.mlp = enc.cross, enc.mlp
