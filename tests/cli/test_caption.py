"""`blipctl caption` end to end on a checkpoint saved by transformers."""

from __future__ import annotations

import json

import numpy as np
import torch
from conftest import run_cli
from PIL import Image

from blipctl.data.images import load_rgb


def _images(root):
    rng = np.random.default_rng(0)
    (root / "sub").mkdir(parents=True)
    paths = [root / "a.jpg", root / "sub" / "b.png", root / "c.png"]
    Image.fromarray(rng.integers(0, 255, (40, 60, 3), dtype=np.uint8)).save(paths[0])
    Image.fromarray(rng.integers(0, 255, (50, 50), dtype=np.uint8)).save(paths[1])  # grey
    Image.fromarray(rng.integers(0, 255, (30, 30, 4), dtype=np.uint8)).save(paths[2])  # RGBA
    (root / "broken.jpg").write_bytes(b"\xff\xd8\xff garbage")
    return paths


def _transformers_captions(model, paths, prompt="a picture of "):
    from transformers import BlipImageProcessor

    from blipctl.text.tokenizer import blip_tokenizer

    tok = blip_tokenizer()
    proc = BlipImageProcessor(size={"height": 32, "width": 32})
    pixels = proc([load_rgb(p) for p in paths], return_tensors="pt").pixel_values
    ids = torch.tensor([tok(prompt).input_ids] * len(paths))
    with torch.no_grad():
        out = model.generate(pixel_values=pixels, input_ids=ids, num_beams=3, min_length=5,
                             max_length=20)
    texts = tok.batch_decode(out, skip_special_tokens=True)
    return [t[len(prompt.strip()):].strip() for t in texts]


def test_caption_jsonl_matches_transformers_and_survives_bad_files(tmp_path, hf_caption_dir):
    ckpt, hf = hf_caption_dir
    paths = _images(tmp_path / "imgs")
    proc = run_cli("caption", "--model", str(ckpt), str(tmp_path / "imgs"),
                   str(tmp_path / "missing.jpg"), "--format", "jsonl", "--batch-size", "2")
    assert proc.returncode == 1
    errors = proc.stderr.strip().splitlines()
    assert any("broken.jpg: not a readable image" in e for e in errors)
    assert any("missing.jpg: no such file" in e for e in errors)
    assert "Traceback" not in proc.stderr
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [r["image"] for r in rows] == sorted(str(p) for p in paths)
    want = _transformers_captions(hf, [r["image"] for r in rows])
    assert [r["caption"] for r in rows] == want
    assert len(set(want)) == 3


def test_caption_single_text_stdin_and_glob(tmp_path, hf_caption_dir):
    ckpt, _ = hf_caption_dir
    paths = _images(tmp_path / "imgs")
    one = run_cli("caption", "--model", str(ckpt), str(paths[0]))
    assert one.returncode == 0 and one.stdout.count("\n") == 1 and "\t" not in one.stdout
    proc = subprocess_stdin(["caption", "--model", str(ckpt), "-", str(tmp_path / "imgs" / "*.png")],
                            f"{paths[0]}\n{paths[1]}\n")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert [line.split("\t")[0] for line in lines] == [str(paths[0]), str(paths[1]), str(paths[2])]
    assert lines[0].split("\t")[1] == one.stdout.strip()


def test_bf16_and_sampling_run(tmp_path, hf_caption_dir):
    ckpt, _ = hf_caption_dir
    paths = _images(tmp_path / "imgs")
    bf16 = run_cli("caption", "--model", str(ckpt), str(paths[0]), "--dtype", "bf16")
    assert bf16.returncode == 0 and bf16.stdout.strip()
    runs = [run_cli("caption", "--model", str(ckpt), str(paths[0]), "--top-p", "0.9",
                    "--seed", "1", "--prompt", "") for _ in range(2)]
    assert runs[0].stdout == runs[1].stdout  # seeded
    assert all(r.returncode == 0 for r in runs)


def test_offline_without_cache_explains(tmp_path):
    Image.new("RGB", (8, 8)).save(tmp_path / "x.png")
    proc = run_cli("caption", str(tmp_path / "x.png"), env={"HF_HUB_OFFLINE": "1",
                                                              "HF_HOME": str(tmp_path / "hf")})
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        "blipctl: error: --model Salesforce/blip-image-captioning-base: not in the Hugging Face "
        "cache and cannot be downloaded (HF_HUB_OFFLINE is set); pass a local checkpoint instead: "
        "--model DIR, a directory written by transformers' save_pretrained"]


def subprocess_stdin(args, text):
    import os
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-m", "blipctl", *args], input=text, capture_output=True,
                          text=True, env=os.environ, timeout=300)
