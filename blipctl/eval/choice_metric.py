"""Metrics for candidate-ranking evaluation (InstructBLIP's held-out multiple-choice, dialog and
classification datasets; records from `blipctl.data.heldout`). Exact-match GQA accuracy is
`blipctl.eval.vqa_metric.gqa_accuracy`.

- `choice_accuracy`: percent of questions whose picked candidate is the correct one;
- `gt_rank`, `mean_reciprocal_rank`, `visdial_metrics`: the rank of the ground truth among the
  options, and VisDial's sparse metrics (R@1, R@5, R@10, mean rank, MRR), as the official
  evaluation (batra-mlp-lab/visdial-challenge-starter-pytorch, `visdialch/metrics.py`) defines them;
- `roc_auc`: the exact ROC AUC, ties counted half (equal to sklearn's `roc_auc_score`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from blipctl.errors import BlipctlError


def _pct(x: float) -> float:
    return round(100 * x, 2)


def choice_accuracy(picked: dict, records: Iterable[dict]) -> dict:
    """picked: {question_id: the chosen candidate, as its text or its index in `choices`}; records:
    `{question_id, answers: [correct], choices}`. Percent, rounded to 2 places: {"overall", "n"}."""
    hits = []
    for rec in records:
        qid = rec["question_id"]
        if qid not in picked:
            raise BlipctlError(f"no prediction for question {qid!r} ({rec.get('where', '?')})")
        choice = picked[qid]
        if isinstance(choice, int) and not isinstance(choice, bool):
            choices = rec.get("choices") or []
            if not 0 <= choice < len(choices):
                raise BlipctlError(f"question {qid!r}: picked index {choice} is not one of "
                                   f"{len(choices)} choices")
            choice = choices[choice]
        hits.append(choice == rec["answers"][0])
    return {"overall": _pct(sum(hits) / max(len(hits), 1)), "n": len(hits)}


def gt_rank(scores: Sequence[float], gt_index: int) -> int:
    """1-based rank of option `gt_index` when the options are sorted by descending score; ties keep
    option order (a stable sort), the official tool's `scores_to_ranks` leaving them to torch.sort."""
    s = scores[gt_index]
    return 1 + sum(1 for k, x in enumerate(scores) if x > s or (x == s and k < gt_index))


def _ranks(ranks: Iterable[int]) -> list[int]:
    out = list(ranks)
    if not out:
        raise BlipctlError("no ranks to score")
    if any(isinstance(r, bool) or r < 1 for r in out):
        raise BlipctlError("ranks should be 1-based (the best option has rank 1)")
    return out


def mean_reciprocal_rank(ranks: Iterable[int]) -> float:
    """Mean of 1/rank over 1-based ground-truth ranks, in [0, 1] (the official tool's "mrr")."""
    rs = _ranks(ranks)
    return sum(1 / r for r in rs) / len(rs)


def visdial_metrics(ranks: Iterable[int]) -> dict:
    """VisDial's sparse-ground-truth metrics over 1-based ranks: {"mrr", "r@1", "r@5", "r@10"} in
    percent (as papers, InstructBLIP's Table 1 included, report them), "mean" (mean rank) as is, all
    rounded to 2 places, and "n"."""
    rs = _ranks(ranks)
    n = len(rs)
    out = {"mrr": _pct(mean_reciprocal_rank(rs))}
    out |= {f"r@{k}": _pct(sum(r <= k for r in rs) / n) for k in (1, 5, 10)}
    return out | {"mean": round(sum(rs) / n, 2), "n": n}


def roc_auc(scores: Sequence[float], labels: Sequence[int]) -> float:
    """Area under the ROC curve of `scores` (higher = more positive) against 0/1 `labels`, in [0, 1]:
    the probability that a random positive outscores a random negative, a tie counting half (the
    Mann-Whitney U statistic, equal to sklearn's roc_auc_score). Both classes must be present."""
    if len(scores) != len(labels):
        raise BlipctlError(f"roc_auc: {len(scores)} scores but {len(labels)} labels")
    if any(y not in (0, 1) for y in labels):
        raise BlipctlError("roc_auc: labels should be 0 or 1")
    pos = sum(1 for y in labels if y == 1)
    neg = len(labels) - pos
    if pos == 0 or neg == 0:
        raise BlipctlError("roc_auc: needs both positive and negative labels")
    order = sorted(range(len(scores)), key=lambda k: scores[k])
    rank_sum, i = 0.0, 0  # sum of the positives' 1-based ranks, tied scores sharing their mean rank
    while i < len(order):
        j = i
        while j + 1 < len(order) and scores[order[j + 1]] == scores[order[i]]:
            j += 1
        mean_rank = (i + j) / 2 + 1
        rank_sum += mean_rank * sum(1 for k in order[i:j + 1] if labels[k] == 1)
        i = j + 1
    return (rank_sum - pos * (pos + 1) / 2) / (pos * neg)
