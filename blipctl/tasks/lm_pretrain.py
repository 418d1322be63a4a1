"""Pretraining the mini recipes' LMs on text alone, so that BLIP-2's frozen LM already knows
the corpus's language before it ever meets an image, as OPT and Flan-T5 know English.

Documents: every caption, and every VQA question after a caption of its image,
"{caption} Question: {question} Short answer: {answer}" (the most common answer): the LM learns
to answer from the text before a question, as large LMs learn reading comprehension. Images
are never read.

Decoder-only: the next-token loss over the whole document, which ends in the model's end token
("\\n"). Encoder-decoder: a caption is split at a random word (the start in, the rest out);
a question document gives everything up to "Short answer:" in and the answer out.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import torch

from blipctl.data.annotations import read_json_list
from blipctl.data.text import pre_caption
from blipctl.models.text_lm import TextLM
from blipctl.objectives.lm import LMLoss
from blipctl.tasks.blip2_stage2 import split_at_random_word
from blipctl.tasks.context import Context


def _text_only(rec: dict, g: torch.Generator) -> dict:
    return rec


class LMPretrain:
    """prompt: BLIP-2's zero-shot VQA prompt, in which the question documents are written."""

    needs = ()

    def __init__(self, prompt: str = "Question: {} Short answer:", max_length: int = 64,
                 max_words: int = 50):
        self.prompt, self.max_length, self.max_words = prompt, max_length, max_words
        self.lm = LMLoss(0.0)

    def records(self, files: list[str], root: str) -> list[dict]:
        """{"input", "target"} documents from caption files and VQA files (the questions of an
        image that no caption file describes are left out)."""
        rows = [(f, r) for f in files for r in read_json_list(Path(f))]
        captions: dict[str, list[str]] = {}
        for _, r in rows:
            if "caption" in r:
                for cap in [r["caption"]] if isinstance(r["caption"], str) else r["caption"]:
                    captions.setdefault(r["image"], []).append(pre_caption(cap, self.max_words))
        docs = [{"input": "", "target": c} for caps in captions.values() for c in caps]
        for i, (_, r) in enumerate(rows):
            if "question" in r and r["image"] in captions:
                answers = r["answer"] if isinstance(r["answer"], list) else [r["answer"]]
                context = captions[r["image"]][i % len(captions[r["image"]])]
                docs.append({"input": f"{context} {self.prompt.format(r['question'])}",
                             "target": Counter(answers).most_common(1)[0][0]})
        return docs

    def sample(self, image_size: int, train: bool, hflip: bool = True, augment: bool = True):
        return _text_only

    def losses(self, model: TextLM, batch: dict, ctx: Context) -> dict[str, torch.Tensor]:
        codec, device = model.codec, ctx.device
        inputs, targets = list(batch["input"]), list(batch["target"])
        if model.encoder_decoder:
            cut = [i for i, x in enumerate(inputs) if not x]  # captions: split at a random word
            pieces = split_at_random_word([targets[i] for i in cut])
            for i, x, t in zip(cut, *pieces, strict=True):
                inputs[i], targets[i] = x, t
            ids, mask = codec.encode(inputs, self.max_length, device)
            out, out_mask = codec.encode(targets, self.max_length, device)
            start = torch.full_like(out[:, :1], model.decoder_start)
            dec, dec_mask = torch.cat([start, out], 1), torch.cat([torch.ones_like(start), out_mask], 1)
            lm = self.lm(model.logits(ids, mask, dec, dec_mask), dec, dec_mask)
        else:
            docs = [f"{x} {t}".strip() for x, t in zip(inputs, targets, strict=True)]
            ids, mask = codec.encode(docs, self.max_length - 1, device)
            ids, mask = ended(ids, mask, model.end_token, codec.tokenizer.pad_token_id)
            lm = self.lm(model.logits(ids, mask), ids, mask)
        return {"loss": lm, "lm": lm}


def ended(ids: torch.Tensor, mask: torch.Tensor, end: int, pad: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, T) right-padded ids -> (B, T + 1) with `end` after each row's last token (never cut
    off by truncation)."""
    B = ids.shape[0]
    ids = torch.cat([ids, torch.full_like(ids[:, :1], pad)], 1)
    mask = torch.cat([mask, torch.zeros_like(mask[:, :1])], 1)
    n = mask.sum(1)
    rows = torch.arange(B, device=ids.device)
    ids[rows, n], mask[rows, n] = end, 1
    return ids, mask
