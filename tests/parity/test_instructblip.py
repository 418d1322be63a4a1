"""InstructBLIP with Flan-T5 and with a LLaMA/Vicuna-shaped LM: blipctl against transformers'
InstructBlipForConditionalGeneration on checkpoints transformers saves (tiny, re-initialised,
LM tokenizers trained here; the Q-Former reads bert-base-uncased ids)."""

from __future__ import annotations

import pytest
import torch
from blip2_fixtures import hf_inputs, instructblip, load_fp32
from test_blip2_generate import _same_tokens, _t5_inputs

from blipctl.decode import DecodeConfig
from blipctl.models.blip2 import InstructBlip

INSTRUCTIONS = ["what is in the picture?", "Question: what colour is the star? Short answer:"]


@pytest.fixture(scope="module", params=["t5", "llama"])
def saved(request, tmp_path_factory):
    out = tmp_path_factory.mktemp(f"instructblip_{request.param}")
    return (out, *instructblip(out, request.param))


@pytest.fixture(scope="module")
def pixels():
    torch.manual_seed(0)
    return torch.randn(2, 3, 30, 30)


def _hf_inputs(ours, tok, instructions):
    """(Q-Former ids and mask, LM ids and mask) as InstructBlipProcessor builds them."""
    q_ids, q_mask = ours.qformer_codec.encode(instructions, "text", 128, truncation_side="left")
    ids, mask = _t5_inputs(tok, instructions) if ours.llm.encoder_decoder else hf_inputs(tok, instructions)
    return q_ids, q_mask, ids, mask


@pytest.mark.parametrize("beams", [1, 5])
def test_instructblip_generates_transformers_tokens(saved, pixels, beams):
    path, hf, tok = saved
    ours = load_fp32(str(path))
    assert isinstance(ours, InstructBlip)
    q_ids, q_mask, ids, mask = _hf_inputs(ours, tok, INSTRUCTIONS)
    decode = DecodeConfig(num_beams=beams, max_new_tokens=8, min_new_tokens=1, length_penalty=1.0)
    out = hf.generate(pixel_values=pixels, qformer_input_ids=q_ids, qformer_attention_mask=q_mask,
                      input_ids=ids, attention_mask=mask, do_sample=False, num_beams=beams, max_new_tokens=8,
                      min_new_tokens=1, length_penalty=1.0)
    want = out[:, 1:] if ours.llm.encoder_decoder else out[:, ids.shape[1]:]
    got = ours.generate_ids(pixels, INSTRUCTIONS, decode)
    _same_tokens(got, want, tok.pad_token_id)
    assert want[0].tolist() != want[1].tolist()


def test_the_queries_read_the_instruction_and_logits_match(saved, pixels):
    path, hf, tok = saved
    ours = load_fp32(str(path))
    same_image = pixels[:1].expand(2, -1, -1, -1)
    prefix = ours.prefix(same_image, INSTRUCTIONS)
    assert (prefix[0] - prefix[1]).abs().max() > 1e-3  # one image, two instructions, two prefixes
    q_ids, q_mask, ids, mask = _hf_inputs(ours, tok, INSTRUCTIONS)
    kwargs = dict(pixel_values=pixels, qformer_input_ids=q_ids, qformer_attention_mask=q_mask)
    if ours.llm.encoder_decoder:
        dec = torch.tensor([[0, 5, 9, 11], [0, 7, 7, 3]])
        want = hf(**kwargs, input_ids=ids, attention_mask=mask, decoder_input_ids=dec).logits
        lm_ids, lm_mask = ours.codec.prompts(INSTRUCTIONS, left=False)
        got = ours.llm.logits(ours.prefix(pixels, INSTRUCTIONS), lm_ids, lm_mask, dec)
    else:
        want = hf(**kwargs, input_ids=ids, attention_mask=mask).logits
        lm_ids, lm_mask = ours.codec.prompts(INSTRUCTIONS, left=True)
        got = ours.llm.logits(ours.prefix(pixels, INSTRUCTIONS), lm_ids, lm_mask)
        # transformers' rows: [pads; image tokens; prompt]; ours: [queries; pads; prompt]: compare
        # the prompt positions, which both end with
        want, got = want[:, -lm_ids.shape[1]:], got[:, -lm_ids.shape[1]:]
        keep = lm_mask.bool()
        want, got = want[keep], got[keep]
    assert (got - want).abs().max() < 1e-4
    assert want.std() > 1e-2


