"""Nucleus sampling: the top-k shortcut samples from the same distribution as the full sort."""

import torch

from blipctl.decode import _nucleus, _sample_top_p


def test_top_p_shortcut_matches_full_nucleus_distribution():
    g = torch.Generator().manual_seed(0)
    V, draws = 40, 40000
    # sharp rows (nucleus inside the top 8) and flat rows (it is not): both paths run
    logits = torch.randn(6, V, generator=g) * torch.tensor([6.0, 4.0, 3.0, 0.5, 0.3, 1.0])[:, None]
    logits[2, 5] = -float("inf")  # a forbidden token (min length) stays forbidden
    exact = _nucleus(logits, 0.9, 1.0).softmax(-1)
    rows = logits.repeat_interleave(draws, dim=0)
    got = _sample_top_p(rows, 0.9, 1.0, torch.Generator().manual_seed(1), ks=(8, 16)).view(6, draws)
    freq = torch.stack([torch.bincount(r, minlength=V).float() / draws for r in got])
    assert (freq[exact == 0] == 0).all()  # never a token outside the nucleus
    assert (freq - exact).abs().max() < 0.012
    inside = (exact > 0).sum(1) <= 8
    assert ((exact > 0).sum(1) > 16).any()  # some rows reach the whole-vocabulary path
    assert inside.any() and not inside.all()


def test_top_p_sampling_is_seeded():
    logits = torch.randn(16, 100, generator=torch.Generator().manual_seed(3))
    a = _sample_top_p(logits, 0.9, 1.0, torch.Generator().manual_seed(7))
    b = _sample_top_p(logits, 0.9, 1.0, torch.Generator().manual_seed(7))
    assert torch.equal(a, b)


def test_a_prompt_that_fills_max_length_is_a_one_line_error_for_greedy_and_beams():
    import pytest

    from blipctl.decode import DecodeConfig, generate
    from blipctl.errors import BlipctlError

    def step(ids, cache):  # never reached
        raise AssertionError

    for beams in (1, 3):
        cfg = DecodeConfig(num_beams=beams, max_length=4, min_length=1)
        with pytest.raises(BlipctlError, match="max_length 4 leaves no room after a 5-token prompt"):
            generate(step, None, torch.ones(2, 5, dtype=torch.long), cfg, eos=2, pad=0)
