"""InstructBLIP's instruction-tuning task: samples drawn from the square-root mixture of its
datasets, written with the paper's templates, the same on every build (seeded), and a loss
through an InstructBLIP model."""

from __future__ import annotations

import json
import math
import re
from collections import Counter

import pytest
import torch

from blipctl.errors import BlipctlError, ConfigError
from blipctl.tasks.instruct import TEMPLATES, InstructionTuning


def _fills(template: str, text: str) -> bool:
    return re.fullmatch(re.escape(template).replace(r"\{\}", ".+"), text) is not None


def _files(root):
    return [str(root / "caption_train.json"), str(root / "vqa_train.json")]


def test_records_follow_the_mixture_and_the_templates(corpus):
    root, m = corpus
    task = InstructionTuning({"caption_train.json": "caption", "vqa_train.json": "vqg"}, samples=4000, seed=1)
    records = task.records(_files(root), str(root))
    sizes = [m["files"]["caption_train.json"], m["files"]["vqa_train.json"]]
    p = math.sqrt(sizes[0]) / sum(math.sqrt(s) for s in sizes)
    n = Counter(r["dataset"] for r in records)["caption_train.json"]
    assert abs(n - 4000 * p) < 4 * math.sqrt(4000 * p * (1 - p))
    questions = {q["question"] for q in json.loads((root / "vqa_train.json").read_text())}
    for r in records[:200]:
        if r["dataset"] == "caption_train.json":
            assert r["input"] in TEMPLATES["caption"] and r["target"]
        else:  # question generation: the answer in the template, the question as the response
            assert any(_fills(t, r["input"]) for t in TEMPLATES["vqg"]) and r["target"] in questions
    used = {r["input"] for r in records if r["dataset"] == "caption_train.json"}
    assert used == set(TEMPLATES["caption"])  # every template is drawn
    again = task.records(_files(root), str(root))
    assert list(again) == list(records)  # seeded: every rank and resume builds the same
    assert [again[k] for k in (3999, 7, 1234)] == [records[-1], records[7], records[1234]]  # any order
    other = InstructionTuning(task.kinds, samples=4000, seed=2).records(_files(root), str(root))
    assert list(other) != list(records)


def test_vqa_records_ask_the_question_and_answer_with_the_commonest_answer(corpus):
    root, _ = corpus
    records = InstructionTuning({"vqa_train.json": "vqa"}, samples=50).records([str(root / "vqa_train.json")],
                                                                            str(root))
    by_q = {}
    for q in json.loads((root / "vqa_train.json").read_text()):
        by_q.setdefault(q["question"], set()).add(Counter(q["answer"]).most_common(1)[0][0])
    for r in records:
        asked = [q for q in by_q if q in r["input"]]
        assert asked and any(r["target"] in by_q[q] for q in asked)


def test_a_file_without_a_kind_is_refused_in_one_line(corpus):
    root, _ = corpus
    with pytest.raises(ConfigError, match="vqa_train.json has no kind"):
        InstructionTuning({"caption_train.json": "caption"}).records(_files(root), str(root))
    with pytest.raises(ConfigError, match="expected caption, vqa, vqg or conversation"):
        InstructionTuning({"caption_train.json": "story"})


def test_the_loss_runs_through_an_instructblip_model(corpus, tmp_path):
    from blip2_fixtures import instructblip, load_fp32

    from blipctl.tasks.context import Context

    root, _ = corpus
    instructblip(tmp_path, "t5")
    model = load_fp32(str(tmp_path)).train()
    task = InstructionTuning({"caption_train.json": "caption", "vqa_train.json": "vqa"}, samples=8)
    records = task.records(_files(root), str(root))
    torch.manual_seed(0)
    batch = {"image": torch.randn(len(records), 3, 30, 30), "input": [r["input"] for r in records],
             "target": [r["target"] for r in records]}
    out = task.losses(model, batch, Context(torch.device("cpu")))
    out["loss"].backward()
    assert out["loss"].item() > 0 and model.qformer.tok.weight.grad.abs().max() > 0  # the instruction trains
    assert all(p.grad is None for p in model.llm.parameters())


