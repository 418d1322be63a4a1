"""Text codecs: how a model's text becomes ids and its ids become text, in one object.

A codec belongs to a model (the checkpoint loader attaches it, a training run records it in
`config.yaml` and `state.json`): every consumer asks the codec instead of choosing a start
token of its own. BLIP-1's conventions (`BlipText`):

- the unimodal text encoder (ITC) reads `[CLS] text [SEP]`;
- the image-grounded encoder (ITM, VQA questions, NLVR2) reads the text from `[ENC]`
  (original BLIP, LAVIS, blipctl) or from `[CLS]` (transformers' Blip* classes);
- the decoder (captions, answers) reads `[DEC] text [SEP]`; a prompt is `[DEC] prompt`
  without the `[SEP]`, and is stripped from the decoded text.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

Start = Literal["text", "grounded", "decoder"]
VOCAB_NAME = "vocab.txt"  # a codec's own vocab file, as a checkpoint or an export holds a copy


@lru_cache(maxsize=4)
def _tokenizer(vocab_file: str | None):
    from blipctl.text.tokenizer import VOCAB_FILE, blip_tokenizer

    return blip_tokenizer(vocab_file or VOCAB_FILE)


@dataclass
class BlipText:
    """BLIP-1's tokenizer and start tokens. grounded_start: the image-grounded encoder's first
    token, `[ENC]` (BLIP's own checkpoints) or `[CLS]` (transformers checkpoints)."""

    grounded_start: Literal["[ENC]", "[CLS]"] = "[ENC]"
    vocab_file: str | None = None  # None: the bert-base-uncased vocab shipped with blipctl

    @property
    def tokenizer(self):
        return _tokenizer(self.vocab_file)

    @property
    def bos(self) -> int:
        return self.tokenizer.bos_token_id  # [DEC]

    @property
    def eos(self) -> int:
        return self.tokenizer.sep_token_id

    @property
    def pad(self) -> int:
        return self.tokenizer.pad_token_id

    @property
    def id_count(self) -> int:
        """How many ids this codec writes: the tokenizer's, less [ENC] (its last) when the
        grounded encoder starts with [CLS], as BLIP-2's Q-Former (30523 rows: BERT's and [DEC])."""
        n = len(self.tokenizer)
        return n - 1 if self.grounded_start == "[CLS]" and self.tokenizer.enc_token_id == n - 1 else n

    def start_id(self, start: Start) -> int | None:
        """The id that replaces [CLS] for `start`; None keeps [CLS]."""
        tok = self.tokenizer
        if start == "decoder":
            return tok.bos_token_id
        if start == "grounded" and self.grounded_start == "[ENC]":
            return tok.enc_token_id
        return None

    def restart(self, ids, start: Start):
        """ids (B, T) tokenized for one start, as another start reads them (a copy)."""
        first = self.start_id(start)
        ids = ids.clone()
        ids[:, 0] = self.tokenizer.cls_token_id if first is None else first
        return ids

    def encode(self, texts: list[str], start: Start = "text", max_length: int | None = None,
               padding: str = "longest", device=None, truncation_side: str = "right"):
        """(B, T) ids and mask for `texts` as the `start` part of the model reads them;
        truncated to `max_length` tokens when it is given, from the `truncation_side` end."""
        with truncating(self.tokenizer, truncation_side) as tok:
            enc = tok(texts, padding=padding, truncation=max_length is not None, max_length=max_length,
                      return_tensors="pt")
        ids, mask = enc.input_ids.to(device), enc.attention_mask.to(device)
        first = self.start_id(start)
        if first is not None:
            ids[:, 0] = first
        return ids, mask

    def prompt_ids(self, prompt: str, device=None):
        """The prompt's ids (P,) as the decoder continues them: [DEC] first, no trailing [SEP]."""
        import torch

        ids = self.tokenizer(prompt).input_ids[:-1]
        ids[0] = self.bos
        return torch.tensor(ids, device=device)

    def prompt_length(self, prompt: str) -> int:
        """Tokens of `[DEC] prompt`, which the caption loss masks out."""
        return len(self.tokenizer(prompt).input_ids) - 1

    def decode(self, ids) -> list[str]:
        """(B, L) ids -> texts, special tokens dropped."""
        rows = ids.tolist() if hasattr(ids, "tolist") else ids
        return self.tokenizer.batch_decode(rows, skip_special_tokens=True)

    @staticmethod
    def strip_prompt(text: str, prompt: str) -> str:
        """The caption without the prompt it was asked to continue (as BLIP does)."""
        p = prompt.strip().lower()
        return text[len(p):].strip() if p and text.startswith(p) else text.strip()

    def metadata(self) -> dict:
        """What a checkpoint records, as a recipe component (`codec:`)."""
        out = {"_component_": "blipctl.text.codecs.BlipText", "grounded_start": self.grounded_start}
        if self.vocab_file:
            out["vocab_file"] = self.vocab_file
        return out

    def saved_in(self, directory) -> dict:
        """Writes a copy of its own vocab file (if it has one) into `directory` as VOCAB_NAME;
        returns the metadata that names that copy (resolved against the directory on load)."""
        from pathlib import Path

        from blipctl.files import write_bytes

        out = self.metadata()
        if self.vocab_file:
            write_bytes(Path(directory) / VOCAB_NAME, Path(self.vocab_file).read_bytes())
            out["vocab_file"] = VOCAB_NAME
        return out


@contextmanager
def truncating(tok, side: str):
    """The tokenizer, truncating from `side` ("left" or "right") while the block runs."""
    before, tok.truncation_side = tok.truncation_side, side
    try:
        yield tok
    finally:
        tok.truncation_side = before


def padded(rows: list[list[int]], pad: int, device=None):
    """Id lists -> (B, T) ids right-padded with `pad`, and their mask."""
    import torch

    width = max(map(len, rows))
    ids = torch.tensor([r + [pad] * (width - len(r)) for r in rows], device=device)
    mask = torch.tensor([[1] * len(r) + [0] * (width - len(r)) for r in rows], device=device)
    return ids, mask


@lru_cache(maxsize=4)
def _lm_tokenizer(directory: str):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(directory)


@dataclass
class LMText:
    """A frozen language model's own tokenizer (BLIP-2's OPT, Flan-T5, Vicuna), read with
    transformers from `tokenizer_dir`: prompts in, generated text out."""

    tokenizer_dir: str

    @property
    def tokenizer(self):
        return _lm_tokenizer(self.tokenizer_dir)

    def prompts(self, texts: list[str], left: bool, device=None):
        """(B, P) ids and mask of prompts, padded on the left for a decoder-only model (`left`),
        else on the right (see `encode`)."""
        return self.encode(texts, device=device, left=left)

    def encode(self, texts: list[str], max_length: int | None = None, device=None, left: bool = False):
        """(B, T) ids and mask of `texts` as the tokenizer writes them (OPT's BOS first, T5's EOS
        last), padded on the right (on the left with `left`), truncated to `max_length` tokens."""
        enc = self.tokenizer(texts, padding=True, padding_side="left" if left else "right",
                             truncation=max_length is not None, max_length=max_length, return_tensors="pt")
        return enc.input_ids.to(device), enc.attention_mask.to(device)

    def joined(self, inputs: list[str], targets: list[str], max_length: int, end: int, device=None,
               max_target: int | None = None):
        """Decoder-only training rows as LAVIS's `concat_text_input_output` builds them: each
        input (BOS first, truncated on the left to `max_length` tokens), then its target
        (truncated on the right to `max_target`, default `max_length`, less 1) and `end`,
        right-padded. Returns the (B, T) ids and mask and the (B,) input lengths (0 for an empty
        input, whose BOS is a target).
        An input's trailing whitespace moves to its target ("a photo of " + "cat" is read as
        "a photo of" + " cat"), so the target's first word keeps the token it has in the text."""
        import torch

        with truncating(self.tokenizer, "left") as tok:
            heads = [tok(p.rstrip(), truncation=True, max_length=max_length).input_ids for p in inputs]
        rows, lengths = [], []
        for p, t, head in zip(inputs, targets, heads, strict=True):
            tail = tok(p[len(p.rstrip()):] + t, add_special_tokens=False, truncation=True,
                       max_length=(max_target or max_length) - 1).input_ids
            rows.append(head + tail + [end])
            lengths.append(len(head) if p else 0)
        ids, mask = padded(rows, tok.pad_token_id, device)
        return ids, mask, torch.tensor(lengths, device=device)

    def token(self, text: str) -> int | None:
        """The id of `text` if the tokenizer writes it as one token (OPT's "\n"), else None."""
        ids = self.tokenizer(text, add_special_tokens=False).input_ids
        return ids[0] if len(ids) == 1 else None

    def decode(self, ids) -> list[str]:
        """(B, L) ids -> texts, special tokens dropped, whitespace stripped."""
        rows = ids.tolist() if hasattr(ids, "tolist") else ids
        return [t.strip() for t in self.tokenizer.batch_decode(rows, skip_special_tokens=True)]

    def metadata(self) -> dict:
        return {"_component_": "blipctl.text.codecs.LMText", "tokenizer_dir": self.tokenizer_dir}

    def saved_in(self, directory) -> dict:
        """What a checkpoint records: the tokenizer's directory, the LM's own, which the recipe
        reads the LM from too (nothing is copied)."""
        return self.metadata()
