"""Original BLIP (and LAVIS BLIP) `.pth` checkpoints: `{'model': state_dict}`.

They carry no config, so the architecture is read off the tensor shapes (heads assume
BLIP's 64-dim heads). Loading uses `torch.load(weights_only=True)`: no pickle code runs.
"""

from __future__ import annotations

import re
from pathlib import Path

import torch

from blipctl.checkpoints.keymap import KeyMap
from blipctl.checkpoints.names import BERT, BERT_TWIN, LM_HEAD, VIT_TIMM
from blipctl.errors import BlipctlError
from blipctl.models import builders
from blipctl.models.blip import BlipCaptioner, BlipPretrain, BlipRetrieval, BlipVQA
from blipctl.models.med import MEDConfig
from blipctl.models.nlvr import BlipNLVR
from blipctl.models.vit import ViTConfig, resize_pos_embed

HEAD_DIM = 64
_PROJ = [(f"{m}.{{w}}", f"{m}.{{w}}") for m in ("vision_proj", "text_proj", "itm_head")]
KEYS = {
    BlipCaptioner: KeyMap([("visual.", "visual_encoder.", VIT_TIMM),
                           ("decoder.", "text_decoder.bert.", BERT),
                           ("lm_head.", "text_decoder.cls.", LM_HEAD)]),
    BlipVQA: KeyMap([("visual.", "visual_encoder.", VIT_TIMM),
                     ("encoder.", "text_encoder.", BERT),
                     ("decoder.", "text_decoder.bert.", BERT),
                     ("lm_head.", "text_decoder.cls.", LM_HEAD)]),
    BlipRetrieval: KeyMap([
        ("visual.", "visual_encoder.", VIT_TIMM), ("text.", "text_encoder.", BERT),
        ("visual_m.", "visual_encoder_m.", VIT_TIMM), ("text_m.", "text_encoder_m.", BERT),
        ("", "", _PROJ + [(f"{m}_m.{{w}}", f"{m}_m.{{w}}") for m in ("vision_proj", "text_proj")]
         + [(b, b) for b in ("temp", "image_queue", "text_queue", "idx_queue", "ptr_queue")]),
    ]),
    BlipNLVR: KeyMap([("visual.", "visual_encoder.", VIT_TIMM),
                      ("text.", "text_encoder.", BERT_TWIN),
                      ("", "", [("cls_head.{i}.{w}", "cls_head.{i}.{w}")])]),
    BlipPretrain: KeyMap([
        ("visual.", "visual_encoder.", VIT_TIMM), ("encoder.", "text_encoder.", BERT),
        ("decoder.", "text_decoder.bert.", BERT), ("lm_head.", "text_decoder.cls.", LM_HEAD),
        ("visual_m.", "visual_encoder_m.", VIT_TIMM), ("encoder_m.", "text_encoder_m.", BERT),
        ("", "", _PROJ + [(f"{m}_m.{{w}}", f"{m}_m.{{w}}") for m in ("vision_proj", "text_proj")]
         + [(b, b) for b in ("temp", "image_queue", "text_queue", "ptr_queue")]),
    ]),
}
# derivable or training-only entries an inference model does not use
_TIED = re.compile(r"text_decoder\.cls\.predictions\.decoder\.(weight|bias)|.*\.position_ids")
_TRAINING = re.compile(r".*_m\..*|.*_m$|(image|text|idx|ptr)_queue|temp")


def read_pth(path: str | Path) -> dict[str, torch.Tensor]:
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise BlipctlError(f"{path}: no such file") from None
    except Exception as e:  # unpickling refused or corrupt file
        raise BlipctlError(f"{path}: not a weights-only PyTorch checkpoint ({type(e).__name__}: "
                           f"{str(e).splitlines()[0][:120]})") from None
    state = ckpt.get("model", ckpt) if isinstance(ckpt, dict) else None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise BlipctlError(f"{path}: expected {{'model': state_dict}} of tensors")
    return state


def task_of(state: dict) -> type:
    """Which task model a state dict holds, from its top-level prefixes."""
    has = {k.split(".")[0] for k in state}
    if "cls_head" in has:
        return BlipNLVR
    if {"text_decoder", "text_encoder", "itm_head", "visual_encoder_m"} <= has:
        return BlipPretrain
    if "text_decoder" in has and "text_encoder" in has and "itm_head" not in has:
        return BlipVQA
    if "text_decoder" in has and "text_encoder" not in has:
        return BlipCaptioner
    if "itm_head" in has and "text_decoder" not in has:
        return BlipRetrieval
    raise BlipctlError("the checkpoint is not a BLIP pretrain, caption, VQA, retrieval or NLVR2 model "
                       f"(top-level keys: {', '.join(sorted(has))})")


