"""The BLIP text codec: start tokens per part of the model, prompts, and what checkpoints record."""

from __future__ import annotations

import torch

from blipctl.config.schema import instantiate
from blipctl.text.codecs import BlipText

CLS, SEP, DEC, ENC = 101, 102, 30522, 30523


def test_each_part_reads_the_text_from_its_own_start_token():
    enc, cls = BlipText(), BlipText(grounded_start="[CLS]")
    texts = ["a red circle", "two green stars on grass"]
    ids, mask = enc.encode(texts, "text")
    assert ids[:, 0].tolist() == [CLS, CLS] and mask.sum(1).tolist() == [5, 7]
    assert ids[0, 4] == SEP and ids[0, 5:].tolist() == [0, 0]
    assert enc.encode(texts, "grounded")[0][:, 0].tolist() == [ENC, ENC]
    assert cls.encode(texts, "grounded")[0][:, 0].tolist() == [CLS, CLS]
    assert enc.encode(texts, "decoder")[0][:, 0].tolist() == [DEC, DEC]
    for start in ("text", "grounded", "decoder"):  # restart == encoding for that start
        assert torch.equal(enc.restart(ids, start), enc.encode(texts, start)[0])
    assert ids[:, 0].tolist() == [CLS, CLS]  # restart copies
    short, _ = enc.encode(texts, "text", max_length=4)
    assert short.shape == (2, 4) and short[:, -1].tolist() == [SEP, SEP]


def test_prompts_continue_from_dec_and_are_stripped():
    c = BlipText()
    p = c.prompt_ids("a picture of ")
    assert p.tolist() == [DEC, 1037, 3861, 1997] and c.prompt_length("a picture of ") == 4
    assert c.decode(torch.tensor([[DEC, 1037, 3861, 1997, 1037, 2417, 4418, SEP, 0]])) == \
        ["a picture of a red circle"]
    assert c.strip_prompt("a picture of a red circle", "a picture of ") == "a red circle"
    assert c.strip_prompt("a red circle", "a picture of ") == "a red circle"


def test_the_recorded_codec_builds_the_same_codec():
    c = BlipText(grounded_start="[CLS]")
    assert instantiate(c.metadata()) == c


def test_a_qformer_codec_needs_rows_for_bert_and_dec_only():
    """BLIP-2's Q-Former has 30523 token rows (BERT's and [DEC]): a [CLS]-grounded codec writes no
    [ENC], so it fits; a smaller vocab is refused in one line."""
    import pytest

    from blipctl.errors import ConfigError
    from blipctl.models.builders import blip2_stage1, qformer_tiny, vit_tiny
    from blipctl.models.vit import ViT
    from blipctl.tasks.check import check_codec

    assert BlipText(grounded_start="[CLS]").id_count == 30523 and BlipText().id_count == 30524
    model = blip2_stage1(ViT(vit_tiny(32)), qformer_tiny(vocab_size=30523), embed_dim=8)
    check_codec(model)
    small = blip2_stage1(ViT(vit_tiny(32)), qformer_tiny(vocab_size=512), embed_dim=8)
    with pytest.raises(ConfigError, match="30523 ids but the model's vocab_size is 512"):
        check_codec(small)


def test_lm_training_rows_keep_the_target_when_the_input_is_long(tmp_path):
    """LMText.joined: [BOS input][target END], each truncated apart (the input from the left),
    the input's trailing space moved to the target, as LAVIS's concat_text_input_output."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from blip2_fixtures import opt_tokenizer

    from blipctl.text.codecs import LMText

    tok = opt_tokenizer(tmp_path)
    codec = LMText(str(tmp_path))
    long = "a small red circle to the left of a large blue square on a white background "
    ids, mask, lengths = codec.joined([long, "a photo of ", ""], ["two stars", "a cat", "a cat"], 12, end=99)
    rows = [r[m.bool()].tolist() for r, m in zip(ids, mask, strict=True)]
    assert all(r[-1] == 99 for r in rows)  # every target ends, however long its input
    assert len(tok(long).input_ids) > 12 and len(tok("a photo of").input_ids) < 12
    assert lengths.tolist() == [12, len(tok("a photo of").input_ids), 0]
    assert rows[0][12:-1] == tok(" two stars", add_special_tokens=False).input_ids
    whole = tok("a photo of a cat").input_ids  # the same tokens as the text written whole
    assert rows[1][:-1] == whole and rows[2][:-1] == tok("a cat").input_ids
    # a target may have its own limit (InstructBLIP: 128 in, 256 out)
    ids, mask, lengths = codec.joined([long], [long], 12, end=99, max_target=20)
    row = ids[0][mask[0].bool()].tolist()
    assert lengths.tolist() == [12] and len(row) == 12 + 20 and row[-1] == 99
