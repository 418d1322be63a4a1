"""Two-way state-dict conversion, declared in one table: blipctl's names against a format's.

A table is a list of sections `(our prefix, their prefix, rules)`. A rule is one of:

    ("ours", "theirs")        rename, both ways
    (None, "theirs")          drop: their key has no counterpart in our model, on purpose
                              (ignored when reading, never written)
    Tied("ours", "theirs")    their key repeats one of our tensors (a tied weight): ignored
                              when reading, written as that tensor
    Transform(ours, theirs, to_ours, to_theirs)
                              their tensor(s) computed from ours and back (a fused bias, a
                              position embedding resized to the model's grid): see `Transform`

Templates may hold `{i}` (a layer index), `{w}` (`weight` or `bias`) and, in drops, `{*}` (the
rest of the key). The first rule that matches one of our keys names it when writing; a later
rule for the same key is another spelling accepted when reading (BLIP's `queue_ptr` and
`ptr_queue`). A key that no rule matches is an error, in both directions, so a format change
never silently drops weights.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from blipctl.errors import BlipctlError

_SLOTS = {"i": ("i", r"\d+"), "w": ("w", r"weight|bias"), "*": ("rest", r".+")}


@dataclass(frozen=True)
class Tied:
    """Their key `theirs` holds a copy of our tensor `ours` (a tied weight)."""

    ours: str
    theirs: str


@dataclass(frozen=True)
class Transform:
    """Tensors computed, not renamed: their keys `theirs` <-> our keys `ours` (templates that
    share their slots). `to_ours(tensors, like)` gets their tensors in the order of `theirs` and
    returns ours in the order of `ours`; `like` is the model's tensors under those names when
    the conversion loads into a model (None entries where it has none), else None.
    `to_theirs(tensors)` is the inverse."""

    ours: tuple[str, ...]
    theirs: tuple[str, ...]
    to_ours: Callable[..., Sequence]
    to_theirs: Callable[[list], Sequence]


def _regex(template: str) -> re.Pattern:
    rx = re.escape(template)
    for slot, (group, pattern) in _SLOTS.items():
        rx = rx.replace(re.escape("{" + slot + "}"), f"(?P<{group}>{pattern})")
    return re.compile(rx)


def _fill(template: str, slots: Mapping[str, str]) -> str:
    for slot, (group, _) in _SLOTS.items():
        if group in slots:
            template = template.replace("{" + slot + "}", slots[group])
    return template


class _Rule:
    """One rule with its prefixes applied and its templates compiled."""

    def __init__(self, kind: str, ours: tuple[str, ...], theirs: tuple[str, ...],
                 fn: Transform | None = None):
        self.kind = kind  # rename | drop | tied | transform
        self.ours, self.theirs, self.fn = ours, theirs, fn
        self.ours_rx, self.theirs_rx = tuple(map(_regex, ours)), tuple(map(_regex, theirs))


def _rule(our_prefix: str, their_prefix: str, rule) -> _Rule:
    if isinstance(rule, Transform):
        return _Rule("transform", tuple(our_prefix + o for o in rule.ours),
                     tuple(their_prefix + t for t in rule.theirs), rule)
    if isinstance(rule, Tied):
        return _Rule("tied", (our_prefix + rule.ours,), (their_prefix + rule.theirs,))
    ours, theirs = rule
    if ours is None:
        return _Rule("drop", (), (their_prefix + theirs,))
    return _Rule("rename", (our_prefix + ours,), (their_prefix + theirs,))


class KeyMap:
    """Converts state dicts both ways from `sections` (see the module docstring)."""

    def __init__(self, sections: Iterable[tuple[str, str, Iterable]]):
        self.rules = [_rule(op, tp, r) for op, tp, rules in sections for r in rules]

    def to_theirs(self, state: Mapping, what: str = "checkpoint") -> dict:
        """Our state dict under their names, tied copies included."""
        out = _Out(what)
        unknown = []
        for key, value in state.items():
            for rule in self.rules:
                if rule.kind == "rename" and (m := rule.ours_rx[0].fullmatch(key)):
                    out.put(_fill(rule.theirs[0], m.groupdict()), value, key)
                    break
                if rule.kind == "transform" and _grouped(out, rule, False, key, value):
                    break
            else:
                unknown.append(key)
        _refuse(unknown, what)
        for rule in self.rules:
            if rule.kind == "tied":
                for key, value in state.items():
                    if m := rule.ours_rx[0].fullmatch(key):
                        out.put(_fill(rule.theirs[0], m.groupdict()), value, key)
        return out.finish(lambda rule, xs, like: rule.fn.to_theirs(xs), None)

    def to_ours(self, state: Mapping, what: str = "checkpoint", like: Mapping | None = None) -> dict:
        """Their state dict under our names. `like`: the state dict of the model it will load
        into, for transforms that fit a tensor to the model (a resized position embedding)."""
        out = _Out(what)
        unknown = []
        for key, value in state.items():
            for rule in self.rules:
                if rule.kind == "transform":
                    if _grouped(out, rule, True, key, value):
                        break
                elif m := rule.theirs_rx[0].fullmatch(key):
                    if rule.kind == "rename":
                        out.put(_fill(rule.ours[0], m.groupdict()), value, key)
                    break
            else:
                unknown.append(key)
        _refuse(unknown, what)
        return out.finish(lambda rule, xs, want: rule.fn.to_ours(xs, like=want), like)


class _Out:
    """An ordered output state dict; a transform's outputs take the place of its first input."""

    def __init__(self, what: str):
        self.what, self.state, self.came_from = what, {}, {}
        self.groups: dict[tuple, _Group] = {}

    def put(self, key: str, value, source: str) -> None:
        if key in self.came_from:
            raise BlipctlError(f"{self.what}: {self.came_from[key]} and {source} both give {key}")
        self.state[key], self.came_from[key] = value, source

    def finish(self, apply, like: Mapping | None) -> dict:
        for g in self.groups.values():
            if len(g.inputs) != len(g.needs):
                have = ", ".join(k for k, _ in g.inputs.values())
                lack = ", ".join(k for j, k in enumerate(g.needs) if j not in g.inputs)
                raise BlipctlError(f"{self.what}: {have} needs {lack} too")
            tensors = [g.inputs[j][1] for j in range(len(g.needs))]
            want = None if like is None else [like.get(k) for k in g.outputs]
            try:
                results = list(apply(g.rule, tensors, want))
            except BlipctlError as e:
                raise BlipctlError(f"{self.what}: {', '.join(g.needs)}: {e}") from None
            for key, value in zip(g.outputs, results, strict=True):
                self.state[key] = value
        return self.state


