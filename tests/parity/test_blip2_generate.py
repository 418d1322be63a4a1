"""BLIP-2 with OPT and with Flan-T5: blipctl against transformers' Blip2ForConditionalGeneration
on the checkpoints transformers saves (tiny, re-initialised, tokenizers trained here)."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from blip2_fixtures import IMAGE_TOKEN, N_QUERY, blip2_llama, blip2_opt, blip2_t5, hf_inputs, load_fp32

from blipctl.decode import DecodeConfig
from blipctl.errors import BlipctlError
from blipctl.models.blip2 import Blip2Generator

PROMPTS = ["", "Question: what colour is the star? Short answer:"]


def _saved(make, name: str, tmp_path_factory):
    """(directory, transformers model, tokenizer) of a checkpoint `make` writes."""
    out = tmp_path_factory.mktemp(name)
    return (out, *make(out))


@pytest.fixture(scope="module")
def opt(tmp_path_factory):
    return _saved(blip2_opt, "blip2_opt", tmp_path_factory)


@pytest.fixture(scope="module")
def llama(tmp_path_factory):
    return _saved(blip2_llama, "blip2_llama", tmp_path_factory)


@pytest.fixture(scope="module")
def t5(tmp_path_factory):
    return _saved(blip2_t5, "blip2_t5", tmp_path_factory)


@pytest.fixture(scope="module")
def pixels():
    torch.manual_seed(0)
    return torch.randn(2, 3, 30, 30)


def _t5_inputs(tok, prompts):
    """The image tokens, then the prompt with T5's </s>, padded on the right."""
    image = tok.convert_tokens_to_ids(IMAGE_TOKEN)
    rows = [[image] * N_QUERY + tok(p).input_ids for p in prompts]
    width = max(map(len, rows))
    ids = torch.tensor([r + [tok.pad_token_id] * (width - len(r)) for r in rows])
    return ids, (ids != tok.pad_token_id).long()


def _theirs(hf, ids, mask, pixels, decode: DecodeConfig, encoder_decoder: bool):
    out = hf.generate(pixel_values=pixels, input_ids=ids, attention_mask=mask, do_sample=False,
                      num_beams=decode.num_beams, max_new_tokens=decode.max_new_tokens,
                      min_new_tokens=decode.min_new_tokens, length_penalty=decode.length_penalty)
    return out[:, 1:] if encoder_decoder else out[:, ids.shape[1]:]  # the new tokens


def _same_tokens(got: torch.Tensor, want: torch.Tensor, pad: int) -> None:
    width = max(got.shape[1], want.shape[1])
    pad_to = lambda x: torch.nn.functional.pad(x, (0, width - x.shape[1]), value=pad)  # noqa: E731
    assert pad_to(got).tolist() == pad_to(want).tolist()


@pytest.mark.parametrize("beams", [1, 5])
def test_opt_generates_transformers_tokens(opt, pixels, beams):
    path, hf, tok = opt
    ours = load_fp32(str(path))
    assert isinstance(ours, Blip2Generator) and not ours.llm.encoder_decoder
    decode = DecodeConfig(num_beams=beams, max_new_tokens=8, min_new_tokens=1, length_penalty=0.0)
    ids, mask = hf_inputs(tok, PROMPTS)
    want = _theirs(hf, ids, mask, pixels, decode, False)
    got = ours.generate_ids(pixels, PROMPTS, decode)
    _same_tokens(got, want, tok.pad_token_id)
    assert want[0].tolist() != want[1].tolist()  # other image and prompt, other text


@pytest.mark.parametrize("beams", [1, 5])
def test_llama_generates_transformers_tokens(llama, pixels, beams):
    """A LLaMA/Vicuna-style LM (rotary positions count past the left padding)."""
    path, hf, tok = llama
    ours = load_fp32(str(path))
    decode = DecodeConfig(num_beams=beams, max_new_tokens=8, min_new_tokens=1, length_penalty=1.0)
    ids, mask = hf_inputs(tok, PROMPTS)
    want = _theirs(hf, ids, mask, pixels, decode, False)
    _same_tokens(ours.generate_ids(pixels, PROMPTS, decode), want, tok.pad_token_id)
    assert want[0].tolist() != want[1].tolist()


