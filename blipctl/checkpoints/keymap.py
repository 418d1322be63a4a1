"""Two-way renaming of state-dict keys from one table of (ours, theirs) name templates.

A template may hold `{i}` (a layer index) and `{w}` (`weight` or `bias`). A key matching no
rule is an error, so a format change can never silently drop weights.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from blipctl.errors import BlipctlError

_SLOTS = {"i": r"\d+", "w": r"weight|bias"}


def _regex(template: str) -> re.Pattern:
    rx = re.escape(template)
    for name, pattern in _SLOTS.items():
        rx = rx.replace(re.escape("{" + name + "}"), f"(?P<{name}>{pattern})")
    return re.compile(rx)


class KeyMap:
    """Renames keys both ways. `sections` are (our prefix, their prefix, [(ours, theirs)])."""

    def __init__(self, sections: Iterable[tuple[str, str, Iterable[tuple[str, str]]]]):
        self.rules = [(_regex(op + o), op + o, _regex(tp + t), tp + t)
                      for op, tp, pairs in sections for o, t in pairs]

    def to_theirs(self, state: Mapping, what: str = "checkpoint") -> dict:
        return _rename(state, [(o_rx, t_tpl) for o_rx, _, _, t_tpl in self.rules], what)

    def to_ours(self, state: Mapping, what: str = "checkpoint") -> dict:
        return _rename(state, [(t_rx, o_tpl) for _, o_tpl, t_rx, _ in self.rules], what)


def _rename(state: Mapping, rules: list[tuple[re.Pattern, str]], what: str) -> dict:
    out, unknown = {}, []
    for key, value in state.items():
        for rx, template in rules:
            m = rx.fullmatch(key)
            if m:
                out[template.format(**m.groupdict())] = value
                break
        else:
            unknown.append(key)
    if unknown:
        more = f" (and {len(unknown) - 3} more)" if len(unknown) > 3 else ""
        raise BlipctlError(f"{what}: unexpected keys {', '.join(unknown[:3])}{more}")
    return out
