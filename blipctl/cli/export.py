"""`blipctl export --model M --to hf|blip|lavis --out PATH`"""

from __future__ import annotations

import enum
from pathlib import Path

import typer


class Target(str, enum.Enum):
    hf = "hf"
    blip = "blip"
    lavis = "lavis"


def export(
    model: str = typer.Option(..., "--model", "-m",
                              help="Hub id, transformers directory, original BLIP or LAVIS "
                                   "BLIP-2 .pth, or blipctl run directory."),
    llm: str = typer.Option(None, "--llm", help="The LM (directory or Hub id) of a LAVIS BLIP-2 "
                            "checkpoint, which holds none."),
    to: Target = typer.Option(Target.hf, "--to",
                              help="hf: a transformers directory; blip: an original BLIP .pth "
                               "file; lavis: a LAVIS BLIP-2 .pth file (no LM weights)."),
    out: Path = typer.Option(..., "--out", "-o", help="Output directory (hf) or file (blip)."),
) -> None:
    """Write a model in another format; prints where it went."""
    from blipctl.workflows.export import export as run

    print(run(model, to.value, out, llm))
