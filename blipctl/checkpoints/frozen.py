"""Frozen tensors stored by reference: a checkpoint need not re-save gigabytes of weights that
training never changes, and must never silently lose them.

Instead of the tensor, a checkpoint's `frozen.json` records, per frozen tensor, the source it
was loaded from (a path or Hub id: the run's `init`) and the sha256 of its exact bytes, dtype
and shape. Loading the checkpoint reads the source again (any format `load_model` reads, mapped
onto the model's names as warm start maps it), takes those tensors and checks each hash; a
source that is gone or has changed is refused, naming the tensor and the source.

Momentum encoders (no gradient, but updated by EMA) are not frozen in this sense: only what the
caller names is stored by reference.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path

import torch

from blipctl.errors import BlipctlError

# sha256 per (name, storage, version counter, dtype, shape, device): the engine passes the same
# tensors at every save, so each is hashed once; an in-place change bumps the version and rehashes
_DIGESTS: dict[tuple, str] = {}


def digest(t: torch.Tensor) -> str:
    """sha256 of a tensor's dtype, shape and bytes (C order)."""
    t = t.detach().to("cpu").contiguous()
    h = hashlib.sha256(f"{str(t.dtype).removeprefix('torch.')} {list(t.shape)}\n".encode())
    h.update(t.reshape(-1).view(torch.uint8).numpy())
    return h.hexdigest()


def _digest_once(name: str, t: torch.Tensor) -> str:
    key = (name, t.data_ptr(), t._version, t.dtype, tuple(t.shape), str(t.device))
    if key not in _DIGESTS:
        if len(_DIGESTS) > 100_000:
            _DIGESTS.clear()
        _DIGESTS[key] = digest(t)
    return _DIGESTS[key]


def _storage(t: torch.Tensor) -> tuple:
    return (t.data_ptr(), tuple(t.shape), t.stride(), t.dtype)


def references(model: torch.nn.Module, frozen: Mapping[str, str | tuple[str, str]]) -> dict[str, dict]:
    """frozen.json's entries for `frozen`: {state-dict name: source} or, precomputed,
    {name: (source, sha256)}. A name that shares its tensor with others (MED's shared layers)
    is recorded under the first of them, which is the name the weights file stores."""
    check(model, frozen)
    state = model.state_dict()
    first: dict[tuple, str] = {}
    for name, t in state.items():
        if t.numel():
            first.setdefault(_storage(t), name)
    refs = {}
    for name, source in frozen.items():
        t = state[name]
        source, sha = (source if isinstance(source, tuple) else (source, _digest_once(name, t)))
        refs[first.get(_storage(t), name) if t.numel() else name] = {
            "source": _where(str(source)), "sha256": sha,
            "dtype": str(t.dtype).removeprefix("torch."), "shape": list(t.shape)}
    return refs


def check(model: torch.nn.Module, frozen: Mapping[str, object]) -> None:
    """Every name is a tensor of the model that does not train (a trained one would no longer
    match its source)."""
    state = model.state_dict(keep_vars=True)  # parameters as they are: requires_grad tells
    for name in frozen:
        if name not in state:
            raise BlipctlError(f"frozen: {name} is not a tensor of the {type(model).__name__}; "
                               "nothing would restore it")
        if state[name].requires_grad:
            raise BlipctlError(f"frozen: {name} is trained (requires_grad), so its source no longer "
                               "holds it; only frozen tensors are stored by reference")


def _where(source: str) -> str:
    """A local source as an absolute path (a resumed run may start elsewhere); a Hub id as given."""
    path = Path(source)
    return str(path.resolve()) if path.exists() else source


def restore(model: torch.nn.Module, refs: Mapping[str, Mapping], where: str) -> dict[str, torch.Tensor]:
    """The tensors `refs` names, from their sources, each checked against its sha256."""
    from blipctl.checkpoints.formats import find
    from blipctl.checkpoints.warm_start import onto

    shared: dict[tuple, list[str]] = {}
    for name, t in model.state_dict().items():
        shared.setdefault(_storage(t), []).append(name)
    names_of = {n: names for names in shared.values() for n in names}
    by_source: dict[str, list[str]] = {}
    for name, ref in refs.items():
        by_source.setdefault(ref["source"], []).append(name)
    out = {}
    for source, names in by_source.items():
        more = f" (and {len(names) - 1} more)" if len(names) > 1 else ""
        try:
            found = onto(model, find(source).state(source))
        except BlipctlError as e:
            raise BlipctlError(f"{where}: frozen tensor {names[0]}{more} is stored by reference to "
                               f"{source}, which cannot be read: {str(e).removeprefix('--model ')}") from None
        for name in names:
            value = next((found[n] for n in names_of.get(name, [name]) if n in found), None)
            if value is None:
                raise BlipctlError(f"{where}: frozen tensor {name} is stored by reference to {source}, "
                                   "which does not hold it")
            want, got = refs[name]["sha256"], digest(value)
            if got != want:
                raise BlipctlError(f"{where}: frozen tensor {name} in {source} is not the one this "
                                   f"checkpoint was trained with (sha256 {got[:12]}, recorded "
                                   f"{want[:12]}): the source has changed")
            out[name] = value
    return out
