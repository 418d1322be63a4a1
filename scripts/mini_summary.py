"""Prints the mini recipes' learning figures from a demo's run directories (markdown):
`python scripts/mini_summary.py [runs/mini]`."""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main() -> int:
    root = Path(sys.argv[1] if len(sys.argv) > 1 else "runs/mini")

    def metrics(name: str) -> dict:
        return json.loads((root / "eval" / name / "metrics.json").read_text())

    def loss(run: str, key: str) -> tuple[float, float]:
        rows = [json.loads(x) for x in (root / run / "metrics.jsonl").read_text().splitlines()]
        return rows[0][key], rows[-1][key]

    n_test = len(json.loads((root / "corpus" / "caption_test.json").read_text()))
    cap, ret, vqa, nlvr = metrics("caption"), metrics("retrieval"), metrics("vqa"), metrics("nlvr")
    first, last = loss("caption", "lm")
    rows = [
        ("pretrain: ITC / ITM / LM loss, first → last logged",
         " / ".join(f"{a:.2f} → {b:.2f}" for a, b in (loss("pretrain", k) for k in ("itc", "itm", "lm"))),
         ""),
        ("caption: LM loss, first → last logged", f"{first:.2f} → {last:.2f}", ""),
        ("caption: CIDEr / BLEU-4 (test)", f"{cap['cider']:.1f} / {cap['bleu_4']:.1f}", ""),
        ("retrieval: TR@1 / IR@1 (test)", f"{ret['tr_r1']:.1f} / {ret['ir_r1']:.1f}",
         f"{100 * 5 / (5 * n_test):.1f} / {100 / n_test:.1f}"),
        ("retrieval: TR@10 / IR@10", f"{ret['tr_r10']:.1f} / {ret['ir_r10']:.1f}",
         f"{100 * 50 / (5 * n_test):.1f} / {1000 / n_test:.1f}"),
        ("VQA accuracy (test), overall", f"{vqa['overall']:.1f}", ""),
        ("VQA by answer type: yes/no / number / other",
         " / ".join(f"{vqa['per_answer_type'][k]:.1f}" for k in ("yes/no", "number", "other")), "50 / - / -"),
        ("NLVR2 accuracy (test)", f"{nlvr['acc']:.1f}", "50"),
    ]
    print("| figure | measured | chance |\n|---|---|---|")
    for name, value, chance in rows:
        print(f"| {name} | {value} | {chance} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
