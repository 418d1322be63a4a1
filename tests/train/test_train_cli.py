"""`blipctl pretrain` / `finetune` end to end on the tiny corpus: run directory contents,
dry run, strict overrides, init from pretraining, and a bit-exact resume after SIGKILL."""

from __future__ import annotations

import json
import shutil
import time

import pytest
import torch
from conftest import TINY, run_cli, run_killed
from safetensors.torch import load_file


def test_pretrain_writes_a_complete_run_directory(pretrained):
    out, r = pretrained
    names = {p.name for p in out.iterdir()}
    assert {"config.yaml", "metrics.jsonl", "tb", "checkpoints", "loss.png"} <= names
    assert any(p.name.startswith("events.out.tfevents") for p in (out / "tb").iterdir())
    rows = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert [x["step"] for x in rows] == [1, 2, 3, 4]
    assert all(x["itc"] > 0 and x["itm"] > 0 and x["lm"] > 0 for x in rows)
    assert (out / "loss.png").read_bytes()[:4] == b"\x89PNG"
    state = json.loads((out / "checkpoints" / "step_000004" / "state.json").read_text())
    assert state["model"] == "BlipPretrain" and "visual_m.cls_token" in state["frozen"]
    weights = load_file(out / "checkpoints" / "step_000004" / "model.safetensors")
    assert {"image_queue", "text_queue", "ptr_queue", "temp"} <= set(weights)
    assert int(weights["ptr_queue"]) == 4 * 8 % 32  # 4 steps of 8 features went into the queue


def test_dry_run_prints_the_resolved_recipe_and_trains_nothing(tmp_path):
    r = run_cli("finetune", "mini/caption", f"output_dir={tmp_path / 'x'}", "optim.lr=1e-3", "--dry-run")
    assert r.returncode == 0, r.stderr
    assert "_workflow_: blipctl.workflows.train.finetune" in r.stdout and "lr: 0.001" in r.stdout
    assert "grad_accum: 1" in r.stdout and not (tmp_path / "x").exists()


def test_misspelt_override_is_refused_before_any_compute(tmp_path):
    t = time.perf_counter()
    r = run_cli("pretrain", "mini/pretrain", "optim.lrr=1e-3", f"output_dir={tmp_path / 'x'}")
    assert r.returncode == 2 and "optim.lrr" in r.stderr and "did you mean `lr`" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr
    assert not (tmp_path / "x").exists() and time.perf_counter() - t < 20


@pytest.mark.parametrize("override, message", [
    ("codec=null", "the tokenizer (bert-base-uncased) has 30524 ids but the model's vocab_size is 512"),
    ("codec.vocab_file=/nonexistent/vocab.txt", "/nonexistent/vocab.txt: cannot read the vocab file"),
])
def test_a_codec_the_model_cannot_read_is_refused(corpus, tmp_path, override, message):
    root, _ = corpus
    r = run_cli("pretrain", "mini/pretrain", f"data.root={root}", f"output_dir={tmp_path / 'x'}", *TINY,
                "max_steps=1", override)
    assert r.returncode != 0 and message in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr


def test_finetuned_captioner_starts_from_pretraining_and_captions(pretrained, corpus, tmp_path):
    root, _ = corpus
    out = tmp_path / "caption"
    r = run_cli("finetune", "mini/caption", f"data.root={root}", f"output_dir={out}", f"init={pretrained[0]}",
                *TINY, "max_steps=2")
    assert r.returncode == 0, r.stderr
    assert "init: " in r.stderr and "tensors from" in r.stderr
    image = sorted((root / "images" / "clean").glob("*.jpg"))[:2]
    c = run_cli("caption", "--model", str(out), *map(str, image), "--format", "jsonl", "--max-length", "8")
    assert c.returncode == 0, c.stderr
    lines = [json.loads(x) for x in c.stdout.splitlines()]
    assert [x["image"] for x in lines] == list(map(str, image)) and all(x["caption"] for x in lines)


def test_init_copies_the_pretrained_decoder_into_the_captioner(pretrained):
    from blipctl.checkpoints.load import load_model
    from blipctl.checkpoints.warm_start import warm_start
    from blipctl.models.builders import blip_caption_tiny

    pre = load_model(str(pretrained[0]))
    cap = blip_caption_tiny(32)
    warm_start(cap, str(pretrained[0]))
    # the decoder's own self-attention, and what pretraining shares with the encoder
    assert torch.equal(cap.decoder.layers[1].attn.q.weight, pre.decoder.layers[1].attn.q.weight)
    assert torch.equal(cap.decoder.layers[0].mlp.fc1.weight, pre.encoder.layers[0].mlp.fc1.weight)
    assert not torch.equal(pre.decoder.layers[1].attn.q.weight, pre.encoder.layers[1].attn.q.weight)
    for a, b in zip(cap.visual.parameters(), pre.visual.parameters(), strict=True):
        assert torch.equal(a, b)


