"""Model builders: architecture by name of function, weights loaded separately (timm-style).

Recipes name these by dotted path, e.g. `_component_: blipctl.models.builders.blip_caption_base`.
`ckpt_layers` checkpoints the last k ViT blocks' activations (BLIP's `vit_ckpt_layer`).
"""

from __future__ import annotations

from dataclasses import replace
from functools import partial

from torch import nn

from blipctl.models.blip import BlipCaptioner, BlipPretrain, BlipRetrieval, BlipVQA, init_momentum
from blipctl.models.blip2 import LN_VISION_EPS, Blip2Generator, Blip2Retrieval, InstructBlip
from blipctl.models.eva import Frozen
from blipctl.models.layers import LMHead, bert_init
from blipctl.models.llm import FrozenLM
from blipctl.models.med import MEDConfig, TextTransformer
from blipctl.models.nlvr import BlipNLVR
from blipctl.models.qformer import QFormer, QFormerConfig
from blipctl.models.text_lm import TextLM
from blipctl.models.vit import ViT, ViTConfig


def vit_base(image_size: int = 384, ckpt_layers: int = 0, drop_path: float = 0.0) -> ViTConfig:
    """ViT-B/16, BLIP's base vision tower."""
    return ViTConfig(image_size=image_size, patch_size=16, width=768, depth=12, heads=12,
                     drop_path=drop_path, ckpt_layers=ckpt_layers)


def vit_large(image_size: int = 384, ckpt_layers: int = 0, drop_path: float = 0.1) -> ViTConfig:
    """ViT-L/16, BLIP's large vision tower (drop path 0.1 as BLIP trains it)."""
    return ViTConfig(image_size=image_size, patch_size=16, width=1024, depth=24, heads=16,
                     drop_path=drop_path, ckpt_layers=ckpt_layers)


def vit_tiny(image_size: int = 64, ckpt_layers: int = 0) -> ViTConfig:
    """A 2-layer ViT with 8-px patches for tests and the CPU mini recipes."""
    return ViTConfig(image_size=image_size, patch_size=8, width=128, depth=2, heads=2,
                     ckpt_layers=ckpt_layers)


def qformer_base(vision_width: int = 1408, queries: int = 32) -> QFormerConfig:
    """BLIP-2's Q-Former: BERT-base with cross-attention in every second layer, 32 queries,
    30523 ids (bert-base-uncased + [DEC]); vision_width 1408 for EVA ViT-g, 1024 for CLIP ViT-L."""
    return QFormerConfig(vision_width=vision_width, queries=queries)


def qformer_tiny(vision_width: int = 48, queries: int = 8, vocab_size: int = 30523,
                 depth: int = 4, width: int = 64, grad_ckpt: bool = False) -> QFormerConfig:
    """A 64-wide Q-Former for tests and the CPU mini recipes (vocab_size: the corpus's own)."""
    return QFormerConfig(vocab_size=vocab_size, width=width, depth=depth, heads=2, mlp_width=2 * width,
                         max_positions=64, vision_width=vision_width, queries=queries, dropout=0.0,
                         grad_ckpt=grad_ckpt)


def med_base(image_width: int = 768) -> MEDConfig:
    """BERT-base MED (bert-base-uncased + [DEC], [ENC])."""
    return MEDConfig(image_width=image_width)


def med_tiny(image_width: int = 128, vocab_size: int = 30524) -> MEDConfig:
    """vocab_size: token rows; the mini recipes use their corpus's own vocab (`vocab.txt`)."""
    return MEDConfig(vocab_size=vocab_size, width=128, depth=2, heads=2, mlp_width=256,
                     max_positions=64, image_width=image_width, dropout=0.0)


def lm_head(text: MEDConfig) -> LMHead:
    return LMHead(text.width, text.vocab_size, text.eps)


def captioner(vision: ViTConfig, text: MEDConfig, prompt: str = "a picture of ") -> BlipCaptioner:
    """A captioner of these sizes (what checkpoint loaders build before loading weights)."""
    return BlipCaptioner(ViT(vision), TextTransformer(text), lm_head(text), prompt)


def retrieval(vision: ViTConfig, text: MEDConfig, embed_dim: int = 256, queue_size: int | None = None,
              momentum: float = 0.995) -> BlipRetrieval:
    return BlipRetrieval(ViT(vision), TextTransformer(text), nn.Linear(vision.width, embed_dim),
                         nn.Linear(text.width, embed_dim), nn.Linear(text.width, 2), queue_size, momentum)


def vqa(vision: ViTConfig, text: MEDConfig) -> BlipVQA:
    """The answer decoder cross-attends to the question states, so its image width is the text's."""
    return BlipVQA(ViT(vision), TextTransformer(text), TextTransformer(replace(text, image_width=text.width)),
                   lm_head(text))


def blip_caption_base(image_size: int = 384, prompt: str = "a picture of ",
                      ckpt_layers: int = 0) -> BlipCaptioner:
    return captioner(vit_base(image_size, ckpt_layers), med_base(768), prompt)


