"""MED: BLIP's multimodal mixture of encoder-decoder, a BERT-style text transformer.

One `TextTransformer` runs in three modes:
- text encoder:            bidirectional self-attention, no image;
- image-grounded encoder:  bidirectional, cross-attention to image tokens after self-attention;
- image-grounded decoder:  causal self-attention, cross-attention to image tokens.
BLIP's pretraining model shares everything but self-attention between its encoder and decoder
(see `share_all_but_self_attention`).

Layers are post-LayerNorm, as in BERT: x = LN(x + sublayer(x)).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


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
    cross_every: int = 1  # cross-attention in every k-th layer (1 for BLIP; 2 for the Q-Former)


class Embeddings(nn.Module):
    def __init__(self, cfg: MEDConfig):
        super().__init__()
        self.tok = nn.Embedding(cfg.vocab_size, cfg.width, padding_idx=0)
        self.pos = nn.Embedding(cfg.max_positions, cfg.width)
        self.ln = nn.LayerNorm(cfg.width, eps=cfg.eps)
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, ids: torch.Tensor, start: int = 0) -> torch.Tensor:
        # ids: (B, T) -> (B, T, D); positions start at `start` when decoding with a cache
        pos = torch.arange(start, start + ids.shape[1], device=ids.device)
        return self.drop(self.ln(self.tok(ids) + self.pos(pos)))


class MultiHead(nn.Module):
    """Query/key/value projections and scaled-dot-product attention over heads."""

    def __init__(self, cfg: MEDConfig, kv_width: int | None = None):
        super().__init__()
        kv_width = kv_width or cfg.width
        self.heads = cfg.heads
        self.q = nn.Linear(cfg.width, cfg.width)
        self.k = nn.Linear(kv_width, cfg.width)
        self.v = nn.Linear(kv_width, cfg.width)
        self.p_drop = cfg.dropout

    def split(self, x: torch.Tensor) -> torch.Tensor:
        # (B, T, D) -> (B, H, T, D/H)
        return x.unflatten(-1, (self.heads, -1)).transpose(1, 2)

    def kv(self, source: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.split(self.k(source)), self.split(self.v(source))

    def attend(self, x: torch.Tensor, mask: torch.Tensor | None,
               kv: tuple[torch.Tensor, torch.Tensor] | None) -> torch.Tensor:
        """x: (B, T, D); mask: additive, broadcastable to (B, H, T, S); kv: ((B', H, S, Dh),)*2.
        Returns the heads' output (B, T, D), before the output projection.

        When kv holds fewer rows than x (B = B' * n, as for beams sharing one image), the
        n query rows of each image are folded into its sequence axis, so the image's keys and
        values are never copied.
        """
        q = self.split(self.q(x))
        k, v = kv if kv is not None else self.kv(x)
        B, H, T, Dh = q.shape
        n = B // k.shape[0]
        if n > 1:  # (B'*n, H, T, Dh) -> (B', H, n*T, Dh)
            q = q.view(-1, n, H, T, Dh).transpose(1, 2).reshape(-1, H, n * T, Dh)
        p = self.p_drop if self.training else 0.0
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p)
        if n > 1:
            out = out.view(-1, H, n, T, Dh).transpose(1, 2).reshape(B, H, T, Dh)
        return out.transpose(1, 2).flatten(2)


class Attention(MultiHead):
    """Multi-head attention with BERT's output projection and post-LayerNorm.

    Self-attention when `kv` is None, cross-attention to precomputed `kv` otherwise.
    """

    def __init__(self, cfg: MEDConfig, kv_width: int | None = None):
        super().__init__(cfg, kv_width)
        self.o = nn.Linear(cfg.width, cfg.width)
        self.ln = nn.LayerNorm(cfg.width, eps=cfg.eps)
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None,
                kv: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
        return self.ln(x + self.drop(self.o(self.attend(x, mask, kv))))


class TwinCrossAttention(nn.Module):
    """NLVR2's cross-attention to an image pair: separate heads per image; their projected
    outputs are averaged, or (merge) concatenated and projected; then residual + LayerNorm."""

    def __init__(self, cfg: MEDConfig, merge: bool):
        super().__init__()
        self.h0 = MultiHead(cfg, cfg.image_width)
        self.h1 = MultiHead(cfg, cfg.image_width)
        self.o0 = nn.Linear(cfg.width, cfg.width)
        self.o1 = nn.Linear(cfg.width, cfg.width)
        self.merge = nn.Linear(2 * cfg.width, cfg.width) if merge else None
        self.ln = nn.LayerNorm(cfg.width, eps=cfg.eps)
        self.drop = nn.Dropout(cfg.dropout)

    def kv(self, images: tuple[torch.Tensor, torch.Tensor]):
        return self.h0.kv(images[0]), self.h1.kv(images[1])

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None, kv) -> torch.Tensor:
        a = self.o0(self.h0.attend(x, mask, kv[0]))
        b = self.o1(self.h1.attend(x, mask, kv[1]))
        out = self.merge(torch.cat([a, b], dim=-1)) if self.merge is not None else (a + b) / 2
        return self.ln(x + self.drop(out))


class MLP(nn.Module):
    def __init__(self, cfg: MEDConfig):
        super().__init__()
        self.fc1 = nn.Linear(cfg.width, cfg.mlp_width)
        self.fc2 = nn.Linear(cfg.mlp_width, cfg.width)
        self.ln = nn.LayerNorm(cfg.width, eps=cfg.eps)
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.ln(x + self.drop(self.fc2(F.gelu(self.fc1(x)))))


class Layer(nn.Module):
    def __init__(self, cfg: MEDConfig, cross: bool):
        super().__init__()
        self.attn = Attention(cfg)
        self.cross = Attention(cfg, kv_width=cfg.image_width) if cross else None
        self.mlp = MLP(cfg)


class KVCache:
    """Per-layer self-attention keys/values grown one step at a time, and the image's
    cross-attention keys/values computed once per image."""

    def __init__(self, depth: int):
        self.self_kv: list[tuple[torch.Tensor, torch.Tensor] | None] = [None] * depth
        self.cross_kv: list[tuple[torch.Tensor, torch.Tensor] | None] = [None] * depth
        self.length = 0

    def append(self, i: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        old = self.self_kv[i]
        if old is not None:
            k, v = torch.cat([old[0], k], dim=2), torch.cat([old[1], v], dim=2)
        self.self_kv[i] = (k, v)
        return k, v

    def reorder(self, index: torch.Tensor) -> None:
        """Keeps rows `index` of the self-attention cache (beam search)."""
        self.self_kv = [None if kv is None else (kv[0][index], kv[1][index]) for kv in self.self_kv]


def bert_init(m: nn.Module, std: float = 0.02) -> None:
    """BERT's initialisation: N(0, 0.02) weights and embeddings, zero biases, unit LayerNorms.
    (Real runs start from pretrained weights; this is what training from scratch starts from.)"""
    if isinstance(m, (nn.Linear, nn.Embedding)):
        nn.init.normal_(m.weight, std=std)
    if isinstance(m, nn.Linear) and m.bias is not None:
        nn.init.zeros_(m.bias)
    if isinstance(m, nn.LayerNorm):
        nn.init.ones_(m.weight)
        nn.init.zeros_(m.bias)


class TextTransformer(nn.Module):
    """BERT-style encoder/decoder over token ids, optionally reading image tokens."""

    def __init__(self, cfg: MEDConfig):
        super().__init__()
        self.cfg = cfg
        self.embed = Embeddings(cfg)
        self.layers = nn.ModuleList(Layer(cfg, cross=i % cfg.cross_every == 0)
                                    for i in range(cfg.depth))
        self.apply(bert_init)

    def forward(self, ids: torch.Tensor, mask: torch.Tensor | None = None,
                image: torch.Tensor | None = None, image_mask: torch.Tensor | None = None,
                causal: bool = False, cache: KVCache | None = None) -> torch.Tensor:
        """ids: (B, T); mask: (B, T [+ cached]) 1 = attend; image: (B', N, Di), B' divides B.

        Returns hidden states (B, T, D). With `cache`, `ids` are the new tokens only.
        """
        start = cache.length if cache is not None else 0
        x = self.embed(ids, start)
        self_mask = _self_mask(mask, ids.shape[1], start, causal, x.dtype, ids.device)
        cross_mask = None if image_mask is None else _padding_mask(image_mask, x.dtype)
        for i, layer in enumerate(self.layers):
            if cache is not None:
                kv = cache.append(i, *layer.attn.kv(x))
                x = layer.attn(x, self_mask, kv)
            else:
                x = layer.attn(x, self_mask)
            if layer.cross is not None and image is not None:
                if cache is not None:
                    if cache.cross_kv[i] is None:
                        cache.cross_kv[i] = layer.cross.kv(image)
                    x = layer.cross(x, cross_mask, cache.cross_kv[i])
                else:
                    x = layer.cross(x, cross_mask, layer.cross.kv(image))
            x = layer.mlp(x)
        if cache is not None:
            cache.length += ids.shape[1]
        return x


def _padding_mask(mask: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    # (B, S) of 1/0 -> additive (B, 1, 1, S)
    return (1.0 - mask[:, None, None, :].to(dtype)) * torch.finfo(dtype).min


def _self_mask(mask: torch.Tensor | None, t: int, start: int, causal: bool,
               dtype: torch.dtype, device: torch.device) -> torch.Tensor | None:
    """Additive (B|1, 1, T, start+T) mask: padding, and for the decoder, no peeking ahead."""
    out = None if mask is None else _padding_mask(mask, dtype)
    if causal and t > 1:
        rows = torch.arange(start, start + t, device=device)[:, None]
        cols = torch.arange(start + t, device=device)[None, :]
        future = torch.zeros(t, start + t, dtype=dtype, device=device)
        future.masked_fill_(cols > rows, torch.finfo(dtype).min)
        out = future[None, None] if out is None else out + future
    return out


class LMHead(nn.Module):
    """BERT's prediction head: dense, GELU, LayerNorm, then vocab logits with the word
    embedding matrix (tied weights, passed in so the state dict holds them once)."""

    def __init__(self, cfg: MEDConfig):
        super().__init__()
        self.dense = nn.Linear(cfg.width, cfg.width)
        self.ln = nn.LayerNorm(cfg.width, eps=cfg.eps)
        self.bias = nn.Parameter(torch.zeros(cfg.vocab_size))
        self.apply(bert_init)

    def forward(self, x: torch.Tensor, embedding: torch.Tensor) -> torch.Tensor:
        # x: (B, T, D), embedding: (V, D) -> logits (B, T, V)
        return F.linear(self.ln(F.gelu(self.dense(x))), embedding, self.bias)


def share_all_but_self_attention(encoder: TextTransformer, decoder: TextTransformer) -> None:
    """Makes the decoder use the encoder's embeddings, cross-attention and MLPs (BLIP pretraining)."""
    decoder.embed = encoder.embed
    for enc, dec in zip(encoder.layers, decoder.layers, strict=True):
        dec.cross, dec.mlp = enc.cross, enc.mlp
