"""BLIP-2 stage 2 and caption fine-tuning: the projected queries prompt a frozen LM, which
learns nothing; the Q-Former and the projection learn to make it write the caption.

Decoder-only LM (OPT, LLaMA), as LAVIS's `blip2_opt`: [queries; BOS prompt caption END],
right-padded, END being the model's end token (LAVIS's "\\n" for OPT). Labels are ignored on
the query slots, the padding and the prompt (BOS included); with no prompt BOS is a label,
predicted from the last query, as in LAVIS.

Encoder-decoder LM (Flan-T5), as `blip2_t5`: the encoder reads [queries; prompt prefix], the
decoder writes the target (its EOS appended by the tokenizer). `prefix_split: random` splits
each caption at a random word, the first part joining the encoder's input and the rest the
target (the BLIP-2 paper's prefix LM); `none` (LAVIS's released code, and the recipes, which
follow the code that can be run) keeps the whole caption as the target.
"""

from __future__ import annotations

from typing import Literal

import torch

from blipctl.models.protocols import PrefixLearner
from blipctl.objectives.lm import LMLoss
from blipctl.tasks.context import Context
from blipctl.tasks.pairs import ImageTextPairs


class PrefixCaption(ImageTextPairs):
    """prompt: text every caption follows, not a target (LAVIS's COCO fine-tuning: "a photo of ");
    max_length: text tokens; label_smoothing: 0 as LAVIS trains the LM."""

    needs = PrefixLearner

    def __init__(self, prompt: str = "", max_length: int = 32, max_words: int = 50,
                 prefix_split: Literal["none", "random"] = "none", label_smoothing: float = 0.0):
        self.prompt, self.max_length, self.max_words = prompt, max_length, max_words
        self.prefix_split = prefix_split
        self.lm = LMLoss(label_smoothing)

    def losses(self, model: PrefixLearner, batch: dict, ctx: Context) -> dict[str, torch.Tensor]:
        images = batch["image"].to(ctx.device)
        captions = list(batch["caption"])
        if model.llm.encoder_decoder:
            inputs, targets = self.split(captions)
            lm = prefix_lm_loss(model, images, inputs, targets, self.max_length, self.lm, ctx.device)
        else:
            lm = prefix_lm_loss(model, images, [self.prompt] * len(captions), captions, self.max_length,
                                self.lm, ctx.device)
        return {"loss": lm, "lm": lm}

    def split(self, captions: list[str]) -> tuple[list[str], list[str]]:
        """(encoder texts, targets): the prompt, and with `random` the words before a random cut."""
        if self.prefix_split == "none":
            return [self.prompt] * len(captions), captions
        return split_at_random_word(captions, self.prompt)


def split_at_random_word(texts: list[str], prompt: str = "") -> tuple[list[str], list[str]]:
    """(prompt + the words before a cut, the rest) per text, the cut drawn uniformly (torch's
    RNG) among the word boundaries that leave the target at least one word."""
    inputs, targets = [], []
    for text in texts:
        words = text.split()
        cut = int(torch.randint(0, max(len(words), 1), ()).item())
        inputs.append((prompt + " ".join(words[:cut])).strip() if cut else prompt)
        targets.append(" ".join(words[cut:]))
    return inputs, targets


def prefix_lm_loss(model: PrefixLearner, images: torch.Tensor, inputs: list[str], targets: list[str],
                   max_length: int, loss: LMLoss, device: torch.device,
                   reduction: str = "mean", max_target: int | None = None) -> torch.Tensor:
    """The LM loss of `targets` written after the image queries and `inputs` (per-row prompts,
    which an InstructBLIP Q-Former reads too).
    Decoder-only: one sequence, BOS input target END, the inputs masked (each truncated apart, so
    a long input never cuts its target off, as in LAVIS). Encoder-decoder: the
    inputs are encoded after the queries, the targets decoded from the start token.
    reduction: `mean` over the world's target tokens, or `sum`, one per row (B,). max_target: the
    targets' tokens, if not `max_length` (InstructBLIP's: 128 in, 256 out)."""
    codec, lm = model.codec, model.llm
    if lm.encoder_decoder:
        in_ids, in_mask = codec.encode(inputs, max_length, device)
        out_ids, out_mask = codec.encode(targets, max_target or max_length, device)
        start = torch.full_like(out_ids[:, :1], lm.decoder_start)
        dec, dec_mask = torch.cat([start, out_ids], 1), torch.cat([torch.ones_like(start), out_mask], 1)
        logits = model.logits(images, in_ids, in_mask, dec, dec_mask, prompts=inputs)  # (B, T + 1, V)
        return loss(logits, dec, dec_mask, reduction=reduction)
    # [BOS input; target END], each input's tokens counted (none without one, where BOS is a target)
    ids, mask, prompt = codec.joined(inputs, targets, max_length, model.eos, device, max_target)
    Q = model.qformer.cfg.queries
    # (B, 1 + T, V): the last query predicts BOS
    logits = model.logits(images, ids, mask, prompts=inputs)[:, Q - 1:]
    pad = torch.zeros_like(ids[:, :1])
    # LMLoss predicts ids[:, 1:] from logits[:, :-1]: a leading blank slot makes BOS the first target
    return loss(logits, torch.cat([pad, ids], 1), torch.cat([pad, mask], 1), prompt_len=prompt + 1,
                reduction=reduction)

