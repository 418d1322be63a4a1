"""BLIP's text cleaning for captions and questions."""

from __future__ import annotations

import re

_PUNCT = re.compile(r"([.!\"()*#:;~])")


def pre_caption(caption: str, max_words: int = 30) -> str:
    """Lowercase, punctuation to spaces, whitespace collapsed, at most `max_words` words."""
    caption = re.sub(r"\s{2,}", " ", _PUNCT.sub(" ", caption.lower())).rstrip("\n").strip(" ")
    return " ".join(caption.split(" ")[:max_words])


def pre_question(question: str, max_words: int = 50) -> str:
    """Lowercase, punctuation removed, at most `max_words` words."""
    question = _PUNCT.sub("", question.lower()).rstrip(" ")
    return " ".join(question.split(" ")[:max_words])
