"""The Q-Former (BLIP-2): learned queries that read a frozen image encoder through
cross-attention, and a BERT-style text transformer that shares their self-attention.

Sequences are [queries; text]. Every layer has self-attention over the whole sequence, a
feed-forward network for the query positions and one for the text positions; the layers
listed by `cross_every` (0, 2, 4, ... in BLIP-2) also cross-attend to the image, from the
query positions only. Queries get no position embedding; text positions start at 0 after
them. The attention pattern is the caller's choice (`masks`):

- unimodal: queries alone (image features), or text alone (text features);
- bidirectional over [queries; text] (ITM, InstructBLIP's instruction-aware queries);
- query-prefix causal: text sees every query and the text before it, queries see only
  queries (ITG, Q-Former captioning).

Layers are post-LayerNorm, as in BERT: x = LN(x + sublayer(x)).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from blipctl.models.layers import KV, MLP, AttentionSublayer, bert_init


@dataclass
class QFormerConfig:
    vocab_size: int = 30523  # bert-base-uncased + [DEC]
    width: int = 768
    depth: int = 12
    heads: int = 12
    mlp_width: int = 3072
    max_positions: int = 512
    vision_width: int = 1408  # EVA ViT-g; 1024 for CLIP ViT-L
    queries: int = 32
    cross_every: int = 2  # cross-attention in layers 0, k, 2k, ...
    text_ffn: bool = True  # False: a query-only Q-Former, no text embeddings or text FFN
    # (BLIP-2's generation models, as LAVIS and transformers keep them)
    eps: float = 1e-12
    dropout: float = 0.1
    grad_ckpt: bool = False  # recompute each layer's activations in the backward pass (training)


class QFormerLayer(nn.Module):
    def __init__(self, cfg: QFormerConfig, cross: bool):
        super().__init__()
        self.attn = AttentionSublayer(cfg.width, cfg.heads, eps=cfg.eps, dropout=cfg.dropout)
        self.cross = AttentionSublayer(cfg.width, cfg.heads, cfg.vision_width, cfg.eps,
                                       cfg.dropout) if cross else None
        self.mlp_query = MLP(cfg.width, cfg.mlp_width, cfg.eps, cfg.dropout)
        self.mlp = MLP(cfg.width, cfg.mlp_width, cfg.eps, cfg.dropout) if cfg.text_ffn else None

    def forward(self, x: torch.Tensor, n_query: int, self_mask: torch.Tensor | None,
                image_kv: KV | None, past: KV | None = None) -> tuple[torch.Tensor, KV]:
        """x: (B, n_query + T, D), the first n_query positions queries; past: cached keys and
        values of positions before x (B, H, t, Dh) each. Returns x and the self-attention keys
        and values over past and x."""
        k, v = self.attn.kv(x)
        if past is not None:
            k, v = torch.cat([past[0], k], dim=2), torch.cat([past[1], v], dim=2)
        h = self.attn(x, self_mask, (k, v))
        query, text = h[:, :n_query], h[:, n_query:]
        parts = []
        if n_query:
            if self.cross is not None and image_kv is not None:
                query = self.cross(query, None, image_kv)
            parts.append(self.mlp_query(query))
        if text.shape[1]:
            parts.append(self.mlp(text))
        return torch.cat(parts, dim=1), (k, v)


class QFormer(nn.Module):
    """Queries (1, Q, D) initialised N(0, 0.02), text embeddings, and the layers."""

    def __init__(self, cfg: QFormerConfig):
        super().__init__()
        self.cfg = cfg
        self.tok = nn.Embedding(cfg.vocab_size, cfg.width, padding_idx=0) if cfg.text_ffn else None
        self.pos = nn.Embedding(cfg.max_positions, cfg.width) if cfg.text_ffn else None
        self.ln = nn.LayerNorm(cfg.width, eps=cfg.eps)
        self.drop = nn.Dropout(cfg.dropout)
        self.layers = nn.ModuleList(QFormerLayer(cfg, cross=i % cfg.cross_every == 0)
                                    for i in range(cfg.depth))
        self.apply(bert_init)
        self.query_tokens = nn.Parameter(torch.randn(1, cfg.queries, cfg.width) * 0.02)

    def embed(self, ids: torch.Tensor | None, queries: torch.Tensor | None,
              start: int = 0) -> torch.Tensor:
        """[queries (B, Q, D); text ids (B, T) at positions start..] -> (B, Q + T, D), normed."""
        parts = [] if queries is None else [queries]
        if ids is not None:
            positions = torch.arange(start, start + ids.shape[1], device=ids.device)
            parts.append(self.tok(ids) + self.pos(positions))
        return self.drop(self.ln(torch.cat(parts, dim=1)))

    def forward(self, ids: torch.Tensor | None = None, image: torch.Tensor | None = None,
                mask: torch.Tensor | None = None, queries: bool = True,
                causal: bool = False) -> torch.Tensor:
        """ids: (B, T) text or None; image: (B | 1, N, vision_width) tokens the queries read
        (None: no cross-attention; one image is read by every row); mask: (B, T) 1 = attend,
        over the text; queries: prepend the learned queries; causal: the query-prefix causal
        pattern (text over text is causal). Returns hidden states (B, Q + T, D), queries first."""
        B = ids.shape[0] if ids is not None else image.shape[0]
        q = self.query_tokens.expand(B, -1, -1) if queries else None
        x = self.embed(ids, q)
        n_query = q.shape[1] if q is not None else 0
        self_mask = attention_mask(n_query, ids.shape[1] if ids is not None else 0, mask, causal,
                                   x.dtype, x.device)
        for layer in self.layers:
            x, _ = self._run(layer, x, n_query, self_mask, self._image_kv(layer, image, B))
        return x

    def _run(self, layer: QFormerLayer, *args) -> tuple[torch.Tensor, KV]:
        """One layer, its activations recomputed in the backward pass under `grad_ckpt`."""
        if self.cfg.grad_ckpt and self.training and torch.is_grad_enabled():
            from torch.utils.checkpoint import checkpoint

            return checkpoint(layer, *args, use_reentrant=False)
        return layer(*args)

    @staticmethod
    def _image_kv(layer: QFormerLayer, image: torch.Tensor | None, B: int) -> KV | None:
        if layer.cross is None or image is None:
            return None
        return tuple(t.expand(B, -1, -1, -1) for t in layer.cross.kv(image))  # one image may serve B rows

    def query_states(self, image: torch.Tensor) -> tuple[torch.Tensor, list[KV]]:
        """(B, N, vision_width) image -> the queries' outputs (B, Q, D) and each layer's
        self-attention keys and values of the queries (B, H, Q, Dh), which ITG's text reads."""
        B = image.shape[0]
        x = self.embed(None, self.query_tokens.expand(B, -1, -1))
        kvs = []
        for layer in self.layers:
            x, kv = self._run(layer, x, x.shape[1], None, self._image_kv(layer, image, B))
            kvs.append(kv)
        return x, kvs

    def text_step(self, ids: torch.Tensor, positions: torch.Tensor,
                  past: list[KV]) -> tuple[torch.Tensor, list[KV]]:
        """New text tokens ids (B, t) at `positions` (t,), after the cached keys and values
        `past` of every layer (the queries', then earlier text's) -> their states (B, t, D) and
        the extended keys and values. The query-prefix causal pattern, one step at a time."""
        x = self.drop(self.ln(self.tok(ids) + self.pos(positions)))
        mask = after_past(past[0][0].shape[2], ids.shape[1], x.dtype, x.device)
        out = []
        for layer, kv in zip(self.layers, past, strict=True):
            x, kv = layer(x, 0, mask, None, kv)
            out.append(kv)
        return x, out