def test_cli_vqa_instruction_gives_transformers_tokens(saved, tmp_path):
    """`blipctl vqa --instruction` on InstructBLIP (greedy and 5 beams): the instruction, the
    question in its {}, goes to the Q-Former and to the LM, and the answer is transformers'."""
    import json

    import numpy as np
    from conftest import run_cli
    from PIL import Image

    from blipctl.data.images import load_rgb, preprocess

    path, hf, tok = saved
    ours = load_fp32(str(path))
    Image.fromarray((np.random.RandomState(1).rand(30, 30, 3) * 255).astype("uint8")).save(tmp_path / "q.png")
    pixels = preprocess(load_rgb(str(tmp_path / "q.png")), 30)[None]
    question, template = "what colour is the star?", "Look at the picture. {} Answer briefly."
    for beams in (1, 5):
        r = run_cli("vqa", str(tmp_path / "q.png"), question, "--model", str(path), "--dtype", "fp32",
                    "--instruction", template, "--num-beams", str(beams), "--length-penalty", "1",
                    "--format", "jsonl")
        assert r.returncode == 0, r.stderr
        q_ids, q_mask, ids, mask = _hf_inputs(ours, tok, [template.format(question)])
        out = hf.generate(pixel_values=pixels, qformer_input_ids=q_ids, qformer_attention_mask=q_mask,
                          input_ids=ids, attention_mask=mask, do_sample=False, num_beams=beams,
                          max_new_tokens=10, min_new_tokens=1, length_penalty=1.0)
        want = out[:, 1:] if ours.llm.encoder_decoder else out[:, ids.shape[1]:]
        text = tok.batch_decode(want, skip_special_tokens=True)[0].strip()
        assert text and json.loads(r.stdout)["answer"] == text
    bad = run_cli("vqa", str(tmp_path / "q.png"), question, "--model", str(path), "--instruction", "no slot")
    assert bad.returncode != 0 and "{}" in bad.stderr and "Traceback" not in bad.stderr


def test_cli_caption_instruction_gives_transformers_tokens(saved, tmp_path):
    """`blipctl caption --instruction`: the instruction goes to the Q-Former and to the LM, and
    the caption is what transformers generates for it (3 beams; the lengths count the caption's
    own tokens, as an answer's do)."""
    import json

    import numpy as np
    from conftest import run_cli
    from PIL import Image

    from blipctl.data.images import load_rgb, preprocess

    path, hf, tok = saved
    ours = load_fp32(str(path))
    Image.fromarray((np.random.RandomState(2).rand(30, 30, 3) * 255).astype("uint8")).save(tmp_path / "c.png")
    pixels = preprocess(load_rgb(str(tmp_path / "c.png")), 30)[None]
    instruction = "A short image description:"
    r = run_cli("caption", str(tmp_path / "c.png"), "--model", str(path), "--dtype", "fp32", "--instruction",
                instruction, "--max-length", "12", "--min-length", "4", "--format", "jsonl")
    assert r.returncode == 0, r.stderr
    q_ids, q_mask, ids, mask = _hf_inputs(ours, tok, [instruction])
    out = hf.generate(pixel_values=pixels, qformer_input_ids=q_ids, qformer_attention_mask=q_mask,
                      input_ids=ids, attention_mask=mask, do_sample=False, num_beams=3,
                      max_new_tokens=12, min_new_tokens=4)
    want = out[:, 1:] if ours.llm.encoder_decoder else out[:, ids.shape[1]:]
    text = tok.batch_decode(want, skip_special_tokens=True)[0].strip()
    assert text and json.loads(r.stdout)["caption"] == text
    image = str(tmp_path / "c.png")
    other = run_cli("caption", image, "--model", str(path), "--dtype", "fp32", "--max-length", "12",
                    "--instruction", "Question: what colour is the star? Short answer:", "--format", "jsonl")
    assert json.loads(other.stdout)["caption"] != text  # the instruction is read
    both = run_cli("caption", image, "--model", str(path), "--instruction", "x", "--prompt", "y")
    assert both.returncode != 0 and "give one" in both.stderr and "Traceback" not in both.stderr


def test_export_to_hf_round_trips_bit_exactly_and_transformers_reads_it(saved, tmp_path):
    """`export --to hf` of an InstructBLIP model: transformers' InstructBlipForConditionalGeneration
    and InstructBlipProcessor load the directory; every tensor equals the source's, and the
    processor's Q-Former tokenizer writes the ids blipctl's Q-Former reads."""
    from conftest import run_cli
    from safetensors.torch import load_file
    from transformers import InstructBlipForConditionalGeneration, InstructBlipProcessor

    path, hf, _ = saved
    r = run_cli("export", "--model", str(path), "--to", "hf", "--out", str(tmp_path / "out"))
    assert r.returncode == 0, r.stderr
    want = load_file(str(path / "model.safetensors"))
    got = load_file(str(tmp_path / "out" / "model.safetensors"))
    assert sorted(got) == sorted(want)
    assert all(torch.equal(got[k], want[k]) for k in want)
    again = InstructBlipForConditionalGeneration.from_pretrained(str(tmp_path / "out"))
    assert type(again.language_model) is type(hf.language_model)
    processor = InstructBlipProcessor.from_pretrained(str(tmp_path / "out"))
    ours = load_fp32(str(tmp_path / "out"))
    assert isinstance(ours, InstructBlip)
    q = processor.qformer_tokenizer(INSTRUCTIONS, padding="longest", return_tensors="pt")
    ids, mask = ours.qformer_codec.encode(INSTRUCTIONS, "text", 128, truncation_side="left")
    assert torch.equal(q.input_ids, ids) and torch.equal(q.attention_mask, mask)
    assert len(processor.qformer_tokenizer) == 30523 and processor.qformer_tokenizer.bos_token == "[DEC]"


