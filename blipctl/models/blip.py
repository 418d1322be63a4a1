"""BLIP task models built from a ViT and MED text transformers.

Each model takes its modules in `__init__` (`builders.py` makes them) and offers capabilities
(`models/protocols.py`) through plain methods. Its `codec` (`text/codecs.py`) turns text into
ids the way its weights were trained to read them; checkpoint loaders attach the right one.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from blipctl.decode import DecodeConfig, generate
from blipctl.models.layers import LMHead
from blipctl.models.med import KVCache, MEDConfig, TextTransformer, share_all_but_self_attention
from blipctl.models.vit import ViT, ViTConfig
from blipctl.text.codecs import BlipText


class BlipCaptioner(nn.Module):
    """Image-grounded causal decoder with an LM head: BLIP's captioning model."""

    def __init__(self, visual: ViT, decoder: TextTransformer, lm_head: LMHead,
                 prompt: str = "a picture of ", codec: BlipText | None = None):
        super().__init__()
        self.visual, self.decoder, self.lm_head, self.prompt = visual, decoder, lm_head, prompt
        self.codec = codec or BlipText()

    @property
    def image_size(self) -> int:
        return self.visual.image_size

    def encode_image(self, images: torch.Tensor) -> torch.Tensor:
        return self.visual(images)  # (B, 3, S, S) -> (B, N, Dv)

    def lm_hidden(self, image: torch.Tensor, ids: torch.Tensor,
                  mask: torch.Tensor | None = None) -> torch.Tensor:
        """image: (B, N, Dv) tokens; ids: (B, T) starting with [DEC] -> (B, T, D) states."""
        return self.decoder(ids, mask, image=image, causal=True)

    def lm_logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """(..., D) decoder states -> (..., V) vocabulary logits (tied to the word embeddings)."""
        return self.lm_head(hidden, self.decoder.embed.tok.weight)

    def logits(self, image: torch.Tensor, ids: torch.Tensor,
               mask: torch.Tensor | None = None) -> torch.Tensor:
        """image: (B, N, Dv) tokens; ids: (B, T) starting with [DEC] -> (B, T, V)."""
        return self.lm_logits(self.lm_hidden(image, ids, mask))

    def forward(self, images: torch.Tensor, ids: torch.Tensor,
                mask: torch.Tensor | None = None) -> torch.Tensor:
        return self.logits(self.encode_image(images), ids, mask)

    @torch.no_grad()
    def generate(self, images: torch.Tensor, prompt: torch.Tensor, cfg: DecodeConfig, eos: int,
                 pad: int, per_image: int = 1) -> torch.Tensor:
        """images: (B, 3, S, S); prompt: (P,) ids starting with [DEC] -> (B * per_image, L) ids.
        With `per_image` > 1 each image is encoded once and decoded `per_image` times."""
        image = self.encode_image(images)
        if per_image > 1:
            image = image.repeat_interleave(per_image, dim=0)
        return decode_from_states(self.decoder, self.lm_head, image, prompt, cfg, eos, pad)

    @torch.no_grad()
    def caption(self, images: torch.Tensor, prompt: str, cfg: DecodeConfig,
                per_image: int = 1) -> list[str]:
        """(B, 3, S, S) -> B * per_image captions (image-major), the prompt removed."""
        c = self.codec
        ids = self.generate(images, c.prompt_ids(prompt, images.device), cfg, c.eos, c.pad, per_image)
        return [c.strip_prompt(t, prompt) for t in c.decode(ids)]


def decode_from_states(decoder: TextTransformer, head: LMHead, states: torch.Tensor,
                       prompt: torch.Tensor, cfg: DecodeConfig, eos: int, pad: int,
                       states_mask: torch.Tensor | None = None) -> torch.Tensor:
    """Generates from a decoder that cross-attends to `states` (B, N, D) (image patches, or
    VQA's question states); their keys and values are computed once and shared by beams."""
    image_kv = list(decoder.image_kv(states))  # once per image, shared by its beams
    cache = KVCache(states.device)
    emb = decoder.embed.tok.weight

    def step(ids: torch.Tensor, cache: KVCache) -> torch.Tensor:
        h, kv = decoder.step(ids, cache.positions(ids.shape[1]), cache.kv, image_kv, states_mask)
        cache.update(kv, ids.shape[1])
        return head(h[:, -1:], emb)[:, 0]  # (N, t, D) -> (N, V)

    return generate(step, cache, prompt.expand(states.shape[0], -1), cfg, eos, pad)


