"""Nested-dict helpers for configs and metrics."""

from __future__ import annotations

from typing import Any


def flatten(d: dict, prefix: str = "") -> dict[str, Any]:
    """{"a": {"b": 1}} -> {"a.b": 1}."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        out.update(flatten(v, f"{prefix}{k}.") if isinstance(v, dict) else {f"{prefix}{k}": v})
    return out


def changed_keys(before: dict, after: dict, ignore: tuple[str, ...] = ()) -> list[str]:
    """The dotted keys whose values differ between two nested configs, `ignore`d ones aside."""
    a, b = flatten(before), flatten(after)
    return sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k) and k not in ignore)
