"""CapFilt with BLIP-2 models: an OPT captioner and a Q-Former filter plug into `blipctl
bootstrap` through the same capabilities as BLIP's, and the filter's scores are its ITM."""

from __future__ import annotations

import json

import torch
from blip2_fixtures import blip2_opt, blip2_retrieval

from blipctl.checkpoints.load import load_model
from blipctl.data.images import load_rgb, preprocess
from blipctl.data.text import pre_caption
from tests.conftest import run_cli


def test_bootstrap_with_a_blip2_captioner_and_filter(corpus, tmp_path):
    root, _ = corpus
    blip2_opt(tmp_path / "opt")
    blip2_retrieval(tmp_path / "itm")
    out = tmp_path / "boot"
    r = run_cli("bootstrap", "mini/bootstrap", f"input.root={root}", f"captioner.model={tmp_path / 'opt'}",
                f"filter.model={tmp_path / 'itm'}", f"output_dir={out}", "input.shard_size=50")
    assert r.returncode == 0, r.stderr
    rows = json.loads((out / "annotations.json").read_text())
    web = json.loads((root / "web.json").read_text())
    assert {x["source"] for x in rows} == {"web", "synthetic"} and len(rows) < 2 * len(web)
    # a kept web text's score is the filter's P(match) on that image and text
    filt = load_model(str(tmp_path / "itm"))  # as bootstrap loads it (frozen parts bf16 where fast)
    kept = next(x for x in rows if x["source"] == "web")
    pixels = preprocess(load_rgb(str(root / kept["image"])), filt.image_size)[None]
    ids, mask = filt.codec.encode([pre_caption(kept["caption"], 30)], "grounded", max_length=35)
    with torch.no_grad():
        p = filt.itm_logits(filt.encode_image(pixels), ids, mask).softmax(-1)[0, 1].item()
    assert abs(p - kept["score"]) < 1e-2  # bf16 rounding differs between batch sizes
