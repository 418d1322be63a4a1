"""One entry point for `--model`: a Hub id, a transformers directory, or an original BLIP .pth."""

from __future__ import annotations

from pathlib import Path

from blipctl.errors import BlipctlError

TASK_VERBS = {"BlipCaptioner": "caption", "BlipVQA": "answer questions",
              "BlipRetrieval": "match images and text"}


def load_model(model: str):
    """Any BLIP task model, in eval mode, from a `.pth`/`.pt` file, a directory or a Hub id."""
    path = Path(model)
    if path.suffix in (".pth", ".pt") or path.is_file():
        from blipctl.checkpoints.original import load_original

        return load_original(path)
    from blipctl.checkpoints import hf

    return hf.load_hf(hf.hub_or_dir(model))


def load_task(model: str, task: type):
    m = load_model(model)
    if not isinstance(m, task):
        raise BlipctlError(f"--model {model}: a {type(m).__name__} cannot "
                           f"{TASK_VERBS[task.__name__]}; give a {task.__name__} checkpoint")
    return m


def load_caption_model(model: str):
    from blipctl.models.blip import BlipCaptioner

    return load_task(model, BlipCaptioner)


def load_vqa_model(model: str):
    from blipctl.models.blip import BlipVQA

    return load_task(model, BlipVQA)


def load_retrieval_model(model: str):
    from blipctl.models.blip import BlipRetrieval

    return load_task(model, BlipRetrieval)
