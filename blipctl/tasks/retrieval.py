"""Retrieval fine-tuning: image-id-aware ITC with momentum distillation, and ITM."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from blipctl.data.annotations import caption_records
from blipctl.data.loader import image_sample
from blipctl.errors import ConfigError
from blipctl.models.blip import BlipRetrieval
from blipctl.objectives.gather import gather
from blipctl.objectives.itc import ITCLoss, alpha_at, enqueue_
from blipctl.objectives.itm import ITMLoss
from blipctl.tasks.context import Context


class Retrieval:
    """Captions of the same image are all positives (BLIP's `idx`); alpha is ramped over the
    first `ramp_epochs` epoch(s). The model needs `queue_size > 0` (momentum encoders)."""

    model_type = BlipRetrieval

    def __init__(self, alpha: float = 0.4, ramp_epochs: float = 1.0, max_length: int = 35,
                 max_words: int = 30):
        self.alpha, self.ramp_epochs = alpha, ramp_epochs
        self.max_length, self.max_words = max_length, max_words
        self.itc, self.itm = ITCLoss(), ITMLoss()

    def records(self, files: list[str], root: str) -> list[dict]:
        return [r for f in files for r in caption_records(f, root, self.max_words)]

    def sample(self, image_size: int, train: bool):
        return image_sample(image_size, train)

    def losses(self, model: BlipRetrieval, batch: dict, ctx: Context) -> dict[str, torch.Tensor]:
        if not hasattr(model, "image_queue"):
            raise ConfigError("recipe key `model.queue_size`: retrieval fine-tuning needs momentum "
                              "encoders and queues; set it above 0 (BLIP uses 57600)")
        images = batch["image"].to(ctx.device)
        idx = torch.as_tensor(batch["image_id"], device=ctx.device)
        ids, mask = ctx.tokenize(batch["caption"], self.max_length)
        alpha = alpha_at(ctx.step, int(self.ramp_epochs * ctx.steps_per_epoch), self.alpha)
        with torch.no_grad():
            model.temp.clamp_(0.001, 0.5)

        image = model.visual(images)  # (B, N, D)
        image_feat = F.normalize(model.vision_proj(image[:, 0]), dim=-1)
        text_feat = F.normalize(model.text_proj(model.text(ids, mask)[:, 0]), dim=-1)
        with torch.no_grad():
            model.momentum_update()
            image_feat_m = F.normalize(model.vision_proj_m(model.visual_m(images)[:, 0]), dim=-1)
            text_feat_m = F.normalize(model.text_proj_m(model.text_m(ids, mask)[:, 0]), dim=-1)
        itc, sim_i2t, sim_t2i = self.itc(image_feat, text_feat, model.temp, image_feat_m, text_feat_m,
                                         model.image_queue, model.text_queue, alpha=alpha,
                                         image_ids=idx, id_queue=model.idx_queue.view(-1))
        enqueue_(model.ptr_queue, [model.image_queue, model.text_queue, model.idx_queue],
                 [gather(image_feat_m), gather(text_feat_m), gather(idx)])

        enc_ids = ids.clone()
        enc_ids[:, 0] = ctx.tokenizer.enc_token_id
        itm = self.itm(lambda im, i, m: model.itm_head(model.text(i, m, image=im)[:, 0]),
                       image, enc_ids, mask, sim_i2t, sim_t2i, image_ids=idx)
        return {"loss": itc + itm, "itc": itc, "itm": itm}