@pytest.mark.integration
def test_sigkill_then_resume_is_bit_exact(corpus, tmp_path):
    root, _ = corpus
    # 12 steps, killed once step 4 is saved: 8 steps (about 2 s on 2 CPU cores) are left to land
    # the kill in, against a 10-ms poll; the asserts below fail if it landed after the run ended
    steps = 12
    args = ["finetune", "mini/caption", f"data.root={root}", *TINY, f"max_steps={steps}", "save_every=2",
            "optim.epochs=2", "~init"]
    full, cut = tmp_path / "full", tmp_path / "cut"
    final = f"step_{steps:06d}"
    assert run_cli(*args, f"output_dir={full}").returncode == 0
    assert (full / "checkpoints" / final).is_dir()
    run_killed(args, cut, "step_000004")
    assert not (cut / "checkpoints" / final).exists()
    r = run_cli(*args, "--resume", str(cut))
    assert r.returncode == 0, r.stderr
    assert "resuming from" in r.stderr
    rows = lambda d: [json.loads(x) for x in (d / "metrics.jsonl").read_text().splitlines()]  # noqa: E731
    a, b = rows(full), rows(cut)
    assert [x["step"] for x in b] == list(range(1, steps + 1))
    assert [x["loss"] for x in a] == [x["loss"] for x in b]  # every loss, bit for bit
    wa = load_file(full / "checkpoints" / final / "model.safetensors")
    wb = load_file(cut / "checkpoints" / final / "model.safetensors")
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    for name in ("rng_0.pt", "optimizer.pt"):  # the RNGs too, not only what they drew so far
        a, b = (d / "checkpoints" / final / name for d in (full, cut))
        assert a.read_bytes() == b.read_bytes(), name


@pytest.mark.integration
def test_resumed_pretraining_draws_the_same_negatives(corpus, tmp_path):
    # pretraining samples hard negatives from the global RNG: a resume that shifted the RNG by
    # a draw (the data loader's seed, the run log's start) would change the ITM loss
    root, _ = corpus
    args = ["pretrain", "mini/pretrain", f"data.root={root}", *TINY, "max_steps=4", "save_every=2",
            "optim.warmup_steps=2", "model.queue_size=32"]
    full, cut = tmp_path / "full", tmp_path / "cut"
    assert run_cli(*args, f"output_dir={full}").returncode == 0
    (cut / "checkpoints").mkdir(parents=True)
    shutil.copytree(full / "checkpoints" / "step_000002", cut / "checkpoints" / "step_000002")
    shutil.copy(full / "config.yaml", cut / "config.yaml")
    r = run_cli(*args, "--resume", str(cut))
    assert r.returncode == 0, r.stderr
    rows = lambda d: [json.loads(x) for x in (d / "metrics.jsonl").read_text().splitlines()]  # noqa: E731
    assert [x["itm"] for x in rows(full)[2:]] == [x["itm"] for x in rows(cut)]
    a, b = (d / "checkpoints" / "step_000004" for d in (full, cut))
    wa, wb = load_file(a / "model.safetensors"), load_file(b / "model.safetensors")
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    assert (a / "rng_0.pt").read_bytes() == (b / "rng_0.pt").read_bytes()


@pytest.mark.parametrize("task, keys", [("retrieval", {"itc", "itm"}), ("vqa", {"vqa"}),
                                        ("nlvr", {"nlvr", "acc"})])
def test_every_finetune_task_trains_from_pretraining(task, keys, pretrained, corpus, tmp_path):
    root, _ = corpus
    extra = ["model.queue_size=32"] if task == "retrieval" else []
    r = run_cli("finetune", f"mini/{task}", f"data.root={root}", f"output_dir={tmp_path}",
                f"init={pretrained[0]}", *TINY, *extra, "max_steps=2")
    assert r.returncode == 0, r.stderr
    assert "tensors from" in r.stderr
    rows = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert len(rows) == 2 and keys <= set(rows[-1]) and all(r["loss"] > 0 for r in rows)
