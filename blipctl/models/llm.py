"""A frozen transformers language model that reads a prefix of embeddings (BLIP-2's projected
queries) before its text, and decodes through `blipctl.decode`.

Decoder-only models (OPT, LLaMA/Vicuna) read [prefix; text] as one sequence. Encoder-decoder
models (Flan-T5) read [prefix; text] in the encoder and generate in the decoder from its start
token. transformers supplies the network and its cache; blipctl supplies the decoding loop, so
greedy, beam and nucleus decoding are the same code for every family.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn


@dataclass
class LMCache:
    """What `FrozenLM.step` carries between calls: transformers' key/value cache, the
    attention mask over every position so far (N, L), and for an encoder-decoder the encoder
    states (N, S, D) and their mask (N, S). `prefix` (N, Q, D) is
    read on the first call, `prompt_mask` (N, P) marks the prompt's left padding."""

    prefix: torch.Tensor
    prompt_mask: torch.Tensor | None = None
    past: Any = None
    mask: torch.Tensor | None = None
    encoder: torch.Tensor | None = None
    encoder_mask: torch.Tensor | None = None

    def reorder(self, index: torch.Tensor) -> None:
        """Keeps rows `index` (beam search)."""
        self.past.reorder_cache(index)
        self.mask = self.mask[index]
        if self.encoder is not None:
            self.encoder, self.encoder_mask = self.encoder[index], self.encoder_mask[index]


class FrozenLM(nn.Module):
    """Wraps a transformers `*ForCausalLM` or `*ForConditionalGeneration` (T5). source: the
    directory or Hub id it was read from, when a recipe built it (see `eva.Frozen`), and
    tokenizer_dir where its tokenizer is (the source itself, unless it is a blipctl run)."""

    def __init__(self, lm: nn.Module, source: str | None = None, tokenizer_dir: str | None = None):
        super().__init__()
        self.lm = lm
        self.source = source
        self.tokenizer_dir = tokenizer_dir or source  # a transformers directory holds its tokenizer
        self._cache_name: str | None = None
        lm.requires_grad_(False)
        lm.eval()

    def train(self, mode: bool = True) -> FrozenLM:
        super().train(False)
        return self

    @property
    def encoder_decoder(self) -> bool:
        return bool(self.lm.config.is_encoder_decoder)

    @property
    def width(self) -> int:
        return self.lm.get_input_embeddings().weight.shape[1]

    @property
    def dtype(self) -> torch.dtype:
        return self.lm.get_input_embeddings().weight.dtype

    def embed(self, ids: torch.Tensor) -> torch.Tensor:
        """(B, T) ids -> (B, T, width) input embeddings."""
        return self.lm.get_input_embeddings()(ids)

    def inputs(self, prefix: torch.Tensor, ids: torch.Tensor,
               mask: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """[prefix (B, Q, width); embedded ids (B, T)] and their mask (B, Q + T)."""
        B, Q = prefix.shape[:2]
        pm = torch.ones(B, Q, dtype=torch.long, device=prefix.device)
        tm = torch.ones_like(ids) if mask is None else mask.long()
        return torch.cat([prefix.to(self.dtype), self.embed(ids)], dim=1), torch.cat([pm, tm], dim=1)

    def logits(self, prefix: torch.Tensor, ids: torch.Tensor, mask: torch.Tensor | None = None,
               decoder_ids: torch.Tensor | None = None,
               decoder_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Decoder-only: (B, Q + T, V) over [prefix; ids]. Encoder-decoder: [prefix; ids] is the
        encoder's input and the logits (B, T', V) are over `decoder_ids`."""
        embeds, full = self.inputs(prefix, ids, mask)
        if self.encoder_decoder:
            return self.lm(inputs_embeds=embeds, attention_mask=full, decoder_input_ids=decoder_ids,
                           decoder_attention_mask=decoder_mask).logits
        return self.lm(inputs_embeds=embeds, attention_mask=full,
                       position_ids=_positions(full, full.shape[1])).logits

    def start(self, prefix: torch.Tensor, prompt: torch.Tensor | None = None,
              prompt_mask: torch.Tensor | None = None) -> LMCache:
        """The cache `step` begins from. Decoder-only: the prefix (N, Q, width), read before the
        prompt on the first step. Encoder-decoder: [prefix; prompt (N, P)] is encoded here and
        the decoding starts from the decoder's start token (`decoder_start`)."""
        cache = LMCache(prefix=prefix, prompt_mask=prompt_mask)
        if self.encoder_decoder:
            ids = prompt if prompt is not None else prefix.new_zeros(prefix.shape[0], 0, dtype=torch.long)
            embeds, cache.encoder_mask = self.inputs(prefix, ids, prompt_mask)
            cache.encoder = self.lm.get_encoder()(inputs_embeds=embeds,
                                                  attention_mask=cache.encoder_mask).last_hidden_state
        return cache

    def _cache_arg(self, past) -> dict:
        """The cache under the name this transformers version's forward takes (`cache` from
        about 5.24, `past_key_values` before)."""
        import inspect

        if self._cache_name is None:
            params = inspect.signature(self.lm.forward).parameters
            self._cache_name = "cache" if "cache" in params else "past_key_values"
        return {self._cache_name: past}

    @property
    def decoder_start(self) -> int:
        return self.lm.config.decoder_start_token_id

    @torch.no_grad()
    def step(self, ids: torch.Tensor, cache: LMCache) -> torch.Tensor:
        """Feeds the new tokens ids (N, t) and returns the next-token logits (N, V). For a
        decoder-only model the first call's ids are the (left-padded) prompt after the prefix;
        for an encoder-decoder they are decoder tokens from `decoder_start` on."""
        from transformers import DynamicCache, EncoderDecoderCache

        first = cache.past is None
        if first:
            cache.past = EncoderDecoderCache(DynamicCache(), DynamicCache()) if self.encoder_decoder \
                else DynamicCache()
        if self.encoder_decoder:
            out = self.lm(encoder_outputs=(cache.encoder,), attention_mask=cache.encoder_mask,
                          decoder_input_ids=ids, use_cache=True, **self._cache_arg(cache.past))
            cache.mask = torch.ones_like(ids) if first else torch.cat([cache.mask, torch.ones_like(ids)], 1)
            return out.logits[:, -1]
        if first:
            embeds, cache.mask = self.inputs(cache.prefix, ids, cache.prompt_mask)
        else:
            embeds = self.embed(ids)
            cache.mask = torch.cat([cache.mask, torch.ones_like(ids)], dim=1)
        out = self.lm(inputs_embeds=embeds, attention_mask=cache.mask, use_cache=True,
                      position_ids=_positions(cache.mask, embeds.shape[1]), **self._cache_arg(cache.past))
        return out.logits[:, -1]


def _positions(mask: torch.Tensor, new: int) -> torch.Tensor:
    """Position ids of the last `new` positions: the count of real tokens before each (as
    transformers' generate computes them), so left padding does not shift the text."""
    pos = mask.long().cumsum(-1) - 1
    return pos.masked_fill(mask == 0, 1)[:, -new:]
