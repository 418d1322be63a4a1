"""LAVIS's BLIP-2 `.pth` checkpoints: `{'model': state_dict}` of `blip2` /
`blip2_feature_extractor` (the Q-Former with ITC/ITM/ITG heads), `blip2_opt` and `blip2_t5`, and
InstructBLIP's `blip2_t5_instruct` (`t5_proj`) and `blip2_vicuna_instruct` (`llm_proj`), whose
Q-Former keeps its text embeddings to read the instruction.

The architecture is read off the tensor shapes: EVA's 88-dim attention heads (LAVIS builds
EVA ViT-g with 1408 // 88 heads), BERT's 64-dim heads in the Q-Former. A generation
checkpoint holds no LM weights: the LM comes from its own directory or Hub id (`llm`).
Reading uses `torch.load(weights_only=True)`, as for every `.pth`.
"""

from __future__ import annotations

import io
from pathlib import Path

import torch

from blipctl.checkpoints.formats.blip_pth import heads_of, read_pth
from blipctl.checkpoints.keymap import KeyMap, Tied
from blipctl.checkpoints.names import CLIP_LAVIS, EVA_LAVIS, LM_HEAD, QFORMER_LAVIS
from blipctl.errors import BlipctlError
from blipctl.files import write_bytes
from blipctl.models.blip2 import LN_VISION_EPS, Blip2Generator, Blip2Retrieval, InstructBlip
from blipctl.models.clip_vit import ClipViT
from blipctl.models.eva import EvaConfig, EvaViT
from blipctl.models.layers import LMHead
from blipctl.models.llm import FrozenLM
from blipctl.models.qformer import QFormer, QFormerConfig
from blipctl.models.vit import ViTConfig
from blipctl.text.codecs import BlipText, LMText

EVA_HEAD_DIM, BERT_HEAD_DIM = 88, 64
PROJ = ("opt_proj", "t5_proj", "llm_proj")  # the projection into the LM, named by its family
_HEADS = [("lm_head.", "Qformer.cls.", LM_HEAD),
          ("", "", [Tied("qformer.tok.weight", "Qformer.cls.predictions.decoder.weight"),
                    Tied("lm_head.bias", "Qformer.cls.predictions.decoder.bias")])]
_MATCHER = [(f"{m}.{{w}}", f"{m}.{{w}}") for m in ("vision_proj", "text_proj", "itm_head")]
_MATCHER.append(("temp", "temp"))


def key_map(tower: type, proj: str | None) -> KeyMap:
    """LAVIS's names for a BLIP-2 model with this vision tower (EvaViT or ClipViT): the
    Q-Former matcher with ITC/ITM/ITG heads (proj None) or a generator (`opt_proj`/`t5_proj`)."""
    ours, names = ("visual.module.eva.", EVA_LAVIS) if tower is EvaViT else ("visual.module.vit.", CLIP_LAVIS)
    sections = [(ours, "visual_encoder.", names), ("qformer.", "Qformer.bert.", QFORMER_LAVIS),
                ("", "", [("ln_vision.{w}", "ln_vision.{w}"), ("qformer.query_tokens", "query_tokens")])]
    if proj is None:
        return KeyMap([*sections, ("", "", _MATCHER), *_HEADS])
    return KeyMap([*sections, ("", "", [("proj.{w}", f"{proj}.{{w}}")])])


def holds(state: dict) -> bool:
    return "query_tokens" in state


def detect(source: str) -> bool:
    """A `.pth` file with BLIP-2's learned queries: its keys are read memory-mapped, without
    its tensors (a file torch cannot map is left to the BLIP format)."""
    path = Path(source)
    if not (path.is_file() and path.suffix in (".pth", ".pt")):
        return False
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception:
        return False
    state = ckpt.get("model", ckpt) if isinstance(ckpt, dict) else {}
    return isinstance(state, dict) and holds(state)


def _count(state: dict, prefix: str) -> int:
    return len({k[len(prefix):].split(".")[0] for k in state if k.startswith(prefix)})


def tower_of(state: dict, frozen: torch.dtype):
    """The frozen vision tower a LAVIS state dict holds (EVA ViT-g or CLIP ViT-L), uninitialised
    in `frozen`."""
    if "visual_encoder.conv1.weight" in state:
        return ClipViT.empty(clip_config(state), frozen)
    return EvaViT.empty(eva_config(state), frozen)