@pytest.mark.parametrize("beams", [1, 5])
def test_t5_generates_transformers_tokens(t5, pixels, beams):
    path, hf, tok = t5
    ours = load_fp32(str(path))
    assert isinstance(ours, Blip2Generator) and ours.llm.encoder_decoder
    decode = DecodeConfig(num_beams=beams, max_new_tokens=8, min_new_tokens=1, length_penalty=-1.0)
    ids, mask = _t5_inputs(tok, PROMPTS)
    want = _theirs(hf, ids, mask, pixels, decode, True)
    got = ours.generate_ids(pixels, PROMPTS, decode)
    _same_tokens(got, want, tok.pad_token_id)
    assert want[0].tolist() != want[1].tolist()


def test_same_prompt_other_images_other_captions(opt):
    path, hf, tok = opt
    ours = load_fp32(str(path))
    torch.manual_seed(3)
    images = torch.randn(2, 3, 30, 30)
    ids, mask = hf_inputs(tok, ["", ""])
    decode = DecodeConfig(num_beams=1, max_new_tokens=6, min_new_tokens=1)
    want = _theirs(hf, ids, mask, images, decode, False)
    _same_tokens(ours.generate_ids(images, ["", ""], decode), want, tok.pad_token_id)
    assert want[0].tolist() != want[1].tolist()


def test_opt_logits_match(opt, pixels):
    path, hf, tok = opt
    ours = load_fp32(str(path))
    ids, mask = hf_inputs(tok, PROMPTS)
    with torch.no_grad():
        want = hf(pixel_values=pixels, input_ids=ids, attention_mask=mask).logits
        text, text_mask = ours.codec.prompts(PROMPTS, left=True)
        got = ours.logits(pixels, text, text_mask)
    T = text.shape[1]  # the prompts are the last T positions in both layouts
    real = text_mask.bool()
    assert (got[:, -T:][real] - want[:, -T:][real]).abs().max() < 1e-4
    assert (want[0, -1] - want[1, -1]).abs().max() > 1e-2


def test_t5_logits_match(t5, pixels):
    path, hf, tok = t5
    ours = load_fp32(str(path))
    ids, mask = _t5_inputs(tok, PROMPTS)
    dec = torch.tensor([[0, 5, 9, 12], [0, 7, 7, 3]])
    with torch.no_grad():
        want = hf(pixel_values=pixels, input_ids=ids, attention_mask=mask, decoder_input_ids=dec).logits
        text, text_mask = ours.codec.prompts(PROMPTS, left=False)
        got = ours.logits(pixels, text, text_mask, decoder_ids=dec)
    assert (got - want).abs().max() < 1e-4
    assert (want[0, 0] - want[1, 0]).abs().max() > 1e-2


def test_legacy_checkpoint_prepends_the_same_queries(opt, pixels, tmp_path):
    """A checkpoint from before image tokens (no image_token_index) gives the same text."""
    path, _, _ = opt
    legacy = tmp_path / "legacy"
    shutil.copytree(path, legacy)
    cfg = json.loads((legacy / "config.json").read_text())
    cfg.pop("image_token_index", None)
    (legacy / "config.json").write_text(json.dumps(cfg))
    decode = DecodeConfig(num_beams=3, max_new_tokens=6, min_new_tokens=1)
    assert load_fp32(str(legacy)).generate_ids(pixels, PROMPTS, decode).tolist() == \
        load_fp32(str(path)).generate_ids(pixels, PROMPTS, decode).tolist()


