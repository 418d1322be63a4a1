"""`blipctl export --model M --to hf --out DIR`"""

from __future__ import annotations

import enum
from pathlib import Path

import typer


class Target(str, enum.Enum):
    hf = "hf"
    blip = "blip"


def export(
    model: str = typer.Option(..., "--model", "-m",
                              help="Hub id, transformers directory, original BLIP .pth or "
                                   "blipctl run directory."),
    to: Target = typer.Option(Target.hf, "--to",
                              help="hf: a transformers directory; blip: an original BLIP .pth file."),
    out: Path = typer.Option(..., "--out", "-o", help="Output directory (hf) or file (blip)."),
) -> None:
    """Write a model in another format; prints where it went."""
    from blipctl.workflows.export import export as run

    print(run(model, to.value, out))
