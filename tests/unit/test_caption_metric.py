"""Caption metrics against pycocoevalcap run directly; SPICE skipping; nocaps breakdown; readers.

METEOR's java takes ~10 s to load its paraphrase table, so most tests share one METEOR process
(`shared_meteor`); `test_matches_pycocoevalcap_and_reaps_meteor` runs the module's own.
"""

from __future__ import annotations

import contextlib
import json
import random

import pytest
from pycocoevalcap.bleu.bleu import Bleu
from pycocoevalcap.cider.cider import Cider
from pycocoevalcap.meteor.meteor import Meteor
from pycocoevalcap.rouge.rouge import Rouge
from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

from blipctl.errors import BlipctlError
from blipctl.eval import caption_metric as cm

KEYS = ["bleu_1", "bleu_2", "bleu_3", "bleu_4", "meteor", "rouge_l", "cider"]
VOCAB = ["a", "the", "two", "dog", "dogs", "cat", "man", "woman", "child", "bike", "ball", "red", "green",
         "small", "large", "sits", "runs", "plays", "on", "in", "with", "near", "of", "grass", "street",
         "table", "water", "park"]


def random_case(seed: int, images: int = 15, refs: int = 5):
    """Random captions over VOCAB, with case and punctuation for the tokenizer to undo."""
    rng = random.Random(seed)

    def caption() -> str:
        words = [rng.choice(VOCAB) for _ in range(rng.randint(4, 10))]
        return " ".join(words).capitalize() + rng.choice([".", "", " !", ","])

    gts = {100 + i: [caption() for _ in range(refs)] for i in range(images)}
    res = {k: caption() for k in gts}
    return gts, res


def reference_scores(gts, res, meteor: Meteor) -> dict[str, float]:
    """pycocoevalcap by hand: PTB-tokenize, then each scorer's compute_score."""
    tok = PTBTokenizer()
    g = tok.tokenize({k: [{"caption": c} for c in caps] for k, caps in gts.items()})
    r = tok.tokenize({k: [{"caption": res[k]}] for k in gts})
    bleu, _ = Bleu(4).compute_score(g, r, verbose=0)
    out = dict(zip(KEYS[:4], bleu, strict=True))
    out["meteor"] = meteor.compute_score(g, r)[0]
    out["rouge_l"] = Rouge().compute_score(g, r)[0]
    out["cider"] = Cider().compute_score(g, r)[0]
    return out


def assert_same(got: dict, want: dict, tol: float = 1e-9):
    assert set(got) == set(want)
    for k in want:
        assert got[k] == pytest.approx(want[k], abs=tol), k


@pytest.fixture(scope="module")
def meteor():
    m = Meteor()
    yield m
    m.meteor_p.stdin.close()
    m.meteor_p.kill()
    m.meteor_p.wait()


@pytest.fixture
def shared_meteor(meteor, monkeypatch):
    """The module scores with the one shared METEOR process instead of starting its own."""
    monkeypatch.setattr(cm, "_meteor", lambda: contextlib.nullcontext(meteor))
    return meteor


def test_matches_pycocoevalcap_and_reaps_meteor(meteor, monkeypatch):
    started = []

    class RecordingMeteor(Meteor):
        def __init__(self):
            super().__init__()
            started.append(self)

    monkeypatch.setattr(cm, "Meteor", RecordingMeteor)
    gts, res = random_case(0)
    warnings = []
    got = cm.caption_scores(gts, res, spice=False, warn=warnings.append)
    assert warnings == []
    assert_same(got, reference_scores(gts, res, meteor))
    assert 0 < got["bleu_1"] < 1 and 0 < got["meteor"] < 1 and got["cider"] > 0
    assert len(started) == 1
    assert started[0].meteor_p.poll() is not None  # java ended and reaped: no zombie


@pytest.mark.parametrize("seed", [1, 2])
def test_matches_pycocoevalcap_randomized(seed, shared_meteor):
    gts, res = random_case(seed, images=12 + seed)
    assert_same(cm.caption_scores(gts, res, spice=False), reference_scores(gts, res, shared_meteor))


def test_perfect_predictions_beat_random_ones(shared_meteor):
    gts, res = random_case(3)
    perfect = {k: refs[0] for k, refs in gts.items()}
    good, bad = cm.caption_scores(gts, perfect, spice=False), cm.caption_scores(gts, res, spice=False)
    assert good["cider"] > bad["cider"] + 1
    assert good["bleu_4"] > bad["bleu_4"]


