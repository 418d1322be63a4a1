"""Checkpoint formats both ways: transformers <-> blipctl <-> original BLIP `.pth`."""

from __future__ import annotations

import pytest
import torch
from conftest import run_cli

from blipctl.checkpoints.formats import blip_pth, hf_blip
from blipctl.checkpoints.formats.blip_pth import load as load_original
from blipctl.checkpoints.formats.blip_pth import read_pth
from blipctl.checkpoints.formats.blip_pth import save as save_original
from blipctl.errors import BlipctlError


def load_hf(path):
    return hf_blip.load(str(path))

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

    hf_blip.save(load_hf(hf_caption_dir[0]), tmp_path / "out")
    processor = BlipProcessor.from_pretrained(tmp_path / "out")
    assert processor.tokenizer("a dog").input_ids == [101, 1037, 3899, 102]
    assert len(processor.tokenizer) == 30524
    assert processor.image_processor.size["height"] == 32


@pytest.mark.parametrize("fixture", FIXTURES)
def test_key_maps_invert(request, fixture):
    ours_model = load_hf(request.getfixturevalue(fixture)[0])
    ours = ours_model.state_dict()
    for keymap in (hf_blip.KEYS[type(ours_model)], blip_pth.KEYS[type(ours_model)]):
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
    assert proc.stderr.strip().splitlines() == [
        f"blipctl: error: {tmp_path / 'evil.pth'}: the file holds Python objects besides tensors; "
        "blipctl refuses it so that no code from it runs (a weights-only checkpoint holds tensors, "
        "numbers, strings, lists and dicts)"]


class TrainingArgs:  # what BLIP-era scripts pickled next to the weights
    lr = 1e-5


def test_checkpoint_with_a_python_object_is_refused_plainly(tmp_path):
    torch.save({"model": {"w": torch.ones(2)}, "args": TrainingArgs()}, tmp_path / "args.pth")
    with pytest.raises(BlipctlError) as e:
        read_pth(tmp_path / "args.pth")
    here = f"{TrainingArgs.__module__}.{TrainingArgs.__qualname__}"
    assert str(e.value) == (
        f"{tmp_path / 'args.pth'}: the file holds Python objects besides tensors ({here}); blipctl "
        "refuses it so that no code from it runs (a weights-only checkpoint holds tensors, numbers, "
        "strings, lists and dicts)")
    (tmp_path / "junk.pth").write_bytes(b"garbage here")
    with pytest.raises(BlipctlError, match="junk.pth: not a PyTorch checkpoint that blipctl can read"):
        read_pth(tmp_path / "junk.pth")


def test_export_records_the_codec_and_loading_reads_it(tmp_path, hf_caption_dir, hf_vqa_dir):
    """transformers' own directories mean [CLS]; an exported BLIP .pth keeps its [ENC]."""
    import json

    assert load_hf(hf_vqa_dir[0]).codec.grounded_start == "[CLS]"  # no blipctl_codec key
    save_original(load_hf(hf_vqa_dir[0]), tmp_path / "vqa.pth")
    from_pth = load_original(tmp_path / "vqa.pth")
    assert from_pth.codec.grounded_start == "[ENC]"
    hf_blip.save(from_pth, tmp_path / "enc")
    cfg = json.loads((tmp_path / "enc" / "config.json").read_text())
    assert cfg["blipctl_codec"] == {"_component_": "blipctl.text.codecs.BlipText", "grounded_start": "[ENC]"}
    assert load_hf(tmp_path / "enc").codec.grounded_start == "[ENC]"
    hf_blip.save(load_hf(hf_caption_dir[0]), tmp_path / "cls")
    assert load_hf(tmp_path / "cls").codec.grounded_start == "[CLS]"
    assert not list((tmp_path / "cls").glob("*.tmp")) and not list((tmp_path / "cls").glob(".processor*"))


def test_export_targets_come_from_the_format_table():
    from blipctl.checkpoints.formats import FORMATS, writer
    from blipctl.cli.export import Target

    assert {t.value for t in Target} == {f.name for f in FORMATS if f.save is not None}
    with pytest.raises(BlipctlError, match="--to onnx: blipctl writes lavis, blip, hf"):
        writer("onnx")


def test_a_pth_width_that_is_not_a_multiple_of_64_is_refused():
    from blipctl.checkpoints.formats.blip_pth import vit_config

    state = {"visual_encoder.cls_token": torch.zeros(1, 1, 100),
             "visual_encoder.patch_embed.proj.weight": torch.zeros(100, 3, 8, 8),
             "visual_encoder.pos_embed": torch.zeros(1, 17, 100),
             "visual_encoder.blocks.0.mlp.fc1.weight": torch.zeros(400, 100)}
    with pytest.raises(BlipctlError, match="the vision encoder's width 100 is not a multiple of 64"):
        vit_config(state)
