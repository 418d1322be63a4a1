"""BLIP-2 checkpoints both ways: LAVIS `.pth` state dicts and transformers directories
round-trip bit-exactly, and a LAVIS checkpoint gives the outputs of its transformers conversion
(here: the transformers checkpoint it was written from)."""

from __future__ import annotations

import pytest
import torch
from blip2_fixtures import (
    LAVIS_QFORMER,
    LAVIS_VISION,
    blip2_opt,
    blip2_retrieval,
    hf_inputs,
    load_fp32,
    score_gaps,
)

from blipctl.checkpoints.formats import lavis_blip2
from blipctl.checkpoints.formats.blip_pth import read_pth
from blipctl.decode import DecodeConfig
from blipctl.errors import BlipctlError
from blipctl.models.blip2 import Blip2Generator, Blip2Retrieval

TEXTS = ["a red circle on a gray background", "two blue stars", "an orange triangle"]


@pytest.fixture(scope="module")
def itm(tmp_path_factory):
    """(transformers retrieval model, its LAVIS .pth written by blipctl)."""
    root = tmp_path_factory.mktemp("lavis_itm")
    hf = blip2_retrieval(root / "hf", LAVIS_VISION, LAVIS_QFORMER)
    pth = root / "blip2.pth"
    lavis_blip2.save(load_fp32(str(root / "hf")), pth)
    return hf, pth


@pytest.fixture(scope="module")
def opt(tmp_path_factory):
    """(transformers OPT model, tokenizer, LAVIS .pth, the LM's own directory)."""
    root = tmp_path_factory.mktemp("lavis_opt")
    hf, tok = blip2_opt(root / "hf", LAVIS_VISION, LAVIS_QFORMER, std=0.1)  # wider: smaller weights
    hf.language_model.save_pretrained(root / "opt")
    tok.save_pretrained(root / "opt")
    pth = root / "blip2_opt.pth"
    lavis_blip2.save(load_fp32(str(root / "hf")), pth)
    return hf, tok, pth, root / "opt"


def _bit_exact(a: dict, b: dict) -> None:
    assert sorted(a) == sorted(b)
    for k in a:
        assert a[k].dtype == b[k].dtype and torch.equal(a[k], b[k]), k


def test_q_former_checkpoint_round_trips_bit_exactly(itm, tmp_path):
    _, pth = itm
    theirs = read_pth(pth)
    assert {"visual_encoder.blocks.0.attn.q_bias", "Qformer.bert.embeddings.LayerNorm.weight"} <= set(theirs)
    # a stage-1 checkpoint also holds ITG's head: give it one, tied as LAVIS ties it
    g = torch.Generator().manual_seed(0)
    width = theirs["query_tokens"].shape[-1]
    vocab = theirs["Qformer.bert.embeddings.word_embeddings.weight"].shape[0]
    theirs.update({"Qformer.cls.predictions.transform.dense.weight": torch.randn(width, width, generator=g),
                   "Qformer.cls.predictions.transform.dense.bias": torch.randn(width, generator=g),
                   "Qformer.cls.predictions.transform.LayerNorm.weight": torch.randn(width, generator=g),
                   "Qformer.cls.predictions.transform.LayerNorm.bias": torch.randn(width, generator=g),
                   "Qformer.cls.predictions.bias": torch.randn(vocab, generator=g)})
    words = theirs["Qformer.bert.embeddings.word_embeddings.weight"]
    theirs["Qformer.cls.predictions.decoder.weight"] = words
    theirs["Qformer.cls.predictions.decoder.bias"] = theirs["Qformer.cls.predictions.bias"]
    theirs["temp"] = torch.tensor(0.0625)
    model = lavis_blip2.from_state(theirs, "stage1.pth", frozen_dtype=torch.float32)
    assert isinstance(model, Blip2Retrieval) and model.lm_head is not None
    _bit_exact(lavis_blip2.lavis_state(model), theirs)
    lavis_blip2.save(model, tmp_path / "again.pth")
    _bit_exact(read_pth(tmp_path / "again.pth"), theirs)


def test_q_former_checkpoint_scores_as_transformers(itm):
    hf, pth = itm
    ours = load_fp32(str(pth))
    assert isinstance(ours, Blip2Retrieval)
    itc_gap, itm_gap, spread = score_gaps(hf, ours, TEXTS, 2)
    # LAVIS's ln_vision has eps 1e-5 where transformers' post_layernorm has 1e-6
    assert itc_gap < 1e-4 and itm_gap < 1e-4 and spread > 1e-2


