"""Prints the mini InstructBLIP's figures from `make demo-instructblip`'s run directories
(markdown): `python scripts/instructblip_summary.py [runs/mini]`.

Each model answers the whole VQA test split zero-shot ("Question: {} Short answer:"); the
VQAv2 accuracy is split by question kind. Colour questions were held out of instruction tuning
(no colour question, in any template, was trained on); the other kinds were held in."""

from __future__ import annotations

import json
import sys
from pathlib import Path

# (row label, run whose eval is eval/<run>_vqa)
MODELS = (("mini BLIP-2 (stage 2 on captions; no instruction tuning)", "blip2_t5"),
          ("mini InstructBLIP (instruction-tuned; the Q-Former reads the instruction)", "instructblip_t5"),
          ("instruction-tuned, the Q-Former blind to the instruction (paper's ablation)",
           "instructblip_t5_blind"))
KINDS = (("colour (held out)", "what color is the"), ("count", "how many"), ("exists", "is there a"),
         ("where", "where is the"))


def main() -> int:
    root = Path(sys.argv[1] if len(sys.argv) > 1 else "runs/mini")
    rows = []
    for label, run in MODELS:
        path = root / "eval" / f"{run}_vqa" / "metrics.json"
        if path.is_file():
            m = json.loads(path.read_text())
            rows.append((label, [m["per_question_type"][q] for _, q in KINDS], m["overall"]))
    if not rows:
        print(f"no evaluations under {root}/eval/*_vqa", file=sys.stderr)
        return 1
    print("| model | " + " | ".join(k for k, _ in KINDS) + " | all |")
    print("|---|" + "---|" * (len(KINDS) + 1))
    for label, kinds, overall in rows:
        print(f"| {label} | " + " | ".join(f"{v:.1f}" for v in kinds) + f" | {overall:.1f} |")
    n = len(json.loads((root / "corpus" / "vqa_test_colour.json").read_text()))
    if len(rows) > 1:
        gain = rows[1][1][0] - rows[0][1][0]
        print(f"\nheld-out (colour, {n} questions) zero-shot gain of instruction tuning: {gain:+.1f} points")
    return 0


if __name__ == "__main__":
    sys.exit(main())
