"""Bootstrap intervals over test images: how much a metric moves when the test set is
redrawn with replacement, and whether a difference between two models on the same images
is larger than that (a paired bootstrap: both are scored on the same redraws).

Every metric here is a mean of per-image values (an image's R@1 hit, the mean of its
captions' hits, its CIDEr with the document frequencies of the full test set held fixed).
"""

from __future__ import annotations

import numpy as np


def redraws(n_images: int, draws: int = 2000, seed: int = 0) -> np.ndarray:
    """(draws, n_images) image indices drawn with replacement; the same seed, the same draws."""
    return np.random.default_rng(seed).integers(0, n_images, size=(draws, n_images))


def interval(per_image: np.ndarray, draws: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """The central `level` interval of the mean of per_image (n_images,) over the redraws."""
    means = np.asarray(per_image, dtype=np.float64)[draws].mean(axis=1)
    tail = (1 - level) / 2 * 100
    lo, hi = np.percentile(means, [tail, 100 - tail])
    return float(lo), float(hi)


def paired_difference(a: np.ndarray, b: np.ndarray, draws: np.ndarray,
                      level: float = 0.95) -> tuple[float, float, float]:
    """mean(a) - mean(b) over the same images, and its `level` interval over the redraws."""
    d = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    lo, hi = interval(d, draws, level)
    return float(d.mean()), lo, hi
