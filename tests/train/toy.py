"""A toy model, task and data set for driving the engine's phases in-process, in milliseconds."""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader

from blipctl.data.config import DataConfig
from blipctl.engine.dist import World
from blipctl.engine.loop import Parts, TrainConfig, setup_run
from blipctl.engine.optim import OptimConfig

WORLD = World(rank=0, size=1, local_rank=0, device=torch.device("cpu"))


class Toy(nn.Module):
    """tower -> norm -> head, a regression; with dropout > 0, training draws random numbers."""

    def __init__(self, seed: int = 0, dropout: float = 0.0):
        super().__init__()
        torch.manual_seed(seed)
        self.tower = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Dropout(dropout), nn.Linear(8, 8))
        self.norm = nn.LayerNorm(8)
        self.head = nn.Linear(8, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.norm(self.tower(x))).squeeze(-1)


class ToyTask:
    """Returns a loss under a name no BLIP task uses (`itg`), and a metric (`acc`)."""

    def losses(self, model: nn.Module, batch: dict, ctx) -> dict[str, torch.Tensor]:
        pred = model(batch["x"].to(ctx.device))
        itg = F.mse_loss(pred, batch["y"])
        acc = ((pred - batch["y"]).abs() < 0.5).float().mean()
        return {"loss": itg, "itg": itg, "acc": acc.detach()}


class ToyData:
    """What the loop reads: len() micro-batches an epoch, `loader(epoch, first)` from `first`.
    Through a torch DataLoader, as TrainData's: starting one draws from the global RNG."""

    def __init__(self, batches: list[dict]):
        self.batches = batches

    def __len__(self) -> int:
        return len(self.batches)

    def loader(self, epoch: int, first: int = 0):
        return iter(DataLoader(self.batches[first:], batch_size=None, collate_fn=lambda b: b))


def batch(x: torch.Tensor, bad: list | None = None) -> dict:
    return {"x": x, "y": x.sum(-1).sin(), "size": len(x), "bad": bad or []}


def batches(n: int, size: int = 4, seed: int = 1) -> list[dict]:
    g = torch.Generator().manual_seed(seed)
    return [batch(torch.randn(size, 4, generator=g)) for _ in range(n)]


def toy_run(run_dir: Path, items: list[dict], model: nn.Module | None = None, *, task=None, ckpt=None,
            state=None, **cfg):
    """A Run over `items` with TrainConfig fields `cfg` (`optim` and `data` as dicts of fields)."""
    optim = OptimConfig(**{"lr": 0.01, **cfg.pop("optim", {})})
    config = TrainConfig(output_dir=str(run_dir), optim=optim, data=DataConfig(**cfg.pop("data", {})),
                         **{"log_every": 1, **cfg})
    parts = Parts(task or ToyTask(), model if model is not None else Toy(), ToyData(items), Path(run_dir),
                  ckpt, state or {})
    return setup_run(config, WORLD, parts, "toy: true\n")
