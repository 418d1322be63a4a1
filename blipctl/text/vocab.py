"""A corpus's own vocabulary: the bert-base-uncased tokens its texts use, for small models.

The LM head of a tiny model scores every token of the vocabulary at every position: over
BERT's 30,524 tokens that is most of a mini pretraining step, though the synthetic corpus uses
under 400 of them. `corpus_vocab` keeps the tokens the texts tokenize into, every printable
ASCII character (alone and as `##` continuation, so any text still tokenizes without [UNK]) and
BERT's special tokens, in BERT's order, padded with `[unusedN]` to a fixed size.
"""

from __future__ import annotations

import string
from collections.abc import Iterable
from pathlib import Path

from blipctl.errors import ConfigError
from blipctl.text.tokenizer import VOCAB_FILE, blip_tokenizer, read_vocab

SPECIAL = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
ADDED = 2  # blip_tokenizer appends [DEC] and [ENC]


def _is_char(token: str) -> bool:
    bare = token[2:] if token.startswith("##") else token
    return len(bare) == 1 and bare in string.printable and not bare.isspace()


def corpus_vocab(texts: Iterable[str], vocab_size: int, base: str | Path = VOCAB_FILE) -> list[str]:
    """The vocab file's lines (vocab_size - 2 tokens; [DEC] and [ENC] make vocab_size ids)."""
    tok = blip_tokenizer(base)
    used = set(SPECIAL)
    for text in texts:
        used.update(tok.tokenize(text))
    order = read_vocab(base)
    keep = sorted({t for t in order if t in used or _is_char(t)}, key=order.__getitem__)
    room = vocab_size - ADDED
    if len(keep) > room:
        raise ConfigError(f"vocab_size: the texts need {len(keep) + ADDED} ids, got {vocab_size}")
    pad = (f"[unused{i}]" for i in range(vocab_size) if f"[unused{i}]" not in keep)
    return keep + [next(pad) for _ in range(room - len(keep))]
