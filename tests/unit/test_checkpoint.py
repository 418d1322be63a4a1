"""Atomic training checkpoints: contents, keep-last-N, frozen flags, exact restore."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from blipctl.engine import checkpoint
from blipctl.errors import BlipctlError


class Tied(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Linear(3, 3), nn.Linear(3, 3)
        self.b.weight = self.a.weight  # shared, as MED's encoder and decoder share weights
        self.register_buffer("queue", torch.randn(3, 5))


def test_save_load_round_trip_keeps_everything(tmp_path):
    torch.manual_seed(0)
    m = Tied()
    m.a.bias.requires_grad_(False)
    opt = torch.optim.AdamW([p for p in m.parameters() if p.requires_grad], lr=0.1)
    m.b(m.a(torch.randn(2, 3))).sum().backward()
    opt.step()
    ck = checkpoint.save(tmp_path, 7, m, opt, {"epoch": 1, "batch": 4}, "seed: 1\n")
    assert sorted(p.name for p in ck.iterdir()) == ["config.yaml", "model.safetensors", "optimizer.pt",
                                                     "rng_0.pt", "state.json"]
    state = json.loads((ck / "state.json").read_text())
    assert state["frozen"] == ["a.bias"] and state["step"] == 7 and state["batch"] == 4
    after = torch.rand(1)

    torch.manual_seed(123)
    n = Tied()
    checkpoint.load_weights(ck, n)  # first: it restores which parameters are frozen
    opt2 = torch.optim.AdamW([p for p in n.parameters() if p.requires_grad], lr=0.1)
    checkpoint.load_trainer(ck, opt2)
    assert torch.rand(1) == after  # the RNG continues where the saved run was
    for (k, v), (_, w) in zip(m.state_dict().items(), n.state_dict().items(), strict=True):
        assert torch.equal(v, w), k
    assert n.b.weight is n.a.weight and not n.a.bias.requires_grad
    s1, s2 = opt.state_dict()["state"], opt2.state_dict()["state"]
    assert all(torch.equal(s1[i]["exp_avg"], s2[i]["exp_avg"]) for i in s1)


def test_keep_last_n_and_ignore_unfinished(tmp_path):
    m = Tied()
    for step in range(1, 6):
        checkpoint.save(tmp_path, step, m, None, {}, "", keep=2)
    (tmp_path / "checkpoints" / ".step_000009.tmp").mkdir()  # a crash mid-save
    assert [p.name for p in checkpoint.checkpoints(tmp_path)] == ["step_000004", "step_000005"]
    assert checkpoint.latest(tmp_path).name == "step_000005"
    with pytest.raises(BlipctlError, match="no checkpoint"):
        checkpoint.latest(tmp_path / "elsewhere")


# ---- frozen tensors stored by reference ----------------------------------------------------
RECIPE = "model:\n  _component_: blipctl.models.builders.blip_caption_tiny\n  image_size: 32\n"


@pytest.fixture
def frozen_run(tmp_path):
    """A tiny captioner initialised from a saved .pth, its vision tower frozen by reference, one
    optimizer step later saved: (source, checkpoint, model)."""
    from blipctl.checkpoints.formats.blip_pth import save as save_pth
    from blipctl.checkpoints.warm_start import warm_start
    from blipctl.models.builders import blip_caption_tiny

    torch.manual_seed(0)
    source = tmp_path / "source.pth"
    save_pth(blip_caption_tiny(64), source)  # 64 px: the warm start resizes its position embedding
    torch.manual_seed(1)
    model = blip_caption_tiny(32)
    warm_start(model, str(source))
    model.visual.requires_grad_(False)
    frozen = {n: str(source) for n, p in model.named_parameters() if not p.requires_grad}
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=0.1)
    model(torch.randn(2, 3, 32, 32), torch.tensor([[30522, 1037, 102]] * 2)).sum().backward()
    opt.step()
    ck = checkpoint.save(tmp_path / "run", 1, model, opt, {"epoch": 0, "batch": 1}, RECIPE, frozen=frozen)
    return source, ck, model


def test_frozen_tensors_are_stored_by_reference_and_restored_exactly(frozen_run):
    from safetensors.torch import load_file

    from blipctl.checkpoints.frozen import digest
    from blipctl.checkpoints.load import load_model
    from blipctl.models.builders import blip_caption_tiny

    source, ck, model = frozen_run
    frozen = {n for n, p in model.named_parameters() if not p.requires_grad}
    stored = load_file(ck / "model.safetensors")
    assert frozen and not frozen & set(stored) and "decoder.embed.tok.weight" in stored
    refs = json.loads((ck / "frozen.json").read_text())["tensors"]
    assert set(refs) == frozen and {r["source"] for r in refs.values()} == {str(source.resolve())}
    pos = refs["visual.pos_embed"]
    assert pos["shape"] == [1, 17, 128] and pos["dtype"] == "float32"
    assert pos["sha256"] == digest(model.visual.pos_embed)
    for loaded in (blip_caption_tiny(32), load_model(str(ck.parent.parent))):
        if loaded.training:  # resume: load_weights into a freshly built model
            checkpoint.load_weights(ck, loaded)
        a, b = model.state_dict(), loaded.state_dict()
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
        assert {n for n, p in loaded.named_parameters() if not p.requires_grad} == frozen


def test_a_changed_or_missing_source_is_refused_naming_the_tensor(frozen_run):
    from blipctl.checkpoints.formats.blip_pth import read_pth
    from blipctl.models.builders import blip_caption_tiny

    source, ck, _ = frozen_run
    state = read_pth(source)
    state["visual_encoder.blocks.1.mlp.fc2.bias"][0] += 1e-3
    torch.save({"model": state}, source)
    changed = (r"frozen tensor visual\.blocks\.1\.mlp\.fc2\.bias in .*source\.pth is not the one this "
               r"checkpoint was trained with \(sha256 \w{12}, recorded \w{12}\): the source has changed")
    with pytest.raises(BlipctlError, match=changed):
        checkpoint.load_weights(ck, blip_caption_tiny(32))
    source.unlink()
    gone = (r"frozen tensor visual\.cls_token \(and \d+ more\) is stored by reference to .*source\.pth, "
            r"which cannot be read: .*no such file")
    with pytest.raises(BlipctlError, match=gone):
        checkpoint.load_weights(ck, blip_caption_tiny(32))


def test_the_source_is_read_once_and_a_tensor_it_does_not_hold_stays_in_the_file(tmp_path, monkeypatch):
    from safetensors.torch import load_file

    from blipctl.checkpoints import frozen as by_reference
    from blipctl.checkpoints.formats.blip_pth import save as save_pth
    from blipctl.checkpoints.warm_start import warm_start
    from blipctl.models.builders import blip_caption_tiny

    torch.manual_seed(0)
    source = tmp_path / "source.pth"
    save_pth(blip_caption_tiny(32), source)
    model = blip_caption_tiny(32)
    warm_start(model, str(source))
    with torch.no_grad():
        model.visual.cls_token.add_(1.0)  # no longer the source's: must be stored in the file
    model.visual.requires_grad_(False)
    frozen = {n: str(source) for n, p in model.named_parameters() if not p.requires_grad}
    reads = []
    read = by_reference.source_tensors
    monkeypatch.setattr(by_reference, "source_tensors", lambda m, s: reads.append(s) or read(m, s))
    for step in (1, 2):
        ck = checkpoint.save(tmp_path / "run", step, model, None, {}, RECIPE, frozen=frozen)
    assert reads == [str(source.resolve())]  # checked at the first save only
    refs = json.loads((ck / "frozen.json").read_text())["tensors"]
    assert set(refs) == set(frozen) - {"visual.cls_token"}
    assert "visual.cls_token" in load_file(ck / "model.safetensors")
    with torch.no_grad():
        model.visual.norm.bias.add_(1.0)  # changed in place: checked again, stored in the file
    ck = checkpoint.save(tmp_path / "run", 3, model, None, {}, RECIPE, frozen=frozen)
    refs = json.loads((ck / "frozen.json").read_text())["tensors"]
    assert len(reads) == 2 and "visual.norm.bias" not in refs and "visual.norm.weight" in refs
    fresh = blip_caption_tiny(32)
    checkpoint.load_weights(ck, fresh)
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), fresh.state_dict().values(),
                                                 strict=True))


def test_a_frozen_tower_held_in_bf16_is_stored_by_reference_in_bf16(tmp_path):
    from blipctl.checkpoints.formats.blip_pth import save as save_pth
    from blipctl.checkpoints.warm_start import warm_start
    from blipctl.models.builders import blip_caption_tiny

    torch.manual_seed(0)
    source = tmp_path / "source.pth"
    save_pth(blip_caption_tiny(32), source)
    model = blip_caption_tiny(32)
    warm_start(model, str(source))
    model.visual.requires_grad_(False)
    model.visual.to(torch.bfloat16)  # as the engine's precision policy holds a frozen module
    frozen = {n: str(source) for n, p in model.named_parameters() if not p.requires_grad}
    ck = checkpoint.save(tmp_path / "run", 1, model, None, {}, RECIPE, frozen=frozen)
    refs = json.loads((ck / "frozen.json").read_text())["tensors"]
    assert set(refs) == set(frozen) and {r["dtype"] for r in refs.values()} == {"bfloat16"}
    fresh = blip_caption_tiny(32)
    checkpoint.load_weights(ck, fresh)  # into fp32, as a resume or eval does
    fresh.visual.to(torch.bfloat16)
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), fresh.state_dict().values(),
                                                 strict=True))


def test_frozen_names_must_be_frozen_tensors_of_the_model(tmp_path):
    m = Tied()
    m.a.bias.requires_grad_(False)
    with pytest.raises(BlipctlError, match="frozen: a.weight is trained"):
        checkpoint.save(tmp_path, 4, m, None, {}, "", frozen={"a.weight": "somewhere.pth"})
    with pytest.raises(BlipctlError, match="frozen: c.weight is not a tensor of the Tied"):
        checkpoint.save(tmp_path, 4, m, None, {}, "", frozen={"c.weight": "somewhere.pth"})
    ck = checkpoint.save(tmp_path, 5, m, None, {}, "", frozen={"a.bias": ("hub/id", "f" * 64)})
    assert json.loads((ck / "frozen.json").read_text())["tensors"]["a.bias"]["sha256"] == "f" * 64
    ck = checkpoint.save(tmp_path, 6, m, None, {}, "", frozen={"a.bias": str(tmp_path / "gone.pth")})
    assert not (ck / "frozen.json").exists()  # a source that cannot be read: the file keeps it
