"""blipctl's own format: a training run directory, or one checkpoint in it.

    RUN/checkpoints/step_000120/
        model.safetensors   the state dict under blipctl's names (a tensor shared under several
                            names stored once, the others listed as `aliases` in its metadata)
        frozen.json         frozen tensors stored by reference instead (`checkpoints.frozen`)
        state.json          position, frozen flags, model class, text codec
        vocab.txt           the codec's vocab file, when it has its own
        config.yaml         the resolved recipe: it builds the model
        ...                 optimizer and RNG states (`engine.checkpoint` writes the directory)

This module reads and writes the weights; `blipctl.engine.checkpoint` owns the atomic
checkpoint directory around them.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from pathlib import Path
from typing import Any

import torch

from blipctl.errors import BlipctlError
from blipctl.text.codecs import VOCAB_NAME

PREFIX = "step_"
WEIGHTS = "model.safetensors"
FROZEN = "frozen.json"


def detect(source: str) -> bool:
    """A blipctl training run directory, or one checkpoint inside it."""
    path = Path(source)
    return (path / "checkpoints").is_dir() or (path / "state.json").is_file()


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
    return json.loads((Path(ckpt) / "state.json").read_text())


def read_frozen(ckpt: Path) -> dict[str, dict]:
    """The frozen tensors a checkpoint stores by reference: {name: {source, sha256, dtype, shape}}."""
    path = Path(ckpt) / FROZEN
    return json.loads(path.read_text())["tensors"] if path.exists() else {}


def save_weights(model: torch.nn.Module, path: Path, skip: Collection[str] = ()) -> None:
    """The state dict as safetensors, less the tensors named in `skip` (stored by reference);
    a tensor shared under several names (MED's shared layers) is stored once, the other names
    recorded as aliases in the file's metadata."""
    from safetensors.torch import save_file

    tensors: dict[str, torch.Tensor] = {}
    aliases: dict[str, str] = {}
    seen: dict[tuple, str] = {}
    for name, t in model.state_dict().items():
        key = (t.data_ptr(), tuple(t.shape), t.stride(), t.dtype)
        if t.numel() and key in seen:
            aliases[name] = seen[key]
            continue
        seen[key] = name
        if name not in skip:
            tensors[name] = t.detach().to("cpu", copy=True).contiguous()
    save_file(tensors, str(path), metadata={"aliases": json.dumps(aliases)})


def read_weights(path: Path, extra: dict[str, torch.Tensor] | None = None) -> dict[str, torch.Tensor]:
    """The state dict a `save_weights` file holds, aliases resolved; `extra` adds the tensors
    it was saved without (an alias of a tensor that is in neither is left out)."""
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        state = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118  (safe_open has no iterator)
        aliases = json.loads((f.metadata() or {}).get("aliases", "{}"))
    state.update(extra or {})
    state.update({alias: state[target] for alias, target in aliases.items() if target in state})
    return state


def load_weights(ckpt: Path, model: torch.nn.Module) -> dict[str, Any]:
    """Loads a checkpoint's weights into `model` (strictly: every tensor, nothing else), frozen
    tensors stored by reference fetched from their sources and checked against their sha256;
    restores which parameters are frozen; returns state.json."""
    from blipctl.checkpoints.frozen import restore

    ckpt = Path(ckpt)
    state = read_state(ckpt)
    refs = read_frozen(ckpt)
    extra = restore(model, refs, str(ckpt)) if refs else None
    try:
        weights = read_weights(ckpt / WEIGHTS, extra)
        missing, unexpected = model.load_state_dict(weights, strict=False)
    except Exception as e:  # shape mismatch or a corrupt file
        reason = str(e).splitlines()[0][:160]
        raise BlipctlError(f"{ckpt / WEIGHTS}: cannot load ({reason})") from None
    if missing or unexpected:
        raise BlipctlError(f"{ckpt / WEIGHTS}: does not fit {type(model).__name__} "
                           f"(missing {missing[:3]}, unexpected {unexpected[:3]})")
    frozen = set(state.get("frozen", []))
    for name, p in model.named_parameters():
        p.requires_grad_(name not in frozen)
    return state


def load(source: str):
    """The model of a run's newest checkpoint (or of the checkpoint directory given), built
    from the recipe it was trained with, with the codec it trained with, in eval mode."""
    from blipctl.config.schema import instantiate
    from blipctl.config.yaml_io import load_yaml

    path = Path(source)
    ckpt = latest(path) if (path / "checkpoints").is_dir() else path
    cfg = load_yaml(ckpt / "config.yaml")
    model = instantiate(cfg["model"])
    state = load_weights(ckpt, model)
    codec = state.get("codec") or cfg.get("codec")  # runs before codecs were recorded: the model's own
    if codec:
        if codec.get("vocab_file") == VOCAB_NAME and "codec" in state:  # the copy this checkpoint holds
            codec = {**codec, "vocab_file": str(ckpt / VOCAB_NAME)}
        model.codec = instantiate(codec)
    return model.eval()


def state(source: str) -> dict[str, torch.Tensor]:
    return load(source).state_dict()
