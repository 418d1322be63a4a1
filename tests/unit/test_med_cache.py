"""MED's functional decoding: `TextTransformer.step` with `KVCache`, token by token, against the
full causal forward, on re-initialised weights so that every position's output differs."""

from __future__ import annotations

import torch

from blipctl.models.builders import med_tiny
from blipctl.models.med import KVCache, TextTransformer

V = 30524


def _decoder(seed: int = 0) -> TextTransformer:
    torch.manual_seed(seed)
    m = TextTransformer(med_tiny(128)).eval()
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():  # bert_init's N(0, 0.02) leaves the outputs nearly position-blind
        for name, p in m.named_parameters():
            base = 1.0 if ".ln." in name and name.endswith("weight") else 0.0
            p.copy_(base + 0.1 * torch.randn(p.shape, generator=g))
    return m


def _decode(m: TextTransformer, ids: torch.Tensor, image: torch.Tensor, first: int,
            image_mask: torch.Tensor | None = None) -> tuple[torch.Tensor, KVCache]:
    """The first `first` tokens in one step, then one per step -> hidden states (B, T, D)."""
    image_kv = list(m.image_kv(image))
    cache, out = KVCache(), []
    for a, b in [(0, first)] + [(t, t + 1) for t in range(first, ids.shape[1])]:
        h, kv = m.step(ids[:, a:b], cache.positions(b - a), cache.kv, image_kv, image_mask)
        cache.update(kv, b - a)
        out.append(h)
    return torch.cat(out, dim=1), cache


def test_step_by_step_equals_full_forward():
    m = _decoder()
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(1000, 2000, (2, 9), generator=g)
    image = torch.randn(2, 5, 128, generator=g)
    image_mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]])
    with torch.no_grad():
        want = m(ids, image=image, image_mask=image_mask, causal=True)
        got, cache = _decode(m, ids, image, first=3, image_mask=image_mask)
    assert (want[:, 1:] - want[:, :-1]).abs().amax(-1).min() > 0.1  # not vacuous: positions differ
    assert (got - want).abs().max() < 1e-5
    assert int(cache.length) == 9 and cache.length.dim() == 0
    assert all(k.shape == v.shape == (2, 2, 9, 64) for k, v in cache.kv)
    # causal: a token's state does not depend on later tokens
    with torch.no_grad():
        changed = m(torch.cat([ids[:, :5], ids[:, 5:].flip(1)], 1), image=image, image_mask=image_mask,
                    causal=True)
    assert (changed[:, :5] - want[:, :5]).abs().max() < 1e-6
    assert (changed[:, 5:] - want[:, 5:]).abs().max() > 1e-2


def test_beams_fold_into_one_image_and_reorder():
    """Beams share their image's keys and values (3 rows of ids per image row), and
    `reorder` keeps the cache of the rows chosen, as beam search uses it."""
    m = _decoder(2)
    g = torch.Generator().manual_seed(3)
    image = torch.randn(2, 5, 128, generator=g)
    ids = torch.randint(1000, 2000, (6, 7), generator=g)  # (image, beam) rows
    with torch.no_grad():
        want = m(ids, image=image.repeat_interleave(3, 0), causal=True)
        got, _ = _decode(m, ids, image, first=2)
        assert (got - want).abs().max() < 1e-5

        # decode 4 tokens, shuffle the beams within each image, decode the rest
        order = torch.tensor([2, 2, 0, 4, 3, 5])
        _, cache = _decode(m, ids[:, :4], image, first=2)
        cache.reorder(order)
        image_kv = list(m.image_kv(image))
        new = ids[order].clone()
        new[:, 4:] = ids[:, 4:]  # each row continues with its own later tokens
        h, _ = m.step(new[:, 4:], cache.positions(3), cache.kv, image_kv)
        want = m(new, image=image.repeat_interleave(3, 0), causal=True)[:, 4:]
    assert (h - want).abs().max() < 1e-5
