"""Recipes ship inside the package: a wheel built from this checkout carries every module and
every recipe, and an installed blipctl finds them through importlib.resources, from any
directory, with no source checkout. Builds offline with the running interpreter's setuptools."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from blipctl.config import loader

ROOT = Path(__file__).resolve().parents[2]
RECIPE_FILES = sorted(p.relative_to(ROOT / "recipes").as_posix() for p in (ROOT / "recipes").rglob("*.yaml"))
RECIPE_NAMES = [f.removesuffix(".yaml") for f in RECIPE_FILES]


def test_a_checkout_finds_its_own_recipes_and_blipctl_recipes_overrides(monkeypatch, tmp_path):
    monkeypatch.delenv("BLIPCTL_RECIPES", raising=False)
    assert not (ROOT / "blipctl" / "recipes").exists()  # the recipes stay in the top-level recipes/
    assert loader.recipes_dir() == ROOT / "recipes"
    assert [n for n, _, _ in loader.list_recipes()] == RECIPE_NAMES and len(RECIPE_NAMES) >= 20
    monkeypatch.setenv("BLIPCTL_RECIPES", str(tmp_path))
    assert loader.recipes_dir() == tmp_path


def test_packaged_recipes_win_over_a_checkout(monkeypatch, tmp_path):
    monkeypatch.delenv("BLIPCTL_RECIPES", raising=False)
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "y.yaml").write_text("# y\n")
    monkeypatch.setattr(loader, "packaged_recipes_dir", lambda: tmp_path)
    assert loader.recipes_dir() == tmp_path and [n for n, _, _ in loader.list_recipes()] == ["x/y"]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    """A wheel built from a copy of the checkout (the build writes build/ and *.egg-info)."""
    pytest.importorskip("setuptools")
    src = tmp_path_factory.mktemp("src")
    for name in ("blipctl", "recipes"):
        shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    dist = tmp_path_factory.mktemp("dist")
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                           "--no-index", "-q", "-w", str(dist), str(src)], capture_output=True, text=True,
                          env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "absent from the `packages` configuration" not in proc.stderr, proc.stderr
    (path,) = dist.glob("blipctl-*.whl")
    return path


@pytest.mark.integration
def test_the_wheel_carries_every_module_and_every_recipe(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    modules = {p.relative_to(ROOT).as_posix() for p in (ROOT / "blipctl").rglob("*.py")}
    assert modules == {n for n in names if n.endswith(".py")}  # pyproject lists every package
    assert {f"blipctl/recipes/{f}" for f in RECIPE_FILES} | {"blipctl/recipes/README.md"} <= names
    assert "blipctl/assets/bert-base-uncased-vocab.txt" in names


@pytest.mark.integration
def test_an_installed_wheel_finds_its_recipes_through_the_package(wheel, tmp_path):
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "BLIPCTL_RECIPES"}
    env["PYTHONPATH"] = str(site)
    code = ("import blipctl; from blipctl.config import loader; "
            "print(blipctl.__file__); print(loader.packaged_recipes_dir()); print(loader.recipes_dir())")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                          cwd=elsewhere, timeout=60)
    assert proc.returncode == 0, proc.stderr
    package = site / "blipctl"
    recipes = str(package / "recipes")  # what importlib.resources finds, and where names resolve
    assert proc.stdout.split() == [str(package / "__init__.py"), recipes, recipes]

    def cli(*args):
        r = subprocess.run([sys.executable, "-m", "blipctl", *args], capture_output=True, text=True,
                           env=env, cwd=elsewhere, timeout=120)
        assert r.returncode == 0, r.stderr
        return r.stdout

    assert [line.split()[0] for line in cli("recipes", "list").splitlines()] == RECIPE_NAMES
    assert "_workflow_: blipctl.workflows.train.finetune" in cli("finetune", "mini/caption", "--dry-run")