def test_the_instructblip_builder_reads_the_instruction_and_ends_with_eos(pretrained, tmp_path):
    from blip2_fixtures import opt_lm

    from blipctl.checkpoints.parts import frozen_llm, frozen_tower
    from blipctl.models import builders
    from blipctl.models.blip2 import InstructBlip

    opt_lm(tmp_path)
    cfg = builders.qformer_tiny(width=128, depth=2, queries=4, vocab_size=30524)
    tower, lm = frozen_tower(str(pretrained[0]), "fp32"), frozen_llm(str(tmp_path), "fp32")
    model = builders.blip2_instruct(tower, cfg, lm)
    assert isinstance(model, InstructBlip) and model.qformer.tok is not None
    assert model.eos == model.llm.lm.config.eos_token_id  # not BLIP-2's "\n"
    image = torch.randn(1, 3, 32, 32).expand(2, -1, -1, -1)
    prefix = model.prefix(image, ["a short image caption:", "question: how many stars?"])
    assert (prefix[0] - prefix[1]).abs().max() > 1e-4


def test_an_instructblip_builder_takes_the_lms_own_end_and_fits_instructions_to_its_positions(pretrained,
                                                                                             tmp_path):
    """`end`: the mini OPT ends its texts with a newline, so its InstructBLIP does too; an
    instruction longer than a small Q-Former's positions keeps its last tokens (left truncation)."""
    from blip2_fixtures import opt_lm

    from blipctl.checkpoints.parts import frozen_llm, frozen_tower
    from blipctl.models import builders

    opt_lm(tmp_path)
    cfg = builders.qformer_tiny(width=128, depth=2, queries=4, vocab_size=30524)
    tower, lm = frozen_tower(str(pretrained[0]), "fp32"), frozen_llm(str(tmp_path), "fp32")
    model = builders.blip2_instruct(tower, cfg, lm, end="\n")
    assert model.eos == model.codec.token("\n") != model.llm.lm.config.eos_token_id
    with pytest.raises(ConfigError, match="model.end"):
        builders.blip2_instruct(tower, cfg, lm, end="not one token")
    image = torch.randn(1, 3, 32, 32).expand(2, -1, -1, -1)
    long = "please look at the picture very carefully " * 12  # far more than 64 positions
    a = model.queries(model.encode_image(image), [long + "how many stars?", "how many stars?"])
    b = model.queries(model.encode_image(image), [long + "how many stars?", "what colour is it?"])
    assert torch.allclose(a[0], b[0]) and (a[1] - b[1]).abs().max() > 1e-4


def test_a_file_read_as_two_kinds_is_two_datasets_of_the_mixture(corpus):
    root, m = corpus
    files = [str(root / "caption_train.json"), str(root / "vqa_train.json")]
    task = InstructionTuning({"caption_train.json": "caption", "vqa_train.json": ["vqa", "vqg"]}, samples=600)
    records = task.records(files, str(root))
    n = Counter(r["dataset"] for r in records)
    assert set(n) == {"caption_train.json", "vqa_train.json:vqa", "vqa_train.json:vqg"}
    vqg = [r for r in records if r["dataset"] == "vqa_train.json:vqg"]
    assert all(any(_fills(t, r["input"]) for t in TEMPLATES["vqg"]) for r in vqg)
    sizes = {"caption_train.json": m["files"]["caption_train.json"]} | {
        k: m["files"]["vqa_train.json"] for k in ("vqa_train.json:vqa", "vqa_train.json:vqg")}
    p = math.sqrt(sizes["vqa_train.json:vqg"]) / sum(math.sqrt(s) for s in sizes.values())
    assert abs(n["vqa_train.json:vqg"] - 600 * p) < 4 * math.sqrt(600 * p * (1 - p))


def test_conversation_turns_are_instructions_as_they_stand(tmp_path):
    turns = [{"from": "human", "value": "<image>\nWhat is on the table?"},
             {"from": "gpt", "value": "A cake."},
             {"from": "human", "value": "Why is it there?"}, {"from": "gpt", "value": "A birthday."}]
    (tmp_path / "llava.json").write_text(json.dumps([{"id": "1", "image": "a.jpg", "conversations": turns}]))
    task = InstructionTuning({"llava.json": "conversation"}, samples=20)
    records = task.records([str(tmp_path / "llava.json")], str(tmp_path))
    pairs = {(r["input"], r["target"]) for r in records}
    assert pairs == {("What is on the table?", "A cake."), ("Why is it there?", "A birthday.")}
    assert all(r["image"] == str(tmp_path / "a.jpg") for r in records)
    (tmp_path / "bad.json").write_text(json.dumps([{"image": "a.jpg", "conversations": turns[1:3]}]))
    with pytest.raises(BlipctlError, match=r"bad.json: record 0: turns 0 and 1 should be a human turn"):
        InstructionTuning({"bad.json": "conversation"}).records([str(tmp_path / "bad.json")], str(tmp_path))
