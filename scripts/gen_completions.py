"""Regenerates completions/ from the CLI: `python scripts/gen_completions.py [--check]`."""

from __future__ import annotations

import sys
from pathlib import Path

from blipctl.cli import app
from blipctl.cli.completions import render_all
from blipctl.config import list_recipes

OUT = Path(__file__).resolve().parents[1] / "completions"


def main() -> int:
    check = "--check" in sys.argv
    stale = []
    for name, text in render_all(app, [n for n, _, _ in list_recipes()]).items():
        path = OUT / name
        if check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(name)
        else:
            path.write_text(text, encoding="utf-8")
    if stale:
        print(f"completions out of date: {', '.join(stale)}; run python scripts/gen_completions.py",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
