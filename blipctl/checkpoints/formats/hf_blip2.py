"""transformers' BLIP-2 format: `Blip2ForConditionalGeneration` (OPT or Flan-T5) and
`Blip2ForImageTextRetrieval` directories.

The LM's weights keep transformers' names under `language_model.` and load into the LM that
transformers builds from `text_config`; everything else maps through `EVA_HF` / `QFORMER_HF`.
New-style checkpoints mark `image_token_index`: transformers writes the 32 projected queries
over that many image tokens in `input_ids`; blipctl puts the same queries before the text,
which is the same sequence to the LM (legacy checkpoints, with no image token, prepend too).
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import torch

from blipctl.checkpoints.formats.hf_common import need_gelu, read_state
from blipctl.checkpoints.keymap import KeyMap
from blipctl.checkpoints.names import EVA_HF, QFORMER_HF, QFORMER_INSTRUCT_HF
from blipctl.errors import BlipctlError
from blipctl.models.blip2 import Blip2Generator, Blip2Retrieval, InstructBlip
from blipctl.models.eva import EvaConfig, EvaViT
from blipctl.models.llm import FrozenLM
from blipctl.models.qformer import QFormer, QFormerConfig
from blipctl.text.codecs import BlipText, LMText

LM_PREFIX = "language_model."
_VISION = [("visual.module.eva.", "vision_model.", EVA_HF),
           ("ln_vision.", "vision_model.post_layernorm.", [("{w}", "{w}")]),
           ("qformer.", "qformer.", QFORMER_HF)]
GENERATOR_KEYS = KeyMap([*_VISION, ("", "", [("qformer.query_tokens", "query_tokens"),
                                              ("proj.{w}", "language_projection.{w}")])])
INSTRUCT_KEYS = KeyMap([*_VISION[:2], ("qformer.", "qformer.", QFORMER_INSTRUCT_HF),
                        ("", "", [("qformer.query_tokens", "query_tokens"),
                                  ("proj.{w}", "language_projection.{w}")])])
RETRIEVAL_KEYS = KeyMap([*_VISION, ("", "", [
    ("qformer.query_tokens", "query_tokens"),
    ("qformer.tok.weight", "embeddings.word_embeddings.weight"),
    ("qformer.pos.weight", "embeddings.position_embeddings.weight"),
    ("vision_proj.{w}", "vision_projection.{w}"), ("text_proj.{w}", "text_projection.{w}"),
    ("itm_head.{w}", "itm_head.{w}")])])
NOT_IN_HF = ("temp",)  # LAVIS's ITC temperature: transformers keeps none (inference does not use it)


def holds(cfg: dict) -> bool:
    """Whether a config.json describes a BLIP-2 (or InstructBLIP) model."""
    return cfg.get("model_type") in ("blip-2", "instructblip")


def eva_config(v: dict) -> EvaConfig:
    """Our EVA config from transformers' `vision_config` (transformers' defaults where the
    Hub's config.json leaves a value out, as it does for most of EVA ViT-g's)."""
    need_gelu(v, "vision_config")
    return EvaConfig(image_size=v.get("image_size", 224), patch_size=v.get("patch_size", 14),
                     width=v.get("hidden_size", 1408), depth=v.get("num_hidden_layers", 39),
                     heads=v.get("num_attention_heads", 16), mlp_width=v.get("intermediate_size", 6144),
                     eps=v.get("layer_norm_eps", 1e-6))


def qformer_config(q: dict, vision_width: int, queries: int) -> QFormerConfig:
    need_gelu(q, "qformer_config")
    return QFormerConfig(vocab_size=q.get("vocab_size", 30522), width=q.get("hidden_size", 768),
                         depth=q.get("num_hidden_layers", 12), heads=q.get("num_attention_heads", 12),
                         mlp_width=q.get("intermediate_size", 3072),
                         max_positions=q.get("max_position_embeddings", 512), vision_width=vision_width,
                         queries=queries, cross_every=q.get("cross_attention_frequency", 2),
                         text_ffn=bool(q.get("use_qformer_text_input", False)),
                         eps=q.get("layer_norm_eps", 1e-12), dropout=0.0)


def build_generator(cfg: dict, frozen: torch.dtype = torch.float32,
                    cls: type = Blip2Generator) -> Blip2Generator:
    """A Blip2Generator (or `cls`) shaped as config.json says, the LM from transformers; the
    frozen tower and LM are allocated uninitialised in `frozen` (a checkpoint fills them)."""
    from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForSeq2SeqLM
    from transformers.initialization import no_init_weights

    eva, qf = _vision_configs(cfg, text=cls is InstructBlip)
    text = dict(cfg.get("text_config") or {"model_type": "opt"})
    text_cfg = AutoConfig.for_model(text.pop("model_type", "opt"), **text)
    auto = AutoModelForSeq2SeqLM if text_cfg.is_encoder_decoder else AutoModelForCausalLM
    with no_init_weights():
        lm = auto.from_config(text_cfg, dtype=frozen)
    lm.tie_weights()  # skipped with the initialisation; ties what the config says are tied
    lm = FrozenLM(lm)
    return cls(EvaViT.empty(eva, frozen), torch.nn.LayerNorm(eva.width, eps=eva.eps), QFormer(qf),
               torch.nn.Linear(qf.width, lm.width), lm)


def build_instruct(cfg: dict, frozen: torch.dtype = torch.float32) -> InstructBlip:
    """An InstructBlip shaped as config.json says (its Q-Former always has the text side)."""
    return build_generator(cfg, frozen, InstructBlip)


def build_retrieval(cfg: dict, frozen: torch.dtype = torch.float32) -> Blip2Retrieval:
    """A Blip2Retrieval shaped as config.json says, the tower uninitialised in `frozen`."""
    eva, qf = _vision_configs(cfg, text=True)
    dim = cfg.get("image_text_hidden_size", 256)
    return Blip2Retrieval(EvaViT.empty(eva, frozen), torch.nn.LayerNorm(eva.width, eps=eva.eps), QFormer(qf),
                          torch.nn.Linear(qf.width, dim), torch.nn.Linear(qf.width, dim),
                          torch.nn.Linear(qf.width, 2))


def _vision_configs(cfg: dict, text: bool = False) -> tuple[EvaConfig, QFormerConfig]:
    eva = eva_config(cfg.get("vision_config", {}))
    qf = qformer_config(cfg.get("qformer_config", {}), eva.width, cfg.get("num_query_tokens", 32))
    return eva, replace(qf, text_ffn=True) if text else qf


# architecture -> (builder, key map)
ARCHITECTURES = {"Blip2ForConditionalGeneration": (build_generator, GENERATOR_KEYS),
                 "InstructBlipForConditionalGeneration": (build_instruct, INSTRUCT_KEYS),
                 "Blip2ForImageTextRetrieval": (build_retrieval, RETRIEVAL_KEYS)}


def load_dir(directory: Path, cfg: dict, frozen: torch.dtype | None = None):
    """The BLIP-2 model of a save_pretrained directory, in eval mode. The frozen tower and LM
    are held in `frozen` (None: `frozen_dtype()`), ln_vision, the Q-Former and the projections
    in fp32. Weights stream from the files one tensor at a time into the model, so loading
    needs little more memory than the model holds."""
    arch = (cfg.get("architectures") or ["Blip2ForConditionalGeneration"])[0]
    if arch not in ARCHITECTURES:
        raise BlipctlError(f"{directory}: blipctl reads BLIP-2 as {', '.join(ARCHITECTURES)}; "
                           f"this checkpoint is a {arch}")
    build, keys = ARCHITECTURES[arch]
    model = build(cfg, frozen or frozen_dtype())
    targets = model.state_dict(keep_vars=True)
    ours = {k: v for k, v in targets.items() if not k.startswith("llm.") and k not in NOT_IN_HF}
    loaded = set()
    with torch.no_grad():
        for key, tensor in stream_state(directory):
            if key.startswith(LM_PREFIX):
                named = {"llm.lm." + key[len(LM_PREFIX):]: tensor}
            else:
                named = keys.to_ours({key: tensor}, str(directory), like=ours)
            for name, value in named.items():
                if name not in targets:
                    raise BlipctlError(f"{directory}: the checkpoint has unexpected {key}")
                if targets[name].shape != value.shape:
                    raise BlipctlError(f"{directory}: {key} has shape {tuple(value.shape)}, "
                                       f"the model's {tuple(targets[name].shape)}")
                if value.dtype == targets[name].dtype:
                    targets[name].data = value  # take the tensor as read: no second copy
                else:
                    targets[name].copy_(value)
                loaded.add(name)
    tied = {"llm.lm." + k for k in _tied_keys(model.llm.lm)} if isinstance(model, Blip2Generator) else set()
    missing = sorted(set(targets) - loaded - tied - set(NOT_IN_HF))
    if missing:
        more = f" and {len(missing) - 1} more tensors" if len(missing) > 1 else ""
        raise BlipctlError(f"{directory}: the checkpoint lacks {missing[0]}{more}")
    if isinstance(model, Blip2Generator):
        model.codec = LMText(str(directory))
        if isinstance(model, InstructBlip):  # its Q-Former reads the instruction as BERT ids, [CLS] first
            vocab = directory / "qformer_tokenizer" / "vocab.txt"
            model.qformer_codec = BlipText(grounded_start="[CLS]",
                                           vocab_file=str(vocab) if vocab.is_file() else None)
    else:
        model.codec = BlipText(grounded_start="[CLS]")  # the Q-Former reads [CLS] text for ITC and ITM
    return model.eval()


def stream_state(directory: Path, per_open: int = 32):
    """(name, tensor) of a save_pretrained directory, one tensor at a time from safetensors. The
    file is memory-mapped afresh for every `per_open` tensors, so the pages read stay mapped
    (and resident) for those tensors only; a weights-only `.bin` is read whole."""
    from safetensors import safe_open

    files = sorted(directory.glob("*.safetensors"))
    if not files:
        yield from read_state(directory).items()
        return
    for f in files:
        with safe_open(f, framework="pt") as reader:
            keys = list(reader.keys())
        for start in range(0, len(keys), per_open):
            with safe_open(f, framework="pt") as reader:
                chunk = [(k, reader.get_tensor(k)) for k in keys[start:start + per_open]]
            yield from chunk
            del chunk


def frozen_dtype() -> torch.dtype:
    """bf16 for the frozen parts where this machine computes it at least as fast as fp32
    (a CUDA device that supports it, or a CPU whose measured bf16 matmul keeps up), else fp32.
    Never fp16: Flan-T5 overflows in it."""
    from blipctl.hardware import bf16_pays

    return torch.bfloat16 if bf16_pays() else torch.float32


def _tied_keys(lm: torch.nn.Module) -> list[str]:
    """Parameter names that share storage with an earlier one (tied embeddings and heads)."""
    seen, tied = {}, []
    for name, p in lm.named_parameters(remove_duplicate=False):
        if p.data_ptr() in seen:
            tied.append(name)
        else:
            seen[p.data_ptr()] = name
    return tied


def writes(model) -> bool:
    return isinstance(model, (Blip2Generator, Blip2Retrieval))


def hf_config(model) -> dict:
    """transformers' Blip2Config (as a dict) describing a Blip2Generator or Blip2Retrieval."""
    v, q = model.visual.module.cfg, model.qformer.cfg
    vision = dict(image_size=v.image_size, patch_size=v.patch_size, hidden_size=v.width,
                  num_hidden_layers=v.depth, num_attention_heads=v.heads, intermediate_size=v.mlp_width,
                  layer_norm_eps=model.ln_vision.eps, hidden_act="gelu")
    qformer = dict(vocab_size=q.vocab_size, hidden_size=q.width, num_hidden_layers=q.depth,
                   num_attention_heads=q.heads, intermediate_size=q.mlp_width,
                   max_position_embeddings=q.max_positions, cross_attention_frequency=q.cross_every,
                   layer_norm_eps=q.eps, use_qformer_text_input=q.text_ffn, hidden_act="gelu")
    instruct = isinstance(model, InstructBlip)
    if instruct:  # InstructBLIP's Q-Former config has no switch: its text side always exists
        del qformer["use_qformer_text_input"]
    cfg = dict(model_type="instructblip" if instruct else "blip-2", vision_config=vision,
               qformer_config=qformer, num_query_tokens=q.queries)
    if isinstance(model, Blip2Generator):
        cfg["text_config"] = model.llm.lm.config.to_dict()
        image = getattr(model.codec.tokenizer, "image_token", None)
        if image is not None:  # new-style: the tokenizer writes the image tokens
            cfg["image_token_index"] = model.codec.tokenizer.convert_tokens_to_ids(image)
        cfg["architectures"] = ["InstructBlipForConditionalGeneration" if instruct
                                else "Blip2ForConditionalGeneration"]
    else:
        cfg["image_text_hidden_size"] = model.vision_proj.out_features
        cfg["architectures"] = ["Blip2ForImageTextRetrieval"]
    return cfg


