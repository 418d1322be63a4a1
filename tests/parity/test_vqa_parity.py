"""VQA against transformers' BlipForQuestionAnswering, and ranking against brute force."""

from __future__ import annotations

import pytest
import torch

from blipctl.checkpoints.load import load_model
from blipctl.decode import DecodeConfig
from blipctl.models.blip import BlipVQA

BOS, SEP = 30522, 102
# equal-length questions: transformers lets the answer decoder attend to question padding
Q = torch.tensor([[101, 2054, 3609, 2003, 1996, 4418, 102],
                  [101, 2129, 2116, 7180, 2024, 2045, 102],
                  [101, 2003, 2045, 1037, 2417, 2675, 102]])
QM = torch.ones_like(Q)


def test_answer_logits_match(hf_vqa_dir, images):
    path, hf = hf_vqa_dir
    ours = load_model(str(path))
    assert isinstance(ours, BlipVQA)
    ans = torch.tensor([[BOS, 2417, SEP], [BOS, 1016, SEP], [BOS, 2748, SEP]])
    with torch.no_grad():
        states = hf.text_encoder(input_ids=Q, attention_mask=QM,
                                 encoder_hidden_states=hf.vision_model(pixel_values=images)[0])[0]
        want = hf.text_decoder(input_ids=ans, encoder_hidden_states=states).logits
        got = ours.answer_logits(ours.encode_question(images, Q, QM), QM, ans)
    assert (got - want).abs().max() < 1e-4
    assert (want[0, 0] - want[1, 0]).abs().max() > 1e-2


@pytest.mark.parametrize("beams", [1, 3])
def test_generated_answers_identical(hf_vqa_dir, images, beams):
    path, hf = hf_vqa_dir
    ours = load_model(str(path))
    assert isinstance(ours, BlipVQA)
    with torch.no_grad():
        want = hf.generate(pixel_values=images, input_ids=Q, attention_mask=QM, num_beams=beams,
                           min_length=1, max_length=10)
    got = ours.generate(images, Q, QM, BOS, DecodeConfig(num_beams=beams, min_length=1, max_length=10),
                        eos=SEP, pad=0)
    cut = [[r[: r.index(SEP) + 1] if SEP in r else r for r in x.tolist()] for x in (got, want)]
    assert cut[0] == cut[1]
    assert len({tuple(r) for r in cut[0]}) > 1


def test_rank_equals_brute_force(hf_vqa_dir, images):
    path, _ = hf_vqa_dir
    ours = load_model(str(path))
    assert isinstance(ours, BlipVQA)
    answers = torch.tensor([[BOS, 2417, SEP, 0], [BOS, 2630, SEP, 0], [BOS, 1016, SEP, 0],
                            [BOS, 2748, SEP, 0], [BOS, 2053, 2417, SEP], [BOS, 2327, 2157, SEP]])
    amask = (answers != 0).long()
    got = ours.rank_ids(images, Q, QM, answers, amask, k=len(answers))
    # brute force: every answer's label-smoothed log-likelihood, one at a time
    import torch.nn.functional as F

    with torch.no_grad():
        states = ours.encode_question(images, Q, QM)
        best = []
        for b in range(3):
            scores = []
            for a, m in zip(answers, amask, strict=True):
                n = int(m.sum())
                logits = ours.answer_logits(states[b:b + 1], QM[b:b + 1], a[None, :n])
                nll = F.cross_entropy(logits[0, :-1], a[1:n], reduction="sum", label_smoothing=0.1)
                scores.append(-nll.item())
            best.append(max(range(len(scores)), key=scores.__getitem__))
    assert got.tolist() == best
    assert ours.rank_ids(images, Q, QM, answers, amask, k=1).shape == (3,)
