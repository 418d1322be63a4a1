"""BLIP's learning-rate schedules, as pure functions of the position in training.

The schedule has no state of its own: the learning rate at (epoch, step) is recomputed, so a
checkpoint's position restores it exactly.
"""

from __future__ import annotations

import math

from blipctl.engine.optim import OptimConfig

__all__ = ["OptimConfig", "lr_at"]  # OptimConfig lives in engine/optim.py


def lr_at(cfg: OptimConfig, epoch: int, step: int, done: int = 0, total: int = 1) -> float:
    """cosine: per epoch from lr to min_lr (BLIP fine-tuning). step: lr * decay_rate**epoch,
    floored at min_lr, with a linear warmup from warmup_lr over the first warmup_steps steps
    of epoch 0 (BLIP pretraining). warmup_cosine: LAVIS's `linear_warmup_cosine_lr` (BLIP-2):
    every step of epoch 0 on the linear warmup from warmup_lr, capped at lr (an epoch shorter
    than the warmup ends it early), then the per-epoch cosine from epoch 1.
    warmup_cosine_steps: the linear warmup over the run's first warmup_steps optimizer steps, then
    a cosine over the rest of its `total` steps to min_lr (InstructBLIP); `done`: steps taken."""
    if cfg.schedule == "warmup_cosine_steps":
        if done < cfg.warmup_steps:
            return cfg.warmup_lr + (cfg.lr - cfg.warmup_lr) * done / cfg.warmup_steps
        t = (done - cfg.warmup_steps) / max(total - cfg.warmup_steps, 1)
        return (cfg.lr - cfg.min_lr) * 0.5 * (1 + math.cos(math.pi * t)) + cfg.min_lr
    cosine = (cfg.lr - cfg.min_lr) * 0.5 * (1 + math.cos(math.pi * epoch / cfg.epochs)) + cfg.min_lr
    if cfg.schedule == "cosine":
        return cosine
    if cfg.schedule == "warmup_cosine":
        if epoch:
            return cosine
        return min(cfg.lr, cfg.warmup_lr + (cfg.lr - cfg.warmup_lr) * step / max(cfg.warmup_steps, 1))
    if epoch == 0 and step < cfg.warmup_steps:
        return min(cfg.lr, cfg.warmup_lr + (cfg.lr - cfg.warmup_lr) * step / cfg.warmup_steps)
    return max(cfg.min_lr, cfg.lr * cfg.decay_rate ** epoch)
