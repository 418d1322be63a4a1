"""Metrics as a table, and the `--check` comparison with a recipe's `expect:` block."""

from __future__ import annotations

from dataclasses import dataclass

from blipctl.config.dicts import flatten
from blipctl.errors import ConfigError


@dataclass
class Expected:
    metric: str
    value: float
    tol: float
    got: float | None

    @property
    def diff(self) -> float | None:
        return None if self.got is None else self.got - self.value

    @property
    def ok(self) -> bool:
        return self.got is not None and abs(self.got - self.value) <= self.tol


def check_expect(metrics: dict, expect: dict) -> list[Expected]:
    """expect: {metric (dotted for nested): {value, tol}} -> one row per expected metric."""
    flat = flatten(metrics)
    rows = []
    for name, spec in expect.items():
        if not (isinstance(spec, dict) and set(spec) == {"value", "tol"}
                and all(isinstance(spec[k], (int, float)) for k in spec)):
            raise ConfigError(f"recipe key `expect.{name}`: expected {{value: NUMBER, tol: NUMBER}}, "
                              f"got {spec!r}")
        got = flat.get(name)
        if got is None and name not in flat:
            raise ConfigError(f"recipe key `expect.{name}`: the evaluation reports no such metric; "
                              f"it reports {', '.join(sorted(flat))}")
        rows.append(Expected(name, float(spec["value"]), float(spec["tol"]), got))
    return rows


def print_table(title: str, metrics: dict, checks: list[Expected] | None = None) -> None:
    """The metrics as a rich table on stdout; with `checks`, expected values and how far off."""
    import sys

    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    table.add_column("metric")
    table.add_column("value", justify="right")
    by_name = {c.metric: c for c in checks or []}
    if checks is not None:
        for col in ("expected", "off by", "check"):
            table.add_column(col, justify="right")
    for name, value in flatten(metrics).items():
        row = [name, f"{value:.2f}" if isinstance(value, float) else str(value)]
        if checks is not None:
            c = by_name.get(name)
            row += ["", "", ""] if c is None else [f"{c.value:.2f} ± {c.tol:g}", f"{c.diff:+.2f}",
                                                   "ok" if c.ok else "MISS"]
        table.add_row(*row)
    Console(width=None if sys.stdout.isatty() else 120).print(table)  # pipes get full rows