def blip_caption_large(image_size: int = 384, prompt: str = "a picture of ",
                       ckpt_layers: int = 0) -> BlipCaptioner:
    return captioner(vit_large(image_size, ckpt_layers), med_base(1024), prompt)


def blip_caption_tiny(image_size: int = 64, prompt: str = "a picture of ",
                      vocab_size: int = 30524) -> BlipCaptioner:
    return captioner(vit_tiny(image_size), med_tiny(128, vocab_size), prompt)


def blip_vqa_base(image_size: int = 480, ckpt_layers: int = 0) -> BlipVQA:
    return vqa(vit_base(image_size, ckpt_layers), med_base(768))


def blip_vqa_tiny(image_size: int = 64, vocab_size: int = 30524) -> BlipVQA:
    return vqa(vit_tiny(image_size), med_tiny(128, vocab_size))


def blip_retrieval_base(image_size: int = 384, embed_dim: int = 256, queue_size: int | None = None,
                        ckpt_layers: int = 0) -> BlipRetrieval:
    """A queue_size adds momentum encoders and queues for fine-tuning (BLIP: 57600; 0 keeps the
    momentum encoders and contrasts in-batch only)."""
    return retrieval(vit_base(image_size, ckpt_layers), med_base(768), embed_dim, queue_size)


def blip_retrieval_large(image_size: int = 384, embed_dim: int = 256, queue_size: int | None = None,
                         ckpt_layers: int = 0) -> BlipRetrieval:
    return retrieval(vit_large(image_size, ckpt_layers), med_base(1024), embed_dim, queue_size)


def blip_retrieval_tiny(image_size: int = 64, embed_dim: int = 64, queue_size: int | None = None,
                        momentum: float = 0.995, vocab_size: int = 30524) -> BlipRetrieval:
    return retrieval(vit_tiny(image_size), med_tiny(128, vocab_size), embed_dim, queue_size, momentum)


def blip_pretrain_base(image_size: int = 224, queue_size: int = 57600, ckpt_layers: int = 0) -> BlipPretrain:
    return BlipPretrain(vit_base(image_size, ckpt_layers), med_base(768), 256, queue_size)


def blip_pretrain_large(image_size: int = 224, queue_size: int = 57600, ckpt_layers: int = 0) -> BlipPretrain:
    return BlipPretrain(vit_large(image_size, ckpt_layers), med_base(1024), 256, queue_size)


def blip_pretrain_tiny(image_size: int = 64, queue_size: int = 256, momentum: float = 0.995,
                       init_std: float | None = None, vocab_size: int = 30524) -> BlipPretrain:
    """momentum: the momentum encoders' EMA; BLIP's 0.995 suits 100k+ steps, not a few hundred.
    init_std: draw every linear and embedding weight from N(0, init_std) (biases 0), in place
    of BERT's 0.02 and the layers' defaults; ITM leaves its plateau sooner from a larger
    init (recipes/README.md)."""
    model = BlipPretrain(vit_tiny(image_size), med_tiny(128, vocab_size), 64, queue_size, momentum)
    if init_std is not None:
        model.apply(partial(bert_init, std=init_std))
        init_momentum(model)
    return model


def blip_nlvr_base(image_size: int = 384, ckpt_layers: int = 0) -> BlipNLVR:
    return BlipNLVR(vit_base(image_size, ckpt_layers, drop_path=0.1), med_base(768), merge_from=6)


def blip_nlvr_tiny(image_size: int = 64, vocab_size: int = 30524) -> BlipNLVR:
    return BlipNLVR(vit_tiny(image_size), med_tiny(128, vocab_size), merge_from=1)


def _bridge(vision: nn.Module, qformer: QFormer | QFormerConfig, text: bool) -> tuple[Frozen, QFormer]:
    """The tower and a Q-Former that reads it: a config gets the tower's width (and the text
    side or not); a built Q-Former must already fit."""
    from blipctl.errors import ConfigError

    vision = vision if isinstance(vision, Frozen) else Frozen(vision)
    width = vision.module.cfg.width
    if isinstance(qformer, QFormerConfig):
        return vision, QFormer(replace(qformer, vision_width=width, text_ffn=text))
    if qformer.cfg.vision_width != width or qformer.cfg.text_ffn != text:
        raise ConfigError(f"recipe key `model.qformer`: a Q-Former for {qformer.cfg.vision_width}-wide "
                          f"images{' with' if qformer.cfg.text_ffn else ' without'} a text side does not "
                          f"fit this model ({width}-wide tower, text side {text})")
    return vision, qformer


