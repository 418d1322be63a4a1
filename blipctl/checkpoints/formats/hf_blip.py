"""transformers' BLIP format: read and write `save_pretrained` directories, and Hub ids.

transformers feeds VQA questions and ITM text from [CLS] where BLIP uses [ENC]: a model read
from this format gets that convention, unless the directory's config.json records another under
`blipctl_codec` (written by `blipctl export --to hf`).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import torch

from blipctl.checkpoints.formats import hf_blip2
from blipctl.checkpoints.formats.hf_common import need_gelu, read_state
from blipctl.checkpoints.keymap import KeyMap, Tied
from blipctl.checkpoints.names import BERT, LM_HEAD, VIT_HF
from blipctl.errors import BlipctlError
from blipctl.files import write_bytes, write_text
from blipctl.models import builders
from blipctl.models.blip import BlipCaptioner, BlipRetrieval, BlipVQA
from blipctl.models.med import MEDConfig
from blipctl.models.vit import ViTConfig
from blipctl.text.codecs import VOCAB_NAME, BlipText

# transformers stores the tied vocab projection too; blipctl derives it from the embeddings
_TIED_LM = ("", "", [Tied("decoder.embed.tok.weight", "text_decoder.cls.predictions.decoder.weight"),
                     Tied("lm_head.bias", "text_decoder.cls.predictions.decoder.bias")])
CAPTION_KEYS = KeyMap([("visual.", "vision_model.", VIT_HF),
                       ("decoder.", "text_decoder.bert.", BERT),
                       ("lm_head.", "text_decoder.cls.", LM_HEAD), _TIED_LM])
RETRIEVAL_KEYS = KeyMap([("visual.", "vision_model.", VIT_HF),
                         ("text.", "text_encoder.", BERT),
                         ("", "", [(f"{m}.{{w}}", f"{m}.{{w}}")
                                   for m in ("vision_proj", "text_proj", "itm_head")])])
VQA_KEYS = KeyMap([("visual.", "vision_model.", VIT_HF),
                   ("encoder.", "text_encoder.", BERT),
                   ("decoder.", "text_decoder.bert.", BERT),
                   ("lm_head.", "text_decoder.cls.", LM_HEAD), _TIED_LM])

ARCHITECTURES = {BlipCaptioner: "BlipForConditionalGeneration", BlipVQA: "BlipForQuestionAnswering",
                 BlipRetrieval: "BlipForImageTextRetrieval"}
KEYS = {BlipCaptioner: CAPTION_KEYS, BlipVQA: VQA_KEYS, BlipRetrieval: RETRIEVAL_KEYS}
CODEC_KEY = "blipctl_codec"  # config.json: the text convention the weights were trained with
_CODEC = "blipctl.text.codecs.BlipText"


def detect(source: str) -> bool:
    """A directory (other than a run), or a name shaped like a Hub id (`owner/name`)."""
    path = Path(source)
    return path.is_dir() or (not path.exists() and source.count("/") == 1)


def vit_config(v: dict) -> ViTConfig:
    """Our ViT config from transformers' `vision_config` (never from defaults)."""
    need_gelu(v, "vision_config")
    return ViTConfig(image_size=v["image_size"], patch_size=v["patch_size"], width=v["hidden_size"],
                     depth=v["num_hidden_layers"], heads=v["num_attention_heads"],
                     mlp_ratio=v["intermediate_size"] / v["hidden_size"], eps=v["layer_norm_eps"])


def med_config(t: dict) -> MEDConfig:
    """Our MED config from transformers' `text_config`."""
    need_gelu(t, "text_config")
    return MEDConfig(vocab_size=t["vocab_size"], width=t["hidden_size"], depth=t["num_hidden_layers"],
                     heads=t["num_attention_heads"], mlp_width=t["intermediate_size"],
                     max_positions=t["max_position_embeddings"], image_width=t["encoder_hidden_size"],
                     eps=t["layer_norm_eps"], dropout=t.get("hidden_dropout_prob", 0.0))


def codec_of(cfg: dict, where: Path) -> BlipText:
    """The text convention config.json records, else transformers' own ([CLS])."""
    node = cfg.get(CODEC_KEY)
    if node is None:
        return BlipText(grounded_start="[CLS]")
    start = node.get("grounded_start") if isinstance(node, dict) else None
    vocab = node.get("vocab_file") if isinstance(node, dict) else None
    if (node.get("_component_") != _CODEC or start not in ("[ENC]", "[CLS]")
            or vocab not in (None, VOCAB_NAME)):
        raise BlipctlError(f"{where / 'config.json'}: {CODEC_KEY} must be {{_component_: {_CODEC}, "
                           f"grounded_start: '[ENC]' or '[CLS]'[, vocab_file: {VOCAB_NAME}]}}, got {node!r}")
    return BlipText(grounded_start=start, vocab_file=vocab and str(where / VOCAB_NAME))


