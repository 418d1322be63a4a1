"""Caption fine-tuning: the image-grounded decoder's LM loss after a prompt."""

from __future__ import annotations

import torch

from blipctl.models.protocols import LanguageModel
from blipctl.objectives.lm import LMLoss
from blipctl.tasks.context import Context
from blipctl.tasks.pairs import ImageTextPairs


class Caption(ImageTextPairs):
    """prompt: prepended to every caption and masked out of the loss (BLIP: "a picture of ")."""

    needs = LanguageModel

    def __init__(self, prompt: str = "a picture of ", max_length: int = 40, max_words: int = 30,
                 label_smoothing: float = 0.1):
        self.prompt, self.max_length, self.max_words = prompt, max_length, max_words
        self.record_prompt = prompt  # the caption records are prompt + caption
        self.lm = LMLoss(label_smoothing)

    def losses(self, model: LanguageModel, batch: dict, ctx: Context) -> dict[str, torch.Tensor]:
        codec = model.codec
        ids, mask = codec.encode(batch["caption"], "decoder", self.max_length, device=ctx.device)
        hidden = model.lm_hidden(model.encode_image(batch["image"].to(ctx.device)), ids, mask)  # (B, T, D)
        lm = self.lm(hidden, ids, mask, prompt_len=codec.prompt_length(self.prompt), head=model.lm_logits)
        return {"loss": lm, "lm": lm}
