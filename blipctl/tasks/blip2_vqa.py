"""VQA fine-tuning of a BLIP-2 generation model: the frozen LM writes each human answer after
the image queries and the question in the prompt, each answer's summed loss weighted by how
many annotators gave it (BLIP's VQA weighting). The BLIP-2 paper's VQA fine-tuning also gives
the question to the Q-Former: that is InstructBLIP's instruction-aware Q-Former, not this."""

from __future__ import annotations

import torch

from blipctl.models.protocols import PrefixLearner
from blipctl.objectives.lm import LMLoss
from blipctl.tasks.blip2_stage2 import prefix_lm_loss
from blipctl.tasks.context import Context
from blipctl.tasks.pairs import VQARecords


class PrefixVQA(VQARecords):
    """prompt: the question's template, not a target (the paper's fine-tuning prompt
    "Question: {} Answer:"); max_length: text tokens."""

    needs = PrefixLearner

    def __init__(self, prompt: str = "Question: {} Answer:", max_length: int = 32,
                 label_smoothing: float = 0.0):
        self.prompt, self.max_length = prompt, max_length
        self.lm = LMLoss(label_smoothing)

    def losses(self, model: PrefixLearner, batch: dict, ctx: Context) -> dict[str, torch.Tensor]:
        counts = torch.tensor([len(a) for a in batch["answers"]], device=ctx.device)
        images = batch["image"].to(ctx.device).repeat_interleave(counts, 0)  # one row per answer
        questions = zip(batch["question"], counts.tolist(), strict=True)
        prompts = [self.prompt.format(q) + " " for q, n in questions for _ in range(n)]  # "...Answer: red"
        answers = [a for group in batch["answers"] for a in group]
        weights = torch.tensor([w for group in batch["weights"] for w in group], device=ctx.device)
        nll = prefix_lm_loss(model, images, prompts, answers, self.max_length, self.lm, ctx.device,
                             reduction="sum")  # (A,)
        loss = (weights * nll).sum() / len(batch["answers"])
        return {"loss": loss, "vqa": loss}