def _count(state: dict, rx: str) -> int:
    return 1 + max(int(m.group(1)) for k in state if (m := re.match(rx, k)))


def vit_config(state: dict, image_size: int | None = None) -> ViTConfig:
    width = state["visual_encoder.cls_token"].shape[-1]
    patch = state["visual_encoder.patch_embed.proj.weight"].shape[-1]
    grid = int((state["visual_encoder.pos_embed"].shape[1] - 1) ** 0.5)
    return ViTConfig(image_size=image_size or grid * patch, patch_size=patch, width=width,
                     depth=_count(state, r"visual_encoder\.blocks\.(\d+)\."), heads=width // HEAD_DIM,
                     mlp_ratio=state["visual_encoder.blocks.0.mlp.fc1.weight"].shape[0] / width)


def med_config(state: dict, prefix: str, image_width: int) -> MEDConfig:
    vocab, width = state[f"{prefix}embeddings.word_embeddings.weight"].shape
    return MEDConfig(vocab_size=vocab, width=width, heads=width // HEAD_DIM,
                     depth=_count(state, re.escape(prefix) + r"encoder\.layer\.(\d+)\."),
                     mlp_width=state[f"{prefix}encoder.layer.0.intermediate.dense.weight"].shape[0],
                     max_positions=state[f"{prefix}embeddings.position_embeddings.weight"].shape[0],
                     image_width=image_width)


def load_original(path: str | Path, image_size: int | None = None):
    """A task model from an original BLIP `.pth`, in eval mode. A pretrain checkpoint keeps
    its momentum encoders, queues and temperature; task models do not use them."""
    state = read_pth(path)
    task = task_of(state)
    vit = vit_config(state, image_size)
    text_prefix = "text_decoder.bert." if task is BlipCaptioner else "text_encoder."
    med = med_config(state, text_prefix, vit.width)
    if task is BlipRetrieval:
        model = builders.retrieval(vit, med, embed_dim=state["vision_proj.weight"].shape[0])
    elif task is BlipNLVR:
        rx = re.compile(r"text_encoder\.encoder\.layer\.(\d+)\.crossattention\.output\.merge_layer")
        merged = [int(m.group(1)) for k in state if (m := rx.match(k))]
        model = task(vit, med, merge_from=min(merged, default=med.depth))
    elif task is BlipPretrain:
        embed_dim, queue = state["image_queue"].shape
        model = task(vit, med, embed_dim=embed_dim, queue_size=queue)
    elif task is BlipVQA:
        model = builders.vqa(vit, med)
    else:
        model = builders.captioner(vit, med)
    keep_training = task is BlipPretrain
    used = {k: v for k, v in state.items()
            if not (_TIED.fullmatch(k) or (_TRAINING.fullmatch(k) and not keep_training))}
    ours = KEYS[task].to_ours(used, str(path))
    for key in ("visual.pos_embed", "visual_m.pos_embed"):
        if key in ours:
            ours[key] = resize_pos_embed(ours[key], model.visual.patch_embed.num_patches)
    model.load_state_dict(ours, strict=True)
    return model.eval()


def original_state(model) -> dict[str, torch.Tensor]:
    """A model's state dict under original BLIP key names, tied LM-head entries included."""
    state = KEYS[type(model)].to_theirs(model.state_dict())
    if isinstance(model, (BlipCaptioner, BlipVQA, BlipPretrain)):
        state["text_decoder.cls.predictions.decoder.weight"] = model.decoder.embed.tok.weight
        state["text_decoder.cls.predictions.decoder.bias"] = model.lm_head.bias
    return state


def is_tied(key: str) -> bool:
    return _TIED.fullmatch(key) is not None


def save_original(model, path: str | Path) -> None:
    """Writes `{'model': state_dict}` with original BLIP key names."""
    state = original_state(model)
    tmp = Path(f"{path}.tmp")
    torch.save({"model": {k: v.detach().cpu().clone() for k, v in state.items()}}, tmp)
    tmp.replace(path)
