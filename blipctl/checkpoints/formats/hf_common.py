"""What transformers' formats share: reading a save_pretrained directory's weights, and the
config checks."""

from __future__ import annotations

from pathlib import Path

import torch

from blipctl.errors import BlipctlError


def need_gelu(section: dict, name: str) -> None:
    if section.get("hidden_act", "gelu") != "gelu":
        raise BlipctlError(f"config.json {name}.hidden_act: blipctl supports gelu, "
                           f"got {section['hidden_act']!r}")


def read_state(directory: Path) -> dict[str, torch.Tensor]:
    """Every tensor of a save_pretrained directory, from safetensors (or a weights-only .bin)."""
    from safetensors.torch import load_file

    files = sorted(directory.glob("*.safetensors"))
    if files:
        state = {}
        for f in files:
            state.update(load_file(f))
        return state
    bins = sorted(directory.glob("pytorch_model*.bin"))
    if not bins:
        raise BlipctlError(f"{directory}: no *.safetensors or pytorch_model.bin weights")
    state = {}
    for f in bins:
        state.update(torch.load(f, map_location="cpu", weights_only=True))
    return state


def from_pretrained(auto, directory: Path, **kwargs):
    """`auto.from_pretrained(directory)` without transformers' progress bars: blipctl's stderr
    carries its own one-line messages."""
    from transformers.utils import logging

    logging.disable_progress_bar()
    return auto.from_pretrained(directory, **kwargs)
