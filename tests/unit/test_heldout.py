"""Readers for InstructBLIP's held-out datasets, each fed a tiny file in its official format, and the
candidate-ranking metrics against hand-computed values."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from blipctl.data import heldout
from blipctl.data.heldout import (
    GQA,
    VSR,
    HatefulMemes,
    IconQA,
    ScienceQA,
    TextVQA,
    VisDial,
    VizWiz,
    lettered_options,
)
from blipctl.errors import BlipctlError
from blipctl.eval.choice_metric import (
    choice_accuracy,
    gt_rank,
    mean_reciprocal_rank,
    roc_auc,
    visdial_metrics,
)


def write(path: Path, data) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def write_jsonl(path: Path, rows: list) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def one_line_error(exc: pytest.ExceptionInfo, *parts: str) -> str:
    msg = str(exc.value)
    assert "\n" not in msg
    for part in parts:
        assert part in msg, (part, msg)
    return msg


# ------------------------------------------------------------------ TextVQA

TEN = ["nokia"] * 7 + ["nokia phone"] * 3


def textvqa_file(tmp_path: Path, data: list) -> Path:
    return write(tmp_path / "TextVQA_0.5.1_val.json",
                 {"dataset_type": "val", "dataset_name": "textvqa", "dataset_version": "0.5.1", "data": data})


def test_textvqa(tmp_path):
    path = textvqa_file(tmp_path, [
        {"question": "what is the brand of this camera?", "image_id": "003a8ae2ef43b901",
         "image_classes": ["Camera"], "answers": TEN, "question_id": 34602, "set_name": "val"},
        {"question": "What does the sign say?", "image_id": "00685bc495504d61", "answers": ["stop"] * 10,
         "question_id": 34603, "set_name": "val"}])
    ocr = write(tmp_path / "TextVQA_Rosetta_OCR_v0.2_val.json",
                {"data": [{"image_id": "003a8ae2ef43b901", "ocr_tokens": ["NOKIA", "5"], "ocr_info": []}]})
    assert TextVQA.metric == "vqa"
    recs = TextVQA(ocr_path=str(ocr))(str(path), "/data/textvqa")
    assert recs == [
        {"image": "/data/textvqa/train_images/003a8ae2ef43b901.jpg",
         "question": "what is the brand of this camera?", "answers": TEN, "choices": None,
         "question_id": 34602, "where": "TextVQA_0.5.1_val.json:0", "ocr_tokens": ["NOKIA", "5"]},
        {"image": "/data/textvqa/train_images/00685bc495504d61.jpg", "question": "What does the sign say?",
         "answers": ["stop"] * 10, "choices": None, "question_id": 34603,
         "where": "TextVQA_0.5.1_val.json:1", "ocr_tokens": []}]
    assert TextVQA()(str(path), "/r")[0]["ocr_tokens"] == []


def test_textvqa_errors(tmp_path):
    path = textvqa_file(tmp_path, [{"question": "q?", "image_id": "a", "answers": TEN, "question_id": 1},
                                   {"question": "q?", "image_id": "b", "question_id": 2}])
    with pytest.raises(BlipctlError) as e:
        TextVQA()(str(path), "/r")
    one_line_error(e, "TextVQA_0.5.1_val.json", "record 1", "`answers`")
    with pytest.raises(BlipctlError) as e:
        TextVQA()(str(write(tmp_path / "flat.json", [{"question": "q"}])), "/r")
    one_line_error(e, "flat.json", "object")
    with pytest.raises(BlipctlError) as e:
        TextVQA()(str(tmp_path / "missing.json"), "/r")
    one_line_error(e, "missing.json", "no such annotation file")
    (tmp_path / "broken.json").write_text('{"data": [', encoding="utf-8")
    with pytest.raises(BlipctlError) as e:
        TextVQA()(str(tmp_path / "broken.json"), "/r")
    one_line_error(e, "broken.json", "not valid JSON")


# ------------------------------------------------------------------ VizWiz

def vizwiz_answers(*answers: str) -> list[dict]:
    return [{"answer": a, "answer_confidence": "yes"} for a in answers]


def test_vizwiz(tmp_path):
    a0 = ["basil leaves"] * 4 + ["basil"] * 6
    a1 = ["unanswerable"] * 10
    path = write(tmp_path / "val.json", [
        {"image": "VizWiz_val_00000000.jpg", "question": "Ok. There is another picture. What is it?",
         "answers": vizwiz_answers(*a0), "answer_type": "other", "answerable": 1},
        {"image": "VizWiz_val_00000001.jpg", "question": "Which one is this?",
         "answers": vizwiz_answers(*a1), "answer_type": "unanswerable", "answerable": 0}])
    assert VizWiz.metric == "vqa"
    assert VizWiz()(str(path), "/data/vizwiz/val") == [
        {"image": "/data/vizwiz/val/VizWiz_val_00000000.jpg",
         "question": "Ok. There is another picture. What is it?", "answers": a0, "choices": None,
         "question_id": "VizWiz_val_00000000.jpg", "where": "val.json:0", "answer_type": "other",
         "answerable": 1},
        {"image": "/data/vizwiz/val/VizWiz_val_00000001.jpg", "question": "Which one is this?",
         "answers": a1, "choices": None, "question_id": "VizWiz_val_00000001.jpg", "where": "val.json:1",
         "answer_type": "unanswerable", "answerable": 0}]


def test_vizwiz_error(tmp_path):
    path = write(tmp_path / "val.json", [
        {"image": "VizWiz_val_00000000.jpg", "question": "What?", "answers": vizwiz_answers("a")},
        {"image": "VizWiz_val_00000001.jpg", "question": "What?", "answers": ["just a string"]}])
    with pytest.raises(BlipctlError) as e:
        VizWiz()(str(path), "/r")
    one_line_error(e, "val.json", "record 1", "`answers`")


# ------------------------------------------------------------------ GQA

def test_gqa(tmp_path):
    path = write(tmp_path / "testdev_balanced_questions.json", {
        "20968558": {"semantic": [], "entailed": [], "equivalent": ["20968558"], "question":
                     "Is the blond person wearing a sweater?", "imageId": "n288870", "isBalanced": True,
                     "groups": {"global": None, "local": "13-bag"}, "answer": "no",
                     "semanticStr": "...", "annotations": {}, "types": {"detailed": "verifyAttr"},
                     "fullAnswer": "No, the person is wearing a shirt."},
        "201307251": {"question": "What color is the car?", "imageId": "n161313", "answer": "white"}})
    assert GQA.metric == "exact"
    assert GQA()(str(path), "/data/gqa") == [
        {"image": "/data/gqa/images/n288870.jpg", "question": "Is the blond person wearing a sweater?",
         "answers": ["no"], "choices": None, "question_id": "20968558",
         "where": "testdev_balanced_questions.json:20968558"},
        {"image": "/data/gqa/images/n161313.jpg", "question": "What color is the car?", "answers": ["white"],
         "choices": None, "question_id": "201307251", "where": "testdev_balanced_questions.json:201307251"}]


def test_gqa_error(tmp_path):
    path = write(tmp_path / "testdev_balanced_questions.json",
                 {"1": {"question": "q?", "imageId": "n1", "answer": "no"},
                  "2": {"question": "q?", "answer": "x"}})
    with pytest.raises(BlipctlError) as e:
        GQA()(str(path), "/r")
    one_line_error(e, "testdev_balanced_questions.json", "record 2", "`imageId`")
    with pytest.raises(BlipctlError) as e:
        GQA()(str(write(tmp_path / "list.json", [])), "/r")
    one_line_error(e, "list.json", "expected a JSON object")


# ------------------------------------------------------------------ VSR

def test_vsr(tmp_path):
    path = write_jsonl(tmp_path / "test.jsonl", [
        {"image": "000000085637.jpg", "image_link": "http://images.cocodataset.org/train2017/000000085637.jpg",
         "caption": "The cat is behind the laptop.", "label": 1, "relation": "behind", "annotator_id": 3,
         "vote_true_validator_id": [2], "vote_false_validator_id": []},
        {"image": "000000014008.jpg", "image_link": "http://images.cocodataset.org/val2017/000000014008.jpg",
         "caption": "The umbrella is under the person.", "label": 0, "relation": "under"}])
    assert VSR.metric == "choice"
    assert VSR()(str(path), "/data/coco2017") == [
        {"image": "/data/coco2017/000000085637.jpg", "question": "The cat is behind the laptop.",
         "answers": ["true"], "choices": ["true", "false"], "question_id": 0, "where": "test.jsonl:0",
         "relation": "behind"},
        {"image": "/data/coco2017/000000014008.jpg", "question": "The umbrella is under the person.",
         "answers": ["false"], "choices": ["true", "false"], "question_id": 1, "where": "test.jsonl:1",
         "relation": "under"}]


def test_vsr_errors(tmp_path):
    path = write_jsonl(tmp_path / "dev.jsonl", [{"image": "a.jpg", "caption": "x", "label": 1},
                                               {"image": "b.jpg", "caption": "y", "label": "True"}])
    with pytest.raises(BlipctlError) as e:
        VSR()(str(path), "/r")
    one_line_error(e, "dev.jsonl", "record 1", "`label`")
    (tmp_path / "bad.jsonl").write_text('{"image": "a.jpg"}\n{oops\n', encoding="utf-8")
    with pytest.raises(BlipctlError) as e:
        VSR()(str(tmp_path / "bad.jsonl"), "/r")
    one_line_error(e, "bad.jsonl", "line 2", "not valid JSON")


# ------------------------------------------------------------------ IconQA

ICON_PROBLEMS = {
    "12": {"question": "How many dots are there?", "choices": ["3", "5", "7"], "answer": 1,
           "ques_type": "choose_txt", "grade": "kindergarten", "label": "counting", "split": "test"},
    "7": {"question": "Which shape is this?", "choices": ["circle", "square"], "answer": 0,
          "ques_type": "choose_txt", "grade": "grade1", "label": "shapes", "split": "test"},
    "9": {"question": "Fill in the blank.", "choices": [], "answer": "4", "ques_type": "fill_in_blank",
          "split": "test"},
    "30": {"question": "What time is it?", "choices": ["noon", "midnight"], "answer": 1,
           "ques_type": "choose_txt", "split": "train"},
}


def icon_expected(image_of) -> list[dict]:
    return [
        {"image": image_of("7"), "question": "Which shape is this?", "answers": ["circle"],
         "choices": ["circle", "square"], "question_id": "7"},
        {"image": image_of("12"), "question": "How many dots are there?", "answers": ["5"],
         "choices": ["3", "5", "7"], "question_id": "12"}]


def test_iconqa_problems_json(tmp_path):
    data = tmp_path / "iconqa_data"
    path = write(data / "problems.json", ICON_PROBLEMS)
    assert IconQA.metric == "choice"
    root = str(data / "iconqa")
    # without pid_splits.json: the choose_txt problems of the split, in file order
    want = [dict(r, where=f"problems.json:{r['question_id']}")
            for r in icon_expected(lambda pid: f"{root}/test/choose_txt/{pid}/image.png")]
    assert IconQA()(str(path), root) == want[::-1]
    # with it: its list, in its order
    write(data / "pid_splits.json", {"choose_txt_test": ["7", "12"], "choose_txt_train": ["30"]})
    assert IconQA()(str(path), root) == want
    assert [r["question_id"] for r in IconQA(split="train")(str(path), root)] == ["30"]


def test_iconqa_split_folder(tmp_path):
    folder = tmp_path / "iconqa_data" / "iconqa" / "test" / "choose_txt"
    for pid in ("12", "7"):
        rec = {k: v for k, v in ICON_PROBLEMS[pid].items() if k != "split"}
        write(folder / pid / "data.json", rec)
        (folder / pid / "image.png").write_bytes(b"")
    want = [dict(r, where=f"{r['question_id']}/data.json")
            for r in icon_expected(lambda pid: str(folder / pid / "image.png"))]
    assert IconQA()(str(folder), "") == want
    assert IconQA()(str(folder.parent), "") == want  # the split folder holding choose_txt/
    assert IconQA()(str(folder), "/imgs")[0]["image"] == "/imgs/7/image.png"


def test_iconqa_errors(tmp_path):
    bad = dict(ICON_PROBLEMS, **{"5": {"question": "q", "choices": ["a", "b"], "answer": 2,
                                       "ques_type": "choose_txt", "split": "test"}})
    path = write(tmp_path / "problems.json", bad)
    with pytest.raises(BlipctlError) as e:
        IconQA()(str(path), "/r")
    one_line_error(e, "problems.json", "record 5", "`answer`")
    folder = tmp_path / "test" / "choose_txt"
    write(folder / "3" / "data.json", {"question": "q", "answer": 0})
    with pytest.raises(BlipctlError) as e:
        IconQA()(str(folder), "")
    one_line_error(e, "3/data.json", "`choices`")


# ------------------------------------------------------------------ ScienceQA

SQA = {
    "1": {"question": "Which figure of speech is used in this text?", "choices": ["simile", "metaphor"],
          "answer": 0, "hint": "", "image": None, "task": "closed choice", "split": "test"},
    "5": {"question": "Which of these states is farthest north?",
          "choices": ["West Virginia", "Louisiana", "Arizona", "Oklahoma"], "answer": 0, "hint": "",
          "image": "image.png", "lecture": "Maps ...", "solution": "...", "split": "test"},
    "9": {"question": "Identify the question that Tom's experiment can best answer.",
          "choices": ["Do ping pong balls stop rolling sooner?", "Do ping pong balls roll farther?"],
          "answer": 1, "hint": "People can use the engineering-design process ...", "image": "image.png",
          "split": "test"},
    "11": {"question": "Which animal's feet are adapted for digging?", "choices": ["mole", "hawk"],
           "answer": 0, "hint": "Moles live underground.", "image": "image.png", "split": "train"},
}


def test_scienceqa(tmp_path):
    path = write(tmp_path / "problems.json", SQA)
    assert ScienceQA.metric == "choice"
    assert ScienceQA()(str(path), "/data/sqa/images") == [
        {"image": "/data/sqa/images/test/5/image.png", "question": "Which of these states is farthest north?",
         "answers": ["West Virginia"], "choices": ["West Virginia", "Louisiana", "Arizona", "Oklahoma"],
         "question_id": "5", "where": "problems.json:5", "context": ""},
        {"image": "/data/sqa/images/test/9/image.png",
         "question": "Identify the question that Tom's experiment can best answer.",
         "answers": ["Do ping pong balls roll farther?"],
         "choices": ["Do ping pong balls stop rolling sooner?", "Do ping pong balls roll farther?"],
         "question_id": "9", "where": "problems.json:9",
         "context": "People can use the engineering-design process ..."}]
    train = ScienceQA(split="train")(str(path), "/i")
    assert [(r["question_id"], r["image"], r["context"]) for r in train] == [
        ("11", "/i/train/11/image.png", "Moles live underground.")]
    assert lettered_options(["mole", "hawk", "owl"]) == "(a) mole (b) hawk (c) owl"


def test_scienceqa_error(tmp_path):
    bad = dict(SQA, **{"13": {"question": "q", "choices": "a or b", "answer": 0, "hint": "",
                              "image": "image.png", "split": "test"}})
    with pytest.raises(BlipctlError) as e:
        ScienceQA()(str(write(tmp_path / "problems.json", bad)), "/r")
    one_line_error(e, "problems.json", "record 13", "`choices`")


# ------------------------------------------------------------------ Hateful Memes

def test_hateful_memes(tmp_path):
    path = write_jsonl(tmp_path / "dev_seen.jsonl", [
        {"id": 8291, "img": "img/08291.png", "label": 1, "text": "white people is this a shooting range"},
        {"id": 46971, "img": "img/46971.png", "label": 0, "text": "bravery at its finest"}])
    assert HatefulMemes.metric == "auc"
    assert HatefulMemes()(str(path), "/data/hm") == [
        {"image": "/data/hm/img/08291.png", "question": "white people is this a shooting range",
         "answers": ["yes"], "choices": ["yes", "no"], "question_id": 8291, "where": "dev_seen.jsonl:0"},
        {"image": "/data/hm/img/46971.png", "question": "bravery at its finest", "answers": ["no"],
         "choices": ["yes", "no"], "question_id": 46971, "where": "dev_seen.jsonl:1"}]


def test_hateful_memes_error(tmp_path):
    path = write_jsonl(tmp_path / "test.jsonl", [{"id": 1, "img": "img/01.png", "label": 0, "text": "a"},
                                                {"id": 2, "img": "img/02.png", "text": "b"}])
    with pytest.raises(BlipctlError) as e:
        HatefulMemes()(str(path), "/r")
    one_line_error(e, "test.jsonl", "record 1", "missing key `label`")


# ------------------------------------------------------------------ VisDial

def visdial_file(tmp_path: Path, dialogs: list) -> Path:
    return write(tmp_path / "visdial_1.0_val.json", {"version": "1.0", "split": "val", "data": {
        "questions": ["is the photo in color", "is there a chair", "how many people"],
        "answers": ["yes", "no", "2", "maybe"], "dialogs": dialogs}})


DIALOG = {"image_id": 185565, "caption": "a bedroom with a computer desk", "dialog": [
    {"question": 0, "answer": 0, "answer_options": [1, 0, 3], "gt_index": 1},
    {"question": 1, "answer": 1, "answer_options": [1, 2, 3, 0], "gt_index": 0},
    {"question": 2, "answer": 2, "answer_options": [0, 2], "gt_index": 1}]}


def test_visdial(tmp_path):
    path = visdial_file(tmp_path, [DIALOG])
    assert VisDial.metric == "mrr"
    image = "/data/visdial/VisualDialog_val2018/VisualDialog_val2018_000000185565.jpg"
    base = {"image": image, "caption": "a bedroom with a computer desk", "image_id": 185565}
    h2 = "q: is the photo in color a: yes q: is there a chair a: no"
    want = [
        dict(base, question="a bedroom with a computer desk\nis the photo in color", answers=["yes"],
             choices=["no", "yes", "maybe"], question_id="185565_1", where="visdial_1.0_val.json:0/1",
             dialog_history="", current_question="is the photo in color", round_id=1),
        dict(base, question="a bedroom with a computer desk\nq: is the photo in color a: yes\n"
                            "is there a chair",
             answers=["no"], choices=["no", "2", "maybe", "yes"], question_id="185565_2",
             where="visdial_1.0_val.json:0/2", dialog_history="q: is the photo in color a: yes",
             current_question="is there a chair", round_id=2),
        dict(base, question=f"a bedroom with a computer desk\n{h2}\nhow many people", answers=["2"],
             choices=["yes", "2"], question_id="185565_3", where="visdial_1.0_val.json:0/3",
             dialog_history=h2, current_question="how many people", round_id=3)]
    assert VisDial()(str(path), "/data/visdial") == want
    assert VisDial(rounds="last")(str(path), "/data/visdial") == want[2:]


def test_visdial_errors(tmp_path):
    broken = {"image_id": 7, "caption": "c", "dialog": [
        {"question": 0, "answer": 0, "answer_options": [0, 1], "gt_index": 0},
        {"question": 1, "answer": 1, "answer_options": [0, 1]}]}  # round 2: no gt_index (as in test)
    with pytest.raises(BlipctlError) as e:
        VisDial()(str(visdial_file(tmp_path, [DIALOG, broken])), "/r")
    one_line_error(e, "visdial_1.0_val.json", "record 1 round 2", "`gt_index`")
    out_of_range = {"image_id": 7, "caption": "c", "dialog": [
        {"question": 9, "answer": 0, "answer_options": [0], "gt_index": 0}]}
    with pytest.raises(BlipctlError) as e:
        VisDial()(str(visdial_file(tmp_path, [out_of_range])), "/r")
    one_line_error(e, "visdial_1.0_val.json", "record 0 round 1", "`question`")
    with pytest.raises(BlipctlError) as e:
        VisDial()(str(write(tmp_path / "v.json", {"data": {"dialogs": []}})), "/r")
    one_line_error(e, "v.json", "`questions`")
    with pytest.raises(BlipctlError):
        VisDial(rounds="first")


def test_metrics_and_no_heavy_imports():
    readers = (TextVQA, VizWiz, GQA, VSR, IconQA, ScienceQA, HatefulMemes, VisDial)
    assert {c.metric for c in readers} == {"vqa", "exact", "choice", "mrr", "auc"}
    tree = ast.parse(Path(heldout.__file__).read_text(encoding="utf-8"))
    names = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    names |= {(n.module or "").split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert not names & {"torch", "transformers", "numpy"}, names


# ------------------------------------------------------------------ metrics

def test_choice_accuracy():
    records = [{"question_id": "a", "answers": ["5"], "choices": ["3", "5"]},
               {"question_id": "b", "answers": ["true"], "choices": ["true", "false"]},
               {"question_id": "c", "answers": ["mole"], "choices": ["mole", "hawk"]}]
    # a: right by text; b: wrong by text; c: right by index -> 2/3
    assert choice_accuracy({"a": "5", "b": "false", "c": 0}, records) == {"overall": 66.67, "n": 3}
    with pytest.raises(BlipctlError, match="no prediction"):
        choice_accuracy({"a": "5"}, records)
    with pytest.raises(BlipctlError, match="index 2"):
        choice_accuracy({"a": 2, "b": 0, "c": 0}, records)


def test_gt_rank_and_visdial_metrics():
    # options' scores: the ground truth (index 2, score 0.5) is beaten by 0.9 and 0.7 -> rank 3;
    # a tie with an earlier option counts against it (stable order), one with a later option not
    assert gt_rank([0.9, 0.1, 0.5, 0.7], 2) == 3
    assert gt_rank([0.5, 0.5, 0.1], 1) == 2
    assert gt_rank([0.5, 0.5, 0.1], 0) == 1
    ranks = [1, 2, 4, 10, 20]
    # MRR = (1 + 1/2 + 1/4 + 1/10 + 1/20) / 5 = 1.9 / 5 = 0.38
    assert mean_reciprocal_rank(ranks) == pytest.approx(0.38)
    # R@1 = 1/5, R@5 = 3/5 (1, 2, 4), R@10 = 4/5; mean rank = 37 / 5 = 7.4
    assert visdial_metrics(ranks) == {"mrr": 38.0, "r@1": 20.0, "r@5": 60.0, "r@10": 80.0, "mean": 7.4,
                                      "n": 5}
    with pytest.raises(BlipctlError):
        mean_reciprocal_rank([0, 1])
    with pytest.raises(BlipctlError):
        visdial_metrics([])


def test_roc_auc_by_hand():
    scores = [0.9, 0.6, 0.6, 0.3, 0.2]
    labels = [1, 1, 0, 1, 0]
    # positives {0.9, 0.6, 0.3}, negatives {0.6, 0.2}; the 3 x 2 = 6 (positive, negative) pairs:
    # 0.9>0.6 1, 0.9>0.2 1, 0.6=0.6 0.5 (tie), 0.6>0.2 1, 0.3<0.6 0, 0.3>0.2 1 -> 4.5 / 6 = 0.75
    assert roc_auc(scores, labels) == pytest.approx(0.75)
    assert roc_auc([0.1, 0.2, 0.3, 0.4], [0, 0, 1, 1]) == 1.0
    assert roc_auc([0.4, 0.3, 0.2, 0.1], [0, 0, 1, 1]) == 0.0
    assert roc_auc([0.5] * 4, [0, 1, 0, 1]) == 0.5  # all tied: every pair half
    # order of the inputs does not matter
    assert roc_auc(scores[::-1], labels[::-1]) == pytest.approx(0.75)
    with pytest.raises(BlipctlError, match="both"):
        roc_auc([0.1, 0.2], [1, 1])
    with pytest.raises(BlipctlError):
        roc_auc([0.1], [1, 0])


def test_roc_auc_matches_sklearn():
    metrics = pytest.importorskip("sklearn.metrics")
    import random

    rng = random.Random(0)
    for _ in range(20):
        n = rng.randint(2, 40)
        labels = [rng.randint(0, 1) for _ in range(n)]
        labels[0], labels[1] = 0, 1
        scores = [rng.choice([0.1, 0.2, 0.5, 0.7, rng.random()]) for _ in range(n)]
        assert roc_auc(scores, labels) == pytest.approx(metrics.roc_auc_score(labels, scores))