def load_dir(directory: Path, frozen=None):
    """The task model a save_pretrained directory holds, in eval mode."""
    cfg = json.loads((directory / "config.json").read_text())
    if hf_blip2.holds(cfg):
        return hf_blip2.load_dir(directory, cfg, frozen)
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
    want = model.state_dict()
    model.load_state_dict(KEYS[task].to_ours(read_state(directory), str(directory), like=want), strict=True)
    model.codec = codec_of(cfg, directory)
    return model.eval()


def load(source: str, frozen_dtype=None):
    """The task model of a transformers directory or Hub id, in eval mode; `frozen_dtype`: what a
    BLIP-2 model's frozen tower and LM are held in (None: bf16 where this machine computes it fast)."""
    return load_dir(hub_or_dir(source), frozen_dtype)


def state(source: str) -> dict[str, torch.Tensor]:
    return load(source).state_dict()


def hub_or_dir(model: str) -> Path:
    """A local directory, or a Hub id fetched (or found in the cache) respecting HF_HUB_OFFLINE;
    the Hub timeouts are huggingface_hub's, which the CLI sets when it starts."""
    path = Path(model)
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise BlipctlError(f"{path}: no config.json; expected a transformers save_pretrained directory")
        return path
    if path.exists() or model.count("/") != 1:
        raise BlipctlError(f"--model {model}: not a directory, and not a Hub id like "
                           "Salesforce/blip-image-captioning-base")
    from huggingface_hub import constants, snapshot_download

    patterns = ["*.json", "*.safetensors", "*.txt"]
    try:
        return Path(snapshot_download(model, allow_patterns=patterns, local_files_only=True))
    except Exception:
        pass
    try:
        return Path(snapshot_download(model, allow_patterns=patterns,
                                      etag_timeout=constants.HF_HUB_ETAG_TIMEOUT))
    except Exception as e:
        offline = os.environ.get("HF_HUB_OFFLINE", "") not in ("", "0")
        why = "HF_HUB_OFFLINE is set" if offline else f"{type(e).__name__}"
        raise BlipctlError(
            f"--model {model}: not in the Hugging Face cache and cannot be downloaded ({why}); "
            "pass a local checkpoint instead: --model DIR, a directory written by "
            "transformers' save_pretrained") from None


def hf_config(model):
    """transformers' BlipConfig describing one of our task models, with its text convention."""
    from transformers import BlipConfig

    if type(model) not in ARCHITECTURES:
        raise BlipctlError(f"transformers has no class for a {type(model).__name__}; blipctl writes "
                           f"{', '.join(f'{a} (a {t.__name__})' for t, a in ARCHITECTURES.items())}")
    v, t = model.visual.cfg, (model.text if isinstance(model, BlipRetrieval) else model.decoder).cfg
    codec = getattr(model, "codec", None)
    ids = dict(bos_token_id=codec.bos, sep_token_id=codec.eos, pad_token_id=codec.pad) \
        if isinstance(codec, BlipText) else {}  # transformers' generate starts and stops on these
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
                         attention_probs_dropout_prob=t.dropout, hidden_act="gelu", **ids),
        **extra,
    )
    cfg.architectures = [ARCHITECTURES[type(model)]]
    if isinstance(codec, BlipText):
        own = {"vocab_file": VOCAB_NAME} if codec.vocab_file else {}  # the copy `save` writes
        setattr(cfg, CODEC_KEY, {"_component_": _CODEC, "grounded_start": codec.grounded_start, **own})
    return cfg


def save(model, out: str | Path) -> None:
    """A directory that transformers' Blip* class and BlipProcessor load; each file is written
    atomically (temporary file, fsync, rename)."""
    from safetensors.torch import save as to_bytes
    from transformers import BlipImageProcessor, BlipProcessor

    if hf_blip2.writes(model):
        return hf_blip2.save(model, out)
    out = Path(out)
    cfg = hf_config(model)
    state = KEYS[type(model)].to_theirs(model.state_dict())
    state = {k: v.detach().to("cpu").contiguous().clone() for k, v in state.items()}
    out.mkdir(parents=True, exist_ok=True)
    write_bytes(out / "model.safetensors", to_bytes(state, metadata={"format": "pt"}))
    write_text(out / "config.json", cfg.to_json_string())
    size = model.visual.cfg.image_size
    processor = BlipProcessor(BlipImageProcessor(size={"height": size, "width": size}),
                              model.codec.tokenizer)
    with tempfile.TemporaryDirectory(dir=out, prefix=".processor.") as tmp:
        processor.save_pretrained(tmp)
        for f in sorted(Path(tmp).iterdir()):
            write_bytes(out / f.name, f.read_bytes())
    model.codec.saved_in(out)  # its own vocab, which `load` reads (transformers reads tokenizer.json)
