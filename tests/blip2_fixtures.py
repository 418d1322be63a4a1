"""Tiny BLIP-2 checkpoints that transformers itself saves, with LM tokenizers trained here on
the synthetic corpus's language (nothing is downloaded). Sizes follow transformers' own
BLIP-2 tests."""

from __future__ import annotations

import random
from pathlib import Path

import torch

IMAGE_TOKEN = "<image>"
N_QUERY = 10


def load_fp32(source: str, llm: str | None = None):
    """A BLIP-2 checkpoint with its frozen parts in fp32, for comparisons with transformers in
    fp32 (by default they are bf16 where this machine computes bf16 fast)."""
    from blipctl.checkpoints.load import load_model

    return load_model(source, llm, frozen_dtype=torch.float32)


def corpus_texts(n: int = 400) -> list[str]:
    """Captions, alt-texts and VQA prompts of synthetic scenes, for training tokenizers."""
    from blipctl.data.synth import language
    from blipctl.data.synth.scenes import sample_scene

    rng = random.Random(0)
    out = []
    for _ in range(n):
        scene = sample_scene(rng)
        out += language.captions(scene, rng, 2) + [language.web_text(scene, rng)]
        out.append(f"Question: what colour is the {rng.choice(('circle', 'star'))}? Short answer: red")
    return out


def opt_tokenizer(out: Path):
    """An OPT-shaped byte-level BPE tokenizer (blipctl's own trainer) with BLIP-2's image token,
    saved to `out`; returns it."""
    from blipctl.text.lm_tokenizers import opt_like

    return opt_like(corpus_texts(), out, 300, {"image_token": IMAGE_TOKEN})


def t5_tokenizer(out: Path):
    """A T5-shaped unigram tokenizer (pad 0, eos 1, unk 2) with the image token, saved to `out`."""
    from blipctl.text.lm_tokenizers import t5_like

    return t5_like(corpus_texts(), out, 300, {"image_token": IMAGE_TOKEN})


def reinit(model: torch.nn.Module, seed: int, std: float) -> None:
    """Every weight redrawn N(0, std), LayerNorm weights around 1: default inits make every
    image look alike and decoders repeat one token."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if ("norm" in name.lower() or "layer_norm" in name) and name.endswith("weight"):
                p.copy_(1 + 0.1 * torch.randn(p.shape, generator=g))
            else:
                p.copy_(std * torch.randn(p.shape, generator=g))


def zero_key_bias(model: torch.nn.Module) -> None:
    """EVA has no key bias: checkpoints converted from LAVIS hold zeros there."""
    if not hasattr(model, "vision_model"):
        return
    with torch.no_grad():
        for layer in model.vision_model.encoder.layers:
            layer.self_attn.qkv.bias.view(3, -1)[1].zero_()


VISION = dict(image_size=30, patch_size=6, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
              intermediate_size=37, layer_norm_eps=1e-6)
QFORMER = dict(vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
               intermediate_size=37, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)


# LAVIS checkpoints do not record head counts: blipctl reads EVA's as width / 88 and the
# Q-Former's as width / 64, so a model meant to travel through LAVIS's format has those heads
LAVIS_VISION = {**VISION, "hidden_size": 176, "num_attention_heads": 2, "intermediate_size": 200}
LAVIS_QFORMER = {**QFORMER, "hidden_size": 128, "num_attention_heads": 2, "intermediate_size": 96}


def blip2_opt(out: Path, vision: dict = VISION, qformer: dict = QFORMER, std: float = 0.3):
    """A transformers Blip2ForConditionalGeneration with a tiny OPT, re-initialised and saved to
    `out` with its tokenizer; returns (model, tokenizer)."""
    tok = opt_tokenizer(out)
    text = dict(model_type="opt", vocab_size=len(tok), hidden_size=16, num_hidden_layers=2,
                num_attention_heads=4, ffn_dim=24, max_position_embeddings=128, eos_token_id=2,
                pad_token_id=1, bos_token_id=2, word_embed_proj_dim=16, dropout=0.0, attention_dropout=0.0)
    return _saved(out, tok, text, vision, qformer, std), tok


def blip2_llama(out: Path):
    """The same with a tiny LLaMA/Vicuna-shaped decoder-only LM (rotary positions, RMSNorm,
    SwiGLU); returns (model, tokenizer)."""
    tok = opt_tokenizer(out)
    text = dict(model_type="llama", vocab_size=len(tok), hidden_size=16, intermediate_size=32,
                num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                max_position_embeddings=128, bos_token_id=2, eos_token_id=2, pad_token_id=1,
                tie_word_embeddings=False)
    return _saved(out, tok, text), tok


def blip2_t5(out: Path):
    """The same with a tiny Flan-T5-shaped encoder-decoder (gated GELU); returns (model, tokenizer)."""
    tok = t5_tokenizer(out)
    text = dict(model_type="t5", vocab_size=len(tok), d_model=32, d_ff=37, d_kv=8, num_layers=2,
                num_heads=4, relative_attention_num_buckets=8, dropout_rate=0.0,
                feed_forward_proj="gated-gelu", decoder_start_token_id=0, eos_token_id=1, pad_token_id=0,
                tie_word_embeddings=False)
    return _saved(out, tok, text), tok


def _saved(out: Path, tok, text: dict, vision: dict = VISION, qformer: dict = QFORMER,
           std: float = 0.3):
    from transformers import Blip2Config, Blip2ForConditionalGeneration

    cfg = Blip2Config(vision_config=vision, qformer_config=qformer, text_config=text,
                      num_query_tokens=N_QUERY, image_token_index=tok.convert_tokens_to_ids(IMAGE_TOKEN))
    return _reinit_and_save(Blip2ForConditionalGeneration, cfg, out, seed=1, std=std)


def _reinit_and_save(cls, cfg, out: Path, seed: int, std: float = 0.3):
    """cls(cfg) with every weight redrawn (the vision key bias zero, as EVA's), saved to `out`."""
    torch.manual_seed(0)
    model = cls(cfg).eval()
    reinit(model, seed=seed, std=std)
    zero_key_bias(model)
    model.save_pretrained(out)
    return model


def hf_inputs(tok, prompts: list[str], n_query: int = N_QUERY) -> tuple[torch.Tensor, torch.Tensor]:
    """New-style input_ids as Blip2Processor builds them: the image tokens, then the prompt
    (BOS first), padded on the left; and the attention mask."""
    image = tok.convert_tokens_to_ids(IMAGE_TOKEN)
    rows = [[image] * n_query + tok(p).input_ids for p in prompts]
    width = max(map(len, rows))
    ids = torch.tensor([[tok.pad_token_id] * (width - len(r)) + r for r in rows])
    mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows])
    return ids, mask