def test_opt_checkpoint_with_its_llm_generates_as_transformers(opt):
    hf, tok, pth, llm = opt
    theirs = read_pth(pth)
    assert "opt_proj.weight" in theirs
    assert not any(k.startswith(("opt_model", "language_model")) for k in theirs)  # no LM weights
    ours = load_fp32(str(pth), llm=str(llm))
    assert isinstance(ours, Blip2Generator)
    _bit_exact(lavis_blip2.lavis_state(ours), theirs)
    torch.manual_seed(0)
    pixels = torch.randn(2, 3, 30, 30)
    prompts = ["", "Question: what colour is the star? Short answer:"]
    ids, mask = hf_inputs(tok, prompts)
    decode = DecodeConfig(num_beams=3, max_new_tokens=6, min_new_tokens=1, length_penalty=0.0)
    want = hf.generate(pixel_values=pixels, input_ids=ids, attention_mask=mask, num_beams=3,
                       max_new_tokens=6, min_new_tokens=1, length_penalty=0.0, do_sample=False)
    got = ours.generate_ids(pixels, prompts, decode)
    assert got.tolist() == want[:, ids.shape[1]:].tolist()
    assert got[0].tolist() != got[1].tolist()


def test_llm_is_required_and_only_for_lavis(opt, itm):
    _, _, pth, llm = opt
    with pytest.raises(BlipctlError, match="holds no LM weights; name the LM's directory or Hub id"):
        load_fp32(str(pth))
    with pytest.raises(BlipctlError, match="is a Q-Former checkpoint"):
        load_fp32(str(itm[1]), llm=str(llm))
    with pytest.raises(BlipctlError, match="only a LAVIS BLIP-2 checkpoint takes an LM apart"):
        load_fp32(str(llm), llm=str(llm))


def test_cli_exports_lavis_and_captions_with_llm(opt, tmp_path):
    import json

    import numpy as np
    from conftest import run_cli
    from PIL import Image

    hf, tok, _, llm = opt
    hf_dir = llm.parent / "hf"
    pth = tmp_path / "exported.pth"
    r = run_cli("export", "--model", str(hf_dir), "--to", "lavis", "--out", str(pth))
    assert r.returncode == 0, r.stderr
    _bit_exact(read_pth(pth), read_pth(opt[2]))
    Image.fromarray((np.random.RandomState(0).rand(30, 30, 3) * 255).astype("uint8")).save(tmp_path / "a.png")
    r = run_cli("caption", str(tmp_path / "a.png"), "--model", str(pth), "--llm", str(llm),
                "--num-beams", "1", "--max-length", "8", "--min-length", "2", "--format", "jsonl",
                "--dtype", "fp32")
    assert r.returncode == 0, r.stderr
    got = json.loads(r.stdout)["caption"]
    from blipctl.data.images import load_rgb, preprocess

    ours = load_fp32(str(hf_dir))
    pixels = preprocess(load_rgb(str(tmp_path / "a.png")), 30)[None]
    assert got == ours.caption(pixels, "", DecodeConfig(num_beams=1, max_length=8, min_length=2))[0]
    r = run_cli("caption", str(tmp_path / "a.png"), "--model", str(pth))
    assert r.returncode != 0 and "--llm" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.parametrize("which", ["opt", "t5", "itm"])
def test_hf_export_round_trips_bit_exactly(which, tmp_path):
    """transformers directory -> blipctl -> `export --to hf`: the same tensors, a config that
    transformers builds the same model from, and the same tokens or scores."""
    from blip2_fixtures import blip2_t5
    from safetensors.torch import load_file
    from transformers import Blip2ForConditionalGeneration, Blip2ForImageTextRetrieval

    from blipctl.checkpoints.formats import hf_blip2

    src = tmp_path / "src"
    made = {"opt": lambda: blip2_opt(src)[0], "t5": lambda: blip2_t5(src)[0],
            "itm": lambda: blip2_retrieval(src)}[which]()
    ours = load_fp32(str(src))
    hf_blip2.save(ours, tmp_path / "out")
    _bit_exact(load_file(tmp_path / "out" / "model.safetensors"), load_file(src / "model.safetensors"))
    cls = Blip2ForImageTextRetrieval if which == "itm" else Blip2ForConditionalGeneration
    again = cls.from_pretrained(tmp_path / "out").eval()
    assert again.config.to_dict()["num_query_tokens"] == made.config.num_query_tokens
    torch.manual_seed(0)
    pixels = torch.randn(2, 3, 30, 30)
    if which == "itm":
        assert score_gaps(again, ours, TEXTS, 2)[:2] == score_gaps(made, ours, TEXTS, 2)[:2]
        return
    reread = load_fp32(str(tmp_path / "out"))
    decode = DecodeConfig(num_beams=3, max_new_tokens=5, min_new_tokens=1)
    prompts = ["", "a photo of"]
    got = reread.generate_ids(pixels, prompts, decode)
    assert got.tolist() == ours.generate_ids(pixels, prompts, decode).tolist()
    with torch.no_grad():
        for a, b in zip(again.state_dict().values(), made.state_dict().values(), strict=True):
            assert torch.equal(a, b)


def test_lavis_export_refuses_heads_it_cannot_record(tmp_path):
    src = tmp_path / "src"
    blip2_retrieval(src)  # 32-wide EVA with 4 heads of 8: a LAVIS file would be read with heads of 88
    with pytest.raises(BlipctlError, match="records no head count") as e:
        lavis_blip2.save(load_fp32(str(src)), tmp_path / "x.pth")
    assert "\n" not in str(e.value) and not (tmp_path / "x.pth").exists()
