"""Recipes: overrides, strict key and type checks, component binding, resolution."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from blipctl.config import instantiate, load_recipe, parse_value
from blipctl.config.overrides import parse_override
from blipctl.errors import ConfigError

TOY = textwrap.dedent("""\
    # A toy recipe for the tests.
    _workflow_: recipe_fixtures.run
    output_dir: runs/toy
    epochs: 2
    lr: 1e-5
    model:
      _component_: recipe_fixtures.tiny_model
      width: 16
    optim:
      _component_: recipe_fixtures.Optim
      lr: 2e-5
    decode:
      num_beams: 3
""")


@pytest.fixture
def toy(tmp_path):
    path = tmp_path / "toy.yaml"
    path.write_text(TOY)
    return str(path)


def test_yaml_scalars_follow_yaml_1_2():
    assert parse_value("1e-5") == 1e-5 and isinstance(parse_value("1e-5"), float)
    assert parse_value("3") == 3 and parse_value("-2.5E3") == -2500.0
    assert parse_value("true") is True and parse_value("no") == "no"
    assert parse_value("[1, 2]") == [1, 2] and parse_value("null") is None
    assert parse_value("a=b=c") == "a=b=c"


def test_yaml_file_floats(toy):
    r = load_recipe(toy)
    assert r.config.lr == 1e-5 and isinstance(r.config.lr, float)
    assert r.config.optim["lr"] == 2e-5


def test_override_value_may_contain_equals(toy):
    r = load_recipe(toy, ["decode.prompt=x=1, y=2"])
    assert r.config.decode.prompt == "x=1, y=2"


def test_set_add_delete(toy):
    r = load_recipe(toy, ["epochs=5", "model.depth=4", "+tags=[a, b]", "~decode.num_beams"])
    assert r.config.epochs == 5
    assert r.config.model == {"_component_": "recipe_fixtures.tiny_model", "width": 16, "depth": 4}
    assert r.config.tags == ["a", "b"]
    assert r.config.decode.num_beams == 3  # deleted from the YAML: the dataclass default


def test_misspelt_override_key_suggests(toy):
    with pytest.raises(ConfigError, match=r"unknown key `epoch`; did you mean `epochs`\?"):
        load_recipe(toy, ["epoch=3"])
    with pytest.raises(ConfigError, match=r"did you mean `width`"):
        load_recipe(toy, ["model.widht=3"])
    with pytest.raises(ConfigError, match=r"did you mean `num_beams`"):
        load_recipe(toy, ["decode.num_beam=3"])


def test_misspelt_yaml_key_suggests(toy, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(Path(toy).read_text().replace("epochs:", "epoch:"))
    with pytest.raises(ConfigError, match=r"unknown recipe key `epoch`; did you mean `epochs`"):
        load_recipe(str(bad))


def test_added_unknown_key_fails_validation(toy):
    with pytest.raises(ConfigError, match=r"unknown recipe key `model.widthh`; did you mean `width`"):
        load_recipe(toy, ["+model.widthh=3"])


def test_add_existing_key_is_refused(toy):
    with pytest.raises(ConfigError, match="exists already"):
        load_recipe(toy, ["+epochs=3"])


@pytest.mark.parametrize("override, key, expected", [
    ("epochs=three", "epochs", "int"),
    ("lr=fast", "lr", "float"),
    ("epochs=true", "epochs", "int"),
    ("model.act=tanh", "model.act", "one of 'gelu', 'relu'"),
    ("optim.betas=[0.9]", "optim.betas", "tuple"),
    ("decode.max_len=x", "decode.max_len", "int or null"),
    ("decode=3", "decode", "a section"),
])
def test_wrong_type_names_key_and_type(toy, override, key, expected):
    with pytest.raises(ConfigError, match=rf"recipe key `{key}`: expected {expected}"):
        load_recipe(toy, [override])


def test_int_is_accepted_for_float(toy):
    assert load_recipe(toy, ["lr=1"]).config.lr == 1


def test_bad_component_path_suggests(toy):
    with pytest.raises(ConfigError, match=r"has no `tiny_modle`; did you mean `tiny_model`"):
        load_recipe(toy, ["model._component_=recipe_fixtures.tiny_modle"])


def test_missing_required_key(toy):
    with pytest.raises(ConfigError, match="missing the required key `output_dir`"):
        load_recipe(toy, ["~output_dir"])


def test_override_syntax_errors():
    with pytest.raises(ConfigError, match="expected key=value"):
        parse_override("epochs")
    with pytest.raises(ConfigError, match="takes no value"):
        parse_override("~a=1")
    with pytest.raises(ConfigError, match="not a dotted key"):
        parse_override("a..b=1")


def test_resolved_fills_defaults_and_round_trips(toy, tmp_path):
    r = load_recipe(toy, ["epochs=7"])
    data = r.resolved()
    assert data["_workflow_"] == "recipe_fixtures.run"
    assert data["decode"] == {"num_beams": 3, "prompt": "a picture of ", "max_len": None}
    from blipctl.config import save_config

    path = save_config(r.config, r.workflow, tmp_path / "run")
    again = load_recipe(str(path))
    assert again.resolved() == data


def test_instantiate_builds_nested_and_extra_args(toy):
    r = load_recipe(toy)
    assert instantiate(r.config.model) == {"width": 16, "depth": 2, "act": "gelu", "dropout": 0.0}
    opt = instantiate(r.config.optim, [1, 2])
    assert opt.params == [1, 2] and opt.lr == 2e-5


def test_invalid_yaml_names_file_and_line(tmp_path):
    bad = tmp_path / "broken.yaml"
    bad.write_text("a: 1\nb: [1, 2\n")
    with pytest.raises(ConfigError, match=r"broken.yaml:\d+: invalid YAML"):
        load_recipe(str(bad))


def test_unknown_recipe_name_suggests():
    with pytest.raises(ConfigError, match=r"no recipe `mini/corpse`.*did you mean `mini/corpus`"):
        load_recipe("mini/corpse")


def test_references_resolve_after_overrides(toy):
    r = load_recipe(toy, ["decode.prompt=${output_dir}/x", "lr=${optim.lr}", "output_dir=/tmp/o"])
    assert r.config.decode.prompt == "/tmp/o/x"  # the overridden value, formatted into the string
    assert r.config.lr == 2e-5 and isinstance(r.config.lr, float)  # a whole reference keeps its type


@pytest.mark.parametrize("ref, message", [
    ("${optim.momentum}", r"decode.prompt: \$\{optim.momentum\} names no key of the recipe"),
    ("a ${decode.prompt}", r"decode.prompt: \$\{decode.prompt\} refers back to itself"),
])
def test_bad_references_name_the_key(toy, ref, message):
    with pytest.raises(ConfigError, match=message):
        load_recipe(toy, [f"decode.prompt={ref}"])
