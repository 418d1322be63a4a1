"""The dtype policy per module (blipctl/engine/precision.py) on a toy model."""

from __future__ import annotations

import contextlib

import pytest
import torch
from toy import Toy, batches, toy_run

from blipctl.config import load_recipe
from blipctl.engine import precision
from blipctl.engine.loop import train_step
from blipctl.engine.precision import PrecisionConfig, hold_modules
from blipctl.errors import ConfigError


def test_the_string_keeps_meaning_autocast_only():
    assert precision.policy("bf16") == PrecisionConfig(autocast="bf16", modules={})
    assert isinstance(precision.autocast("bf16", torch.device("cpu")), torch.autocast)
    assert isinstance(precision.autocast("fp32", torch.device("cpu")), contextlib.nullcontext)
    model = Toy()
    hold_modules(model, "bf16")
    assert {p.dtype for p in model.parameters()} == {torch.float32}


def test_a_frozen_module_is_held_in_bf16_next_to_a_trainable_fp32_part(tmp_path):
    model = Toy()
    model.tower.requires_grad_(False)
    hold_modules(model, PrecisionConfig(modules={"tower": "bf16"}))
    assert {p.dtype for p in model.tower.parameters()} == {torch.bfloat16}
    assert {p.dtype for n, p in model.named_parameters() if not n.startswith("tower")} == {torch.float32}
    out = model(torch.randn(3, 4))  # fp32 in, no autocast: the hooks cast in and out
    assert out.dtype == torch.float32
    run = toy_run(tmp_path, batches(2), model)
    tower, head = model.tower[0].weight.clone(), model.head.weight.clone()
    first = train_step(run, run.data.batches[0])["loss"]
    assert train_step(run, run.data.batches[0])["loss"] < first and not torch.equal(model.head.weight, head)
    assert torch.equal(model.tower[0].weight, tower) and model.tower[0].weight.dtype == torch.bfloat16
    assert all(p.dtype == torch.float32 for p in run.params)


def test_holding_a_trainable_module_in_low_precision_is_refused():
    with pytest.raises(ConfigError, match=r"^recipe key `precision.modules.tower`: `tower.0.weight` is "
                                          r"trainable; .* \(add `tower` to `freeze`\)$"):
        hold_modules(Toy(), PrecisionConfig(modules={"tower": "fp16"}))
    hold_modules(Toy(), PrecisionConfig(modules={"tower": "fp32"}))  # fp32 storage may train


def test_an_unknown_module_is_refused_with_the_closest_name():
    with pytest.raises(ConfigError, match=r"modules.towr`: Toy has no module `towr`; did you mean"):
        hold_modules(Toy(), PrecisionConfig(modules={"towr": "bf16"}))


def test_an_fp32_child_inside_a_bf16_parent_may_train():
    model = Toy()
    model.tower[0].requires_grad_(False)
    hold_modules(model, PrecisionConfig(modules={"tower": "bf16", "tower.3": "fp32"}))
    assert model.tower[0].weight.dtype == torch.bfloat16 and model.tower[3].weight.dtype == torch.float32
    model(torch.randn(3, 4)).sum().backward()  # bf16 -> fp32 child -> back to the parent's bf16 -> fp32
    assert model.tower[3].weight.grad.dtype == torch.float32


def test_a_frozen_blip_vision_tower_in_bf16_trains_the_captioner():
    from blipctl.models.builders import blip_caption_tiny
    from blipctl.tasks.caption import Caption
    from blipctl.tasks.context import Context

    model = blip_caption_tiny(32)
    model.visual.requires_grad_(False)
    hold_modules(model, PrecisionConfig(modules={"visual": "bf16"}))
    batch = {"image": torch.randn(2, 3, 32, 32), "caption": ["a picture of a red cube", "a picture of a cat"]}
    out = Caption().losses(model, batch, Context(torch.device("cpu")))
    out["loss"].backward()
    assert torch.isfinite(out["loss"]) and next(model.visual.parameters()).dtype == torch.bfloat16
    assert all(p.grad is not None and p.grad.dtype == torch.float32
               for n, p in model.named_parameters() if p.requires_grad and n.startswith("decoder.layers.0"))


def test_the_recipe_key_takes_a_string_or_a_section():
    assert load_recipe("mini/caption", ["precision=bf16"]).config.precision == "bf16"
    cfg = load_recipe("mini/caption", ["precision={autocast: bf16, modules: {visual: bf16}}"]).config
    assert cfg.precision == PrecisionConfig(autocast="bf16", modules={"visual": "bf16"})
    with pytest.raises(ConfigError, match="precision"):
        load_recipe("mini/caption", ["precision={autocast: fp16}"])
    with pytest.raises(ConfigError, match="precision.modules.visual"):
        load_recipe("mini/caption", ["precision={modules: {visual: int8}}"])
