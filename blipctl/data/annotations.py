"""Readers for BLIP's annotation files. Each returns plain records with image paths resolved
against `image_root`; a malformed file or record is a one-line error naming file and record.

- `caption_records`: BLIP pretrain `[{image, caption}]` and COCO-Karpathy
  `[{image, caption, image_id}]` (caption may be a list) -> `{image, caption, image_id}` per caption;
- `vqa_records`: VQAv2 `[{question_id, image, question, answer: [..]}]` and VG-QA
  `[{image, question, answer, dataset: "vg"}]` -> `{image, question, answers, weights, question_id}`;
- `nlvr_records`: NLVR2 `[{images: [l, r], sentence, label}]` -> `{images, sentence, label}`.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

from blipctl.data.text import pre_caption, pre_question
from blipctl.errors import BlipctlError


def annotation_text(path: Path) -> str:
    """An annotation file's text; a missing file or a folder is a one-line error."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BlipctlError(f"{path}: no such annotation file") from None
    except IsADirectoryError:
        raise BlipctlError(f"{path}: is a folder, expected an annotation file") from None


def read_json(path: str | Path, kind: type | None = None) -> Any:
    """A whole JSON annotation file; with `kind` (dict or list), what it must hold at the top."""
    path = Path(path)
    try:
        data = json.loads(annotation_text(path))
    except json.JSONDecodeError as e:
        raise BlipctlError(f"{path}: not valid JSON (line {e.lineno}, column {e.colno}: {e.msg})") from None
    if kind is dict and not isinstance(data, dict):
        raise BlipctlError(f"{path}: expected a JSON object at the top, got {type(data).__name__}")
    if kind is list:
        return json_records(data, path)
    return data


def json_records(data: Any, path: Path) -> list[dict[str, Any]]:
    """`data`, checked to be a list of objects (records)."""
    if not isinstance(data, list):
        raise BlipctlError(f"{path}: expected a JSON list of records, got {type(data).__name__}")
    for i, rec in enumerate(data):
        if not isinstance(rec, dict):
            raise BlipctlError(f"{path}: record {i}: expected an object, got {type(rec).__name__}")
    return data


def read_json_list(path: str | Path) -> list[dict[str, Any]]:
    return read_json(path, list)


def _field(rec: dict, key: str, types: type | tuple, path: Path, i: int) -> Any:
    if key not in rec:
        raise BlipctlError(f"{path}: record {i}: missing key `{key}`")
    if not isinstance(rec[key], types):
        want = " or ".join(t.__name__ for t in (types if isinstance(types, tuple) else (types,)))
        raise BlipctlError(f"{path}: record {i}: `{key}` should be {want}, "
                           f"got {type(rec[key]).__name__}")
    return rec[key]


def _where(path: Path, i: int) -> str:
    return f"{path.name}:{i}"


def image_id(rec: dict, i: int) -> Any:
    """A record's `image_id`; without one, the number that ends the file name (as BLIP reads COCO's
    `val2014/COCO_val2014_000000391895.jpg` -> 391895), else the record's index."""
    if "image_id" in rec:
        return rec["image_id"]
    m = re.search(r"(\d+)\.\w+$", str(rec.get("image", "")))
    return int(m.group(1)) if m else i


def caption_records(path: str | Path, image_root: str | Path, max_words: int = 30,
                    prompt: str = "") -> list[dict[str, Any]]:
    """One record per caption, cleaned as BLIP does and prefixed with `prompt`; image ids are
    renumbered 0..n-1 in order of appearance (records without one use their image path)."""
    path, root = Path(path), Path(image_root)
    ids: dict[Any, int] = {}
    out = []
    for i, rec in enumerate(read_json_list(path)):
        image = _field(rec, "image", str, path, i)
        caps = _field(rec, "caption", (str, list), path, i)
        key = rec.get("image_id", image)
        ids.setdefault(key, len(ids))
        for cap in [caps] if isinstance(caps, str) else caps:
            if not isinstance(cap, str):
                raise BlipctlError(f"{path}: record {i}: `caption` list holds a {type(cap).__name__}")
            out.append(clean_pair({"image": str(root / image), "caption": cap, "image_id": ids[key],
                                   "where": _where(path, i)}, max_words, prompt))
    return out


def clean_pair(rec: dict[str, Any], max_words: int = 30, prompt: str = "") -> dict[str, Any]:
    """An image-text record with its caption cleaned as BLIP does and prefixed with `prompt`."""
    return {**rec, "caption": prompt + pre_caption(rec["caption"], max_words)}


def vqa_records(path: str | Path, image_root: str | Path) -> list[dict[str, Any]]:
    """VQAv2 answers weighted by how many of the annotators gave them; a VG-QA answer
    (a single string) weighs 0.2, as in BLIP."""
    path, root = Path(path), Path(image_root)
    out = []
    for i, rec in enumerate(read_json_list(path)):
        image = _field(rec, "image", str, path, i)
        question = _field(rec, "question", str, path, i)
        answer = rec.get("answer", [])
        if isinstance(answer, str):
            answers, weights = [answer], [0.2]
        elif isinstance(answer, list) and all(isinstance(a, str) for a in answer):
            counts = Counter(answer)
            answers, weights = list(counts), [c / len(answer) for c in counts.values()]
        else:
            raise BlipctlError(f"{path}: record {i}: `answer` should be a string or a list of strings")
        out.append({"image": str(root / image), "question": pre_question(question),
                    "answers": answers, "weights": weights,
                    "question_id": rec.get("question_id", i), "where": _where(path, i)})
    return out


def nlvr_records(path: str | Path, image_root: str | Path) -> list[dict[str, Any]]:
    path, root = Path(path), Path(image_root)
    out = []
    for i, rec in enumerate(read_json_list(path)):
        images = _field(rec, "images", list, path, i)
        if len(images) != 2 or not all(isinstance(x, str) for x in images):
            raise BlipctlError(f"{path}: record {i}: `images` should hold two paths")
        label = _field(rec, "label", (str, bool), path, i)
        if str(label) not in ("True", "False"):
            raise BlipctlError(f"{path}: record {i}: `label` should be \"True\" or \"False\", got {label!r}")
        out.append({"images": [str(root / x) for x in images],
                    "sentence": pre_caption(_field(rec, "sentence", str, path, i), 40),
                    "label": int(str(label) == "True"), "where": _where(path, i)})
    return out


def retrieval_records(path: str | Path, image_root: str | Path,
                      max_words: int = 30) -> tuple[list[dict], list[str], list[list[int]], list[int]]:
    """A COCO/Flickr Karpathy test split `[{image, caption: [..], image_id}]` as BLIP evaluates it:
    (images `{image, image_id, where}`, texts, img2txt: each image's text indices, txt2img)."""
    path, root = Path(path), Path(image_root)
    images, texts, img2txt, txt2img = [], [], [], []
    for i, rec in enumerate(read_json_list(path)):
        image = _field(rec, "image", str, path, i)
        caps = _field(rec, "caption", (str, list), path, i)
        caps = [caps] if isinstance(caps, str) else caps
        if not caps or not all(isinstance(c, str) for c in caps):
            raise BlipctlError(f"{path}: record {i}: `caption` should be a non-empty list of strings")
        images.append({"image": str(root / image), "image_id": image_id(rec, i),
                       "where": _where(path, i)})
        img2txt.append(list(range(len(texts), len(texts) + len(caps))))
        txt2img += [i] * len(caps)
        texts += [pre_caption(c, max_words) for c in caps]
    return images, texts, img2txt, txt2img