def test_spice_skipped_with_one_warning_when_corenlp_jars_missing(shared_meteor, monkeypatch, tmp_path):
    lib = tmp_path / "lib"
    monkeypatch.setattr(cm, "SPICE_LIB_DIR", lib)

    def no_spice():
        raise AssertionError("Spice must not be constructed (it would download CoreNLP)")

    monkeypatch.setattr(cm, "Spice", no_spice)
    gts, res = random_case(4, images=6)
    warnings = []
    got = cm.caption_scores(gts, res, spice=True, warn=warnings.append)
    assert len(warnings) == 1 and "\n" not in warnings[0]
    assert "SPICE" in warnings[0] and str(lib) in warnings[0] and "stanford-corenlp-3.6.0" in warnings[0]
    assert sorted(got) == sorted(KEYS)


def test_spice_jar_location_matches_pycocoevalcap():
    from pycocoevalcap.spice import get_stanford_models, spice

    assert cm.SPICE_LIB_DIR.parent.samefile(cm.Path(spice.__file__).parent)
    assert cm.SPICE_LIB_DIR.name == "lib"
    assert cm.SPICE_JARS == ("stanford-corenlp-3.6.0.jar", "stanford-corenlp-3.6.0-models.jar")
    assert get_stanford_models.JAR == "stanford-corenlp-3.6.0"


def test_spice_runs_when_jars_present_and_failure_only_warns(shared_meteor, monkeypatch, tmp_path):
    for jar in cm.SPICE_JARS:
        (tmp_path / jar).touch()
    monkeypatch.setattr(cm, "SPICE_LIB_DIR", tmp_path)
    gts, res = random_case(5, images=5)

    class FakeSpice:
        def compute_score(self, g, r):
            assert sorted(g) == sorted(r) == sorted(gts)
            return 0.25, []

    monkeypatch.setattr(cm, "Spice", FakeSpice)
    warnings = []
    got = cm.caption_scores(gts, res, warn=warnings.append)
    assert warnings == [] and got["spice"] == 0.25

    class BrokenSpice:
        def compute_score(self, g, r):
            raise RuntimeError("java exploded\nsecond line")

    monkeypatch.setattr(cm, "Spice", BrokenSpice)
    got = cm.nocaps_breakdown(gts, res, {k: "in-domain" for k in gts}, warn=warnings.append)
    assert len(warnings) == 1 and "SPICE failed" in warnings[0] and "java exploded" in warnings[0]
    assert "\n" not in warnings[0]
    assert sorted(got["entire"]) == sorted(KEYS)


def test_nocaps_breakdown_equals_caption_scores_of_each_subset(shared_meteor):
    gts, res = random_case(6, images=15)
    domains = {k: cm.NOCAPS_DOMAINS[i % 3] for i, k in enumerate(gts)}
    got = cm.nocaps_breakdown(gts, res, domains, spice=False)
    assert list(got) == ["in-domain", "near-domain", "out-domain", "entire"]
    assert_same(got["entire"], cm.caption_scores(gts, res, spice=False), tol=1e-12)
    for d in cm.NOCAPS_DOMAINS:
        ids = [k for k in gts if domains[k] == d]
        want = cm.caption_scores({k: gts[k] for k in ids}, {k: res[k] for k in ids}, spice=False)
        assert_same(got[d], want, tol=1e-12)
    assert got["in-domain"] != got["near-domain"]  # the subsets really differ


def test_nocaps_breakdown_leaves_out_empty_domains_and_rejects_unknown_ones(shared_meteor):
    gts, res = random_case(7, images=4)
    got = cm.nocaps_breakdown(gts, res, {k: "out-domain" for k in gts}, spice=False)
    assert list(got) == ["out-domain", "entire"]
    assert_same(got["out-domain"], got["entire"], tol=0)
    with pytest.raises(BlipctlError, match="domain"):
        cm.nocaps_breakdown(gts, res, {k: "in" for k in gts}, spice=False)


