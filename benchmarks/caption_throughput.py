"""Caption throughput: blipctl against transformers' BlipForConditionalGeneration.generate on
identical BLIP-base weights (384 px, batch 8, beam 3, min 5, max 20).

    python benchmarks/caption_throughput.py [--batches 2] [--batch-size 8] [--out result.json]

The weights are a random BLIP-base (no download needed) re-initialised so that different
images give different captions; speed does not depend on the weight values. Prints img/s for
each, the ratio, and whether the tokens are identical; also blipctl in bf16.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

SEP = 102
BASE_VISION = dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                   intermediate_size=3072, image_size=384, patch_size=16, layer_norm_eps=1e-5)
BASE_TEXT = dict(vocab_size=30524, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                 intermediate_size=3072, encoder_hidden_size=768, max_position_embeddings=512,
                 layer_norm_eps=1e-12)


def base_model():
    from transformers import BlipConfig, BlipForConditionalGeneration

    torch.manual_seed(0)
    model = BlipForConditionalGeneration(BlipConfig(vision_config=BASE_VISION, text_config=BASE_TEXT))
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():  # transformers' vision init (std 1e-10) makes every image look alike
        for name, p in model.named_parameters():
            if "norm" in name.lower():
                continue
            p.copy_(torch.randn(p.shape, generator=g) * (0.05 if p.dim() > 1 else 0.02))
    return model.eval()


def images(n: int) -> torch.Tensor:
    from PIL import Image

    from blipctl.data.images import preprocess

    rng = np.random.default_rng(0)
    return torch.stack([preprocess(Image.fromarray(rng.integers(0, 255, (300, 400, 3), dtype=np.uint8)),
                                   384) for _ in range(n)])


def cut(ids: torch.Tensor) -> list[list[int]]:
    return [r[: r.index(SEP) + 1] if SEP in r else r for r in ids.tolist()]


def timed(fn, batches):
    out, start = [], time.perf_counter()
    for b in batches:
        out += cut(fn(b))
    return out, time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--batches", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)

    from blipctl.checkpoints.load import load_model
    from blipctl.decode import DecodeConfig

    hf = base_model()
    with tempfile.TemporaryDirectory() as d:
        hf.save_pretrained(d)
        ours = load_model(d)
    x = images(args.batches * args.batch_size)
    batches = list(x.split(args.batch_size))
    cfg = DecodeConfig(num_beams=3, min_length=5, max_length=20)
    prompt = torch.tensor([30522])

    @torch.no_grad()
    def run_hf(b):
        return hf.generate(pixel_values=b, num_beams=3, min_length=5, max_length=20)

    def run_ours(model, dtype):
        return lambda b: model.generate(b.to(dtype), prompt, cfg, eos=SEP, pad=0)

    warm = x[:1]
    run_hf(warm), run_ours(ours, torch.float32)(warm)
    hf_tokens, hf_s = timed(run_hf, batches)
    our_tokens, our_s = timed(run_ours(ours, torch.float32), batches)
    ours_bf16 = ours.to(torch.bfloat16)
    run_ours(ours_bf16, torch.bfloat16)(warm)
    bf16_tokens, bf16_s = timed(run_ours(ours_bf16, torch.bfloat16), batches)

    n = len(x)
    result = {
        "images": n, "batch_size": args.batch_size, "threads": torch.get_num_threads(),
        "transformers_img_s": n / hf_s, "blipctl_fp32_img_s": n / our_s,
        "blipctl_bf16_img_s": n / bf16_s, "ratio_fp32": hf_s / our_s, "ratio_bf16": hf_s / bf16_s,
        "tokens_identical_fp32": our_tokens == hf_tokens,
        "bf16_same_caption_fraction": sum(a == b for a, b in zip(bf16_tokens, hf_tokens, strict=True)) / n,
        "distinct_captions": len({tuple(t) for t in hf_tokens}),
        "torch": torch.__version__,
    }
    for k, v in result.items():
        print(f"{k:>28}: {v:.3f}" if isinstance(v, float) else f"{k:>28}: {v}")
    if args.out:
        args.out.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
