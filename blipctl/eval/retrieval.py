"""Image-text retrieval evaluation, as BLIP computes it, with batched ITM re-ranking.

1. ITC: every image and text is embedded once; sims = image_feats @ text_feats.T  (I, T).
2. Each image's top `k_test` texts and each text's top `k_test` images are re-ranked by ITM.
   BLIP scores each query's candidates in a loop, repeating the image for every pair. Here
   the pairs of both directions are pooled, each distinct pair is scored once, and pairs are
   grouped by image, so an image's cross-attention keys and values are computed once for all
   the texts it meets (MED folds the texts into the image's query axis).
3. Score: `itm+itc` adds the ITM match logit and the ITC similarity (what BLIP does);
   `itm` is the logit alone; `itc` skips re-ranking. Pairs outside the top k score -100.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from blipctl.data.annotations import image_id, read_json_list, retrieval_records
from blipctl.data.loader import image_sample
from blipctl.errors import BlipctlError
from blipctl.eval.batches import EvalData, Evaluation, eval_batches
from blipctl.eval.retrieval_metric import recall_at_k
from blipctl.models.protocols import Embedder, Matcher, require

Score = Literal["itm+itc", "itm", "itc"]


def top_k_pairs(sims: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """sims (I, T) -> the distinct (image, text) pairs of both directions' top k, sorted by
    image then text, as codes image * T + text (P,); and each direction's top-k indices
    (I, k) texts per image, (T, k) images per text."""
    n_img, n_txt = sims.shape
    i2t = sims.topk(min(k, n_txt), dim=1).indices
    t2i = sims.t().topk(min(k, n_img), dim=1).indices
    rows = torch.arange(n_img, device=sims.device)[:, None] * n_txt + i2t
    cols = t2i * n_txt + torch.arange(n_txt, device=sims.device)[:, None]
    return torch.unique(torch.cat([rows.flatten(), cols.flatten()])), i2t, t2i


def itc_similarity(image_feats: torch.Tensor, text_feats: torch.Tensor, chunk: int = 64) -> torch.Tensor:
    """(I, T) ITC similarities: image (I, E) @ text (T, E).T, or for BLIP-2's (I, Q, E) query
    features the best of the Q queries (computed `chunk` images at a time)."""
    if image_feats.dim() == 2:
        return image_feats @ text_feats.t()
    return torch.cat([(part @ text_feats.t()).amax(dim=1) for part in image_feats.split(chunk)])


@torch.no_grad()
def itm_pair_scores(model: Matcher, image_tokens: torch.Tensor, ids: torch.Tensor,
                    mask: torch.Tensor, codes: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    """ITM match logits (P,) for pairs `codes` (image * T + text, sorted): one forward per
    image and chunk of its texts, the image's tokens (1, N, D) shared by the chunk."""
    n_txt = ids.shape[0]
    images, counts = torch.unique_consecutive(codes // n_txt, return_counts=True)
    texts = (codes % n_txt).split(counts.tolist())
    out = []
    for i, t_all in zip(images.tolist(), texts, strict=True):
        image = image_tokens[i:i + 1]
        for t in t_all.split(batch_size):
            n = len(t)
            if t.is_cuda:  # few distinct shapes, so CUDA attention plans are built once each
                t = torch.cat([t, t[-1:].expand(min(batch_size, 1 << (n - 1).bit_length()) - n)])
            out.append(model.itm_logits(image, ids[t], mask[t])[:n, 1].float())
    return torch.cat(out)


def rerank(model: Matcher, image_tokens: torch.Tensor, sims: torch.Tensor, ids: torch.Tensor,
           mask: torch.Tensor, k: int, score: Score = "itm+itc",
           batch_size: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
    """BLIP's re-ranked score matrices: (I, T) for text retrieval, (T, I) for image retrieval."""
    if score == "itc":
        return sims, sims.t()
    codes, i2t, t2i = top_k_pairs(sims, k)
    n_txt = sims.shape[1]
    pair = itm_pair_scores(model, image_tokens, ids, mask, codes, batch_size)
    if score == "itm+itc":
        pair = pair + sims.flatten()[codes]

    def lookup(c: torch.Tensor) -> torch.Tensor:
        return pair[torch.searchsorted(codes, c)]

    s_i2t = torch.full_like(sims, -100.0)
    s_i2t.scatter_(1, i2t, lookup(torch.arange(sims.shape[0], device=sims.device)[:, None] * n_txt + i2t))
    s_t2i = torch.full_like(sims.t(), -100.0)
    s_t2i.scatter_(1, t2i, lookup(t2i * n_txt + torch.arange(n_txt, device=sims.device)[:, None]))
    return s_i2t, s_t2i


@torch.no_grad()
def rerank_per_query(model: Matcher, image_tokens: torch.Tensor, sims: torch.Tensor,
                     ids: torch.Tensor, mask: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The BLIP repo's algorithm (train_retrieval.py `evaluation`), kept as the reference that
    tests and benchmarks/retrieval_eval.py compare `rerank` with: each query's k candidates
    scored in one ITM batch, the image repeated for every pair; score = ITM logit + ITC sim."""
    n_img, n_txt = sims.shape
    s_i2t = torch.full((n_img, n_txt), -100.0, device=sims.device)
    for i in range(n_img):
        top_sim, top = sims[i].topk(k)
        logit = model.itm_logits(image_tokens[i].repeat(k, 1, 1), ids[top], mask[top])[:, 1]
        s_i2t[i, top] = logit.float() + top_sim
    s_t2i = torch.full((n_txt, n_img), -100.0, device=sims.device)
    for t in range(n_txt):
        top_sim, top = sims[:, t].topk(k)
        logit = model.itm_logits(image_tokens[top], ids[t].repeat(k, 1), mask[t].repeat(k, 1))[:, 1]
        s_t2i[t, top] = logit.float() + top_sim
    return s_i2t, s_t2i


class RetrievalEval:
    """COCO / Flickr30k Karpathy-split retrieval: TR and IR R@1/5/10 and their means.
    A pretrained (not fine-tuned) model is evaluated zero-shot with its own ITC and ITM heads."""

    needs = Matcher  # and Embedder: ITC features first, ITM re-ranking of the top k

    def __init__(self, k_test: int = 256, score: Score = "itm+itc", itm_batch_size: int = 256,
                 max_words: int = 30, max_length: int = 35):
        self.k_test, self.score, self.itm_batch_size = k_test, score, itm_batch_size
        self.max_words, self.max_length = max_words, max_length

    @torch.no_grad()
    def __call__(self, model: Matcher, data: EvalData, device: torch.device,
                 dtype: torch.dtype) -> Evaluation:
        model = require(model, Embedder, "the retrieval evaluation's model")
        images, texts, img2txt, txt2img = retrieval_records(f"{data.root}/{data.annotations}", data.root,
                                                            self.max_words)
        ids, mask = model.codec.encode(texts, "text", max_length=self.max_length, device=device)
        text_feats = torch.cat([model.text_features(i, m) for i, m in
                                zip(ids.split(256), mask.split(256), strict=True)]).float()  # (T, E)
        bad, tokens, feats, kept = [], [], [], []
        size = data.image_size or model.image_size
        for batch in eval_batches(images, image_sample(size, False), data.batch_size, data.workers, bad):
            t = model.encode_image(batch["image"].to(device=device, dtype=dtype))  # (B, N, D)
            tokens.append(t)
            feats.append(model.image_features(t).float())
            kept += batch["index"]
        if bad:  # drop unreadable images and their texts, as if the split never had them
            keep_txt = [t for i in kept for t in img2txt[i]]
            text_feats, ids, mask = text_feats[keep_txt], ids[keep_txt], mask[keep_txt]
            where = {t: n for n, t in enumerate(keep_txt)}
            img2txt = [[where[t] for t in img2txt[i]] for i in kept]
            txt2img = [n for n, i in enumerate(kept) for _ in img2txt[n]]
            images, texts = [images[i] for i in kept], [texts[t] for t in keep_txt]
        image_tokens = torch.cat(tokens)
        sims = itc_similarity(torch.cat(feats), text_feats)  # (I, T)
        ids = model.codec.restart(ids, "grounded")  # ITM reads the text from [ENC] (or [CLS])
        s_i2t, s_t2i = rerank(model, image_tokens, sims, ids, mask, self.k_test, self.score,
                              self.itm_batch_size)
        s_i2t, s_t2i = s_i2t.cpu().numpy(), s_t2i.cpu().numpy()
        metrics = recall_at_k(s_i2t, img2txt, txt2img, scores_t2i=s_t2i)
        image_ids = [im["image_id"] for im in images]
        top = np.argsort(-s_i2t, axis=1, kind="stable")[:, :5]
        predictions = {"image_ids": image_ids, "text_image_ids": [image_ids[i] for i in txt2img],
                       "top5_texts": {str(image_ids[i]): [texts[t] for t in row]
                                      for i, row in enumerate(top.tolist())}}
        return Evaluation(predictions, metrics, {"scores_i2t": s_i2t, "scores_t2i": s_t2i}, bad)


def score_file(predictions: str | Path, annotations: str | Path) -> dict[str, float]:
    """R@K from a saved score matrix and a Karpathy-style split (rows: its images in order,
    columns: their captions in order). `.npy`: one (I, T) matrix for both directions. JSON:
    {"scores_i2t": (I, T), "scores_t2i": (T, I) optional, "image_ids": [..] optional}; with
    image_ids, rows may come in any order and are matched to the split's ids."""
    path = Path(predictions)
    _, texts, img2txt, txt2img = retrieval_records(annotations, ".")
    split_ids = [image_id(r, i) for i, r in enumerate(read_json_list(annotations))]
    s_t2i = None
    try:
        if path.suffix == ".npy":
            s_i2t = np.load(path, allow_pickle=False)
        else:
            data = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(data, dict) or "scores_i2t" not in data:
                raise BlipctlError(f"{path}: expected a JSON object with `scores_i2t`")
            s_i2t = np.asarray(data["scores_i2t"], dtype=np.float64)
            if data.get("scores_t2i") is not None:
                s_t2i = np.asarray(data["scores_t2i"], dtype=np.float64)
            if data.get("image_ids") is not None:
                order = {str(i): n for n, i in enumerate(data["image_ids"])}
                missing = [i for i in split_ids if str(i) not in order]
                if missing or len(order) != len(split_ids):
                    raise BlipctlError(f"{path}: `image_ids` do not match the split's {len(split_ids)} "
                                       f"image ids" + (f" (missing {missing[0]})" if missing else ""))
                rows = [order[str(i)] for i in split_ids]
                s_i2t = s_i2t[rows]
                s_t2i = None if s_t2i is None else s_t2i[:, rows]
    except (OSError, ValueError) as e:
        raise BlipctlError(f"{path}: cannot read a score matrix ({e})") from None
    want = (len(img2txt), len(texts))
    if s_i2t.shape != want or (s_t2i is not None and s_t2i.shape != want[::-1]):
        raise BlipctlError(f"{path}: expected an {want[0]} x {want[1]} image-to-text matrix (the "
                           f"split's images x captions), got {' x '.join(map(str, s_i2t.shape))}")
    return recall_at_k(s_i2t, img2txt, txt2img, scores_t2i=s_t2i)