@dataclass
class _Group:
    """One application of a transform: the keys it needs, those found, the keys it gives."""

    rule: _Rule
    needs: list[str]
    outputs: list[str]
    inputs: dict[int, tuple[str, object]]


def _grouped(out: _Out, rule: _Rule, reading: bool, key: str, value) -> bool:
    """Files `key` into its transform group if it is one of the transform's inputs."""
    patterns, needs, gives = ((rule.theirs_rx, rule.theirs, rule.ours) if reading
                              else (rule.ours_rx, rule.ours, rule.theirs))
    for j, rx in enumerate(patterns):
        m = rx.fullmatch(key)
        if m is None:
            continue
        slots = m.groupdict()
        gid = (id(rule), tuple(sorted(slots.items())))
        if gid not in out.groups:
            outputs = [_fill(t, slots) for t in gives]
            for k in outputs:
                out.put(k, None, key)  # reserves the place; `finish` fills it
            out.groups[gid] = _Group(rule, [_fill(t, slots) for t in needs], outputs, {})
        group = out.groups[gid]
        if j in group.inputs:
            raise BlipctlError(f"{out.what}: {group.inputs[j][0]} and {key} both feed one transform")
        group.inputs[j] = (key, value)
        return True
    return False


def _refuse(unknown: list[str], what: str) -> None:
    if unknown:
        more = f" (and {len(unknown) - 3} more)" if len(unknown) > 3 else ""
        raise BlipctlError(f"{what}: unexpected keys {', '.join(unknown[:3])}{more}")
