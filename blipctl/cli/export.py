"""`blipctl export --model M --to hf --out DIR`"""

from __future__ import annotations

import enum
from pathlib import Path

import typer


class Target(str, enum.Enum):
    hf = "hf"


def export(
    model: str = typer.Option(..., "--model", "-m", help="Hub id or transformers directory."),
    to: Target = typer.Option(Target.hf, "--to", help="hf: a transformers directory."),
    out: Path = typer.Option(..., "--out", "-o", file_okay=False, help="Output directory."),
) -> None:
    """Write a model in another format; prints the output directory."""
    from blipctl.workflows.export import to_hf

    print(to_hf(model, out))
