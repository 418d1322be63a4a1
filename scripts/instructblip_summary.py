"""Prints the mini InstructBLIP's figures from `make demo-instructblip`'s run directories
(markdown): `python scripts/instructblip_summary.py [runs/mini]`.

Each model answers the whole VQA test split zero-shot ("Question: {} Short answer:"); the
VQAv2 accuracy is split by question kind. Colour questions were held out of instruction tuning
(no colour question, in any template, was trained on); the other kinds were held in (but for the
captions-only control, which saw no question). The held-out figure pools the colour questions of
the test and validation splits, with paired bootstrap intervals against the mini BLIP-2."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from blipctl.eval.bootstrap import paired_difference, redraws
from blipctl.eval.vqa_metric import question_accuracy

# (row label, run whose eval is eval/<run>_vqa)
MODELS = (("mini BLIP-2 (stage 2 on captions; no instruction tuning)", "blip2_t5"),
          ("mini InstructBLIP (instruction-tuned; the Q-Former reads the instruction)", "instructblip_t5"),
          ("instruction-tuned, the Q-Former blind to the instruction (paper's ablation)",
           "instructblip_t5_blind"),
          ("control: the same tuning on captions alone (no question of any kind)",
           "instructblip_t5_captions"))
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
    if len(rows) > 1:
        gain = rows[1][1][0] - rows[0][1][0]
        print(f"\nheld-out (colour, test split) zero-shot gain of instruction tuning: {gain:+.1f} points")
        held_out(root)
    return 0


def held_out(root: Path) -> None:
    """The held-out gain on every colour question of the test and validation splits (neither is
    trained on), with a paired bootstrap interval over the questions."""
    splits = (("vqa_test_colour.json", "vqa"), ("vqa_val_colour.json", "vqa_val_colour"))
    runs = [run for _, run in MODELS if all((root / "eval" / f"{run}_{e}").is_dir() for _, e in splits)]
    if len(runs) < 2 or runs[0] != MODELS[0][1]:
        return
    per = {run: np.concatenate([per_question(root / "eval" / f"{run}_{e}", root / "corpus" / f)
                                for f, e in splits]) for run in runs}
    base = per[runs[0]]
    draws = redraws(len(base))
    print(f"\nHeld-out colour questions of the test and validation splits ({len(base)}), VQAv2 accuracy, "
          "95% paired bootstrap interval over the questions:\n")
    print("| model | held-out accuracy | minus the mini BLIP-2 |")
    print("|---|---|---|")
    for label, run in MODELS:
        if run in per:
            diff = "" if run == runs[0] else "{:+.1f} ({:+.1f} to {:+.1f})".format(
                *paired_difference(per[run], base, draws))
            print(f"| {label} | {per[run].mean():.1f} | {diff} |")


def per_question(eval_dir: Path, split: Path) -> np.ndarray:
    """Each question's VQAv2 accuracy (%) of an evaluation's answers, in the split's order."""
    answers = {p["question_id"]: p["answer"] for p in json.loads((eval_dir / "predictions.json").read_text())}
    return np.array([100 * question_accuracy(answers[q["question_id"]], q["answer"])
                     for q in json.loads(split.read_text())])


if __name__ == "__main__":
    sys.exit(main())
