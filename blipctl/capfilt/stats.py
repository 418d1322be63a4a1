"""What CapFilt did: kept/removed counts per source, and, where the web set carries
ground-truth noise flags, how well the filter found the noise."""

from __future__ import annotations

from collections import Counter


def roc_auc(scores: list[float], positive: list[bool]) -> float | None:
    """Area under the ROC curve of `scores` ranking positives first: the probability that a
    random positive outscores a random negative, ties counting half (Mann-Whitney U)."""
    n_pos = sum(positive)
    n_neg = len(positive) - n_pos
    if n_pos == 0 or n_neg == 0:
        return None
    order = sorted(range(len(scores)), key=lambda i: scores[i])
    ranks = [0.0] * len(scores)
    i = 0
    while i < len(order):  # average ranks (1-based) over runs of equal scores
        j = i
        while j + 1 < len(order) and scores[order[j + 1]] == scores[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        i = j + 1
    rank_sum = sum(r for r, p in zip(ranks, positive, strict=True) if p)
    return (rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def source_counts(candidates: list[dict]) -> dict[str, dict[str, int]]:
    """{source: {total, kept, removed}} for 'web' and 'synthetic'."""
    total = Counter(c["source"] for c in candidates)
    kept = Counter(c["source"] for c in candidates if c["keep"])
    return {s: {"total": total[s], "kept": kept[s], "removed": total[s] - kept[s]}
            for s in ("web", "synthetic") if total[s]}


def noise_stats(candidates: list[dict]) -> dict | None:
    """The filter as a noise detector on web texts with a known `noisy` flag: precision and
    recall of 'removed' for 'noisy' (in percent), the ROC AUC of 1 - P(match), and by kind of
    noise its recall, and its precision and ROC AUC against the clean texts. None when no web
    text has a flag or nothing was scored."""
    web = [c for c in candidates if c["source"] == "web" and c.get("noisy") is not None
           and c.get("score") is not None]
    if not web:
        return None
    noisy = [c["noisy"] for c in web]
    removed = [not c["keep"] for c in web]
    tp = sum(n and r for n, r in zip(noisy, removed, strict=True))
    auc = roc_auc([1 - c["score"] for c in web], noisy)
    by_kind: dict[str, list[dict]] = {}
    for c in web:
        if c["noisy"]:
            by_kind.setdefault(c.get("kind") or "noisy", []).append(c)
    clean = [c for c in web if not c["noisy"]]
    clean_removed = sum(not c["keep"] for c in clean)
    kinds = {}
    for kind, these in sorted(by_kind.items()):
        # this kind against the clean texts alone: how well the filter finds it
        hits = sum(not c["keep"] for c in these)
        kinds[kind] = {"texts": len(these), "removed": hits,
                       "precision": 100 * hits / (hits + clean_removed) if hits else None,
                       "recall": 100 * hits / len(these),
                       "roc_auc": roc_auc([1 - c["score"] for c in clean + these],
                                          [False] * len(clean) + [True] * len(these))}
    return {
        "web_texts": len(web), "noisy": sum(noisy), "removed": sum(removed),
        "precision": 100 * tp / sum(removed) if any(removed) else None,
        "recall": 100 * tp / sum(noisy) if any(noisy) else None,
        "roc_auc": auc,
        "recall_by_kind": {k: v["recall"] for k, v in kinds.items()},
        "by_kind": kinds,  # precision and ROC AUC against the clean texts only
    }