def hf_state(model) -> tuple[dict[str, torch.Tensor], list[str]]:
    """(the state dict under transformers' names, each tied weight once, and the ITG head's
    tensors, which transformers has no place for; LAVIS's `temp` is left out too)."""
    ours = {k: v for k, v in model.state_dict().items() if not k.startswith("llm.") and k not in NOT_IN_HF}
    head = [k for k in ours if k.startswith("lm_head.")]
    ours = {k: v for k, v in ours.items() if k not in head}
    if isinstance(model, Blip2Generator):
        theirs = (INSTRUCT_KEYS if isinstance(model, InstructBlip) else GENERATOR_KEYS).to_theirs(ours)
        lm = model.llm.lm
        tied = set(_tied_keys(lm))
        theirs.update({LM_PREFIX + k: v for k, v in lm.state_dict().items() if k not in tied})
    else:
        theirs = RETRIEVAL_KEYS.to_theirs(ours)
    return theirs, head


def qformer_tokenizer(model: InstructBlip):
    """The Q-Former's tokenizer as transformers' InstructBLIP keeps it: BERT's vocab and [DEC]
    (LAVIS's), without the [ENC] that BLIP-1's tokenizer adds last."""
    from transformers import BertTokenizer

    from blipctl.text.tokenizer import DEC_TOKEN

    codec = model.qformer_codec
    vocab = {t: i for t, i in codec.tokenizer.get_vocab().items() if i < codec.id_count and t != DEC_TOKEN}
    tok = BertTokenizer(vocab=vocab, do_lower_case=True)
    tok.add_special_tokens({"bos_token": DEC_TOKEN})
    return tok


