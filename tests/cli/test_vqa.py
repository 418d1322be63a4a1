"""`blipctl vqa` end to end on a checkpoint saved by transformers."""

from __future__ import annotations

import json

import numpy as np
import torch
from conftest import run_cli
from PIL import Image

from blipctl.data.images import load_rgb


def _transformers_answer(model, image, question):
    from transformers import BlipImageProcessor

    from blipctl.text.tokenizer import blip_tokenizer

    tok = blip_tokenizer()
    pixels = BlipImageProcessor(size={"height": 32, "width": 32})(
        load_rgb(image), return_tensors="pt").pixel_values
    q = tok(question, return_tensors="pt")
    with torch.no_grad():
        out = model.generate(pixel_values=pixels, input_ids=q.input_ids,
                             attention_mask=q.attention_mask, num_beams=3, max_length=10, min_length=1)
    return tok.decode(out[0], skip_special_tokens=True).strip()


def test_vqa_single_and_file(tmp_path, hf_vqa_dir):
    ckpt, hf = hf_vqa_dir
    rng = np.random.default_rng(0)
    imgs = [tmp_path / f"{i}.png" for i in range(2)]
    for p in imgs:
        Image.fromarray(rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(p)
    one = run_cli("vqa", "--model", str(ckpt), str(imgs[0]), "what color is the circle?")
    assert one.returncode == 0, one.stderr
    assert one.stdout.strip() == _transformers_answer(hf, imgs[0], "what color is the circle?")

    qfile = tmp_path / "q.jsonl"
    qfile.write_text("\n".join([
        json.dumps({"image": str(imgs[0]), "question": "what color is the circle?"}),
        "{not json",
        json.dumps({"image": str(tmp_path / "gone.png"), "question": "why?"}),
        json.dumps({"image": str(imgs[1]), "question": "how many shapes are there?"}),
        json.dumps({"picture": "x"}),
    ]) + "\n")
    (tmp_path / "answers.txt").write_text("red\nblue\ntwo\nyes\n")
    proc = run_cli("vqa", "--model", str(ckpt), "--questions", str(qfile), "--format", "jsonl",
                   "--answers", str(tmp_path / "answers.txt"))
    assert proc.returncode == 1
    err = proc.stderr
    assert "q.jsonl:2: invalid JSON" in err and "q.jsonl:5: expected" in err
    assert "gone.png: no such file" in err and "Traceback" not in err
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [(r["image"], r["question"]) for r in rows] == [
        (str(imgs[0]), "what color is the circle?"), (str(imgs[1]), "how many shapes are there?")]
    assert all(r["answer"] in {"red", "blue", "two", "yes"} for r in rows)


def test_vqa_usage_errors(tmp_path):
    assert run_cli("vqa", "only-an-image.png").returncode == 2
    proc = run_cli("vqa", "--questions", str(tmp_path / "none.jsonl"))
    assert proc.returncode == 2 and "none.jsonl: cannot read" in proc.stderr


def test_an_instruction_for_a_blip_model_is_refused_in_one_line(hf_vqa_dir, tmp_path):
    hf_vqa_dir, _ = hf_vqa_dir
    Image.fromarray((np.random.RandomState(0).rand(32, 32, 3) * 255).astype("uint8")).save(tmp_path / "a.png")
    r = run_cli("vqa", str(tmp_path / "a.png"), "what is it?", "--model", str(hf_vqa_dir),
                "--instruction", "Question: {} Answer:")
    assert r.returncode != 0 and "answers without instructions" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    lines = tmp_path / "q.jsonl"
    lines.write_text('{"image": "a.png", "question": "what?", "instruction": "no slot"}\n')
    bad = run_cli("vqa", "--questions", str(lines), "--model", str(hf_vqa_dir))
    assert bad.returncode != 0 and "q.jsonl:1: `instruction` should be a string with {}" in bad.stderr
