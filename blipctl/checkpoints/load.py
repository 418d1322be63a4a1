"""One entry point for `--model`: a Hub id, a transformers directory, or (soon) other formats."""

from __future__ import annotations

import json

from blipctl.checkpoints import hf
from blipctl.errors import BlipctlError


def _hf_dir(model: str, want: str, task: str):
    directory = hf.hub_or_dir(model)
    arch = json.loads((directory / "config.json").read_text()).get("architectures") or ["?"]
    if arch[0] != want:
        raise BlipctlError(f"--model {model}: a {arch[0]} checkpoint cannot {task}; use a {want} one")
    return directory


def load_caption_model(model: str):
    """A BlipCaptioner in eval mode from `--model`."""
    return hf.load_captioner(_hf_dir(model, "BlipForConditionalGeneration", "caption"))


def load_vqa_model(model: str):
    """A BlipVQA in eval mode from `--model`."""
    return hf.load_vqa(_hf_dir(model, "BlipForQuestionAnswering", "answer questions"))


def load_retrieval_model(model: str):
    """A BlipRetrieval in eval mode from `--model`."""
    return hf.load_retrieval(_hf_dir(model, "BlipForImageTextRetrieval", "match images and text"))
