"""`blipctl pretrain` and `blipctl finetune`: the same engine, named apart so a recipe says
which command runs it."""

from __future__ import annotations

from typing import Any

from blipctl.engine.loop import TrainConfig, fit


def pretrain(cfg: TrainConfig, config_yaml: str = "", resume: str | None = None) -> dict[str, Any]:
    """BLIP pretraining (ITC + ITM + LM) on image-text pairs."""
    return fit(cfg, config_yaml, resume)


def finetune(cfg: TrainConfig, config_yaml: str = "", resume: str | None = None) -> dict[str, Any]:
    """Fine-tuning for captioning, retrieval, VQA or NLVR2, from a pretrained checkpoint."""
    return fit(cfg, config_yaml, resume)
