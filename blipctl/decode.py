"""Text generation for BLIP decoders: greedy, beam search and nucleus sampling, batched, with a
KV cache. Beam search follows transformers' algorithm step for step, so on identical weights the
tokens are identical.

A model plugs in through `step(ids, cache) -> logits`: it feeds the new tokens `ids` (N, t),
extends the cache, and returns the next-token logits (N, V). The cache must offer
`reorder(index)` for beam search.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import torch
import torch.nn.functional as F

Step = Callable[[torch.Tensor, Any], torch.Tensor]


@dataclass
class DecodeConfig:
    num_beams: int = 3
    max_length: int = 20  # tokens in all, [DEC] and the prompt included (as transformers counts)
    min_length: int = 5  # [SEP] is forbidden until the sequence is this long
    top_p: float = 0.0  # > 0: nucleus sampling (BLIP uses 0.9) instead of beam search
    temperature: float = 1.0
    repetition_penalty: float = 1.0  # BLIP uses 1.1 when sampling
    length_penalty: float = 1.0
    seed: int = 0
    max_new_tokens: int | None = None  # set: replaces max_length, counting generated tokens only
    min_new_tokens: int | None = None  # set: replaces min_length, counting generated tokens only


def beams(cfg: DecodeConfig) -> int:
    """Rows of the step's cache per prompt: `num_beams` for beam search, 1 for greedy or sampling."""
    return 1 if cfg.top_p > 0 or cfg.num_beams == 1 else cfg.num_beams


def _penalise(scores: torch.Tensor, seen: torch.Tensor, cfg: DecodeConfig, eos: int) -> torch.Tensor:
    """min-length and repetition penalty, on logits or log-probs (N, V); seen: ids so far (N, t)."""
    if seen.shape[1] < cfg.min_length:
        scores = scores.clone()
        scores[:, eos] = -float("inf")
    if cfg.repetition_penalty != 1.0:
        prev = scores.gather(1, seen)
        prev = torch.where(prev < 0, prev * cfg.repetition_penalty, prev / cfg.repetition_penalty)
        scores = scores.scatter(1, seen, prev)
    return scores


def _nucleus(logits: torch.Tensor, top_p: float, temperature: float) -> torch.Tensor:
    """Logits outside the smallest set with probability >= top_p become -inf."""
    logits = logits / temperature
    sorted_logits, order = logits.sort(dim=-1)  # ascending
    cum = sorted_logits.softmax(-1).cumsum(-1)
    drop = cum <= 1 - top_p
    drop[:, -1] = False  # always keep the most likely token
    return logits.masked_fill(drop.scatter(1, order, drop), -float("inf"))


def _sample_top_p(logits: torch.Tensor, top_p: float, temperature: float, gen: torch.Generator,
                  ks: tuple[int, ...] = (64, 1024)) -> torch.Tensor:
    """One token per row (N, V) -> (N,) from the nucleus distribution of `_nucleus`, without
    sorting the 30k-token vocabulary: a row whose nucleus lies inside its k most likely tokens
    samples among those; the others try the next k, and last the whole vocabulary. Sampling
    uses the exponential-race trick (argmax of p / Exp(1)), which draws exactly from p."""
    probs = (logits.float() / temperature).softmax(-1)
    out = torch.empty(probs.shape[0], dtype=torch.long, device=probs.device)
    todo = torch.arange(probs.shape[0], device=probs.device)
    for k in (*ks, probs.shape[-1]):
        top, idx = probs[todo].topk(min(k, probs.shape[-1]), dim=-1)  # (n, k), descending
        before = top.cumsum(-1) - top  # the mass of the more likely tokens
        inside = (before[:, -1] + top[:, -1] >= top_p) | (k >= probs.shape[-1])
        w = top[inside].masked_fill(before[inside] >= top_p, 0)
        race = torch.empty_like(w).exponential_(generator=gen)
        out[todo[inside]] = idx[inside].gather(1, (w / race).argmax(-1, keepdim=True)).squeeze(1)
        todo = todo[~inside]
        if not len(todo):
            break
    return out


@torch.no_grad()
def generate(step: Step, cache: Any, prompt: torch.Tensor, cfg: DecodeConfig, eos: int,
             pad: int) -> torch.Tensor:
    """prompt: (B, P) ids, left-padded if their lengths differ (the step function masks the
    padding) -> (B, L) ids, prompt included, padded with `pad`. Lengths count the whole prompt,
    padding included, as transformers counts them.

    For beam search the cache must expect B * num_beams rows, ordered (image, beam).
    """
    P = prompt.shape[1]
    if cfg.max_new_tokens is not None or cfg.min_new_tokens is not None:
        cfg = replace(cfg, max_new_tokens=None, min_new_tokens=None,
                      max_length=cfg.max_length if cfg.max_new_tokens is None else P + cfg.max_new_tokens,
                      min_length=cfg.min_length if cfg.min_new_tokens is None else P + cfg.min_new_tokens)
    if cfg.max_length <= P:
        from blipctl.errors import BlipctlError

        raise BlipctlError(f"max_length {cfg.max_length} leaves no room after a {P}-token prompt (the length "
                           "counts the prompt): raise --max-length (or the recipe's max_length)")
    if beams(cfg) == 1:
        return _sample_or_greedy(step, cache, prompt, cfg, eos, pad)
    return _beam_search(step, cache, prompt, cfg, eos, pad)


