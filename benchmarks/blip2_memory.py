"""Peak memory and time to first caption of a BLIP-2 model shaped like Salesforce/blip2-opt-2.7b
(EVA ViT-g, 39 blocks; a BERT-base Q-Former; OPT-2.7b), random weights saved in bf16:
`blipctl caption` against transformers' Blip2ForConditionalGeneration, each in a fresh process.

    python benchmarks/blip2_memory.py [--dir /tmp/blip2-opt-2.7b-random] [--out result.json]

The checkpoint is written once into --dir (about 7.7 GB) and reused. Both peers load it in bf16
and caption one image greedily (10 new tokens). A peer's figures are its process's wall time
(imports, loading and captioning, the weights' file already in the page cache) and its peak
resident memory. Also printed: the CPU's flags and
the fp32 / bf16 matmul peak measured in this run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402
from mini_vocab_step import cpu_flags, matmul_peak  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

TRANSFORMERS_PEER = """
import sys, torch
from PIL import Image
from transformers import Blip2ForConditionalGeneration, BlipImageProcessor
d = sys.argv[1]
model = Blip2ForConditionalGeneration.from_pretrained(d, dtype=torch.bfloat16).eval()
pixels = BlipImageProcessor.from_pretrained(d)(Image.open(sys.argv[2]).convert("RGB"),
                                              return_tensors="pt").pixel_values.to(torch.bfloat16)
q = model.config.num_query_tokens
ids = torch.tensor([[model.config.image_token_index] * q + [model.config.text_config.bos_token_id]])
with torch.no_grad():
    out = model.generate(pixel_values=pixels, input_ids=ids, max_new_tokens=10, min_new_tokens=10,
                         num_beams=1, do_sample=False)
print(out[0, ids.shape[1]:].tolist())
"""


def make_checkpoint(out: Path) -> None:
    """Blip2ForConditionalGeneration at blip2-opt-2.7b's shapes, weights N(0, 0.02) in bf16."""
    from blip2_fixtures import opt_tokenizer
    from transformers import Blip2Config, Blip2ForConditionalGeneration, Blip2Processor, BlipImageProcessor
    from transformers.initialization import no_init_weights

    tok = opt_tokenizer(out)
    cfg = Blip2Config(
        vision_config={},  # transformers' defaults are EVA ViT-g's (39 blocks, 1408 wide)
        qformer_config={},
        text_config=dict(model_type="opt", vocab_size=50304, hidden_size=2560, num_hidden_layers=32,
                         num_attention_heads=32, ffn_dim=10240, max_position_embeddings=2048,
                         word_embed_proj_dim=2560, eos_token_id=2, pad_token_id=1, bos_token_id=2),
        num_query_tokens=32, image_token_index=tok.convert_tokens_to_ids("<image>"))
    torch.set_default_dtype(torch.bfloat16)
    with no_init_weights():
        model = Blip2ForConditionalGeneration(cfg)
    torch.set_default_dtype(torch.float32)
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name.lower():
                p.fill_(1.0) if name.endswith("weight") else p.zero_()
            else:
                p.normal_(0, 0.02, generator=g)
        for layer in model.vision_model.encoder.layers:  # EVA has no key bias
            layer.self_attn.qkv.bias.view(3, -1)[1].zero_()
    model.save_pretrained(out)
    Blip2Processor(BlipImageProcessor(size={"height": 224, "width": 224}), tok,
                   num_query_tokens=32).save_pretrained(out)
    print(f"wrote {sum(p.numel() for p in model.parameters()) / 1e9:.2f}B parameters to {out}", flush=True)


def warm_page_cache(directory: Path) -> None:
    """Reads the weights once, so neither peer pays for the disk (the first would, otherwise)."""
    for f in directory.glob("*.safetensors"):
        with open(f, "rb") as fh:
            while fh.read(1 << 26):
                pass


def measured(cmd: list[str]) -> dict:
    """Wall time and peak RSS of one fresh process (its own, from wait4)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - t0
    out, err = proc.stdout.read(), proc.stderr.read()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{cmd[:4]} failed:\n{err[-2000:]}")
    return {"seconds": round(seconds, 1), "peak_rss_gb": round(usage.ru_maxrss / 2**20, 2),
            "output": out.strip()[-200:]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dir", type=Path, default=Path("/tmp/blip2-opt-2.7b-random"))
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    if not (args.dir / "config.json").exists():
        make_checkpoint(args.dir)
    from PIL import Image

    image = args.dir / "image.png"
    Image.new("RGB", (224, 224), (200, 40, 40)).save(image)
    warm_page_cache(args.dir)
    result = {
        "cpu_flags": cpu_flags(),
        "matmul_gflops": {"fp32": round(matmul_peak(torch.float32)),
                          "bf16": round(matmul_peak(torch.bfloat16))},
        "checkpoint_gb": round(sum(f.stat().st_size for f in args.dir.glob("*.safetensors")) / 2**30, 2),
        "blipctl": measured([sys.executable, "-m", "blipctl", "caption", str(image), "--model",
                             str(args.dir), "--dtype", "bf16", "--num-beams", "1", "--max-length", "11",
                             "--min-length", "11"]),
        "transformers": measured([sys.executable, "-c", TRANSFORMERS_PEER, str(args.dir), str(image)]),
    }
    b, t = result["blipctl"], result["transformers"]
    result["ratios"] = {"peak_rss blipctl/transformers": round(b["peak_rss_gb"] / t["peak_rss_gb"], 2),
                        "seconds blipctl/transformers": round(b["seconds"] / t["seconds"], 2)}
    print(json.dumps(result, indent=2))
    if args.out:
        args.out.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
