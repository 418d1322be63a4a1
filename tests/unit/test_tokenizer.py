from __future__ import annotations

import hashlib

from blipctl.text.tokenizer import VOCAB_FILE, blip_tokenizer, read_vocab


def test_shipped_vocab_is_bert_base_uncased():
    assert hashlib.md5(VOCAB_FILE.read_bytes()).hexdigest().startswith("64800d5d")
    assert len(read_vocab()) == 30522


def test_known_encoding_and_blip_tokens():
    tok = blip_tokenizer()
    ids = tok("of a person spraying water from a fountain").input_ids
    assert ids[0] == tok.cls_token_id == 101
    assert ids[1:] == [1997, 1037, 2711, 29035, 2300, 2013, 1037, 9545, 102]
    assert len(tok) == 30524
    assert tok.bos_token == "[DEC]" and tok.bos_token_id == 30522
    assert tok.enc_token_id == 30523 == tok.convert_tokens_to_ids("[ENC]")
    assert tok.pad_token_id == 0 and tok.sep_token_id == 102
    # special tokens are kept whole, and skipped when decoding
    assert tok("[DEC] a red circle").input_ids[1:3] == [30522, 1037]
    assert tok.decode([30522, 1037, 2417, 4418, 102], skip_special_tokens=True) == "a red circle"
