"""The mini BLIP-2 chain through the CLI, as `make demo-blip2` runs it, at test size: an LM
pretrained on the corpus's text, stage 1 from the mini BLIP's frozen tower, stage 2 into the
frozen LM (read from its run directory), then caption, zero-shot VQA and retrieval evaluations."""

from __future__ import annotations

import json

import pytest
from conftest import run_cli

SMALL = ["data.workers=0", "log_every=1", "max_steps=3", "optim.warmup_steps=1"]


@pytest.mark.integration
def test_the_mini_blip2_chain_runs_and_evaluates(pretrained, corpus, tmp_path):
    root, _ = corpus
    vision = f"model.vision.source={pretrained[0]}"
    lm = run_cli("pretrain", "mini/lm_opt", f"data.root={root}", f"output_dir={tmp_path / 'opt'}", *SMALL,
                 "data.batch_size=16")
    assert lm.returncode == 0, lm.stderr
    s1 = run_cli("pretrain", "mini/blip2_stage1", f"data.root={root}", f"output_dir={tmp_path / 's1'}",
                 *SMALL, "data.image_size=32", "data.batch_size=8", vision,
                 f"model.qformer.init={pretrained[0]}")
    assert s1.returncode == 0, s1.stderr
    s2 = run_cli("pretrain", "mini/blip2_opt", f"data.root={root}", f"output_dir={tmp_path / 's2'}", *SMALL,
                 "data.image_size=32", "data.batch_size=8", vision, f"model.llm.source={tmp_path / 'opt'}",
                 f"init={tmp_path / 's1'}")
    assert s2.returncode == 0, s2.stderr
    assert f"tensors from {tmp_path / 's1'}" in s2.stderr  # the Q-Former side from stage 1
    evals = (("mini/eval_blip2_caption", "s2", "cider"), ("mini/eval_blip2_vqa", "s2", "overall"),
             ("mini/eval_retrieval", "s1", "tr_r1"))
    for recipe, model, key in evals:
        out = tmp_path / "eval" / recipe.split("/")[1]
        r = run_cli("eval", recipe, "--model", str(tmp_path / model), f"data.root={root}",
                    f"output_dir={out}", "data.image_size=32", "data.workers=0", "data.batch_size=16")
        assert r.returncode == 0, r.stderr
        assert key in json.loads((out / "metrics.json").read_text())
