"""Small tokenizers shaped like BLIP-2's LMs', trained here with `tokenizers` on a corpus's text
and saved in the transformers format (the mini recipes' LMs use them; OPT's and Flan-T5's own
cannot be downloaded on an offline machine):

    opt_like   byte-level BPE; ids 0-3 <s> <pad> </s> <unk>; </s> starts every text, as OPT's does
    t5_like    SentencePiece-style metaspace pieces; ids 0-2 <pad> </s> <unk>; </s> ends every text
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

OPT_SPECIALS = ["<s>", "<pad>", "</s>", "<unk>"]  # OPT's ids 0-3: bos 0 unused, pad 1, eos 2
T5_SPECIALS = ["<pad>", "</s>", "<unk>"]          # T5's: pad 0 (the decoder's start), eos 1, unk 2


def _extra(extra: dict[str, str] | None) -> tuple[list[str], dict]:
    extra = extra or {}
    return list(extra.values()), ({"extra_special_tokens": extra} if extra else {})


def opt_like(texts: Iterable[str], out: str | Path, vocab_size: int = 512,
             extra_special: dict[str, str] | None = None):
    """Trains and saves (to `out`) an OPT-shaped tokenizer; returns it. extra_special: named
    special tokens (e.g. {"image_token": "<image>"}), after OPT's four."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    extra, kwargs = _extra(extra_special)
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(list(texts), trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=OPT_SPECIALS + extra,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False))
    tok.post_processor = processors.TemplateProcessing(single="</s> $A", special_tokens=[("</s>", 2)])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="</s>", eos_token="</s>",
                                   pad_token="<pad>", unk_token="<unk>", **kwargs)
    fast.save_pretrained(str(out))
    return fast


def t5_like(texts: Iterable[str], out: str | Path, vocab_size: int = 512,
            extra_special: dict[str, str] | None = None):
    """Trains and saves (to `out`) a T5-shaped tokenizer (SentencePiece-style metaspace pieces,
    learnt by BPE, which a small corpus fills to `vocab_size` where unigram stops short); returns it."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    extra, kwargs = _extra(extra_special)
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.normalizer = normalizers.NFKC()
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Metaspace()
    tok.train_from_iterator(list(texts), trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=T5_SPECIALS + extra, show_progress=False))
    tok.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 1)])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="</s>", pad_token="<pad>",
                                   unk_token="<unk>", **kwargs)
    fast.save_pretrained(str(out))
    return fast
