"""Image-text contrastive loss (ALBEF/BLIP): momentum distillation, feature queues, and an
image-id-aware variant for retrieval fine-tuning."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from blipctl.objectives.gather import gather, gather_with_grad, rank_and_world


def alpha_at(step: int, ramp_steps: int, alpha: float) -> float:
    """BLIP ramps the distillation weight up linearly: over the first two epochs of
    pretraining, over the first epoch of retrieval fine-tuning."""
    return alpha * min(1.0, step / ramp_steps) if ramp_steps > 0 else alpha


@dataclass
class Similarities:
    """One rank's rows against the columns: the world batch's features (the first `n_world`
    columns), then the queue's. i2t: images x texts, t2i: texts x images, (B, N) each."""

    i2t: torch.Tensor
    t2i: torch.Tensor
    image_cols: torch.Tensor  # (N, E)
    text_cols: torch.Tensor  # (N, E)
    n_world: int


class ITCLoss(nn.Module):
    """Cross-entropy of each image against every text of the world batch and the queue, and
    each text against every image, at temperature `temp`.

    With momentum features, the columns are the momentum encoders' features (gathered from
    all ranks, then the queue), and the targets are mixed with the momentum model's own
    softmax: `alpha * softmax(sim_m) + (1 - alpha) * positives`. Without them, the columns are
    the online features gathered *with* gradient, as CLIP / open_clip gather them (LAVIS's
    BLIP-2 gathers them without: `concat_all_gather` in `blip2_qformer.py`). With `image_ids`,
    every column from the same image is a positive (retrieval fine-tuning); otherwise the
    pair's own column is.

    The parts, as open_clip splits `ClipLoss`: `similarity` (the columns, and `logits`, the
    scores alone: where BLIP-2's max over 32 query similarities goes), `targets` and `loss`.

    Returns the loss and, for ITM's hard negatives, the detached similarities of the local
    rows against the world batch's columns.
    """

    def forward(self, image_feat: torch.Tensor, text_feat: torch.Tensor, temp: torch.Tensor,
                image_feat_m: torch.Tensor | None = None, text_feat_m: torch.Tensor | None = None,
                image_queue: torch.Tensor | None = None, text_queue: torch.Tensor | None = None,
                alpha: float = 0.0, image_ids: torch.Tensor | None = None,
                id_queue: torch.Tensor | None = None):
        # image_feat, text_feat: (B, E) normalised; queues: (E, Q); image_ids: (B,); id_queue: (Q,)
        sims = self.similarity(image_feat, text_feat, temp, image_feat_m, text_feat_m, image_queue,
                               text_queue)
        momentum = (image_feat_m, text_feat_m) if image_feat_m is not None and alpha > 0 else None
        t_i2t, t_t2i = self.targets(sims, temp, image_ids, id_queue if image_queue is not None else None,
                                    momentum, alpha)
        loss = self.loss(sims, t_i2t, t_t2i)
        return loss, sims.i2t[:, :sims.n_world].detach(), sims.t2i[:, :sims.n_world].detach()

    def similarity(self, image_feat: torch.Tensor, text_feat: torch.Tensor, temp: torch.Tensor,
                   image_feat_m: torch.Tensor | None = None, text_feat_m: torch.Tensor | None = None,
                   image_queue: torch.Tensor | None = None,
                   text_queue: torch.Tensor | None = None) -> Similarities:
        """The columns (the world batch's momentum features, or online ones with gradient; then
        the queues) and the local rows' `logits` against them."""
        if image_feat_m is not None:
            img_cols, txt_cols = gather(image_feat_m), gather(text_feat_m)  # (W*B, E)
        else:
            img_cols, txt_cols = gather_with_grad(image_feat), gather_with_grad(text_feat)
        n_world = img_cols.shape[0]
        if image_queue is not None:
            img_cols = torch.cat([img_cols, image_queue.t()])  # (W*B + Q, E)
            txt_cols = torch.cat([txt_cols, text_queue.t()])
        return Similarities(self.logits(image_feat, txt_cols, temp), self.logits(text_feat, img_cols, temp),
                            img_cols, txt_cols, n_world)

    def logits(self, rows: torch.Tensor, cols: torch.Tensor, temp: torch.Tensor) -> torch.Tensor:
        """rows (B, E) x columns (N, E) -> (B, N) similarities over the temperature."""
        return rows @ cols.t() / temp

    @torch.no_grad()
    def targets(self, sims: Similarities, temp: torch.Tensor, image_ids: torch.Tensor | None = None,
                id_queue: torch.Tensor | None = None,
                momentum: tuple[torch.Tensor, torch.Tensor] | None = None,
                alpha: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
        """Target distributions (B, N) for i2t and t2i: the positives (the pair's own column, or
        with `image_ids` (B,) every column of the same image, queue ids `id_queue` (Q,) included),
        normalised; with `momentum` features (image, text) (B, E), mixed with their softmax."""
        rank, _ = rank_and_world()
        B = sims.i2t.shape[0]
        if image_ids is not None:
            ids = gather(image_ids)
            if id_queue is not None:
                ids = torch.cat([ids, id_queue])
            pos = (image_ids[:, None] == ids[None]).float()
        else:
            pos = torch.zeros_like(sims.i2t)
            pos[torch.arange(B), rank * B + torch.arange(B)] = 1
        targets = pos / pos.sum(1, keepdim=True)
        if momentum is None:
            return targets, targets
        image_feat_m, text_feat_m = momentum
        t_i2t = alpha * F.softmax(self.logits(image_feat_m, sims.text_cols, temp), 1) + (1 - alpha) * targets
        t_t2i = alpha * F.softmax(self.logits(text_feat_m, sims.image_cols, temp), 1) + (1 - alpha) * targets
        return t_i2t, t_t2i

    def loss(self, sims: Similarities, t_i2t: torch.Tensor, t_t2i: torch.Tensor) -> torch.Tensor:
        """The mean of both directions' soft-target cross-entropy."""
        loss_i2t = -(F.log_softmax(sims.i2t, 1) * t_i2t).sum(1).mean()
        loss_t2i = -(F.log_softmax(sims.t2i, 1) * t_t2i).sum(1).mean()
        return (loss_i2t + loss_t2i) / 2


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


class QueryITCLoss(nn.Module):
    """BLIP-2's ITC (LAVIS `blip2_qformer.py`): an image is Q query features (B, Q, E) and a
    pair's similarity is its best query's; the columns are the world batch's features gathered
    without gradient (LAVIS's `concat_all_gather`), so gradient reaches the local rows only
    (in one process too, where LAVIS's columns would keep theirs);
    targets are the positives (the pair's own column offset by rank, or with `image_ids` every
    column of the same image) smoothed by `smoothing`: (1 - s) * positives + s / N, which is
    cross-entropy with label smoothing s for one positive.

    Returns the loss and, for ITM's hard negatives, the detached (B, W*B) similarities."""

    def __init__(self, smoothing: float = 0.1):
        super().__init__()
        self.smoothing = smoothing

    def forward(self, image_feat: torch.Tensor, text_feat: torch.Tensor, temp: torch.Tensor,
                image_ids: torch.Tensor | None = None):
        # image_feat: (B, Q, E), text_feat: (B, E), both normalised; image_ids: (B,)
        # (N, Q, E), (N, E); detached in one process too, so one process equals the world
        img_cols, txt_cols = gather(image_feat).detach(), gather(text_feat).detach()
        i2t = torch.einsum("bqe,ne->bnq", image_feat, txt_cols).amax(-1) / temp  # (B, N)
        t2i = torch.einsum("be,nqe->bnq", text_feat, img_cols).amax(-1) / temp  # (B, N)
        rank, _ = rank_and_world()
        B, N = i2t.shape
        with torch.no_grad():
            if image_ids is not None:
                pos = (image_ids[:, None] == gather(image_ids)[None]).float()
            else:
                pos = torch.zeros_like(i2t)
                pos[torch.arange(B), rank * B + torch.arange(B)] = 1
            targets = (1 - self.smoothing) * pos / pos.sum(1, keepdim=True) + self.smoothing / N
        loss = (-(F.log_softmax(i2t, 1) * targets).sum(1).mean()
                - (F.log_softmax(t2i, 1) * targets).sum(1).mean()) / 2
        return loss, i2t.detach(), t2i.detach()
