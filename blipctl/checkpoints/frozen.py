"""Frozen tensors stored by reference: a checkpoint need not re-save gigabytes of weights that
training never changes, and must never silently lose them.

Instead of the tensor, a checkpoint's `frozen.json` records, per frozen tensor, the source it
was loaded from (a path or Hub id: the run's `init`) and the sha256 of its exact bytes, dtype
and shape. Loading the checkpoint reads the source again (any format `load_model` reads, mapped
onto the model's names as warm start maps it, cast to the recorded dtype when the module is
held in bf16/fp16), takes those tensors and checks each hash; a source that is gone or has
changed is refused, naming the tensor and the source.

A frozen part that the recipe itself builds from a checkpoint (BLIP-2's vision tower and
LM, `checkpoints.parts`) is referenced as "built": loading builds the model from the
recipe, which reads the part from its source again, and only the hash is checked.

Before a tensor is first stored by reference, the source is read once and must hold that very
tensor: one it does not hold (a frozen tensor kept at its initialisation, or changed since) is
stored in the weights file as usual. Momentum encoders (no gradient, updated by EMA) are not
frozen in this sense: only what the caller names is stored by reference.
"""

from __future__ import annotations

import hashlib
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch

from blipctl.errors import BlipctlError

# name -> (the tensor object, its identity, its sha256 or None where its source does not hold
# it). The identity is (storage, version counter, dtype, shape, device, source): the engine
# passes the same tensors at every save, so each is hashed and checked once; an in-place change
# bumps the version and checks it again.
_CHECKED: dict[str, tuple[weakref.ref, tuple, str | None]] = {}


@dataclass(frozen=True)
class Built:
    """A tensor of a frozen part the recipe builds from `source` (see `built`)."""

    source: str


def built(model: torch.nn.Module) -> dict[str, Built]:
    """{state-dict name: Built(source)} for every tensor of the frozen parts that remember the
    checkpoint they were read from (`eva.Frozen`, `llm.FrozenLM` with a `source`)."""
    from blipctl.models.eva import Frozen
    from blipctl.models.llm import FrozenLM

    out: dict[str, Built] = {}
    for prefix, module in model.named_modules():
        if isinstance(module, (Frozen, FrozenLM)) and module.source is not None \
                and getattr(module, "frozen", True):
            for name in module.state_dict():
                out.setdefault(f"{prefix}.{name}" if prefix else name, Built(module.source))
    return out


def digest(t: torch.Tensor) -> str:
    """sha256 of a tensor's dtype, shape and bytes (C order)."""
    t = t.detach().to("cpu").contiguous()
    h = hashlib.sha256(f"{str(t.dtype).removeprefix('torch.')} {list(t.shape)}\n".encode())
    h.update(t.reshape(-1).view(torch.uint8).numpy())
    return h.hexdigest()


def _storage(t: torch.Tensor) -> tuple:
    return (t.data_ptr(), tuple(t.shape), t.stride(), t.dtype)


def _identity(t: torch.Tensor, source: str) -> tuple:
    return (t.data_ptr(), t._version, t.dtype, tuple(t.shape), str(t.device), source)


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


def source_tensors(model: torch.nn.Module, source: str) -> dict[str, torch.Tensor]:
    """The source's tensors under the model's names, as warm start maps them."""
    from blipctl.checkpoints.formats import find
    from blipctl.checkpoints.warm_start import onto

    return onto(model, find(source).state(source))


def _aliases(model: torch.nn.Module) -> dict[str, list[str]]:
    """Each state-dict name -> every name of its tensor (MED's shared layers have several)."""
    shared: dict[tuple, list[str]] = {}
    for name, t in model.state_dict().items():
        shared.setdefault(_storage(t), []).append(name)
    return {n: names for names in shared.values() for n in names}


def _held(found: dict[str, torch.Tensor], names: list[str], dtype: torch.dtype) -> torch.Tensor | None:
    """The source's tensor under any of `names`, in `dtype` (a module held in bf16 holds its
    source's tensors cast)."""
    value = next((found[n] for n in names if n in found), None)
    return None if value is None else value.to(dtype)


def _known(name: str, t: torch.Tensor, source: str) -> bool:
    seen = _CHECKED.get(name)
    return seen is not None and seen[0]() is t and seen[1] == _identity(t, source)


