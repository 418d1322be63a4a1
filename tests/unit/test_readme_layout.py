"""README's Layout section matches the tree: every path it names exists, and every package
and top-level folder of the project is named."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def layout_lines() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = text.split("## Layout", 1)[1].split("```", 2)[1]
    return [line for line in block.splitlines() if line.strip()]


def named_paths() -> set[str]:
    """The first column (and its parents), and the `name.py` / `dir/` words of the second:
    under the first column, or under the root when they hold a `/` of their own."""
    out = set()
    for line in layout_lines():
        first, _, rest = line.partition(" ")
        out |= {str(p) for p in Path(first.rstrip("/")).parents if str(p) != "."} | {first.rstrip("/")}
        for word in re.findall(r"\b([\w/]+(?:\.py|/))(?=[\s,()]|$)", rest):
            inner = "/" in word.rstrip("/")
            if inner or first.endswith("/"):
                out.add(word.rstrip("/") if inner else first + word.rstrip("/"))
    return out


def test_every_path_the_layout_names_exists():
    missing = sorted(p for p in named_paths() if not (ROOT / p).exists())
    assert missing == []


def test_every_package_and_folder_is_in_the_layout():
    names = named_paths()
    packages = {f"blipctl/{p.name}" for p in (ROOT / "blipctl").iterdir()
                if p.is_dir() and p.name != "__pycache__"}
    modules = {f"blipctl/{p.name}" for p in (ROOT / "blipctl").glob("*.py") if not p.name.startswith("__")}
    folders = {p.name for p in ROOT.iterdir() if p.is_dir() and not p.name.startswith(".")
               and p.name not in ("runs", "build", "dist") and not p.name.endswith(".egg-info")}
    assert sorted((packages | modules | folders) - names) == []
