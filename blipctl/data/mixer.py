"""InstructBLIP's data mixture: several datasets sampled with probability proportional to the
square root of their sizes (the paper's balancing), with per-dataset factors for the manual
adjustments, as one endless, seeded sequence of (dataset, item) picks.

The pick at position k is a pure function of (seed, k): a run resumed at step s continues from
position s * batch with the same picks (nothing to save), and each rank of a world takes its own
positions. Items are drawn uniformly, with replacement, within the chosen dataset.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping

import numpy as np

from blipctl.errors import ConfigError


def mixture(sizes: Mapping[str, int], factors: Mapping[str, float] | None = None) -> dict[str, float]:
    """{dataset: probability}: sqrt(size) times the dataset's factor (1 if not given), normalised."""
    factors = dict(factors or {})
    for name in factors:
        if name not in sizes:
            raise ConfigError(f"recipe key `data.factors.{name}`: no dataset of that name "
                              f"(the datasets are {', '.join(sizes)})")
    for name, size in sizes.items():
        if size <= 0:
            raise ConfigError(f"dataset {name}: it has no items")
    weights = {n: math.sqrt(s) * float(factors.get(n, 1.0)) for n, s in sizes.items()}
    if any(w < 0 for w in weights.values()) or not sum(weights.values()):
        raise ConfigError("recipe key `data.factors`: the factors must be >= 0 and not all 0")
    total = sum(weights.values())
    return {n: w / total for n, w in weights.items()}


class Mixer:
    """picks(start) -> the (dataset, item index) at positions start, start + 1, ..."""

    def __init__(self, sizes: Mapping[str, int], seed: int, factors: Mapping[str, float] | None = None):
        self.sizes = dict(sizes)
        self.seed = seed
        self.probabilities = mixture(self.sizes, factors)
        self.names = list(self.sizes)
        self._cdf = np.cumsum([self.probabilities[n] for n in self.names])

    def pick(self, k: int) -> tuple[str, int]:
        rng = np.random.default_rng([self.seed, k])
        d = int(np.searchsorted(self._cdf, rng.random() * self._cdf[-1], side="right"))
        name = self.names[min(d, len(self.names) - 1)]
        return name, int(rng.integers(self.sizes[name]))

    def picks(self, start: int = 0, stride: int = 1) -> Iterator[tuple[str, int]]:
        """Positions start, start + stride, ... (a rank r of W takes start=r, stride=W)."""
        k = start
        while True:
            yield self.pick(k)
            k += stride
