"""The same seed gives the same bytes at 2 CPU threads: a chain of subcommands run twice, and
`mini/pretrain` with its own settings killed and resumed. Without deterministic kernels both
failed: the backward of ITM's hard-negative gather adds with parallel atomics, and the runs
drifted apart from the first step (recipes/README.md)."""

from __future__ import annotations

import pytest
import torch
from conftest import run_cli, run_killed
from safetensors.torch import load_file

TWO_THREADS = {"OMP_NUM_THREADS": "2"}


def same_weights(a, b) -> list[str]:
    """The tensors that differ between two safetensors files."""
    wa, wb = load_file(a), load_file(b)
    assert wa.keys() == wb.keys()
    return [k for k in wa if not torch.equal(wa[k], wb[k])]


@pytest.mark.integration
def test_mini_pretrain_killed_and_resumed_ends_bit_identical(corpus, tmp_path):
    root, _ = corpus
    # the recipe's own image size, batch, workers and schedule; only the length is cut
    args = ["pretrain", "mini/pretrain", f"data.root={root}", "max_steps=12", "save_every=4", "log_every=1"]
    full, cut = tmp_path / "full", tmp_path / "cut"
    r = run_cli(*args, f"output_dir={full}", env=TWO_THREADS)
    assert r.returncode == 0, r.stderr
    run_killed(args, cut, "step_000004", env=TWO_THREADS)
    assert not (cut / "checkpoints" / "step_000012").exists()
    r = run_cli(*args, "--resume", str(cut), env=TWO_THREADS)
    assert r.returncode == 0 and "resuming from" in r.stderr, r.stderr
    a, b = (d / "checkpoints" / "step_000012" for d in (full, cut))
    assert same_weights(a / "model.safetensors", b / "model.safetensors") == []
    assert (a / "optimizer.pt").read_bytes() == (b / "optimizer.pt").read_bytes()


@pytest.mark.integration
def test_pretrain_bootstrap_eval_chain_twice_is_byte_identical(corpus, tmp_path):
    root, _ = corpus
    outs = []
    for name in ("a", "b"):
        d = tmp_path / name
        # 32 px, 16 images a batch: the ITM gather's gradient (16 x 17 x 128) is large enough
        # for the parallel kernel that made runs differ
        steps = [("pretrain", "mini/pretrain", f"data.root={root}", f"output_dir={d / 'pretrain'}",
                  "data.image_size=32", "model.image_size=32", "data.batch_size=16", "max_steps=6"),
                 ("bootstrap", "mini/bootstrap", f"input.root={root}", f"output_dir={d / 'capfilt'}",
                  f"captioner.model={d / 'pretrain'}", f"filter.model={d / 'pretrain'}",
                  "input.shard_size=24", "batch_size=8"),
                 ("eval", "mini/eval_retrieval", "--model", str(d / "pretrain"), f"data.root={root}",
                  f"output_dir={d / 'eval'}", "task.k_test=8")]
        for args in steps:
            r = run_cli(*args, env=TWO_THREADS)
            assert r.returncode == 0, (args[0], r.stderr)
        outs.append(d)
    a, b = outs
    ckpt = "pretrain/checkpoints/step_000006/model.safetensors"
    assert same_weights(a / ckpt, b / ckpt) == []
    for f in ("capfilt/annotations.json", "eval/metrics.json", "eval/scores_i2t.npy", "eval/scores_t2i.npy"):
        # the files name their own run directory; nothing else may differ
        assert (a / f).read_bytes().replace(bytes(a), bytes(b)) == (b / f).read_bytes(), f
