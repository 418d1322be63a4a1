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
    seed: int = 0                 # the run's seed
    micro: int = 0                # this micro-batch's index in the run (every rank's alike)

    def shared_generator(self) -> torch.Generator:
        """A CPU generator seeded alike on every rank for this micro-batch (and again on a
        resume): what is drawn from it for the world batch, each rank keeping its own rows,
        does not depend on how the batch is split across processes."""
        return torch.Generator().manual_seed(self.seed * 1_000_003 + self.micro)
