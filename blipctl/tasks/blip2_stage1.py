"""BLIP-2 stage 1 (LAVIS `blip2` pretraining): the Q-Former learns ITC + ITM + ITG on
image-text pairs from a frozen image encoder. With `image_ids` (retrieval fine-tuning) every
caption of the same image is a positive, in ITC's targets and in ITM's negatives alike."""

from __future__ import annotations

import torch

from blipctl.models.protocols import QueryLearner
from blipctl.objectives.itc import QueryITCLoss
from blipctl.objectives.itm import ITMLoss
from blipctl.objectives.lm import LMLoss
from blipctl.tasks.context import Context
from blipctl.tasks.pairs import ImageTextPairs


class Stage1(ImageTextPairs):
    """max_length: text tokens (LAVIS's max_txt_len 32); label_smoothing: ITC's and ITG's."""

    needs = QueryLearner

    def __init__(self, max_length: int = 32, max_words: int = 50, label_smoothing: float = 0.1,
                 image_ids: bool = False):
        self.max_length, self.max_words, self.image_ids = max_length, max_words, image_ids
        self.itc, self.itm, self.itg = QueryITCLoss(label_smoothing), ITMLoss(), LMLoss(label_smoothing)

    def losses(self, model: QueryLearner, batch: dict, ctx: Context) -> dict[str, torch.Tensor]:
        codec = model.codec
        ids, mask = codec.encode(batch["caption"], "text", self.max_length, device=ctx.device)
        idx = torch.as_tensor(batch["image_id"], device=ctx.device) if self.image_ids else None
        image, image_feat, kv = model.stage1(batch["image"].to(ctx.device))  # one query pass
        itc, sim_i2t, sim_t2i = self.itc(image_feat, model.text_features(ids, mask), model.temp, idx)
        # hard negatives drawn for the world batch: 2 processes draw what one process would
        itm = self.itm(model.itm_logits, image, ids, mask, sim_i2t, sim_t2i, image_ids=idx,
                       shared=ctx.shared_generator())
        dec = codec.restart(ids, "decoder")  # [DEC] in place of [CLS]
        itg = self.itg(model.itg_logits(kv, dec), dec, mask)  # after the queries' cached keys and values
        return {"loss": itc + itm + itg, "itc": itc, "itm": itm, "itg": itg}
