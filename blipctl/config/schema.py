"""Binding a recipe to its schema: the workflow's config dataclass and each `_component_`'s
signature. Checks names and types and builds nothing."""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, Union

from blipctl.config.overrides import did_you_mean
from blipctl.errors import ConfigError

COMPONENT = "_component_"
WORKFLOW = "_workflow_"


def resolve(dotted: Any, key: str) -> Any:
    """Imports `pkg.module.attr`; a bad path names the recipe key and the closest name."""
    if not isinstance(dotted, str) or "." not in dotted:
        raise ConfigError(f"recipe key `{key}`: expected a dotted path such as "
                          f"`blipctl.models.builders.blip_caption_base`, got {dotted!r}")
    module_name, _, attr = dotted.rpartition(".")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError:
        parent = module_name.rpartition(".")[0] or module_name
        raise ConfigError(f"recipe key `{key}`: no module `{module_name}` (in `{dotted}`)"
                          + _near_module(parent, module_name)) from None
    if not hasattr(module, attr):
        names = [n for n in dir(module) if not n.startswith("_")]
        raise ConfigError(f"recipe key `{key}`: `{module_name}` has no `{attr}`"
                          + did_you_mean(attr, names))
    return getattr(module, attr)


def _near_module(parent: str, wanted: str) -> str:
    try:
        pkg = importlib.import_module(parent)
    except ImportError:
        return ""
    import pkgutil

    names = [f"{parent}.{m.name}" for m in pkgutil.iter_modules(getattr(pkg, "__path__", []))]
    return did_you_mean(wanted, names)


def workflow_schema(workflow: Callable, key: str = WORKFLOW) -> type:
    """The dataclass a workflow's `run(cfg)` takes."""
    params = list(inspect.signature(workflow).parameters.values())
    hints = _hints(workflow)
    tp = hints.get(params[0].name) if params else None
    if not (isinstance(tp, type) and dataclasses.is_dataclass(tp)):
        raise ConfigError(f"recipe key `{key}`: `{workflow.__module__}.{workflow.__name__}` "
                          "is not a workflow (its first parameter is not a config dataclass)")
    return tp


def _hints(obj: Any) -> dict[str, Any]:
    target = obj.__init__ if inspect.isclass(obj) and not dataclasses.is_dataclass(obj) else obj
    try:
        return typing.get_type_hints(target)
    except Exception:  # unresolvable forward references: fall back to no types
        return {}


def _fields(tp: type) -> dict[str, Any]:
    hints = typing.get_type_hints(tp)
    return {f.name: hints.get(f.name, Any) for f in dataclasses.fields(tp) if f.init}


def _required(tp: type) -> list[str]:
    return [f.name for f in dataclasses.fields(tp) if f.init
            and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]


def component_params(node: Mapping, key: str) -> tuple[dict[str, Any], bool]:
    """(parameter name -> annotation, accepts **kwargs) of a `_component_` node's target."""
    target = resolve(node[COMPONENT], f"{key}.{COMPONENT}" if key else COMPONENT)
    try:
        sig = inspect.signature(target)
    except (TypeError, ValueError):
        return {}, True
    hints = _hints(target)
    params, var_kw = {}, False
    for p in sig.parameters.values():
        if p.kind is p.VAR_KEYWORD:
            var_kw = True
        elif p.kind is not p.VAR_POSITIONAL:
            params[p.name] = hints.get(p.name, Any)
    return params, var_kw


def keys_at(schema: type, cfg: Mapping, path: tuple[str, ...]) -> set[str]:
    """Keys the schema accepts at `path`, including ones the YAML leaves out."""
    tp: Any = schema
    node: Any = cfg
    for part in path:
        fields = _node_fields(node, tp, "")
        if fields is None or not isinstance(node, Mapping):
            return set()
        tp, node = fields[0].get(part, Any), node.get(part)
    fields = _node_fields(node, tp, "")
    return set(fields[0]) if fields else set()


def _node_fields(node: Any, tp: Any, key: str) -> tuple[dict[str, Any], bool] | None:
    if isinstance(node, Mapping) and COMPONENT in node:
        return component_params(node, key)
    dc = _dataclass_arm(tp)
    if dc is not None:
        return _fields(dc), False
    return None


def _dataclass_arm(tp: Any) -> type | None:
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return tp
    if typing.get_origin(tp) in (Union, types.UnionType):
        for arm in typing.get_args(tp):
            if isinstance(arm, type) and dataclasses.is_dataclass(arm):
                return arm
    return None


def check(value: Any, tp: Any, key: str) -> None:
    """Raises ConfigError unless `value` fits annotation `tp`; `key` names it in messages."""
    if isinstance(value, Mapping) and COMPONENT in value:
        _check_mapping(value, *component_params(value, key), key, required=())
        return
    if _fits(value, tp, key):
        return
    raise ConfigError(f"recipe key `{key}`: expected {type_name(tp)}, "
                      f"got {type(value).__name__} {_short(value)}")


