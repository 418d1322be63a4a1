"""Ranking candidate answers with BLIP-2 (OPT, Flan-T5) and InstructBLIP: each candidate's summed
log-likelihood after the image queries and the prompt equals the one computed from transformers'
logits on the same checkpoint, and `rank` picks the likeliest."""

from __future__ import annotations

import pytest
import torch
from blip2_fixtures import IMAGE_TOKEN, N_QUERY, blip2_opt, blip2_t5, instructblip, load_fp32

ANSWERS = ["red", "blue", "two", "a green star"]
QUESTIONS = ["what colour is the star?", "how many shapes are there?"]


@pytest.fixture(scope="module", params=["opt", "t5", "instruct_t5"])
def saved(request, tmp_path_factory):
    out = tmp_path_factory.mktemp(request.param)
    if request.param == "opt":
        hf, tok = blip2_opt(out)
    elif request.param == "t5":
        hf, tok = blip2_t5(out)
    else:
        hf, tok = instructblip(out, "t5")
    return out, hf, tok


def _theirs(ours, hf, tok, pixels, prompt: str, answer: str) -> float:
    """The answer's summed log-probability from transformers' logits, one (image, prompt) at a time."""
    image = [tok.convert_tokens_to_ids(IMAGE_TOKEN)] * N_QUERY
    extra = {}
    if hasattr(ours, "qformer_codec"):
        q_ids, q_mask = ours.qformer_codec.encode([prompt], "text", 128, truncation_side="left")
        extra = dict(qformer_input_ids=q_ids, qformer_attention_mask=q_mask)
    if ours.llm.encoder_decoder:
        target = tok(answer).input_ids  # </s> last
        logits = hf(pixel_values=pixels, input_ids=torch.tensor([image + tok(prompt).input_ids]),
                    decoder_input_ids=torch.tensor([[0] + target[:-1]]), **extra).logits[0]
    else:
        target = tok(" " + answer, add_special_tokens=False).input_ids + [ours.eos]
        ids = image + tok(prompt).input_ids + target
        logits = hf(pixel_values=pixels, input_ids=torch.tensor([ids]), **extra).logits[0]
        logits = logits[len(ids) - len(target) - 1:-1]
    logp = logits.float().log_softmax(-1)
    return sum(logp[i, t].item() for i, t in enumerate(target))


def test_candidate_scores_equal_transformers_and_rank_picks_the_best(saved):
    path, hf, tok = saved
    ours = load_fp32(str(path))
    torch.manual_seed(0)
    pixels = torch.randn(2, 3, 30, 30)
    cand, mask = ours.candidates(ANSWERS, torch.device("cpu"))
    prompts = [ours.vqa_prompt.format(q) for q in QUESTIONS]
    prefix = ours.prefix(pixels, prompts)
    n = len(ANSWERS)
    got = ours._answer_logprobs(prefix.repeat_interleave(n, 0), [p for p in prompts for _ in range(n)],
                                cand.repeat(2, 1), mask.repeat(2, 1)).view(2, n)
    want = torch.tensor([[_theirs(ours, hf, tok, pixels[b:b + 1], prompts[b], a) for a in ANSWERS]
                         for b in range(2)])
    assert (got - want).abs().max() < 1e-3, (got, want)
    assert want.std() > 0.1
    assert ours.rank(pixels, QUESTIONS, (cand, mask), k=n) == want.argmax(1).tolist()
    # k prunes by the first token: with k=1 the answer is the one whose first token is likeliest
    first = ours._answer_logprobs(prefix, prompts, cand[:, :0].new_zeros(2, 0), mask[:, :0].new_zeros(2, 0),
                                  first_only=True)  # (2, V)
    assert ours.rank(pixels, QUESTIONS, (cand, mask), k=1) == first[:, cand[:, 0]].argmax(1).tolist()
    # each question's own candidates, scored as above, across LM passes of 3 rows
    own = [[ANSWERS[3], ANSWERS[0]], ANSWERS[1:]]
    scores = ours.choice_scores(pixels, QUESTIONS, own, rows=3)
    assert [len(s) for s in scores] == [2, 3]
    assert abs(scores[0][0] - want[0, 3].item()) < 1e-3 and abs(scores[0][1] - want[0, 0].item()) < 1e-3
    assert (torch.tensor(scores[1]) - want[1, 1:]).abs().max() < 1e-3


def test_cli_vqa_answers_ranks_with_a_blip2_model(saved, tmp_path):
    import json

    import numpy as np
    from conftest import run_cli
    from PIL import Image

    from blipctl.data.images import load_rgb, preprocess

    path, _, _ = saved
    ours = load_fp32(str(path))
    Image.fromarray((np.random.RandomState(2).rand(30, 30, 3) * 255).astype("uint8")).save(tmp_path / "a.png")
    (tmp_path / "answers.txt").write_text("\n".join(ANSWERS))
    r = run_cli("vqa", str(tmp_path / "a.png"), QUESTIONS[0], "--model", str(path), "--dtype", "fp32",
                "--answers", str(tmp_path / "answers.txt"), "--format", "jsonl")
    assert r.returncode == 0, r.stderr
    pixels = preprocess(load_rgb(str(tmp_path / "a.png")), 30)[None]
    best = ours.rank(pixels, QUESTIONS[:1], ours.candidates(ANSWERS, torch.device("cpu")))[0]
    assert json.loads(r.stdout)["answer"] == ANSWERS[best]
