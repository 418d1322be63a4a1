"""An original BLIP pretrain `.pth` (as model_base.pth: the queue pointer named `queue_ptr`)
through the CLI: captioned zero-shot through its captioner view, exported."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import run_cli
from PIL import Image

from blipctl.checkpoints.formats.blip_pth import read_pth, save
from blipctl.models.builders import blip_pretrain_tiny


@pytest.fixture(scope="module")
def pretrain_pth(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("pth") / "model_base.pth"
    save(blip_pretrain_tiny(image_size=32, queue_size=16), path)
    assert "queue_ptr" in read_pth(path)
    return path


def test_caption_with_a_blip_pretrain_pth(pretrain_pth, tmp_path):
    image = tmp_path / "x.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(image)
    r = run_cli("caption", "--model", str(pretrain_pth), str(image), "--max-length", "6", "--num-beams", "1")
    assert r.returncode == 0, r.stderr
    assert len(r.stdout.strip().splitlines()) == 1


def test_export_a_blip_pretrain_pth(pretrain_pth, tmp_path):
    r = run_cli("export", "--model", str(pretrain_pth), "--to", "blip", "--out", str(tmp_path / "b.pth"))
    assert r.returncode == 0, r.stderr
    a, b = read_pth(pretrain_pth), read_pth(tmp_path / "b.pth")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    r = run_cli("export", "--model", str(pretrain_pth), "--to", "hf", "--out", str(tmp_path / "hf"))
    assert r.returncode == 1 and r.stderr.strip().splitlines() == [
        "blipctl: error: transformers has no class for a BlipPretrain; blipctl writes "
        "BlipForConditionalGeneration (a BlipCaptioner), BlipForQuestionAnswering (a BlipVQA), "
        "BlipForImageTextRetrieval (a BlipRetrieval)"]
    assert not (tmp_path / "hf").exists()


def test_eval_zero_shot_with_a_blip_pretrain_pth(pretrain_pth, corpus, tmp_path):
    root, _ = corpus
    for name, extra in (("retrieval", ["task.k_test=4"]),
                        ("caption", ["task.num_beams=1", "task.spice=false"])):
        r = run_cli("eval", f"mini/eval_{name}", "--model", str(pretrain_pth), f"data.root={root}",
                    "data.workers=0", f"output_dir={tmp_path / name}", *extra)
        assert r.returncode == 0, r.stderr
        assert (tmp_path / name / "metrics.json").is_file()
