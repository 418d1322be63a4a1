"""The training loop, for a single process, DDP under torchrun, or DeepSpeed, in phases:

    build_parts(cfg, world, resume) -> Parts   the recipe's task, model (weights in place) and data
    setup_run(cfg, world, parts, yaml) -> Run  optimizer, wrapper, trainer state, run log
    train_step(run, batch) -> dict             one micro-batch; the optimizer steps at a boundary
    log_step(run) -> dict | None               a metrics row, at the log cadence
    save_step(run) -> Path | None              a checkpoint, at the save cadence
    close_run(run) -> dict                     the run log closed; the last row

`train(run)` is the loop over the steps, `fit` all of it in the world that torchrun (or
nothing) set up. The phases after `build_parts` take the `Run` and nothing else, so a test can
drive them on a toy module and task (`tests/train/test_phases.py`). The order in which they
draw random numbers is part of the contract: a resumed run is bit-exact.
"""

from __future__ import annotations

import contextlib
import os
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from blipctl.data.config import DataConfig
from blipctl.engine import checkpoint, precision
from blipctl.engine.dist import World, setup, teardown
from blipctl.engine.optim import OptimConfig, build_optimizer, param_groups, set_lr
from blipctl.engine.precision import PrecisionConfig
from blipctl.engine.runlog import RunLog
from blipctl.engine.schedule import lr_at
from blipctl.errors import BlipctlError
from blipctl.files import write_text
from blipctl.tasks.context import Context

__all__ = ["DataConfig", "Parts", "Run", "TrainConfig", "build_parts", "close_run", "fit", "log_step",
           "save_step", "setup_run", "train", "train_step"]


@dataclass
class TrainConfig:
    output_dir: str = "runs/train"
    task: dict = field(default_factory=lambda: {"_component_": "blipctl.tasks.caption.Caption"})
    model: dict = field(default_factory=lambda: {"_component_": "blipctl.models.builders.blip_caption_tiny"})
    # the text codec the model trains with, recorded in every checkpoint; null: the model's own
    # (BLIP's [ENC] convention), e.g. {_component_: blipctl.text.codecs.BlipText, grounded_start: "[CLS]"}
    codec: dict | None = None
    init: str | None = None               # starting weights: run dir, BLIP .pth, transformers dir, Hub id
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    seed: int = 42
    # bit-identical reruns and resumes: deterministic kernels (torch.use_deterministic_algorithms).
    # On CPU the one kernel it changes, the backward of ITM's hard-negative gather, costs nothing
    # measurable (recipes/README.md); on CUDA it may be slower and warns where no such kernel exists
    deterministic: bool = True
    # fp32 | bf16 (autocast), or {autocast: fp32|bf16, modules: {visual: bf16}} (engine/precision.py)
    precision: Literal["fp32", "bf16"] | PrecisionConfig = "fp32"
    device: str = "auto"
    freeze: list[str] = field(default_factory=list)  # parameter-name prefixes not to train
    save_every: int = 0                   # optimizer steps between checkpoints; 0 = each epoch's end
    keep: int = 3                         # checkpoints kept
    log_every: int = 10
    max_steps: int = 0                    # stop early after this many optimizer steps; 0 = all epochs
    deepspeed: dict | None = None         # a DeepSpeed config section (zero_optimization, ...)


class StepModule(nn.Module):
    """The model and its task as one module, so DDP and DeepSpeed see a plain forward."""

    def __init__(self, model: nn.Module, task: Any):
        super().__init__()
        self.model, self.task = model, task

    def forward(self, batch: dict, ctx: Any) -> dict[str, torch.Tensor]:
        return self.task.losses(self.model, batch, ctx)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def deterministic_kernels(on: bool) -> None:
    """With `on`, every kernel that has a deterministic version uses it. At 2 CPU threads the
    default backward of `x[index]` with repeated indices (ITM's hard negatives) adds in parallel
    with atomics, so two runs of the same seed drifted apart (2e-6 after 10 steps)."""
    if on:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # cuBLAS' deterministic mode
    torch.use_deterministic_algorithms(on, warn_only=True)


@dataclass
class Parts:
    """What a run trains: built from the recipe by `build_parts`, or by hand in a test."""

    task: Any                             # has `losses(model, batch, ctx) -> {"loss": ..., part: ...}`
    model: nn.Module                      # on the world's device, weights in place
    data: Any                             # len() micro-batches an epoch; loader(epoch, first) yields them
    run_dir: Path
    ckpt: Path | None = None              # resuming from this checkpoint...
    state: dict[str, Any] = field(default_factory=dict)  # ...whose state.json this is
    frozen: dict[str, str] = field(default_factory=dict)  # frozen parameter -> where its weights come from


