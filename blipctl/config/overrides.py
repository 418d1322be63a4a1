"""Command-line overrides: `a.b=v` sets, `+a.b=v` adds, `~a.b` deletes.

The value is everything after the first `=`, so it may itself contain `=`.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from blipctl.config.yaml_io import parse_value
from blipctl.errors import ConfigError


@dataclass(frozen=True)
class Override:
    op: str  # "set" | "add" | "delete"
    path: tuple[str, ...]
    value: Any = None

    @property
    def key(self) -> str:
        return ".".join(self.path)


def is_override(arg: str) -> bool:
    """True for `a=b`, `+a=b` and `~a`: what a positional argument that is not a recipe looks like."""
    return "=" in arg or arg.startswith("~")


def parse_override(arg: str) -> Override:
    if arg.startswith("~"):
        key, value = arg[1:], None
        if "=" in key:
            raise ConfigError(f"override `{arg}`: `~key` deletes a key and takes no value")
        op = "delete"
    else:
        op = "add" if arg.startswith("+") else "set"
        key, sep, text = arg.lstrip("+").partition("=")
        if not sep:
            raise ConfigError(f"override `{arg}`: expected key=value, +key=value or ~key")
        value = parse_value(text)
    path = tuple(key.split("."))
    if not all(path):
        raise ConfigError(f"override `{arg}`: `{key}` is not a dotted key")
    return Override(op, path, value)


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """`; did you mean `x`?` for the closest choice, or ``."""
    close = difflib.get_close_matches(word, sorted(set(choices)), n=1, cutoff=0.6)
    return f"; did you mean `{close[0]}`?" if close else ""


def apply_overrides(
    cfg: dict[str, Any],
    overrides: Iterable[Override],
    known_keys: Callable[[tuple[str, ...]], set[str]] = lambda path: set(),
) -> dict[str, Any]:
    """Applies overrides in order to `cfg` in place.

    `known_keys(path)` names keys the schema accepts under `path` even when the YAML leaves
    them out, so `a.b=v` may set a parameter that has a default.
    """
    for o in overrides:
        *parents, leaf = o.path
        node = cfg
        for i, part in enumerate(parents):
            child = node.get(part)
            if child is None and o.op == "add":
                child = node[part] = {}
            if not isinstance(child, dict):
                here = ".".join(o.path[: i + 1])
                hint = did_you_mean(part, list(node) + list(known_keys(tuple(parents[:i]))))
                what = "is not a section" if part in node else "is not in the recipe"
                raise ConfigError(f"override `{o.key}`: `{here}` {what}{hint}")
            node = child
        present = leaf in node
        if o.op == "add" and present:
            raise ConfigError(f"override `+{o.key}`: the key exists already; set it with `{o.key}=...`")
        if o.op in ("set", "delete") and not present:
            allowed = known_keys(tuple(parents))
            if o.op == "delete" or leaf not in allowed:
                hint = did_you_mean(leaf, list(node) + list(allowed))
                raise ConfigError(f"override `{o.key}`: unknown key `{o.key}`{hint}")
        if o.op == "delete":
            del node[leaf]
        else:
            node[leaf] = o.value
    return cfg
