"""`blipctl pretrain` and `blipctl finetune`."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

RECIPE_ARGS = typer.Argument(None, metavar="[RECIPE] [KEY=VALUE]...",
                             help="A recipe (name or YAML file) and overrides: key=value, +key=value, ~key.")
DRY_RUN = typer.Option(False, "--dry-run", help="Print the resolved recipe and exit.")
RESUME = typer.Option(None, "--resume", file_okay=False,
                      help="Continue the run in DIR from its newest checkpoint "
                           "(RECIPE defaults to DIR/config.yaml).")


def _train(workflow: str, args: list[str] | None, dry_run: bool, resume: Path | None) -> None:
    from blipctl.cli.args import split_recipe_args
    from blipctl.config import load_recipe
    from blipctl.errors import BlipctlError

    args = list(args or [])
    if resume is not None:
        if not (resume / "config.yaml").is_file():
            raise BlipctlError(f"--resume {resume}: not a run directory (no config.yaml)")
        name, overrides = split_recipe_args(args, default=str(resume / "config.yaml"))
    else:
        name, overrides = split_recipe_args(args)
    recipe = load_recipe(name, overrides, workflow=workflow)
    text = recipe.resolved_yaml()
    if dry_run:
        sys.stdout.write(text)
        return
    if resume is not None:
        _warn_if_changed(resume / "config.yaml", recipe.resolved())
    last = recipe.workflow(recipe.config, text, str(resume) if resume else None)
    if last:
        print(" ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in last.items()))


def _warn_if_changed(path: Path, now: dict) -> None:
    from blipctl.config.dicts import changed_keys
    from blipctl.config.yaml_io import load_yaml

    changed = changed_keys(load_yaml(path), now, ignore=("output_dir",))
    if changed:
        print(f"blipctl: note: resuming with changed keys: {', '.join(changed)}", file=sys.stderr)


def pretrain(args: list[str] = RECIPE_ARGS, dry_run: bool = DRY_RUN, resume: Path = RESUME) -> None:
    """Pretrain BLIP or BLIP-2 (stage 1 or 2); one process, torchrun (DDP) or DeepSpeed ZeRO."""
    _train("blipctl.workflows.train.pretrain", args, dry_run, resume)


def finetune(args: list[str] = RECIPE_ARGS, dry_run: bool = DRY_RUN, resume: Path = RESUME) -> None:
    """Fine-tune (caption, retrieval, VQA, NLVR2) or instruction-tune (the recipe's `task`)."""
    _train("blipctl.workflows.train.finetune", args, dry_run, resume)
