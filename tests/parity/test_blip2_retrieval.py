"""BLIP-2's Q-Former matcher against transformers' Blip2ForImageTextRetrieval on the same
weights (transformers scores one image against a batch of texts at a time): ITC and ITM
scores, and `blipctl eval` retrieval ranks against a brute-force ranking computed with
transformers' scores."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from blip2_fixtures import blip2_retrieval, hf_scores, load_fp32, score_gaps
from PIL import Image

from blipctl.models.blip2 import Blip2Retrieval

TEXTS = ["a red circle on a gray background", "two blue stars", "a green square left of a cross",
         "an orange triangle", "three white diamonds on black", "a purple star in the corner"]


@pytest.fixture(scope="module")
def retrieval(tmp_path_factory):
    out = tmp_path_factory.mktemp("blip2_itm")
    return out, blip2_retrieval(out)


def test_itc_and_itm_scores_match_transformers(retrieval):
    path, hf = retrieval
    ours = load_fp32(str(path))
    assert isinstance(ours, Blip2Retrieval)
    itc_gap, itm_gap, spread = score_gaps(hf, ours, TEXTS, 3)
    assert itc_gap < 1e-4 and itm_gap < 1e-4
    assert spread > 1e-2  # scores differ across pairs


def test_eval_ranks_equal_brute_force_with_transformers_scores(retrieval, tmp_path):
    from blipctl.eval.batches import EvalData
    from blipctl.eval.retrieval import RetrievalEval

    path, hf = retrieval
    ours = load_fp32(str(path))
    rng = np.random.RandomState(0)
    records = []
    for i in range(4):
        Image.fromarray((rng.rand(30, 30, 3) * 255).astype("uint8")).save(tmp_path / f"{i}.png")
        records.append({"image": f"{i}.png", "caption": TEXTS[i:i + 2], "image_id": i})
    (tmp_path / "test.json").write_text(json.dumps(records))
    data = EvalData(root=str(tmp_path), annotations="test.json", batch_size=2, workers=0)
    out = RetrievalEval(k_test=3)(ours, data, torch.device("cpu"), torch.float32)

    texts = [t for r in records for t in r["caption"]]
    from blipctl.data.images import load_rgb, preprocess

    pixels = torch.stack([preprocess(load_rgb(str(tmp_path / r["image"])), 30) for r in records])
    ids, mask = ours.codec.encode(texts, "text", max_length=35)
    itc, itm = hf_scores(hf, pixels, ids, mask)
    # brute force: each image's top 3 texts by ITC, scored ITM + ITC; the rest -100
    want = np.full(itc.shape, -100.0)
    for i in range(len(records)):
        top = itc[i].topk(3).indices
        want[i, top] = (itm[i, top] + itc[i, top]).numpy()
    got = out.arrays["scores_i2t"]
    assert np.abs(got - want).max() < 1e-4
    assert (np.argsort(-got, 1, kind="stable") == np.argsort(-want, 1, kind="stable")).all()