def blip2_retrieval(out: Path, vision: dict = VISION, qformer: dict = QFORMER):
    """A transformers Blip2ForImageTextRetrieval (its Q-Former reads bert-base-uncased ids),
    re-initialised and saved to `out`; returns the model."""
    from transformers import Blip2Config, Blip2ForImageTextRetrieval

    qformer = {**qformer, "vocab_size": 30523, "use_qformer_text_input": True,
               "max_position_embeddings": 64}
    cfg = Blip2Config(vision_config=vision, qformer_config=qformer, num_query_tokens=N_QUERY,
                      image_text_hidden_size=24)
    cfg.architectures = ["Blip2ForImageTextRetrieval"]
    return _reinit_and_save(Blip2ForImageTextRetrieval, cfg, out, seed=2)


def hf_scores(hf, pixels: torch.Tensor, ids: torch.Tensor, mask: torch.Tensor):
    """transformers' ITC similarities (I, T) and ITM match logits (I, T), one image at a time."""
    with torch.no_grad():
        itc = torch.stack([hf(pixel_values=p[None], input_ids=ids, attention_mask=mask,
                              use_image_text_matching_head=False).logits_per_image[0] for p in pixels])
        itm = torch.stack([hf(pixel_values=p[None].expand(len(ids), -1, -1, -1), input_ids=ids,
                              attention_mask=mask, use_image_text_matching_head=True).logits_per_image[:, 1]
                           for p in pixels])
    return itc, itm


def our_scores(model, pixels: torch.Tensor, ids: torch.Tensor, mask: torch.Tensor):
    """blipctl's ITC similarities (I, T) (the best query) and ITM match logits (I, T)."""
    with torch.no_grad():
        image = model.encode_image(pixels)
        itc = (model.image_features(image) @ model.text_features(ids, mask).t()).amax(dim=1)
        itm = torch.stack([model.itm_logits(image[i:i + 1], ids, mask)[:, 1] for i in range(len(pixels))])
    return itc, itm


def score_gaps(hf, ours, texts: list[str], n_images: int) -> tuple[float, float, float]:
    """(largest ITC gap, largest ITM gap, spread of transformers' ITM logits) between
    transformers and blipctl on `n_images` random images and `texts`."""
    torch.manual_seed(0)
    pixels = torch.randn(n_images, 3, 30, 30)
    ids, mask = ours.codec.encode(texts, "text", max_length=20)
    want_itc, want_itm = hf_scores(hf, pixels, ids, mask)
    got_itc, got_itm = our_scores(ours, pixels, ids, mask)
    assert got_itc.shape == want_itc.shape == (n_images, len(texts))
    return (got_itc - want_itc).abs().max().item(), (got_itm - want_itm).abs().max().item(), \
        want_itm.std().item()


