"""The training loop: one function, for a single process, DDP under torchrun, or DeepSpeed."""

from __future__ import annotations

import contextlib
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from blipctl.engine import checkpoint
from blipctl.engine.dist import setup, teardown
from blipctl.engine.runlog import RunLog
from blipctl.engine.schedule import OptimConfig, lr_at
from blipctl.errors import BlipctlError


@dataclass
class DataConfig:
    root: str = "runs/mini/corpus"        # image paths in the annotation files are relative to this
    # annotation JSON files, or webdataset shards (`a.tar`, `web-{000000..000009}.tar`), under root
    train: list[str] = field(default_factory=lambda: ["caption_train.json"])
    shuffle: int = 1000                   # shards: the shuffle buffer, in samples
    image_size: int = 384
    batch_size: int = 32                  # per rank and micro-batch
    workers: int = 2
    skip_bad: bool = False                # skip (and count) unreadable images instead of stopping
    hflip: bool = True                    # BLIP's random horizontal flip; off when text names left/right


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
    precision: Literal["fp32", "bf16"] = "fp32"
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


def fit(cfg: TrainConfig, config_yaml: str, resume: str | None = None) -> dict[str, Any]:
    """Trains `cfg.model` on `cfg.task`; returns the last logged metrics."""
    from blipctl.config.schema import instantiate
    from blipctl.data.loader import train_data
    from blipctl.tasks.check import check_model
    from blipctl.tasks.context import Context

    world = setup(cfg.device)
    try:
        run_dir = Path(resume or cfg.output_dir)
        seed_everything(cfg.seed)  # the same initial weights on every rank
        task = instantiate(cfg.task)
        model = instantiate(cfg.model)
        check_model(task, model)
        if cfg.codec is not None:
            model.codec = instantiate(cfg.codec)
        ckpt = checkpoint.latest(run_dir) if resume else None
        if cfg.init and ckpt is None:
            from blipctl.checkpoints.init import init_from

            report = init_from(model, cfg.init)
            if world.main:
                print(f"init: {report}", file=sys.stderr, flush=True)
        for name, p in model.named_parameters():
            if any(name.startswith(prefix) for prefix in cfg.freeze):
                p.requires_grad_(False)
        if ckpt is not None:
            state = checkpoint.load_weights(ckpt, model)
        model.to(world.device)

        data = train_data(task, cfg.data, cfg.seed, world.rank, world.size)
        accum = cfg.optim.grad_accum
        steps_per_epoch = len(data) // accum
        total = steps_per_epoch * cfg.optim.epochs
        if cfg.max_steps:
            total = min(total, cfg.max_steps)

        params = [p for p in model.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(params, lr=cfg.optim.lr, weight_decay=cfg.optim.weight_decay,
                                      betas=tuple(cfg.optim.betas))
        step_module = StepModule(model, task)
        engine = None
        if cfg.deepspeed is not None:
            from blipctl.engine.deepspeed import initialize

            engine, optimizer = initialize(step_module, optimizer, cfg, world)
            wrapped = engine
        elif world.size > 1:
            wrapped = nn.parallel.DistributedDataParallel(
                step_module, device_ids=[world.device.index] if world.device.type == "cuda" else None,
                broadcast_buffers=False)
        else:
            wrapped = step_module

        epoch, first_batch, step, skipped = 0, 0, 0, 0
        if ckpt is not None:
            if engine is not None:
                engine.load_checkpoint(str(ckpt), tag="deepspeed", load_module_strict=True,
                                       load_optimizer_states=True, load_lr_scheduler_states=False)
            checkpoint.load_trainer(ckpt, optimizer if engine is None else None, world.rank)
            epoch, first_batch = state["epoch"], state["batch"]
            step, skipped = state["step"], state["skipped"]
        else:
            seed_everything(cfg.seed + world.rank)  # dropout and negatives differ across ranks

        ctx = Context(world.device, epoch, step, steps_per_epoch)
        log = RunLog(run_dir, total, step, world.main)
        if world.main:
            tmp = run_dir / "config.yaml.tmp"
            tmp.write_text(config_yaml, encoding="utf-8")
            tmp.replace(run_dir / "config.yaml")
        if ckpt is not None:
            log.note(f"resuming from {ckpt} (step {step}, epoch {epoch}, batch {first_batch})")
        autocast = (torch.autocast(world.device.type, dtype=torch.bfloat16) if cfg.precision == "bf16"
                    else contextlib.nullcontext())
        save_every = cfg.save_every or steps_per_epoch
        last: dict[str, Any] = {}

        def save() -> None:
            pos = {"epoch": epoch, "batch": micro + 1, "skipped": skipped, "lr": lr}
            if pos["batch"] >= steps_per_epoch * accum:
                pos.update(epoch=epoch + 1, batch=0)
            checkpoint.save(run_dir, step, model, optimizer, pos, config_yaml, cfg.keep, world.rank, engine)

        wrapped.train()
        t0, seen, sums, logged = time.perf_counter(), 0, {}, 0
        micro, lr = first_batch - 1, cfg.optim.lr
        while epoch < cfg.optim.epochs and step < total:
            ctx.epoch = epoch
            for micro, batch in enumerate(data.loader(epoch, first_batch), start=first_batch):
                if micro >= steps_per_epoch * accum:
                    break
                if batch["bad"]:
                    if not cfg.data.skip_bad:
                        bad = batch["bad"][0]
                        raise BlipctlError(f"{bad.reason} ({bad.where}); data.skip_bad=true skips and "
                                           "counts such items")
                    skipped += len(batch["bad"])
                    batch = _top_up(batch, cfg.data.batch_size) if world.size > 1 else batch
                    if batch["size"] == 0:
                        continue
                lr = lr_at(cfg.optim, epoch, step - epoch * steps_per_epoch)
                for group in optimizer.param_groups:
                    group["lr"] = lr
                boundary = (micro + 1) % accum == 0
                plain = boundary or world.size == 1 or engine is not None
                sync = contextlib.nullcontext() if plain else wrapped.no_sync()
                with sync:
                    with autocast:
                        out = wrapped(batch, ctx)
                    if engine is not None:
                        engine.backward(out["loss"])  # DeepSpeed divides by its accumulation steps
                        engine.step()  # steps the optimizer at its accumulation boundary only
                    else:
                        (out["loss"] / accum).backward()
                seen += batch["size"] * world.size
                for k, v in out.items():
                    sums[k] = sums.get(k, 0.0) + v.item() / accum
                if not boundary:
                    continue
                if engine is None:
                    if cfg.optim.clip_grad > 0:
                        nn.utils.clip_grad_norm_(params, cfg.optim.clip_grad)
                    optimizer.step()
                    optimizer.zero_grad(set_to_none=True)
                step += 1
                ctx.step = step
                logged += 1
                if step % cfg.log_every == 0 or step == total:
                    dt = time.perf_counter() - t0
                    means = {k: v / logged for k, v in sums.items()}
                    if world.size > 1:  # the world's mean, not this rank's
                        vals = torch.tensor(list(means.values()), dtype=torch.float64)
                        torch.distributed.all_reduce(vals)
                        means = dict(zip(means, (vals / world.size).tolist(), strict=True))
                    last = {"step": step, "epoch": epoch, "lr": lr, **means,
                            "img_per_s": round(seen / dt, 2), "skipped": skipped}
                    log.log(last)
                    t0, seen, sums, logged = time.perf_counter(), 0, {}, 0
                if step % save_every == 0 or step == total:
                    save()
                if step >= total:
                    break
            else:
                micro = steps_per_epoch * accum - 1
            epoch, first_batch = epoch + 1, 0
        log.close()
        if skipped and world.main:
            print(f"skipped {skipped} unreadable item(s)", file=sys.stderr, flush=True)
        return last if world.main else {}
    finally:
        teardown()
