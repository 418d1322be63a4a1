"""Prints the mini BLIP-2's figures from `make demo-blip2`'s run directories (markdown):
`python scripts/blip2_summary.py [runs/mini]`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

# (row label, stage-2 run) for the caption and zero-shot VQA rows
BRIDGES = (("OPT, stage 2 (LAVIS: whole caption)", "blip2_opt"),
           ("OPT, untrained bridge (stage 1 only)", "blip2_opt_untrained"),
           ("Flan-T5-style, stage 2 (LAVIS: whole caption)", "blip2_t5"),
           ("Flan-T5-style, stage 2 (paper: prefix split at a random word)", "blip2_t5_split"),
           ("Flan-T5-style, untrained bridge (stage 1 only)", "blip2_t5_untrained"))


def main() -> int:
    root = Path(sys.argv[1] if len(sys.argv) > 1 else "runs/mini")

    def metrics(name: str) -> dict:
        return json.loads((root / "eval" / name / "metrics.json").read_text())

    def losses(run: str, keys: tuple[str, ...]) -> str:
        rows = [json.loads(x) for x in (root / run / "metrics.jsonl").read_text().splitlines()]
        return " / ".join(f"{rows[0][k]:.2f} → {rows[-1][k]:.2f}" for k in keys)

    n_test = len(json.loads((root / "corpus" / "caption_test.json").read_text()))
    ret = metrics("blip2_stage1_retrieval")
    print("| figure | measured | chance |\n|---|---|---|")
    print(f"| LM pretraining (text only): LM loss, first → last logged, OPT / T5 | "
          f"{losses('opt', ('lm',))} / {losses('t5', ('lm',))} | |")
    stage1 = losses("blip2_stage1", ("itc", "itm", "itg"))
    print(f"| stage 1: ITC / ITM / ITG loss, first → last logged | {stage1} | |")
    print(f"| stage 1, zero-shot retrieval: TR@1 / IR@1 (test) | {ret['tr_r1']:.1f} / {ret['ir_r1']:.1f} | "
          f"{100 / n_test:.1f} / {100 / n_test:.1f} |")
    print(f"| stage 1, zero-shot retrieval: TR@10 / IR@10 | {ret['tr_r10']:.1f} / {ret['ir_r10']:.1f} | "
          f"{1000 / n_test:.1f} / {1000 / n_test:.1f} |")
    print("\n| model | caption CIDEr / BLEU-4 | zero-shot VQA overall | yes/no / number / other |")
    print("|---|---|---|---|")
    for label, run in BRIDGES:
        if not (root / "eval" / f"{run}_caption").is_dir():
            continue
        cap, vqa = metrics(f"{run}_caption"), metrics(f"{run}_vqa")
        types = " / ".join(f"{vqa['per_answer_type'][k]:.1f}" for k in ("yes/no", "number", "other"))
        print(f"| {label} | {cap['cider']:.1f} / {cap['bleu_4']:.1f} | {vqa['overall']:.1f} | {types} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
