"""What a task's `losses` gets besides the model and the batch. Text is encoded by the
model's own codec (`model.codec`), so a task never chooses a start token."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class Context:
    device: torch.device
    epoch: int = 0
    step: int = 0                 # optimizer steps so far
    steps_per_epoch: int = 1
