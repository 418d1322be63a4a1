"""InstructBLIP's held-out zero-shot evaluation: a dataset read from its official file
(`data.heldout` readers), each question asked through `prompt`, and scored by the reader's metric.

- `vqa`, `exact`: the answer is generated (the model's `answer_decode` unless decoding keys are
  given) and scored with VQAv2's accuracy or exact match;
- `choice`, `mrr`, `auc`: each question's own candidates are ranked by the LM's likelihood
  (`choice_scores`, the paper's "vocabulary ranking"), scored by accuracy of the best, by the
  ground truth's rank (VisDial's MRR, R@k), or by the ROC AUC of P(first candidate) (Hateful Memes).

`prompt` is the question's template: "{}" is the question, or named fields are a record's
(`{question}`, `{context}`, `{ocr_tokens}`, `{dialog_history}`, `{current_question}`, `{caption}`,
and `{options}`, the candidates lettered "(a) .. (b) ..").
"""

from __future__ import annotations

import math
import string
from dataclasses import replace
from typing import Any

import torch

from blipctl.data.heldout import lettered_options
from blipctl.data.loader import image_sample
from blipctl.errors import BlipctlError
from blipctl.eval.batches import EvalData, Evaluation, decode_overrides, eval_batches
from blipctl.eval.choice_metric import choice_accuracy, gt_rank, roc_auc, visdial_metrics
from blipctl.eval.vqa_metric import gqa_accuracy, vqa_accuracy
from blipctl.models.protocols import Answerer, ChoiceScorer, require


def asked(prompt: str, rec: dict) -> str:
    """The text a record's question is asked as: `prompt` with "{}" the question, or with the
    record's named fields (`options`: its candidates, lettered)."""
    if "{}" in prompt:
        return prompt.format(rec["question"])
    fields = {**rec, "options": lettered_options(rec.get("choices") or [])}
    if isinstance(fields.get("ocr_tokens"), list):
        fields["ocr_tokens"] = ", ".join(fields["ocr_tokens"])
    for _, name, _, _ in string.Formatter().parse(prompt):
        if name is not None and name not in fields:
            raise BlipctlError(f"recipe key `task.prompt`: {{{name}}} is not a field of {rec['where']} "
                               f"(it has {', '.join(sorted(k for k in fields if k != 'image'))})")
    return prompt.format_map(fields)


class HeldOutEval:
    """reader: a `data.heldout` reader (e.g. `{_component_: blipctl.data.heldout.VSR}`); prompt:
    the question's template; num_beams, max_length, min_length, length_penalty: decoding of the
    generated answers (default: the model's `answer_decode`); rows: (question, candidate) pairs
    per LM pass when ranking."""

    needs = Answerer

    def __init__(self, reader: Any, prompt: str = "Question: {} Short answer:", num_beams: int | None = None,
                 max_length: int | None = None, min_length: int | None = None,
                 length_penalty: float | None = None, rows: int = 256):
        if getattr(reader, "metric", None) not in ("vqa", "exact", "choice", "mrr", "auc"):
            raise BlipctlError(f"recipe key `task.reader`: {type(reader).__name__} is not a held-out "
                               "dataset reader (blipctl.data.heldout)")
        self.reader, self.prompt, self.rows = reader, prompt, rows
        self.decode = decode_overrides(num_beams, max_length, min_length, length_penalty)

    @torch.no_grad()
    def __call__(self, model: Answerer, data: EvalData, device: torch.device,
                 dtype: torch.dtype) -> Evaluation:
        metric = self.reader.metric
        ranked = metric in ("choice", "mrr", "auc")
        if ranked:
            model = require(model, ChoiceScorer, f"recipe key `task.reader` ({metric}: ranked candidates)")
        records = self.reader(f"{data.root}/{data.annotations}", data.root)
        if not records:
            raise BlipctlError(f"{data.root}/{data.annotations}: no questions")
        decode = replace(model.answer_decode, **self.decode)
        size = data.image_size or model.image_size
        answers, scores, bad = {}, {}, []
        for batch in eval_batches(records, image_sample(size, False), data.batch_size, data.workers, bad):
            images = batch["image"].to(device=device, dtype=dtype)
            mine = [records[i] for i in batch["index"]]
            texts = [asked(self.prompt, r) for r in mine]
            templates = ["{}"] * len(texts)
            if ranked:
                for r, s in zip(mine, model.choice_scores(images, texts, [r["choices"] for r in mine],
                                                          templates, rows=self.rows), strict=True):
                    scores[r["question_id"]] = s
                    answers[r["question_id"]] = r["choices"][max(range(len(s)), key=s.__getitem__)]
            else:
                answers.update(zip((r["question_id"] for r in mine),
                                   model.answer(images, texts, decode, templates), strict=True))
        done = [r for r in records if r["question_id"] in answers]
        return Evaluation(_predictions(answers, scores, metric), _score(metric, done, answers, scores),
                          bad=bad)


def _predictions(answers: dict, scores: dict, metric: str) -> list[dict]:
    if metric == "auc":
        return [{"question_id": q, "answer": a, "p_yes": _first_probability(scores[q])}
                for q, a in answers.items()]
    return [{"question_id": q, "answer": a} for q, a in answers.items()]


def _first_probability(scores: list[float]) -> float:
    """P(first candidate) among the candidates, from their log-likelihoods."""
    top = max(scores)
    weights = [math.exp(s - top) for s in scores]
    return weights[0] / sum(weights)


def _score(metric: str, records: list[dict], answers: dict, scores: dict) -> dict:
    if not records:
        return {}
    if metric == "vqa":
        return vqa_accuracy(answers, [{"question_id": r["question_id"], "answer": r["answers"]}
                                      for r in records])
    if metric == "exact":
        return gqa_accuracy(answers, [{"question_id": r["question_id"], "answer": r["answers"][0]}
                                      for r in records])
    if metric == "choice":
        return choice_accuracy(answers, records)
    if metric == "mrr":
        return visdial_metrics(gt_rank(scores[r["question_id"]], r["choices"].index(r["answers"][0]))
                               for r in records)
    labels = [int(r["answers"][0] == r["choices"][0]) for r in records]
    auc = roc_auc([_first_probability(scores[r["question_id"]]) for r in records], labels)
    return {"auc": round(100 * auc, 2), "accuracy": choice_accuracy(answers, records)["overall"],
            "n": len(records)}
