"""ITC, ITM hard negatives and LM against hand-computed cases."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from blipctl.errors import BlipctlError
from blipctl.objectives.itc import ITCLoss, alpha_at, enqueue_
from blipctl.objectives.itm import ITMLoss, hard_negatives
from blipctl.objectives.lm import LMLoss


def test_itc_without_momentum_is_the_symmetric_clip_loss():
    img = F.normalize(torch.tensor([[1.0, 0.0], [0.6, 0.8]]), dim=-1)
    txt = F.normalize(torch.tensor([[0.8, 0.6], [0.0, 1.0]]), dim=-1)
    loss, sim_i2t, _ = ITCLoss()(img, txt, torch.tensor(0.5))
    s = img @ txt.t() / 0.5  # by hand: -log of the diagonal's softmax, both directions
    i2t = -(math.log(math.exp(s[0, 0]) / (math.exp(s[0, 0]) + math.exp(s[0, 1])))
            + math.log(math.exp(s[1, 1]) / (math.exp(s[1, 0]) + math.exp(s[1, 1])))) / 2
    t2i = -(math.log(math.exp(s[0, 0]) / (math.exp(s[0, 0]) + math.exp(s[1, 0])))
            + math.log(math.exp(s[1, 1]) / (math.exp(s[0, 1]) + math.exp(s[1, 1])))) / 2
    assert loss.item() == pytest.approx((i2t + t2i) / 2, abs=1e-6)
    torch.testing.assert_close(sim_i2t, s)


def test_itc_momentum_targets_mix_soft_and_hard_and_queue_columns_count():
    g = torch.Generator().manual_seed(0)
    f = lambda *s: F.normalize(torch.randn(*s, generator=g), dim=-1)  # noqa: E731
    img, txt, img_m, txt_m = f(3, 4), f(3, 4), f(3, 4), f(3, 4)
    qi, qt = f(5, 4).t(), f(5, 4).t()  # (E, Q)
    temp, alpha = torch.tensor(0.07), 0.4
    loss, sim_i2t, _ = ITCLoss()(img, txt, temp, img_m, txt_m, qi, qt, alpha=alpha)
    cols_t, cols_i = torch.cat([txt_m, qt.t()]), torch.cat([img_m, qi.t()])  # (8, 4)
    hard = torch.eye(3, 8)
    t_i2t = alpha * F.softmax(img_m @ cols_t.t() / temp, 1) + (1 - alpha) * hard
    t_t2i = alpha * F.softmax(txt_m @ cols_i.t() / temp, 1) + (1 - alpha) * hard
    want = (-(F.log_softmax(img @ cols_t.t() / temp, 1) * t_i2t).sum(1).mean()
            - (F.log_softmax(txt @ cols_i.t() / temp, 1) * t_t2i).sum(1).mean()) / 2
    assert loss.item() == pytest.approx(want.item(), rel=1e-6)
    assert sim_i2t.shape == (3, 3)  # the world batch's columns, for ITM


def test_itc_same_image_ids_share_the_positive_mass():
    img = F.normalize(torch.randn(3, 4), dim=-1)
    _, sim, _ = ITCLoss()(img, img, torch.tensor(1.0))
    loss, _, _ = ITCLoss()(img, img, torch.tensor(1.0), image_ids=torch.tensor([7, 7, 9]))
    targets = torch.tensor([[0.5, 0.5, 0], [0.5, 0.5, 0], [0, 0, 1]])
    want = -(F.log_softmax(sim, 1) * targets).sum(1).mean()  # symmetric: i2t == t2i here
    assert loss.item() == pytest.approx(want.item(), rel=1e-6)


def test_alpha_ramps_linearly_then_holds():
    assert [alpha_at(s, 4, 0.4) for s in (0, 2, 4, 9)] == [0.0, 0.2, 0.4, 0.4]
    assert alpha_at(3, 0, 0.4) == 0.4


def test_enqueue_wraps_around():
    queue, ids, ptr = torch.zeros(2, 5), torch.full((5,), -1), torch.tensor([3])
    feats = torch.arange(8.0).view(4, 2)
    enqueue_(ptr, [queue, ids], [feats, torch.tensor([10, 11, 12, 13])])
    assert ids.tolist() == [12, 13, -1, 10, 11] and int(ptr) == 2
    assert queue[:, 0].tolist() == [4.0, 5.0] and queue[:, 3].tolist() == [0.0, 1.0]


def test_empty_queue_contrasts_in_batch_momentum_features_only():
    g = torch.Generator().manual_seed(1)
    f = lambda *s: F.normalize(torch.randn(*s, generator=g), dim=-1)  # noqa: E731
    img, txt, img_m, txt_m = f(3, 4), f(3, 4), f(3, 4), f(3, 4)
    empty = torch.zeros(4, 0)
    temp, alpha = torch.tensor(0.1), 0.4
    loss, sim_i2t, _ = ITCLoss()(img, txt, temp, img_m, txt_m, empty, empty, alpha=alpha)
    t_i2t = alpha * F.softmax(img_m @ txt_m.t() / temp, 1) + (1 - alpha) * torch.eye(3)
    t_t2i = alpha * F.softmax(txt_m @ img_m.t() / temp, 1) + (1 - alpha) * torch.eye(3)
    want = (-(F.log_softmax(img @ txt_m.t() / temp, 1) * t_i2t).sum(1).mean()
            - (F.log_softmax(txt @ img_m.t() / temp, 1) * t_t2i).sum(1).mean()) / 2
    assert loss.item() == pytest.approx(want.item(), rel=1e-6)
    ptr = torch.tensor([0])
    enqueue_(ptr, [empty], [img_m])  # nothing to write into, and no division by zero
    assert int(ptr) == 0 and empty.shape == (4, 0)


def test_hard_negatives_never_draw_a_positive_and_follow_the_softmax():
    sim = torch.tensor([[0.0, 2.0, 0.0, -30.0]]).expand(4000, 4)
    pos = torch.tensor([[True, False, False, False]]).expand(4000, 4)
    draws = hard_negatives(sim, pos, generator=torch.Generator().manual_seed(0))
    counts = torch.bincount(draws, minlength=4).float() / 4000
    p = torch.tensor([0.0, math.exp(2), 1.0, math.exp(-30)])
    assert counts[0] == 0 and counts[1].item() == pytest.approx((p / p.sum())[1].item(), abs=0.03)


@pytest.mark.parametrize("row", [
    [float("nan"), 1.0, 2.0],            # NaN similarity
    [float("inf"), 1.0, 1.0],            # an infinite positive: the softmax is NaN everywhere
    [1e4, -1e4, -1e4],                   # negatives underflow to exactly 0 after masking
    [float("-inf"), float("-inf"), float("-inf")],
])
def test_hard_negatives_survive_invalid_distributions(row):
    sim = torch.tensor([row], dtype=torch.bfloat16)
    pos = torch.tensor([[True, False, False]])
    draws = hard_negatives(sim.expand(50, 3), pos.expand(50, 3))
    assert set(draws.tolist()) <= {1, 2}


def test_hard_negatives_refuse_a_row_with_no_negative():
    with pytest.raises(BlipctlError, match="larger batch"):
        hard_negatives(torch.zeros(2, 2), torch.ones(2, 2, dtype=torch.bool))


def test_itm_labels_positives_then_negatives():
    seen = {}

    def match(img, ids, mask):
        seen.update(img=img, ids=ids)
        return torch.tensor([[0.0, 1.0]]).expand(img.shape[0], 2)

    image, ids = torch.arange(3.0).view(3, 1, 1), torch.tensor([[10], [11], [12]])
    sim = torch.tensor([[0.0, 9.0, -9.0], [-9.0, 0.0, 9.0], [9.0, -9.0, 0.0]])
    loss = ITMLoss()(match, image, ids, torch.ones(3, 1), sim, sim)
    want = F.cross_entropy(torch.tensor([[0.0, 1.0]] * 9), torch.tensor([1] * 3 + [0] * 6))
    assert loss.item() == pytest.approx(want.item())
    assert seen["img"][:3].flatten().tolist() == [0, 1, 2]
    assert all(seen["img"][3 + i].item() != i for i in range(3))  # negative images
    assert all(seen["ids"][6 + i].item() != 10 + i for i in range(3))  # negative texts


def test_lm_loss_smooths_and_skips_prompt_and_padding():
    V = 4
    logits = torch.randn(1, 5, V)
    ids = torch.tensor([[0, 1, 2, 3, 0]])  # [DEC] p1 w1 w2 [PAD]
    mask = torch.tensor([[1, 1, 1, 1, 0]])
    loss = LMLoss(0.1)(logits, ids, mask, prompt_len=2)
    logp = F.log_softmax(logits[0], -1)
    # targets: positions 1 and 2 predict w1 (id 2) and w2 (id 3); smoothing spreads 0.1 over V
    nll = [-(0.9 * logp[t, y] + 0.1 * logp[t].mean()) for t, y in ((1, 2), (2, 3))]
    assert loss.item() == pytest.approx(((nll[0] + nll[1]) / 2).item(), rel=1e-5)
    per_seq = LMLoss(0.1)(logits, ids, mask, prompt_len=2, reduction="sum")
    assert per_seq.shape == (1,) and per_seq.item() == pytest.approx((nll[0] + nll[1]).item(), rel=1e-5)


def test_lm_loss_on_hidden_states_projects_only_targets_and_matches_full_logits():
    torch.manual_seed(0)
    hidden, W = torch.randn(3, 6, 8, requires_grad=True), torch.randn(50, 8)
    ids = torch.randint(1, 50, (3, 6))
    mask = torch.tensor([[1] * 6, [1] * 4 + [0] * 2, [1] * 3 + [0] * 3])
    rows = []

    def head(h):
        rows.append(h.shape[0])
        return h @ W.t()

    for reduction in ("mean", "sum"):
        full = LMLoss(0.1)(hidden @ W.t(), ids, mask, prompt_len=2, reduction=reduction)
        fast = LMLoss(0.1)(hidden, ids, mask, prompt_len=2, reduction=reduction, head=head)
        torch.testing.assert_close(fast, full)
        g_full, = torch.autograd.grad(full.sum(), hidden)
        g_fast, = torch.autograd.grad(fast.sum(), hidden)
        torch.testing.assert_close(g_fast, g_full)
    assert rows == [4 + 2 + 1] * 2  # targets after the 2-token prompt, padding skipped


def test_hard_negatives_from_uniforms_follow_the_softmax_and_skip_positives():
    sim = torch.tensor([[0.0, 2.0, 0.0, -30.0]]).expand(4000, 4)
    pos = torch.tensor([[True, False, False, False]]).expand(4000, 4)
    u = torch.rand(4000, generator=torch.Generator().manual_seed(0))
    draws = hard_negatives(sim, pos, u=u)
    counts = torch.bincount(draws, minlength=4).float() / 4000
    p = torch.tensor([0.0, math.exp(2), 1.0, math.exp(-30)])
    assert counts[0] == 0 and counts[1].item() == pytest.approx((p / p.sum())[1].item(), abs=0.03)
    # the inverse CDF by hand: u below the first negative's share picks it, and u -> 1 the last nonzero
    w = torch.softmax(torch.tensor([2.0, 0.0]), 0)  # the two negatives' shares
    row_sim, row_pos = torch.tensor([[0.0, 2.0, 0.0]]), torch.tensor([[True, False, False]])
    assert hard_negatives(row_sim, row_pos, u=torch.tensor([w[0].item() * 0.99])).item() == 1
    assert hard_negatives(row_sim, row_pos, u=torch.tensor([w[0].item() * 1.01])).item() == 2
    assert hard_negatives(row_sim, row_pos, u=torch.tensor([0.0])).item() == 1


def test_query_itc_with_image_ids_mixes_the_positives_0_9_0_1_by_hand():
    """LAVIS's retrieval fine-tuning: every caption of the same image is a positive; targets are
    0.9 * positives / their count + 0.1 / N, and each pair's similarity is its best query's."""
    from blipctl.objectives.itc import QueryITCLoss

    g = torch.Generator().manual_seed(0)
    img = torch.nn.functional.normalize(torch.randn(3, 4, 8, generator=g), dim=-1)  # (B, Q, E)
    txt = torch.nn.functional.normalize(torch.randn(3, 8, generator=g), dim=-1)
    ids = torch.tensor([7, 7, 9])  # items 0 and 1 show the same image
    temp = torch.tensor(0.1)
    loss, i2t, t2i = QueryITCLoss(0.1)(img, txt, temp, ids)
    total = 0.0
    def best(a, b):  # the best query's similarity over temp
        return max(float(img[a, q] @ txt[b]) for q in range(4)) / 0.1

    i2t_by_hand = [[best(b, n) for n in range(3)] for b in range(3)]
    t2i_by_hand = [[best(m, t) for m in range(3)] for t in range(3)]
    for sims in (i2t_by_hand, t2i_by_hand):
        for row in range(3):
            pos = [float(ids[row] == ids[c]) for c in range(3)]
            target = [0.9 * p / sum(pos) + 0.1 / 3 for p in pos]
            logz = math.log(sum(math.exp(s) for s in sims[row]))
            total += -sum(t * (s - logz) for t, s in zip(target, sims[row], strict=True)) / 3
    assert loss.item() == pytest.approx(total / 2, rel=1e-5)
    assert i2t.shape == t2i.shape == (3, 3) and not i2t.requires_grad
