"""Caption fine-tuning: the image-grounded decoder's LM loss after a prompt."""

from __future__ import annotations

import torch

from blipctl.data.annotations import caption_records, clean_pair
from blipctl.data.loader import image_sample
from blipctl.models.blip import BlipCaptioner
from blipctl.objectives.lm import LMLoss
from blipctl.tasks.context import Context


class Caption:
    """prompt: prepended to every caption and masked out of the loss (BLIP: "a picture of ")."""

    model_type = BlipCaptioner

    def __init__(self, prompt: str = "a picture of ", max_length: int = 40, max_words: int = 30,
                 label_smoothing: float = 0.1):
        self.prompt, self.max_length, self.max_words = prompt, max_length, max_words
        self.lm = LMLoss(label_smoothing)
        self._prompt_len: int | None = None

    def stream_record(self, rec: dict) -> dict:
        """A streamed (webdataset) image-text sample, cleaned as `records` cleans the JSON's."""
        return clean_pair(rec, self.max_words, self.prompt)

    def records(self, files: list[str], root: str) -> list[dict]:
        return [r for f in files for r in caption_records(f, root, self.max_words, self.prompt)]

    def sample(self, image_size: int, train: bool, hflip: bool = True):
        return image_sample(image_size, train, hflip)

    def losses(self, model: BlipCaptioner, batch: dict, ctx: Context) -> dict[str, torch.Tensor]:
        if self._prompt_len is None:  # [DEC] + the prompt's tokens, without [SEP]
            self._prompt_len = len(ctx.tokenizer(self.prompt).input_ids) - 1
        ids, mask = ctx.tokenize(batch["caption"], self.max_length, first=ctx.tokenizer.bos_token_id,
                                 padding="longest")
        hidden = model.decoder(ids, mask, image=model.encode_image(batch["image"].to(ctx.device)),
                               causal=True)  # (B, T, D)
        lm = self.lm(hidden, ids, mask, prompt_len=self._prompt_len,
                     head=lambda h: model.lm_head(h, model.decoder.embed.tok.weight))
        return {"loss": lm, "lm": lm}
