"""`blipctl data synth|info`."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from blipctl.cli.args import split_recipe_args

app = typer.Typer(help="Make and inspect data sets.", no_args_is_help=True, rich_markup_mode=None)

SYNTH = "blipctl.workflows.synth.run"


@app.command(context_settings={"allow_interspersed_args": True})
def synth(
    args: list[str] = typer.Argument(
        None, metavar="[RECIPE] [KEY=VALUE]...",
        help="A recipe (default mini/corpus) and overrides: key=value, +key=value, ~key."),
    out: Path = typer.Option(None, "--out", "-o", file_okay=False,
                             help="Output directory (output_dir=)."),
    images: int = typer.Option(None, "--images", "-n", help="Number of images (corpus.images=)."),
    seed: int = typer.Option(None, "--seed", help="Random seed (corpus.seed=)."),
    noise: float = typer.Option(None, "--noise", help="Noisy web fraction (corpus.noise=)."),
) -> None:
    """Generate the synthetic corpus: captions, noisy web alt-text, VQA, NLVR2 and shards."""
    from blipctl.config import load_recipe

    name, overrides = split_recipe_args(args, default="mini/corpus")
    for key, value in (("output_dir", out), ("corpus.images", images), ("corpus.seed", seed),
                       ("corpus.noise", noise)):
        if value is not None:
            overrides.append(f"{key}={value}")
    recipe = load_recipe(name, overrides, workflow=SYNTH)
    recipe.workflow(recipe.config)
    _summary(Path(recipe.config.output_dir))


@app.command()
def info(
    corpus: Path = typer.Argument(..., file_okay=False,
                                  help="A directory written by `blipctl data synth`."),
    as_json: bool = typer.Option(False, "--json", help="Print manifest.json as it is."),
) -> None:
    """Print what a synthetic corpus holds, with an example of each kind of text."""
    if as_json:
        from blipctl.data.synth.inspect import read_manifest

        print(read_manifest(corpus, raw=True))
    else:
        _summary(corpus)


def _summary(corpus: Path) -> None:
    from rich.console import Console

    from blipctl.data.synth.inspect import summary_tables

    console = Console(width=None if sys.stdout.isatty() else 120)  # pipes get full rows
    for table in summary_tables(corpus):
        console.print(table)