def tiny_q_former_model(width: int, depth: int, vision_width: int, queries: int, seed: int, std: float,
                        mlp_width: int | None = None):
    """A Blip2Retrieval built here (no checkpoint): a one-block EVA at 28 px, a Q-Former of
    `width` with 2 heads and the ITG head, bert-base-uncased's vocab + [DEC]; weights redrawn."""
    from blipctl.models.blip2 import Blip2Retrieval
    from blipctl.models.eva import EvaConfig, EvaViT
    from blipctl.models.layers import LMHead
    from blipctl.models.qformer import QFormer, QFormerConfig
    from blipctl.text.codecs import BlipText

    torch.manual_seed(0)
    qf = QFormerConfig(vocab_size=30523, width=width, depth=depth, heads=2, mlp_width=mlp_width or 2 * width,
                       max_positions=32, vision_width=vision_width, queries=queries, dropout=0.0)
    eva = EvaConfig(image_size=28, patch_size=14, width=vision_width, depth=1, heads=2,
                    mlp_width=mlp_width or 2 * vision_width)
    model = Blip2Retrieval(EvaViT(eva), torch.nn.LayerNorm(vision_width), QFormer(qf),
                           torch.nn.Linear(width, 16), torch.nn.Linear(width, 16), torch.nn.Linear(width, 2),
                           LMHead(width, 30523))
    reinit(model, seed=seed, std=std)
    model.codec = BlipText(grounded_start="[CLS]")
    return model


def opt_lm(out: Path, std: float = 0.3):
    """A tiny transformers OPTForCausalLM with the OPT-shaped tokenizer, re-initialised and
    saved to `out` (a frozen LM a BLIP-2 recipe names); returns (model, tokenizer)."""
    from transformers import OPTConfig, OPTForCausalLM

    tok = opt_tokenizer(out)
    cfg = OPTConfig(vocab_size=len(tok), hidden_size=16, num_hidden_layers=2, num_attention_heads=4,
                    ffn_dim=24, max_position_embeddings=128, eos_token_id=2, pad_token_id=1, bos_token_id=2,
                    word_embed_proj_dim=16, dropout=0.0, attention_dropout=0.0)
    return _reinit_and_save(OPTForCausalLM, cfg, out, seed=3, std=std), tok


def t5_lm(out: Path, std: float = 0.3):
    """The same with a tiny Flan-T5-shaped T5ForConditionalGeneration; returns (model, tokenizer)."""
    from transformers import T5Config, T5ForConditionalGeneration

    tok = t5_tokenizer(out)
    cfg = T5Config(vocab_size=len(tok), d_model=32, d_ff=37, d_kv=8, num_layers=2, num_heads=4,
                   relative_attention_num_buckets=8, dropout_rate=0.0, feed_forward_proj="gated-gelu",
                   decoder_start_token_id=0, eos_token_id=1, pad_token_id=0, tie_word_embeddings=False)
    return _reinit_and_save(T5ForConditionalGeneration, cfg, out, seed=4, std=std), tok


INSTRUCT_QFORMER = {**QFORMER, "vocab_size": 30523}  # InstructBLIP's Q-Former reads bert-base-uncased ids


def instructblip(out: Path, lm: str, vision: dict = VISION, qformer: dict = INSTRUCT_QFORMER,
                 std: float = 0.3):
    """A transformers InstructBlipForConditionalGeneration with a tiny Flan-T5-shaped (`lm` t5)
    or LLaMA/Vicuna-shaped (`llama`) LM, re-initialised and saved with its LM tokenizer;
    returns (model, tokenizer). Its Q-Former reads the instruction as bert-base-uncased ids."""
    from transformers import InstructBlipConfig, InstructBlipForConditionalGeneration

    tok = t5_tokenizer(out) if lm == "t5" else opt_tokenizer(out)
    if lm == "t5":
        text = dict(model_type="t5", vocab_size=len(tok), d_model=32, d_ff=37, d_kv=8, num_layers=2,
                    num_heads=4, relative_attention_num_buckets=8, dropout_rate=0.0,
                    feed_forward_proj="gated-gelu", decoder_start_token_id=0, eos_token_id=1, pad_token_id=0,
                    tie_word_embeddings=False)
    else:
        text = dict(model_type="llama", vocab_size=len(tok), hidden_size=16, intermediate_size=32,
                    num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                    max_position_embeddings=128, bos_token_id=2, eos_token_id=2, pad_token_id=1,
                    tie_word_embeddings=False)
    qformer = {k: v for k, v in qformer.items() if k != "use_qformer_text_input"}
    image = tok.convert_tokens_to_ids(IMAGE_TOKEN)
    cfg = InstructBlipConfig(vision_config=vision, qformer_config=qformer, text_config=text,
                             num_query_tokens=N_QUERY, image_token_index=image)
    return _reinit_and_save(InstructBlipForConditionalGeneration, cfg, out, seed=5, std=std), tok
