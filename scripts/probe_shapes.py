"""Can a vision tower of the mini model's size learn the corpus's shapes at all? Trains it on
the shapes and colours present in fresh synthetic scenes (multi-label, 14 sigmoid outputs) and
prints per-label accuracy on held-out scenes against the prior, every quarter of the run.

    python scripts/probe_shapes.py vit --steps 1000     # mini ViT: 64 px, 8-px patches, 2 layers
    python scripts/probe_shapes.py hybrid --steps 1000  # the same ViT on a 3-layer CNN's features
    python scripts/probe_shapes.py cnn --steps 1000     # the 3-layer CNN, max-pooled

Every batch is 32 new scenes (no image is seen twice), so a tower that stays at the prior
cannot learn shapes from the pixels, however much data it gets. recipes/README.md has the figures.
"""

from __future__ import annotations

import argparse
import random
import time

import torch
from torch import nn

from blipctl.data.images import preprocess
from blipctl.data.synth.scenes import COLOURS, SHAPES, render, sample_scene
from blipctl.models.builders import vit_tiny
from blipctl.models.vit import ViT

RENDER = 128  # the corpus draws at 128 px; the mini recipes resize to 64


def labels(scene) -> torch.Tensor:
    """(14,) multi-hot: which of the 6 shapes and 8 colours the scene holds."""
    y = torch.zeros(len(SHAPES) + len(COLOURS))
    for o in scene.objects:
        y[SHAPES.index(o.shape)] = 1
        y[len(SHAPES) + list(COLOURS).index(o.colour)] = 1
    return y


def batch(rng: random.Random, n: int, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    scenes = [sample_scene(rng) for _ in range(n)]
    return (torch.stack([preprocess(render(s, RENDER), size) for s in scenes]),
            torch.stack([labels(s) for s in scenes]))


def cnn_features(width: int) -> nn.Sequential:
    """(B, 3, S, S) -> (B, width, S/8, S/8): three 3x3 conv + 2x2 max-pool stages."""
    return nn.Sequential(nn.Conv2d(3, 32, 3, 1, 1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(32, 64, 3, 1, 1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(64, 128, 3, 1, 1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(128, width, 1))


def tower(kind: str, size: int, n_out: int) -> nn.Module:
    """(B, 3, S, S) -> (B, n_out) logits."""
    if kind == "cnn":
        return nn.Sequential(cnn_features(128), nn.AdaptiveMaxPool2d(1), nn.Flatten(), nn.Linear(128, n_out))
    vit = ViT(vit_tiny(size))
    if kind == "hybrid":  # ViT's hybrid input (Dosovitskiy et al. 3.1): patches of a CNN feature map
        vit.patch_embed.proj = cnn_features(vit.cfg.width)
    head = nn.Linear(vit.cfg.width, n_out)
    return nn.Sequential(vit, _MeanPatches(), head)


class _MeanPatches(nn.Module):
    def forward(self, tokens: torch.Tensor) -> torch.Tensor:  # (B, 1+N, D) -> (B, D)
        return tokens[:, 1:].mean(1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("tower", choices=("vit", "hybrid", "cnn"))
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.manual_seed(args.seed)
    x_test, y_test = batch(random.Random(f"{args.seed}:test"), 300, args.size)
    prior = (y_test[:, :len(SHAPES)] == (y_test[:, :len(SHAPES)].mean(0) > 0.5)).float().mean()
    net = tower(args.tower, args.size, y_test.shape[1])
    opt = torch.optim.AdamW(net.parameters(), lr=args.lr, weight_decay=0.05)
    rng, t0 = random.Random(f"{args.seed}:train"), time.time()
    print(f"{args.tower}: {sum(p.numel() for p in net.parameters()):,} parameters; shape prior {prior:.3f}")
    for step in range(1, args.steps + 1):
        x, y = batch(rng, 32, args.size)
        loss = nn.functional.binary_cross_entropy_with_logits(net(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % max(1, args.steps // 4) == 0:
            net.eval()
            with torch.no_grad():
                right = (net(x_test) > 0).float() == y_test
            net.train()
            shape, colour = right[:, :len(SHAPES)], right[:, len(SHAPES):]
            print(f"step {step} ({time.time() - t0:.0f} s): shape per-label {shape.float().mean():.3f}, "
                  f"all shapes right {shape.all(1).float().mean():.3f}, "
                  f"colour per-label {colour.float().mean():.3f}", flush=True)


if __name__ == "__main__":
    main()
