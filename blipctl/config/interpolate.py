"""`${dotted.key}` in a recipe's strings: the value of another key of the same recipe.

    data: {root: runs/mini/corpus}
    codec: {vocab_file: ${data.root}/vocab.txt}     # follows `data.root=...` overrides

A string that is one reference takes the referenced value as it is (a number stays a number);
a reference inside a longer string is formatted into it. References resolve after overrides.
"""

from __future__ import annotations

import re
from typing import Any

from blipctl.errors import ConfigError

REF = re.compile(r"\$\{([A-Za-z_][\w.]*)\}")


def interpolate(data: dict[str, Any]) -> dict[str, Any]:
    """Resolves every reference in `data` in place (and returns it)."""

    def lookup(dotted: str, where: str, seen: tuple[str, ...]) -> Any:
        if dotted in seen:
            chain = " -> ".join(seen + (dotted,))
            raise ConfigError(f"{where}: ${{{dotted}}} refers back to itself ({chain})")
        node: Any = data
        for part in dotted.split("."):
            if not isinstance(node, dict) or part not in node:
                raise ConfigError(f"{where}: ${{{dotted}}} names no key of the recipe")
            node = node[part]
        return resolve(node, dotted, seen + (dotted,))

    def resolve(value: Any, where: str, seen: tuple[str, ...] = ()) -> Any:
        if isinstance(value, dict):
            return {k: resolve(v, f"{where}.{k}" if where else k, seen) for k, v in value.items()}
        if isinstance(value, list):
            return [resolve(v, f"{where}[{i}]", seen) for i, v in enumerate(value)]
        if not isinstance(value, str) or "${" not in value:
            return value
        whole = REF.fullmatch(value)
        if whole:
            return lookup(whole.group(1), where, seen)
        return REF.sub(lambda m: str(lookup(m.group(1), where, seen)), value)

    data.update(resolve(data, ""))
    return data
