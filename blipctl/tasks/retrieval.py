"""Retrieval fine-tuning: image-id-aware ITC with momentum distillation, and ITM."""

from __future__ import annotations

import torch

from blipctl.models.protocols import Embedder, Matcher, MomentumContrastive
from blipctl.objectives.itc import ITCLoss, alpha_at
from blipctl.objectives.itm import ITMLoss
from blipctl.tasks.context import Context
from blipctl.tasks.contrastive import momentum_itc
from blipctl.tasks.pairs import ImageTextPairs


class Retrieval(ImageTextPairs):
    """Captions of the same image are all positives (BLIP's `idx`); alpha is ramped over the
    first `ramp_epochs` epoch(s). The model needs a `queue_size` (momentum encoders)."""

    needs = (MomentumContrastive, Embedder, Matcher)

    def __init__(self, alpha: float = 0.4, ramp_epochs: float = 1.0, max_length: int = 35,
                 max_words: int = 30):
        self.alpha, self.ramp_epochs = alpha, ramp_epochs
        self.max_length, self.max_words = max_length, max_words
        self.itc, self.itm = ITCLoss(), ITMLoss()

    def losses(self, model, batch: dict, ctx: Context) -> dict[str, torch.Tensor]:
        images = batch["image"].to(ctx.device)
        idx = torch.as_tensor(batch["image_id"], device=ctx.device)
        ids, mask = model.codec.encode(batch["caption"], "text", self.max_length, device=ctx.device)
        alpha = alpha_at(ctx.step, int(self.ramp_epochs * ctx.steps_per_epoch), self.alpha)
        image, itc, sim_i2t, sim_t2i = momentum_itc(model, images, ids, mask, self.itc, alpha,
                                                    image_ids=idx)

        itm = self.itm(model.itm_logits, image, model.codec.restart(ids, "grounded"), mask, sim_i2t,
                       sim_t2i, image_ids=idx)
        return {"loss": itc + itm, "itc": itc, "itm": itm}
