"""Finding recipes by name and loading them with overrides, strictly."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from blipctl.config.interpolate import interpolate
from blipctl.config.overrides import apply_overrides, did_you_mean, parse_override
from blipctl.config.schema import (
    WORKFLOW,
    build,
    check_recipe,
    keys_at,
    resolve,
    to_plain,
    workflow_schema,
)
from blipctl.config.yaml_io import dump_yaml, load_yaml
from blipctl.errors import ConfigError


def recipes_dir() -> Path:
    """Where recipe names are looked up: `$BLIPCTL_RECIPES` if set; else the recipes installed
    with the package (`blipctl/recipes`, the top-level `recipes/` folder shipped as package
    data); else, in a source checkout (editable install, or PYTHONPATH), its `recipes/`."""
    env = os.environ.get("BLIPCTL_RECIPES")
    if env:
        return Path(env)
    packaged = packaged_recipes_dir()
    if packaged is not None and packaged.is_dir():
        return packaged
    checkout = Path(__file__).resolve().parents[2] / "recipes"
    return checkout if checkout.is_dir() or packaged is None else packaged


def packaged_recipes_dir() -> Path | None:
    """`blipctl/recipes` as importlib.resources finds it (None if the package is not on a file
    system); it exists in an installed wheel, not in a source checkout."""
    root = resources.files("blipctl")
    return Path(root) / "recipes" if isinstance(root, Path) else None


def list_recipes() -> list[tuple[str, Path, str]]:
    """(name, path, first comment line) for every recipe, sorted by name."""
    root = recipes_dir()
    out = []
    for path in sorted(root.rglob("*.yaml")):
        name = path.relative_to(root).with_suffix("").as_posix()
        out.append((name, path, _description(path)))
    return out


def _description(path: Path) -> str:
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("#"):
            return line.lstrip("# ").strip()
        if line.strip():
            break
    return ""


def find_recipe(name: str) -> Path:
    """A recipe file from a path or a name such as `mini/corpus`."""
    path = Path(name)
    if path.suffix in (".yaml", ".yml") and path.is_file():
        return path
    candidate = recipes_dir() / f"{name.removesuffix('.yaml')}.yaml"
    if candidate.is_file():
        return candidate
    names = [n for n, _, _ in list_recipes()]
    raise ConfigError(f"no recipe `{name}` (neither a file nor a name in {recipes_dir()})"
                      + did_you_mean(name, names))


@dataclass
class Recipe:
    """A loaded, checked recipe: its source, resolved data, workflow and built config."""

    path: Path
    data: dict[str, Any]
    workflow: Callable
    config: Any

    def resolved(self) -> dict[str, Any]:
        """The recipe with overrides applied and every dataclass default filled in."""
        return resolved(self.config, self.workflow)

    def resolved_yaml(self) -> str:
        return dump_yaml(self.resolved())


def resolved(config: Any, workflow: Callable) -> dict[str, Any]:
    """A built config as recipe data, naming the workflow that runs it."""
    return {WORKFLOW: f"{workflow.__module__}.{workflow.__name__}", **to_plain(config)}


def save_config(config: Any, workflow: Callable, out_dir: str | Path) -> Path:
    """Writes the resolved recipe as `config.yaml` in a run's output directory, atomically."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "config.yaml"
    tmp = path.with_suffix(".yaml.tmp")
    tmp.write_text(dump_yaml(resolved(config, workflow)), encoding="utf-8")
    tmp.replace(path)
    return path


def load_recipe(name: str, overrides: Sequence[str] = (), workflow: str | None = None) -> Recipe:
    """Reads, overrides and checks a recipe; `workflow` is the dotted path a command expects."""
    path = find_recipe(name)
    data = load_yaml(path)
    if workflow:
        data.setdefault(WORKFLOW, workflow)
    schema = workflow_schema(resolve(data[WORKFLOW], WORKFLOW)) if WORKFLOW in data else None

    def known(p: tuple[str, ...]) -> set[str]:
        return keys_at(schema, data, p) if schema else set()

    apply_overrides(data, [parse_override(o) for o in overrides], known)
    interpolate(data)
    if workflow and data.get(WORKFLOW) != workflow:
        raise ConfigError(f"{path}: this command runs `{workflow}`, but the recipe's "
                          f"`{WORKFLOW}` is `{data.get(WORKFLOW)}`")
    run, schema = check_recipe(data)
    config = build({k: v for k, v in data.items() if k != WORKFLOW}, schema)
    return Recipe(path, data, run, config)

