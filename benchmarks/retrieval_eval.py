"""Retrieval re-ranking: blipctl's batched ITM re-ranking against the BLIP repo's per-query loop,
on the same weights, N images and 5N texts.

    python benchmarks/retrieval_eval.py [--images 16] [--k-test 16] [--image-size 384]
                                        [--device cpu|cuda] [--dtype fp32|bf16] [--out result.json]

The model is BLIP-base-shaped (ViT-B/16, BERT-base text encoder) with random weights,
re-initialised so that different images and texts score differently; speed does not depend on
the weight values. Both algorithms start from the same ITC similarities and image tokens
(embedding is shared, and timed apart). Prints each one's re-ranking time, the ratio, and
whether every query's ranking of the ground truth, and its top 10, are identical.
"""

from __future__ import annotations

import argparse
import json
import os
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from blipctl.eval.retrieval import rerank, rerank_per_query  # noqa: E402
from blipctl.eval.retrieval_metric import recall_at_k  # noqa: E402
from blipctl.models.builders import blip_retrieval_base  # noqa: E402


def model_and_inputs(n_img: int, image_size: int, device, dtype):
    torch.manual_seed(0)
    model = blip_retrieval_base(image_size=image_size).eval()
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if not name.endswith("ln.weight") and "norm" not in name:
                p.copy_(torch.randn(p.shape, generator=g) * (0.04 if p.dim() > 1 else 0.02))
    model = model.to(device=device, dtype=dtype)
    # smooth random images (low-frequency noise, upsampled) and caption-length random texts
    images = torch.nn.functional.interpolate(torch.randn(n_img, 3, 12, 12, generator=g), size=image_size,
                                             mode="bicubic")
    n_txt = 5 * n_img
    ids = torch.randint(1000, 29000, (n_txt, 20), generator=g)
    lengths = torch.randint(8, 21, (n_txt,), generator=g)
    mask = (torch.arange(20)[None] < lengths[:, None]).long()
    ids = ids * mask
    ids[:, 0] = 101
    ids[torch.arange(n_txt), lengths - 1] = 102
    return model, images.to(device=device, dtype=dtype), ids.to(device), mask.to(device)


def sync(device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


@torch.no_grad()
def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=16)
    ap.add_argument("--k-test", type=int, default=16)
    ap.add_argument("--image-size", type=int, default=384)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dtype", default="fp32", choices=["fp32", "bf16"])
    ap.add_argument("--itm-batch-size", type=int, default=256)
    ap.add_argument("--out")
    args = ap.parse_args()
    device = torch.device(args.device)
    dtype = {"fp32": torch.float32, "bf16": torch.bfloat16}[args.dtype]
    model, images, ids, mask = model_and_inputs(args.images, args.image_size, device, dtype)

    sync(device)
    t0 = time.perf_counter()
    tokens = torch.cat([model.encode_image(x) for x in images.split(16)])
    sims = model.image_features(tokens).float() @ model.text_features(ids, mask).float().t()
    sync(device)
    t_embed = time.perf_counter() - t0
    itm_ids = ids.clone()
    itm_ids[:, 0] = 30523  # [ENC]

    rerank(model, tokens[:1], sims[:1, :8], itm_ids[:8], mask[:8], 2)  # warm-up
    t0 = time.perf_counter()
    ref_i2t, ref_t2i = rerank_per_query(model, tokens, sims, itm_ids, mask, args.k_test)
    sync(device)
    t_ref = time.perf_counter() - t0
    t0 = time.perf_counter()
    got_i2t, got_t2i = rerank(model, tokens, sims, itm_ids, mask, args.k_test, "itm+itc",
                              args.itm_batch_size)
    sync(device)
    t_ours = time.perf_counter() - t0

    def ranks(s_i2t, s_t2i):
        s_i2t, s_t2i = s_i2t.float().cpu().numpy(), s_t2i.float().cpu().numpy()
        top_i2t = np.argsort(-s_i2t, axis=1, kind="stable")[:, :10]
        top_t2i = np.argsort(-s_t2i, axis=1, kind="stable")[:, :10]
        return top_i2t, top_t2i, s_i2t, s_t2i

    a, b = ranks(ref_i2t, ref_t2i), ranks(got_i2t, got_t2i)
    img2txt = [list(range(5 * i, 5 * i + 5)) for i in range(args.images)]
    txt2img = [t // 5 for t in range(5 * args.images)]
    result = {
        "device": str(device), "dtype": args.dtype, "images": args.images, "texts": 5 * args.images,
        "k_test": args.k_test, "image_size": args.image_size,
        "embed_s": round(t_embed, 3), "blip_per_query_s": round(t_ref, 3),
        "blipctl_batched_s": round(t_ours, 3),
        "ratio": round(t_ref / t_ours, 2),
        "top10_identical": bool((a[0] == b[0]).all() and (a[1] == b[1]).all()),
        "recall_identical": recall_at_k(a[2], img2txt, txt2img, scores_t2i=a[3])
        == recall_at_k(b[2], img2txt, txt2img, scores_t2i=b[3]),
        "max_abs_score_diff": float(np.abs(a[2] - b[2]).max()),
        "scores_vary": float(a[2][a[2] > -100].std()),
    }
    print(json.dumps(result, indent=1))
    if args.out:
        with open(args.out, "w") as f:
            json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