def test_input_errors_and_missing_predictions(shared_meteor):
    gts, res = random_case(8, images=6)
    with pytest.raises(BlipctlError, match="no ground-truth"):
        cm.caption_scores(gts, {**res, 999: "a dog"}, spice=False)
    with pytest.raises(BlipctlError, match="ground-truth"):
        cm.caption_scores({}, res, spice=False)
    warnings = []
    part = {k: res[k] for k in list(res)[:4]}
    got = cm.caption_scores(gts, part, spice=False, warn=warnings.append)
    assert len(warnings) == 1 and "2 ground-truth image(s) have no prediction" in warnings[0]
    assert sorted(got) == sorted(KEYS)


def test_coco_results_round_trip(tmp_path):
    res = {3: "a cat", 1: "a dog", 2: "two dogs"}
    out = cm.coco_results(res)
    assert out == [{"image_id": 1, "caption": "a dog"}, {"image_id": 2, "caption": "two dogs"},
                   {"image_id": 3, "caption": "a cat"}]
    path = tmp_path / "res.json"
    path.write_text(json.dumps(out))
    assert cm.read_coco_results(path, gt_ids=[1, 2, 3, 4]) == res


def test_read_coco_gt_with_nocaps_domains(tmp_path):
    path = tmp_path / "gt.json"
    path.write_text(json.dumps({
        "images": [{"id": 1, "domain": "in-domain"}, {"id": 2, "domain": "out-domain"}, {"id": 3}],
        "annotations": [{"image_id": 1, "caption": "a"}, {"image_id": 2, "caption": "b"},
                        {"image_id": 1, "caption": "c"}]}))
    gts, domains = cm.read_coco_gt(path)
    assert gts == {1: ["a", "c"], 2: ["b"]}
    assert domains == {1: "in-domain", 2: "out-domain"}
    path.write_text(json.dumps({"images": [{"id": 1}], "annotations": [{"image_id": 1, "caption": "a"}]}))
    assert cm.read_coco_gt(path) == ({1: ["a"]}, None)


def test_results_with_unknown_image_id_name_the_file(tmp_path):
    path = tmp_path / "preds.json"
    path.write_text(json.dumps([{"image_id": 1, "caption": "a"}, {"image_id": 77, "caption": "b"}]))
    with pytest.raises(BlipctlError, match=r"preds\.json.*image_id 77 is not in the ground truth"):
        cm.read_coco_results(path, gt_ids={1, 2})


@pytest.mark.parametrize("name, content, match", [
    ("res.json", "{not json", "not valid JSON"),
    ("res.json", '{"image_id": 1}', "JSON list"),
    ("res.json", '[{"image_id": 1}]', r"entry 0 needs"),
    ("res.json", '[{"image_id": 1, "caption": "a"}, {"image_id": 1, "caption": "b"}]',
     "duplicate image_id 1"),
    ("gt.json", '{"images": []}', '"annotations"'),
    ("gt.json", '{"images": [{"idx": 1}], "annotations": []}', r'images\[0\] has no "id"'),
    ("gt.json", '{"images": [{"id": 1}], "annotations": [{"image_id": 2, "caption": "a"}]}',
     "image_id 2, which is not in images"),
])
def test_reader_errors_name_the_file_and_the_problem(tmp_path, name, content, match):
    path = tmp_path / name
    path.write_text(content)
    read = cm.read_coco_gt if name == "gt.json" else cm.read_coco_results
    with pytest.raises(BlipctlError, match=match) as e:
        read(path)
    assert str(e.value).startswith(str(path)) and "\n" not in str(e.value)
    with pytest.raises(BlipctlError, match="cannot read"):
        read(tmp_path / "absent.json")


def test_per_image_cider_matches_pycocoevalcap_and_averages_to_the_corpus_cider(shared_meteor):
    gts, res = random_case(5, images=10)
    tok = PTBTokenizer()
    g = tok.tokenize({k: [{"caption": c} for c in caps] for k, caps in gts.items()})
    r = tok.tokenize({k: [{"caption": res[k]}] for k in gts})
    _, want = Cider().compute_score(g, r)
    metrics, each = cm.caption_scores_per_image(gts, res, spice=False)
    assert list(each) == list(gts)
    assert [each[k] for k in gts] == pytest.approx(list(want), abs=1e-12)
    assert sum(each.values()) / len(each) == pytest.approx(metrics["cider"], abs=1e-12)
    assert len(set(each.values())) > 1  # the images do differ
