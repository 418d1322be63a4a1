"""Checkpoint formats both ways: transformers <-> blipctl <-> original BLIP `.pth`."""

from __future__ import annotations

import pytest
import torch
from conftest import run_cli

from blipctl.checkpoints.hf import KEYS, load_hf
from blipctl.checkpoints.original import KEYS as ORIGINAL_KEYS
from blipctl.checkpoints.original import load_original, read_pth, save_original

FIXTURES = ["hf_caption_dir", "hf_vqa_dir", "hf_retrieval_dir"]


@pytest.mark.parametrize("fixture", FIXTURES)
def test_transformers_round_trip_is_lossless(request, tmp_path, fixture):
    src, hf = request.getfixturevalue(fixture)
    proc = run_cli("export", "--model", str(src), "--to", "hf", "--out", str(tmp_path / "out"))
    assert proc.returncode == 0, proc.stderr
    again = type(hf).from_pretrained(tmp_path / "out")
    want, got = hf.state_dict(), again.state_dict()
    assert want.keys() == got.keys()
    assert all(torch.equal(want[k], got[k]) for k in want)


def test_exported_processor_loads(tmp_path, hf_caption_dir):
    from transformers import BlipProcessor

    from blipctl.checkpoints.hf import save_hf

    save_hf(load_hf(hf_caption_dir[0]), tmp_path / "out")
    processor = BlipProcessor.from_pretrained(tmp_path / "out")
    assert processor.tokenizer("a dog").input_ids == [101, 1037, 3899, 102]
    assert len(processor.tokenizer) == 30524
    assert processor.image_processor.size["height"] == 32


@pytest.mark.parametrize("fixture", FIXTURES)
def test_key_maps_invert(request, fixture):
    ours_model = load_hf(request.getfixturevalue(fixture)[0])
    ours = ours_model.state_dict()
    for keymap in (KEYS[type(ours_model)], ORIGINAL_KEYS[type(ours_model)]):
        back = keymap.to_ours(keymap.to_theirs(ours))
        assert back.keys() == ours.keys() and all(back[k] is ours[k] for k in ours)


def test_original_pth_gives_transformers_logits(tmp_path, hf_caption_dir, images):
    """transformers weights -> original-format .pth -> blipctl: same logits as transformers."""
    path, hf = hf_caption_dir
    save_original(load_hf(path), tmp_path / "model.pth")
    state = read_pth(tmp_path / "model.pth")
    assert "visual_encoder.blocks.0.attn.qkv.weight" in state
    assert "text_decoder.bert.encoder.layer.1.crossattention.self.query.weight" in state
    model = load_original(tmp_path / "model.pth")
    ids = torch.tensor([[30522, 1037, 2417, 4418, 102]] * 3)
    with torch.no_grad():
        want = hf(pixel_values=images, input_ids=ids).logits
        got = model(images, ids)
    assert (got - want).abs().max() < 1e-4


@pytest.mark.parametrize("fixture", FIXTURES)
def test_original_round_trip_is_lossless(request, tmp_path, fixture):
    model = load_hf(request.getfixturevalue(fixture)[0])
    save_original(model, tmp_path / "a.pth")
    proc = run_cli("export", "--model", str(tmp_path / "a.pth"), "--to", "blip",
                   "--out", str(tmp_path / "b.pth")) if fixture == "hf_vqa_dir" else None
    if proc is None:
        save_original(load_original(tmp_path / "a.pth"), tmp_path / "b.pth")
    else:
        assert proc.returncode == 0, proc.stderr
    a, b = read_pth(tmp_path / "a.pth"), read_pth(tmp_path / "b.pth")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert type(load_original(tmp_path / "b.pth")) is type(model)


def test_momentum_and_queues_are_not_inference_weights(tmp_path, hf_retrieval_dir):
    model = load_hf(hf_retrieval_dir[0])
    save_original(model, tmp_path / "r.pth")
    state = read_pth(tmp_path / "r.pth")
    state["visual_encoder_m.cls_token"] = state["visual_encoder.cls_token"] + 1
    state["image_queue"] = torch.zeros(256, 8)
    state["temp"] = torch.tensor(0.07)
    torch.save({"model": state}, tmp_path / "r_m.pth")
    loaded = load_original(tmp_path / "r_m.pth")
    assert torch.equal(loaded.visual.cls_token, model.visual.cls_token)


def test_unsafe_pickle_is_refused(tmp_path):
    import pickle

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    with open(tmp_path / "evil.pth", "wb") as f:
        pickle.dump({"model": Evil()}, f)
    proc = run_cli("export", "--model", str(tmp_path / "evil.pth"), "--out", str(tmp_path / "o"))
    assert proc.returncode == 1 and "pwned" not in proc.stdout
    assert "not a weights-only PyTorch checkpoint" in proc.stderr
