"""A mini pretraining step (ITC + ITM + LM, backward, AdamW, momentum update) with the synthetic
corpus's own vocab (512 ids, what the mini recipes use) against BERT's 30,524, same model and
batch otherwise.

    python benchmarks/mini_vocab_step.py [--steps 15] [--out result.json]

Prints the CPU's flags and the fp32 / bf16 matmul peak measured in the same run, the median
step time of each vocab and their ratio. The texts are random ids (speed does not depend on
which tokens they are): 32 pairs of 64-px images and 22 tokens.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402


def cpu_flags() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            flags = next(line for line in f if line.startswith("flags")).split()
    except (OSError, StopIteration):
        return "unknown"
    return " ".join(f for f in ("avx2", "avx512f", "avx512_bf16", "amx_bf16") if f in flags) or "none"


def matmul_peak(dtype: torch.dtype, n: int = 1024, reps: int = 10) -> float:
    """GFLOP/s of an n×n @ n×n matmul, best of `reps`."""
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    a @ b
    best = min(_timed(lambda: a @ b) for _ in range(reps))
    return 2 * n ** 3 / best / 1e9


def _timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


class RandomText:
    """A codec stand-in: random ids below the vocab size, the start ids BLIP's codec would use."""

    def __init__(self, vocab: int):
        self.vocab = vocab

    def encode(self, texts, start, max_length=None, device=None):
        g = torch.Generator().manual_seed(len(texts))
        ids = torch.randint(5, self.vocab - 2, (len(texts), 22), generator=g)
        ids[:, 0] = 2
        return ids, torch.ones_like(ids)

    def restart(self, ids, start):
        ids = ids.clone()
        ids[:, 0] = self.vocab - 1 if start == "grounded" else self.vocab - 2
        return ids


def median_step(vocab: int, steps: int) -> float:
    from dataclasses import replace

    from blipctl.models import builders
    from blipctl.models.blip import BlipPretrain
    from blipctl.tasks.context import Context
    from blipctl.tasks.pretrain import Pretrain

    torch.manual_seed(0)
    model = BlipPretrain(builders.vit_tiny(64), replace(builders.med_tiny(128), vocab_size=vocab), 64, 0, 0.9)
    model.codec = RandomText(vocab)
    task, ctx = Pretrain(), Context(torch.device("cpu"), 0, 0, 100)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    batch = {"image": torch.randn(32, 3, 64, 64), "caption": ["x"] * 32}

    def step():
        task.losses(model, batch, ctx)["loss"].backward()
        opt.step()
        opt.zero_grad()
        model.momentum_update()

    for _ in range(3):
        step()
    return statistics.median(_timed(step) for _ in range(steps))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=15)
    ap.add_argument("--out")
    args = ap.parse_args()
    result = {"cpu_flags": cpu_flags(), "threads": torch.get_num_threads(),
              "matmul_gflops_fp32": round(matmul_peak(torch.float32), 1),
              "matmul_gflops_bf16": round(matmul_peak(torch.bfloat16), 1)}
    bert, own = median_step(30524, args.steps), median_step(512, args.steps)
    result.update(step_s_bert_vocab=round(bert, 4), step_s_corpus_vocab=round(own, 4),
                  ratio=round(bert / own, 2))
    print(json.dumps(result, indent=1))
    if args.out:
        with open(args.out, "w") as f:
            json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
