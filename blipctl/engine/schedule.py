"""BLIP's learning-rate schedules, as pure functions of the position in training.

The schedule has no state of its own: the learning rate at (epoch, step) is recomputed, so a
checkpoint's position restores it exactly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal


@dataclass
class OptimConfig:
    lr: float = 1e-5                      # BLIP's init_lr
    min_lr: float = 0.0
    weight_decay: float = 0.05            # AdamW, applied to every parameter as BLIP does
    betas: tuple[float, float] = (0.9, 0.999)
    schedule: Literal["cosine", "step"] = "cosine"
    warmup_lr: float = 1e-6               # step schedule: linear warmup in the first epoch...
    warmup_steps: int = 0                 # ...over this many optimizer steps
    decay_rate: float = 0.9               # step schedule: lr * decay_rate ** epoch
    epochs: int = 1
    grad_accum: int = 1                   # micro-batches per optimizer step
    clip_grad: float = 0.0                # max gradient norm; 0 = off (BLIP does not clip)


def lr_at(cfg: OptimConfig, epoch: int, step: int) -> float:
    """cosine: per epoch from lr to min_lr (BLIP fine-tuning). step: lr * decay_rate**epoch,
    floored at min_lr, with a linear warmup from warmup_lr over the first warmup_steps steps
    of epoch 0 (BLIP pretraining)."""
    if cfg.schedule == "cosine":
        return (cfg.lr - cfg.min_lr) * 0.5 * (1 + math.cos(math.pi * epoch / cfg.epochs)) + cfg.min_lr
    if epoch == 0 and step < cfg.warmup_steps:
        return min(cfg.lr, cfg.warmup_lr + (cfg.lr - cfg.warmup_lr) * step / cfg.warmup_steps)
    return max(cfg.min_lr, cfg.lr * cfg.decay_rate ** epoch)
