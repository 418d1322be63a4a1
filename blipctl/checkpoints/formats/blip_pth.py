"""Original BLIP (and LAVIS BLIP) `.pth` checkpoints: `{'model': state_dict}`.

They carry no config: the architecture is read off the tensor shapes, with BLIP's 64-dim
attention heads (the head count is not stored). Reading uses `torch.load(weights_only=True)`,
and a file that holds Python objects besides tensors is refused: no code from it runs.
"""

from __future__ import annotations

import io
import pickle
import re
import warnings
import zipfile
from pathlib import Path

import torch

from blipctl.checkpoints.keymap import KeyMap, Tied
from blipctl.checkpoints.names import BERT, BERT_TWIN, LM_HEAD, VIT_TIMM
from blipctl.errors import BlipctlError
from blipctl.files import write_bytes
from blipctl.models import builders
from blipctl.models.blip import BlipCaptioner, BlipPretrain, BlipRetrieval, BlipVQA
from blipctl.models.med import MEDConfig
from blipctl.models.nlvr import BlipNLVR
from blipctl.models.vit import ViTConfig
from blipctl.text.codecs import BlipText

HEAD_DIM = 64  # every BLIP model's attention head width; .pth files do not record the head count

_PROJ = [(f"{m}.{{w}}", f"{m}.{{w}}") for m in ("vision_proj", "text_proj", "itm_head")]
_PROJ_M = [(f"{m}_m.{{w}}", f"{m}_m.{{w}}") for m in ("vision_proj", "text_proj")]
# the LM head's vocab projection is the word embeddings: BLIP saves a copy, blipctl derives it
_TIED_LM = ("", "", [Tied("decoder.embed.tok.weight", "text_decoder.cls.predictions.decoder.weight"),
                     Tied("lm_head.bias", "text_decoder.cls.predictions.decoder.bias")])
# training state that only pretrain and retrieval models hold; other task checkpoints may carry it
_UNUSED_TRAINING = ("", "", [(None, t) for t in (
    "visual_encoder_m.{*}", "text_encoder_m.{*}", "vision_proj_m.{w}", "text_proj_m.{w}", "temp",
    "image_queue", "text_queue", "idx_queue", "ptr_queue", "queue_ptr")])
# BLIP names the queue pointer `queue_ptr` in its pretraining model, `ptr_queue` in retrieval: the
# first spelling is written, both are read
_QUEUES = [(b, b) for b in ("temp", "image_queue", "text_queue")]
_VIT = ("visual.", "visual_encoder.", VIT_TIMM)
KEYS = {
    BlipCaptioner: KeyMap([_VIT, ("decoder.", "text_decoder.bert.", BERT),
                           ("lm_head.", "text_decoder.cls.", LM_HEAD), _TIED_LM, _UNUSED_TRAINING]),
    BlipVQA: KeyMap([_VIT, ("encoder.", "text_encoder.", BERT), ("decoder.", "text_decoder.bert.", BERT),
                     ("lm_head.", "text_decoder.cls.", LM_HEAD), _TIED_LM, _UNUSED_TRAINING]),
    BlipRetrieval: KeyMap([
        _VIT, ("text.", "text_encoder.", BERT),
        ("visual_m.", "visual_encoder_m.", VIT_TIMM), ("text_m.", "text_encoder_m.", BERT),
        ("", "", _PROJ + _PROJ_M + _QUEUES + [("idx_queue", "idx_queue"), ("ptr_queue", "ptr_queue"),
                                              ("ptr_queue", "queue_ptr")]),
    ]),
    BlipNLVR: KeyMap([_VIT, ("text.", "text_encoder.", BERT_TWIN),
                      ("", "", [("cls_head.{i}.{w}", "cls_head.{i}.{w}")]), _UNUSED_TRAINING]),
    BlipPretrain: KeyMap([
        _VIT, ("encoder.", "text_encoder.", BERT),
        ("decoder.", "text_decoder.bert.", BERT), ("lm_head.", "text_decoder.cls.", LM_HEAD),
        ("visual_m.", "visual_encoder_m.", VIT_TIMM), ("encoder_m.", "text_encoder_m.", BERT),
        ("", "", _PROJ + _PROJ_M + _QUEUES + [("ptr_queue", "queue_ptr"), ("ptr_queue", "ptr_queue")]),
        _TIED_LM,
    ]),
}
# what a retrieval checkpoint may hold for training that an inference model is built without
_TRAINING_MODULES = {"visual_m", "text_m", "vision_proj_m", "text_proj_m", "temp", "image_queue",
                     "text_queue", "idx_queue", "ptr_queue"}


def detect(source: str) -> bool:
    path = Path(source)
    return path.suffix in (".pth", ".pt") or path.is_file()


def read_pth(path: str | Path) -> dict[str, torch.Tensor]:
    """The state dict of a `{'model': state_dict}` (or bare state dict) file, under its own names."""
    try:
        with warnings.catch_warnings():  # torch warns about a bare pickle's protocol before refusing it
            warnings.filterwarnings("ignore", message="Detected pickle protocol")
            ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise BlipctlError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise BlipctlError(f"{path}: a directory, not a .pth file") from None
    except Exception as e:  # refused by the weights-only unpickler, or not a checkpoint at all
        raise BlipctlError(_unreadable(Path(path), e)) from None
    state = ckpt.get("model", ckpt) if isinstance(ckpt, dict) else None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise BlipctlError(f"{path}: expected {{'model': state_dict}} of tensors")
    return state