def test_frozen_parts_stay_in_eval_mode(opt):
    path, _, _ = opt
    model = load_fp32(str(path)).train()
    assert not model.visual.training and not model.llm.training and not model.llm.lm.training
    assert model.qformer.training and model.ln_vision.training
    assert not any(p.requires_grad for p in model.visual.parameters())
    assert not any(p.requires_grad for p in model.llm.parameters())
    assert all(p.requires_grad for p in model.qformer.parameters())


def test_non_zero_key_bias_is_refused(opt, tmp_path):
    from safetensors.torch import load_file, save_file

    path, _, _ = opt
    bad = tmp_path / "kbias"
    shutil.copytree(path, bad)
    state = load_file(bad / "model.safetensors")
    key = "vision_model.encoder.layers.0.self_attn.qkv.bias"
    state[key] = state[key] + 1.0
    save_file(state, bad / "model.safetensors", metadata={"format": "pt"})
    with pytest.raises(BlipctlError, match="key part of the qkv bias is not zero") as e:
        load_fp32(str(bad))
    assert key in str(e.value) and "\n" not in str(e.value)


def test_bf16_frozen_parts_keep_the_q_former_in_fp32(opt, pixels):
    """bf16 for the frozen tower and LM (the default where this machine computes bf16 fast):
    the trainable parts stay fp32, and the logits stay near the fp32 model's."""
    path, _, tok = opt
    from blipctl.checkpoints.load import load_model

    half = load_model(str(path), frozen_dtype=torch.bfloat16)
    full = load_fp32(str(path))
    for part in (half.visual, half.llm):
        assert {p.dtype for p in part.parameters()} == {torch.bfloat16}
    for part in (half.qformer, half.proj, half.ln_vision):
        assert {p.dtype for p in part.parameters()} == {torch.float32}
    ids, mask = full.codec.prompts(PROMPTS, left=True)
    with torch.no_grad():
        a, b = half.logits(pixels, ids, mask).float(), full.logits(pixels, ids, mask)
    real = torch.cat([torch.ones(2, N_QUERY), mask], 1).bool()
    assert (a[real] - b[real]).abs().max() < 0.05 * b[real].abs().max()
    assert half.generate_ids(pixels, PROMPTS, DecodeConfig(num_beams=1, max_new_tokens=3)).shape[0] == 2


@pytest.mark.parametrize("family", ["opt", "t5"])
def test_cli_vqa_decodes_as_the_paper(family, opt, t5, tmp_path):
    """`blipctl vqa` on BLIP-2: "Question: {} Short answer:", 5 beams, 1-10 new tokens, length
    penalty 0 (OPT) or -1 (Flan-T5), and transformers' tokens for that decoding."""
    import json

    import numpy as np
    from conftest import run_cli
    from PIL import Image

    from blipctl.data.images import load_rgb, preprocess

    path, hf, tok = opt if family == "opt" else t5
    model = load_fp32(str(path))
    d = model.answer_decode
    lp = 0.0 if family == "opt" else -1.0
    assert (d.num_beams, d.max_length, d.min_length, d.length_penalty) == (5, 10, 1, lp)
    Image.fromarray((np.random.RandomState(1).rand(30, 30, 3) * 255).astype("uint8")).save(tmp_path / "q.png")
    question = "what colour is the star?"
    r = run_cli("vqa", str(tmp_path / "q.png"), question, "--model", str(path), "--dtype", "fp32",
                "--format", "jsonl")
    assert r.returncode == 0, r.stderr
    pixels = preprocess(load_rgb(str(tmp_path / "q.png")), 30)[None]
    prompt = [f"Question: {question} Short answer:"]
    ids, mask = hf_inputs(tok, prompt) if family == "opt" else _t5_inputs(tok, prompt)
    want = _theirs(hf, ids, mask, pixels, DecodeConfig(num_beams=5, max_new_tokens=10, min_new_tokens=1,
                                                       length_penalty=d.length_penalty), family == "t5")
    text = tok.batch_decode(want, skip_special_tokens=True)[0].strip()
    assert text and json.loads(r.stdout)["answer"] == text
