"""Shared fixtures: a small synthetic corpus, and running the CLI in a subprocess."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never hang on hub lookups in tests


@pytest.fixture(scope="session")
def corpus(tmp_path_factory):
    """A 120-image corpus written once per session; returns (directory, manifest)."""
    from blipctl.data.synth.corpus import generate
    from blipctl.data.synth.spec import SynthSpec

    out = tmp_path_factory.mktemp("corpus")
    manifest = generate(SynthSpec(images=120, seed=3, shard_size=25, workers=1), out)
    return out, manifest


# CPU-sized training overrides for the mini recipes on the test corpus
TINY = ["data.image_size=32", "model.image_size=32", "data.batch_size=8", "data.workers=0", "log_every=1"]


@pytest.fixture(scope="session")
def pretrained(corpus, tmp_path_factory):
    """A tiny `blipctl pretrain` run (4 steps) on the test corpus: (run dir, completed process)."""
    root, _ = corpus
    out = tmp_path_factory.mktemp("runs") / "pretrain"
    r = run_cli("pretrain", "mini/pretrain", f"data.root={root}", f"output_dir={out}", *TINY,
                "max_steps=4", "optim.warmup_steps=2", "model.queue_size=32")
    assert r.returncode == 0, r.stderr
    return out, r


def run_cli(*args: str, env: dict | None = None, cwd=None) -> subprocess.CompletedProcess:
    """`python -m blipctl ARGS` in a subprocess, capturing text output."""
    return subprocess.run([sys.executable, "-m", "blipctl", *args], capture_output=True,
                          text=True, env={**os.environ, **(env or {})}, cwd=cwd, timeout=300)


def run_killed(args: list[str], out, after: str, env: dict | None = None) -> None:
    """Starts `python -m blipctl ARGS output_dir=OUT` and SIGKILLs it as soon as checkpoint
    `after` (e.g. step_000004) exists; fails if the run ends before it can be killed."""
    proc = subprocess.Popen([sys.executable, "-m", "blipctl", *args, f"output_dir={out}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, **(env or {})})
    deadline = time.time() + 120
    while not (out / "checkpoints" / after).exists():
        assert proc.poll() is None and time.time() < deadline, "the run ended before it could be killed"
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL  # killed, not finished


# ---- tiny transformers BLIP checkpoints ----------------------------------------------------
# transformers initialises BLIP's vision embeddings with std 1e-10 and a default-init decoder
# repeats one token, so parity on default weights passes vacuously: re-initialise first.
# 64-dim heads, as every BLIP model has: original .pth files carry no head count
TINY_VISION = dict(hidden_size=128, num_hidden_layers=2, num_attention_heads=2, intermediate_size=256,
                   image_size=32, patch_size=8, layer_norm_eps=1e-6)  # BLIP ViT eps
TINY_TEXT = dict(hidden_size=128, num_hidden_layers=2, num_attention_heads=2, intermediate_size=256,
                 vocab_size=30524, encoder_hidden_size=128, max_position_embeddings=64,
                 hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)


def reinit(model: torch.nn.Module, seed: int = 0, std: float = 0.1) -> None:
    """Every weight redrawn: matrices and embeddings N(0, std), LayerNorms around 1."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name.lower() and name.endswith("weight"):
                p.copy_(1 + 0.1 * torch.randn(p.shape, generator=g))
            else:
                p.copy_(std * torch.randn(p.shape, generator=g))


def tiny_blip_config():
    from transformers import BlipConfig

    return BlipConfig(vision_config=TINY_VISION, text_config=TINY_TEXT)


def _saved_tiny(tmp_path_factory, class_name: str, seed: int):
    """A tiny transformers Blip* model, re-initialised and saved; returns (dir, model)."""
    import transformers

    torch.manual_seed(0)
    model = getattr(transformers, class_name)(tiny_blip_config()).eval()
    reinit(model, seed=seed)
    out = tmp_path_factory.mktemp(class_name)
    model.save_pretrained(out)
    return out, model


@pytest.fixture(scope="session")
def hf_caption_dir(tmp_path_factory):
    return _saved_tiny(tmp_path_factory, "BlipForConditionalGeneration", seed=0)


@pytest.fixture(scope="session")
def hf_retrieval_dir(tmp_path_factory):
    return _saved_tiny(tmp_path_factory, "BlipForImageTextRetrieval", seed=1)


@pytest.fixture(scope="session")
def hf_vqa_dir(tmp_path_factory):
    return _saved_tiny(tmp_path_factory, "BlipForQuestionAnswering", seed=2)


@pytest.fixture
def images():
    return torch.randn(3, 3, 32, 32, generator=torch.Generator().manual_seed(1))
