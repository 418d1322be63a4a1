"""Splitting `[RECIPE] [OVERRIDES]...` positional arguments."""

from __future__ import annotations


def split_recipe_args(args: list[str] | None, default: str | None = None) -> tuple[str, list[str]]:
    """(recipe, overrides): the first argument is the recipe unless it looks like an override."""
    from blipctl.config.overrides import is_override

    args = list(args or [])
    if args and not is_override(args[0]):
        return args[0], args[1:]
    if default is None:
        from blipctl.errors import ConfigError

        raise ConfigError("missing RECIPE: give a recipe name (see `blipctl recipes list`) "
                          "or a YAML file")
    return default, args
