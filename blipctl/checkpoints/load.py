"""One entry point for `--model`: a Hub id, a transformers directory, or an original BLIP .pth."""

from __future__ import annotations

from pathlib import Path


def is_run(path: Path) -> bool:
    """A blipctl training run directory, or one checkpoint inside it."""
    return (path / "checkpoints").is_dir() or (path / "state.json").is_file()


def load_run(path: Path):
    """The model of a run's newest checkpoint (or of the checkpoint directory given), built
    from the recipe it was trained with, in eval mode."""
    from blipctl.config.schema import instantiate
    from blipctl.config.yaml_io import load_yaml
    from blipctl.engine import checkpoint

    ckpt = checkpoint.latest(path) if (path / "checkpoints").is_dir() else path
    cfg = load_yaml(ckpt / "config.yaml")
    model = instantiate(cfg["model"])
    state = checkpoint.load_weights(ckpt, model)
    codec = state.get("codec") or cfg.get("codec")  # runs before codecs were recorded: the model's own
    if codec:
        model.codec = instantiate(codec)
    return model.eval()


def load_model(model: str):
    """Any BLIP task model, in eval mode, from a run directory, a `.pth`/`.pt` file, a
    transformers directory or a Hub id."""
    path = Path(model)
    if is_run(path):
        return load_run(path)
    if path.suffix in (".pth", ".pt") or path.is_file():
        from blipctl.checkpoints.original import load_original

        return load_original(path)
    from blipctl.checkpoints import hf

    return hf.load_hf(hf.hub_or_dir(model))
