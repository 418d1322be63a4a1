"""Inference over many images: batches, bad files reported and skipped, results in input order."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from blipctl.decode import DecodeConfig
from blipctl.errors import BlipctlError


@dataclass
class CaptionJob:
    model: str = "Salesforce/blip-image-captioning-base"
    prompt: str = "a picture of "
    decode: DecodeConfig = field(default_factory=DecodeConfig)
    batch_size: int = 8
    dtype: str = "fp32"  # fp32 | bf16
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
    decode: DecodeConfig = field(default_factory=lambda: DecodeConfig(num_beams=3, max_length=10,
                                                                      min_length=1))
    answers: list[str] | None = None  # rank these instead of generating
    k_test: int = 128
    batch_size: int = 8
    dtype: str = "fp32"
    device: str = "cpu"


def torch_setup(dtype: str, device: str):
    import torch

    if device.startswith("cuda") and not torch.cuda.is_available():
        raise BlipctlError(f"--device {device}: CUDA is not available here")
    return {"fp32": torch.float32, "bf16": torch.bfloat16}[dtype], torch.device(device)


def caption(paths: list[str], job: CaptionJob,
            advance: Callable[[int], None] = lambda n: None) -> Iterator[Result]:
    """Captions each image; a file that cannot be read yields a Result with `error`."""
    import torch

    from blipctl.checkpoints.load import load_caption_model
    from blipctl.data.images import load_rgb, preprocess
    from blipctl.text.tokenizer import blip_tokenizer

    dtype, device = torch_setup(job.dtype, job.device)
    model = load_caption_model(job.model).to(device=device, dtype=dtype)
    tok = blip_tokenizer()
    prompt = prompt_ids(tok, job.prompt, device)
    size = model.visual.cfg.image_size
    for start in range(0, len(paths), job.batch_size):
        batch, pixels = [], []
        for p in paths[start:start + job.batch_size]:
            try:
                pixels.append(preprocess(load_rgb(p), size))
                batch.append(p)
            except BlipctlError as e:
                yield Result(p, error=str(e))
                advance(1)
        if not batch:
            continue
        images = torch.stack(pixels).to(device=device, dtype=dtype)
        for p, text in zip(batch, caption_batch(model, images, prompt, job.prompt, job.decode, tok),
                           strict=True):
            yield Result(p, text=text)
        advance(len(batch))


def prompt_ids(tok, prompt: str, device):
    """The prompt's ids (P,) as the decoder continues them: [DEC] first, no trailing [SEP]."""
    import torch

    ids = tok(prompt).input_ids[:-1]
    ids[0] = tok.bos_token_id
    return torch.tensor(ids, device=device)


def caption_batch(model, images, prompt, prompt_text: str, decode: DecodeConfig, tok) -> list[str]:
    """Captions (B,) for images (B, 3, S, S), prompt removed."""
    ids = model.generate(images, prompt, decode, eos=tok.sep_token_id, pad=tok.pad_token_id)
    return [strip_prompt(t, prompt_text) for t in tok.batch_decode(ids.tolist(), skip_special_tokens=True)]


def _load_batch(items, size: int) -> tuple[list, list, list[Result]]:
    """(good items, pixel tensors, failures) for one batch."""
    from blipctl.data.images import load_rgb, preprocess

    good, pixels, bad = [], [], []
    for item in items:
        try:
            pixels.append(preprocess(load_rgb(item["image"]), size))
            good.append(item)
        except BlipctlError as e:
            bad.append(Result(item["image"], error=str(e), question=item.get("question")))
    return good, pixels, bad


def vqa(items: list[dict], job: VQAJob,
        advance: Callable[[int], None] = lambda n: None) -> Iterator[Result]:
    """Answers {"image", "question"} items: generated, or ranked from `job.answers`."""
    import torch

    from blipctl.checkpoints.load import load_vqa_model
    from blipctl.text.tokenizer import blip_tokenizer

    dtype, device = torch_setup(job.dtype, job.device)
    model = load_vqa_model(job.model).to(device=device, dtype=dtype)
    tok = blip_tokenizer()
    ranked = answer_ids(tok, job.answers, device) if job.answers else None
    for start in range(0, len(items), job.batch_size):
        good, pixels, bad = _load_batch(items[start:start + job.batch_size],
                                        model.visual.cfg.image_size)
        yield from bad
        advance(len(bad))
        if not good:
            continue
        images = torch.stack(pixels).to(device=device, dtype=dtype)
        texts = answer_batch(model, images, [it["question"] for it in good], tok, job.decode,
                             job.answers, ranked, job.k_test)
        for it, text in zip(good, texts, strict=True):
            yield Result(it["image"], text=text, question=it["question"])
        advance(len(good))


def answer_ids(tok, answers: list[str], device):
    """An answer list as decoder ids (A, L) starting with [DEC], and their mask."""
    enc = tok(answers, padding="longest", return_tensors="pt")
    ids, mask = enc.input_ids.to(device), enc.attention_mask.to(device)
    ids[:, 0] = tok.bos_token_id
    return ids, mask


def answer_batch(model, images, questions: list[str], tok, decode: DecodeConfig,
                 answers: list[str] | None = None, ranked=None, k_test: int = 128) -> list[str]:
    """Answers (B,) to questions about images (B, 3, S, S): generated, or the best of
    `answers` (whose `answer_ids` are `ranked`) by BLIP's k_test ranking."""
    q = tok(questions, padding="longest", return_tensors="pt")
    ids, mask = q.input_ids.to(images.device), q.attention_mask.to(images.device)
    ids[:, 0] = tok.convert_tokens_to_ids(model.text_start)
    if answers:
        best = model.rank(images, ids, mask, *ranked, k=k_test)
        return [answers[i] for i in best.tolist()]
    out = model.generate(images, ids, mask, tok.bos_token_id, decode, eos=tok.sep_token_id,
                         pad=tok.pad_token_id)
    return [t.strip() for t in tok.batch_decode(out, skip_special_tokens=True)]


def strip_prompt(text: str, prompt: str) -> str:
    """The caption without the prompt it was asked to continue (as BLIP does)."""
    p = prompt.strip().lower()
    return text[len(p):].strip() if p and text.startswith(p) else text.strip()


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
