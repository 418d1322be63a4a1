"""BLIP's learning-rate schedules against hand-computed values."""

from __future__ import annotations

import math

import pytest

from blipctl.engine.schedule import OptimConfig, lr_at


def test_cosine_per_epoch_as_blip_fine_tunes():
    cfg = OptimConfig(lr=1e-5, min_lr=0.0, schedule="cosine", epochs=5)
    assert [lr_at(cfg, e, 123) for e in (0, 5)] == pytest.approx([1e-5, 0.0])
    assert lr_at(cfg, 2, 0) == pytest.approx(1e-5 * 0.5 * (1 + math.cos(math.pi * 2 / 5)))


def test_step_decay_with_warmup_as_blip_pretrains():
    cfg = OptimConfig(lr=3e-4, min_lr=1e-6, warmup_lr=1e-6, warmup_steps=3000, decay_rate=0.9,
                      schedule="step", epochs=20)
    assert lr_at(cfg, 0, 0) == pytest.approx(1e-6)
    assert lr_at(cfg, 0, 1500) == pytest.approx(1e-6 + (3e-4 - 1e-6) / 2)
    assert lr_at(cfg, 0, 5000) == pytest.approx(3e-4)
    assert lr_at(cfg, 3, 0) == pytest.approx(3e-4 * 0.9 ** 3)
    assert lr_at(cfg, 200, 0) == pytest.approx(1e-6)  # floored at min_lr


def test_warmup_cosine_as_lavis_trains_blip2():
    # LAVIS pretrain_stage1.yaml: init_lr 1e-4, min_lr 1e-5, warmup_lr 1e-6, 5000 warmup steps, 10 epochs
    cfg = OptimConfig(lr=1e-4, min_lr=1e-5, warmup_lr=1e-6, warmup_steps=5000, schedule="warmup_cosine",
                      epochs=10)
    assert lr_at(cfg, 0, 0) == pytest.approx(1e-6)
    assert lr_at(cfg, 0, 2500) == pytest.approx(1e-6 + (1e-4 - 1e-6) / 2)
    assert lr_at(cfg, 0, 9000) == pytest.approx(1e-4)  # capped after the warmup, within epoch 0
    # from epoch 1 the cosine, constant within the epoch, whatever the step
    want = (1e-4 - 1e-5) * 0.5 * (1 + math.cos(math.pi * 3 / 10)) + 1e-5
    assert lr_at(cfg, 3, 0) == lr_at(cfg, 3, 777) == pytest.approx(want)
    # an epoch shorter than the warmup: epoch 1 starts on the cosine, as in LAVIS
    assert lr_at(cfg, 1, 0) == pytest.approx((1e-4 - 1e-5) * 0.5 * (1 + math.cos(math.pi / 10)) + 1e-5)


def test_warmup_cosine_over_steps_as_instructblip_tunes():
    # the InstructBLIP paper: 1000 warmup steps from 1e-8 to 1e-5, then cosine to 0 over the run (60K steps)
    cfg = OptimConfig(lr=1e-5, min_lr=0.0, warmup_lr=1e-8, warmup_steps=1000, schedule="warmup_cosine_steps",
                      epochs=1)
    assert lr_at(cfg, 0, 0, 0, 60000) == pytest.approx(1e-8)
    assert lr_at(cfg, 0, 500, 500, 60000) == pytest.approx(1e-8 + (1e-5 - 1e-8) / 2)
    assert lr_at(cfg, 0, 1000, 1000, 60000) == pytest.approx(1e-5)
    assert lr_at(cfg, 0, 30500, 30500, 60000) == pytest.approx(1e-5 / 2)  # half-way through the cosine
    assert lr_at(cfg, 0, 60000, 60000, 60000) == pytest.approx(0.0, abs=1e-15)
    # the run's step, not the epoch's, drives it: epochs of 100 steps change nothing
    assert lr_at(cfg, 305, 0, 30500, 60000) == lr_at(cfg, 0, 30500, 30500, 60000)
