"""BLIP pretraining: ITC + ITM + LM on image-text pairs (web alt-text, captions)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from blipctl.data.annotations import caption_records
from blipctl.data.loader import image_sample
from blipctl.models.blip import BlipPretrain
from blipctl.objectives.gather import gather
from blipctl.objectives.itc import ITCLoss, alpha_at, enqueue_
from blipctl.objectives.itm import ITMLoss
from blipctl.objectives.lm import LMLoss
from blipctl.tasks.context import Context


class Pretrain:
    """alpha: distillation weight, ramped up over `ramp_epochs`; max_length: text tokens."""

    model_type = BlipPretrain

    def __init__(self, alpha: float = 0.4, ramp_epochs: float = 2.0, max_length: int = 30,
                 max_words: int = 30, label_smoothing: float = 0.1):
        self.alpha, self.ramp_epochs = alpha, ramp_epochs
        self.max_length, self.max_words = max_length, max_words
        self.itc, self.itm, self.lm = ITCLoss(), ITMLoss(eps=1e-4), LMLoss(label_smoothing)

    def records(self, files: list[str], root: str) -> list[dict]:
        return [r for f in files for r in caption_records(f, root, self.max_words)]

    def sample(self, image_size: int, train: bool):
        return image_sample(image_size, train)

    def losses(self, model: BlipPretrain, batch: dict, ctx: Context) -> dict[str, torch.Tensor]:
        tok = ctx.tokenizer
        images = batch["image"].to(ctx.device)
        ids, mask = ctx.tokenize(batch["caption"], self.max_length)
        alpha = alpha_at(ctx.step, int(self.ramp_epochs * ctx.steps_per_epoch), self.alpha)
        with torch.no_grad():
            model.temp.clamp_(0.001, 0.5)

        image = model.visual(images)  # (B, N, D)
        image_feat = F.normalize(model.vision_proj(image[:, 0]), dim=-1)  # (B, E)
        text_feat = F.normalize(model.text_proj(model.encoder(ids, mask)[:, 0]), dim=-1)
        with torch.no_grad():
            model.momentum_update()
            image_feat_m = F.normalize(model.vision_proj_m(model.visual_m(images)[:, 0]), dim=-1)
            text_feat_m = F.normalize(model.text_proj_m(model.encoder_m(ids, mask)[:, 0]), dim=-1)
        itc, sim_i2t, sim_t2i = self.itc(image_feat, text_feat, model.temp, image_feat_m, text_feat_m,
                                         model.image_queue, model.text_queue, alpha=alpha)
        enqueue_(model.ptr_queue, [model.image_queue, model.text_queue],
                 [gather(image_feat_m), gather(text_feat_m)])

        enc_ids = ids.clone()
        enc_ids[:, 0] = tok.enc_token_id
        itm = self.itm(lambda im, i, m: model.itm_head(model.encoder(i, m, image=im)[:, 0]),
                       image, enc_ids, mask, sim_i2t, sim_t2i)

        dec_ids = ids.clone()
        dec_ids[:, 0] = tok.bos_token_id
        logits = model.lm_head(model.decoder(dec_ids, mask, image=image, causal=True),
                               model.decoder.embed.tok.weight)
        lm = self.lm(logits, dec_ids, mask)
        return {"loss": itc + itm + lm, "itc": itc, "itm": itm, "lm": lm}
