"""BLIP-2 training steps on CPU: a stage-1 step's throughput and model-FLOP utilisation, and the
peak memory of a stage-2 step with a frozen LM against a hand-written transformers script.

    python benchmarks/blip2_train_step.py [--steps 5] [--out result.json]

Prints the CPU's flags and the fp32 / bf16 matmul peak measured in the same run.

stage 1: blipctl's Stage1 task (ITC + ITM + ITG, backward, AdamW) on BLIP-2's Q-Former (BERT-base,
32 queries) over a frozen EVA-shaped tower cut to 4 blocks of 768 (CPU-sized; 224 px, 257 tokens),
8 pairs of 32 tokens. FLOPs are counted by torch's FlopCounterMode over one whole step; the
utilisation is FLOPs / median step time / the fp32 matmul peak (the Q-Former trains in fp32).

stage 2: one training step (PrefixCaption, backward, AdamW on the trainable parts) of a BLIP-2 with
an OPT-350m-shaped LM (24 layers of 1024, random weights), in fresh processes: blipctl (the tower
and the LM frozen in bf16, optimizer state for the trainable parts only) against transformers'
Blip2ForConditionalGeneration trained as a script does it (fp32, vision model and LM
requires_grad_(False), AdamW over the rest). Peak RSS from wait4, and wall time.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import torch  # noqa: E402
from blip2_memory import measured  # noqa: E402
from mini_vocab_step import cpu_flags, matmul_peak  # noqa: E402

TEXTS = ["a small red circle to the left of a large blue square on a white background"] * 8


def stage1_model():
    from blipctl.models import builders
    from blipctl.models.eva import EvaConfig, EvaViT

    torch.manual_seed(0)
    tower = EvaViT(EvaConfig(image_size=224, width=768, depth=4, heads=12, mlp_width=3072))
    return builders.blip2_stage1(tower, builders.qformer_base(vision_width=768), embed_dim=256).train()


def stage1(steps: int) -> dict:
    from torch.utils.flop_counter import FlopCounterMode

    from blipctl.tasks.blip2_stage1 import Stage1
    from blipctl.tasks.context import Context

    model, task = stage1_model(), Stage1()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-5)
    batch = {"image": torch.randn(8, 3, 224, 224), "caption": TEXTS}
    ctx = Context(torch.device("cpu"))

    def step():
        task.losses(model, batch, ctx)["loss"].backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    step()  # warm-up
    with FlopCounterMode(display=False) as counter:
        step()
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    seconds = statistics.median(times)
    flops = counter.get_total_flops()
    return {"step_s": round(seconds, 3), "images_per_s": round(8 / seconds, 1),
            "gflop_per_step": round(flops / 1e9, 1), "achieved_gflops": round(flops / seconds / 1e9, 1)}


def make_checkpoint(out: Path) -> None:
    """Blip2ForConditionalGeneration with a 4-block EVA tower and an OPT-350m-shaped LM, saved in fp32."""
    from blip2_fixtures import opt_tokenizer
    from transformers import Blip2Config, Blip2ForConditionalGeneration

    tok = opt_tokenizer(out)
    cfg = Blip2Config(
        vision_config=dict(hidden_size=768, num_hidden_layers=4, num_attention_heads=12,
                           intermediate_size=3072),
        qformer_config=dict(encoder_hidden_size=768),
        text_config=dict(model_type="opt", vocab_size=50272, hidden_size=1024, num_hidden_layers=24,
                         num_attention_heads=16, ffn_dim=4096, max_position_embeddings=2048,
                         word_embed_proj_dim=1024, eos_token_id=2, pad_token_id=1, bos_token_id=2),
        num_query_tokens=32, image_token_index=tok.convert_tokens_to_ids("<image>"))
    torch.manual_seed(0)
    model = Blip2ForConditionalGeneration(cfg)
    with torch.no_grad():
        for layer in model.vision_model.encoder.layers:  # EVA has no key bias
            layer.self_attn.qkv.bias.view(3, -1)[1].zero_()
    model.save_pretrained(out)


OURS = """
import sys, torch
from blipctl.checkpoints.load import load_model
from blipctl.tasks.blip2_stage2 import PrefixCaption
from blipctl.tasks.context import Context
model = load_model(sys.argv[1], frozen_dtype=torch.bfloat16).train()
params = [p for p in model.parameters() if p.requires_grad]
opt = torch.optim.AdamW(params, lr=1e-5)
batch = {"image": torch.randn(8, 3, 224, 224), "caption": [sys.argv[2]] * 8}
for _ in range(2):
    PrefixCaption().losses(model, batch, Context(torch.device("cpu")))["loss"].backward()
    opt.step(); opt.zero_grad(set_to_none=True)
print(sum(p.numel() for p in params))
"""

PEER = """
import sys, torch
from transformers import AutoTokenizer, Blip2ForConditionalGeneration
model = Blip2ForConditionalGeneration.from_pretrained(sys.argv[1]).train()
model.vision_model.requires_grad_(False); model.language_model.requires_grad_(False)
params = [p for p in model.parameters() if p.requires_grad]
opt = torch.optim.AdamW(params, lr=1e-5)
tok = AutoTokenizer.from_pretrained(sys.argv[1])
q = model.config.num_query_tokens
text = tok([sys.argv[2] + "\\n"] * 8, return_tensors="pt")
ids = torch.cat([torch.full((8, q), model.config.image_token_index), text.input_ids], 1)
mask = torch.cat([torch.ones(8, q, dtype=torch.long), text.attention_mask], 1)
labels = ids.masked_fill(ids == model.config.image_token_index, -100)
for _ in range(2):
    out = model(pixel_values=torch.randn(8, 3, 224, 224), input_ids=ids, attention_mask=mask, labels=labels)
    out.loss.backward()
    opt.step(); opt.zero_grad(set_to_none=True)
print(sum(p.numel() for p in params))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--dir", type=Path, default=Path("/tmp/blip2-opt-350m-shaped"))
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    peak = {"fp32": round(matmul_peak(torch.float32)), "bf16": round(matmul_peak(torch.bfloat16))}
    result = {"cpu_flags": cpu_flags(), "matmul_gflops": peak}
    if not (args.dir / "config.json").exists():
        make_checkpoint(args.dir)
    # the fresh processes first: Linux's exec keeps the parent's RSS high-water mark in the
    # child's ru_maxrss, so they must start from a small parent
    result["stage2_blipctl"] = measured([sys.executable, "-c", OURS, str(args.dir), TEXTS[0]])
    result["stage2_transformers"] = measured([sys.executable, "-c", PEER, str(args.dir), TEXTS[0]])
    result["stage1"] = stage1(args.steps)
    result["stage1"]["mfu_vs_fp32_peak"] = round(result["stage1"]["achieved_gflops"] / peak["fp32"], 3)
    ours, peer = result["stage2_blipctl"], result["stage2_transformers"]
    result["stage2_ratio"] = {"peak_rss": round(ours["peak_rss_gb"] / peer["peak_rss_gb"], 2),
                              "time": round(ours["seconds"] / peer["seconds"], 2)}
    text = json.dumps(result, indent=1)
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
