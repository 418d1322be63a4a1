"""Export a model to another format."""

from __future__ import annotations

from pathlib import Path


def export(model: str, to: str, out: Path, llm: str | None = None) -> Path:
    """Writes `model` in the format `checkpoints.formats.FORMATS` names `to` (`hf`: a
    transformers directory, `blip`: an original BLIP `.pth`, `lavis`: a LAVIS BLIP-2 `.pth`);
    `llm`: the LM of a LAVIS BLIP-2 checkpoint, which holds none."""
    import torch

    from blipctl.checkpoints.formats import writer
    from blipctl.checkpoints.load import load_model

    save = writer(to).save
    save(load_model(model, llm, frozen_dtype=torch.float32), out)  # lossless: frozen parts in fp32
    return out
