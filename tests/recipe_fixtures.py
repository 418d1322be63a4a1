"""A toy workflow and components that the recipe tests bind recipes to."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal


def tiny_model(width: int = 8, depth: int = 2, act: Literal["gelu", "relu"] = "gelu",
               dropout: float = 0.0) -> dict:
    return {"width": width, "depth": depth, "act": act, "dropout": dropout}


class Optim:
    def __init__(self, params: list, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999)):
        self.params, self.lr, self.betas = params, lr, betas


@dataclass
class Decode:
    num_beams: int = 3
    prompt: str = "a picture of "
    max_len: int | None = None


@dataclass
class ToyConfig:
    output_dir: str
    epochs: int = 1
    lr: float = 1e-4
    model: dict[str, Any] = field(default_factory=dict)
    optim: dict[str, Any] = field(default_factory=dict)
    decode: Decode = field(default_factory=Decode)
    tags: list[str] = field(default_factory=list)


def run(cfg: ToyConfig) -> ToyConfig:
    return cfg
