"""The BLIP tokenizer, built offline from the bert-base-uncased vocab shipped with blipctl.

BLIP adds `[DEC]` as the bos token (id 30522) that starts decoder input, and `[ENC]`
(id 30523) that replaces [CLS] for the image-grounded encoder: 30,524 tokens in all. A smaller
vocab file (`blipctl.text.vocab`) gets the two after its own tokens.
"""

from __future__ import annotations

from pathlib import Path

from blipctl.errors import BlipctlError

VOCAB_FILE = Path(__file__).resolve().parents[1] / "assets" / "bert-base-uncased-vocab.txt"
DEC_TOKEN = "[DEC]"
ENC_TOKEN = "[ENC]"


def read_vocab(path: str | Path = VOCAB_FILE) -> dict[str, int]:
    """token -> id, one token per line as BERT's own loader reads it."""
    try:
        with open(path, encoding="utf-8") as f:
            return {line.rstrip("\n"): i for i, line in enumerate(f)}
    except OSError as e:
        raise BlipctlError(f"{path}: cannot read the vocab file ({e.strerror})") from None


def blip_tokenizer(vocab_file: str | Path = VOCAB_FILE):
    """A BertTokenizer with BLIP's [DEC] (bos) and [ENC] tokens; `.enc_token_id` is set.

    transformers 5 ignores `vocab_file=`, so the vocab is passed as a dict.
    """
    from transformers import BertTokenizer

    tok = BertTokenizer(vocab=read_vocab(vocab_file), do_lower_case=True)
    tok.add_special_tokens({"bos_token": DEC_TOKEN})
    tok.add_tokens([ENC_TOKEN], special_tokens=True)
    tok.enc_token_id = tok.convert_tokens_to_ids(ENC_TOKEN)
    return tok
