"""The optimizer component and its parameter groups (blipctl/engine/optim.py)."""

from __future__ import annotations

import pytest
import torch
from toy import Toy, batches, toy_run

from blipctl.config import load_recipe
from blipctl.engine.loop import train_step
from blipctl.engine.optim import OptimConfig, build_optimizer, param_groups, set_lr
from blipctl.errors import ConfigError


def test_the_default_is_todays_adamw_state_for_state():
    model = Toy()
    cfg = OptimConfig(lr=5e-4, weight_decay=0.05, betas=(0.9, 0.98))
    ours = build_optimizer(param_groups(model, cfg), cfg)
    before = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=5e-4,
                               weight_decay=0.05, betas=(0.9, 0.98))
    assert type(ours) is torch.optim.AdamW
    assert ours.state_dict() == before.state_dict()  # the same single group, key for key
    assert list(ours.param_groups[0]) == list(before.param_groups[0])  # in the same order


def test_no_decay_for_biases_and_norm_weights():
    model = Toy()
    cfg = OptimConfig(weight_decay=0.05, no_decay_1d=True)
    groups = param_groups(model, cfg)
    names = {id(p): n for n, p in model.named_parameters()}
    decayed, plain = ([names[id(p)] for p in g["params"]] for g in groups)
    assert decayed == ["tower.0.weight", "tower.3.weight", "head.weight"]
    assert plain == ["tower.0.bias", "tower.3.bias", "norm.weight", "norm.bias", "head.bias"]
    opt = build_optimizer(groups, cfg)
    assert [g["weight_decay"] for g in opt.param_groups] == [0.05, 0.0]


def test_lr_scale_per_module_longest_prefix_first():
    model = Toy()
    cfg = OptimConfig(lr_scale={"tower": 0.1, "tower.3.bias": 0.5})
    opt = build_optimizer(param_groups(model, cfg), cfg)
    set_lr(opt, 1e-3)
    names = {id(p): n for n, p in model.named_parameters()}
    lr = {names[id(p)]: g["lr"] for g in opt.param_groups for p in g["params"]}
    assert lr["tower.0.weight"] == lr["tower.3.weight"] == pytest.approx(1e-4)
    assert lr["tower.3.bias"] == pytest.approx(5e-4) and lr["head.weight"] == lr["norm.bias"] == 1e-3


def test_lr_scale_applies_to_the_schedule_every_step(tmp_path):
    run = toy_run(tmp_path, batches(2), optim={"lr": 0.02, "lr_scale": {"head": 0.5}, "no_decay_1d": True})
    train_step(run, run.data.batches[0])
    by_scale = {g["lr_scale"]: g["lr"] for g in run.optimizer.param_groups}
    assert by_scale == {1.0: 0.02, 0.5: 0.01} and len(run.optimizer.param_groups) == 4
    assert run.lr == 0.02  # the logged lr is the schedule's


def test_frozen_parameters_are_in_no_group():
    model = Toy()
    model.tower.requires_grad_(False)
    (group,) = param_groups(model, OptimConfig())
    assert len(group["params"]) == 4  # norm and head


def test_a_prefix_that_matches_nothing_trainable_is_refused():
    model = Toy()
    model.tower.requires_grad_(False)
    with pytest.raises(ConfigError, match=r"`optim.lr_scale.tower`: no trainable parameter"):
        param_groups(model, OptimConfig(lr_scale={"tower": 0.1}))


def test_the_optimizer_is_a_component():
    model = Toy()
    cfg = OptimConfig(lr=0.1, weight_decay=0.0, optimizer={"_component_": "torch.optim.SGD", "momentum": 0.9})
    opt = build_optimizer(param_groups(model, cfg), cfg)  # SGD takes no betas: none are passed
    assert type(opt) is torch.optim.SGD and opt.param_groups[0]["momentum"] == 0.9
    eps = OptimConfig(betas=(0.8, 0.9), optimizer={"_component_": "torch.optim.AdamW", "eps": 1e-6})
    opt = build_optimizer(param_groups(model, eps), eps)
    assert opt.param_groups[0]["eps"] == 1e-6 and opt.param_groups[0]["betas"] == (0.8, 0.9)
    with pytest.raises(ConfigError, match=r"`optim.optimizer.lr`: set `optim.lr` instead"):
        build_optimizer(param_groups(model, cfg), OptimConfig(optimizer={"_component_": "torch.optim.SGD",
                                                                         "lr": 1.0}))


def test_the_new_keys_validate_in_a_recipe():
    recipe = load_recipe("mini/caption", ["optim.no_decay_1d=true", "+optim.lr_scale={visual: 0.1}",
                                          "+optim.optimizer={_component_: torch.optim.AdamW, eps: 1.0e-6}"])
    assert recipe.config.optim.lr_scale == {"visual": 0.1} and recipe.config.optim.no_decay_1d is True
    with pytest.raises(ConfigError, match="optim.optimizer.epss"):
        load_recipe("mini/caption", ["+optim.optimizer={_component_: torch.optim.AdamW, epss: 1.0e-6}"])
