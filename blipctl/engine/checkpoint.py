"""Training checkpoints: atomic directories holding everything a bit-exact resume needs.

    RUN/checkpoints/step_000120/
        model.safetensors   weights, momentum encoders and queues included (our key names)
        optimizer.pt        optimizer state (tensors and numbers: loads with weights_only=True)
        trainer.pt          RNG states (torch, CUDA, Python, NumPy) and the grad scaler
        state.json          position (step, epoch, batch), learning rate, frozen parameters,
                            skipped items, model class
        config.yaml         the resolved recipe

A checkpoint is written into a hidden temporary directory, every file fsynced, then renamed
into place: a crash leaves either the previous checkpoints or a complete new one.
"""

from __future__ import annotations

import json
import os
import random
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_model, save_model

from blipctl.errors import BlipctlError

PREFIX = "step_"


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


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
         state: dict[str, Any], config_yaml: str, keep: int = 3, scaler: Any = None) -> Path:
    """Writes checkpoint `step` atomically and keeps the newest `keep` of them."""
    root = Path(run_dir) / "checkpoints"
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"{PREFIX}{step:06d}"
    tmp = root / f".{final.name}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    save_model(model, str(tmp / "model.safetensors"))
    if optimizer is not None:
        torch.save(optimizer.state_dict(), tmp / "optimizer.pt")
    torch.save({"rng": rng_state(), "scaler": scaler.state_dict() if scaler else None}, tmp / "trainer.pt")
    frozen = [n for n, p in model.named_parameters() if not p.requires_grad]
    (tmp / "state.json").write_text(json.dumps({**state, "step": step, "frozen": frozen,
                                                "model": type(model).__name__}, indent=1))
    (tmp / "config.yaml").write_text(config_yaml, encoding="utf-8")
    for f in tmp.iterdir():
        _fsync(f)
    _fsync(tmp)
    if final.exists():
        shutil.rmtree(final)
    tmp.rename(final)
    _fsync(root)
    for old in checkpoints(run_dir)[:-keep] if keep > 0 else []:
        shutil.rmtree(old, ignore_errors=True)
    return final


def checkpoints(run_dir: str | Path) -> list[Path]:
    """Complete checkpoints, oldest first (temporary directories are not checkpoints)."""
    root = Path(run_dir) / "checkpoints"
    found = [p for p in root.glob(f"{PREFIX}*") if p.is_dir() and (p / "state.json").exists()]
    return sorted(found, key=lambda p: int(p.name[len(PREFIX):]))


def latest(run_dir: str | Path) -> Path:
    found = checkpoints(run_dir)
    if not found:
        raise BlipctlError(f"{run_dir}: no checkpoint in {Path(run_dir) / 'checkpoints'}")
    return found[-1]


def read_state(ckpt: Path) -> dict[str, Any]:
    return json.loads((ckpt / "state.json").read_text())


def load_weights(ckpt: Path, model: torch.nn.Module) -> dict[str, Any]:
    """Loads weights (strictly) and the frozen flags; returns state.json."""
    state = read_state(ckpt)
    try:
        missing, unexpected = load_model(model, str(ckpt / "model.safetensors"), strict=False)
    except Exception as e:  # shape mismatch or a corrupt file
        reason = str(e).splitlines()[0][:160]
        raise BlipctlError(f"{ckpt / 'model.safetensors'}: cannot load ({reason})") from None
    if missing or unexpected:
        raise BlipctlError(f"{ckpt / 'model.safetensors'}: does not fit {type(model).__name__} "
                           f"(missing {missing[:3]}, unexpected {unexpected[:3]})")
    frozen = set(state.get("frozen", []))
    for name, p in model.named_parameters():
        p.requires_grad_(name not in frozen)
    return state


def load_trainer(ckpt: Path, optimizer: torch.optim.Optimizer | None, scaler: Any = None) -> None:
    """Restores the optimizer, the scaler and every RNG (after the weights)."""
    if optimizer is not None:
        optimizer.load_state_dict(torch.load(ckpt / "optimizer.pt", weights_only=True))
    trainer = torch.load(ckpt / "trainer.pt", weights_only=True)
    if scaler is not None and trainer.get("scaler"):
        scaler.load_state_dict(trainer["scaler"])
    set_rng_state(trainer["rng"])
