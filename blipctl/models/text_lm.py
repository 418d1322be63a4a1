"""A small transformers LM trained from scratch on text alone: the mini recipes' stand-in for
the OPT or Flan-T5 that BLIP-2 keeps frozen (those cannot be downloaded on an offline machine).
Once trained, `checkpoints.parts.frozen_llm` reads it from its run directory."""

from __future__ import annotations

import torch
from torch import nn


class TextLM(nn.Module):
    """Wraps a transformers `*ForCausalLM` or `*ForConditionalGeneration`; `codec` is its
    tokenizer (LMText), `end_token` the token a text ends with ("\\n" for decoder-only, as
    BLIP-2 trains OPT; None: the LM's EOS, which T5's tokenizer appends)."""

    def __init__(self, lm: nn.Module):
        super().__init__()
        self.lm = lm
        self.codec = None
        self.end_token: int | None = None

    @property
    def encoder_decoder(self) -> bool:
        return bool(self.lm.config.is_encoder_decoder)

    @property
    def decoder_start(self) -> int:
        return self.lm.config.decoder_start_token_id

    def logits(self, ids: torch.Tensor, mask: torch.Tensor, decoder_ids: torch.Tensor | None = None,
               decoder_mask: torch.Tensor | None = None) -> torch.Tensor:
        """(B, T, V) next-token logits over ids (decoder-only) or over decoder_ids, ids encoded."""
        if self.encoder_decoder:
            return self.lm(input_ids=ids, attention_mask=mask, decoder_input_ids=decoder_ids,
                           decoder_attention_mask=decoder_mask).logits
        return self.lm(input_ids=ids, attention_mask=mask).logits
