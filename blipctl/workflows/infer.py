"""Inference over many images: batches, bad files reported and skipped, results in input order."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

from blipctl.decode import DecodeConfig
from blipctl.errors import BlipctlError


@dataclass
class CaptionJob:
    model: str = "Salesforce/blip-image-captioning-base"
    llm: str | None = None  # the LM of a LAVIS BLIP-2 checkpoint
    prompt: str | None = None  # None: the model's own (`model.prompt`)
    instruction: str | None = None  # BLIP-2 / InstructBLIP: what the LM (and InstructBLIP's Q-Former) reads
    decode: DecodeConfig = field(default_factory=DecodeConfig)
    batch_size: int = 8
    dtype: str = "auto"  # fp32 | bf16 | auto (BLIP: fp32; BLIP-2's frozen parts: bf16 where it is fast)
    device: str = "cpu"


@dataclass
class Result:
    image: str
    text: str | None = None
    error: str | None = None
    question: str | None = None


@dataclass
class VQAJob:
    model: str = "Salesforce/blip-vqa-base"
    llm: str | None = None
    decode: dict = field(default_factory=dict)  # DecodeConfig fields over the model's `answer_decode`
    answers: list[str] | None = None  # rank these instead of generating
    instruction: str | None = None  # BLIP-2 / InstructBLIP: the question's template ("{}"), else the model's
    k_test: int = 128
    batch_size: int = 8
    dtype: str = "auto"
    device: str = "cpu"


def torch_setup(dtype: str, device: str):
    import torch

    if device.startswith("cuda") and not torch.cuda.is_available():
        raise BlipctlError(f"--device {device}: CUDA is not available here")
    return {"fp32": torch.float32, "bf16": torch.bfloat16, "auto": None}[dtype], torch.device(device)


def loaded(source: str, llm: str | None, dtype, device, where: str, capability: type):
    """(the model `source` holds, placed on `device`, and the dtype its input images take).
    A BLIP-2 model holds its own dtypes: its frozen tower and LM load in `dtype` (None: bf16
    where this machine computes it fast), the rest stays fp32, and images go in as fp32. Any
    other model is cast whole to `dtype` (None: fp32)."""
    from blipctl.checkpoints.load import load_model
    from blipctl.models.protocols import require

    return placed(require(load_model(source, llm, frozen_dtype=dtype), capability, where), dtype, device)


def placed(model, dtype, device):
    """(model on `device`, the dtype its input images take): a BLIP-2 model keeps the dtypes it
    loaded with (frozen parts as asked, the rest fp32) and reads fp32 images; any other model
    is cast whole to `dtype` (None: fp32)."""
    import torch

    from blipctl.models.blip2 import FrozenVision

    if isinstance(model, FrozenVision):
        return model.to(device=device), torch.float32
    dtype = dtype or torch.float32
    return model.to(device=device, dtype=dtype), dtype


def caption(paths: list[str], job: CaptionJob,
            advance: Callable[[int], None] = lambda n: None) -> Iterator[Result]:
    """Captions each image; a file that cannot be read yields a Result with `error`."""
    from blipctl.models.protocols import Captioner

    dtype, device = torch_setup(job.dtype, job.device)
    model, dtype = loaded(job.model, job.llm, dtype, device, f"--model {job.model}", Captioner)
    if job.instruction is not None and not hasattr(model, "vqa_prompt"):
        raise BlipctlError(f"--instruction: a {type(model).__name__} captions without instructions (BLIP-2 "
                           "and InstructBLIP models take one; --prompt is the text a BLIP caption continues)")
    for start in range(0, len(paths), job.batch_size):
        good, images, bad = _load_batch([{"image": p} for p in paths[start:start + job.batch_size]],
                                        model.image_size, device, dtype)
        yield from bad
        advance(len(bad))
        if not good:
            continue
        prompt, decode = model.prompt if job.prompt is None else job.prompt, job.decode
        if job.instruction is not None:  # as an answer's: the lengths count the caption's own tokens
            prompt, decode = job.instruction, replace(decode, max_new_tokens=decode.max_length,
                                                      min_new_tokens=decode.min_length)
        for it, text in zip(good, model.caption(images, prompt, decode), strict=True):
            yield Result(it["image"], text=text)
        advance(len(good))


def _load_batch(items: list[dict], size: int, device, dtype) -> tuple[list, object, list[Result]]:
    """(good items, their pixels (B, 3, S, S) or None, failures) for one batch."""
    import torch

    from blipctl.data.images import load_rgb, preprocess

    good, pixels, bad = [], [], []
    for item in items:
        try:
            pixels.append(preprocess(load_rgb(item["image"]), size))
            good.append(item)
        except BlipctlError as e:
            bad.append(Result(item["image"], error=str(e), question=item.get("question")))
    images = torch.stack(pixels).to(device=device, dtype=dtype) if pixels else None
    return good, images, bad


def vqa(items: list[dict], job: VQAJob,
        advance: Callable[[int], None] = lambda n: None) -> Iterator[Result]:
    """Answers {"image", "question"} items: generated, or ranked from `job.answers`."""
    from blipctl.models.protocols import Answerer, AnswerRanker

    dtype, device = torch_setup(job.dtype, job.device)
    needs = AnswerRanker if job.answers else Answerer
    model, dtype = loaded(job.model, job.llm, dtype, device, f"--model {job.model}", needs)
    ranked = model.candidates(job.answers, device) if job.answers else None
    decode = replace(model.answer_decode, **job.decode)
    instructed = job.instruction is not None or any("instruction" in it for it in items)
    if instructed and not hasattr(model, "vqa_prompt"):
        raise BlipctlError(f"--instruction: a {type(model).__name__} answers without instructions "
                           "(BLIP-2 and InstructBLIP models take one)")
    for start in range(0, len(items), job.batch_size):
        good, images, bad = _load_batch(items[start:start + job.batch_size], model.image_size,
                                        device, dtype)
        yield from bad
        advance(len(bad))
        if not good:
            continue
        questions = [it["question"] for it in good]
        asked = {}
        if instructed:
            default = job.instruction or model.vqa_prompt
            asked = {"templates": [it.get("instruction", default) for it in good]}
        if ranked is not None:
            texts = [job.answers[i] for i in model.rank(images, questions, ranked, k=job.k_test, **asked)]
        else:
            texts = model.answer(images, questions, decode, **asked)
        for it, text in zip(good, texts, strict=True):
            yield Result(it["image"], text=text, question=it["question"])
        advance(len(good))


def expand_inputs(args: list[str], stdin_lines: Callable[[], list[str]]) -> tuple[list[str], list[str]]:
    """(image paths, errors): files as given, directories recursively by image extension,
    globs, and `-` for paths read from stdin."""
    import glob

    from blipctl.data.images import IMAGE_EXTENSIONS

    paths: list[str] = []
    errors: list[str] = []
    for arg in args:
        if arg == "-":
            paths += [line.strip() for line in stdin_lines() if line.strip()]
            continue
        p = Path(arg)
        if p.is_dir():
            found = sorted(str(f) for f in p.rglob("*") if f.suffix.lower() in IMAGE_EXTENSIONS)
            if not found:
                errors.append(f"{arg}: no images in this directory")
            paths += found
        elif p.exists() or not glob.has_magic(arg):
            paths.append(arg)  # a missing file is reported when it is read
        else:
            found = sorted(glob.glob(arg, recursive=True))
            if not found:
                errors.append(f"{arg}: no file matches this pattern")
            paths += found
    return paths, errors
