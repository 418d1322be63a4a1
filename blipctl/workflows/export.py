"""Export a model to another format."""

from __future__ import annotations

from pathlib import Path


def to_hf(model: str, out: Path) -> Path:
    """Writes `model` as a transformers directory (safetensors, config, processor)."""
    from blipctl.checkpoints.hf import save_captioner
    from blipctl.checkpoints.load import load_caption_model

    save_captioner(load_caption_model(model), out)
    return out
