"""BLIP pretraining: ITC + ITM + LM on image-text pairs (web alt-text, captions)."""

from __future__ import annotations

import torch

from blipctl.data.annotations import caption_records, clean_pair
from blipctl.data.loader import image_sample
from blipctl.models.blip import BlipPretrain
from blipctl.objectives.itc import ITCLoss, alpha_at
from blipctl.objectives.itm import ITMLoss
from blipctl.objectives.lm import LMLoss
from blipctl.tasks.context import Context
from blipctl.tasks.contrastive import momentum_itc


class Pretrain:
    """alpha: distillation weight, ramped up over `ramp_epochs`; max_length: text tokens."""

    model_type = BlipPretrain

    def __init__(self, alpha: float = 0.4, ramp_epochs: float = 2.0, max_length: int = 30,
                 max_words: int = 30, label_smoothing: float = 0.1):
        self.alpha, self.ramp_epochs = alpha, ramp_epochs
        self.max_length, self.max_words = max_length, max_words
        self.itc, self.itm, self.lm = ITCLoss(), ITMLoss(eps=1e-4), LMLoss(label_smoothing)

    def stream_record(self, rec: dict) -> dict:
        """A streamed (webdataset) image-text sample, cleaned as `records` cleans the JSON's."""
        return clean_pair(rec, self.max_words)

    def records(self, files: list[str], root: str) -> list[dict]:
        return [r for f in files for r in caption_records(f, root, self.max_words)]

    def sample(self, image_size: int, train: bool, hflip: bool = True):
        return image_sample(image_size, train, hflip)

    def losses(self, model: BlipPretrain, batch: dict, ctx: Context) -> dict[str, torch.Tensor]:
        tok = ctx.tokenizer
        images = batch["image"].to(ctx.device)
        ids, mask = ctx.tokenize(batch["caption"], self.max_length, padding="longest")
        alpha = alpha_at(ctx.step, int(self.ramp_epochs * ctx.steps_per_epoch), self.alpha)
        image, itc, sim_i2t, sim_t2i = momentum_itc(model, model.encoder, model.encoder_m, images, ids,
                                                    mask, self.itc, alpha)

        enc_ids = ids.clone()
        enc_ids[:, 0] = tok.enc_token_id
        itm = self.itm(lambda im, i, m: model.itm_head(model.encoder(i, m, image=im)[:, 0]),
                       image, enc_ids, mask, sim_i2t, sim_t2i)

        dec_ids = ids.clone()
        dec_ids[:, 0] = tok.bos_token_id
        hidden = model.decoder(dec_ids, mask, image=image, causal=True)  # (B, T, D)
        lm = self.lm(hidden, dec_ids, mask, head=lambda h: model.lm_head(h, model.decoder.embed.tok.weight))
        return {"loss": itc + itm + lm, "itc": itc, "itm": itm, "lm": lm}
