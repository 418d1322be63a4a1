"""`blipctl eval RECIPE --model M [--check]` and `blipctl eval score --task T ...`."""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path

import typer
from typer.core import TyperGroup

from blipctl.cli.args import split_recipe_args


class _RecipeFirst(TyperGroup):
    """`blipctl eval RECIPE ...` is `blipctl eval run RECIPE ...`; `score` is its own command."""

    def parse_args(self, ctx, args):
        if args and args[0] not in self.commands and args[0] not in ("-h", "--help"):
            args = ["run", *args]
        return super().parse_args(ctx, args)


app = typer.Typer(cls=_RecipeFirst, no_args_is_help=True, rich_markup_mode=None,
                  help="Evaluate a model on a recipe's split, or score a predictions file.")

WORKFLOW = "blipctl.workflows.evaluate.run"


class Task(str, Enum):
    caption = "caption"
    vqa = "vqa"
    retrieval = "retrieval"
    nlvr = "nlvr"


@app.command("run", context_settings={"allow_interspersed_args": True})
def run(
    args: list[str] = typer.Argument(None, metavar="RECIPE [KEY=VALUE]...",
                                     help="An eval recipe (name or YAML file) and overrides."),
    model: str = typer.Option(None, "--model", "-m",
                              help="Run directory, BLIP .pth, transformers directory or Hub id "
                                   "(model=)."),
    llm: str = typer.Option(None, "--llm", help="The LM of a LAVIS BLIP-2 checkpoint (llm=)."),
    check: bool = typer.Option(False, "--check",
                               help="Compare with the recipe's expect: block; exit 1 on a miss."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the resolved recipe and exit."),
) -> None:
    """Evaluate a model: predictions.json, metrics.json and a table (the default command)."""
    from blipctl.config import load_recipe
    from blipctl.errors import ConfigError
    from blipctl.eval.report import check_expect, print_table

    name, overrides = split_recipe_args(args)
    if model is not None:
        overrides.append(f"model={model}")
    if llm is not None:
        overrides.append(f"llm={llm}")
    recipe = load_recipe(name, overrides, workflow=WORKFLOW)
    text = recipe.resolved_yaml()
    if dry_run:
        sys.stdout.write(text)
        return
    cfg = recipe.config
    if check and not cfg.expect:
        raise ConfigError(f"--check: recipe {name} has no `expect:` block to compare with")
    result = recipe.workflow(cfg, text)
    checks = check_expect(result.metrics, cfg.expect) if check else None
    print_table(f"{Path(cfg.model).name or cfg.model} on {cfg.data.annotations}", result.metrics, checks)
    failed = False
    for c in checks or []:
        if not c.ok:
            failed = True
            off = "not reported" if c.got is None else f"off by {c.diff:+.2f}"
            print(f"blipctl: check: {c.metric} = {c.got} expected {c.value} ± {c.tol:g} ({off})",
                  file=sys.stderr)
    if result.bad:
        print(f"blipctl: {len(result.bad)} item(s) could not be read; the metrics cover the rest",
              file=sys.stderr)
    if failed or result.bad:
        raise typer.Exit(1)


@app.command("score")
def score(
    task: Task = typer.Option(..., "--task", "-t", help="caption, vqa, retrieval or nlvr."),
    predictions: Path = typer.Option(..., "--predictions", "-p", dir_okay=False,
                                     help="COCO caption results, VQAv2 results, NLVR2 predictions, "
                                          "or a retrieval score matrix (.npy or JSON)."),
    annotations: Path = typer.Option(..., "--annotations", "-a", dir_okay=False,
                                     help="Ground truth: COCO captions, VQAv2 questions with answers, "
                                          "NLVR2 records, or the Karpathy retrieval split."),
    spice: bool = typer.Option(True, "--spice/--no-spice", help="Caption: SPICE when its jars are there."),
    as_json: bool = typer.Option(False, "--json", help="Print the metrics as JSON instead of a table."),
) -> None:
    """Score an existing predictions file as the official tools do (formats: docs/eval.md)."""
    import json

    from blipctl.eval.report import print_table
    from blipctl.workflows.evaluate import score_files

    metrics = score_files(task.value, str(predictions), str(annotations), spice=spice)
    if as_json:
        print(json.dumps(metrics, indent=2))
    else:
        print_table(f"{task.value}: {predictions.name}", metrics)
