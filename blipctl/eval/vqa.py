"""VQA evaluation: answers generated, or ranked from an answer list (BLIP's k_test ranking),
scored with the official VQAv2 accuracy, overall and by answer type."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Literal

import torch

from blipctl.data.annotations import read_json_list, vqa_records
from blipctl.data.loader import image_sample
from blipctl.errors import BlipctlError
from blipctl.eval.batches import EvalData, Evaluation, decode_overrides, eval_batches
from blipctl.eval.vqa_metric import gqa_accuracy, vqa_accuracy
from blipctl.models.protocols import Answerer, AnswerRanker, require


def score(answers: dict, questions_path: str, partial: bool = False, metric: str = "vqa") -> dict:
    """Accuracy (percent) of {question_id: answer}: `vqa`, VQAv2's against the ten human answers
    (`answer`, a list); `gqa`, exact match against one answer (`answer`, a string).
    `partial`: score only the questions answered."""
    questions = [q for q in read_json_list(questions_path) if not partial or q.get("question_id") in answers]
    kind, want = (list, "the list of human answers") if metric == "vqa" else (str, "the answer, a string")
    for i, q in enumerate(questions):
        if not isinstance(q.get("answer"), kind):
            raise BlipctlError(f"{questions_path}: record {i}: `answer` should be {want} (a test split "
                               "without answers is scored by the eval server)")
        if q.get("question_id") not in answers:
            raise BlipctlError(f"{questions_path}: question_id {q.get('question_id')} has no "
                               "predicted answer")
    return vqa_accuracy(answers, questions) if metric == "vqa" else gqa_accuracy(answers, questions)


def read_results(path: str | Path) -> dict:
    """A VQAv2 results file `[{"question_id", "answer"}]` as {question_id: answer}."""
    out = {}
    for i, r in enumerate(read_json_list(path)):
        if "question_id" not in r or not isinstance(r.get("answer"), str):
            raise BlipctlError(f"{path}: record {i}: expected {{\"question_id\", \"answer\": str}}")
        out[r["question_id"]] = r["answer"]
    return out


def results(answers: dict) -> list[dict]:
    """The VQAv2 results (and test-dev submission) format: [{"question_id", "answer"}]."""
    return [{"question_id": q, "answer": a} for q, a in answers.items()]


class VQAEval:
    """mode `rank`: BLIP's VQAv2 protocol, the best of `data.answer_list` after keeping the
    k_test likeliest by first token; `generate`: beam search, decoded as the model's paper does
    (`answer_decode`: BLIP 3 beams, 1-10 tokens; BLIP-2 5 beams, 1-10 new tokens, length
    penalty -1 for Flan-T5, 0 for OPT) unless num_beams, max_length, min_length or
    length_penalty are given. prompt: a BLIP-2 model's question template (default
    "Question: {} Short answer:"). metric: `vqa` (VQAv2's, ten human answers) or `gqa` (exact
    match against one answer, as LAVIS scores GQA)."""

    needs = Answerer

    def __init__(self, mode: str = "rank", k_test: int = 128, num_beams: int | None = None,
                 max_length: int | None = None, min_length: int | None = None,
                 length_penalty: float | None = None, prompt: str | None = None,
                 metric: Literal["vqa", "gqa"] = "vqa"):
        if mode not in ("rank", "generate"):
            raise BlipctlError(f"recipe key `task.mode`: expected rank or generate, got {mode!r}")
        self.mode, self.k_test, self.prompt, self.metric = mode, k_test, prompt, metric
        self.decode = decode_overrides(num_beams, max_length, min_length, length_penalty)

    @torch.no_grad()
    def __call__(self, model: Answerer, data: EvalData, device: torch.device,
                 dtype: torch.dtype) -> Evaluation:
        answer_list = None
        if self.mode == "rank":
            if not data.answer_list:
                raise BlipctlError("recipe key `data.answer_list`: rank mode needs an answer list "
                                   "(or set task.mode=generate)")
            answer_list = json.loads(Path(data.root, data.answer_list).read_text(encoding="utf-8"))
            model = require(model, AnswerRanker, "recipe key `task.mode` rank")
        ranked = model.candidates(answer_list, device) if answer_list else None
        decode = replace(model.answer_decode, **self.decode)
        if self.prompt is not None:
            if not hasattr(model, "vqa_prompt"):
                raise BlipctlError(f"recipe key `task.prompt`: a {type(model).__name__} reads questions "
                                   "without a prompt (only BLIP-2 models take one)")
            model.vqa_prompt = self.prompt
        records = vqa_records(f"{data.root}/{data.annotations}", data.root)
        size = data.image_size or model.image_size
        answers, bad = {}, []
        for batch in eval_batches(records, image_sample(size, False), data.batch_size, data.workers, bad):
            images = batch["image"].to(device=device, dtype=dtype)
            if ranked is not None:
                best = model.rank(images, batch["question"], ranked, k=self.k_test)
                texts = [answer_list[i] for i in best]
            else:
                texts = model.answer(images, batch["question"], decode)
            answers.update(zip(batch["question_id"], texts, strict=True))
        path = f"{data.root}/{data.annotations}"
        kind = list if self.metric == "vqa" else str
        has_gt = all(isinstance(q.get("answer"), kind) for q in read_json_list(path))
        metrics = score(answers, path, partial=bool(bad), metric=self.metric) if has_gt else {}
        return Evaluation(results(answers), metrics, bad=bad)
