"""`blipctl eval` end to end on the test corpus: predictions and metrics files in the official
formats, `eval score` agreeing with the run, `--check`, zero-shot from pretraining, bad items."""

from __future__ import annotations

import json
import os
import shutil

import pytest
from conftest import TINY, run_cli

pytestmark = pytest.mark.integration


def evaluate(recipe, model, root, out, *extra):
    return run_cli("eval", recipe, "--model", str(model), f"data.root={root}", f"output_dir={out}",
                   "data.workers=0", "data.batch_size=16", *extra)


def score(task, predictions, annotations):
    r = run_cli("eval", "score", "--task", task, "--predictions", str(predictions),
                "--annotations", str(annotations), "--json", "--no-spice")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_caption_eval_writes_coco_results_and_score_agrees(hf_caption_dir, corpus, tmp_path):
    root, manifest = corpus
    r = evaluate("mini/eval_caption", hf_caption_dir[0], root, tmp_path, "task.spice=false")
    assert r.returncode == 0, r.stderr
    preds = json.loads((tmp_path / "predictions.json").read_text())
    gt = json.loads((root / "caption_test_gt.json").read_text())
    assert sorted(p["image_id"] for p in preds) == sorted(im["id"] for im in gt["images"])
    assert all(isinstance(p["caption"], str) and p["caption"] for p in preds)
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert set(metrics) == {"bleu_1", "bleu_2", "bleu_3", "bleu_4", "meteor", "rouge_l", "cider"}
    assert "cider" in r.stdout and "bleu_4" in r.stdout  # the table
    assert score("caption", tmp_path / "predictions.json", root / "caption_test_gt.json") == metrics
    # without data.gt the split's own `caption` lists are the references: the same figures
    r = evaluate("mini/eval_caption", hf_caption_dir[0], root, tmp_path / "refs", "task.spice=false",
                 "data.gt=null")
    assert r.returncode == 0, r.stderr
    assert json.loads((tmp_path / "refs" / "metrics.json").read_text()) == metrics
    split = json.loads((root / "caption_test.json").read_text())
    for rec in split[1:]:
        rec["caption"] = rec["caption"][:1]  # fewer references: other figures
    del split[0]["caption"]
    (tmp_path / "split.json").write_text(json.dumps(split))
    r = evaluate("mini/eval_caption", hf_caption_dir[0], root, tmp_path / "bad", "data.gt=null",
                 f"data.annotations={os.path.relpath(tmp_path / 'split.json', root)}")
    assert r.returncode == 1 and "split.json:0: no `caption` list" in r.stderr and "Traceback" not in r.stderr


def test_caption_eval_reads_a_coco_format_split_with_nocaps_domains(hf_caption_dir, corpus, tmp_path):
    root, _ = corpus
    split = json.loads((root / "caption_test.json").read_text())[:6]
    domains = ["in-domain", "near-domain", "out-domain"]
    nocaps = {"images": [{"id": r["image_id"], "file_name": r["image"], "domain": domains[k % 3]}
                         for k, r in enumerate(split)],
              "annotations": [{"image_id": r["image_id"], "caption": c, "id": 10 * r["image_id"] + j}
                              for r in split for j, c in enumerate(r["caption"])]}
    (tmp_path / "nocaps_val.json").write_text(json.dumps(nocaps))
    rel = os.path.relpath(tmp_path / "nocaps_val.json", root)
    r = evaluate("mini/eval_caption", hf_caption_dir[0], root, tmp_path / "out", "task.spice=false",
                 "data.gt=null", f"data.annotations={rel}")
    assert r.returncode == 0, r.stderr
    preds = json.loads((tmp_path / "out" / "predictions.json").read_text())
    assert [p["image_id"] for p in preds] == [r["image_id"] for r in split]
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert set(metrics) == {"in-domain", "near-domain", "out-domain", "entire"}
    assert score("caption", tmp_path / "out" / "predictions.json", tmp_path / "nocaps_val.json") == metrics


def test_vqa_eval_ranks_answers_and_score_agrees(hf_vqa_dir, corpus, tmp_path):
    root, _ = corpus
    r = evaluate("mini/eval_vqa", hf_vqa_dir[0], root, tmp_path)
    assert r.returncode == 0, r.stderr
    preds = json.loads((tmp_path / "predictions.json").read_text())
    questions = json.loads((root / "vqa_test.json").read_text())
    answers = set(json.loads((root / "answer_list.json").read_text()))
    assert [p["question_id"] for p in preds] == [q["question_id"] for q in questions]
    assert all(p["answer"] in answers for p in preds)  # ranked from the list
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert set(metrics["per_answer_type"]) == {"yes/no", "number", "other"}
    assert score("vqa", tmp_path / "predictions.json", root / "vqa_test.json") == metrics


def test_retrieval_eval_saves_score_matrices_that_score_agrees_with(hf_retrieval_dir, corpus, tmp_path):
    import numpy as np

    root, _ = corpus
    r = evaluate("mini/eval_retrieval", hf_retrieval_dir[0], root, tmp_path, "task.k_test=8")
    assert r.returncode == 0, r.stderr
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    i2t, t2i = np.load(tmp_path / "scores_i2t.npy"), np.load(tmp_path / "scores_t2i.npy")
    n_img = len(json.loads((root / "caption_test.json").read_text()))
    assert i2t.shape == (n_img, 5 * n_img) and t2i.shape == (5 * n_img, n_img)
    assert ((i2t > -100).sum(1) == 8).all()  # each image's top 8 re-ranked, the rest -100
    preds = json.loads((tmp_path / "predictions.json").read_text())
    (tmp_path / "m.json").write_text(json.dumps({"image_ids": preds["image_ids"], "scores_i2t": i2t.tolist(),
                                                 "scores_t2i": t2i.tolist()}))
    assert score("retrieval", tmp_path / "m.json", root / "caption_test.json") == pytest.approx(metrics)


