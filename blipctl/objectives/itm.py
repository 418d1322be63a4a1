"""Image-text matching with hard negatives mined from the contrastive similarities."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from blipctl.errors import BlipctlError
from blipctl.objectives.gather import gather, gather_with_grad, rank_and_world


@torch.no_grad()
def hard_negatives(sim: torch.Tensor, positive: torch.Tensor, eps: float = 0.0,
                   generator: torch.Generator | None = None) -> torch.Tensor:
    """One negative column per row, drawn with probability softmax(sim) (+ eps), never a
    positive. Safe where BLIP's `torch.multinomial` fails (BLIP #76): the softmax is taken
    in fp32, NaN/inf weights become 0, and a row whose weights all vanish falls back to a
    uniform draw over its negatives. sim, positive: (B, N) -> (B,) column indices."""
    w = F.softmax(sim.float(), dim=1) + eps
    w = torch.nan_to_num(w, nan=0.0, posinf=0.0, neginf=0.0).clamp_min(0).masked_fill(positive, 0)
    dead = w.sum(1) <= 0
    if dead.any():
        w[dead] = (~positive[dead]).float()
        if (w.sum(1) <= 0).any():
            raise BlipctlError("ITM: a batch row has no negative to draw (every item in the batch "
                               "shares its image); use a larger batch")
    return torch.multinomial(w, 1, generator=generator).squeeze(1)


class ITMLoss(nn.Module):
    """Binary matching loss over B positives, B hard-negative images (one per text) and B
    hard-negative texts (one per image), drawn from the whole world batch.

    `match(image_tokens, ids, mask) -> (n, 2) logits` runs the image-grounded text encoder.
    """

    def __init__(self, eps: float = 0.0):
        super().__init__()
        self.eps = eps  # BLIP's pretraining adds 1e-4 to the sampling weights

    def forward(self, match: Callable[..., torch.Tensor], image: torch.Tensor, ids: torch.Tensor,
                mask: torch.Tensor, sim_i2t: torch.Tensor, sim_t2i: torch.Tensor,
                image_ids: torch.Tensor | None = None,
                generator: torch.Generator | None = None) -> torch.Tensor:
        # image: (B, N, D) tokens; ids, mask: (B, T); sim_*: (B, W*B) local rows, world columns
        rank, _ = rank_and_world()
        B = image.shape[0]
        if image_ids is not None:
            positive = image_ids[:, None] == gather(image_ids)[None]
        else:
            positive = torch.zeros_like(sim_i2t, dtype=torch.bool)
            positive[torch.arange(B), rank * B + torch.arange(B)] = True
        neg_image = gather_with_grad(image)[hard_negatives(sim_t2i, positive, self.eps, generator)]
        neg_text = hard_negatives(sim_i2t, positive, self.eps, generator)
        all_ids, all_mask = gather(ids), gather(mask)
        logits = match(torch.cat([image, neg_image, image]),
                       torch.cat([ids, ids, all_ids[neg_text]]),
                       torch.cat([mask, mask, all_mask[neg_text]]))  # (3B, 2)
        labels = torch.cat([torch.ones(B), torch.zeros(2 * B)]).long().to(logits.device)
        return F.cross_entropy(logits, labels)