def _tower_shape(state: dict, cls: str, patch: str, pos: str, blocks: str) -> dict:
    """image_size, patch_size, width and depth of a tower, read off its tensors' shapes."""
    width = state[cls].shape[-1]
    patch_size = state[patch].shape[-1]
    grid = round((state[pos].shape[-2] - 1) ** 0.5)
    return dict(image_size=grid * patch_size, patch_size=patch_size, width=width, depth=_count(state, blocks))


def clip_config(state: dict) -> ViTConfig:
    v = "visual_encoder."
    shape = _tower_shape(state, v + "class_embedding", v + "conv1.weight", v + "positional_embedding",
                         v + "transformer.resblocks.")
    heads = heads_of(shape["width"], "the CLIP vision tower's", BERT_HEAD_DIM, "CLIP's")
    return ViTConfig(**shape, heads=heads, eps=1e-5)


def eva_config(state: dict) -> EvaConfig:
    v = "visual_encoder."
    shape = _tower_shape(state, v + "cls_token", v + "patch_embed.proj.weight", v + "pos_embed",
                         v + "blocks.")
    heads = heads_of(shape["width"], "the EVA vision tower's", EVA_HEAD_DIM, "EVA's")
    return EvaConfig(**shape, heads=heads, mlp_width=state[v + "blocks.0.mlp.fc1.weight"].shape[0])


def qformer_config(state: dict, vision_width: int) -> QFormerConfig:
    q = "Qformer.bert."
    width = state["query_tokens"].shape[-1]
    cross = sorted(int(k.split(".")[4]) for k in state
                   if k.startswith(q + "encoder.layer.") and ".crossattention.self.query.weight" in k)
    words = state.get(q + "embeddings.word_embeddings.weight")
    depth = _count(state, q + "encoder.layer.")
    return QFormerConfig(vocab_size=words.shape[0] if words is not None else 30523, width=width,
                         depth=depth, heads=heads_of(width, "the Q-Former's", BERT_HEAD_DIM, "BERT's"),
                         mlp_width=state[q + "encoder.layer.0.intermediate_query.dense.weight"].shape[0],
                         max_positions=state[q + "embeddings.position_embeddings.weight"].shape[0]
                         if words is not None else 512,
                         vision_width=vision_width, queries=state["query_tokens"].shape[1],
                         cross_every=cross[1] - cross[0] if len(cross) > 1 else depth,
                         text_ffn=q + "encoder.layer.0.intermediate.dense.weight" in state, dropout=0.0)


def from_state(state: dict, where: str, llm: str | None = None, frozen_dtype: torch.dtype | None = None):
    """The model a LAVIS BLIP-2 state dict holds, in eval mode; the frozen tower and LM held in
    `frozen_dtype` (None: bf16 where this machine computes it fast), the rest in fp32."""
    from blipctl.checkpoints.formats.hf_blip2 import frozen_dtype as default_frozen

    frozen = frozen_dtype or default_frozen()
    visual = tower_of(state, frozen)
    width = visual.cfg.width
    qf = qformer_config(state, width)
    ln = torch.nn.LayerNorm(width, eps=LN_VISION_EPS)
    proj = next((p for p in PROJ if f"{p}.weight" in state), None)
    if proj is None:
        if llm is not None:
            raise BlipctlError(f"--llm {llm}: {where} is a Q-Former checkpoint (blip2), which has no LM")
        dim = state["vision_proj.weight"].shape[0]
        head = LMHead(qf.width, qf.vocab_size) if "Qformer.cls.predictions.bias" in state else None
        model = Blip2Retrieval(visual, ln, QFormer(qf), torch.nn.Linear(qf.width, dim),
                               torch.nn.Linear(qf.width, dim), torch.nn.Linear(qf.width, 2), head)
        keys, codec = key_map(type(visual), None), BlipText(grounded_start="[CLS]")
    else:
        if llm is None:
            kind = {"opt_proj": "blip2_opt", "t5_proj": "blip2_t5", "llm_proj": "blip2_vicuna_instruct"}[proj]
            raise BlipctlError(f"{where}: a LAVIS {kind} checkpoint holds no LM weights; "
                               "name the LM's directory or Hub id with --llm")
        lm_dir = _lm_dir(llm)
        lm = _frozen_lm(lm_dir, llm, proj, frozen)
        cls = InstructBlip if qf.text_ffn else Blip2Generator  # InstructBLIP's Q-Former reads text
        model = cls(visual, ln, QFormer(qf), torch.nn.Linear(qf.width, lm.width), lm)
        if cls is InstructBlip:
            model.qformer_codec = BlipText(grounded_start="[CLS]")
        keys, codec = key_map(type(visual), proj), LMText(str(lm_dir))
    want = {k: v for k, v in model.state_dict().items() if not k.startswith("llm.")}
    ours = keys.to_ours(state, where, like=want)
    missing = sorted(set(want) - set(ours))
    if missing:
        raise BlipctlError(f"{where}: the checkpoint lacks {missing[0]}"
                           + (f" and {len(missing) - 1} more tensors" if len(missing) > 1 else ""))
    model.load_state_dict(ours, strict=False)
    model.codec = codec
    return model.eval()


