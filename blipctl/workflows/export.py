"""Export a model to another format."""

from __future__ import annotations

from pathlib import Path


def export(model: str, to: str, out: Path) -> Path:
    """Writes `model` as a transformers directory (`hf`) or an original BLIP `.pth` (`blip`)."""
    from blipctl.checkpoints.load import load_model

    m = load_model(model)
    if to == "hf":
        from blipctl.checkpoints.hf import save_hf

        save_hf(m, out)
    else:
        from blipctl.checkpoints.original import save_original

        out.parent.mkdir(parents=True, exist_ok=True)
        save_original(m, out)
    return out