@dataclass
class Window:
    """What the next metrics row averages: the task's scalars summed since the last row."""

    t0: float = field(default_factory=time.perf_counter)
    seen: int = 0                         # images, across the world
    sums: dict[str, float] = field(default_factory=dict)
    steps: int = 0                        # optimizer steps


@dataclass
class Run:
    """One training run between phases: what `setup_run` built, and where training stands."""

    cfg: TrainConfig
    world: World
    run_dir: Path
    config_yaml: str
    task: Any
    model: nn.Module
    data: Any
    optimizer: Any                        # the torch optimizer, or DeepSpeed's around it
    params: list[nn.Parameter]            # the trainable parameters (gradient clipping)
    forward: nn.Module                    # what a batch goes through: StepModule, DDP or DeepSpeed's engine
    engine: Any                           # DeepSpeed's engine, or None
    autocast: Any                         # the context each forward runs in
    ctx: Context
    log: RunLog
    steps_per_epoch: int
    total: int                            # optimizer steps in the whole run
    frozen: dict[str, str] = field(default_factory=dict)
    epoch: int = 0
    batch: int = 0                        # micro-batches of this epoch done (skipped ones included)
    step: int = 0                         # optimizer steps done
    skipped: int = 0                      # unreadable items skipped
    lr: float = 0.0                       # the scheduled learning rate of the last step
    window: Window = field(default_factory=Window)
    last: dict[str, Any] = field(default_factory=dict)  # the last metrics row

    @property
    def accum(self) -> int:
        return self.cfg.optim.grad_accum

    @property
    def batches_per_epoch(self) -> int:
        return self.steps_per_epoch * self.accum

    @property
    def save_every(self) -> int:
        return self.cfg.save_every or self.steps_per_epoch

    @property
    def done(self) -> bool:
        return self.epoch >= self.cfg.optim.epochs or self.step >= self.total

    def position(self) -> dict[str, Any]:
        """Where a resumed run starts: the next micro-batch (the next epoch's first at its end)."""
        pos = {"epoch": self.epoch, "batch": self.batch, "skipped": self.skipped, "lr": self.lr}
        if pos["batch"] >= self.batches_per_epoch:
            pos.update(epoch=self.epoch + 1, batch=0)
        return pos


def fit(cfg: TrainConfig, config_yaml: str, resume: str | None = None) -> dict[str, Any]:
    """Trains `cfg.model` on `cfg.task`; returns the last logged metrics."""
    world = setup(cfg.device)
    try:
        return train(setup_run(cfg, world, build_parts(cfg, world, resume), config_yaml))
    finally:
        teardown()


def train(run: Run) -> dict[str, Any]:
    """The loop over the phases, to the run's last step; returns the last metrics row."""
    from blipctl.progress import progress

    run.forward.train()
    bar = progress(run.total, "training steps", done=run.step) if run.world.main else contextlib.nullcontext()
    with bar as advance:
        while not run.done:
            run.ctx.epoch = run.epoch
            for batch in _epoch_batches(run):
                if run.batch >= run.batches_per_epoch:
                    break  # the last micro-batches of an epoch that do not fill an accumulation
                step = run.step
                train_step(run, batch)
                if run.step == step:
                    continue  # within an accumulation, or every item was unreadable
                log_step(run)
                save_step(run)
                if advance is not None:
                    advance(run.step - step)
                if run.step >= run.total:
                    break
            run.epoch, run.batch = run.epoch + 1, 0
    return close_run(run)


def _epoch_batches(run: Run) -> Any:
    """This epoch's micro-batches from `run.batch` on. Starting a DataLoader draws its workers'
    base seed from the global RNG: a run resumed within an epoch made that draw before its
    checkpoint, so here it is made on a copy of the RNG, which stays as the checkpoint left it."""
    if run.batch == 0:
        return run.data.loader(run.epoch, 0)
    with torch.random.fork_rng(devices=[]):
        return run.data.loader(run.epoch, run.batch)


def build_parts(cfg: TrainConfig, world: World, resume: str | None = None) -> Parts:
    """The recipe's task, model and data. The model gets its codec, then its starting weights
    (`init`, or the checkpoint it resumes from), `freeze`, the device and the module dtypes."""
    from blipctl.config.schema import instantiate
    from blipctl.data.loader import train_data
    from blipctl.tasks.check import check_codec, check_model

    run_dir = Path(resume or cfg.output_dir)
    deterministic_kernels(cfg.deterministic)
    seed_everything(cfg.seed)  # the same initial weights on every rank
    task = instantiate(cfg.task)
    model = instantiate(cfg.model)
    check_model(task, model)
    if cfg.codec is not None:
        model.codec = instantiate(cfg.codec)
    check_codec(model)
    ckpt = checkpoint.latest(run_dir) if resume else None
    if cfg.init and ckpt is None:
        from blipctl.checkpoints.warm_start import warm_start

        report = warm_start(model, cfg.init)
        if world.main:
            print(f"init: {report}", file=sys.stderr, flush=True)
    freeze(model, cfg.freeze)
    frozen = frozen_by_reference(model, cfg)
    state = checkpoint.load_weights(ckpt, model) if ckpt is not None else {}
    model.to(world.device)
    precision.hold_modules(model, cfg.precision)
    data = train_data(task, cfg.data, cfg.seed, world.rank, world.size)
    return Parts(task, model, data, run_dir, ckpt, state, frozen)


