"""Recipes: YAML files whose sections name their components by dotted path.

`load_recipe` reads a recipe, applies command-line overrides and checks every key and
type against the workflow's dataclass and each `_component_`'s signature, building nothing.
"""

from blipctl.config.loader import (
    Recipe,
    find_recipe,
    list_recipes,
    load_recipe,
    recipes_dir,
    resolved,
    save_config,
)
from blipctl.config.schema import instantiate
from blipctl.config.yaml_io import dump_yaml, load_yaml, parse_value

__all__ = [
    "Recipe",
    "instantiate",
    "resolved",
    "save_config",
    "dump_yaml",
    "find_recipe",
    "list_recipes",
    "load_recipe",
    "load_yaml",
    "parse_value",
    "recipes_dir",
]
