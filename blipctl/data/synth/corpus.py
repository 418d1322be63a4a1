"""Writes a whole synthetic corpus to a directory; see docs/data.md for the layout."""

from __future__ import annotations

import json
import multiprocessing
import random
import shutil
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from blipctl.data.synth import language
from blipctl.data.synth.scenes import Scene, render, sample_scene
from blipctl.data.synth.spec import SynthSpec
from blipctl.errors import ConfigError
from blipctl.files import write_tar, write_text
from blipctl.text.vocab import corpus_vocab

FORMAT_VERSION = 1
SPLITS = ("train", "val", "test")


def scene_of(seed: int, index: int) -> Scene:
    """Scene `index` of the corpus with this seed; independent of every other scene."""
    return sample_scene(random.Random(f"{seed}:scene:{index}"))


def image_path(index: int, n_web: int) -> str:
    return f"images/{'web' if index < n_web else 'clean'}/{index:06d}.jpg"


def _draw(job: tuple[Path, int, int, int, int]) -> None:
    out, seed, index, n_web, size = job
    render(scene_of(seed, index), size).save(out / image_path(index, n_web), quality=92)


def _write_json(path: Path, data) -> None:
    write_text(path, json.dumps(data, indent=None, separators=(",", ":")))


def _prepare(out: Path) -> None:
    if out.exists() and any(out.iterdir()):
        if not (out / "manifest.json").exists():
            raise ConfigError(f"{out}: exists and is not a blipctl corpus; pick an empty --out")
        (out / "manifest.json").unlink()  # incomplete until rewritten last
        for sub in ("images", "shards"):
            shutil.rmtree(out / sub, ignore_errors=True)
    (out / "images" / "web").mkdir(parents=True, exist_ok=True)
    (out / "images" / "clean").mkdir(parents=True, exist_ok=True)
    (out / "shards").mkdir(exist_ok=True)


def generate(spec: SynthSpec, out: str | Path,
             advance: Callable[[int], None] = lambda n: None) -> dict:
    """Draws every image and writes every file; returns the manifest. Deterministic in spec."""
    _check(spec)
    out = Path(out)
    _prepare(out)
    n_web = round(spec.images * spec.web_fraction)
    scenes = [scene_of(spec.seed, i) for i in range(spec.images)]

    jobs = [(out, spec.seed, i, n_web, spec.image_size) for i in range(spec.images)]
    if spec.workers > 1:
        with multiprocessing.get_context("fork").Pool(spec.workers) as pool:
            for _ in pool.imap_unordered(_draw, jobs, chunksize=64):
                advance(1)
    else:
        for job in jobs:
            _draw(job)
            advance(1)

    rng = random.Random(f"{spec.seed}:text")
    files: dict[str, int] = {}
    web, noise = _web_set(scenes[:n_web], n_web, spec, rng)
    _write_json(out / "web.json", web)
    _write_json(out / "web_noise.json", noise)
    files["web.json"] = len(web)
    files["web_noise.json"] = len(noise)

    splits = _split(list(range(n_web, spec.images)), spec, rng)
    train_texts = [r["caption"] for r in web]
    qid = 0
    for split, ids in splits.items():
        caps = {i: language.captions(scenes[i], rng, spec.captions_per_image) for i in ids}
        if split == "train":
            rows = [{"image": image_path(i, n_web), "caption": c, "image_id": f"synth_{i:06d}"}
                    for i in ids for c in caps[i]]
        else:
            rows = [{"image": image_path(i, n_web), "caption": caps[i], "image_id": i} for i in ids]
            gt = {"images": [{"id": i} for i in ids],
                  "annotations": [{"image_id": i, "caption": c, "id": i * 100 + k}
                                  for i in ids for k, c in enumerate(caps[i])]}
            _write_json(out / f"caption_{split}_gt.json", gt)
            files[f"caption_{split}_gt.json"] = len(gt["annotations"])
        _write_json(out / f"caption_{split}.json", rows)
        if split == "train":
            train_texts += [r["caption"] for r in rows]
        files[f"caption_{split}.json"] = len(rows)

        vqa = []
        for i in ids:
            for q in language.questions(scenes[i], rng, spec.questions_per_image):
                vqa.append({"question_id": qid, "image": image_path(i, n_web), "image_id": i,
                            "dataset": "vqa", **q})
                qid += 1
        _write_json(out / f"vqa_{split}.json", vqa)
        for kind, qtype in language.QUESTION_TYPES.items():  # one file per kind: InstructBLIP holds some out
            rows = [q for q in vqa if q["question_type"] == qtype]
            _write_json(out / f"vqa_{split}_{kind}.json", rows)
            files[f"vqa_{split}_{kind}.json"] = len(rows)
        if split == "train":
            train_texts += [t for q in vqa for t in (q["question"], *q["answer"])]
        files[f"vqa_{split}.json"] = len(vqa)

        nlvr = []
        for pos, i in enumerate(ids):
            for _ in range(spec.nlvr_per_image):
                j = ids[_other(rng, pos, len(ids))]
                text, label = language.statement(scenes[i], scenes[j], rng)
                nlvr.append({"images": [image_path(i, n_web), image_path(j, n_web)],
                             "sentence": text, "label": "True" if label else "False"})
        _write_json(out / f"nlvr_{split}.json", nlvr)
        if split == "train":
            train_texts += [r["sentence"] for r in nlvr]
        files[f"nlvr_{split}.json"] = len(nlvr)

    answers = language.answer_space()
    _write_json(out / "answer_list.json", answers)
    files["answer_list.json"] = len(answers)
    vocab = corpus_vocab(train_texts + answers, spec.vocab_size)
    write_text(out / "vocab.txt", "".join(f"{t}\n" for t in vocab))
    files["vocab.txt"] = len(vocab)
    # the mini BLIP-2's LMs' tokenizers (OPT- and Flan-T5-shaped), on the same text and BLIP-2's prompts
    from blipctl.text.lm_tokenizers import opt_like, t5_like

    lm_texts = train_texts + answers + ["Question: Short answer:"] * 100
    tokenizers = {name: len(make(lm_texts, out / "tokenizers" / name, spec.vocab_size))
                  for name, make in (("opt", opt_like), ("t5", t5_like))}

    shards = _write_shards(out, web, spec.shard_size)
    manifest = {
        "format_version": FORMAT_VERSION,
        "spec": {k: v for k, v in vars(spec).items() if k != "workers"},
        "images": {"total": spec.images, "web": n_web, "clean": spec.images - n_web,
                   **{f"clean_{s}": len(ids) for s, ids in splits.items()}},
        "image_size": spec.image_size,
        "noise": {"fraction": sum(r["noisy"] for r in noise) / max(1, len(noise)),
                  **Counter(r["kind"] for r in noise)},
        "files": files,
        "tokenizers": tokenizers,  # tokenizers/NAME: transformers tokenizers of the mini BLIP-2's LMs
        "shards": {"pattern": _shard_pattern(shards), "count": len(shards),
                   "samples": len(web)},
    }
    _write_json(out / "manifest.json", manifest)
    return manifest


