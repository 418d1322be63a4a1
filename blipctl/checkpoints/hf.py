"""transformers' BLIP format: read and write `save_pretrained` directories, and Hub ids."""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch

from blipctl.checkpoints.keymap import KeyMap
from blipctl.checkpoints.names import BERT, LM_HEAD, VIT_HF
from blipctl.errors import BlipctlError
from blipctl.models import builders
from blipctl.models.blip import BlipCaptioner, BlipRetrieval, BlipVQA
from blipctl.models.med import MEDConfig
from blipctl.models.vit import ViTConfig
from blipctl.text.codecs import BlipText

CAPTION_KEYS = KeyMap([("visual.", "vision_model.", VIT_HF),
                       ("decoder.", "text_decoder.bert.", BERT),
                       ("lm_head.", "text_decoder.cls.", LM_HEAD)])
RETRIEVAL_KEYS = KeyMap([("visual.", "vision_model.", VIT_HF),
                         ("text.", "text_encoder.", BERT),
                         ("", "", [(f"{m}.{{w}}", f"{m}.{{w}}")
                                   for m in ("vision_proj", "text_proj", "itm_head")])])
VQA_KEYS = KeyMap([("visual.", "vision_model.", VIT_HF),
                   ("encoder.", "text_encoder.", BERT),
                   ("decoder.", "text_decoder.bert.", BERT),
                   ("lm_head.", "text_decoder.cls.", LM_HEAD)])
# transformers stores the tied vocab projection too; blipctl derives it from the embeddings
_TIED = ("text_decoder.cls.predictions.decoder.weight", "text_decoder.cls.predictions.decoder.bias")


ARCHITECTURES = {BlipCaptioner: "BlipForConditionalGeneration", BlipVQA: "BlipForQuestionAnswering",
                 BlipRetrieval: "BlipForImageTextRetrieval"}
KEYS = {BlipCaptioner: CAPTION_KEYS, BlipVQA: VQA_KEYS, BlipRetrieval: RETRIEVAL_KEYS}


def vit_config(v: dict) -> ViTConfig:
    """Our ViT config from transformers' `vision_config` (never from defaults)."""
    _need_gelu(v, "vision_config")
    return ViTConfig(image_size=v["image_size"], patch_size=v["patch_size"], width=v["hidden_size"],
                     depth=v["num_hidden_layers"], heads=v["num_attention_heads"],
                     mlp_ratio=v["intermediate_size"] / v["hidden_size"], eps=v["layer_norm_eps"])


def med_config(t: dict) -> MEDConfig:
    """Our MED config from transformers' `text_config`."""
    _need_gelu(t, "text_config")
    return MEDConfig(vocab_size=t["vocab_size"], width=t["hidden_size"], depth=t["num_hidden_layers"],
                     heads=t["num_attention_heads"], mlp_width=t["intermediate_size"],
                     max_positions=t["max_position_embeddings"], image_width=t["encoder_hidden_size"],
                     eps=t["layer_norm_eps"], dropout=t.get("hidden_dropout_prob", 0.0))


def _need_gelu(section: dict, name: str) -> None:
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


def load_hf(directory: Path):
    """The task model a save_pretrained directory holds, in eval mode."""
    cfg = json.loads((directory / "config.json").read_text())
    arch = (cfg.get("architectures") or ["?"])[0]
    task = next((t for t, a in ARCHITECTURES.items() if a == arch), None)
    if task is None:
        raise BlipctlError(f"{directory}: blipctl reads {', '.join(ARCHITECTURES.values())}; "
                           f"this checkpoint is a {arch}")
    vit, med = vit_config(cfg["vision_config"]), med_config(cfg["text_config"])
    if task is BlipRetrieval:
        model = builders.retrieval(vit, med, embed_dim=cfg.get("image_text_hidden_size", 256))
    elif task is BlipVQA:
        model = builders.vqa(vit, med)
    else:
        model = builders.captioner(vit, med)
    state = {k: v for k, v in read_state(directory).items() if k not in _TIED}
    model.load_state_dict(KEYS[task].to_ours(state, str(directory)), strict=True)
    model.codec = BlipText(grounded_start="[CLS]")  # transformers feeds questions and ITM text from [CLS]
    return model.eval()


