"""Shared fixtures: a small synthetic corpus, and running the CLI in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never hang on hub lookups in tests


@pytest.fixture(scope="session")
def corpus(tmp_path_factory):
    """A 120-image corpus written once per session; returns (directory, manifest)."""
    from blipctl.data.synth.corpus import generate
    from blipctl.data.synth.spec import SynthSpec

    out = tmp_path_factory.mktemp("corpus")
    manifest = generate(SynthSpec(images=120, seed=3, shard_size=25, workers=1), out)
    return out, manifest


def run_cli(*args: str, env: dict | None = None, cwd=None) -> subprocess.CompletedProcess:
    """`python -m blipctl ARGS` in a subprocess, capturing text output."""
    return subprocess.run([sys.executable, "-m", "blipctl", *args], capture_output=True,
                          text=True, env={**os.environ, **(env or {})}, cwd=cwd, timeout=300)
