"""BERT building blocks shared by the text transformers (MED now; the Q-Former next).

The layers take plain ints, so a model with its own config (MED's `MEDConfig`, a Q-Former's)
builds them without sharing a config class. The defaults are BERT-base's (eps 1e-12, dropout
0.1). Sublayers are post-LayerNorm, as in BERT: x = LN(x + dropout(sublayer(x))).

Masks are additive: 0 where a key may be attended, the dtype's minimum where it may not.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

KV = tuple[torch.Tensor, torch.Tensor]  # keys and values, (B, H, S, D/H) each


class Embeddings(nn.Module):
    """Word plus position embeddings, then LayerNorm and dropout."""

    def __init__(self, vocab_size: int, width: int, max_positions: int, eps: float = 1e-12,
                 dropout: float = 0.1):
        super().__init__()
        self.tok = nn.Embedding(vocab_size, width, padding_idx=0)
        self.pos = nn.Embedding(max_positions, width)
        self.ln = nn.LayerNorm(width, eps=eps)
        self.drop = nn.Dropout(dropout)

    def forward(self, ids: torch.Tensor, positions: torch.Tensor | None = None) -> torch.Tensor:
        """ids: (B, T); positions: (T,) long, default 0..T-1 (a decoder step passes its own) -> (B, T, D)."""
        if positions is None:
            positions = torch.arange(ids.shape[1], device=ids.device)
        return self.drop(self.ln(self.tok(ids) + self.pos(positions)))


class Heads(nn.Module):
    """Query, key and value projections and scaled-dot-product attention over `heads` heads.
    No output projection: `AttentionSublayer` adds it (NLVR's twin attention projects two)."""

    def __init__(self, width: int, heads: int, kv_width: int | None = None, dropout: float = 0.1):
        super().__init__()
        kv_width = kv_width or width
        self.heads = heads
        self.q = nn.Linear(width, width)
        self.k = nn.Linear(kv_width, width)
        self.v = nn.Linear(kv_width, width)
        self.p_drop = dropout  # on the attention probabilities, as BERT

    def split(self, x: torch.Tensor) -> torch.Tensor:
        # (B, T, D) -> (B, H, T, D/H)
        return x.unflatten(-1, (self.heads, -1)).transpose(1, 2)

    def kv(self, source: torch.Tensor) -> KV:
        """source: (B, S, kv_width) -> keys and values (B, H, S, D/H) each."""
        return self.split(self.k(source)), self.split(self.v(source))

    def attend(self, x: torch.Tensor, mask: torch.Tensor | None, kv: KV | None) -> torch.Tensor:
        """x: (B, T, D); mask: additive, broadcastable to (B, H, T, S); kv: ((B', H, S, Dh),)*2,
        or None to attend to x itself. Returns the heads' output (B, T, D), before any output
        projection.

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


class AttentionSublayer(Heads):
    """BERT's attention sublayer: `Heads`, output projection, dropout, residual, LayerNorm.
    Self-attention when `kv` is None, else attention to `kv` (cached, or another sequence's)."""

    def __init__(self, width: int, heads: int, kv_width: int | None = None, eps: float = 1e-12,
                 dropout: float = 0.1):
        super().__init__(width, heads, kv_width, dropout)
        self.o = nn.Linear(width, width)
        self.ln = nn.LayerNorm(width, eps=eps)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None,
                kv: KV | None = None) -> torch.Tensor:
        # x: (B, T, D) -> (B, T, D)
        return self.ln(x + self.drop(self.o(self.attend(x, mask, kv))))


class MLP(nn.Module):
    """BERT's feed-forward sublayer: fc1, GELU, fc2, dropout, residual, LayerNorm."""

    def __init__(self, width: int, mlp_width: int, eps: float = 1e-12, dropout: float = 0.1):
        super().__init__()
        self.fc1 = nn.Linear(width, mlp_width)
        self.fc2 = nn.Linear(mlp_width, width)
        self.ln = nn.LayerNorm(width, eps=eps)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: (B, T, D) -> (B, T, D)
        return self.ln(x + self.drop(self.fc2(F.gelu(self.fc1(x)))))


class LMHead(nn.Module):
    """BERT's prediction head: dense, GELU, LayerNorm, then vocab logits with the word
    embedding matrix (tied weights, passed in so the state dict holds them once)."""

    def __init__(self, width: int, vocab_size: int, eps: float = 1e-12):
        super().__init__()
        self.dense = nn.Linear(width, width)
        self.ln = nn.LayerNorm(width, eps=eps)
        self.bias = nn.Parameter(torch.zeros(vocab_size))
        self.apply(bert_init)

    def forward(self, x: torch.Tensor, embedding: torch.Tensor) -> torch.Tensor:
        # x: (B, T, D), embedding: (V, D) -> logits (B, T, V)
        return F.linear(self.ln(F.gelu(self.dense(x))), embedding, self.bias)


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


def padding_mask(mask: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """(B, S) of 1 (attend) / 0 (padding) -> additive (B, 1, 1, S)."""
    return (1.0 - mask[:, None, None, :].to(dtype)) * torch.finfo(dtype).min


def self_attention_mask(mask: torch.Tensor | None, t: int, s: int, causal: bool,
                        dtype: torch.dtype, device: torch.device) -> torch.Tensor | None:
    """Additive (B|1, 1, t, s) mask for t queries that are the last t of s keys (s > t when
    earlier keys are cached): padding (`mask` (B, s), 1 = attend) and, when causal, no key
    after the query's own. None when nothing is masked."""
    out = None if mask is None else padding_mask(mask, dtype)
    if causal and t > 1:
        rows = torch.arange(s - t, s, device=device)[:, None]
        cols = torch.arange(s, device=device)[None, :]
        future = torch.zeros(t, s, dtype=dtype, device=device)
        future.masked_fill_(cols > rows, torch.finfo(dtype).min)
        out = future[None, None] if out is None else out + future
    return out
