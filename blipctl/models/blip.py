"""BLIP task models built from a ViT and MED text transformers."""

from __future__ import annotations

from dataclasses import replace

import torch
import torch.nn.functional as F
from torch import nn

from blipctl.decode import DecodeConfig, generate
from blipctl.models.layers import LMHead
from blipctl.models.med import KVCache, MEDConfig, TextTransformer, share_all_but_self_attention
from blipctl.models.vit import ViT, ViTConfig


class BlipCaptioner(nn.Module):
    """Image-grounded causal decoder with an LM head: BLIP's captioning model."""

    def __init__(self, vision: ViTConfig, text: MEDConfig, prompt: str = "a picture of "):
        super().__init__()
        self.visual = ViT(vision)
        self.decoder = TextTransformer(text)
        self.lm_head = LMHead(text.width, text.vocab_size, text.eps)
        self.prompt = prompt

    @classmethod
    def from_modules(cls, visual: ViT, decoder: TextTransformer, lm_head: LMHead,
                     prompt: str = "a picture of ") -> BlipCaptioner:
        """A captioner that shares these modules (e.g. a pretrained model's, for zero-shot)."""
        self = cls.__new__(cls)
        nn.Module.__init__(self)
        self.visual, self.decoder, self.lm_head, self.prompt = visual, decoder, lm_head, prompt
        return self

    def encode_image(self, images: torch.Tensor) -> torch.Tensor:
        return self.visual(images)  # (B, 3, S, S) -> (B, N, Dv)

    def logits(self, image: torch.Tensor, ids: torch.Tensor,
               mask: torch.Tensor | None = None) -> torch.Tensor:
        """image: (B, N, Dv) tokens; ids: (B, T) starting with [DEC] -> (B, T, V)."""
        h = self.decoder(ids, mask, image=image, causal=True)
        return self.lm_head(h, self.decoder.embed.tok.weight)

    def forward(self, images: torch.Tensor, ids: torch.Tensor,
                mask: torch.Tensor | None = None) -> torch.Tensor:
        return self.logits(self.encode_image(images), ids, mask)

    @torch.no_grad()
    def generate(self, images: torch.Tensor, prompt: torch.Tensor, cfg: DecodeConfig, eos: int,
                 pad: int) -> torch.Tensor:
        """images: (B, 3, S, S); prompt: (P,) ids starting with [DEC] -> (B, L) ids."""
        image = self.encode_image(images)
        return decode_with_image(self.decoder, self.lm_head, image, prompt, cfg, eos, pad)


@torch.no_grad()
def decode_with_image(decoder: TextTransformer, head: LMHead, image: torch.Tensor,
                      prompt: torch.Tensor, cfg: DecodeConfig, eos: int, pad: int,
                      image_mask: torch.Tensor | None = None) -> torch.Tensor:
    """Generates from a decoder that cross-attends to `image` (B, N, D) tokens (image patches,
    or VQA's question states); their keys and values are computed once and shared by beams."""
    image_kv = list(decoder.image_kv(image))  # once per image, shared by its beams
    cache = KVCache(image.device)
    emb = decoder.embed.tok.weight

    def step(ids: torch.Tensor, cache: KVCache) -> torch.Tensor:
        h, kv = decoder.step(ids, cache.positions(ids.shape[1]), cache.kv, image_kv, image_mask)
        cache.update(kv, ids.shape[1])
        return head(h[:, -1:], emb)[:, 0]  # (N, t, D) -> (N, V)

    return generate(step, cache, prompt.expand(image.shape[0], -1), cfg, eos, pad)


