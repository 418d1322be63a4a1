"""Prints the mini CapFilt ablation (BLIP's Table 1, in small) from `make demo`'s run
directories, as markdown: `python scripts/capfilt_table.py [runs/mini]`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROWS = [("no CapFilt", "pretrain", None), ("filter only", "pretrain_filter", "filter"),
        ("captioner only", "pretrain_captioner", "captioner"),
        ("captioner + filter", "pretrain_both", "both")]


def main() -> int:
    root = Path(sys.argv[1] if len(sys.argv) > 1 else "runs/mini")

    def read(*parts: str) -> dict:
        return json.loads(root.joinpath(*parts).read_text())

    n_test = len(read("corpus", "caption_test.json"))
    web = len(read("corpus", "web.json"))
    print("| pretraining set | pairs | TR@1 | IR@1 | TR@10 | IR@10 | CIDEr | BLEU-4 "
          "| filter precision | filter recall |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, run, capfilt in ROWS:
        ret = read("eval", run, "retrieval", "metrics.json")
        cap = read("eval", run, "caption", "metrics.json")
        noise = pairs = None
        if capfilt is not None:
            summary = read("capfilt", capfilt, "summary.json")
            noise, pairs = summary.get("noise") if summary["filter"] else None, summary["kept"]
        cells = [name, str(pairs if pairs is not None else web),
                 *(f"{ret[k]:.1f}" for k in ("tr_r1", "ir_r1", "tr_r10", "ir_r10")),
                 f"{cap['cider']:.1f}", f"{cap['bleu_4']:.1f}",
                 *((f"{noise['precision']:.1f}", f"{noise['recall']:.1f}") if noise else ("-", "-"))]
        print("| " + " | ".join(cells) + " |")
    print(f"| chance | | {100 / n_test:.1f} | {100 / n_test:.1f} | {1000 / n_test:.1f} | {1000 / n_test:.1f} "
          "| | | | |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
