"""Shell completion scripts: in sync with the CLI, and working in a real bash."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from blipctl.cli import app
from blipctl.cli.completions import render_all
from blipctl.config import list_recipes

ROOT = Path(__file__).resolve().parents[2]


def test_completions_in_sync_with_cli():
    expected = render_all(app, [n for n, _, _ in list_recipes()])
    for name, text in expected.items():
        assert (ROOT / "completions" / name).read_text() == text, (
            f"completions/{name} drifted from the CLI: run python scripts/gen_completions.py")


def _bash_complete(words: list[str]) -> list[str]:
    script = (f"source {ROOT / 'completions' / 'blipctl.bash'}\n"
              f"COMP_WORDS=({' '.join(repr(w) for w in words)}); COMP_CWORD={len(words) - 1}\n"
              "_blipctl; printf '%s\\n' \"${COMPREPLY[@]}\"")
    out = subprocess.run(["bash", "-c", script], capture_output=True, text=True, cwd=ROOT)
    return [x for x in out.stdout.splitlines() if x]


@pytest.mark.parametrize("name", ["blipctl.bash", "_blipctl", "blipctl.fish"])
def test_completion_runs_no_python(name):
    """The scripts are static: completing never starts Python, so it never imports torch."""
    text = (ROOT / "completions" / name).read_text()
    assert "python" not in text.lower()
    calls = [line for line in text.splitlines() if "blipctl " in line and "$(" in line
             and "_blipctl" not in line.split("$(")[1][:9]]
    assert not calls, calls


@pytest.mark.parametrize("words, expected", [
    (["blipctl", ""], ["bootstrap", "caption", "data", "eval", "export", "finetune", "pretrain", "recipes",
     "vqa"]),
    (["blipctl", "data", "sy"], ["synth"]),
    (["blipctl", "recipes", "show", "mini/c"], ["mini/caption", "mini/corpus"]),
    (["blipctl", "finetune", "mini/p"], ["mini/pretrain"]),
    (["blipctl", "pretrain", "--d"], ["--dry-run"]),
    (["blipctl", "data", "synth", "--n"], ["--noise"]),
    (["blipctl", "recipes", "validate", "--a"], ["--all"]),
])
def test_bash_completion(words, expected):
    assert _bash_complete(words) == expected


@pytest.mark.parametrize("shell, name", [("zsh", "_blipctl"), ("fish", "blipctl.fish")])
def test_other_shells_parse(shell, name):
    if not shutil.which(shell):
        pytest.skip(f"{shell} is not installed")
    proc = subprocess.run([shell, "-n", str(ROOT / "completions" / name)], capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stderr
