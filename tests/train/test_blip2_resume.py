"""BLIP-2 stage 2 through the CLI with a frozen LM: a run killed (SIGKILL) and resumed ends
bit-identical to the run that was not; its checkpoints hold no tensor of the LM or the tower
(frozen.json references them, and the recipe reads them from their sources again); a source
that has changed since is refused in one line."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from blip2_fixtures import opt_lm
from conftest import run_cli, run_killed
from safetensors.torch import load_file

SMALL = ["data.image_size=32", "data.batch_size=8", "data.workers=0", "log_every=1"]


@pytest.fixture(scope="module")
def opt_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("opt")
    opt_lm(out)
    return out


def _args(root, vision, llm):
    return ["pretrain", "mini/blip2_opt", f"data.root={root}", *SMALL, f"model.vision.source={vision}",
            f"model.llm.source={llm}", "~init", "max_steps=6", "save_every=2", "optim.warmup_steps=2"]


def _losses(run) -> list[float]:
    return [json.loads(x)["loss"] for x in (run / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.integration
def test_stage2_resume_after_sigkill_is_bit_exact_and_stores_no_frozen_tensors(pretrained, corpus, opt_dir,
                                                                               tmp_path):
    root, _ = corpus
    args = _args(root, pretrained[0], opt_dir)
    full = run_cli(*args, f"output_dir={tmp_path / 'full'}", env={"OMP_NUM_THREADS": "2"})
    assert full.returncode == 0, full.stderr
    ckpt = tmp_path / "full" / "checkpoints" / "step_000006"
    weights = load_file(ckpt / "model.safetensors")
    assert weights and not any(k.startswith(("llm.", "visual.")) for k in weights)
    refs = json.loads((ckpt / "frozen.json").read_text())["tensors"]
    lm_names = {n for n in refs if n.startswith("llm.")}
    assert lm_names and all(refs[n]["built"] and refs[n]["source"] == str(opt_dir.resolve())
                            for n in lm_names)
    assert any(n.startswith("visual.") for n in refs)
    optimizer = torch.load(ckpt / "optimizer.pt", weights_only=True)
    # what is stored is what trains: ln_vision, the queries, the Q-Former and the projection
    assert len(optimizer["state"]) == len(weights)
    assert {k.split(".")[0] for k in weights} == {"ln_vision", "qformer", "proj"}

    cut = tmp_path / "cut"
    run_killed(args, cut, "step_000004", env={"OMP_NUM_THREADS": "2"})
    shutil.rmtree(cut / "checkpoints" / "step_000006", ignore_errors=True)
    resumed = run_cli(*args, f"output_dir={cut}", "--resume", str(cut), env={"OMP_NUM_THREADS": "2"})
    assert resumed.returncode == 0, resumed.stderr
    again = load_file(cut / "checkpoints" / "step_000006" / "model.safetensors")
    assert again.keys() == weights.keys() and all(torch.equal(again[k], weights[k]) for k in weights)
    ref = _losses(tmp_path / "full")
    assert len(ref) == 6 and ref[0] != ref[-1] and _losses(cut)[-2:] == ref[-2:]

    # the LM changes on disk: the run's checkpoints no longer load, and say why in one line
    image = sorted((root / "images" / "clean").glob("*.jpg"))[0]
    ok = run_cli("caption", "--model", str(tmp_path / "full"), str(image))
    assert ok.returncode == 0 and ok.stdout.strip(), ok.stderr
    state = load_file(opt_dir / "model.safetensors")
    name = next(k for k in state if k.endswith("fc1.weight"))
    state[name] = state[name] + 1
    from safetensors.torch import save_file

    save_file(state, str(opt_dir / "model.safetensors"), metadata={"format": "pt"})
    bad = run_cli("caption", "--model", str(tmp_path / "full"), str(image))
    assert bad.returncode != 0 and "source has changed" in bad.stderr and "Traceback" not in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1, bad.stderr