@pytest.mark.parametrize("lm", ["t5", "llama"])
def test_lavis_instruct_checkpoint_round_trips_and_generates_as_transformers(lm, tmp_path):
    """blip2_t5_instruct (`t5_proj`) and blip2_vicuna_instruct (`llm_proj`): written from the
    transformers checkpoint, read back bit-exactly with the LM named by --llm, and generating
    transformers' tokens."""
    from blip2_fixtures import LAVIS_QFORMER, LAVIS_VISION

    from blipctl.checkpoints.formats import lavis_blip2
    from blipctl.checkpoints.formats.blip_pth import read_pth

    hf, tok = instructblip(tmp_path / "hf", lm, LAVIS_VISION, {**LAVIS_QFORMER, "vocab_size": 30523})
    hf.language_model.save_pretrained(tmp_path / "lm")
    tok.save_pretrained(tmp_path / "lm")
    pth = tmp_path / "instruct.pth"
    lavis_blip2.save(load_fp32(str(tmp_path / "hf")), pth)
    theirs = read_pth(pth)
    proj = "t5_proj" if lm == "t5" else "llm_proj"
    assert {f"{proj}.weight", "Qformer.bert.embeddings.word_embeddings.weight",
            "Qformer.bert.encoder.layer.0.intermediate.dense.weight"} <= set(theirs)
    assert not any(k.startswith(("t5_model", "llm_model", "language_model", "Qformer.cls")) for k in theirs)
    ours = load_fp32(str(pth), llm=str(tmp_path / "lm"))
    assert isinstance(ours, InstructBlip)
    again = lavis_blip2.lavis_state(ours)
    assert sorted(again) == sorted(theirs) and all(torch.equal(again[k], theirs[k]) for k in theirs)
    torch.manual_seed(0)
    pixels = torch.randn(2, 3, 30, 30)
    q_ids, q_mask, ids, mask = _hf_inputs(ours, tok, INSTRUCTIONS)
    out = hf.generate(pixel_values=pixels, qformer_input_ids=q_ids, qformer_attention_mask=q_mask,
                      input_ids=ids, attention_mask=mask, do_sample=False, num_beams=3, max_new_tokens=6,
                      min_new_tokens=1)
    want = out[:, 1:] if lm == "t5" else out[:, ids.shape[1]:]
    decode = DecodeConfig(num_beams=3, max_new_tokens=6, min_new_tokens=1)
    got = ours.generate_ids(pixels, INSTRUCTIONS, decode)
    _same_tokens(got, want, tok.pad_token_id)
    assert want[0].tolist() != want[1].tolist()


@pytest.mark.parametrize("lm", ["t5", "llama"])
def test_instruction_tuning_loss_equals_transformers_with_labels(lm, tmp_path):
    """InstructBLIP's training loss: the response (and its end token) after the queries and the
    instruction, which the Q-Former reads too; transformers' loss with LAVIS's labels."""
    from blipctl.tasks.blip2_vqa import PrefixVQA
    from blipctl.tasks.context import Context

    hf, tok = instructblip(tmp_path, lm)
    ours = load_fp32(str(tmp_path)).train()
    torch.manual_seed(0)
    pixels = torch.randn(2, 3, 30, 30)
    batch = {"image": pixels, "question": ["what colour is the star?", "how many shapes?"],
             "answers": [["red"], ["two"]], "weights": [[1.0], [1.0]]}
    task = PrefixVQA(prompt="Question: {} Short answer:", max_length=128)  # nothing truncated
    got = task.losses(ours, batch, Context(torch.device("cpu")))["loss"]
    want = 0.0
    for b in range(2):
        instruction = f"Question: {batch['question'][b]} Short answer: "
        q_ids, q_mask = ours.qformer_codec.encode([instruction], "text", 128, truncation_side="left")
        image = [tok.convert_tokens_to_ids("<image>")] * 10
        if lm == "t5":
            labels = torch.tensor([tok(batch["answers"][b][0]).input_ids])
            out = hf(pixel_values=pixels[b:b + 1], qformer_input_ids=q_ids, qformer_attention_mask=q_mask,
                     input_ids=torch.tensor([image + tok(instruction).input_ids]), labels=labels)
        else:
            text = tok(instruction.rstrip()).input_ids
            answer = tok(" " + batch["answers"][b][0], add_special_tokens=False).input_ids + [ours.eos]
            ids = torch.tensor([image + text + answer])
            labels = torch.tensor([[-100] * (len(image) + len(text)) + answer])
            out = hf(pixel_values=pixels[b:b + 1], qformer_input_ids=q_ids, qformer_attention_mask=q_mask,
                     input_ids=ids, labels=labels)
        want += out.loss.item() * (labels != -100).sum().item()  # the mean back to the sum
    assert abs(got.item() - want / 2) < 1e-4, (got.item(), want / 2)
