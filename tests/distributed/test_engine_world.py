"""The engine across 2 gloo processes: DDP and DeepSpeed ZeRO-2 train like one process on the
world batch, and their checkpoints load back."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch
from conftest import run_cli
from safetensors.torch import load_file
from test_objectives_world import free_port

ARGS = ["finetune", "mini/caption", "~init", "data.image_size=32", "model.image_size=32",
        "data.workers=0", "max_steps=3", "log_every=1", "save_every=3"]


def _torchrun(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2",
                           f"--master_port={free_port()}", "-m", "blipctl", *args],
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})


def _losses(run) -> list[float]:
    return [json.loads(x)["loss"] for x in (run / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.integration
def test_ddp_and_zero2_match_one_process_on_the_world_batch(corpus, tmp_path):
    root, _ = corpus
    one = run_cli(*ARGS, f"data.root={root}", "data.batch_size=8", f"output_dir={tmp_path / 'one'}")
    assert one.returncode == 0, one.stderr
    ddp = _torchrun(*ARGS, f"data.root={root}", "data.batch_size=4", f"output_dir={tmp_path / 'ddp'}")
    assert ddp.returncode == 0, ddp.stderr[-3000:]
    zero = _torchrun(*ARGS, f"data.root={root}", "data.batch_size=4", f"output_dir={tmp_path / 'zero2'}",
                     "+deepspeed={zero_optimization: {stage: 2}}")
    assert zero.returncode == 0, zero.stderr[-3000:]
    ref = _losses(tmp_path / "one")
    assert len(ref) == 3 and ref[0] != ref[-1]
    for run in ("ddp", "zero2"):
        # reduction order differs (all-reduce vs reduce-scatter) and Adam magnifies it a little
        assert _losses(tmp_path / run) == pytest.approx(ref, rel=1e-4), run
    ckpt = tmp_path / "zero2" / "checkpoints" / "step_000003"
    assert (ckpt / "deepspeed").is_dir() and (ckpt / "rng_1.pt").exists()
    image = sorted((root / "images" / "clean").glob("*.jpg"))[0]
    cap = run_cli("caption", "--model", str(tmp_path / "zero2"), str(image), "--max-length", "6")
    assert cap.returncode == 0 and cap.stdout.strip(), cap.stderr


@pytest.mark.integration
def test_parameter_groups_and_a_bf16_tower_under_ddp_match_one_process(corpus, tmp_path):
    # no decay on 1-D parameters, a smaller lr for one layer, and the frozen ViT held in bf16:
    # DDP broadcasts and reduces parameters of two dtypes
    root, _ = corpus
    new = ["optim.no_decay_1d=true", "+optim.lr_scale={decoder.layers.0: 0.5}", "freeze=[visual]",
           "precision={autocast: fp32, modules: {visual: bf16}}"]
    one = run_cli(*ARGS, *new, f"data.root={root}", "data.batch_size=8", f"output_dir={tmp_path / 'one'}")
    assert one.returncode == 0, one.stderr
    ddp = _torchrun(*ARGS, *new, f"data.root={root}", "data.batch_size=4", f"output_dir={tmp_path / 'ddp'}")
    assert ddp.returncode == 0, ddp.stderr[-3000:]
    ref = _losses(tmp_path / "one")
    assert len(ref) == 3 and ref[0] != ref[-1]
    assert _losses(tmp_path / "ddp") == pytest.approx(ref, rel=1e-4)
    weights = load_file(tmp_path / "ddp" / "checkpoints" / "step_000003" / "model.safetensors")
    assert {v.dtype for k, v in weights.items() if k.startswith("visual.")} == {torch.bfloat16}


@pytest.mark.slow
@pytest.mark.integration
@pytest.mark.parametrize("stage", [1, 3])
def test_zero_stages_1_and_3_match_one_process(stage, corpus, tmp_path):
    root, _ = corpus
    one = run_cli(*ARGS, f"data.root={root}", "data.batch_size=8", f"output_dir={tmp_path / 'one'}")
    assert one.returncode == 0, one.stderr
    zero = _torchrun(*ARGS, f"data.root={root}", "data.batch_size=4", f"output_dir={tmp_path / 'zero'}",
                     f"+deepspeed={{zero_optimization: {{stage: {stage}}}}}")
    assert zero.returncode == 0, zero.stderr[-3000:]
    ref = _losses(tmp_path / "one")
    assert _losses(tmp_path / "zero") == pytest.approx(ref, rel=1e-4)


@pytest.mark.integration
def test_zero2_resume_is_bit_exact_and_saves_frozen_weights_once(pretrained, corpus, tmp_path):
    """Under DeepSpeed a frozen tower is referenced (frozen.json), not in DeepSpeed's module copy
    nor in model.safetensors, and a resume from the middle checkpoint ends bit-exactly."""
    import shutil

    root, _ = corpus
    args = [*ARGS, "max_steps=4", "save_every=2", f"data.root={root}", "data.batch_size=4",
            f"init={pretrained[0]}", "freeze=[visual]", "+deepspeed={zero_optimization: {stage: 2}}"]
    full = _torchrun(*args, f"output_dir={tmp_path / 'full'}")
    assert full.returncode == 0, full.stderr[-3000:]
    ckpt = tmp_path / "full" / "checkpoints" / "step_000004"
    refs = json.loads((ckpt / "frozen.json").read_text())["tensors"]
    assert refs and all(k.startswith("visual.") for k in refs)
    weights = load_file(ckpt / "model.safetensors")
    assert not any(k.startswith("visual.") for k in weights)
    (states,) = (ckpt / "deepspeed").rglob("mp_rank_00_model_states.pt")
    module = torch.load(states, map_location="cpu", weights_only=False)["module"]  # our own file
    assert module and not any(".visual." in k or k.startswith("visual.") for k in module)
    shutil.copytree(tmp_path / "full", tmp_path / "cut")
    shutil.rmtree(tmp_path / "cut" / "checkpoints" / "step_000004")
    resumed = _torchrun(*args, f"output_dir={tmp_path / 'cut'}", "--resume", str(tmp_path / "cut"))
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    again = load_file(tmp_path / "cut" / "checkpoints" / "step_000004" / "model.safetensors")
    assert again.keys() == weights.keys() and all(torch.equal(again[k], weights[k]) for k in weights)
