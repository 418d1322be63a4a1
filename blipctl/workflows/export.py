"""Export a model to another format."""

from __future__ import annotations

from pathlib import Path


def export(model: str, to: str, out: Path) -> Path:
    """Writes `model` in the format `checkpoints.formats.FORMATS` names `to` (`hf`: a
    transformers directory, `blip`: an original BLIP `.pth`)."""
    from blipctl.checkpoints.formats import writer
    from blipctl.checkpoints.load import load_model

    save = writer(to).save
    save(load_model(model), out)
    return out
