"""NLVR2 fine-tuning: cross-entropy of the true/false head over image pairs."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from blipctl.data.annotations import nlvr_records
from blipctl.data.loader import nlvr_sample
from blipctl.models.protocols import PairClassifier
from blipctl.tasks.context import Context


class NLVR:
    needs = PairClassifier

    def __init__(self, max_length: int = 35):
        self.max_length = max_length

    def records(self, files: list[str], root: str) -> list[dict]:
        return [r for f in files for r in nlvr_records(f, root)]

    def sample(self, image_size: int, train: bool, hflip: bool = True, augment: bool = True):
        return nlvr_sample(image_size, train, hflip, augment)

    def losses(self, model: PairClassifier, batch: dict, ctx: Context) -> dict[str, torch.Tensor]:
        ids, mask = model.codec.encode(batch["sentence"], "grounded", self.max_length, device=ctx.device)
        logits = model.pair_logits(batch["left"].to(ctx.device), batch["right"].to(ctx.device), ids, mask)
        labels = torch.as_tensor(batch["label"], device=ctx.device)
        loss = F.cross_entropy(logits, labels)
        acc = (logits.argmax(1) == labels).float().mean()
        return {"loss": loss, "nlvr": loss, "acc": acc.detach()}
