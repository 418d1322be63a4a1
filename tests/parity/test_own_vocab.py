"""A model with its corpus's own vocab (the mini recipes'): transformers reads the export the
same way blipctl does, and blipctl's checkpoints carry the vocab."""

from __future__ import annotations

import shutil

import torch
from conftest import reinit

from blipctl.checkpoints.formats import hf_blip
from blipctl.checkpoints.load import load_model
from blipctl.decode import DecodeConfig
from blipctl.models.builders import blip_caption_tiny
from blipctl.text.codecs import BlipText


def _captioner(corpus, tmp_path):
    root, _ = corpus
    vocab = tmp_path / "vocab.txt"
    shutil.copyfile(root / "vocab.txt", vocab)
    model = blip_caption_tiny(image_size=32, vocab_size=512).eval()
    reinit(model, seed=4, std=0.2)  # images give different captions
    model.codec = BlipText(vocab_file=str(vocab))
    return model


def test_transformers_generates_what_blipctl_does_from_an_own_vocab_export(corpus, tmp_path, images):
    from transformers import BlipForConditionalGeneration, BlipProcessor

    ours = _captioner(corpus, tmp_path)
    codec = ours.codec
    assert (codec.bos, codec.tokenizer.enc_token_id, len(codec.tokenizer)) == (510, 511, 512)
    hf_blip.save(ours, tmp_path / "hf")
    hf = BlipForConditionalGeneration.from_pretrained(tmp_path / "hf").eval()
    processor = BlipProcessor.from_pretrained(tmp_path / "hf")
    text = "a picture of two red circles"
    assert processor.tokenizer(text).input_ids == codec.encode([text])[0][0].tolist()
    # transformers drops the prompt's [SEP] and puts its config's bos ([DEC]) in place of [CLS]
    prompt = processor.tokenizer("a picture of", return_tensors="pt").input_ids
    with torch.no_grad():
        want = hf.generate(pixel_values=images, input_ids=prompt.repeat(3, 1), num_beams=1,
                           min_length=5, max_length=12)
    got = ours.generate(images, codec.prompt_ids("a picture of"), DecodeConfig(num_beams=1, min_length=5,
                        max_length=12), eos=codec.eos, pad=codec.pad)
    assert got[:, 0].eq(510).all() and torch.equal(got, want)
    assert len({tuple(r) for r in got.tolist()}) > 1  # images give different captions

    back = load_model(str(tmp_path / "hf"))  # the vocab travels with the export
    assert back.codec.vocab_file == str(tmp_path / "hf" / "vocab.txt")
    assert torch.equal(back.generate(images, back.codec.prompt_ids("a picture of"),
                                     DecodeConfig(num_beams=1, min_length=5, max_length=12),
                                     eos=back.codec.eos, pad=back.codec.pad), got)


def test_a_run_loads_with_the_vocab_its_checkpoint_holds(pretrained, tmp_path):
    """The pretraining's codec read the test corpus's vocab.txt; the checkpoint keeps a copy."""
    run, _ = pretrained
    moved = tmp_path / "moved"
    shutil.copytree(run, moved)
    model = load_model(str(moved))
    (ckpt,) = (moved / "checkpoints").iterdir()
    assert model.codec.vocab_file == str(ckpt / "vocab.txt")
    assert model.decoder.embed.tok.num_embeddings == len(model.codec.tokenizer) == 512
    bert = BlipText().tokenizer
    text = "a large red circle above two small blue squares"
    assert model.codec.tokenizer.tokenize(text) == bert.tokenize(text)
