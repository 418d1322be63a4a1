"""Official VQA accuracy on hand-worked cases; retrieval recall on hand-built matrices."""

from __future__ import annotations

import numpy as np
import pytest

from blipctl.eval.retrieval_metric import recall_at_k
from blipctl.eval.vqa_metric import process_punctuation, question_accuracy, vqa_accuracy


@pytest.mark.parametrize("pred, answers, want", [
    # "Two." -> "2" (humans disagree, so everything is normalised): the three "2"s each
    # leave 2 matches (2/3), the seven "3"s leave all 3 (1): (3 * 2/3 + 7) / 10
    ("Two.", ["2", "2", "two"] + ["3"] * 7, 0.9),
    ("Two.", ["2"] * 10, 0.0),            # unanimous: raw strings compared, no normalisation
    ("2", ["2"] * 10, 1.0),
    ("a dog", ["dog"] * 3 + ["cat"] * 7, 0.9),
    ("dont know", ["don't know"] * 4 + ["no"] * 6, 1.0),   # contraction restored
    ("red", ["red", "red"] + ["blue"] * 8, 0.6),          # (2 x 1/3 + 8 x 2/3) / 10
    ("green", ["red"] * 10, 0.0),
])
def test_vqa_accuracy_hand_worked(pred, answers, want):
    assert question_accuracy(pred, answers) == pytest.approx(want)


def test_punctuation_rules_of_the_official_tool():
    assert process_punctuation("1,000") == "1000"           # digit comma digit: removed
    assert process_punctuation("yes, sir") == "yes sir"     # ", " present: removed
    assert process_punctuation("black/white") == "black white"
    assert process_punctuation("3.5 meters.") == "3.5 meters"  # decimal point kept


def test_vqa_accuracy_breakdown():
    qs = [{"question_id": 1, "answer": ["yes"] * 10, "answer_type": "yes/no"},
          {"question_id": 2, "answer": ["2"] * 10, "answer_type": "number"},
          {"question_id": 3, "answer": ["red"] * 10, "answer_type": "other"}]
    out = vqa_accuracy({1: "yes", 2: "3", 3: "red"}, qs)
    assert out["overall"] == pytest.approx(66.67) and out["n"] == 3
    assert out["per_answer_type"] == {"number": 0.0, "other": 100.0, "yes/no": 100.0}


def test_recall_at_k_hand_built():
    # 2 images, 4 captions (2 each); image 0 ranks its caption 1 first, image 1 ranks its
    # captions 3rd and 4th
    scores = np.array([[0.1, 0.9, 0.3, 0.2],
                       [0.8, 0.7, 0.1, 0.0]])
    out = recall_at_k(scores, [[0, 1], [2, 3]], [0, 0, 1, 1], ks=(1, 2, 3))
    assert out["tr_r1"] == 50.0 and out["tr_r2"] == 50.0 and out["tr_r3"] == 100.0
    # captions: 0 -> image 1 first (miss @1), 1 -> image 0 first, 2 -> image 0 first (miss @1),
    # 3 -> image 0 (0.2) before image 1 (0.0) (miss @1)
    assert out["ir_r1"] == 25.0 and out["ir_r2"] == 100.0
    assert out["r_mean"] == pytest.approx((out["tr_mean"] + out["ir_mean"]) / 2)


@pytest.mark.parametrize("seed", range(3))
def test_vqa_score_file_matches_the_leave_one_out_closed_form_on_random_cases(seed, tmp_path):
    """With m of the ten humans giving the prediction, the ten leave-one-out subsets score
    min((m-1)/3, 1) m times and min(m/3, 1) 10-m times (clean words: normalising changes nothing)."""
    import json
    import random

    from blipctl.workflows.evaluate import score_files

    rng = random.Random(seed)
    words = ["red", "blue", "2", "3", "yes", "no", "left"]
    questions, preds, want = [], [], []
    for q in range(40):
        answers = [rng.choice(words[:3]) for _ in range(10)]
        pred = rng.choice(words)
        m = answers.count(pred)
        want.append((m * min((m - 1) / 3, 1) + (10 - m) * min(m / 3, 1)) / 10 if m else 0.0)
        questions.append({"question_id": 1000 + q, "answer": answers, "answer_type": "other"})
        preds.append({"question_id": 1000 + q, "answer": pred})
    (tmp_path / "q.json").write_text(json.dumps(questions))
    (tmp_path / "p.json").write_text(json.dumps(preds))
    out = score_files("vqa", str(tmp_path / "p.json"), str(tmp_path / "q.json"))
    assert out["overall"] == pytest.approx(round(100 * sum(want) / len(want), 2))
    assert 0 < out["overall"] < 100


def test_gqa_accuracy_is_exact_match_of_the_normalised_prediction():
    from blipctl.eval.vqa_metric import gqa_accuracy

    questions = [{"question_id": 1, "answer": "left"}, {"question_id": 2, "answer": "2"},
                 {"question_id": 3, "answer": "red"}, {"question_id": 4, "answer": "the left"}]
    # "Left." normalises to "left"; "two" to "2"; "blue" is wrong; the article goes from the
    # prediction only, so "the left" is never matched (as in LAVIS's GQA task)
    got = gqa_accuracy({1: "Left.", 2: "two", 3: "blue", 4: "the left"}, questions)
    assert got == {"overall": 50.0, "n": 4}
