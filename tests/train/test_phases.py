"""The engine's phases on a toy module and task, in-process: no recipe, data directory or
subprocess (`tests/train/toy.py`)."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from toy import Toy, ToyTask, batch, batches, toy_run

from blipctl.engine import checkpoint
from blipctl.engine.loop import (
    TrainConfig,
    close_run,
    frozen_by_reference,
    log_step,
    save_step,
    train,
    train_step,
)
from blipctl.engine.runlog import loss_names, plot_losses
from blipctl.errors import BlipctlError

SGD = {"optimizer": {"_component_": "torch.optim.SGD"}, "weight_decay": 0.0, "lr": 0.1}


def test_two_steps_reduce_the_toy_loss_and_log_the_tasks_names(tmp_path):
    one = batches(1)[0]
    run = toy_run(tmp_path, [one, one], optim={"lr": 0.05})
    first = train_step(run, one)
    assert run.step == 1 and run.batch == 1
    row = log_step(run)
    second = train_step(run, one)
    assert second["loss"] < first["loss"]
    assert set(first) == {"loss", "itg", "acc"}  # what the task returned, nothing renamed
    assert set(row) == {"step", "epoch", "lr", "loss", "itg", "acc", "img_per_s", "skipped"}
    assert row["loss"] == first["loss"] and row["step"] == 1 and row["lr"] == 0.05
    log_step(run)
    assert close_run(run)["step"] == 2
    rows = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2] and loss_names(rows) == ["loss", "itg"]
    assert (tmp_path / "loss.png").read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / "config.yaml").read_text() == "toy: true\n"


def test_grad_accumulation_matches_the_bigger_batch(tmp_path):
    small = batches(2, size=4)
    big = batch(torch.cat([b["x"] for b in small]))
    accum = toy_run(tmp_path / "a", small, optim={**SGD, "grad_accum": 2})
    whole = toy_run(tmp_path / "b", [big], optim=SGD)
    out = [train_step(accum, small[0])]
    assert accum.step == 0 and all(p.grad is not None for p in accum.params)  # no step mid-accumulation
    out.append(train_step(accum, small[1]))
    train_step(whole, big)
    assert accum.step == whole.step == 1
    for a, b in zip(accum.model.parameters(), whole.model.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-6)
    assert log_step(accum)["loss"] == pytest.approx((out[0]["loss"] + out[1]["loss"]) / 2)


def test_the_loop_drops_an_epochs_tail_and_counts_epochs(tmp_path):
    # 5 micro-batches, 2 per step: 2 steps an epoch, the fifth batch is dropped
    run = toy_run(tmp_path, batches(5), optim={"grad_accum": 2, "epochs": 2}, save_every=100)
    last = train(run)
    assert (run.steps_per_epoch, run.total, run.step, run.epoch) == (2, 4, 4, 2)
    rows = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [(r["step"], r["epoch"]) for r in rows] == [(1, 0), (2, 0), (3, 1), (4, 1)] and last == rows[-1]
    assert [p.name for p in checkpoint.checkpoints(tmp_path)] == ["step_000004"]  # the last step saves


def test_unreadable_items_stop_the_run_unless_skipped(tmp_path):
    class Bad:
        reason, where = "cannot decode", "a.jpg"

    empty = batch(torch.zeros(0, 4), bad=[Bad(), Bad()])
    with pytest.raises(BlipctlError, match=r"cannot decode \(a.jpg\); data.skip_bad=true"):
        train_step(toy_run(tmp_path / "a", [empty]), empty)
    run = toy_run(tmp_path / "b", [empty], data={"skip_bad": True})
    assert train_step(run, empty) == {} and (run.batch, run.step, run.skipped) == (1, 0, 2)


@pytest.mark.parametrize("at", [2, 4])  # mid-epoch, and an epoch's end
def test_resume_is_bit_exact(at, tmp_path):
    # with dropout, and a DataLoader that draws from the global RNG as it starts
    data, kw = batches(4), {"save_every": 2, "keep": 10, "optim": {"epochs": 2}}
    straight = toy_run(tmp_path / "straight", data, Toy(dropout=0.25), **kw)
    train(straight)
    ckpt = tmp_path / "straight" / "checkpoints" / f"step_{at:06d}"
    state = checkpoint.read_state(ckpt)
    assert (state["epoch"], state["batch"]) == ((0, 2) if at == 2 else (1, 0))
    shutil.copytree(ckpt, tmp_path / "cut" / "checkpoints" / ckpt.name)
    shutil.copy(tmp_path / "straight" / "metrics.jsonl", tmp_path / "cut" / "metrics.jsonl")
    model = Toy(seed=7, dropout=0.25)  # other initial weights: the checkpoint must overwrite them
    state = checkpoint.load_weights(ckpt, model)
    resumed = toy_run(tmp_path / "cut", data, model, ckpt=ckpt, state=state, **kw)
    assert (resumed.step, resumed.epoch, resumed.batch) == (at, state["epoch"], state["batch"])
    train(resumed)
    for a, b in zip(straight.model.parameters(), resumed.model.parameters(), strict=True):
        assert torch.equal(a, b)
    rows = lambda d: [json.loads(x)["loss"] for x in (d / "metrics.jsonl").read_text().splitlines()]  # noqa: E731
    assert rows(tmp_path / "straight") == rows(tmp_path / "cut")
    final = [tmp_path / d / "checkpoints" / "step_000008" / "rng_0.pt" for d in ("straight", "cut")]
    assert final[0].read_bytes() == final[1].read_bytes()  # the RNGs too, not only what they drew


def test_log_and_save_cadence(tmp_path):
    run = toy_run(tmp_path, batches(6), log_every=2, save_every=4)
    logged, saved = [], []
    for b in run.data.batches:
        train_step(run, b)
        logged.append(log_step(run) is not None)
        saved.append(save_step(run) is not None)
    assert logged == [False, True, False, True, False, True]  # step 6 is also the last
    assert saved == [False, False, False, True, False, True]


def test_frozen_parameters_are_recorded_by_reference_to_init(tmp_path, monkeypatch):
    cfg = TrainConfig(init="Salesforce/blip-image-captioning-base", freeze=["tower"])
    names = ("tower.0.weight", "tower.0.bias", "tower.3.weight", "tower.3.bias")
    assert frozen_by_reference(Toy(), cfg) == dict.fromkeys(names, cfg.init)
    assert frozen_by_reference(Toy(), TrainConfig(freeze=["tower"])) == {}
    seen = {}
    monkeypatch.setattr(checkpoint, "save", lambda *a, **kw: seen.update(kw) or tmp_path)
    run = toy_run(tmp_path, batches(1), save_every=1)
    run.frozen = {"tower.0.weight": "hub/id"}
    train_step(run, run.data.batches[0])
    save_step(run)
    assert seen == {"frozen": {"tower.0.weight": "hub/id"}}


def test_loss_names_come_from_the_rows_not_a_list_of_blip_losses(tmp_path):
    rows = [{"step": 1, "epoch": 0, "lr": 1e-4, "loss": 3.0, "itg": 2.0, "prefix_lm": 1.0, "acc": 0.5,
             "itm_acc": 0.7, "img_per_s": 9.0, "skipped": 0},
            {"step": 2, "loss": 2.0, "itg": 1.0, "nlvr": 1.0}]
    assert loss_names(rows) == ["loss", "itg", "prefix_lm", "nlvr"]
    assert loss_names(rows, not_losses=("prefix_lm",)) == ["loss", "itg", "nlvr"]  # a task's `metrics`
    path = tmp_path / "metrics.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    plot_losses(path, tmp_path / "loss.png")
    assert (tmp_path / "loss.png").read_bytes()[:4] == b"\x89PNG"


def test_a_tasks_declared_metrics_are_not_plotted(tmp_path):
    task = ToyTask()
    task.metrics = ("itg",)
    run = toy_run(tmp_path, batches(1), task=task)
    assert run.log.not_losses == ("itg",)
    train(run)
    rows = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert loss_names(rows, run.log.not_losses) == ["loss"]
