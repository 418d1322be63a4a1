"""BLIP pretraining: ITC + ITM + LM on image-text pairs (web alt-text, captions)."""

from __future__ import annotations

import torch

from blipctl.models.protocols import Embedder, LanguageModel, Matcher, MomentumContrastive
from blipctl.objectives.itc import ITCLoss, alpha_at
from blipctl.objectives.itm import ITMLoss
from blipctl.objectives.lm import LMLoss
from blipctl.tasks.context import Context
from blipctl.tasks.contrastive import momentum_itc
from blipctl.tasks.pairs import ImageTextPairs


class Pretrain(ImageTextPairs):
    """alpha: distillation weight, ramped up over `ramp_epochs`; max_length: text tokens."""

    needs = (MomentumContrastive, Embedder, Matcher, LanguageModel)

    def __init__(self, alpha: float = 0.4, ramp_epochs: float = 2.0, max_length: int = 30,
                 max_words: int = 30, label_smoothing: float = 0.1):
        self.alpha, self.ramp_epochs = alpha, ramp_epochs
        self.max_length, self.max_words = max_length, max_words
        self.itc, self.itm, self.lm = ITCLoss(), ITMLoss(eps=1e-4), LMLoss(label_smoothing)

    def losses(self, model, batch: dict, ctx: Context) -> dict[str, torch.Tensor]:
        codec = model.codec
        images = batch["image"].to(ctx.device)
        ids, mask = codec.encode(batch["caption"], "text", self.max_length, device=ctx.device)
        alpha = alpha_at(ctx.step, int(self.ramp_epochs * ctx.steps_per_epoch), self.alpha)
        image, itc, sim_i2t, sim_t2i = momentum_itc(model, images, ids, mask, self.itc, alpha)

        itm = self.itm(model.itm_logits, image, codec.restart(ids, "grounded"), mask, sim_i2t, sim_t2i)

        dec_ids = codec.restart(ids, "decoder")
        hidden = model.lm_hidden(image, dec_ids, mask)  # (B, T, D)
        lm = self.lm(hidden, dec_ids, mask, head=model.lm_logits)
        return {"loss": itc + itm + lm, "itc": itc, "itm": itm, "lm": lm}
