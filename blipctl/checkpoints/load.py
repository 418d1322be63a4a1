"""One entry point for `--model` and `init`: any checkpoint `checkpoints.formats.FORMATS` reads."""

from __future__ import annotations


def load_model(source: str):
    """Any BLIP task model, in eval mode with its text codec, from a blipctl run directory, an
    original BLIP `.pth`/`.pt` file, a transformers directory or a Hub id."""
    from blipctl.checkpoints.formats import find

    return find(source).load(source)
