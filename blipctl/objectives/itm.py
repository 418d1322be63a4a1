"""Image-text matching with hard negatives mined from the contrastive similarities."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from blipctl.errors import BlipctlError
from blipctl.objectives.gather import gather, gather_text, gather_with_grad, rank_and_world


@torch.no_grad()
def hard_negatives(sim: torch.Tensor, positive: torch.Tensor, eps: float = 0.0,
                   generator: torch.Generator | None = None, u: torch.Tensor | None = None) -> torch.Tensor:
    """One negative column per row, drawn with probability softmax(sim) (+ eps), never a
    positive. Safe where BLIP's `torch.multinomial` fails (BLIP #76): the softmax is taken
    in fp32, NaN/inf weights become 0, and a row whose weights all vanish falls back to a
    uniform draw over its negatives. sim, positive: (B, N) -> (B,) column indices.
    u: (B,) uniforms in [0, 1) to draw with (inverse CDF) instead of `torch.multinomial`."""
    w = F.softmax(sim.float(), dim=1) + eps
    w = torch.nan_to_num(w, nan=0.0, posinf=0.0, neginf=0.0).clamp_min(0).masked_fill(positive, 0)
    dead = w.sum(1) <= 0
    if dead.any():
        w[dead] = (~positive[dead]).float()
        if (w.sum(1) <= 0).any():
            raise BlipctlError("ITM: a batch row has no negative to draw (every item in the batch "
                               "shares its image); use a larger batch")
    if u is None:
        return torch.multinomial(w, 1, generator=generator).squeeze(1)
    cdf = w.cumsum(1)  # the first column whose cumulative weight exceeds u * total has weight > 0
    return torch.searchsorted(cdf, (u.to(cdf.device) * cdf[:, -1])[:, None], right=True).squeeze(1) \
        .clamp_max(w.shape[1] - 1)


class ITMLoss(nn.Module):
    """Binary matching loss over B positives, B hard-negative images (one per text) and B
    hard-negative texts (one per image), drawn from the whole world batch.

    `match(image_tokens, ids, mask) -> (n, 2) logits` runs the image-grounded text encoder.
    `shared`: a generator seeded alike on every rank (`Context.shared_generator`): the draws are
    made for the whole world batch and each rank keeps its rows, so they do not depend on how the
    batch is split across processes. Without it each rank draws from its own global RNG.
    """

    def __init__(self, eps: float = 0.0):
        super().__init__()
        self.eps = eps  # BLIP's pretraining adds 1e-4 to the sampling weights

    def forward(self, match: Callable[..., torch.Tensor], image: torch.Tensor, ids: torch.Tensor,
                mask: torch.Tensor, sim_i2t: torch.Tensor, sim_t2i: torch.Tensor,
                image_ids: torch.Tensor | None = None,
                generator: torch.Generator | None = None,
                shared: torch.Generator | None = None) -> torch.Tensor:
        # image: (B, N, D) tokens; ids, mask: (B, T); sim_*: (B, W*B) local rows, world columns
        rank, world = rank_and_world()
        B = image.shape[0]
        u = None if shared is None else torch.rand(world * B, 2, generator=shared)[rank * B:(rank + 1) * B]
        if image_ids is not None:
            positive = image_ids[:, None] == gather(image_ids)[None]
        else:
            positive = torch.zeros_like(sim_i2t, dtype=torch.bool)
            positive[torch.arange(B), rank * B + torch.arange(B)] = True
        def draw(sim: torch.Tensor, k: int) -> torch.Tensor:
            return hard_negatives(sim, positive, self.eps, generator, None if u is None else u[:, k])

        neg_image = gather_with_grad(image)[draw(sim_t2i, 0)]
        neg_text = draw(sim_i2t, 1)
        ids, mask, all_ids, all_mask = gather_text(ids, mask)  # padded to the world's longest text
        logits = match(torch.cat([image, neg_image, image]),
                       torch.cat([ids, ids, all_ids[neg_text]]),
                       torch.cat([mask, mask, all_mask[neg_text]]))  # (3B, 2)
        labels = torch.cat([torch.ones(B), torch.zeros(2 * B)]).long().to(logits.device)
        return F.cross_entropy(logits, labels)
