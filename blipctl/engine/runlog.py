"""A run's record: metrics.jsonl, TensorBoard events, a progress bar, and loss.png at the end.

A metrics row holds the engine's own fields (`ENGINE_FIELDS`) and the mean of every scalar the
task's `losses` returned. loss.png plots the task's scalars that are losses: all of them but
the metrics, i.e. names in `METRICS` or in the task's optional `metrics` attribute, and names
that start with `acc` or end in `_acc`.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

ENGINE_FIELDS = ("step", "epoch", "lr", "img_per_s", "skipped")  # the rest of a row is the task's
METRICS = ("acc",)  # task scalars that are not losses (NLVR's accuracy)


class RunLog:
    """Writes on the main rank only; other ranks get a silent log."""

    def __init__(self, run_dir: Path, total_steps: int, first_step: int, enabled: bool,
                 not_losses: Iterable[str] = ()):
        self.dir, self.enabled, self.not_losses = Path(run_dir), enabled, tuple(not_losses)
        self.writer = self.bar = None
        if not enabled:
            return
        self.dir.mkdir(parents=True, exist_ok=True)
        path = self.dir / "metrics.jsonl"
        if path.exists():  # resuming: rows after the checkpoint are about to be logged again
            rows = [r for r in path.read_text().splitlines() if r.strip()]
            path.write_text("".join(r + "\n" for r in rows if json.loads(r)["step"] <= first_step))
        self.metrics = (self.dir / "metrics.jsonl").open("a", encoding="utf-8")
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(str(self.dir / "tb"), purge_step=first_step + 1)
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.bar = Progress("train", BarColumn(), MofNCompleteColumn(),
                            TextColumn("loss {task.fields[loss]}  {task.fields[speed]} img/s"),
                            TimeElapsedColumn(), console=Console(stderr=True), transient=True,
                            disable=not sys.stderr.isatty())
        self.bar.start()
        self.task = self.bar.add_task("train", total=total_steps, completed=first_step, loss="-", speed="-")

    def log(self, row: dict[str, Any]) -> None:
        if not self.enabled:
            return
        self.metrics.write(json.dumps(row) + "\n")
        self.metrics.flush()
        for k, v in row.items():
            if k not in ("step", "epoch") and isinstance(v, (int, float)):
                self.writer.add_scalar(f"train/{k}", v, row["step"])
        self.bar.update(self.task, completed=row["step"], loss=f"{row['loss']:.4f}",
                        speed=f"{row.get('img_per_s', 0):.1f}")

    def note(self, text: str) -> None:
        if self.enabled:
            print(text, file=sys.stderr)

    def close(self) -> None:
        if not self.enabled:
            return
        self.bar.stop()
        self.writer.close()
        self.metrics.close()
        plot_losses(self.dir / "metrics.jsonl", self.dir / "loss.png", self.not_losses)


def is_loss(name: str, not_losses: Iterable[str] = ()) -> bool:
    """Whether a task's scalar `name` is a loss (the rule in this module's docstring)."""
    metric = name in METRICS or name in tuple(not_losses) or name.startswith("acc") or name.endswith("_acc")
    return not metric


def loss_names(rows: list[dict[str, Any]], not_losses: Iterable[str] = ()) -> list[str]:
    """The loss names in metrics rows, `loss` first, then in the order the task returned them."""
    names = dict.fromkeys(k for r in rows for k in r if k not in ENGINE_FIELDS and is_loss(k, not_losses))
    return sorted(names, key=lambda k: k != "loss")


def plot_losses(metrics: Path, out: Path, not_losses: Iterable[str] = ()) -> None:
    """Every loss curve in metrics.jsonl against the step, one PNG."""
    rows = [json.loads(line) for line in metrics.read_text().splitlines() if line.strip()]
    if not rows:
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = loss_names(rows, not_losses)
    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    for k in keys:
        pts = [(r["step"], r[k]) for r in rows if k in r]
        ax.plot([p[0] for p in pts], [p[1] for p in pts], label=k, lw=1.5 if k == "loss" else 1)
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("loss")
    ax.set_title(metrics.parent.name)
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    tmp = out.with_suffix(".tmp.png")
    fig.savefig(tmp)
    plt.close(fig)
    tmp.replace(out)
