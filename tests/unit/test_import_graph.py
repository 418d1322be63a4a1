"""The package graph of blipctl/ is a DAG that flows one way: each package imports only from its
own layer or the layers below it, and the imports inside one layer form no cycle. Every import
counts, those inside functions included (a lazy import is still a dependency)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2] / "blipctl"

# top to bottom; a module at blipctl/'s top level is a node of its own
LAYERS = [
    ["__main__"],
    ["cli"],
    ["workflows"],
    ["engine", "eval", "capfilt", "export"],
    ["tasks", "checkpoints"],
    ["models", "objectives", "data", "text", "config", "metrics", "decode"],
    ["errors", "files", "progress", "hardware", "__init__", "recipes"],
]
LAYER = {name: i for i, row in enumerate(LAYERS) for name in row}


def node(rel: Path) -> str:
    """blipctl/eval/caption.py -> eval; blipctl/decode.py -> decode."""
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def imported(tree: ast.AST, rel: Path) -> set[str]:
    """The blipctl nodes a module's source imports."""
    out = set()
    for n in ast.walk(tree):
        if isinstance(n, ast.Import):
            names = [a.name for a in n.names]
        elif isinstance(n, ast.ImportFrom):
            if n.level:  # relative: resolve against the module's own package
                base = list(("blipctl",) + rel.parent.parts)[:len(rel.parent.parts) + 2 - n.level]
                mod = ".".join(base + ([n.module] if n.module else []))
            else:
                mod = n.module or ""
            names = [mod] if mod != "blipctl" else [f"blipctl.{a.name}" for a in n.names]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] == "blipctl":
                target = parts[1] if len(parts) > 1 else "__init__"
                out.add(target if (ROOT / target).is_dir() or (ROOT / f"{target}.py").exists()
                        else "__init__")
    return out


def package_edges(sources: dict[Path, str]) -> set[tuple[str, str]]:
    """{(from node, to node)} over modules given as {path relative to blipctl/: source}."""
    edges = set()
    for rel, text in sources.items():
        src = node(rel)
        edges |= {(src, dst) for dst in imported(ast.parse(text), rel) if dst != src}
    return edges


def violations(edges: set[tuple[str, str]]) -> list[str]:
    """Unplaced nodes, upward edges, and cycles within a layer, as readable lines."""
    bad = [f"{n}: not placed in LAYERS (decide its layer)" for e in edges for n in e if n not in LAYER]
    bad += [f"{a} -> {b}: upward (layer {LAYER[a]} imports layer {LAYER[b]})" for a, b in edges
            if a in LAYER and b in LAYER and LAYER[b] < LAYER[a]]
    same = {(a, b) for a, b in edges if a in LAYER and b in LAYER and LAYER[a] == LAYER[b]}

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        return any(b == goal or (b not in seen and reaches(b, goal, seen | {b}))
                   for a, b in same if a == start)

    bad += [f"{a} -> {b}: a cycle within one layer" for a, b in same if reaches(b, a, {b})]
    return sorted(set(bad))


def tree_sources() -> dict[Path, str]:
    return {f.relative_to(ROOT): f.read_text(encoding="utf-8") for f in ROOT.rglob("*.py")}


def test_the_package_graph_flows_one_way():
    assert violations(package_edges(tree_sources())) == []


def test_every_package_is_placed():
    packages = {p.name for p in ROOT.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    modules = {p.stem for p in ROOT.glob("*.py")}
    assert sorted((packages | modules) - set(LAYER)) == []


def test_an_upward_import_is_caught():
    """The check is not vacuous: an upward import, a lazy one, a relative one and a cycle all fail."""
    sources = tree_sources()
    sources[Path("models/_probe.py")] = "def f():\n    from blipctl.workflows import infer\n"
    assert any(v.startswith("models -> workflows: upward") for v in violations(package_edges(sources)))
    rel = {Path("text/_probe.py"): "from ..eval import report\n"}
    assert any(v.startswith("text -> eval: upward") for v in violations(package_edges(rel)))
    cyc = {Path("data/_a.py"): "import blipctl.models.blip\n",
           Path("models/_b.py"): "from blipctl.data import loader\n"}
    assert violations(package_edges(cyc)) == ["data -> models: a cycle within one layer",
                                              "models -> data: a cycle within one layer"]