CAPTION_METRICS = {"bleu_1", "bleu_2", "bleu_3", "bleu_4", "meteor", "rouge_l", "cider"}  # fractions
RETRIEVAL_METRICS = {"tr_r1", "tr_r5", "tr_r10", "ir_r1", "ir_r5", "ir_r10",
                     "tr_mean", "ir_mean", "r_mean"}  # percent


def test_zero_shot_caption_and_retrieval_from_a_pretraining_run(pretrained, corpus, tmp_path):
    root, _ = corpus
    for name, keys, top in (("caption", CAPTION_METRICS, 10.0), ("retrieval", RETRIEVAL_METRICS, 100.0)):
        extra = ["task.k_test=4"] if name == "retrieval" else ["task.num_beams=1", "task.spice=false"]
        r = evaluate(f"mini/eval_{name}", pretrained[0], root, tmp_path / name, *extra)
        assert r.returncode == 0, r.stderr
        metrics = json.loads((tmp_path / name / "metrics.json").read_text())
        assert set(metrics) == keys
        assert all(isinstance(v, float) and 0 <= v <= top for v in metrics.values()), metrics
    recall = json.loads((tmp_path / "retrieval" / "metrics.json").read_text())
    assert recall["tr_r1"] <= recall["tr_r5"] <= recall["tr_r10"] and recall["ir_r1"] <= recall["ir_r10"]


@pytest.fixture(scope="module")
def nlvr_run(pretrained, corpus, tmp_path_factory):
    root, _ = corpus
    out = tmp_path_factory.mktemp("nlvr") / "run"
    r = run_cli("finetune", "mini/nlvr", f"data.root={root}", f"output_dir={out}", f"init={pretrained[0]}",
                *TINY, "max_steps=2")
    assert r.returncode == 0, r.stderr
    return out


def test_nlvr_eval_and_check(nlvr_run, corpus, tmp_path):
    root, _ = corpus
    r = evaluate("mini/eval_nlvr", nlvr_run, root, tmp_path / "a")
    assert r.returncode == 0, r.stderr
    metrics = json.loads((tmp_path / "a" / "metrics.json").read_text())
    preds = json.loads((tmp_path / "a" / "predictions.json").read_text())
    assert metrics["n"] == len(preds) == len(json.loads((root / "nlvr_test.json").read_text()))
    assert score("nlvr", tmp_path / "a" / "predictions.json", root / "nlvr_test.json") == metrics

    recipe = tmp_path / "check.yaml"
    base = (root.parent / "x").as_posix()
    text = (f"_workflow_: blipctl.workflows.evaluate.run\noutput_dir: {base}\nmodel: {nlvr_run}\n"
            f"task: {{_component_: blipctl.eval.nlvr.NLVREval}}\n"
            f"data: {{root: {root}, annotations: nlvr_test.json, workers: 0}}\n")
    recipe.write_text(text + f"expect: {{acc: {{value: {metrics['acc']}, tol: 0.01}}}}\n")
    r = run_cli("eval", str(recipe), "--check")
    assert r.returncode == 0, r.stderr
    assert "ok" in r.stdout
    recipe.write_text(text + f"expect: {{acc: {{value: {metrics['acc'] + 7.5}, tol: 2}}}}\n")
    r = run_cli("eval", str(recipe), "--check")
    assert r.returncode == 1
    assert "MISS" in r.stdout and "off by -7.50" in r.stderr
    recipe.write_text(text + "expect: {accuracy: {value: 80, tol: 2}}\n")
    r = run_cli("eval", str(recipe), "--check")
    assert r.returncode == 2 and "expect.accuracy" in r.stderr and "Traceback" not in r.stderr


def test_unreadable_image_is_reported_and_the_rest_scored(hf_vqa_dir, corpus, tmp_path):
    root, _ = corpus
    data = tmp_path / "data"
    shutil.copytree(root, data)
    questions = json.loads((data / "vqa_test.json").read_text())
    questions[1]["image"] = "images/clean/missing.jpg"
    (data / "vqa_test.json").write_text(json.dumps(questions))
    r = evaluate("mini/eval_vqa", hf_vqa_dir[0], data, tmp_path / "out")
    assert r.returncode == 1
    assert "vqa_test.json:1" in r.stderr and "missing.jpg" in r.stderr and "Traceback" not in r.stderr
    assert json.loads((tmp_path / "out" / "metrics.json").read_text())["n"] == len(questions) - 1


def test_wrong_model_for_the_task_is_one_line(hf_vqa_dir, corpus, tmp_path):
    root, _ = corpus
    r = evaluate("mini/eval_caption", hf_vqa_dir[0], root, tmp_path)
    assert r.returncode == 1
    assert r.stderr.strip().splitlines()[-1].startswith("blipctl: error: --model")
    assert "BlipVQA cannot run CaptionEval" in r.stderr and "Traceback" not in r.stderr
