"""Retrieval recall (BLIP's `itm_eval`): an image counts as found at K when any of its
captions ranks within the top K; a caption when its image does."""

from __future__ import annotations

import numpy as np


def recall_at_k(scores_i2t: np.ndarray, img2txt: list[list[int]], txt2img: list[int],
                ks: tuple[int, ...] = (1, 5, 10), scores_t2i: np.ndarray | None = None) -> dict[str, float]:
    """scores_i2t: (images, texts), higher is better; img2txt: each image's caption indices;
    txt2img: each caption's image; scores_t2i: (texts, images) for image retrieval, when it was
    scored apart (BLIP re-ranks each direction's top k on its own); default scores_i2t.T.
    Returns tr_r{k}, ir_r{k}, tr_mean, ir_mean, r_mean (%)."""
    tr_rank, ir_rank = ranks(scores_i2t, img2txt, txt2img, scores_t2i)
    out = {}
    for k in ks:
        out[f"tr_r{k}"] = 100.0 * float(np.mean(tr_rank < k))
    for k in ks:
        out[f"ir_r{k}"] = 100.0 * float(np.mean(ir_rank < k))
    out["tr_mean"] = float(np.mean([out[f"tr_r{k}"] for k in ks]))
    out["ir_mean"] = float(np.mean([out[f"ir_r{k}"] for k in ks]))
    out["r_mean"] = (out["tr_mean"] + out["ir_mean"]) / 2
    return out


def ranks(scores_i2t: np.ndarray, img2txt: list[list[int]], txt2img: list[int],
          scores_t2i: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Each image's best rank of one of its captions (I,) and each caption's rank of its
    image (T,), 0 = first; ties keep index order. Arguments as `recall_at_k`."""
    scores_i2t = np.asarray(scores_i2t, dtype=np.float64)
    scores_t2i = scores_i2t.T if scores_t2i is None else np.asarray(scores_t2i, dtype=np.float64)
    order_i2t = np.argsort(-scores_i2t, axis=1, kind="stable")
    tr_rank = np.array([min(int(np.where(order_i2t[i] == t)[0][0]) for t in img2txt[i])
                        for i in range(len(img2txt))])
    order_t2i = np.argsort(-scores_t2i, axis=1, kind="stable")
    ir_rank = np.array([int(np.where(order_t2i[t] == txt2img[t])[0][0]) for t in range(len(txt2img))])
    return tr_rank, ir_rank
