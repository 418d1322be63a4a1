"""Retrieval evaluation: batched ITM re-ranking against BLIP's per-query loop, R@K against brute
force on random matrices, and score files."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from conftest import reinit

from blipctl.errors import BlipctlError
from blipctl.eval.retrieval import rerank, rerank_per_query, score_file, top_k_pairs
from blipctl.eval.retrieval_metric import recall_at_k
from blipctl.models.builders import blip_retrieval_tiny


@torch.no_grad()
def test_batched_rerank_equals_blips_per_query_loop():
    torch.manual_seed(0)
    model = blip_retrieval_tiny(image_size=32).eval()
    reinit(model, seed=3, std=0.05)
    n_img, n_txt, k = 7, 35, 6
    image_tokens = model.encode_image(torch.randn(n_img, 3, 32, 32))
    ids = torch.randint(1000, 2000, (n_txt, 9))
    ids[:, 0] = 30523
    mask = torch.ones_like(ids)
    mask[::3, 6:] = 0  # some padded texts
    sims = model.image_features(image_tokens) @ model.text_features(ids, mask).t()
    want_i2t, want_t2i = rerank_per_query(model, image_tokens, sims, ids, mask, k)
    got_i2t, got_t2i = rerank(model, image_tokens, sims, ids, mask, k, "itm+itc", batch_size=4)
    torch.testing.assert_close(got_i2t, want_i2t, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(got_t2i, want_t2i, atol=1e-5, rtol=1e-5)
    assert got_i2t[got_i2t > -100].std() > 0.01  # ITM scores differ across pairs: not vacuous
    img2txt = [list(range(5 * i, 5 * i + 5)) for i in range(n_img)]
    txt2img = [t // 5 for t in range(n_txt)]
    assert (recall_at_k(got_i2t.numpy(), img2txt, txt2img, scores_t2i=got_t2i.numpy())
            == recall_at_k(want_i2t.numpy(), img2txt, txt2img, scores_t2i=want_t2i.numpy()))
    itm_only, _ = rerank(model, image_tokens, sims, ids, mask, k, "itm")
    torch.testing.assert_close(itm_only[got_i2t > -100], (got_i2t - sims)[got_i2t > -100], atol=1e-5, rtol=0)


def test_top_k_pairs_pools_both_directions_once():
    sims = torch.tensor([[0.9, 0.1, 0.5],
                         [0.2, 0.8, 0.3]])
    codes, i2t, t2i = top_k_pairs(sims, 1)
    assert i2t.tolist() == [[0], [1]] and t2i.tolist() == [[0], [1], [0]]
    # pairs (0,0), (1,1) from i2t; (0,0), (1,1), (0,2) from t2i: 3 distinct, sorted by image
    assert codes.tolist() == [0, 2, 4]


def brute_force_recall(s_i2t, s_t2i, img2txt, txt2img, k):
    """A caption is found at K if fewer than K images score above its own; an image if
    fewer than K captions score above its best caption (no ties in random scores)."""
    tr = [sum(s_i2t[i] > max(s_i2t[i][t] for t in img2txt[i])) < k for i in range(len(img2txt))]
    ir = [sum(s_t2i[t] > s_t2i[t][txt2img[t]]) < k for t in range(len(txt2img))]
    return 100 * np.mean(tr), 100 * np.mean(ir)


@pytest.mark.parametrize("seed", range(5))
def test_recall_matches_brute_force_on_random_matrices(seed):
    rng = np.random.default_rng(seed)
    n_img = int(rng.integers(3, 12))
    per = [int(rng.integers(1, 6)) for _ in range(n_img)]  # images with 1-5 captions
    txt2img = [i for i, n in enumerate(per) for _ in range(n)]
    img2txt = [[t for t, i in enumerate(txt2img) if i == j] for j in range(n_img)]
    s_i2t, s_t2i = rng.normal(size=(n_img, len(txt2img))), rng.normal(size=(len(txt2img), n_img))
    out = recall_at_k(s_i2t, img2txt, txt2img, ks=(1, 2, 5), scores_t2i=s_t2i)
    for k in (1, 2, 5):
        tr, ir = brute_force_recall(s_i2t, s_t2i, img2txt, txt2img, k)
        assert out[f"tr_r{k}"] == pytest.approx(tr) and out[f"ir_r{k}"] == pytest.approx(ir)


def test_score_file_npy_and_json_with_ids_in_any_order(tmp_path):
    split = [{"image": "a.jpg", "caption": ["x one", "x two"], "image_id": 10},
             {"image": "b.jpg", "caption": ["y one", "y two"], "image_id": 20},
             {"image": "c.jpg", "caption": ["z one", "z two"], "image_id": 30}]
    ann = tmp_path / "test.json"
    ann.write_text(json.dumps(split))
    rng = np.random.default_rng(0)
    s = rng.normal(size=(3, 6))
    np.save(tmp_path / "s.npy", s)
    want = recall_at_k(s, [[0, 1], [2, 3], [4, 5]], [0, 0, 1, 1, 2, 2])
    assert score_file(tmp_path / "s.npy", ann) == want
    order = [2, 0, 1]
    (tmp_path / "s.json").write_text(json.dumps({"image_ids": [30, 10, 20], "scores_i2t": s[order].tolist()}))
    assert score_file(tmp_path / "s.json", ann) == pytest.approx(want)
    np.save(tmp_path / "bad.npy", s[:, :5])
    with pytest.raises(BlipctlError, match=r"bad.npy: expected an 3 x 6 image-to-text matrix"):
        score_file(tmp_path / "bad.npy", ann)
    (tmp_path / "ids.json").write_text(json.dumps({"image_ids": [1, 2, 3], "scores_i2t": s.tolist()}))
    with pytest.raises(BlipctlError, match=r"ids.json: `image_ids` do not match"):
        score_file(tmp_path / "ids.json", ann)