def _unreadable(path: Path, e: Exception) -> str:
    found = re.search(r"GLOBAL (\S+) was not an allowed global", str(e))
    if found or _holds_objects(path):
        named = f" ({found.group(1)})" if found else ""
        return (f"{path}: the file holds Python objects besides tensors{named}; blipctl refuses it "
                "so that no code from it runs (a weights-only checkpoint holds tensors, numbers, "
                "strings, lists and dicts)")
    return f"{path}: not a PyTorch checkpoint that blipctl can read ({type(e).__name__})"


def _holds_objects(path: Path) -> bool:
    """Whether a bare pickle (one the weights-only reader cannot even parse) imports a global,
    read with pickletools, which runs nothing it reads."""
    import pickletools

    if zipfile.is_zipfile(path):  # torch's own format: its reader names a refused global itself
        return False
    try:
        ops = list(pickletools.genops(io.BytesIO(path.read_bytes())))
    except (pickle.PickleError, ValueError, EOFError, OSError):
        return False
    return any(op.name in ("GLOBAL", "STACK_GLOBAL", "INST") for op, _, _ in ops)


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


def heads_of(width: int, what: str, head_dim: int = HEAD_DIM, whose: str = "BLIP's") -> int:
    """The head count a .pth implies: width / head_dim, or a one-line error."""
    if width % head_dim or width < head_dim:
        raise BlipctlError(f"{what} width {width} is not a multiple of {head_dim}: a .pth file does not "
                           f"record the head count, and blipctl reads it as width / {head_dim} "
                           f"({whose} head size)")
    return width // head_dim


def vit_config(state: dict, image_size: int | None = None) -> ViTConfig:
    width = state["visual_encoder.cls_token"].shape[-1]
    patch = state["visual_encoder.patch_embed.proj.weight"].shape[-1]
    grid = int((state["visual_encoder.pos_embed"].shape[1] - 1) ** 0.5)
    return ViTConfig(image_size=image_size or grid * patch, patch_size=patch, width=width,
                     depth=_count(state, r"visual_encoder\.blocks\.(\d+)\."),
                     heads=heads_of(width, "the vision encoder's"),
                     mlp_ratio=state["visual_encoder.blocks.0.mlp.fc1.weight"].shape[0] / width)


def med_config(state: dict, prefix: str, image_width: int) -> MEDConfig:
    vocab, width = state[f"{prefix}embeddings.word_embeddings.weight"].shape
    return MEDConfig(vocab_size=vocab, width=width, heads=heads_of(width, "the text transformer's"),
                     depth=_count(state, re.escape(prefix) + r"encoder\.layer\.(\d+)\."),
                     mlp_width=state[f"{prefix}encoder.layer.0.intermediate.dense.weight"].shape[0],
                     max_positions=state[f"{prefix}embeddings.position_embeddings.weight"].shape[0],
                     image_width=image_width)


def _build(task: type, state: dict, image_size: int | None):
    """An untrained model of `task` with the sizes the state dict's tensors have."""
    vit = vit_config(state, image_size)
    med = med_config(state, "text_decoder.bert." if task is BlipCaptioner else "text_encoder.", vit.width)
    if task is BlipRetrieval:
        return builders.retrieval(vit, med, embed_dim=state["vision_proj.weight"].shape[0])
    if task is BlipNLVR:
        rx = re.compile(r"text_encoder\.encoder\.layer\.(\d+)\.crossattention\.output\.merge_layer")
        merged = [int(m.group(1)) for k in state if (m := rx.match(k))]
        return task(vit, med, merge_from=min(merged, default=med.depth))
    if task is BlipPretrain:
        embed_dim, queue = state["image_queue"].shape
        return task(vit, med, embed_dim=embed_dim, queue_size=queue)
    if task is BlipVQA:
        return builders.vqa(vit, med)
    return builders.captioner(vit, med)


def load(source: str | Path, image_size: int | None = None):
    """A task model from an original BLIP `.pth`, in eval mode, with BLIP's own text convention
    ([ENC] starts the grounded encoder's text). A pretrain checkpoint keeps its momentum
    encoders, queues and temperature; a retrieval model is built for inference, without them."""
    state = read_pth(source)
    task = task_of(state)
    model = _build(task, state, image_size)
    want = model.state_dict()
    ours = KEYS[task].to_ours(state, str(source), like=want)
    ours = {k: v for k, v in ours.items() if k in want or k.split(".")[0] not in _TRAINING_MODULES}
    model.load_state_dict(ours, strict=True)
    model.codec = BlipText(grounded_start="[ENC]")
    return model.eval()


def state(source: str) -> dict[str, torch.Tensor]:
    """The checkpoint under blipctl's names, training state included (for warm start)."""
    theirs = read_pth(source)
    return KEYS[task_of(theirs)].to_ours(theirs, str(source))


def original_state(model) -> dict[str, torch.Tensor]:
    """A model's state dict under original BLIP key names, tied LM-head entries included."""
    return KEYS[type(model)].to_theirs(model.state_dict())


def save(model, out: str | Path) -> None:
    """Writes `{'model': state_dict}` with original BLIP key names (atomically)."""
    vocab = getattr(getattr(model, "codec", None), "vocab_file", None)
    if vocab:
        raise BlipctlError(f"this model's tokenizer has its own vocab ({vocab}); original BLIP "
                           "code tokenizes with bert-base-uncased's, so a .pth would be misread: "
                           "--to hf carries the vocab")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    torch.save({"model": {k: v.detach().cpu().clone() for k, v in original_state(model).items()}}, buf)
    write_bytes(out, buf.getvalue())
