"""One entry point for `--model`: a Hub id, a transformers directory, or (soon) other formats."""

from __future__ import annotations

import json

from blipctl.checkpoints.hf import hub_or_dir, load_captioner
from blipctl.errors import BlipctlError


def load_caption_model(model: str):
    """A BlipCaptioner in eval mode from `--model`."""
    directory = hub_or_dir(model)
    arch = json.loads((directory / "config.json").read_text()).get("architectures") or ["?"]
    if arch[0] != "BlipForConditionalGeneration":
        raise BlipctlError(f"--model {model}: a {arch[0]} checkpoint cannot caption; "
                           "use a BlipForConditionalGeneration one")
    return load_captioner(directory)
