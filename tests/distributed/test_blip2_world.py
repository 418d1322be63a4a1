"""BLIP-2 training across 2 gloo processes equals one process on the world batch: stage 1
(ITC columns gathered without gradient and offset by rank, ITM's hard negatives drawn for the
world batch, ITG's token mean over the world) and stage 2 with a frozen LM, under DDP; and
stage 2 under DeepSpeed ZeRO-2."""

from __future__ import annotations

import json

import pytest
from blip2_fixtures import opt_lm
from conftest import run_cli
from test_engine_world import _torchrun

SMALL = ["data.image_size=32", "data.workers=0", "log_every=1", "max_steps=3", "save_every=3",
         "optim.warmup_steps=1"]
PARTS = ("loss", "itc", "itm", "itg", "lm")


def _rows(run) -> list[dict]:
    return [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]


def _same(a, b, parts=PARTS):
    assert len(a) == len(b) == 3
    for x, y in zip(a, b, strict=True):
        for k in parts:
            if k in x:
                assert y[k] == pytest.approx(x[k], rel=1e-4), (k, x, y)


@pytest.mark.integration
def test_stage1_ddp_equals_one_process(pretrained, corpus, tmp_path):
    root, _ = corpus
    args = ["pretrain", "mini/blip2_stage1", f"data.root={root}", *SMALL,
            f"model.vision.source={pretrained[0]}", f"model.qformer.init={pretrained[0]}"]
    one = run_cli(*args, "data.batch_size=8", f"output_dir={tmp_path / 'one'}")
    assert one.returncode == 0, one.stderr
    ddp = _torchrun(*args, "data.batch_size=4", f"output_dir={tmp_path / 'ddp'}")
    assert ddp.returncode == 0, ddp.stderr[-3000:]
    ref = _rows(tmp_path / "one")
    assert ref[0]["loss"] != ref[-1]["loss"] and all(r["itm"] > 0 for r in ref)
    _same(ref, _rows(tmp_path / "ddp"))


def _stage2(pretrained, corpus, tmp_path) -> list[str]:
    """The stage-2 arguments with a tiny frozen OPT, after the one-process reference run."""
    root, _ = corpus
    opt_lm(tmp_path / "opt")
    args = ["pretrain", "mini/blip2_opt", f"data.root={root}", *SMALL,
            f"model.vision.source={pretrained[0]}", f"model.llm.source={tmp_path / 'opt'}", "~init"]
    one = run_cli(*args, "data.batch_size=8", f"output_dir={tmp_path / 'one'}")
    assert one.returncode == 0, one.stderr
    return args


@pytest.mark.integration
def test_stage2_ddp_and_zero2_equal_one_process_with_a_frozen_lm(pretrained, corpus, tmp_path):
    args = _stage2(pretrained, corpus, tmp_path)
    ddp = _torchrun(*args, "data.batch_size=4", f"output_dir={tmp_path / 'ddp'}")
    assert ddp.returncode == 0, ddp.stderr[-3000:]
    zero = _torchrun(*args, "data.batch_size=4", f"output_dir={tmp_path / 'zero2'}",
                     "+deepspeed={zero_optimization: {stage: 2}}")
    assert zero.returncode == 0, zero.stderr[-3000:]
    ref = _rows(tmp_path / "one")
    assert ref[0]["loss"] != ref[-1]["loss"]
    _same(ref, _rows(tmp_path / "ddp"))
    _same(ref, _rows(tmp_path / "zero2"))
    ckpt = tmp_path / "zero2" / "checkpoints" / "step_000003"
    refs = json.loads((ckpt / "frozen.json").read_text())["tensors"]
    assert any(n.startswith("llm.") for n in refs)


@pytest.mark.slow
@pytest.mark.integration
def test_stage2_zero3_shards_the_frozen_lm_and_equals_one_process(pretrained, corpus, tmp_path):
    """ZeRO-3 partitions every parameter, the frozen LM's too (how a 7B-13B LM fits); the loss is
    one process's, and the checkpoint still references the LM instead of storing it."""
    args = _stage2(pretrained, corpus, tmp_path)
    zero = _torchrun(*args, "data.batch_size=4", f"output_dir={tmp_path / 'zero3'}",
                     "+deepspeed={zero_optimization: {stage: 3}}")
    assert zero.returncode == 0, zero.stderr[-3000:]
    _same(_rows(tmp_path / "one"), _rows(tmp_path / "zero3"))
    ckpt = tmp_path / "zero3" / "checkpoints" / "step_000003"
    refs = json.loads((ckpt / "frozen.json").read_text())["tensors"]
    assert any(n.startswith("llm.") for n in refs)
    from safetensors.torch import load_file

    assert not any(k.startswith("llm.") for k in load_file(ckpt / "model.safetensors"))
