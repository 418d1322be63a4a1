"""The mini LMs' text pretraining: its documents, and its loss against transformers' own loss
of the same LM (OPT with labels, the text ending in "\\n"; T5 with the answer as labels)."""

from __future__ import annotations

import torch

from blipctl.models.builders import text_lm
from blipctl.tasks.context import Context
from blipctl.tasks.lm_pretrain import LMPretrain


def _docs(root):
    return LMPretrain().records([str(root / "caption_train.json"), str(root / "vqa_train.json")], str(root))


def test_documents_are_captions_and_questions_after_a_caption_of_their_image(corpus):
    import json

    root, m = corpus
    docs = _docs(root)
    qa = [d for d in docs if d["input"]]
    assert len(docs) - len(qa) == m["files"]["caption_train.json"]
    assert len(qa) == m["files"]["vqa_train.json"]  # every question's image has captions
    caps = {c["caption"] for c in json.loads((root / "caption_train.json").read_text())}
    q = json.loads((root / "vqa_train.json").read_text())[0]
    first = qa[0]["input"]
    assert first.endswith(f" Question: {q['question']} Short answer:")
    assert first.split(" Question:")[0] in caps
    assert qa[0]["target"] == q["multiple_choice_answer"]


def test_decoder_only_loss_equals_transformers_with_the_end_token(corpus):
    root, _ = corpus
    torch.manual_seed(0)
    model = text_lm("opt", str(root / "tokenizers" / "opt"), width=32, depth=1, ffn=64).eval()
    docs = _docs(root)[:2] + _docs(root)[-2:]
    batch = {"input": [d["input"] for d in docs], "target": [d["target"] for d in docs]}
    ours = LMPretrain().losses(model, batch, Context(torch.device("cpu")))["loss"]
    tok = model.codec.tokenizer
    texts = [f"{d['input']} {d['target']}".strip() + "\n" for d in docs]
    enc = tok(texts, padding=True, padding_side="right", return_tensors="pt")
    want = model.lm(input_ids=enc.input_ids, attention_mask=enc.attention_mask,
                    labels=enc.input_ids.masked_fill(enc.attention_mask == 0, -100)).loss
    assert abs(ours.item() - want.item()) < 1e-5
    assert model.end_token == tok("\n", add_special_tokens=False).input_ids[0]


def test_encoder_decoder_loss_on_questions_equals_transformers(corpus):
    root, _ = corpus
    torch.manual_seed(0)
    model = text_lm("t5", str(root / "tokenizers" / "t5"), width=32, depth=1, ffn=64).eval()
    docs = [d for d in _docs(root) if d["input"]][:3]  # question documents: no random split
    batch = {"input": [d["input"] for d in docs], "target": [d["target"] for d in docs]}
    ours = LMPretrain().losses(model, batch, Context(torch.device("cpu")))["loss"]
    tok = model.codec.tokenizer
    src = tok(batch["input"], padding=True, return_tensors="pt")
    out = tok(batch["target"], padding=True, return_tensors="pt")
    want = model.lm(input_ids=src.input_ids, attention_mask=src.attention_mask,
                    decoder_attention_mask=out.attention_mask,
                    labels=out.input_ids.masked_fill(out.attention_mask == 0, -100)).loss
    assert abs(ours.item() - want.item()) < 1e-5
