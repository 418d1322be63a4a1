"""`blipctl bootstrap`: CapFilt over a web set (captioner + filter), streaming and resumable."""

from __future__ import annotations

import sys

import typer

from blipctl.cli.train import DRY_RUN, RECIPE_ARGS

WORKFLOW = "blipctl.workflows.bootstrap.run"


def bootstrap(args: list[str] = RECIPE_ARGS, dry_run: bool = DRY_RUN) -> None:
    """CapFilt: synthetic captions + ITM filtering of a web set, shard by shard; a rerun
    resumes (done shards are skipped). Writes shards/, annotations.json, summary.json, grid.png."""
    from blipctl.cli.args import split_recipe_args
    from blipctl.config import load_recipe

    name, overrides = split_recipe_args(list(args or []))
    recipe = load_recipe(name, overrides, workflow=WORKFLOW)
    text = recipe.resolved_yaml()
    if dry_run:
        sys.stdout.write(text)
        return
    outcome = recipe.workflow(recipe.config, text)
    if outcome.summary:
        print_summary(outcome.summary, recipe.config.output_dir)
    for image, reason in outcome.bad:
        print(f"blipctl: {image}: {reason}", file=sys.stderr)
    if outcome.bad:
        print(f"blipctl: {len(outcome.bad)} image(s) could not be read; the rest were bootstrapped",
              file=sys.stderr)
        raise typer.Exit(1)


def print_summary(summary: dict, out: str) -> None:
    """Kept and removed texts per source, and the filter's noise statistics, as rich tables."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"CapFilt: {summary['images']} images -> {out}")
    for col in ("source", "texts", "kept", "removed", "kept %"):
        table.add_column(col, justify="left" if col == "source" else "right")
    for source, c in summary["sources"].items():
        pct = f"{100 * c['kept'] / c['total']:.1f}" if c["total"] else "-"
        table.add_row(source, str(c["total"]), str(c["kept"]), str(c["removed"]), pct)
    console = Console()
    console.print(table)
    noise = summary.get("noise")
    if noise:
        def fmt(v, spec=".1f"):
            return "-" if v is None else format(v, spec)

        kinds = ", ".join(f"{k} {v:.1f}" for k, v in noise["recall_by_kind"].items())
        console.print(f"filter on the web set's known noise ({noise['noisy']} of {noise['web_texts']} texts "
                      f"noisy): precision {fmt(noise['precision'])}, recall {fmt(noise['recall'])}, "
                      f"ROC AUC {fmt(noise['roc_auc'], '.3f')}; recall by kind: {kinds}")
