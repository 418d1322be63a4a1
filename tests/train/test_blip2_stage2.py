"""BLIP-2's stage-2 loss (the frozen LM writes the caption after the projected queries),
against transformers' own loss of the same LM on the same embeddings, as LAVIS computes it:
OPT with labels -100 on the queries, the padding and the prompt, the text ending in "\\n";
Flan-T5 with the queries and the prompt in the encoder and the caption as labels."""

from __future__ import annotations

import pytest
import torch
from blip2_fixtures import opt_lm, t5_lm

from blipctl.checkpoints.parts import frozen_llm
from blipctl.models import builders
from blipctl.models.vit import ViT
from blipctl.tasks.blip2_stage2 import PrefixCaption
from blipctl.tasks.context import Context

Q = 4
CAPTIONS = ["a red circle", "two blue stars left of a green square"]


def _model(directory):
    torch.manual_seed(0)
    return builders.blip2_stage2(ViT(builders.vit_tiny(32)), builders.qformer_tiny(queries=Q),
                                 frozen_llm(str(directory), "fp32")).train()


def _batch():
    torch.manual_seed(1)
    return {"image": torch.randn(2, 3, 32, 32), "caption": CAPTIONS}


@pytest.fixture(scope="module")
def opt_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("opt")
    opt_lm(out)
    return out


@pytest.fixture(scope="module")
def t5_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("t5")
    t5_lm(out)
    return out


def _ours(model, prompt, split="none"):
    task = PrefixCaption(prompt=prompt, max_length=64, prefix_split=split)
    return task.losses(model, _batch(), Context(torch.device("cpu")))


def _setup(directory, prompt):
    """(model, its tokenizer, the transformers LM, blipctl's loss, the batch)."""
    model = _model(directory)
    return model, model.codec.tokenizer, model.llm.lm, _ours(model, prompt)["loss"], _batch()


@pytest.mark.parametrize("prompt", ["", "a photo of "])
def test_opt_prefix_lm_equals_transformers_loss_with_lavis_labels(opt_dir, prompt):
    model, tok, lm, ours, batch = _setup(opt_dir, prompt)
    enc = tok([prompt + c + "\n" for c in batch["caption"]], padding=True, padding_side="right",
              return_tensors="pt")
    labels = enc.input_ids.masked_fill(enc.attention_mask == 0, -100)
    if prompt:  # LAVIS: the model prompt's tokens ("a photo of", BOS included) are not targets
        labels[:, :len(tok(prompt.rstrip()).input_ids)] = -100
    prefix = model.prefix(batch["image"])
    embeds = torch.cat([prefix, lm.get_input_embeddings()(enc.input_ids)], 1)
    mask = torch.cat([torch.ones(2, Q, dtype=torch.long), enc.attention_mask], 1)
    want = lm(inputs_embeds=embeds, attention_mask=mask,
              labels=torch.cat([torch.full((2, Q), -100), labels], 1)).loss
    assert abs(ours.item() - want.item()) < 1e-5, (ours.item(), want.item())
    assert model.eos == tok("\n", add_special_tokens=False).input_ids[0] != lm.config.eos_token_id
    ours.backward()
    assert all(p.grad is None for p in model.llm.parameters())
    assert all(p.grad is None for p in model.visual.parameters())
    assert model.proj.weight.grad.abs().max() > 0 and model.qformer.query_tokens.grad.abs().max() > 0


def test_without_a_prompt_bos_is_a_target_and_the_prompt_changes_the_loss(opt_dir):
    model = _model(opt_dir)
    plain, prompted = _ours(model, "")["loss"], _ours(model, "a photo of ")["loss"]
    assert abs(plain.item() - prompted.item()) > 1e-3


@pytest.mark.parametrize("prompt", ["", "a photo of"])
def test_t5_prefix_lm_equals_transformers_loss(t5_dir, prompt):
    model, tok, lm, ours, batch = _setup(t5_dir, prompt)
    src = tok([prompt] * 2, padding=True, return_tensors="pt")
    out = tok(batch["caption"], padding=True, return_tensors="pt")
    prefix = model.prefix(batch["image"])
    embeds = torch.cat([prefix, lm.get_input_embeddings()(src.input_ids)], 1)
    mask = torch.cat([torch.ones(2, Q, dtype=torch.long), src.attention_mask], 1)
    want = lm(inputs_embeds=embeds, attention_mask=mask, decoder_attention_mask=out.attention_mask,
              labels=out.input_ids.masked_fill(out.attention_mask == 0, -100)).loss
    assert abs(ours.item() - want.item()) < 1e-5, (ours.item(), want.item())


def test_random_prefix_split_keeps_every_word_once_and_a_target(t5_dir):
    task = PrefixCaption(prompt="", prefix_split="random")
    torch.manual_seed(0)
    cuts = set()
    for _ in range(20):
        inputs, targets = task.split(CAPTIONS)
        for cap, i, t in zip(CAPTIONS, inputs, targets, strict=True):
            assert t and f"{i} {t}".strip() == cap
            cuts.add(len(i.split()))
    assert len(cuts) > 3  # the cut moves
    model = _model(t5_dir)
    torch.manual_seed(0)
    split = _ours(model, "", "random")["loss"]
    assert abs(split.item() - _ours(model, "")["loss"].item()) > 1e-4


def test_vqa_fine_tuning_weights_each_answers_summed_loss(opt_dir):
    from blipctl.tasks.blip2_vqa import PrefixVQA

    model = _model(opt_dir)
    tok, lm = model.codec.tokenizer, model.llm.lm
    images = _batch()["image"]
    batch = {"image": images, "question": ["what colour is the circle?", "how many stars?"],
             "answers": [["red", "blue"], ["two"]], "weights": [[0.7, 0.3], [1.0]]}
    ours = PrefixVQA().losses(model, batch, Context(torch.device("cpu")))["loss"]
    want = 0.0
    for i, (answers, weights) in enumerate(zip(batch["answers"], batch["weights"], strict=True)):
        prompt = f"Question: {batch['question'][i]} Answer:"
        for a, w in zip(answers, weights, strict=True):  # one sequence at a time, transformers' loss
            enc = tok([f"{prompt} {a}\n"], return_tensors="pt")
            labels = enc.input_ids.clone()
            labels[:, :len(tok(prompt).input_ids)] = -100
            embeds = torch.cat([model.prefix(images[i:i + 1]), lm.get_input_embeddings()(enc.input_ids)], 1)
            out = lm(inputs_embeds=embeds, labels=torch.cat([torch.full((1, Q), -100), labels], 1)).loss
            want += w * out.item() * (labels != -100).sum().item()  # the mean back to the sum
    assert abs(ours.item() - want / 2) < 1e-4, (ours.item(), want / 2)