def _lm_dir(llm: str) -> Path:
    from blipctl.checkpoints.formats.hf_blip import hub_or_dir

    return hub_or_dir(llm)


def _frozen_lm(lm_dir: Path, llm: str, proj: str, dtype: torch.dtype) -> FrozenLM:
    from transformers import AutoModelForCausalLM, AutoModelForSeq2SeqLM

    from blipctl.checkpoints.formats.hf_common import from_pretrained

    auto = AutoModelForSeq2SeqLM if proj == "t5_proj" else AutoModelForCausalLM
    try:
        return FrozenLM(from_pretrained(auto, lm_dir, dtype=dtype))
    except (OSError, ValueError) as e:
        kind = "encoder-decoder" if proj == "t5_proj" else "causal"
        raise BlipctlError(f"--llm {llm}: not a transformers {kind} LM ({str(e).splitlines()[0]})") from None


def load(source: str, llm: str | None = None, frozen_dtype: torch.dtype | None = None):
    return from_state(read_pth(source), str(source), llm, frozen_dtype)


def state(source: str) -> dict[str, torch.Tensor]:
    """The checkpoint under blipctl's names (for warm start): the Q-Former side only."""
    theirs = read_pth(source)
    proj = next((p for p in PROJ if f"{p}.weight" in theirs), None)
    tower = ClipViT if "visual_encoder.conv1.weight" in theirs else EvaViT
    return key_map(tower, proj).to_ours(theirs, str(source))


def lavis_state(model) -> dict[str, torch.Tensor]:
    """A BLIP-2 model's state dict under LAVIS's names; never the LM's weights. A model whose
    head widths differ from LAVIS's (88 in EVA, 64 in the Q-Former) is refused: the file would
    be read back with other heads."""
    if not isinstance(model, (Blip2Retrieval, Blip2Generator)):
        raise BlipctlError(f"LAVIS's BLIP-2 format holds BLIP-2 models; this is a {type(model).__name__}")
    tower = type(model.visual.module)
    _same_heads(model.visual.module.cfg, "EVA vision tower" if tower is EvaViT else "CLIP vision tower",
                EVA_HEAD_DIM if tower is EvaViT else BERT_HEAD_DIM)
    _same_heads(model.qformer.cfg, "Q-Former", BERT_HEAD_DIM)
    ours = {k: v for k, v in model.state_dict().items() if not k.startswith("llm.")}
    proj = None
    if isinstance(model, Blip2Generator):
        causal = "llm_proj" if isinstance(model, InstructBlip) else "opt_proj"  # Vicuna's, OPT's
        proj = "t5_proj" if model.llm.encoder_decoder else causal
    return key_map(tower, proj).to_theirs(ours)


def _same_heads(cfg, what: str, dim: int) -> None:
    if cfg.width != cfg.heads * dim:
        raise BlipctlError(f"the {what} has {cfg.heads} heads of {cfg.width // cfg.heads}; a LAVIS .pth "
                           f"records no head count and is read with heads of {dim}: --to hf keeps it")


def save(model, out: str | Path) -> None:
    """Writes `{'model': state_dict}` with LAVIS's key names (atomically)."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    torch.save({"model": {k: v.detach().cpu().clone() for k, v in lavis_state(model).items()}}, buf)
    write_bytes(out, buf.getvalue())
