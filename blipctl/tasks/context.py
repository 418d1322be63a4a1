"""What a task's `losses` gets besides the model and the batch."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch


@dataclass
class Context:
    tokenizer: Any
    device: torch.device
    epoch: int = 0
    step: int = 0                 # optimizer steps so far
    steps_per_epoch: int = 1

    def tokenize(self, texts: list[str], max_length: int, first: int | None = None,
                 padding: str = "max_length") -> tuple[torch.Tensor, torch.Tensor]:
        """(B, T) ids and mask; `first` replaces [CLS] ([ENC] or [DEC], as BLIP does)."""
        enc = self.tokenizer(texts, padding=padding, truncation=True, max_length=max_length,
                             return_tensors="pt")
        ids, mask = enc.input_ids.to(self.device), enc.attention_mask.to(self.device)
        if first is not None:
            ids[:, 0] = first
        return ids, mask
