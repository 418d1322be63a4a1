"""Name tables: blipctl's module names against BERT/transformers and timm/original BLIP names.
Rules as `checkpoints.keymap` reads them: (ours, theirs) renames, (None, theirs) drops, transforms."""

from __future__ import annotations

from blipctl.checkpoints.transforms import eva_qkv_bias, pos_embed, unbatched_cls, unbatched_pos

# MED text transformer (ours) <-> BERT names, used by transformers' BLIP and by original BLIP.
BERT = [
    ("embed.tok.weight", "embeddings.word_embeddings.weight"),
    ("embed.pos.weight", "embeddings.position_embeddings.weight"),
    ("embed.ln.{w}", "embeddings.LayerNorm.{w}"),
    ("layers.{i}.attn.q.{w}", "encoder.layer.{i}.attention.self.query.{w}"),
    ("layers.{i}.attn.k.{w}", "encoder.layer.{i}.attention.self.key.{w}"),
    ("layers.{i}.attn.v.{w}", "encoder.layer.{i}.attention.self.value.{w}"),
    ("layers.{i}.attn.o.{w}", "encoder.layer.{i}.attention.output.dense.{w}"),
    ("layers.{i}.attn.ln.{w}", "encoder.layer.{i}.attention.output.LayerNorm.{w}"),
    ("layers.{i}.cross.q.{w}", "encoder.layer.{i}.crossattention.self.query.{w}"),
    ("layers.{i}.cross.k.{w}", "encoder.layer.{i}.crossattention.self.key.{w}"),
    ("layers.{i}.cross.v.{w}", "encoder.layer.{i}.crossattention.self.value.{w}"),
    ("layers.{i}.cross.o.{w}", "encoder.layer.{i}.crossattention.output.dense.{w}"),
    ("layers.{i}.cross.ln.{w}", "encoder.layer.{i}.crossattention.output.LayerNorm.{w}"),
    ("layers.{i}.mlp.fc1.{w}", "encoder.layer.{i}.intermediate.dense.{w}"),
    ("layers.{i}.mlp.fc2.{w}", "encoder.layer.{i}.output.dense.{w}"),
    ("layers.{i}.mlp.ln.{w}", "encoder.layer.{i}.output.LayerNorm.{w}"),
    (None, "embeddings.position_ids"),  # BERT's constant arange buffer (older checkpoints save it)
]

# LM head (ours) <-> BERT's `cls.` head. The vocab projection reuses the word embeddings.
LM_HEAD = [
    ("dense.{w}", "predictions.transform.dense.{w}"),
    ("ln.{w}", "predictions.transform.LayerNorm.{w}"),
    ("bias", "predictions.bias"),
]

# ViT (ours, = timm = original BLIP) <-> transformers' BlipVisionModel. The position embedding
# is read at the grid of the model it loads into (BLIP's bicubic interpolation).
_VIT = [
    ("cls_token", "embeddings.class_embedding"),
    ("patch_embed.proj.{w}", "embeddings.patch_embedding.{w}"),
    ("blocks.{i}.norm1.{w}", "encoder.layers.{i}.layer_norm1.{w}"),
    ("blocks.{i}.attn.qkv.{w}", "encoder.layers.{i}.self_attn.qkv.{w}"),
    ("blocks.{i}.attn.proj.{w}", "encoder.layers.{i}.self_attn.projection.{w}"),
    ("blocks.{i}.norm2.{w}", "encoder.layers.{i}.layer_norm2.{w}"),
    ("blocks.{i}.mlp.fc1.{w}", "encoder.layers.{i}.mlp.fc1.{w}"),
    ("blocks.{i}.mlp.fc2.{w}", "encoder.layers.{i}.mlp.fc2.{w}"),
    ("norm.{w}", "post_layernorm.{w}"),
]
VIT_HF = [pos_embed("pos_embed", "embeddings.position_embedding"), *_VIT]
VIT_TIMM = [pos_embed("pos_embed", "pos_embed"), *((ours, ours) for ours, _ in _VIT)]

# NLVR2's text encoder: BERT names, with a cross-attention per image (self0/self1, dense0/dense1)
BERT_TWIN = [pair for pair in BERT if ".cross." not in (pair[0] or "")] + [
    (f"layers.{{i}}.cross.h{n}.{o}.{{w}}", f"encoder.layer.{{i}}.crossattention.self{n}.{t}.{{w}}")
    for n in (0, 1) for o, t in (("q", "query"), ("k", "key"), ("v", "value"))
] + [
    ("layers.{i}.cross.o0.{w}", "encoder.layer.{i}.crossattention.output.dense0.{w}"),
    ("layers.{i}.cross.o1.{w}", "encoder.layer.{i}.crossattention.output.dense1.{w}"),
    ("layers.{i}.cross.merge.{w}", "encoder.layer.{i}.crossattention.output.merge_layer.{w}"),
    ("layers.{i}.cross.ln.{w}", "encoder.layer.{i}.crossattention.output.LayerNorm.{w}"),
]

# Q-Former (ours, models/qformer.py) <-> transformers' Blip2QFormerModel (`qformer.` in a
# Blip2* checkpoint; LAVIS's `Qformer.bert.` with `attention.self` for `attention.attention`).
_QF_SUBLAYER = [("q.{w}", "attention.query.{w}"), ("k.{w}", "attention.key.{w}"),
                ("v.{w}", "attention.value.{w}"), ("o.{w}", "output.dense.{w}"),
                ("ln.{w}", "output.LayerNorm.{w}")]
