"""VQA fine-tuning: the answer decoder's summed LM loss per answer, weighted by how many
annotators gave each answer, as BLIP trains it."""

from __future__ import annotations

import torch

from blipctl.models.protocols import AnswerLearner
from blipctl.objectives.lm import LMLoss
from blipctl.tasks.context import Context
from blipctl.tasks.pairs import VQARecords


class VQA(VQARecords):
    needs = AnswerLearner

    def __init__(self, max_length: int = 35, label_smoothing: float = 0.1):
        self.max_length = max_length
        self.lm = LMLoss(label_smoothing)

    def losses(self, model: AnswerLearner, batch: dict, ctx: Context) -> dict[str, torch.Tensor]:
        codec = model.codec
        q_ids, q_mask = codec.encode(batch["question"], "grounded", self.max_length, device=ctx.device)
        states = model.encode_question(batch["image"].to(ctx.device), q_ids, q_mask)  # (B, T, D)
        counts = torch.tensor([len(a) for a in batch["answers"]], device=ctx.device)
        answers = [a for group in batch["answers"] for a in group]
        weights = torch.tensor([w for group in batch["weights"] for w in group], device=ctx.device)
        a_ids, a_mask = codec.encode(answers, "decoder", self.max_length, device=ctx.device)
        logits = model.answer_logits(states.repeat_interleave(counts, 0),
                                     q_mask.repeat_interleave(counts, 0), a_ids, a_mask)
        nll = self.lm(logits, a_ids, a_mask, reduction="sum")  # (A,) one per answer
        loss = (weights * nll).sum() / len(batch["answers"])
        return {"loss": loss, "vqa": loss}