def references(model: torch.nn.Module,
               frozen: Mapping[str, str | tuple[str, str] | Built]) -> dict[str, dict]:
    """frozen.json's entries for `frozen`: {state-dict name: source}, precomputed
    {name: (source, sha256)} (trusted as given), or Built(source) (the tensor as it is now).
    A name whose source does not hold its tensor exactly gets no entry (the weights file
    stores it). A name that shares its tensor with others is recorded under the first of them,
    which is the name the weights file stores."""
    check(model, frozen)
    state = model.state_dict(keep_vars=True)
    first: dict[tuple, str] = {}
    for name, t in state.items():
        if t.numel():
            first.setdefault(_storage(t), name)
    todo: dict[str, list[str]] = {}  # source -> names not yet checked against it
    for name, source in frozen.items():
        if isinstance(source, Built):
            if not _known(name, state[name], f"built:{source.source}"):
                t = state[name]
                _CHECKED[name] = (weakref.ref(t), _identity(t, f"built:{source.source}"), digest(t))
        elif not isinstance(source, tuple):
            src = _where(str(source))
            if not _known(name, state[name], src):
                todo.setdefault(src, []).append(name)
    for source, names in todo.items():
        try:
            found = source_tensors(model, source)
        except BlipctlError:
            found = {}  # unreadable now: these tensors go into the weights file
        aliases = _aliases(model)
        for name in names:
            t = state[name]
            held = _held(found, aliases.get(name, [name]), t.dtype)
            sha = digest(t)
            ok = held is not None and held.shape == t.shape and digest(held) == sha
            _CHECKED[name] = (weakref.ref(t), _identity(t, source), sha if ok else None)
    refs = {}
    for name, source in frozen.items():
        t = state[name]
        if isinstance(source, Built):
            src, sha = source.source, _CHECKED[name][2]
        elif isinstance(source, tuple):
            src, sha = _where(str(source[0])), source[1]
        else:
            src, sha = _where(str(source)), _CHECKED[name][2]
            if sha is None:
                continue
        refs[first.get(_storage(t), name) if t.numel() else name] = {
            "source": src, "sha256": sha, "dtype": str(t.dtype).removeprefix("torch."),
            "shape": list(t.shape), **({"built": True} if isinstance(source, Built) else {})}
    return refs


def restore(model: torch.nn.Module, refs: Mapping[str, Mapping], where: str) -> dict[str, torch.Tensor]:
    """The tensors `refs` names, from their sources (in the recorded dtype), each checked
    against its sha256."""
    aliases = _aliases(model)
    by_source: dict[str, list[str]] = {}
    out = {}
    own = model.state_dict()
    for name, ref in refs.items():
        if ref.get("built"):  # the recipe built the model, reading the part from its source again
            dtype = _recorded_dtype(ref, name, where)
            value = own[name].to(dtype) if name in own else None
            _check_digest(value, ref, name, f"{ref['source']} (as the recipe builds it)", where)
            out[name] = value
        else:
            by_source.setdefault(ref["source"], []).append(name)
    for source, names in by_source.items():
        more = f" (and {len(names) - 1} more)" if len(names) > 1 else ""
        try:
            found = source_tensors(model, source)
        except BlipctlError as e:
            raise BlipctlError(f"{where}: frozen tensor {names[0]}{more} is stored by reference to "
                               f"{source}, which cannot be read: {str(e).removeprefix('--model ')}") from None
        for name in names:
            value = _held(found, aliases.get(name, [name]), _recorded_dtype(refs[name], name, where))
            _check_digest(value, refs[name], name, source, where)
            out[name] = value
    return out


def _recorded_dtype(ref: Mapping, name: str, where: str) -> torch.dtype:
    dtype = getattr(torch, str(ref["dtype"]), None)
    if not isinstance(dtype, torch.dtype):
        raise BlipctlError(f"{where}: frozen tensor {name}: unknown dtype {ref['dtype']!r}")
    return dtype


def _check_digest(value: torch.Tensor | None, ref: Mapping, name: str, source: str, where: str) -> None:
    if value is None:
        raise BlipctlError(f"{where}: frozen tensor {name} is stored by reference to {source}, "
                           "which does not hold it")
    want, got = ref["sha256"], digest(value)
    if got != want:
        raise BlipctlError(f"{where}: frozen tensor {name} in {source} is not the one this "
                           f"checkpoint was trained with (sha256 {got[:12]}, recorded "
                           f"{want[:12]}): the source has changed")