def freeze(model: nn.Module, prefixes: list[str]) -> None:
    for name, p in model.named_parameters():
        if any(name.startswith(prefix) for prefix in prefixes):
            p.requires_grad_(False)


def frozen_by_reference(model: nn.Module, cfg: TrainConfig) -> dict[str, Any]:
    """What a checkpoint may point at instead of storing: the parameters `freeze` holds at
    their `init` weights, and the frozen parts the recipe builds from their own checkpoints
    (BLIP-2's tower and LM)."""
    from blipctl.checkpoints.frozen import built

    refs: dict[str, Any] = {}
    if cfg.init:
        refs = {name: cfg.init for name, _ in model.named_parameters()
                if any(name.startswith(prefix) for prefix in cfg.freeze)}
    return {**refs, **built(model)}


def setup_run(cfg: TrainConfig, world: World, parts: Parts, config_yaml: str = "") -> Run:
    """The optimizer over the trainable parameters, the wrapper (DeepSpeed, DDP or none), the
    trainer state (resuming) or the per-rank seed, the run log and the run's config.yaml."""
    model, task = parts.model, parts.task
    steps_per_epoch = len(parts.data) // cfg.optim.grad_accum
    total = steps_per_epoch * cfg.optim.epochs
    if cfg.max_steps:
        total = min(total, cfg.max_steps)

    groups = param_groups(model, cfg.optim)
    params = [p for group in groups for p in group["params"]]
    optimizer = build_optimizer(groups, cfg.optim)
    forward, engine, optimizer = _wrap(StepModule(model, task), optimizer, groups, cfg, world)

    position = {"epoch": 0, "batch": 0, "step": 0, "skipped": 0}
    if parts.ckpt is not None:
        position = {k: parts.state[k] for k in position}
    else:
        seed_everything(cfg.seed + world.rank)  # dropout and negatives differ across ranks

    ctx = Context(world.device, position["epoch"], position["step"], steps_per_epoch, cfg.seed)
    log = RunLog(parts.run_dir, total, position["step"], world.main, getattr(task, "metrics", ()))
    if world.main:
        write_text(parts.run_dir / "config.yaml", config_yaml)
    if parts.ckpt is not None:
        # last, so that nothing here draws from the restored RNGs (starting the run log draws
        # from Python's, as the first run did before its first step)
        if engine is not None:
            # not strict: DeepSpeed saved only the parameters that train; the rest were loaded
            # (strictly) from model.safetensors and frozen.json by build_parts
            engine.load_checkpoint(str(parts.ckpt), tag="deepspeed", load_module_strict=False,
                                   load_optimizer_states=True, load_lr_scheduler_states=False)
        checkpoint.load_trainer(parts.ckpt, optimizer if engine is None else None, world.rank)
        log.note(f"resuming from {parts.ckpt} (step {position['step']}, epoch {position['epoch']}, "
                 f"batch {position['batch']})")
    return Run(cfg, world, parts.run_dir, config_yaml, task, model, parts.data, optimizer, params,
               forward, engine, precision.autocast(cfg.precision, world.device), ctx, log,
               steps_per_epoch, total, parts.frozen, **position, lr=cfg.optim.lr)


def _wrap(module: StepModule, optimizer: Any, groups: list[dict], cfg: TrainConfig,
          world: World) -> tuple[nn.Module, Any, Any]:
    """(what a batch goes through, DeepSpeed's engine or None, the optimizer to step)."""
    if cfg.deepspeed is not None:
        from blipctl.engine.deepspeed import initialize

        engine, optimizer = initialize(module, optimizer, cfg, world, groups)
        return engine, engine, optimizer
    if world.size > 1:
        ddp = nn.parallel.DistributedDataParallel(
            module, device_ids=[world.device.index] if world.device.type == "cuda" else None,
            broadcast_buffers=False)
        return ddp, None, optimizer
    return module, None, optimizer


