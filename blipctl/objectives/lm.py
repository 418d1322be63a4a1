"""Language-modelling loss for the image-grounded decoder, with label smoothing."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from blipctl.objectives.gather import global_sum, rank_and_world


class LMLoss(nn.Module):
    """Next-token cross-entropy with label smoothing (BLIP: 0.1). Padding and the first
    `prompt_len` ids (the [DEC] token and a prompt such as "a picture of") are not targets.

    reduction "mean": the mean over every target token of the world batch, however the tokens
    fall across ranks (each rank divides its sum by the world's count / world size, so DDP's
    gradient average gives the global mean). "sum": one summed loss per sequence, (B,), as
    BLIP's VQA weights its answers.

    With `head` (hidden (n, D) -> logits (n, V)), the first argument is the decoder's hidden
    states (B, T, D) and logits are computed only where there is a target: the same loss,
    without the vocabulary projection of padding and prompt positions.
    """

    def __init__(self, smoothing: float = 0.1):
        super().__init__()
        self.smoothing = smoothing

    def forward(self, logits: torch.Tensor, ids: torch.Tensor, mask: torch.Tensor,
                prompt_len: int | torch.Tensor = 1, reduction: str = "mean",
                head: Callable[[torch.Tensor], torch.Tensor] | None = None) -> torch.Tensor:
        # logits: (B, T, V) (or hidden states (B, T, D) with `head`) for inputs ids: (B, T);
        # mask: (B, T) 1 for real tokens; prompt_len: one for all rows, or (B,) one per row
        targets = ids[:, 1:].masked_fill(mask[:, 1:] == 0, -100)
        if isinstance(prompt_len, torch.Tensor):
            cols = torch.arange(targets.shape[1], device=targets.device)
            targets = targets.masked_fill(cols[None] < prompt_len.to(targets.device)[:, None] - 1, -100)
        else:
            targets[:, : max(prompt_len - 1, 0)] = -100
        if head is None:
            nll = F.cross_entropy(logits[:, :-1].flatten(0, 1).float(), targets.flatten(),
                                  ignore_index=-100, label_smoothing=self.smoothing,
                                  reduction="none").view(targets.shape)  # (B, T-1)
        else:
            valid = targets != -100
            picked = F.cross_entropy(head(logits[:, :-1][valid]).float(), targets[valid],
                                     label_smoothing=self.smoothing, reduction="none")  # (n,)
            nll = torch.zeros(targets.shape, dtype=picked.dtype, device=picked.device)
            nll = nll.masked_scatter(valid, picked)  # (B, T-1)
        if reduction == "sum":
            return nll.sum(1)
        count = global_sum((targets != -100).sum().float()).clamp_min(1)
        return nll.sum() / (count / rank_and_world()[1])
