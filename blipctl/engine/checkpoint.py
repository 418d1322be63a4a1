"""Training checkpoints: atomic directories holding everything a bit-exact resume needs.

    RUN/checkpoints/step_000120/
        model.safetensors   weights, momentum encoders and queues included (our key names)
        frozen.json         frozen tensors stored by reference (source + sha256), when asked
        optimizer.pt        optimizer state (tensors and numbers: loads with weights_only=True)
        rng_R.pt            each rank's RNG states (torch, CUDA, Python, NumPy)
        deepspeed/          under DeepSpeed: its ZeRO-partitioned optimizer state, per rank
        state.json          position (step, epoch, batch), learning rate, frozen parameters,
                            skipped items, model class, the text codec it trained with
        vocab.txt           the codec's vocab file, when it has its own (state.json names it)
        config.yaml         the resolved recipe

A checkpoint is written into a hidden temporary directory, every file fsynced, then renamed
into place: a crash leaves either the previous checkpoints or a complete new one. (There is
no loss scaler to save: blipctl trains in fp32 or bf16, neither of which needs one.)

The weights themselves are blipctl's run format (`blipctl.checkpoints.formats.blipctl_run`):
`load_weights`, `latest`, `checkpoints` and friends live there and are re-exported here.
"""

from __future__ import annotations

import json
import random
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from blipctl.checkpoints.formats.blipctl_run import (
    FROZEN,
    PREFIX,
    WEIGHTS,
    checkpoints,
    latest,
    load_weights,
    read_state,
    read_weights,
    save_weights,
)
from blipctl.checkpoints.frozen import check as check_frozen
from blipctl.checkpoints.frozen import references
from blipctl.errors import BlipctlError
from blipctl.files import fsync

__all__ = ["PREFIX", "checkpoints", "latest", "load_trainer", "load_weights", "read_state", "read_weights",
           "rng_state", "save", "save_weights", "set_rng_state"]


def rng_state() -> dict[str, Any]:
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    return {"torch": torch.get_rng_state(), "python": random.getstate(),
            "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, gauss],
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []}


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate(state["python"])
    kind, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save(run_dir: Path, step: int, model: torch.nn.Module, optimizer: torch.optim.Optimizer | None,
         state: dict[str, Any], config_yaml: str, keep: int = 3, rank: int = 0,
         engine: Any = None, *, frozen: Mapping[str, str | tuple[str, str]] | None = None) -> Path:
    """Writes checkpoint `step` atomically and keeps the newest `keep`. Every rank calls it:
    each writes its RNG state (and, under DeepSpeed, its ZeRO partitions); rank 0 writes the
    rest and renames the directory into place.

    frozen: {state-dict name: source} for frozen tensors loaded from `source` (the run's
    `init`, a path or Hub id): those the source holds exactly are not written to
    model.safetensors; frozen.json records each one's source and sha256, and `load_weights`
    fetches and checks them. The source is read once per run, at the first save, to check
    that; a tensor it does not hold is written as usual. Values may instead be precomputed
    `(source, sha256)` pairs, trusted as given (see `checkpoints.frozen`)."""
    from blipctl.engine.dist import barrier

    if frozen:
        check_frozen(model, frozen)  # on every rank, before any of them waits for the others
    root = Path(run_dir) / "checkpoints"
    final = root / f"{PREFIX}{step:06d}"
    tmp = root / f".{final.name}.tmp"
    if rank == 0:
        root.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
    barrier()
    torch.save({"rng": rng_state()}, tmp / f"rng_{rank}.pt")
    if engine is not None:
        # parameters that do not train live in model.safetensors (or are referenced in
        # frozen.json): DeepSpeed's copy would re-save gigabytes of frozen towers per checkpoint
        engine.save_checkpoint(str(tmp), tag="deepspeed", exclude_frozen_parameters=True)
    with _full_weights(model, engine):
        if rank == 0:
            refs = references(model, frozen) if frozen else {}
            save_weights(model, tmp / WEIGHTS, skip=refs)
            if refs:
                (tmp / FROZEN).write_text(json.dumps({"tensors": refs}, indent=1))
    if rank == 0:
        if optimizer is not None and engine is None:
            torch.save(optimizer.state_dict(), tmp / "optimizer.pt")
        flags = [n for n, p in model.named_parameters() if not p.requires_grad]
        codec = model.codec.saved_in(tmp) if hasattr(model, "codec") else None  # with its vocab
        (tmp / "state.json").write_text(json.dumps({**state, "step": step, "frozen": flags,
                                                    "model": type(model).__name__, "codec": codec},
                                                   indent=1))
        (tmp / "config.yaml").write_text(config_yaml, encoding="utf-8")
    barrier()
    if rank == 0:
        for f in tmp.rglob("*"):
            fsync(f)
        fsync(tmp)
        if final.exists():
            shutil.rmtree(final)
        tmp.rename(final)
        fsync(root)
        for old in checkpoints(run_dir)[:-keep] if keep > 0 else []:
            shutil.rmtree(old, ignore_errors=True)
    barrier()
    return final


def _full_weights(model: torch.nn.Module, engine: Any):
    """ZeRO-3 partitions parameters: gather them (on every rank) while rank 0 saves."""
    import contextlib

    if engine is None or engine.zero_optimization_stage() < 3:
        return contextlib.nullcontext()
    import deepspeed

    return deepspeed.zero.GatheredParameters(list(model.parameters()), modifier_rank=None)


def load_trainer(ckpt: Path, optimizer: torch.optim.Optimizer | None, rank: int = 0) -> None:
    """Restores the optimizer and this rank's RNGs (after the weights)."""
    if optimizer is not None:
        optimizer.load_state_dict(torch.load(ckpt / "optimizer.pt", weights_only=True))
    path = ckpt / f"rng_{rank}.pt"
    if not path.exists():
        raise BlipctlError(f"{ckpt}: no RNG state for rank {rank} (was the run on fewer ranks?)")
    set_rng_state(torch.load(path, weights_only=True)["rng"])