class BlipRetrieval(nn.Module):
    """Image-text matching: ITC features (unimodal encoders, projected to `embed_dim` and
    L2-normalised) and ITM logits (image-grounded text encoder, first token -> 2 classes).

    With a `queue_size` (not None) it also carries what retrieval fine-tuning needs: momentum
    copies, feature queues with their image ids, and the ITC temperature (BLIP's `*_m`,
    `*_queue`). `queue_size: 0` keeps the momentum encoders but contrasts in-batch only.
    """

    def __init__(self, visual: ViT, text: TextTransformer, vision_proj: nn.Linear,
                 text_proj: nn.Linear, itm_head: nn.Linear, queue_size: int | None = None,
                 momentum: float = 0.995, codec: BlipText | None = None):
        super().__init__()
        # registration order = parameter order, which optimizer state is indexed by
        self.visual, self.text, self.vision_proj, self.text_proj = visual, text, vision_proj, text_proj
        self.itm_head = itm_head
        self.codec = codec or BlipText()
        if queue_size is not None:
            embed_dim = vision_proj.out_features
            self.temp = nn.Parameter(torch.tensor(0.07))
            self.momentum = momentum
            self.visual_m = ViT(visual.cfg)
            self.vision_proj_m = nn.Linear(vision_proj.in_features, embed_dim)
            self.text_m = TextTransformer(text.cfg)
            self.text_proj_m = nn.Linear(text_proj.in_features, embed_dim)
            init_momentum(self)
            add_queues(self, embed_dim, queue_size)
            self.register_buffer("idx_queue", torch.full((1, queue_size), -100))

    @property
    def image_size(self) -> int:
        return self.visual.image_size

    def momentum_pairs(self) -> list[tuple[nn.Module, nn.Module]]:
        return [(self.visual, self.visual_m), (self.vision_proj, self.vision_proj_m),
                (self.text, self.text_m), (self.text_proj, self.text_proj_m)]

    @torch.no_grad()
    def momentum_update(self) -> None:
        ema_(self.momentum_pairs(), self.momentum)

    @torch.no_grad()
    def momentum_features(self, images: torch.Tensor, ids: torch.Tensor,
                          mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The momentum encoders' normalised ITC features (B, E) of images and texts."""
        return momentum_features(self.visual_m, self.vision_proj_m, self.text_m, self.text_proj_m,
                                 images, ids, mask)

    def encode_image(self, images: torch.Tensor) -> torch.Tensor:
        return self.visual(images)  # (B, N, Dv)

    def image_features(self, image: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.vision_proj(image[:, 0]), dim=-1)  # (B, N, Dv) -> (B, E)

    def text_features(self, ids: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        return F.normalize(self.text_proj(self.text(ids, mask)[:, 0]), dim=-1)  # (B, T) -> (B, E)

    def itm_logits(self, image: torch.Tensor, ids: torch.Tensor,
                   mask: torch.Tensor | None = None) -> torch.Tensor:
        """(B, N, Dv) image tokens and (B, T) grounded ids -> (B, 2) logits [no match, match]."""
        return self.itm_head(self.text(ids, mask, image=image)[:, 0])


def momentum_features(visual_m: ViT, vision_proj_m: nn.Linear, text_m: TextTransformer,
                      text_proj_m: nn.Linear, images: torch.Tensor, ids: torch.Tensor,
                      mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    image_feat_m = F.normalize(vision_proj_m(visual_m(images)[:, 0]), dim=-1)
    text_feat_m = F.normalize(text_proj_m(text_m(ids, mask)[:, 0]), dim=-1)
    return image_feat_m, text_feat_m


class BlipVQA(nn.Module):
    """VQA: the question goes through the image-grounded encoder; the answer decoder
    cross-attends to the question states. Answers are generated or ranked from a list."""

    def __init__(self, visual: ViT, encoder: TextTransformer, decoder: TextTransformer,
                 lm_head: LMHead, codec: BlipText | None = None):
        super().__init__()
        self.visual, self.encoder, self.decoder, self.lm_head = visual, encoder, decoder, lm_head
        self.codec = codec or BlipText()

    @property
    def answer_decode(self) -> DecodeConfig:
        """BLIP's VQA decoding: 3 beams, 1-10 tokens with [DEC]."""
        return DecodeConfig(num_beams=3, max_length=10, min_length=1)

    @property
    def image_size(self) -> int:
        return self.visual.image_size

    def encode_question(self, images: torch.Tensor, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """(B, 3, S, S) images, (B, T) grounded question ids -> (B, T, D) question states."""
        return self.encoder(ids, mask, image=self.visual(images))

    def answer_logits(self, states: torch.Tensor, qmask: torch.Tensor, ids: torch.Tensor,
                      mask: torch.Tensor | None = None) -> torch.Tensor:
        """Decoder logits (B, T', V) for answer ids (B, T') starting with [DEC]."""
        h = self.decoder(ids, mask, image=states, image_mask=qmask, causal=True)
        return self.lm_head(h, self.decoder.embed.tok.weight)

    @torch.no_grad()
    def generate(self, images: torch.Tensor, ids: torch.Tensor, mask: torch.Tensor, bos: int,
                 cfg: DecodeConfig, eos: int, pad: int) -> torch.Tensor:
        states = self.encode_question(images, ids, mask)
        return decode_from_states(self.decoder, self.lm_head, states, torch.tensor([bos]), cfg,
                                  eos, pad, states_mask=mask)

    def _questions(self, questions: list[str], device: torch.device):
        return self.codec.encode(questions, "grounded", device=device)

    @torch.no_grad()
    def answer(self, images: torch.Tensor, questions: list[str], cfg: DecodeConfig) -> list[str]:
        """Generated answers (B,) to questions about images (B, 3, S, S)."""
        c = self.codec
        ids, mask = self._questions(questions, images.device)
        out = self.generate(images, ids, mask, c.bos, cfg, eos=c.eos, pad=c.pad)
        return [t.strip() for t in c.decode(out)]

    def candidates(self, answers: list[str], device: torch.device) -> tuple:
        """An answer list as `rank` takes it: decoder ids (A, L) from [DEC], and their mask."""
        return self.codec.encode(answers, "decoder", device=device)

    @torch.no_grad()
    def rank(self, images: torch.Tensor, questions: list[str], candidates: tuple,
             k: int = 128) -> list[int]:
        """Indices (B,) into the answer list of `candidates` (see `rank_ids`)."""
        ids, mask = self._questions(questions, images.device)
        return self.rank_ids(images, ids, mask, *candidates, k=k).tolist()

    @torch.no_grad()
    def rank_ids(self, images: torch.Tensor, ids: torch.Tensor, mask: torch.Tensor,
                 answers: torch.Tensor, answer_mask: torch.Tensor, k: int = 128,
                 smoothing: float = 0.1) -> torch.Tensor:
        """BLIP's rank_answer: the k answers whose first token is likeliest are scored by their
        whole (label-smoothed, as BLIP computes it) log-likelihood. answers: (A, L) ids starting
        with [DEC], padded with 0. Returns (B,) indices into the answer list."""
        states = self.encode_question(images, ids, mask)
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
    live in `blipctl/objectives/`. `views` are a captioner (the decoder) and a retrieval model
    (the encoders and ITM head) on the same modules, for zero-shot evaluation and CapFilt.
    """

    def __init__(self, vision: ViTConfig, text: MEDConfig, embed_dim: int = 256,
                 queue_size: int = 57600, momentum: float = 0.995, codec: BlipText | None = None):
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
        # a tuple is not registered as a submodule: the views add no state-dict entries
        self.views = (BlipCaptioner(self.visual, self.decoder, self.lm_head),
                      BlipRetrieval(self.visual, self.encoder, self.vision_proj, self.text_proj,
                                    self.itm_head))
        self.codec = codec or BlipText()

    @property
    def codec(self) -> BlipText:
        return self._codec

    @codec.setter
    def codec(self, codec: BlipText) -> None:
        self._codec = codec
        for view in self.views:
            view.codec = codec

    @property
    def image_size(self) -> int:
        return self.visual.image_size

    def momentum_pairs(self) -> list[tuple[nn.Module, nn.Module]]:
        return [(self.visual, self.visual_m), (self.vision_proj, self.vision_proj_m),
                (self.encoder, self.encoder_m), (self.text_proj, self.text_proj_m)]

    @torch.no_grad()
    def momentum_update(self) -> None:
        ema_(self.momentum_pairs(), self.momentum)

    @torch.no_grad()
    def momentum_features(self, images: torch.Tensor, ids: torch.Tensor,
                          mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return momentum_features(self.visual_m, self.vision_proj_m, self.encoder_m, self.text_proj_m,
                                 images, ids, mask)

    def encode_image(self, images: torch.Tensor) -> torch.Tensor:
        return self.visual(images)

    def image_features(self, image: torch.Tensor) -> torch.Tensor:
        return self.views[1].image_features(image)

    def text_features(self, ids: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        return self.views[1].text_features(ids, mask)

    def itm_logits(self, image: torch.Tensor, ids: torch.Tensor,
                   mask: torch.Tensor | None = None) -> torch.Tensor:
        return self.views[1].itm_logits(image, ids, mask)

    def lm_hidden(self, image: torch.Tensor, ids: torch.Tensor,
                  mask: torch.Tensor | None = None) -> torch.Tensor:
        return self.views[0].lm_hidden(image, ids, mask)

    def lm_logits(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.views[0].lm_logits(hidden)


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
