"""InstructBLIP's instruction tuning: several datasets, each turned into (image, instruction,
response) samples with its task's instruction templates, mixed by the square-root rule
(`data.mixer`); the LM's loss covers the response and its end token only, and an InstructBLIP
Q-Former reads the instruction too (`blip2_stage2.prefix_lm_loss`).

Each file of `data.train` is a dataset of a kind, or one per kind (`kinds: {file: kind or [kinds]}`;
a file read as several kinds is a dataset per kind, named `file:kind`):

    caption       an image-caption file: the instruction a caption template, the response a caption
    vqa           a VQA file: the instruction a VQA template around the question, the response its
                  most common answer
    vqg           a VQA file read backwards: the instruction asks for a question whose answer is
                  given, the response is the question
    conversation  LLaVA-Instruct-150K's `[{image, conversations: [{from: human|gpt, value}]}]`: each
                  human turn is an instruction as it stands (the paper adds no template), the gpt
                  turn after it the response; turns are taken one by one, without the earlier ones

The mixture is `samples` picks at positions 0..samples-1 of a `Mixer` seeded by `seed` (a pure
function of the position: the same records on every rank and on a resume), made as they are read
(`Mixture`), and the engine shuffles them each epoch. Templates are chosen per pick from the same
seed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from blipctl.data.annotations import caption_records, vqa_records
from blipctl.data.mixer import Mixer
from blipctl.errors import ConfigError
from blipctl.models.protocols import PrefixLearner
from blipctl.objectives.lm import LMLoss
from blipctl.tasks.blip2_stage2 import prefix_lm_loss
from blipctl.tasks.context import Context
from blipctl.tasks.pairs import ImageRecords

Kind = Literal["caption", "vqa", "vqg", "conversation"]

# The InstructBLIP paper's templates (arXiv 2305.06500, appendix Table 5, "Instruction templates
# used for transforming held-in datasets into instruction tuning data", as transcribed by readers
# of the paper: check against the PDF), without its <Image> mark: the image queries always come
# first. {} is the question (vqa) or the answer (vqg).
TEMPLATES: dict[str, tuple[str, ...]] = {
    "caption": (
        "A short image caption:",
        "A short image description:",
        "A photo of",
        "An image that shows",
        "Write a short description for the image.",
        "Write a description for the photo.",
        "Provide a description of what is presented in the photo.",
        "Briefly describe the content of the image.",
        "Can you briefly explain what you see in the image?",
        "Could you use a few words to describe what you perceive in the photo?",
        "Please provide a short depiction of the picture.",
        "Using language, provide a short account of the image.",
        "Use a few words to illustrate what is happening in the picture.",
    ),
    "vqa": (
        "{}",
        "Question: {}",
        "{} A short answer to the question is",
        "Q: {} A:",
        "Question: {} Short answer:",
        "Given the image, answer the following question with no more than three words. {}",
        "Based on the image, respond to this question with a short answer: {}. Answer:",
        "Use the provided image to answer the question: {} Provide your answer as short as possible:",
        'What is the answer to the following question? "{}"',
        'The question "{}" can be answered using the image. A short answer is',
    ),
    "vqg": (
        "Given the image, generate a question whose answer is: {}. Question:",
        "Based on the image, provide a question with the answer: {}. Question:",
        'Given the visual representation, create a question for which the answer is "{}"',
        "From the image provided, craft a question that leads to the reply: {}. Question:",
        "Considering the picture, come up with a question where the answer is: {}.",
        "Taking the image into account, generate an question that has the answer: {}. Question:",
    ),
    "conversation": ("{}",),
}


class InstructionTuning(ImageRecords):
    """kinds: {annotation file name: caption | vqa | vqg}; factors: {file name: weight factor}
    (the paper's manual adjustments of the square-root rule); samples: picks drawn from the
    mixture; max_length: instruction tokens, max_response: response tokens (default max_length;
    LAVIS: 128 in, 256 out)."""

    needs = PrefixLearner

    def __init__(self, kinds: dict[str, Kind | list[Kind]], factors: dict[str, float] | None = None,
                 samples: int = 10000, seed: int = 0, max_length: int = 128, max_response: int | None = None,
                 max_words: int = 50, label_smoothing: float = 0.0):
        for name, kind in kinds.items():
            for k in [kind] if isinstance(kind, str) else kind:
                if k not in TEMPLATES:
                    raise ConfigError(f"recipe key `task.kinds.{name}`: expected caption, vqa, vqg or "
                                      f"conversation, got {k!r}")
        self.kinds, self.factors, self.samples, self.seed = dict(kinds), dict(factors or {}), samples, seed
        self.max_length, self.max_response, self.max_words = max_length, max_response, max_words
        self.lm = LMLoss(label_smoothing)

    def datasets(self, files: list[str], root: str) -> dict[str, tuple[Kind, list[dict]]]:
        """{dataset name: (its kind, its (image, fill, response) items)}, for each file of
        `data.train` and each of its kinds."""
        out = {}
        for f in files:
            name = Path(f).name
            kinds = self.kinds.get(name)
            if kinds is None:
                raise ConfigError(f"recipe key `task.kinds`: `data.train` file {name} has no kind "
                                  "(caption, vqa, vqg or conversation)")
            several = not isinstance(kinds, str)
            for kind in kinds if several else [kinds]:
                items = _items(kind, f, root, self.max_words)
                if not items:
                    raise ConfigError(f"{f}: no items")
                out[f"{name}:{kind}" if several else name] = (kind, items)
        return out

    def records(self, files: list[str], root: str) -> Mixture:
        """`samples` (image, instruction, response) records drawn from the mixture, each made
        when it is read (streamed: memory holds the datasets, not the samples)."""
        data = self.datasets(files, root)
        mixer = Mixer({n: len(items) for n, (_, items) in data.items()}, self.seed, self.factors)
        return Mixture(data, mixer, self.samples, self.seed)

    def losses(self, model: PrefixLearner, batch: dict, ctx: Context) -> dict[str, torch.Tensor]:
        images = batch["image"].to(ctx.device)
        lm = prefix_lm_loss(model, images, [f"{x} " for x in batch["input"]], list(batch["target"]),
                            self.max_length, self.lm, ctx.device, max_target=self.max_response)
        return {"loss": lm, "lm": lm}


class Mixture(Sequence):
    """The mixture's first `n` picks as a read-only sequence of records: record k is made
    from pick k of the mixer and a template drawn from (seed, k), so any k, on any rank and after
    any resume, is the same record."""

    def __init__(self, data: dict[str, tuple[Kind, list[dict]]], mixer: Mixer, n: int, seed: int):
        self.data, self.mixer, self.n, self.seed = data, mixer, n, seed

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, k):
        if isinstance(k, slice):
            return [self[i] for i in range(*k.indices(self.n))]
        if not -self.n <= k < self.n:
            raise IndexError(k)
        k %= self.n
        name, i = self.mixer.pick(k)
        kind, items = self.data[name]
        item, templates = items[i], TEMPLATES[kind]
        template = templates[int(np.random.default_rng([self.seed, k, 1]).integers(len(templates)))]
        asked = template.format(item["fill"]) if "{}" in template else template
        return {"image": item["image"], "input": asked, "target": item["response"], "dataset": name}


def _items(kind: Kind, path: str, root: str, max_words: int) -> list[dict]:
    """(image, fill, response) items of one annotation file read as `kind`."""
    if kind == "caption":
        return [{"image": r["image"], "fill": "", "response": r["caption"]}
                for r in caption_records(path, root, max_words)]
    if kind == "conversation":
        return conversation_items(path, root)
    items = []
    for r in vqa_records(path, root):
        answer = Counter(dict(zip(r["answers"], r["weights"], strict=True))).most_common(1)[0][0]
        items.append({"image": r["image"], "fill": r["question"] if kind == "vqa" else answer,
                      "response": answer if kind == "vqa" else r["question"]})
    return items


def conversation_items(path: str, root: str) -> list[dict]:
    """LLaVA-Instruct-150K (`llava_instruct_150k.json`): one item per (human, gpt) turn pair, the
    human turn without its `<image>` mark as the instruction, the gpt turn as the response."""
    from blipctl.data.annotations import _field, read_json_list
    from blipctl.errors import BlipctlError

    items = []
    for i, rec in enumerate(read_json_list(path)):
        image = _field(rec, "image", str, Path(path), i)
        turns = _field(rec, "conversations", list, Path(path), i)
        for j in range(0, len(turns) - 1, 2):
            ask, reply = turns[j], turns[j + 1]
            if not (isinstance(ask, dict) and isinstance(reply, dict) and ask.get("from") == "human"
                    and reply.get("from") == "gpt" and isinstance(ask.get("value"), str)
                    and isinstance(reply.get("value"), str)):
                raise BlipctlError(f"{path}: record {i}: turns {j} and {j + 1} should be a human turn and "
                                   "the gpt turn answering it ({from, value})")
            question = ask["value"].replace("<image>", "").strip()
            items.append({"image": str(Path(root) / image), "fill": question, "response": reply["value"]})
    return items
