"""Image-text contrastive loss (ALBEF/BLIP): momentum distillation, feature queues, and an
image-id-aware variant for retrieval fine-tuning."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from blipctl.objectives.gather import gather, gather_with_grad, rank_and_world


def alpha_at(step: int, ramp_steps: int, alpha: float) -> float:
    """BLIP ramps the distillation weight up linearly: over the first two epochs of
    pretraining, over the first epoch of retrieval fine-tuning."""
    return alpha * min(1.0, step / ramp_steps) if ramp_steps > 0 else alpha


class ITCLoss(nn.Module):
    """Cross-entropy of each image against every text of the world batch and the queue, and
    each text against every image, at temperature `temp`.

    With momentum features, the columns are the momentum encoders' features (gathered from
    all ranks, then the queue), and the targets are mixed with the momentum model's own
    softmax: `alpha * softmax(sim_m) + (1 - alpha) * positives`. Without them, the columns are
    the online features gathered *with* gradient (CLIP / BLIP-2 style). With `image_ids`,
    every column from the same image is a positive (retrieval fine-tuning); otherwise the
    pair's own column is.

    Returns the loss and, for ITM's hard negatives, the detached similarities of the local
    rows against the world batch's columns.
    """

    def forward(self, image_feat: torch.Tensor, text_feat: torch.Tensor, temp: torch.Tensor,
                image_feat_m: torch.Tensor | None = None, text_feat_m: torch.Tensor | None = None,
                image_queue: torch.Tensor | None = None, text_queue: torch.Tensor | None = None,
                alpha: float = 0.0, image_ids: torch.Tensor | None = None,
                id_queue: torch.Tensor | None = None):
        # image_feat, text_feat: (B, E) normalised; queues: (E, Q); image_ids: (B,); id_queue: (Q,)
        rank, world = rank_and_world()
        B = image_feat.shape[0]
        momentum = image_feat_m is not None
        if momentum:
            img_cols, txt_cols = gather(image_feat_m), gather(text_feat_m)  # (W*B, E)
        else:
            img_cols, txt_cols = gather_with_grad(image_feat), gather_with_grad(text_feat)
        n_world = img_cols.shape[0]
        if image_queue is not None:
            img_cols = torch.cat([img_cols, image_queue.t()])  # (W*B + Q, E)
            txt_cols = torch.cat([txt_cols, text_queue.t()])
        sim_i2t = image_feat @ txt_cols.t() / temp  # (B, N)
        sim_t2i = text_feat @ img_cols.t() / temp

        with torch.no_grad():
            if image_ids is not None:
                ids = gather(image_ids)
                if id_queue is not None and image_queue is not None:
                    ids = torch.cat([ids, id_queue])
                pos = (image_ids[:, None] == ids[None]).float()
            else:
                pos = torch.zeros_like(sim_i2t)
                pos[torch.arange(B), rank * B + torch.arange(B)] = 1
            targets = pos / pos.sum(1, keepdim=True)
            t_i2t = t_t2i = targets
            if momentum and alpha > 0:
                t_i2t = alpha * F.softmax(image_feat_m @ txt_cols.t() / temp, 1) + (1 - alpha) * targets
                t_t2i = alpha * F.softmax(text_feat_m @ img_cols.t() / temp, 1) + (1 - alpha) * targets

        loss_i2t = -(F.log_softmax(sim_i2t, 1) * t_i2t).sum(1).mean()
        loss_t2i = -(F.log_softmax(sim_t2i, 1) * t_t2i).sum(1).mean()
        return (loss_i2t + loss_t2i) / 2, sim_i2t[:, :n_world].detach(), sim_t2i[:, :n_world].detach()


@torch.no_grad()
def enqueue_(ptr: torch.Tensor, queues: list[torch.Tensor], values: list[torch.Tensor]) -> None:
    """Writes the world batch's values (N, ...) into the last-axis queues (..., Q) from `ptr`
    on, wrapping around; `ptr` (1,) moves on by N. Every rank writes the same values."""
    n, size = values[0].shape[0], queues[0].shape[-1]
    if size == 0:  # in-batch ITC: momentum features, no queue
        return
    if n > size:
        values, n = [v[-size:] for v in values], size
    start = int(ptr)
    cols = (torch.arange(n, device=ptr.device) + start) % size
    for queue, v in zip(queues, values, strict=True):
        queue[..., cols] = v.t().to(queue.dtype) if v.dim() > 1 else v.to(queue.dtype)
    ptr.fill_((start + n) % size)