QFORMER_HF = [("ln.{w}", "layernorm.{w}")] + [
    (f"layers.{{i}}.{ours}.{o}", f"encoder.layer.{{i}}.{theirs}.{t}")
    for ours, theirs in (("attn", "attention"), ("cross", "crossattention")) for o, t in _QF_SUBLAYER
] + [
    (f"layers.{{i}}.{ours}.{o}", f"encoder.layer.{{i}}.{t}")
    for ours, fc1, fc2 in (("mlp_query", "intermediate_query", "output_query"),
                           ("mlp", "intermediate", "output"))
    for o, t in (("fc1.{w}", f"{fc1}.dense.{{w}}"), ("fc2.{w}", f"{fc2}.dense.{{w}}"),
                 ("ln.{w}", f"{fc2}.LayerNorm.{{w}}"))
]

# InstructBLIP's Q-Former (transformers' InstructBlipQFormerModel) keeps its text embeddings
# and their LayerNorm under `embeddings.`
QFORMER_INSTRUCT_HF = [("ln.{w}", "embeddings.layernorm.{w}"),
                       ("tok.weight", "embeddings.word_embeddings.weight"),
                       ("pos.weight", "embeddings.position_embeddings.weight")] + QFORMER_HF[1:]

# EVA ViT (ours: timm's Eva in models/eva.py) <-> transformers' Blip2VisionModel, whose fused
# qkv bias is EVA's (q_bias, 0, v_bias). `post_layernorm` is BLIP-2's ln_vision, held apart.
EVA_HF = [
    ("cls_token", "embeddings.class_embedding"),
    ("patch_embed.proj.{w}", "embeddings.patch_embedding.{w}"),
    pos_embed("pos_embed", "embeddings.position_embedding"),
    ("blocks.{i}.norm1.{w}", "encoder.layers.{i}.layer_norm1.{w}"),
    ("blocks.{i}.attn.qkv.weight", "encoder.layers.{i}.self_attn.qkv.weight"),
    eva_qkv_bias("blocks.{i}.attn.q_bias", "blocks.{i}.attn.v_bias", "encoder.layers.{i}.self_attn.qkv.bias"),
    ("blocks.{i}.attn.proj.{w}", "encoder.layers.{i}.self_attn.projection.{w}"),
    ("blocks.{i}.norm2.{w}", "encoder.layers.{i}.layer_norm2.{w}"),
    ("blocks.{i}.mlp.fc1.{w}", "encoder.layers.{i}.mlp.fc1.{w}"),
    ("blocks.{i}.mlp.fc2.{w}", "encoder.layers.{i}.mlp.fc2.{w}"),
]

# Q-Former (ours) <-> LAVIS's `Qformer.bert.` (a BERT fork: `attention.self`, embeddings inside)
_QF_SUBLAYER_LAVIS = [(o, t.replace("attention.", "self.")) for o, t in _QF_SUBLAYER]
QFORMER_LAVIS = [
    ("ln.{w}", "embeddings.LayerNorm.{w}"), ("tok.weight", "embeddings.word_embeddings.weight"),
    ("pos.weight", "embeddings.position_embeddings.weight"), (None, "embeddings.position_ids"),
] + [
    (f"layers.{{i}}.{ours}.{o}", f"encoder.layer.{{i}}.{theirs}.{t}")
    for ours, theirs in (("attn", "attention"), ("cross", "crossattention")) for o, t in _QF_SUBLAYER_LAVIS
] + [rule for rule in QFORMER_HF if rule[0].startswith("layers.") and ".mlp" in rule[0]]

# EVA ViT (ours: timm's Eva) <-> LAVIS's eva_vit.py: the same names
EVA_LAVIS = [pos_embed("pos_embed", "pos_embed")] + [(o, o) for o in (
    "cls_token", "patch_embed.proj.{w}", "blocks.{i}.norm1.{w}", "blocks.{i}.attn.qkv.weight",
    "blocks.{i}.attn.q_bias", "blocks.{i}.attn.v_bias", "blocks.{i}.attn.proj.{w}",
    "blocks.{i}.norm2.{w}", "blocks.{i}.mlp.fc1.{w}", "blocks.{i}.mlp.fc2.{w}")]

# CLIP ViT (ours: timm's VisionTransformer in models/clip_vit.py) <-> LAVIS's clip_vit.py (OpenAI
# CLIP names; nn.MultiheadAttention's in_proj is timm's fused qkv, q, k, v in that order)
CLIP_LAVIS = [
    unbatched_cls("cls_token", "class_embedding"), unbatched_pos("pos_embed", "positional_embedding"),
    ("patch_embed.proj.weight", "conv1.weight"), ("norm_pre.{w}", "ln_pre.{w}"),
    ("blocks.{i}.norm1.{w}", "transformer.resblocks.{i}.ln_1.{w}"),
    ("blocks.{i}.attn.qkv.weight", "transformer.resblocks.{i}.attn.in_proj_weight"),
    ("blocks.{i}.attn.qkv.bias", "transformer.resblocks.{i}.attn.in_proj_bias"),
    ("blocks.{i}.attn.proj.{w}", "transformer.resblocks.{i}.attn.out_proj.{w}"),
    ("blocks.{i}.norm2.{w}", "transformer.resblocks.{i}.ln_2.{w}"),
    ("blocks.{i}.mlp.fc1.{w}", "transformer.resblocks.{i}.mlp.c_fc.{w}"),
    ("blocks.{i}.mlp.fc2.{w}", "transformer.resblocks.{i}.mlp.c_proj.{w}"),
]
