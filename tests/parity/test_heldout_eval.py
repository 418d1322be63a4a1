"""`blipctl eval` on InstructBLIP's held-out recipes, end to end on a tiny transformers-saved
InstructBLIP (Flan-T5): each dataset in its official file format, the candidates ranked by the
likelihoods transformers' logits give, and the metrics recomputed by hand from the predictions."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from blip2_fixtures import instructblip, load_fp32
from conftest import run_cli
from PIL import Image
from test_blip2_rank import _theirs

from blipctl.data.images import load_rgb, preprocess
from blipctl.eval.heldout import asked
from blipctl.eval.vqa_metric import _clean, normalise

N_IMAGES = 6


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    out = tmp_path_factory.mktemp("instructblip_t5")
    hf, tok = instructblip(out, "t5")
    return out, hf, tok


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    """Images 0..5, distinct noise, under img/."""
    root = tmp_path_factory.mktemp("heldout")
    (root / "img").mkdir()
    for i in range(N_IMAGES):
        pixels = (np.random.RandomState(i).rand(30, 30, 3) * 255).astype("uint8")
        Image.fromarray(pixels).save(root / "img" / f"{i}.png")
    return root


def evaluate(recipe: str, model, root, out, *extra: str):
    r = run_cli("eval", recipe, "--model", str(model), f"data.root={root}", f"output_dir={out}",
                "data.workers=0", "data.batch_size=4", "data.image_size=30", *extra)
    assert r.returncode == 0, r.stderr
    return (json.loads((out / "predictions.json").read_text()),
            json.loads((out / "metrics.json").read_text()))


def pixels(root, name: str) -> torch.Tensor:
    return preprocess(load_rgb(str(root / name)), 30)[None]


def test_vsr_ranks_true_false_by_transformers_likelihood(saved, root, tmp_path):
    path, hf, tok = saved
    ours = load_fp32(str(path))
    captions = ["the star is left of the circle", "the cat is on the mat", "a dog under the table",
                "the cup is at the edge of the table", "the car is behind the bus", "two shapes touch"]
    lines = [{"image": f"img/{i}.png", "caption": c, "label": i % 2, "relation": "left of"}
             for i, c in enumerate(captions)]
    (root / "test.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    preds, metrics = evaluate("instructblip/eval_vsr", path, root, tmp_path, "data.annotations=test.jsonl")
    prompt = 'Based on the image, is this statement true or false? "{}" Answer:'
    want = []
    for i, c in enumerate(captions):
        text = prompt.format(c)
        s = [_theirs(ours, hf, tok, pixels(root, f"img/{i}.png"), text, a) for a in ("true", "false")]
        want.append("true" if s[0] >= s[1] else "false")
    assert [p["answer"] for p in preds] == want
    right = sum(w == ("true" if i % 2 else "false") for i, w in enumerate(want))
    assert metrics == {"overall": round(100 * right / 6, 2), "n": 6}


def test_hateful_memes_auc_and_visdial_mrr_from_the_scores(saved, root, tmp_path):
    path, hf, tok = saved
    ours = load_fp32(str(path))
    memes = [{"id": 100 + i, "img": f"img/{i}.png", "label": int(i in (1, 2, 4)), "text": t}
             for i, t in enumerate(["hello there", "you are all", "look at this", "nice day",
                                    "not again", "what a star"])]
    (root / "dev_seen.jsonl").write_text("".join(json.dumps(x) + "\n" for x in memes))
    preds, metrics = evaluate("instructblip/eval_hateful_memes", path, root, tmp_path / "hm",
                              "data.annotations=dev_seen.jsonl")
    prompt = 'This is an image with: "{}" written on it. Is it hateful? Answer:'
    p_yes = []
    for m in memes:
        image = pixels(root, m["img"])
        s = [_theirs(ours, hf, tok, image, prompt.format(m["text"]), a) for a in ("yes", "no")]
        p_yes.append(1 / (1 + np.exp(s[1] - s[0])))
    assert [p["question_id"] for p in preds] == [m["id"] for m in memes]
    assert np.allclose([p["p_yes"] for p in preds], p_yes, atol=1e-4)
    assert len({round(p, 4) for p in p_yes}) > 1  # the scores depend on the meme
    pos = [p for p, m in zip(p_yes, memes, strict=True) if m["label"]]
    neg = [p for p, m in zip(p_yes, memes, strict=True) if not m["label"]]
    pairs = [1.0 if a > b else 0.5 if a == b else 0.0 for a in pos for b in neg]  # by hand: 9 pairs
    assert metrics["auc"] == pytest.approx(round(100 * sum(pairs) / len(pairs), 2))
    assert metrics["n"] == 6

    # VisDial: one dialog, two rounds of four options; the second round reads the first as history
    answers = ["yes", "two", "a red star", "no"]
    questions = ["is it sunny?", "how many shapes?"]
    dialog = [{"question": 0, "answer": 0, "answer_options": [3, 0, 1, 2], "gt_index": 1},
              {"question": 1, "answer": 1, "answer_options": [2, 1, 0, 3], "gt_index": 1}]
    (root / "VisualDialog_val2018").mkdir()
    name = "VisualDialog_val2018/VisualDialog_val2018_000000000007.jpg"
    Image.open(root / "img" / "0.png").save(root / name)
    (root / "visdial.json").write_text(json.dumps({"data": {
        "dialogs": [{"image_id": 7, "caption": "shapes on black", "dialog": dialog}],
        "questions": questions, "answers": answers}}))
    preds, metrics = evaluate("instructblip/eval_visdial", path, root, tmp_path / "vd",
                              "data.annotations=visdial.json")
    image = pixels(root, name)
    prompt = "Dialog history: {}\n Question: {} Short answer:"
    ranks = []
    for r, history in enumerate(["", "q: is it sunny? a: yes"]):
        text = prompt.format(history, questions[r])
        options = [answers[k] for k in dialog[r]["answer_options"]]
        s = [_theirs(ours, hf, tok, image, text, a) for a in options]
        ranks.append(1 + sum(x > s[1] for x in s))  # the ground truth is option 1 in both rounds
    assert metrics["mrr"] == pytest.approx(round(100 * sum(1 / k for k in ranks) / 2, 2))
    assert metrics["r@1"] == 100 * sum(k == 1 for k in ranks) / 2 and metrics["n"] == 2


def test_gqa_generates_and_scores_exact_match(saved, root, tmp_path):
    path, _, _ = saved
    ours = load_fp32(str(path))
    qs = {f"q{i}": {"imageId": str(i), "question": q, "answer": "no"}
          for i, q in enumerate(["is the star red?", "what shape is it?", "how many?", "where is it?"])}
    (root / "images").mkdir(exist_ok=True)
    for i in range(4):
        Image.open(root / "img" / f"{i}.png").save(root / "images" / f"{i}.jpg")
    (root / "gqa.json").write_text(json.dumps(qs))
    preds, _ = evaluate("instructblip/eval_gqa", path, root, tmp_path / "a", "data.annotations=gqa.json")
    images = torch.cat([pixels(root, f"images/{i}.jpg") for i in range(4)])
    texts = [asked("Question: {} Short answer:", {"question": q["question"]}) for q in qs.values()]
    want = ours.answer(images, texts, ours.answer_decode, ["{}"] * 4)
    assert [p["answer"] for p in preds] == want
    # two questions answered as the model answers them (normalised as VQAv2 normalises a
    # prediction; the metric is checked by hand in test_eval_metrics): exact match 50
    qs["q0"]["answer"], qs["q1"]["answer"] = (normalise(_clean(a)) for a in want[:2])
    qs["q2"]["answer"] = qs["q3"]["answer"] = "zzz"
    (root / "gqa.json").write_text(json.dumps(qs))
    _, metrics = evaluate("instructblip/eval_gqa", path, root, tmp_path / "b", "data.annotations=gqa.json")
    assert metrics == {"overall": 50.0, "n": 4}


def test_a_prompt_field_the_dataset_lacks_is_one_line(saved, root, tmp_path):
    path, _, _ = saved
    line = {"image": "img/0.png", "caption": "a star", "label": 1}
    (root / "one.jsonl").write_text(json.dumps(line) + "\n")
    r = run_cli("eval", "instructblip/eval_vsr", "--model", str(path), f"data.root={root}",
                f"output_dir={tmp_path}", "data.annotations=one.jsonl", "data.workers=0",
                "task.prompt=Hint: {context} Answer:")
    assert r.returncode == 1 and "{context} is not a field of one.jsonl:0" in r.stderr
    assert "Traceback" not in r.stderr
