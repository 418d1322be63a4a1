"""Every shipped recipe binds to its workflow and components without building anything."""

from __future__ import annotations

import pytest

from blipctl.config import list_recipes, load_recipe

RECIPES = [name for name, _, _ in list_recipes()]


def test_recipes_exist():
    assert "mini/corpus" in RECIPES


@pytest.mark.parametrize("name", RECIPES)
def test_recipe_validates(name):
    recipe = load_recipe(name)
    assert recipe.resolved()["_workflow_"]


@pytest.mark.parametrize("name", RECIPES)
def test_recipe_has_description(name):
    assert dict((n, d) for n, _, d in list_recipes())[name], f"{name} needs a first comment line"