def load_captioner(directory: Path) -> BlipCaptioner:
    return _expect(load_hf(directory), BlipCaptioner, directory)


def load_vqa(directory: Path) -> BlipVQA:
    return _expect(load_hf(directory), BlipVQA, directory)


def load_retrieval(directory: Path) -> BlipRetrieval:
    return _expect(load_hf(directory), BlipRetrieval, directory)


def _expect(model, task: type, where):
    if not isinstance(model, task):
        raise BlipctlError(f"{where}: holds a {type(model).__name__}, not a {task.__name__}")
    return model


def hub_or_dir(model: str) -> Path:
    """A local directory, or a Hub id fetched (or found in the cache) respecting HF_HUB_OFFLINE."""
    path = Path(model)
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise BlipctlError(f"{path}: no config.json; expected a transformers save_pretrained directory")
        return path
    if path.exists() or model.count("/") != 1:
        raise BlipctlError(f"--model {model}: not a directory, and not a Hub id like "
                           "Salesforce/blip-image-captioning-base")
    os.environ.setdefault("HF_HUB_ETAG_TIMEOUT", "10")
    os.environ.setdefault("HF_HUB_DOWNLOAD_TIMEOUT", "30")
    from huggingface_hub import snapshot_download

    patterns = ["*.json", "*.safetensors", "*.txt"]
    try:
        return Path(snapshot_download(model, allow_patterns=patterns, local_files_only=True))
    except Exception:
        pass
    try:
        return Path(snapshot_download(model, allow_patterns=patterns))
    except Exception as e:
        offline = os.environ.get("HF_HUB_OFFLINE", "") not in ("", "0")
        why = "HF_HUB_OFFLINE is set" if offline else f"{type(e).__name__}"
        raise BlipctlError(
            f"--model {model}: not in the Hugging Face cache and cannot be downloaded ({why}); "
            "pass a local checkpoint instead: --model DIR, a directory written by "
            "transformers' save_pretrained") from None


def hf_config(model):
    """transformers' BlipConfig describing one of our task models."""
    from transformers import BlipConfig

    v, t = model.visual.cfg, (model.text if isinstance(model, BlipRetrieval) else model.decoder).cfg
    extra = {"image_text_hidden_size": model.vision_proj.out_features} \
        if isinstance(model, BlipRetrieval) else {}
    cfg = BlipConfig(
        vision_config=dict(hidden_size=v.width, num_hidden_layers=v.depth, num_attention_heads=v.heads,
                           intermediate_size=round(v.width * v.mlp_ratio), image_size=v.image_size,
                           patch_size=v.patch_size, layer_norm_eps=v.eps, hidden_act="gelu"),
        text_config=dict(vocab_size=t.vocab_size, hidden_size=t.width, num_hidden_layers=t.depth,
                         num_attention_heads=t.heads, intermediate_size=t.mlp_width,
                         max_position_embeddings=t.max_positions, encoder_hidden_size=v.width,
                         layer_norm_eps=t.eps, hidden_dropout_prob=t.dropout,
                         attention_probs_dropout_prob=t.dropout, hidden_act="gelu"),
        **extra,
    )
    cfg.architectures = [ARCHITECTURES[type(model)]]
    return cfg


def save_hf(model, out: Path) -> None:
    """A directory that transformers' Blip* class and BlipProcessor load."""
    from safetensors.torch import save_file
    from transformers import BlipImageProcessor, BlipProcessor

    from blipctl.text.tokenizer import blip_tokenizer

    out.mkdir(parents=True, exist_ok=True)
    state = KEYS[type(model)].to_theirs(model.state_dict())
    if not isinstance(model, BlipRetrieval):
        state[_TIED[0]] = model.decoder.embed.tok.weight
        state[_TIED[1]] = model.lm_head.bias
    state = {k: v.detach().to("cpu").contiguous().clone() for k, v in state.items()}
    save_file(state, str(out / "model.safetensors"), metadata={"format": "pt"})
    hf_config(model).save_pretrained(out)
    size = model.visual.cfg.image_size
    processor = BlipProcessor(BlipImageProcessor(size={"height": size, "width": size}),
                              blip_tokenizer())
    processor.save_pretrained(out)