def _check(spec: SynthSpec) -> None:
    if spec.images < 10:
        raise ConfigError(f"images: need at least 10, got {spec.images}")
    for key in ("noise", "web_fraction"):
        if not 0 <= getattr(spec, key) <= 1:
            raise ConfigError(f"{key}: must be in [0, 1], got {getattr(spec, key)}")
    if not 0 <= spec.val_fraction < 0.5:
        raise ConfigError(f"val_fraction: must be in [0, 0.5), got {spec.val_fraction}")
    if spec.image_size < 24:
        raise ConfigError(f"image_size: need at least 24 pixels, got {spec.image_size}")
    for key in ("captions_per_image", "shard_size", "workers"):
        if getattr(spec, key) < 1:
            raise ConfigError(f"{key}: must be at least 1, got {getattr(spec, key)}")


def _split(ids: list[int], spec: SynthSpec, rng: random.Random) -> dict[str, list[int]]:
    ids = ids[:]
    rng.shuffle(ids)
    n_val = round(len(ids) * spec.val_fraction)
    parts = {"val": ids[:n_val], "test": ids[n_val:2 * n_val], "train": ids[2 * n_val:]}
    return {s: sorted(parts[s]) for s in SPLITS}


def _web_set(scenes: list[Scene], n_web: int, spec: SynthSpec, rng: random.Random):
    """One alt-text per web image; a `noise` fraction of them wrong, flagged in a side file."""
    texts = [language.web_text(s, rng) for s in scenes]
    noisy = set(rng.sample(range(len(scenes)), round(len(scenes) * spec.noise)))
    web, flags = [], []
    for i, scene in enumerate(scenes):
        kind = rng.choice(language.NOISE_KINDS) if i in noisy else "clean"
        if kind == "junk":
            text = language.junk_text(rng)
        elif kind == "mismatch":
            text = texts[_other(rng, i, len(scenes))]
        elif kind == "attribute":
            text = language.web_text(language.corrupt_attribute(scene, rng), rng)
        else:
            text = texts[i]
        path = image_path(i, n_web)
        web.append({"image": path, "caption": text})
        flags.append({"image": path, "noisy": kind != "clean", "kind": kind})
    return web, flags


def _other(rng: random.Random, i: int, n: int) -> int:
    """A uniformly drawn index in range(n) other than i (i itself when n == 1)."""
    if n == 1:
        return i
    j = rng.randrange(n - 1)
    return j + (j >= i)


def _shard_pattern(shards: list[str]) -> str:
    return f"shards/web-{{000000..{len(shards) - 1:06d}}}.tar" if shards else ""


def _write_shards(out: Path, web: list[dict], shard_size: int) -> list[str]:
    """The web set as webdataset tars: `KEY.jpg`, `KEY.txt` (alt-text), `KEY.json`."""
    names = []
    for s, start in enumerate(range(0, len(web), shard_size)):
        name = f"shards/web-{s:06d}.tar"
        write_tar(out / name, ((Path(row["image"]).stem,
                                {"jpg": (out / row["image"]).read_bytes(), "txt": row["caption"].encode(),
                                 "json": json.dumps(row).encode()})
                               for row in web[start:start + shard_size]))
        names.append(name)
    return names
