"""BLIP-2's stage-1 losses (ITC, ITM, ITG) of the training task on a tiny Q-Former, against a
by-hand computation with explicit loops over queries, pairs and tokens (full forward passes,
no cache): the three losses and the gradients of every trainable tensor agree."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from blip2_fixtures import tiny_q_former_model

from blipctl.tasks.blip2_stage1 import Stage1
from blipctl.tasks.context import Context

Q = 4
TEXTS = ["a red circle on a gray background", "two blue stars"]


def _model():
    model = tiny_q_former_model(width=32, depth=2, vision_width=24, queries=Q, seed=7, std=1.0, mlp_width=48)
    with torch.no_grad():
        model.temp.fill_(0.02)  # sharp enough that the pairs' similarities tell apart
    return model.double().train()  # fp64, so the two computations' summation orders do not matter


def _inputs(model):
    torch.manual_seed(1)
    pixels = torch.randn(2, 3, 28, 28, dtype=torch.float64)
    ids, mask = model.codec.encode(TEXTS, "text")
    return pixels, ids, mask, model.codec.restart(ids, "decoder")


def ours(model, pixels, ids, mask, dec):
    """blipctl's stage-1 training task on the batch."""
    out = Stage1().losses(model, {"image": pixels, "caption": TEXTS}, Context(torch.device("cpu")))
    assert out["loss"] is not None and torch.equal(out["loss"], out["itc"] + out["itm"] + out["itg"])
    return out["itc"], out["itm"], out["itg"]


def by_hand(model, pixels, ids, mask, dec, reduce=max):
    B, qf = 2, model.qformer
    image = model.encode_image(pixels)
    queries = qf(image=image)  # (B, Q, D), a full pass
    img = [[F.normalize(model.vision_proj(queries[b, q]), dim=-1) for q in range(Q)] for b in range(B)]
    txt = [F.normalize(model.text_proj(qf(ids[t:t + 1], mask=mask[t:t + 1], queries=False)[0, 0]), dim=-1)
           for t in range(B)]
    # rows carry gradient, the gathered columns do not (LAVIS's concat_all_gather)
    i2t = torch.stack([torch.stack([reduce(torch.stack([img[b][q] @ txt[n].detach() for q in range(Q)]))
                                    for n in range(B)]) for b in range(B)]) / model.temp
    t2i = torch.stack([torch.stack([reduce(torch.stack([txt[t] @ img[m][q].detach() for q in range(Q)]))
                                    for m in range(B)]) for t in range(B)]) / model.temp
    target = torch.arange(B)
    itc = (F.cross_entropy(i2t, target, label_smoothing=0.1)
           + F.cross_entropy(t2i, target, label_smoothing=0.1)) / 2
    # ITM: with two pairs, each image's only negative text is the other's, and likewise for texts
    def match(i, t):
        out = qf(ids[t:t + 1], image[i:i + 1], mask[t:t + 1])[0]
        return torch.stack([model.itm_head(out[q]) for q in range(Q)]).mean(0)
    pairs = [(0, 0, 1), (1, 1, 1), (1, 0, 0), (0, 1, 0), (0, 1, 0), (1, 0, 0)]  # (image, text, label)
    logits = torch.stack([match(i, t) for i, t, _ in pairs])
    itm = F.cross_entropy(logits, torch.tensor([y for _, _, y in pairs]))
    # ITG: every next token from a full causal pass over [queries; the text so far]
    nll = []
    for b in range(B):
        for t in range(dec.shape[1] - 1):
            if mask[b, t + 1]:
                h = qf(dec[b:b + 1, :t + 1], image[b:b + 1], causal=True)[0, Q + t]
                logit = model.lm_head(h[None, None], qf.tok.weight)[0]
                nll.append(F.cross_entropy(logit, dec[b:b + 1, t + 1], label_smoothing=0.1))
    return itc, itm, torch.stack(nll).mean()


def test_stage1_losses_and_gradients_match_by_hand():
    model = _model()
    pixels, ids, mask, dec = _inputs(model)
    params = [p for p in model.parameters() if p.requires_grad]
    got = ours(model, pixels, ids, mask, dec)
    want = by_hand(model, pixels, ids, mask, dec)
    for g, w in zip(got, want, strict=True):
        assert abs(g.item() - w.item()) < 1e-5, (g.item(), w.item())
    g_got = torch.autograd.grad(sum(got), params, allow_unused=True)
    g_want = torch.autograd.grad(sum(want), params, allow_unused=True)
    for p, a, b in zip(params, g_got, g_want, strict=True):
        a = torch.zeros_like(p) if a is None else a
        b = torch.zeros_like(p) if b is None else b
        # relative 1e-4: LMLoss takes its cross-entropy in fp32 whatever the model's dtype
        assert (a - b).abs().max() <= 1e-4 * max(1.0, b.abs().max().item())
    cross = model.qformer.layers[0].cross.k.weight  # ITG reaches the image through the cached queries
    g_itg = torch.autograd.grad(ours(model, pixels, ids, mask, dec)[2], cross)[0]
    assert g_itg.abs().max() > 1e-6


def test_the_hand_computation_tells_max_from_mean_over_queries():
    model = _model()
    pixels, ids, mask, dec = _inputs(model)
    itc = ours(model, pixels, ids, mask, dec)[0]
    assert abs(itc.item() - torch.log(torch.tensor(2.0)).item()) > 1e-2  # not at chance
    mean_q = by_hand(model, pixels, ids, mask, dec, reduce=lambda x: x.mean())[0]
    assert abs(itc.item() - mean_q.item()) > 1e-3


def test_qformer_gradient_checkpointing_gives_the_same_losses_and_gradients():
    model = _model()
    pixels, ids, mask, dec = _inputs(model)
    params = [p for p in model.parameters() if p.requires_grad]
    plain = ours(model, pixels, ids, mask, dec)
    g_plain = torch.autograd.grad(sum(plain), params, allow_unused=True)
    model.qformer.cfg.grad_ckpt = True
    saved = []
    hook = torch.autograd.graph.saved_tensors_hooks(lambda t: saved.append(t) or t, lambda t: t)
    with hook:
        again = ours(model, pixels, ids, mask, dec)
    g_again = torch.autograd.grad(sum(again), params, allow_unused=True)
    assert all(torch.equal(a, b) for a, b in zip(plain, again, strict=True))
    for a, b in zip(g_plain, g_again, strict=True):
        assert (a is None and b is None) or torch.allclose(a, b, atol=1e-12)
    model.qformer.cfg.grad_ckpt = False
    kept = []
    with torch.autograd.graph.saved_tensors_hooks(lambda t: kept.append(t) or t, lambda t: t):
        ours(model, pixels, ids, mask, dec)
    assert len(saved) < len(kept)  # fewer activations held for the backward pass