def _check_mapping(node: Mapping, fields: dict[str, Any], var_kw: bool, key: str,
                   required: Sequence[str]) -> None:
    for name, value in node.items():
        if name == COMPONENT:
            continue
        sub = f"{key}.{name}" if key else str(name)
        if name not in fields and not var_kw:
            raise ConfigError(f"unknown recipe key `{sub}`{did_you_mean(str(name), fields)}")
        check(value, fields.get(name, Any), sub)
    missing = [n for n in required if n not in node]
    if missing:
        where = f"`{key}`" if key else "the recipe"
        raise ConfigError(f"{where} is missing the required key `{missing[0]}`")


def _fits(value: Any, tp: Any, key: str) -> bool:
    if tp is Any or tp is inspect.Parameter.empty:
        return True
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (Union, types.UnionType):
        dc = _dataclass_arm(tp)
        if dc is not None and isinstance(value, Mapping):
            return _fits(value, dc, key)
        return any(_fits_quiet(value, arm, key) for arm in args)
    if origin is Literal:
        return value in args
    if tp is type(None) or tp is None:
        return value is None
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        if not isinstance(value, Mapping):
            return False
        _check_mapping(value, _fields(tp), False, key, _required(tp))
        return True
    if tp is bool:
        return isinstance(value, bool)
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if tp is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if tp is str:
        return isinstance(value, str)
    if tp is Path:
        return isinstance(value, str)
    if origin in (list, tuple, Sequence) or tp in (list, tuple):
        if not isinstance(value, list):
            return False
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(args) != len(value):
                return False
            for i, (v, a) in enumerate(zip(value, args, strict=True)):
                check(v, a, f"{key}[{i}]")
            return True
        for i, v in enumerate(value):
            check(v, args[0] if args else Any, f"{key}[{i}]")
        return True
    if origin in (dict, Mapping) or tp in (dict, Mapping):
        if not isinstance(value, Mapping):
            return False
        for k, v in value.items():
            check(v, args[1] if len(args) == 2 else Any, f"{key}.{k}")
        return True
    if isinstance(tp, type):
        return isinstance(value, tp)
    return True


def _fits_quiet(value: Any, tp: Any, key: str) -> bool:
    try:
        return _fits(value, tp, key)
    except ConfigError:
        return False


def type_name(tp: Any) -> str:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (Union, types.UnionType):
        names = [type_name(a) for a in args if a is not type(None)]
        return " or ".join(names) + (" or null" if type(None) in args else "")
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    if origin is not None:
        return f"{getattr(origin, '__name__', str(origin))}[{', '.join(type_name(a) for a in args)}]"
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return f"a section ({tp.__name__})"
    if tp is Path:
        return "a path (str)"
    return getattr(tp, "__name__", str(tp))


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def check_recipe(cfg: Mapping) -> tuple[Callable, type]:
    """Checks a whole recipe; returns its workflow and schema dataclass."""
    if WORKFLOW not in cfg:
        raise ConfigError(f"the recipe has no `{WORKFLOW}` key naming the workflow that runs it")
    workflow = resolve(cfg[WORKFLOW], WORKFLOW)
    schema = workflow_schema(workflow)
    body = {k: v for k, v in cfg.items() if k != WORKFLOW}
    _check_mapping(body, _fields(schema), False, "", _required(schema))
    return workflow, schema


def build(value: Any, tp: Any) -> Any:
    """Turns checked sections into dataclass instances; `_component_` nodes stay mappings."""
    if isinstance(value, Mapping) and COMPONENT in value:
        return dict(value)
    dc = _dataclass_arm(tp)
    if dc is not None and isinstance(value, Mapping):
        fields = _fields(dc)
        return dc(**{k: build(v, fields[k]) for k, v in value.items()})
    if tp is Path and isinstance(value, str):
        return Path(value)
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (list, Sequence) and args and isinstance(value, list):
        return [build(v, args[0]) for v in value]
    return value


def to_plain(obj: Any) -> Any:
    """A built config back to YAML-able data, with every dataclass default filled in."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, Mapping):
        return {k: to_plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_plain(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    return obj


def instantiate(node: Mapping, *args: Any, **kwargs: Any) -> Any:
    """Builds a `_component_` node, nested components first; extra args go to the target."""
    target = resolve(node[COMPONENT], COMPONENT)
    params = {k: instantiate(v) if isinstance(v, Mapping) and COMPONENT in v else v
              for k, v in node.items() if k != COMPONENT}
    params.update(kwargs)
    try:
        inspect.signature(target).bind(*args, **params)
    except TypeError as e:
        raise ConfigError(f"cannot build `{node[COMPONENT]}`: {e}") from None
    except ValueError:  # no signature to check (some builtins)
        pass
    return target(*args, **params)