class BlipRetrieval(nn.Module):
    """Image-text matching: ITC features (unimodal encoders, projected to `embed_dim` and
    L2-normalised) and ITM logits (image-grounded text encoder, first token -> 2 classes).

    With a `queue_size` (not None) it also carries what retrieval fine-tuning needs: momentum
    copies, feature queues with their image ids, and the ITC temperature (BLIP's `*_m`,
    `*_queue`). `queue_size: 0` keeps the momentum encoders but contrasts in-batch only.
    """

    text_start = "[ENC]"  # the ITM text's first token; transformers checkpoints use [CLS]

    def __init__(self, vision: ViTConfig, text: MEDConfig, embed_dim: int = 256,
                 queue_size: int | None = None, momentum: float = 0.995):
        super().__init__()
        self.visual = ViT(vision)
        self.text = TextTransformer(text)
        self.vision_proj = nn.Linear(vision.width, embed_dim)
        self.text_proj = nn.Linear(text.width, embed_dim)
        self.itm_head = nn.Linear(text.width, 2)
        if queue_size is not None:
            self.temp = nn.Parameter(torch.tensor(0.07))
            self.momentum = momentum
            self.visual_m = ViT(vision)
            self.vision_proj_m = nn.Linear(vision.width, embed_dim)
            self.text_m = TextTransformer(text)
            self.text_proj_m = nn.Linear(text.width, embed_dim)
            init_momentum(self)
            add_queues(self, embed_dim, queue_size)
            self.register_buffer("idx_queue", torch.full((1, queue_size), -100))

    @classmethod
    def from_modules(cls, visual: ViT, text: TextTransformer, vision_proj: nn.Linear,
                     text_proj: nn.Linear, itm_head: nn.Linear) -> BlipRetrieval:
        """A retrieval model that shares these modules (e.g. a pretrained model's, for zero-shot)."""
        self = cls.__new__(cls)
        nn.Module.__init__(self)
        self.visual, self.text, self.itm_head = visual, text, itm_head
        self.vision_proj, self.text_proj = vision_proj, text_proj
        return self

    def momentum_pairs(self) -> list[tuple[nn.Module, nn.Module]]:
        return [(self.visual, self.visual_m), (self.vision_proj, self.vision_proj_m),
                (self.text, self.text_m), (self.text_proj, self.text_proj_m)]

    @torch.no_grad()
    def momentum_update(self) -> None:
        ema_(self.momentum_pairs(), self.momentum)

    def encode_image(self, images: torch.Tensor) -> torch.Tensor:
        return self.visual(images)  # (B, N, Dv)

    def image_features(self, image: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.vision_proj(image[:, 0]), dim=-1)  # (B, N, Dv) -> (B, E)

    def text_features(self, ids: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        return F.normalize(self.text_proj(self.text(ids, mask)[:, 0]), dim=-1)  # (B, T) -> (B, E)

    def itm_logits(self, image: torch.Tensor, ids: torch.Tensor,
                   mask: torch.Tensor | None = None) -> torch.Tensor:
        """(B, N, Dv) image tokens and (B, T) ids -> (B, 2) logits [no match, match]."""
        return self.itm_head(self.text(ids, mask, image=image)[:, 0])


class BlipVQA(nn.Module):
    """VQA: the question goes through the image-grounded encoder; the answer decoder
    cross-attends to the question states. Answers are generated or ranked from a list."""

    text_start = "[ENC]"  # the question's first token; transformers checkpoints use [CLS]

    def __init__(self, vision: ViTConfig, text: MEDConfig):
        super().__init__()
        self.visual = ViT(vision)
        self.encoder = TextTransformer(text)
        self.decoder = TextTransformer(replace(text, image_width=text.width))
        self.lm_head = LMHead(text.width, text.vocab_size, text.eps)

    def encode(self, images: torch.Tensor, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """(B, 3, S, S) images, (B, T) question ids -> (B, T, D) question states."""
        return self.encoder(ids, mask, image=self.visual(images))

    def answer_logits(self, states: torch.Tensor, qmask: torch.Tensor, ids: torch.Tensor,
                      mask: torch.Tensor | None = None) -> torch.Tensor:
        """Decoder logits (B, T', V) for answer ids (B, T') starting with [DEC]."""
        h = self.decoder(ids, mask, image=states, image_mask=qmask, causal=True)
        return self.lm_head(h, self.decoder.embed.tok.weight)

    @torch.no_grad()
    def generate(self, images: torch.Tensor, ids: torch.Tensor, mask: torch.Tensor, bos: int,
                 cfg: DecodeConfig, eos: int, pad: int) -> torch.Tensor:
        states = self.encode(images, ids, mask)
        return decode_with_image(self.decoder, self.lm_head, states, torch.tensor([bos]), cfg,
                                 eos, pad, image_mask=mask)

    @torch.no_grad()
    def rank(self, images: torch.Tensor, ids: torch.Tensor, mask: torch.Tensor,
             answers: torch.Tensor, answer_mask: torch.Tensor, k: int = 128,
             smoothing: float = 0.1) -> torch.Tensor:
        """BLIP's rank_answer: the k answers whose first token is likeliest are scored by their
        whole (label-smoothed, as BLIP computes it) log-likelihood. answers: (A, L) ids starting
        with [DEC], padded with 0. Returns (B,) indices into the answer list."""
        states = self.encode(images, ids, mask)
        B, k = states.shape[0], min(k, answers.shape[0])
        first = self.answer_logits(states, mask, answers[:1, :1].expand(B, 1))[:, 0]  # (B, V)
        top = first.softmax(-1).index_select(1, answers[:, 1]).topk(k, dim=1).indices  # (B, k)
        cand, cand_mask = answers[top].flatten(0, 1), answer_mask[top].flatten(0, 1)  # (B*k, L)
        states_k = states.repeat_interleave(k, 0)
        logits = self.answer_logits(states_k, mask.repeat_interleave(k, 0), cand, cand_mask)
        targets = cand[:, 1:].masked_fill(cand[:, 1:] == 0, -100)
        nll = F.cross_entropy(logits[:, :-1].flatten(0, 1), targets.flatten(), reduction="none",
                              ignore_index=-100, label_smoothing=smoothing)
        score = -nll.view(B * k, -1).sum(1).view(B, k)
        return top.gather(1, score.argmax(1, keepdim=True)).squeeze(1)


class BlipPretrain(nn.Module):
    """BLIP's pretraining model: ITC with momentum encoders and feature queues, ITM, and LM.

    The text decoder shares everything but self-attention with the text encoder. The momentum
    copies (`*_m`) and queues are state, not trained by gradients; the objectives that use them
    live in `blipctl/objectives/`.
    """

    def __init__(self, vision: ViTConfig, text: MEDConfig, embed_dim: int = 256,
                 queue_size: int = 57600, momentum: float = 0.995):
        super().__init__()
        self.visual = ViT(vision)
        self.encoder = TextTransformer(text)
        self.decoder = TextTransformer(text)
        share_all_but_self_attention(self.encoder, self.decoder)
        self.lm_head = LMHead(text.width, text.vocab_size, text.eps)
        self.vision_proj = nn.Linear(vision.width, embed_dim)
        self.text_proj = nn.Linear(text.width, embed_dim)
        self.itm_head = nn.Linear(text.width, 2)
        self.temp = nn.Parameter(torch.tensor(0.07))
        self.momentum = momentum
        self.visual_m = ViT(vision)
        self.vision_proj_m = nn.Linear(vision.width, embed_dim)
        self.encoder_m = TextTransformer(text)
        self.text_proj_m = nn.Linear(text.width, embed_dim)
        init_momentum(self)
        add_queues(self, embed_dim, queue_size)

    def momentum_pairs(self) -> list[tuple[nn.Module, nn.Module]]:
        return [(self.visual, self.visual_m), (self.vision_proj, self.vision_proj_m),
                (self.encoder, self.encoder_m), (self.text_proj, self.text_proj_m)]

    @torch.no_grad()
    def momentum_update(self) -> None:
        ema_(self.momentum_pairs(), self.momentum)

    def captioner(self, prompt: str = "a picture of ") -> BlipCaptioner:
        """The image-grounded decoder as a captioner (zero-shot captioning), weights shared."""
        return BlipCaptioner.from_modules(self.visual, self.decoder, self.lm_head, prompt)

    def retrieval(self) -> BlipRetrieval:
        """The ITC encoders and ITM head as a retrieval model (zero-shot retrieval), weights shared."""
        return BlipRetrieval.from_modules(self.visual, self.encoder, self.vision_proj, self.text_proj,
                                          self.itm_head)


def init_momentum(model: nn.Module) -> None:
    """Momentum copies start equal to their online modules and take no gradient."""
    for online, target in model.momentum_pairs():
        target.load_state_dict(online.state_dict())
        target.requires_grad_(False)


@torch.no_grad()
def ema_(pairs: list[tuple[nn.Module, nn.Module]], m: float) -> None:
    """target <- m * target + (1 - m) * online, for every momentum pair."""
    for online, target in pairs:
        for p, q in zip(online.parameters(), target.parameters(), strict=True):
            q.mul_(m).add_(p.detach(), alpha=1 - m)


def add_queues(model: nn.Module, embed_dim: int, size: int) -> None:
    """ITC feature queues (E, Q) of random unit vectors, and their write pointer."""
    model.register_buffer("image_queue", F.normalize(torch.randn(embed_dim, size), dim=0))
    model.register_buffer("text_queue", F.normalize(torch.randn(embed_dim, size), dim=0))
    model.register_buffer("ptr_queue", torch.zeros(1, dtype=torch.long))

