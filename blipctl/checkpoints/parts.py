"""The pretrained parts a BLIP-2 recipe trains around, each read from a checkpoint:

    frozen_tower(source)   the vision tower of any checkpoint `load_model` reads (a BLIP run or
                           .pth, a transformers BLIP/BLIP-2 directory, a LAVIS .pth), frozen
    frozen_llm(source)     a transformers causal or encoder-decoder LM (directory or Hub id), frozen
    qformer(cfg, init)     a Q-Former, its text side and query FFN started from BERT or from a
                           BLIP run's text encoder (LAVIS's `init_Qformer`)

A frozen part remembers its `source`: a training checkpoint then stores a reference to it
(`checkpoints.frozen`, "built") instead of its tensors, and the recipe, which builds the model
again from the same sources, restores it. Recipes name these as components, e.g.
`vision: {_component_: blipctl.checkpoints.parts.frozen_tower, source: runs/mini/pretrain}`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

import torch

from blipctl.errors import BlipctlError
from blipctl.models.eva import Frozen
from blipctl.models.llm import FrozenLM
from blipctl.models.qformer import QFormer, QFormerConfig

Dtype = Literal["fp32", "bf16"]
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}


def _dtype(dtype: str, key: str) -> torch.dtype:
    if dtype not in DTYPES:
        raise BlipctlError(f"recipe key `{key}`: {dtype!r} is not one of {', '.join(DTYPES)}")
    return DTYPES[dtype]


def _where(source: str) -> str:
    path = Path(source)
    return str(path.resolve()) if path.exists() else source


def frozen_tower(source: str, dtype: Dtype = "bf16") -> Frozen:
    """The vision tower (`visual`) of the model `source` holds, frozen in eval mode, held in
    `dtype` (BLIP-2 trains with its tower in half precision)."""
    from blipctl.checkpoints.load import load_model

    try:
        model = load_model(source, frozen_dtype=torch.float32)
    except BlipctlError as e:
        raise BlipctlError(f"recipe key `model.vision.source`: {str(e).removeprefix('--model ')}") from None
    tower = getattr(model, "visual", None)
    if tower is None:
        raise BlipctlError(f"recipe key `model.vision.source`: {source} holds a {type(model).__name__}, "
                           "which has no vision tower")
    tower = tower.module if isinstance(tower, Frozen) else tower
    return Frozen(tower.to(_dtype(dtype, "model.vision.dtype")), source=_where(source))


def trainable_tower(source: str, image_size: int | None = None, grad_ckpt: bool = True) -> Frozen:
    """The vision tower of `source` in fp32 to fine-tune, as LAVIS's caption and retrieval
    fine-tuning unfreeze it: at `image_size` (its position embedding resized bicubically, e.g.
    BLIP-2's 224 -> 364 px), its blocks' activations recomputed in the backward pass under
    `grad_ckpt`. Training checkpoints store it (it changes)."""
    from dataclasses import replace

    from blipctl.checkpoints.transforms import to_grid

    tower = frozen_tower(source, "fp32").module
    if image_size and image_size != tower.image_size:
        resized = type(tower)(replace(tower.cfg, image_size=image_size))
        like = resized.state_dict()
        resized.load_state_dict({k: to_grid(v, like[k]) if k.endswith("pos_embed") else v
                                 for k, v in tower.state_dict().items()})
        tower = resized
    tower.requires_grad_(True)
    if grad_ckpt:
        timm = next(m for m in tower.modules() if hasattr(m, "set_grad_checkpointing"))
        timm.set_grad_checkpointing(True)
    return Frozen(tower.train(), frozen=False)  # no source: training checkpoints store it


def frozen_llm(source: str, dtype: Dtype = "bf16") -> FrozenLM:
    """A transformers LM from a save_pretrained directory or Hub id (`*ForConditionalGeneration`
    for an encoder-decoder such as Flan-T5, else `*ForCausalLM`), or the LM of a blipctl run that
    trained one (the mini recipes' `text_lm`), frozen in eval mode in `dtype`."""
    from transformers import AutoModelForCausalLM, AutoModelForSeq2SeqLM

    from blipctl.checkpoints.formats import blipctl_run
    from blipctl.checkpoints.formats.hf_blip import hub_or_dir
    from blipctl.checkpoints.formats.hf_common import from_pretrained
    from blipctl.models.text_lm import TextLM

    if blipctl_run.detect(source):
        from blipctl.checkpoints.load import load_model

        try:
            model = load_model(source)
        except BlipctlError as e:
            raise BlipctlError(f"recipe key `model.llm.source`: {str(e).removeprefix('--model ')}") from None
        if not isinstance(model, TextLM):
            raise BlipctlError(f"recipe key `model.llm.source`: {source} holds a {type(model).__name__}, "
                               "not a language model")
        return FrozenLM(model.lm.to(_dtype(dtype, "model.llm.dtype")), source=_where(source),
                        tokenizer_dir=model.codec.tokenizer_dir)
    try:
        directory = hub_or_dir(source)
        cfg = json.loads((directory / "config.json").read_text())
        auto = AutoModelForSeq2SeqLM if cfg.get("is_encoder_decoder") else AutoModelForCausalLM
        lm = from_pretrained(auto, directory, dtype=_dtype(dtype, "model.llm.dtype"))
    except BlipctlError as e:
        raise BlipctlError(f"recipe key `model.llm.source`: {str(e).removeprefix('--model ')}") from None
    except (OSError, ValueError, KeyError) as e:
        raise BlipctlError(f"recipe key `model.llm.source`: {source} is not a transformers LM "
                           f"({str(e).splitlines()[0]})") from None
    return FrozenLM(lm, source=_where(str(directory)))


def qformer(cfg: QFormerConfig, init: str | None = None) -> QFormer:
    """A Q-Former shaped by `cfg`. init: a transformers BERT (directory or Hub id such as
    google-bert/bert-base-uncased), a BLIP checkpoint whose text encoder starts it the same way (the
    mini recipes use the mini BLIP pretraining's), or a BLIP-2 model whose Q-Former it copies
    (InstructBLIP's text side from a stage-1 run); None: random (N(0, 0.02))."""
    from blipctl.checkpoints.qformer_init import from_bert, from_med

    model = QFormer(cfg)
    if init is None:
        return model
    where = "recipe key `model.qformer.init`"
    path = Path(init)
    config = path / "config.json"
    if not path.exists() or config.is_file() and json.loads(config.read_text()).get("model_type") == "bert":
        # a Hub id, or a transformers BERT directory
        from blipctl.checkpoints.formats.hf_blip import hub_or_dir
        from blipctl.checkpoints.formats.hf_common import read_state

        try:
            from_bert(model, read_state(hub_or_dir(init)), f"{where} ({init})")
        except BlipctlError as e:
            raise BlipctlError(f"{where}: {str(e).removeprefix('--model ')}") from None
        return model
    from blipctl.checkpoints.warm_start import source_state

    try:
        state = source_state(init)
    except BlipctlError as e:
        raise BlipctlError(f"{where}: {str(e).removeprefix('--model ')}") from None
    own = {k[len("qformer."):]: v for k, v in state.items() if k.startswith("qformer.")}
    if own:  # a BLIP-2 model: its Q-Former as it is (InstructBLIP starts from stage 1's text side)
        _load_qformer(model, own, f"{where} ({init})")
        return model
    for prefix in ("encoder.", "text."):  # the image-grounded text encoder, whatever the task model
        text = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
        if text:
            from_med(model, text, f"{where} ({init})")
            return model
    raise BlipctlError(f"{where}: {init} holds no Q-Former (qformer.*) or BERT-style text encoder "
                       "(encoder.* or text.*)")


def _load_qformer(model: QFormer, state: dict, where: str) -> None:
    """Every tensor of `model` from a BLIP-2 model's Q-Former; one line names what does not fit."""
    mine = model.state_dict()
    lacking = [k for k in mine if k not in state]
    wrong = [k for k in mine if k in state and state[k].shape != mine[k].shape]
    if lacking or wrong:
        what = (f"lacks {len(lacking)} tensors of this Q-Former (e.g. qformer.{lacking[0]}; a stage-2 "
                "Q-Former keeps no text side)" if lacking else
                f"has qformer.{wrong[0]} of shape {tuple(state[wrong[0]].shape)}, this Q-Former "
                f"{tuple(mine[wrong[0]].shape)}")
        raise BlipctlError(f"{where}: the Q-Former {what}")
    model.load_state_dict({k: state[k] for k in mine})
