"""InstructBLIP's square-root data mixture: sampling frequencies within sampling error of the
rule, factors, and a resumed or sharded mixer continuing the same sequence."""

from __future__ import annotations

import math
from collections import Counter
from itertools import islice

import pytest

from blipctl.data.mixer import Mixer, mixture
from blipctl.errors import ConfigError

SIZES = {"caption": 40000, "vqa": 10000, "nlvr": 2500, "ocr": 100}


def test_probabilities_are_proportional_to_the_square_root_of_the_size():
    p = mixture(SIZES)
    roots = {n: math.sqrt(s) for n, s in SIZES.items()}
    total = sum(roots.values())  # 200 + 100 + 50 + 10
    assert p == pytest.approx({n: r / total for n, r in roots.items()})
    assert p["caption"] == pytest.approx(200 / 360) and p["ocr"] == pytest.approx(10 / 360)
    half = mixture(SIZES, {"caption": 0.5})  # a manual adjustment halves the caption weight
    assert half["caption"] == pytest.approx(100 / 260)


def test_sampling_frequencies_match_the_rule_within_sampling_error():
    n = 20000
    mixer = Mixer(SIZES, seed=3)
    counts = Counter(name for name, _ in islice(mixer.picks(), n))
    for name, p in mixer.probabilities.items():
        sigma = math.sqrt(n * p * (1 - p))
        assert abs(counts[name] - n * p) < 4 * sigma, (name, counts[name], n * p)
    items = [i for name, i in islice(mixer.picks(), 2000) if name == "caption"]
    assert all(0 <= i < SIZES["caption"] for i in items) and len(set(items)) > 0.9 * len(items)


def test_a_resumed_or_sharded_mixer_continues_the_same_sequence():
    whole = list(islice(Mixer(SIZES, seed=7).picks(), 600))
    assert list(islice(Mixer(SIZES, seed=7).picks(start=400), 200)) == whole[400:]  # resumed at 400
    ranks = [list(islice(Mixer(SIZES, seed=7).picks(start=r, stride=2), 300)) for r in (0, 1)]
    assert [x for pair in zip(*ranks, strict=True) for x in pair] == whole  # 2 ranks interleave to 1
    assert list(islice(Mixer(SIZES, seed=8).picks(), 600)) != whole  # another seed, another sequence


def test_bad_mixtures_are_refused_in_one_line():
    with pytest.raises(ConfigError, match="data.factors.typo"):
        mixture(SIZES, {"typo": 2.0})
    with pytest.raises(ConfigError, match="dataset empty: it has no items"):
        mixture({"empty": 0, "vqa": 3})
