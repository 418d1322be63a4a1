"""Prints the mini CapFilt ablation (BLIP's Table 1, in small) from `make demo`'s run
directories, as markdown: `python scripts/capfilt_table.py [runs/mini]`.

Every retrieval and caption figure comes with its 95% bootstrap interval over the test images
(2,000 redraws, seed 0), and a second table gives the paper's comparisons as paired
differences on the same redraws: a difference whose interval excludes 0 exceeds the spread
that the choice of test images alone brings.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from blipctl.data.annotations import retrieval_records
from blipctl.eval.bootstrap import interval, paired_difference, redraws
from blipctl.eval.retrieval_metric import ranks

ROWS = [("no CapFilt", "pretrain", None), ("filter only", "pretrain_filter", "filter"),
        ("captioner only", "pretrain_captioner", "captioner"),
        ("captioner + filter", "pretrain_both", "both")]
METRICS = ("TR@1", "IR@1", "TR@10", "IR@10", "CIDEr")
# BLIP's Table 1: each CapFilt component helps, and both help more than either
COMPARISONS = [("captioner + filter", "no CapFilt"), ("filter only", "no CapFilt"),
               ("captioner only", "no CapFilt"), ("captioner + filter", "filter only"),
               ("captioner + filter", "captioner only")]
KINDS = ("junk", "mismatch", "attribute")


def per_image(root: Path, run: str, split: Path) -> dict[str, np.ndarray]:
    """Each test image's R@1 / R@10 hits (IR: the mean over its captions) and CIDEr (%)."""
    images, _, img2txt, txt2img = retrieval_records(split, ".")
    ret = root / "eval" / run / "retrieval"
    tr, ir = ranks(np.load(ret / "scores_i2t.npy"), img2txt, txt2img, np.load(ret / "scores_t2i.npy"))
    out = {}
    for k in (1, 10):
        out[f"TR@{k}"] = 100.0 * (tr < k)
        out[f"IR@{k}"] = np.array([100.0 * np.mean(ir[t] < k) for t in img2txt])
    cap = root / "eval" / run / "caption"
    order = [str(p["image_id"]) for p in json.loads((cap / "predictions.json").read_text())]
    cider = dict(zip(order, np.load(cap / "cider_per_image.npy").tolist(), strict=True))
    out["CIDEr"] = np.array([cider[str(im["image_id"])] for im in images])
    return out


def main() -> int:
    root = Path(sys.argv[1] if len(sys.argv) > 1 else "runs/mini")

    def read(*parts: str) -> dict:
        return json.loads(root.joinpath(*parts).read_text())

    split = root / "corpus" / "caption_test.json"
    n_images = len(read("corpus", "caption_test.json"))
    web = len(read("corpus", "web.json"))
    draws = redraws(n_images)
    rows = {}
    print("| pretraining set | pairs | " + " | ".join(METRICS) + " | BLEU-4 | filter AUC "
          "| filter precision | filter recall |")
    print("|---|---|" + "---|" * (len(METRICS) + 4))
    for name, run, capfilt in ROWS:
        rows[name] = values = per_image(root, run, split)
        bleu = read("eval", run, "caption", "metrics.json")["bleu_4"]
        noise, pairs = None, web
        if capfilt is not None:
            summary = read("capfilt", capfilt, "summary.json")
            noise, pairs = summary.get("noise") if summary["filter"] else None, summary["kept"]
        cells = [name, str(pairs)]
        for m in METRICS:
            lo, hi = interval(values[m], draws)
            cells.append(f"{values[m].mean():.1f} ({lo:.1f}-{hi:.1f})")
        cells.append(f"{bleu:.1f}")
        cells += ([f"{noise['roc_auc']:.3f}", f"{noise['precision']:.1f}", f"{noise['recall']:.1f}"]
                  if noise else ["-", "-", "-"])
        print("| " + " | ".join(cells) + " |")
    n_texts = 5 * n_images
    print(f"| chance | | {100 * 5 / n_texts:.1f} | {100 / n_images:.1f} | {1000 * 5 / n_texts:.1f} "
          f"| {1000 / n_images:.1f} | | | | | |")

    print("\nPaired differences on the same bootstrap redraws of the test images (95% interval); "
          "**bold**: the interval excludes 0.\n")
    print("| comparison | " + " | ".join(f"Δ{m}" for m in METRICS) + " |")
    print("|---|" + "---|" * len(METRICS))
    for a, b in COMPARISONS:
        cells = [f"{a} − {b}"]
        for m in METRICS:
            d, lo, hi = paired_difference(rows[a][m], rows[b][m], draws)
            cell = f"{d:+.1f} ({lo:+.1f} to {hi:+.1f})"
            cells.append(f"**{cell}**" if lo > 0 or hi < 0 else cell)
        print("| " + " | ".join(cells) + " |")

    noise = read("capfilt", "both", "summary.json").get("noise")
    if noise and noise.get("by_kind"):
        print("\nThe filter by kind of noise (web texts; precision and ROC AUC against the clean "
              "texts alone):\n")
        print("| noise | texts | removed | precision | recall | ROC AUC |")
        print("|---|---|---|---|---|---|")
        clean = noise["web_texts"] - noise["noisy"]
        clean_removed = noise["removed"] - sum(k["removed"] for k in noise["by_kind"].values())
        print(f"| none (clean) | {clean} | {clean_removed} | | | |")
        for kind in KINDS:
            k = noise["by_kind"].get(kind)
            if k:
                print(f"| {kind} | {k['texts']} | {k['removed']} | {k['precision']:.1f} | {k['recall']:.1f} "
                      f"| {k['roc_auc']:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