def save(model, out: str | Path) -> None:
    """A directory that transformers' Blip2* or InstructBlip* class loads, with the LM's tokenizer
    and an image processor (Blip2Processor; InstructBlipProcessor, which keeps the Q-Former's
    tokenizer in qformer_tokenizer/); each file written atomically. Tensors transformers has no
    place for (LAVIS's `temp`, the ITG head) are named on stderr, not written."""
    import sys
    import tempfile

    from safetensors.torch import save as to_bytes
    from transformers import Blip2Processor, BlipImageProcessor

    from blipctl.files import write_bytes, write_text

    out = Path(out)
    state, head = hf_state(model)
    cfg = hf_config(model)
    if head:
        sys.stderr.write(f"note: transformers' {cfg['architectures'][0]} has no ITG head; "
                         f"not written: {', '.join(head)} (--to lavis keeps it)\n")
    state = {k: v.detach().to("cpu").contiguous().clone() for k, v in state.items()}
    out.mkdir(parents=True, exist_ok=True)
    write_bytes(out / "model.safetensors", to_bytes(state, metadata={"format": "pt"}))
    write_text(out / "config.json", json.dumps(cfg, indent=2))
    size = model.image_size
    images = BlipImageProcessor(size={"height": size, "width": size})
    with tempfile.TemporaryDirectory(dir=out, prefix=".processor.") as tmp:
        if isinstance(model, InstructBlip):
            from transformers import InstructBlipProcessor

            InstructBlipProcessor(images, model.codec.tokenizer, qformer_tokenizer(model),
                                  num_query_tokens=model.qformer.cfg.queries).save_pretrained(tmp)
        elif isinstance(model, Blip2Generator):
            queries = model.qformer.cfg.queries
            Blip2Processor(images, model.codec.tokenizer, num_query_tokens=queries).save_pretrained(tmp)
        else:
            images.save_pretrained(tmp)
            model.codec.tokenizer.save_pretrained(tmp)
        for f in sorted(Path(tmp).rglob("*")):  # InstructBLIP's Q-Former tokenizer is in qformer_tokenizer/
            if f.is_file():
                (out / f.relative_to(tmp)).parent.mkdir(parents=True, exist_ok=True)
                write_bytes(out / f.relative_to(tmp), f.read_bytes())