def blip2_stage1(vision: nn.Module, qformer: QFormer | QFormerConfig, embed_dim: int = 256) -> Blip2Retrieval:
    """BLIP-2 stage 1 (LAVIS `blip2`): a frozen tower (`checkpoints.parts.frozen_tower`; or
    `trainable_tower` for retrieval fine-tuning), a new
    ln_vision, the Q-Former with its text side, ITC projections to `embed_dim`, the ITM head,
    ITG's LM head (tied to the Q-Former's word embeddings) and the temperature 0.07."""
    from blipctl.text.codecs import BlipText

    vision, q = _bridge(vision, qformer, text=True)
    d = q.cfg.width
    model = Blip2Retrieval(vision, nn.LayerNorm(q.cfg.vision_width, eps=LN_VISION_EPS), q,
                           nn.Linear(d, embed_dim), nn.Linear(d, embed_dim), nn.Linear(d, 2),
                           LMHead(d, q.cfg.vocab_size, q.cfg.eps))
    model.codec = BlipText(grounded_start="[CLS]")  # BLIP-2 reads [CLS] text for ITC and ITM
    return model


def blip2_stage2(vision: nn.Module, qformer: QFormer | QFormerConfig, llm: FrozenLM,
                 prompt: str = "") -> Blip2Generator:
    """BLIP-2 stage 2 (LAVIS `blip2_opt` / `blip2_t5`): the frozen tower, ln_vision, a query-only
    Q-Former, the projection into the frozen LM (`checkpoints.parts.frozen_llm`) and its
    tokenizer. `prompt`: the text a caption follows ("a photo of" for COCO fine-tuning)."""
    return _generator(Blip2Generator, vision, qformer, llm, prompt)


def blip2_instruct(vision: nn.Module, qformer: QFormer | QFormerConfig, llm: FrozenLM, prompt: str = "",
                   qformer_vocab: str | None = None, end: str | None = None) -> InstructBlip:
    """InstructBLIP (LAVIS `blip2_t5_instruct` / `blip2_vicuna_instruct`): BLIP-2 stage 2 whose
    Q-Former keeps its text side to read the instruction with the queries. qformer_vocab: the
    Q-Former tokenizer's vocab file (None: bert-base-uncased's; the mini recipes' corpus vocab).
    end: the text a decoder-only LM ends a response with, if not its EOS (Vicuna's): the mini
    OPT learnt to end its texts with "\n"."""
    from blipctl.errors import ConfigError
    from blipctl.text.codecs import BlipText

    model = _generator(InstructBlip, vision, qformer, llm, prompt)
    model.qformer_codec = BlipText(grounded_start="[CLS]", vocab_file=qformer_vocab)
    if end is not None:
        model.end_token = model.codec.token(end)
        if model.end_token is None or llm.encoder_decoder:
            raise ConfigError(f"recipe key `model.end`: {end!r} is not one token of a decoder-only LM's "
                              "tokenizer")
    return model


def _generator(cls: type, vision: nn.Module, qformer: QFormer | QFormerConfig, llm: FrozenLM,
               prompt: str) -> Blip2Generator:
    from blipctl.text.codecs import LMText

    vision, q = _bridge(vision, qformer, text=cls is InstructBlip)
    model = cls(vision, nn.LayerNorm(q.cfg.vision_width, eps=LN_VISION_EPS), q,
                nn.Linear(q.cfg.width, llm.width), llm)
    if llm.tokenizer_dir is not None:
        model.codec = LMText(llm.tokenizer_dir)
        # LAVIS trains BLIP-2's OPT to end a text with "\n"; InstructBLIP's Vicuna ends with its
        # EOS and T5 with </s> (the LM's own: end_token None)
        if not llm.encoder_decoder and cls is not InstructBlip:
            model.end_token = model.codec.token("\n")
    model.prompt = prompt
    return model


def text_lm(kind: str, tokenizer: str, width: int = 128, depth: int = 2, heads: int = 2, ffn: int = 512,
            max_positions: int = 128) -> TextLM:
    """A small LM of transformers' OPT (`kind: opt`, decoder-only) or T5 (`t5`, Flan-T5's gated
    GELU) architecture, sized for CPU, over `tokenizer` (a transformers tokenizer directory such
    as the corpus's tokenizers/opt); transformers' own initialisation."""
    from transformers import AutoTokenizer, OPTConfig, OPTForCausalLM, T5Config, T5ForConditionalGeneration

    from blipctl.errors import ConfigError
    from blipctl.text.codecs import LMText

    tok = AutoTokenizer.from_pretrained(tokenizer)
    if kind == "opt":
        cfg = OPTConfig(vocab_size=len(tok), hidden_size=width, num_hidden_layers=depth,
                        num_attention_heads=heads, ffn_dim=ffn, max_position_embeddings=max_positions,
                        word_embed_proj_dim=width, pad_token_id=tok.pad_token_id,
                        bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id)
        model = TextLM(OPTForCausalLM(cfg))
    elif kind == "t5":
        cfg = T5Config(vocab_size=len(tok), d_model=width, d_ff=ffn, d_kv=width // heads, num_layers=depth,
                       num_heads=heads, feed_forward_proj="gated-gelu", tie_word_embeddings=False,
                       pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id,
                       decoder_start_token_id=tok.pad_token_id)
        model = TextLM(T5ForConditionalGeneration(cfg))
    else:
        raise ConfigError(f"recipe key `model.kind`: expected opt or t5, got {kind!r}")
    model.codec = LMText(str(tokenizer))
    if kind == "opt":
        model.end_token = model.codec.token("\n")
    return model