def _sample_or_greedy(step: Step, cache: Any, prompt: torch.Tensor, cfg: DecodeConfig, eos: int,
                      pad: int) -> torch.Tensor:
    gen = torch.Generator(device=prompt.device).manual_seed(cfg.seed)
    ids, new = prompt, prompt
    alive = torch.ones(prompt.shape[0], dtype=torch.bool, device=prompt.device)
    while ids.shape[1] < cfg.max_length:
        scores = _penalise(step(new, cache).float(), ids, cfg, eos)
        nxt = torch.full_like(alive, pad, dtype=torch.long)
        if cfg.top_p > 0:  # finished rows draw nothing
            nxt[alive] = _sample_top_p(scores[alive], cfg.top_p, cfg.temperature, gen)
        else:
            nxt[alive] = scores[alive].argmax(-1)
        ids = torch.cat([ids, nxt[:, None]], dim=1)
        alive &= nxt != eos
        if not alive.any():
            break
        new = nxt[:, None]
    return ids


def _gather(x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """x: (B, K, ...) rows picked per batch item by index (B, K')."""
    return x.gather(1, index.view(*index.shape, *([1] * (x.dim() - 2))).expand(-1, -1, *x.shape[2:]))


def _beam_search(step: Step, cache: Any, prompt: torch.Tensor, cfg: DecodeConfig, eos: int,
                 pad: int) -> torch.Tensor:
    B, P = prompt.shape
    nb, L, lp = cfg.num_beams, cfg.max_length, cfg.length_penalty
    dev = prompt.device
    k = 2 * nb  # candidates kept per step, so nb survive even if nb of them just ended
    in_top = torch.arange(k, device=dev) < nb

    running = torch.full((B, nb, L), pad, dtype=torch.long, device=dev)
    running[:, :, :P] = prompt[:, None]
    run_scores = torch.zeros(B, nb, device=dev)
    run_scores[:, 1:] = -1e9  # all beams start equal: keep only the first alive
    done = running.clone()  # finished hypotheses, best first
    done_scores = torch.full((B, nb), -1e9, device=dev)
    done_len = torch.zeros(B, nb, dtype=torch.long, device=dev)
    is_done = torch.zeros(B, nb, dtype=torch.bool, device=dev)
    improvable = torch.ones(B, 1, dtype=torch.bool, device=dev)
    offsets = torch.arange(B, device=dev)[:, None] * nb

    cur, new = P, running[:, :, :P].reshape(B * nb, P)
    while True:
        logp = F.log_softmax(step(new, cache).float(), dim=-1)
        logp = _penalise(logp, running[:, :, :cur].reshape(B * nb, cur), cfg, eos)
        V = logp.shape[-1]
        total = (logp.view(B, nb, V) + run_scores[:, :, None]).view(B, nb * V)
        top_lp, top_idx = total.topk(k)  # (B, k)
        beam, tok = top_idx // V, top_idx % V
        cand = _gather(running, beam)
        cand[:, :, cur] = tok
        ended = (tok == eos) | (cur + 1 >= L)

        # the best nb candidates that did not end keep running
        run_lp = top_lp + ended.float() * -1e9
        keep = run_lp.topk(nb).indices
        running, run_scores = _gather(cand, keep), run_lp.gather(1, keep)
        cache.reorder((beam.gather(1, keep) + offsets).flatten())

        # candidates ranked in the top nb that ended compete for the finished slots
        fin = top_lp / ((cur + 1 - P) ** lp)
        fin = fin + (~improvable).float() * -1e9 + (~(ended & in_top)).float() * -1e9
        merged = torch.cat([done_scores, fin], dim=1)
        best = merged.topk(nb).indices
        done = _gather(torch.cat([done, cand], dim=1), best)
        done_scores = merged.gather(1, best)
        done_len = torch.cat([done_len, torch.full_like(fin, cur + 1 - P, dtype=torch.long)],
                             dim=1).gather(1, best)
        is_done = torch.cat([is_done, ended & in_top], dim=1).gather(1, best)

        cur += 1
        best_running = run_scores[:, :1] / ((cur - P) ** lp)
        worst_done = torch.where(is_done, done_scores.min(dim=1, keepdim=True).values, -1e9)
        improvable = improvable & (best_running > worst_done).any(dim=-1, keepdim=True)
        if not improvable.any() or ended.all():
            break
        new = running[:, :, cur - 1].reshape(B * nb, 1)
    return done[:, 0, : P + int(done_len[:, 0].max())]
