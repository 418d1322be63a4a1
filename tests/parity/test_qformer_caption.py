"""Q-Former captioning (ITG): decoding with the queries' cached keys and values, one token at a
time, gives what a full forward pass with the query-prefix causal mask gives (the Q-Former's
layers match transformers' in test_qformer_parity.py; the mask is checked by hand there)."""

from __future__ import annotations

import torch
from blip2_fixtures import tiny_q_former_model

from blipctl.decode import DecodeConfig

Q = 8


def _model():
    return tiny_q_former_model(width=64, depth=4, vision_width=48, queries=Q, seed=5, std=0.3).eval()


def _full_logits(model, image, ids):
    """Logits (B, T, V) of text ids after the queries, in one pass with the causal mask."""
    h = model.qformer(ids, image, causal=True)[:, Q:]
    return model.lm_head(h, model.qformer.tok.weight)


def test_cached_steps_equal_one_full_pass():
    model = _model()
    image = model.encode_image(torch.randn(2, 3, 28, 28))
    ids = torch.tensor([[30522, 1037, 2417, 4418, 2006], [30522, 2048, 3756, 5216, 1999]])
    with torch.no_grad():
        want = _full_logits(model, image, ids)
        _, kv = model.qformer.query_states(image)
        h, kv2 = model.qformer.text_step(ids[:, :2], torch.arange(2), kv)  # two tokens at once
        steps = [h]
        for t in range(2, 5):  # then one at a time
            h, kv2 = model.qformer.text_step(ids[:, t:t + 1], torch.tensor([t]), kv2)
            steps.append(h)
        got = model.lm_head(torch.cat(steps, 1), model.qformer.tok.weight)
    assert (got - want).abs().max() < 1e-4
    assert (want[0, 0] - want[1, 0]).abs().max() > 1e-2  # other images, other first-token logits


def test_greedy_caption_equals_brute_force():
    model = _model()
    pixels = torch.randn(2, 3, 28, 28)
    cfg = DecodeConfig(num_beams=1, max_length=7, min_length=1)
    got = model.caption(pixels, "", cfg)
    with torch.no_grad():  # no cache: every step re-reads the whole sequence
        image = model.encode_image(pixels)
        ids = torch.full((2, 1), 30522)
        for _ in range(6):
            ids = torch.cat([ids, _full_logits(model, image, ids)[:, -1].argmax(-1, keepdim=True)], 1)
    want = [t.strip() for t in model.codec.decode(ids)]
    assert got == want and got[0] != got[1]
    assert len(model.caption(pixels, "", DecodeConfig(num_beams=3, max_length=7, min_length=1))) == 2
