"""The recipe's `precision:` key: the forward's autocast, and a storage dtype per module.

    precision: bf16                 # as before: bf16 autocast, every weight stored in fp32
    precision:
      autocast: bf16                # fp32 (none) | bf16
      modules: {visual: bf16}       # frozen modules stored in bf16 or fp16

A module held in bf16/fp16 must be frozen (`freeze: [visual]`, or frozen by the model): the
optimizer keeps fp32 weights only. Its floating-point inputs are cast to its dtype on the way
in and its outputs back to the enclosing dtype (fp32, or that of a listed parent module) on the
way out, so it runs with or without autocast. A listed child can be kept in fp32 inside a
low-precision parent (`modules: {llm: bf16, llm.head: fp32}`); such a child may train.
"""

from __future__ import annotations

import contextlib
import functools
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from torch import nn

from blipctl.config.overrides import did_you_mean
from blipctl.errors import ConfigError

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass
class PrecisionConfig:
    autocast: Literal["fp32", "bf16"] = "fp32"   # bf16: the forward under bf16 autocast
    modules: dict[str, Literal["fp32", "bf16", "fp16"]] = field(default_factory=dict)  # name -> storage


def policy(value: str | PrecisionConfig) -> PrecisionConfig:
    """`precision: fp32|bf16` (autocast only) or a full section, as one PrecisionConfig."""
    return value if isinstance(value, PrecisionConfig) else PrecisionConfig(autocast=value)


def autocast(value: str | PrecisionConfig, device: torch.device) -> Any:
    """The context the forward runs in (one object, entered once per micro-batch)."""
    if policy(value).autocast == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def hold_modules(model: nn.Module, value: str | PrecisionConfig) -> None:
    """Casts each listed module to its storage dtype (parents before children) and hooks the
    casts of its inputs and outputs. Raises a one-line ConfigError for a name that is not a
    module of `model`, or for a trainable parameter that would be held in bf16/fp16."""
    modules = policy(value).modules
    if not modules:
        return
    names = {n for n, _ in model.named_modules() if n}
    for name in modules:
        if name not in names:
            raise ConfigError(f"recipe key `precision.modules.{name}`: {type(model).__name__} has no "
                              f"module `{name}`" + did_you_mean(name, sorted(names)))
    for pname, p in model.named_parameters():
        owner = _owner(pname, modules)
        if owner is not None and p.requires_grad and modules[owner] != "fp32":
            raise ConfigError(f"recipe key `precision.modules.{owner}`: `{pname}` is trainable; only "
                              f"frozen modules are held in {modules[owner]} (add `{owner}` to `freeze`)")
    for name in sorted(modules, key=lambda n: n.count(".")):
        dtype, outer = DTYPES[modules[name]], _outer(name, modules)
        module = model.get_submodule(name)
        module.to(dtype)
        module.register_forward_pre_hook(functools.partial(_cast_inputs, dtype), with_kwargs=True)
        module.register_forward_hook(functools.partial(_cast_output, outer))


def _owner(name: str, modules: dict[str, str]) -> str | None:
    """The longest listed module that contains parameter or module `name`."""
    found = [m for m in modules if name == m or name.startswith(m + ".")]
    return max(found, key=len, default=None)


def _outer(name: str, modules: dict[str, str]) -> torch.dtype:
    parent = _owner(name.rpartition(".")[0], modules) if "." in name else None
    return DTYPES[modules[parent]] if parent is not None else torch.float32


def _cast(value: Any, dtype: torch.dtype) -> Any:
    if isinstance(value, torch.Tensor):
        return value.to(dtype) if value.is_floating_point() else value
    if isinstance(value, tuple) and hasattr(value, "_fields"):  # a namedtuple
        return type(value)(*(_cast(v, dtype) for v in value))
    if isinstance(value, (tuple, list)):
        return type(value)(_cast(v, dtype) for v in value)
    if isinstance(value, dict):
        return {k: _cast(v, dtype) for k, v in value.items()}
    return value


def _cast_inputs(dtype: torch.dtype, module: nn.Module, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
    return _cast(args, dtype), _cast(kwargs, dtype)


def _cast_output(dtype: torch.dtype, module: nn.Module, args: tuple, output: Any) -> Any:
    return _cast(output, dtype)