def after_past(past: int, new: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """Additive (1, 1, new, past + new) mask: new tokens see every cached position and, among
    themselves, only earlier ones (decoding after cached queries and text)."""
    allowed = torch.ones(new, past + new, dtype=torch.bool, device=device)
    allowed[:, past:] = torch.ones(new, new, dtype=torch.bool, device=device).tril()
    out = torch.zeros(allowed.shape, dtype=dtype, device=device)
    return out.masked_fill_(~allowed, torch.finfo(dtype).min)[None, None]


def attention_mask(n_query: int, n_text: int, text_mask: torch.Tensor | None, causal: bool,
                   dtype: torch.dtype, device: torch.device) -> torch.Tensor | None:
    """Additive (B|1, 1, Q + T, Q + T) mask over [queries; text]: padding of the text, and with
    `causal` the query-prefix pattern (queries see queries; text sees queries and earlier text)."""
    if not causal and text_mask is None:
        return None
    L = n_query + n_text
    allowed = torch.ones(L, L, dtype=torch.bool, device=device)
    if causal:
        allowed[:n_query, n_query:] = False  # queries never see text
        allowed[n_query:, n_query:] = torch.ones(n_text, n_text, dtype=torch.bool, device=device).tril()
    allowed = allowed[None, None]
    if text_mask is not None:
        keys = torch.cat([torch.ones(text_mask.shape[0], n_query, dtype=torch.bool, device=device),
                          text_mask.bool()], dim=1)
        allowed = allowed & keys[:, None, None, :]
    out = torch.zeros(allowed.shape, dtype=dtype, device=device)
    return out.masked_fill_(~allowed, torch.finfo(dtype).min)
