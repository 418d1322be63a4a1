"""`blipctl recipes list|show|validate`."""

from __future__ import annotations

import sys

import typer

app = typer.Typer(help="List, show and validate YAML recipes.", no_args_is_help=True, rich_markup_mode=None)


@app.command("list")
def list_() -> None:
    """List recipe names with their one-line descriptions."""
    rows = _all_recipes()
    width = max((len(n) for n, _, _ in rows), default=0)
    for name, _, desc in rows:
        print(f"{name:<{width}}  {desc}".rstrip())


@app.command()
def show(
    name: str = typer.Argument(..., metavar="RECIPE",
                               help="Recipe name (see `recipes list`) or a YAML file."),
    overrides: list[str] = typer.Argument(None, help="key=value, +key=value or ~key."),
) -> None:
    """Print a recipe with overrides applied and defaults filled in."""
    from blipctl.config import load_recipe

    sys.stdout.write(load_recipe(name, overrides or []).resolved_yaml())


@app.command()
def validate(
    names: list[str] = typer.Argument(None, metavar="[RECIPE]...",
                                      help="Recipe names or YAML files."),
    all_: bool = typer.Option(False, "--all", help="Validate every recipe in recipes/."),
) -> None:
    """Check recipes: keys, types and every `_component_`'s signature, building nothing."""
    from blipctl.config import load_recipe
    from blipctl.errors import BlipctlError, ConfigError

    if all_ == bool(names):
        raise ConfigError("give recipe names or --all (not both)")
    targets = [n for n, _, _ in _all_recipes()] if all_ else names
    failed = 0
    for name in targets:
        try:
            load_recipe(name)
        except BlipctlError as e:
            failed += 1
            print(f"{name}: {e}", file=sys.stderr)
        else:
            print(f"ok  {name}")
    if failed:
        print(f"{failed} of {len(targets)} recipes invalid", file=sys.stderr)
        raise typer.Exit(2)


def _all_recipes() -> list:
    """Every recipe; none at all is an error (a broken install), not an empty list."""
    import os

    from blipctl.config import list_recipes, recipes_dir
    from blipctl.errors import ConfigError

    rows = list_recipes()
    if not rows:
        hint = "" if os.environ.get("BLIPCTL_RECIPES") else "; set BLIPCTL_RECIPES to a folder of recipes"
        raise ConfigError(f"no recipes (*.yaml) in {recipes_dir()}{hint}")
    return rows