def train_step(run: Run, batch: dict) -> dict[str, float]:
    """One micro-batch: forward and backward, then, at an accumulation boundary, the optimizer
    step. Returns the task's scalars for it ({} when every item was unreadable and skipped)."""
    run.batch += 1
    run.ctx.micro = run.epoch * run.batches_per_epoch + run.batch - 1
    batch = _readable(run, batch)
    if batch is None:
        return {}
    run.lr = lr_at(run.cfg.optim, run.epoch, run.step - run.epoch * run.steps_per_epoch, run.step, run.total)
    set_lr(run.optimizer, run.lr)
    boundary = run.batch % run.accum == 0
    out = _forward_backward(run, batch, boundary)
    run.window.seen += batch["size"] * run.world.size
    scalars = {k: v.item() for k, v in out.items()}
    for k, v in scalars.items():
        run.window.sums[k] = run.window.sums.get(k, 0.0) + v / run.accum
    if boundary:
        if run.engine is None:
            if run.cfg.optim.clip_grad > 0:
                nn.utils.clip_grad_norm_(run.params, run.cfg.optim.clip_grad)
            run.optimizer.step()
            run.optimizer.zero_grad(set_to_none=True)
        run.step += 1
        run.ctx.step = run.step
        run.window.steps += 1
    return scalars


def _readable(run: Run, batch: dict) -> dict | None:
    """The batch under the bad-item policy: stop on an unreadable item, or skip and count it;
    None when nothing is left. Under DDP good items are repeated to keep the batch size."""
    if not batch["bad"]:
        return batch
    if not run.cfg.data.skip_bad:
        bad = batch["bad"][0]
        raise BlipctlError(f"{bad.reason} ({bad.where}); data.skip_bad=true skips and counts such items")
    run.skipped += len(batch["bad"])
    batch = _top_up(batch, run.cfg.data.batch_size) if run.world.size > 1 else batch
    return batch if batch["size"] else None


def _top_up(batch: dict, size: int) -> dict:
    """Repeats good items so every rank keeps the same batch size after skipping bad ones."""
    n = batch["size"]
    if n == size or n == 0:
        return batch
    idx = [i % n for i in range(size)]
    for k, v in batch.items():
        if isinstance(v, torch.Tensor):
            batch[k] = v[idx]
        elif isinstance(v, list) and len(v) == n:
            batch[k] = [v[i] for i in idx]
    batch["size"] = size
    return batch


def _forward_backward(run: Run, batch: dict, boundary: bool) -> dict[str, torch.Tensor]:
    plain = boundary or run.world.size == 1 or run.engine is not None
    sync = contextlib.nullcontext() if plain else run.forward.no_sync()  # DDP: reduce at the boundary
    with sync:
        with run.autocast:
            out = run.forward(batch, run.ctx)
        if run.engine is not None:
            run.engine.backward(out["loss"])  # DeepSpeed divides by its accumulation steps
            run.engine.step()  # steps the optimizer at its accumulation boundary only
        else:
            (out["loss"] / run.accum).backward()
    return out


def log_step(run: Run) -> dict[str, Any] | None:
    """At the log cadence and the last step: the world's mean of each task scalar since the last
    row, written to the run log (metrics.jsonl, TensorBoard); returns the row."""
    if run.step % run.cfg.log_every and run.step != run.total:
        return None
    w = run.window
    dt = time.perf_counter() - w.t0
    means = {k: v / w.steps for k, v in w.sums.items()}
    if run.world.size > 1:  # the world's mean, not this rank's
        vals = torch.tensor(list(means.values()), dtype=torch.float64)
        torch.distributed.all_reduce(vals)
        means = dict(zip(means, (vals / run.world.size).tolist(), strict=True))
    run.last = {"step": run.step, "epoch": run.epoch, "lr": run.lr, **means,
                "img_per_s": round(w.seen / dt, 2), "skipped": run.skipped}
    run.log.log(run.last)
    run.window = Window()
    return run.last


def save_step(run: Run) -> Path | None:
    """At the save cadence and the last step: a checkpoint (every rank takes part)."""
    if run.step % run.save_every and run.step != run.total:
        return None
    return _save(run)


# whether checkpoint.save records frozen-by-reference weights (it takes `frozen` once it does)
def _save(run: Run) -> Path:
    return checkpoint.save(run.run_dir, run.step, run.model, run.optimizer, run.position(), run.config_yaml,
                           run.cfg.keep, run.world.rank, run.engine, frozen=run.frozen)


def close_run(run: Run) -> dict[str, Any]:
    """Closes the run log (loss.png); returns the last metrics row on the main rank."""
    run.log.close()
    if run.skipped and run.world.main:
        print(f"skipped {run.skipped} unreadable item(s)", file=sys.stderr, flush=True)
    return run.last if run.world.main else {}
