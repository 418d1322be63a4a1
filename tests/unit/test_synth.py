"""The synthetic corpus: determinism, counts, text that agrees with the pixels' scenes."""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from blipctl.data.synth import language
from blipctl.data.synth.corpus import generate, image_path, scene_of
from blipctl.data.synth.scenes import BACKGROUNDS, COLOURS, SHAPES
from blipctl.data.synth.spec import SynthSpec
from blipctl.errors import ConfigError

DOCS = Path(__file__).resolve().parents[2] / "docs" / "data.md"


def _load(corpus_dir, name):
    text = (corpus_dir / name).read_text()
    return text.splitlines() if name.endswith(".txt") else json.loads(text)


def _digest(root: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        if p.is_file() and p.name != "config.yaml":
            h.update(p.relative_to(root).as_posix().encode())
            h.update(p.read_bytes())
    return h.hexdigest()


def test_same_seed_same_bytes_any_worker_count(tmp_path):
    a = generate(SynthSpec(images=40, seed=7, workers=1), tmp_path / "a")
    b = generate(SynthSpec(images=40, seed=7, workers=2), tmp_path / "b")
    assert a == b
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    generate(SynthSpec(images=40, seed=8, workers=1), tmp_path / "c")
    assert _digest(tmp_path / "a") != _digest(tmp_path / "c")


def test_counts_match_manifest(corpus):
    root, m = corpus
    assert m["images"]["total"] == 120 and m["images"]["web"] == 72
    assert sum(m["images"][f"clean_{s}"] for s in ("train", "val", "test")) == 48
    for name, n in m["files"].items():
        data = _load(root, name)
        assert (len(data["annotations"]) if name.endswith("_gt.json") else len(data)) == n
    assert len(list((root / "images").rglob("*.jpg"))) == 120
    assert m["files"]["caption_train.json"] == 5 * m["images"]["clean_train"]


def test_splits_are_disjoint(corpus):
    root, _ = corpus
    seen = [{r["image"] for r in _load(root, f"caption_{s}.json")} for s in ("train", "val", "test")]
    assert not (seen[0] & seen[1] or seen[0] & seen[2] or seen[1] & seen[2])
    for s, images in zip(("train", "val", "test"), seen, strict=True):
        assert {r["image"] for r in _load(root, f"vqa_{s}.json")} <= images
        assert {i for r in _load(root, f"nlvr_{s}.json") for i in r["images"]} <= images


def test_vqa_kind_files_split_each_vqa_file_by_question_kind(corpus):
    root, _ = corpus
    for s in ("train", "val", "test"):
        whole = _load(root, f"vqa_{s}.json")
        parts = {k: _load(root, f"vqa_{s}_{k}.json") for k in language.QUESTION_TYPES}
        assert sorted(q["question_id"] for rows in parts.values() for q in rows) == \
            sorted(q["question_id"] for q in whole)
        assert all(q["question"].startswith(("what color", "how many", "is there", "where")[i])
                   for i, rows in enumerate(parts.values()) for q in rows)
        assert all(parts.values())


def test_images_decode_and_differ(corpus):
    root, _ = corpus
    arrays = [np.asarray(Image.open(root / image_path(i, 72))) for i in (0, 1, 80, 81)]
    assert all(a.shape == (128, 128, 3) for a in arrays)
    assert len({a.tobytes() for a in arrays}) == 4


def test_image_matches_its_scene_background(corpus):
    root, _ = corpus
    for i in (0, 5, 100):
        scene = scene_of(3, i)
        corner = np.asarray(Image.open(root / image_path(i, 72)))[1, 1].astype(int)
        assert np.abs(corner - BACKGROUNDS[scene.background]).max() < 12


def _words(text):
    return set(re.findall(r"[a-z]+", text.lower()))


def test_clean_captions_name_only_what_is_there(corpus):
    root, _ = corpus
    for row in _load(root, "caption_val.json"):
        scene = scene_of(3, row["image_id"])
        present = {o.colour for o in scene.objects} | {scene.background}
        shapes = {o.shape for o in scene.objects}
        assert len(set(row["caption"])) == 5
        for cap in row["caption"]:
            w = _words(cap)
            assert w & set(COLOURS) <= present
            said = {s for s in SHAPES if s in w or language.plural(s) in w}
            assert said <= shapes and said


def test_web_noise_fraction_and_kinds(corpus):
    root, m = corpus
    flags = _load(root, "web_noise.json")
    web = _load(root, "web.json")
    assert [f["image"] for f in flags] == [w["image"] for w in web]
    assert sum(f["noisy"] for f in flags) == round(0.4 * 72)
    kinds = Counter(f["kind"] for f in flags)
    assert set(kinds) <= {"clean", "junk", "mismatch", "attribute"} and len(kinds) == 4
    for f, w in zip(flags, web, strict=True):
        i = int(Path(f["image"]).stem)
        scene = scene_of(3, i)
        shapes_said = {s for s in SHAPES if s in _words(w["caption"])
                       or language.plural(s) in _words(w["caption"])}
        if f["kind"] == "clean":
            assert shapes_said <= {o.shape for o in scene.objects} and shapes_said
            assert _words(w["caption"]) & set(COLOURS) <= {o.colour for o in scene.objects} | {
                scene.background}
        if f["kind"] == "junk":
            assert not shapes_said


def test_attribute_noise_changes_the_scene():
    rng = random.Random(0)
    for i in range(200):
        scene = scene_of(0, i)
        assert language.corrupt_attribute(scene, rng) != scene


def test_vqa_answers_agree_with_scene(corpus):
    root, _ = corpus
    qs = _load(root, "vqa_train.json")
    assert {q["answer_type"] for q in qs} == {"yes/no", "number", "other"}
    for q in qs:
        assert len(q["answer"]) == 10
        assert Counter(q["answer"]).most_common(1)[0][0] == q["multiple_choice_answer"] or \
            q["answer"].count(q["multiple_choice_answer"]) >= 4
        scene = scene_of(3, q["image_id"])
        if q["question"] == "how many shapes are in the picture?":
            assert q["multiple_choice_answer"] == str(len(scene.objects))
        m = re.fullmatch(r"is there an? (\w+) (\w+)\?", q["question"])
        if m:
            truth = scene.count(shape=m[2], colour=m[1]) > 0
            assert q["multiple_choice_answer"] == ("yes" if truth else "no")
    answers = set(_load(root, "answer_list.json"))
    assert {q["multiple_choice_answer"] for q in qs} <= answers


def test_nlvr_labels_agree_with_scenes_and_are_balanced(corpus):
    root, _ = corpus
    items = [r for s in ("train", "val", "test") for r in _load(root, f"nlvr_{s}.json")]
    labels = Counter(r["label"] for r in items)
    assert set(labels) == {"True", "False"} and min(labels.values()) > 0.3 * len(items)
    for r in items:
        left, right = (scene_of(3, int(Path(p).stem)) for p in r["images"])
        m = re.fullmatch(r"both images have an? (\w+) background", r["sentence"])
        if m:
            assert (r["label"] == "True") == (left.background == right.background == m[1])
        m = re.fullmatch(r"there are more shapes in the (left|right) image than in the \w+ image",
                         r["sentence"])
        if m:
            a, b = (left, right) if m[1] == "left" else (right, left)
            assert (r["label"] == "True") == (len(a.objects) > len(b.objects))


def test_shards_load_with_webdataset(corpus):
    import webdataset as wds

    root, m = corpus
    web = _load(root, "web.json")
    urls = sorted(str(p) for p in (root / "shards").glob("*.tar"))
    assert len(urls) == m["shards"]["count"] == 3
    samples = list(wds.WebDataset(urls, shardshuffle=False).decode("pil").to_tuple("jpg", "txt",
                                                                                    "json"))
    assert len(samples) == len(web)
    for (img, txt, meta), row in zip(samples, web, strict=True):
        assert txt == row["caption"] and meta == row and img.size == (128, 128)


def test_docs_list_every_file(corpus):
    """Every file written is documented in docs/data.md, and every documented file is written."""
    root, _ = corpus
    documented = re.findall(r"^\| `([^`]+)`", DOCS.read_text(), flags=re.M)
    kinds = "(" + "|".join(language.QUESTION_TYPES) + ")"
    patterns = {name: re.compile(re.escape(name).replace(re.escape("{split}"), "(train|val|test)")
                                 .replace(re.escape("{kind}"), kinds)
                                 .replace("NNNNNN", r"\d{6}")) for name in documented}
    written = {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}
    for path in written:
        assert any(rx.fullmatch(path) for rx in patterns.values()), f"{path} is not documented"
    for name, rx in patterns.items():
        if name != "config.yaml":  # written by the workflow, not by generate()
            assert any(rx.fullmatch(p) for p in written), f"{name} is documented, not written"


def test_vocab_holds_the_bert_tokens_the_training_texts_use(corpus):
    """vocab.txt: BERT's specials first, then BERT's tokens in BERT's order, padded to 510 lines;
    every text of the corpus (test split included) tokenizes exactly as BERT tokenizes it."""
    from blipctl.text.codecs import BlipText
    from blipctl.text.tokenizer import read_vocab

    root, _ = corpus
    lines = _load(root, "vocab.txt")
    assert len(lines) == 510 and lines[:5] == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    bert_ids = read_vocab()
    real = [t for t in lines if not t.startswith("[unused")]
    assert [bert_ids[t] for t in real] == sorted(bert_ids[t] for t in real)
    assert {"circle", "##s", "a", "z", "##z", "7"} <= set(real) and "dog" not in real
    ours, bert = BlipText(vocab_file=str(root / "vocab.txt")).tokenizer, BlipText().tokenizer
    texts = [r["caption"] for r in _load(root, "web.json")]
    texts += [c for r in _load(root, "caption_test.json") for c in r["caption"]]
    texts += [q["question"] for q in _load(root, "vqa_test.json")]
    assert all(ours.tokenize(t) == bert.tokenize(t) for t in texts)
    assert "[UNK]" not in ours.tokenize("a dog chases IMG_9931.JPEG #42")  # characters cover the rest


def test_vocab_size_too_small_is_a_config_error():
    from blipctl.text.vocab import corpus_vocab

    assert len(corpus_vocab(["a red circle"], 300)) == 298
    with pytest.raises(ConfigError, match=r"vocab_size: the texts need \d+ ids, got 100"):
        corpus_vocab(["a red circle"], 100)


def test_the_lm_tokenizers_load_and_write_the_corpus_text(corpus):
    from transformers import AutoTokenizer

    root, m = corpus
    cap = _load(root, "caption_train.json")[0]["caption"]
    for name, first, last in (("opt", 2, None), ("t5", None, 1)):  # OPT: </s> starts; T5: </s> ends
        tok = AutoTokenizer.from_pretrained(root / "tokenizers" / name)
        assert len(tok) == m["tokenizers"][name] > 100
        ids = tok(cap).input_ids
        assert (first is None or ids[0] == first) and (last is None or ids[-1] == last)
        assert tok.unk_token_id not in ids and tok.decode(ids, skip_special_tokens=True).strip() == cap
    assert len(AutoTokenizer.from_pretrained(root / "tokenizers" / "opt")("\n", add_special_tokens=False)
               .input_ids) == 1  # OPT's BLIP-2 end token is one token
