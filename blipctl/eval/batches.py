"""Evaluation inputs: records made into samples in order, in batches; unreadable items are
collected (named by file and record) instead of stopping the run."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from blipctl.data.loader import Bad, Samples, collate


@dataclass
class EvalData:
    root: str = "runs/mini/corpus"  # image paths in the annotation files are relative to this
    annotations: str = "caption_test.json"  # the split, under root
    gt: str | None = None           # caption: COCO-format ground truth, under root
    answer_list: str | None = None  # VQA: rank these answers (BLIP's answer_list.json) instead of generating
    image_size: int = 0             # 0: the model's own
    batch_size: int = 32
    workers: int = 2


@dataclass
class Evaluation:
    """What an evaluation gives: predictions in the official format, metrics, extra arrays to
    save (name -> numpy array), and the items that could not be read."""

    predictions: Any
    metrics: dict[str, Any]
    arrays: dict[str, Any] = field(default_factory=dict)
    bad: list[Bad] = field(default_factory=list)


def eval_batches(records: list[dict], make: Callable, batch_size: int, workers: int,
                 bad: list[Bad]) -> Iterator[dict]:
    """Batches of samples in record order; each batch keeps its records' indices (`index`),
    and unreadable items are appended to `bad`."""
    from torch.utils.data import DataLoader

    indexed = [{**r, "index": i} for i, r in enumerate(records)]
    loader = DataLoader(Samples(indexed, make), batch_size=batch_size, shuffle=False,
                        num_workers=workers if len(records) > batch_size else 0, collate_fn=collate)
    for batch in loader:
        bad.extend(batch["bad"])
        if batch["size"]:
            yield batch


def decode_overrides(num_beams: int | None, max_length: int | None, min_length: int | None,
                     length_penalty: float | None) -> dict[str, Any]:
    """The decoding keys a recipe sets, to replace in the model's own `answer_decode`."""
    given = {"num_beams": num_beams, "max_length": max_length, "min_length": min_length,
             "length_penalty": length_penalty}
    return {k: v for k, v in given.items() if v is not None}
