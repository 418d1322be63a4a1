"""BLIP-2 task models: a frozen image encoder, BLIP-2's `ln_vision`, the Q-Former whose 32
queries read the image, and (for generation) a projection of the queries into a frozen
language model's input space, where they are a soft prompt before the text.

    images (B, 3, S, S) -> visual -> (B, N, Dv) -> ln_vision -> Q-Former queries (B, Q, D)
      -> proj -> (B, Q, D_lm) -> [prefix; prompt] -> frozen LM -> text
"""

from __future__ import annotations

from dataclasses import replace

import torch
import torch.nn.functional as F
from torch import nn

from blipctl.decode import DecodeConfig, beams, generate
from blipctl.errors import BlipctlError
from blipctl.models.eva import Frozen
from blipctl.models.layers import LMHead
from blipctl.models.llm import FrozenLM
from blipctl.models.med import KVCache
from blipctl.models.qformer import QFormer
from blipctl.text.codecs import padded

LN_VISION_EPS = 1e-5  # LAVIS's ln_vision is a default nn.LayerNorm (transformers' says 1e-6)


class FrozenVision(nn.Module):
    """The image side every BLIP-2 model shares: a frozen tower, then the trainable ln_vision.
    (LAVIS's caption and retrieval fine-tuning unfreeze the tower: `Frozen(..., frozen=False)`,
    from `checkpoints.parts.trainable_tower`.)"""

    def __init__(self, visual: nn.Module, ln_vision: nn.LayerNorm):
        super().__init__()
        self.visual = visual if isinstance(visual, Frozen) else Frozen(visual)
        self.ln_vision = ln_vision

    @property
    def image_size(self) -> int:
        return self.visual.module.image_size

    def encode_image(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 3, S, S) -> (B, N, Dv) tokens after ln_vision, in ln_vision's dtype (fp32)
        whatever the tower holds."""
        return self.ln_vision(self.visual(images).to(self.ln_vision.weight.dtype))


class Blip2Generator(FrozenVision):
    """BLIP-2 with OPT (decoder-only) or Flan-T5 (encoder-decoder): captions and answers.
    The vision tower and the LM are frozen; ln_vision, the Q-Former and `proj` train."""

    VQA_PROMPT = "Question: {} Short answer:"  # BLIP-2's zero-shot VQA prompt

    def __init__(self, visual: nn.Module, ln_vision: nn.LayerNorm, qformer: QFormer, proj: nn.Linear,
                 llm: FrozenLM):
        super().__init__(visual, ln_vision)
        self.qformer = qformer
        self.proj = proj
        self.llm = llm
        self.codec = None  # an LMText, attached by the loader
        self.prompt = ""  # BLIP-2 captions with no prompt
        self.vqa_prompt = self.VQA_PROMPT  # the paper writes "Question: {} Answer:" for OPT
        # the token a text ends with, as this model was trained (LAVIS trains OPT to end with
        # "\n"); None: the LM's own EOS
        self.end_token: int | None = None

    def queries(self, image: torch.Tensor, prompts: list[str] | None = None) -> torch.Tensor:
        """(B, N, Dv) image tokens -> (B, Q, D) query outputs of the Q-Former. BLIP-2's queries
        do not read the prompt (InstructBLIP's do)."""
        return self.qformer(image=image)

    def prefix(self, images: torch.Tensor, prompts: list[str] | None = None) -> torch.Tensor:
        """(B, 3, S, S) -> (B, Q, D_lm): the soft prompt, in the LM's dtype."""
        return self.proj(self.queries(self.encode_image(images), prompts)).to(self.llm.dtype)

    def logits(self, images: torch.Tensor, ids: torch.Tensor, mask: torch.Tensor | None = None,
               decoder_ids: torch.Tensor | None = None, decoder_mask: torch.Tensor | None = None,
               prompts: list[str] | None = None) -> torch.Tensor:
        """Decoder-only: (B, Q + T, V) over [prefix; ids]. Encoder-decoder: (B, T', V) over
        `decoder_ids`, with [prefix; ids] encoded. prompts: the instructions an InstructBLIP
        Q-Former reads (BLIP-2's queries read none)."""
        return self.llm.logits(self.prefix(images, prompts), ids, mask, decoder_ids, decoder_mask)

    @torch.no_grad()
    def generate(self, images: torch.Tensor, prompts: list[str], cfg: DecodeConfig,
                 per_image: int = 1) -> list[str]:
        """images (B, 3, S, S) and one prompt per image -> B * per_image texts (image-major),
        the generated tokens only."""
        return self.codec.decode(self.generate_ids(images, prompts, cfg, per_image))

    @torch.no_grad()
    def generate_ids(self, images: torch.Tensor, prompts: list[str], cfg: DecodeConfig,
                     per_image: int = 1) -> torch.Tensor:
        """(B * per_image, L) generated ids, padded after the end token. Decoder-only models
        continue the prompt (left-padded, after the prefix); encoder-decoder models encode
        [prefix; prompt] and decode from their start token, which is not returned."""
        c, lm = self.codec, self.llm
        prefix = self.prefix(images, prompts)
        ids, mask = c.prompts(prompts, left=not lm.encoder_decoder, device=images.device)
        width = beams(cfg)
        if per_image > 1:
            ids, mask = ids.repeat_interleave(per_image, 0), mask.repeat_interleave(per_image, 0)
        prefix = prefix.repeat_interleave(per_image * width, 0)
        if lm.encoder_decoder:
            cache = lm.start(prefix, ids.repeat_interleave(width, 0), mask.repeat_interleave(width, 0))
            start = torch.full((ids.shape[0], 1), lm.decoder_start, dtype=torch.long, device=ids.device)
            return generate(lm.step, cache, start, cfg, self.eos, self.pad)[:, 1:]
        cache = lm.start(prefix, prompt_mask=mask.repeat_interleave(width, 0))
        return generate(lm.step, cache, ids, cfg, self.eos, self.pad)[:, ids.shape[1]:]

    @property
    def eos(self) -> int:
        if self.end_token is not None:
            return self.end_token
        eos = self.llm.lm.generation_config.eos_token_id
        if eos is None:
            eos = self.llm.lm.config.eos_token_id
        return eos[0] if isinstance(eos, list) else eos

    @property
    def pad(self) -> int:
        pad = self.llm.lm.config.pad_token_id
        return self.eos if pad is None else pad

    def caption(self, images: torch.Tensor, prompt: str, cfg: DecodeConfig,
                per_image: int = 1) -> list[str]:
        """(B, 3, S, S) -> B * per_image captions; `prompt` (may be empty) is text the caption
        follows, not part of it."""
        return self.generate(images, [prompt] * images.shape[0], cfg, per_image)

    @property
    def answer_decode(self) -> DecodeConfig:
        """BLIP-2's zero-shot VQA decoding: 5 beams, 1-10 new tokens, length penalty -1 for
        Flan-T5 and 0 for OPT."""
        return DecodeConfig(num_beams=5, max_length=10, min_length=1,
                            length_penalty=-1.0 if self.llm.encoder_decoder else 0.0)

    def answer(self, images: torch.Tensor, questions: list[str], cfg: DecodeConfig,
               templates: list[str] | None = None) -> list[str]:
        """Zero-shot VQA as BLIP-2 does it: `vqa_prompt` ("Question: {q} Short answer:") and the
        tokens the LM writes after it. An answer's `max_length`/`min_length` count its own tokens (BLIP-2's
        max_len 10, min_len 1), unless `max_new_tokens`/`min_new_tokens` are set. templates: one
        per question in place of `vqa_prompt` ("{}" is the question; an InstructBLIP model's
        Q-Former reads the result too)."""
        most, fewest = cfg.max_new_tokens, cfg.min_new_tokens
        cfg = replace(cfg, max_new_tokens=cfg.max_length if most is None else most,
                      min_new_tokens=cfg.min_length if fewest is None else fewest)
        return self.generate(images, self._asked(questions, templates), cfg)

    def _asked(self, questions: list[str], templates: list[str] | None) -> list[str]:
        templates = templates or [self.vqa_prompt] * len(questions)
        return [t.format(q) for t, q in zip(templates, questions, strict=True)]

    def candidates(self, answers: list[str], device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """An answer list as `rank` takes it: each answer's LM ids as they follow the prompt
        (decoder-only: after a space, then the end token; T5: its tokenizer's, </s> last),
        (A, L) right-padded, and their mask."""
        tok = self.codec.tokenizer
        if self.llm.encoder_decoder:
            rows = [tok(a).input_ids for a in answers]
        else:
            rows = [tok(" " + a, add_special_tokens=False).input_ids + [self.eos] for a in answers]
        return padded(rows, self.pad, device)

    @torch.no_grad()
    def rank(self, images: torch.Tensor, questions: list[str], candidates: tuple, k: int = 128,
             templates: list[str] | None = None) -> list[int]:
        """For each question, the candidate the LM finds likeliest after the image queries and
        the question's prompt (`vqa_prompt` or `templates`): the k candidates whose first token is
        likeliest are scored by the sum of their tokens' log-probabilities, end token included.
        Returns (B,) indices into the answer list."""
        answers, answer_mask = candidates
        prompts = self._asked(questions, templates)
        prefix = self.prefix(images, prompts)
        B, k = len(prompts), min(k, answers.shape[0])
        first = self._answer_logprobs(prefix, prompts, answers[:, :1].new_zeros(B, 0),
                                      answer_mask[:, :1].new_zeros(B, 0), first_only=True)  # (B, V)
        top = first.index_select(1, answers[:, 0]).topk(k, dim=1).indices  # (B, k)
        cand, cand_mask = answers[top].flatten(0, 1), answer_mask[top].flatten(0, 1)  # (B*k, L)
        score = self._answer_logprobs(prefix.repeat_interleave(k, 0), [p for p in prompts for _ in range(k)],
                                      cand, cand_mask).view(B, k)
        return top.gather(1, score.argmax(1, keepdim=True)).squeeze(1).tolist()

    @torch.no_grad()
    def choice_scores(self, images: torch.Tensor, questions: list[str], choices: list[list[str]],
                      templates: list[str] | None = None, rows: int = 256) -> list[list[float]]:
        """Each question's own candidates (multiple-choice datasets: ScienceQA, IconQA, VisDial's
        100 options, HM's yes/no), each scored as `rank` scores it: the summed log-probability of
        its tokens, end token included, after the image queries and the prompt; no pruning.
        rows: (question, candidate) pairs per LM pass. Returns B lists of scores."""
        prompts = self._asked(questions, templates)
        prefix = self.prefix(images, prompts)
        counts = [len(c) for c in choices]
        owner = torch.repeat_interleave(torch.arange(len(prompts)), torch.tensor(counts))
        flat = [a for c in choices for a in c]
        scores = []
        for start in range(0, len(flat), rows):
            who = owner[start:start + rows]
            cand, mask = self.candidates(flat[start:start + rows], prefix.device)
            scores.append(self._answer_logprobs(prefix[who.to(prefix.device)],
                                                [prompts[i] for i in who.tolist()], cand, mask))
        return [s.tolist() for s in torch.cat(scores).split(counts)] if scores else [[] for _ in prompts]

    def _answer_logprobs(self, prefix: torch.Tensor, prompts: list[str], cand: torch.Tensor,
                         cand_mask: torch.Tensor, first_only: bool = False) -> torch.Tensor:
        """(N,) summed log-probabilities of the answers cand (N, L) after [prefix; prompt], or with
        `first_only` the (N, V) log-probabilities of an answer's first token."""
        lm = self.llm
        if lm.encoder_decoder:
            ids, mask = self.codec.prompts(prompts, left=False, device=prefix.device)
            start = torch.full((len(prompts), 1), lm.decoder_start, dtype=torch.long, device=prefix.device)
            dec = torch.cat([start, cand], 1)
            logits = lm.logits(prefix, ids, mask, dec, torch.cat([torch.ones_like(start), cand_mask], 1))
            at = logits[:, :-1] if not first_only else logits[:, :1]
        else:
            ids, mask = self.codec.prompts(prompts, left=True, device=prefix.device)
            logits = lm.logits(prefix, torch.cat([ids, cand], 1), torch.cat([mask, cand_mask], 1))
            start = prefix.shape[1] + ids.shape[1] - 1  # the prompt's last position predicts the answer
            at = logits[:, start:start + (1 if first_only else cand.shape[1])]
        logp = at.float().log_softmax(-1)
        if first_only:
            return logp[:, 0]
        picked = logp.gather(2, cand[:, :, None]).squeeze(2)  # (N, L)
        return (picked * cand_mask).sum(1)


class Blip2Retrieval(FrozenVision):
    """BLIP-2's Q-Former as a matcher (stage 1): ITC features of the 32 queries and of the
    text's [CLS], and ITM logits averaged over the queries read with the text. A stage-1
    checkpoint also holds ITG's LM head, kept in `lm_head`."""

    def __init__(self, visual: nn.Module, ln_vision: nn.LayerNorm, qformer: QFormer,
                 vision_proj: nn.Linear, text_proj: nn.Linear, itm_head: nn.Linear,
                 lm_head: LMHead | None = None):
        super().__init__(visual, ln_vision)
        self.qformer = qformer
        self.vision_proj, self.text_proj, self.itm_head = vision_proj, text_proj, itm_head
        self.temp = nn.Parameter(torch.tensor(0.07))  # LAVIS's learned ITC temperature
        self.lm_head = lm_head  # ITG's head (stage 1), tied to the Q-Former's word embeddings
        self.prompt = ""  # LAVIS's Q-Former captions from [DEC] alone
        self.codec = None  # BlipText with [CLS] for both ITC and ITM, attached by the loader

    def image_features(self, image: torch.Tensor) -> torch.Tensor:
        """(B, N, Dv) image tokens -> (B, Q, E) normalised query features."""
        return F.normalize(self.vision_proj(self.qformer(image=image)), dim=-1)

    def text_features(self, ids: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """(B, T) ids -> (B, E) normalised [CLS] features of the text alone."""
        return F.normalize(self.text_proj(self.qformer(ids, mask=mask, queries=False)[:, 0]), dim=-1)

    def itm_logits(self, image: torch.Tensor, ids: torch.Tensor,
                   mask: torch.Tensor | None = None) -> torch.Tensor:
        """(B, N, Dv) image tokens and (B, T) ids -> (B, 2) logits [no match, match]: the ITM
        head on each query output of [queries; text], averaged over the queries."""
        n = self.qformer.cfg.queries
        return self.itm_head(self.qformer(ids, image, mask)[:, :n]).mean(dim=1)

    def stage1(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, list]:
        """One query pass for all three stage-1 losses: (image tokens (B, N, Dv), normalised query
        features (B, Q, E) for ITC, the queries' self-attention keys and values for ITG)."""
        image = self.encode_image(images)
        queries, kv = self.qformer.query_states(image)
        return image, F.normalize(self.vision_proj(queries), dim=-1), kv

    def itg_logits(self, kv: list, ids: torch.Tensor) -> torch.Tensor:
        """ids (B, T) from [DEC], read after the queries' cached keys and values `kv` (with their
        gradient) -> (B, T, V) next-token logits. Right padding needs no mask: the text is causal."""
        h, _ = self.qformer.text_step(ids, torch.arange(ids.shape[1], device=ids.device), kv)
        return self.lm_head(h, self.qformer.tok.weight)

    @torch.no_grad()
    def caption(self, images: torch.Tensor, prompt: str, cfg: DecodeConfig,
                per_image: int = 1) -> list[str]:
        """Q-Former captioning (ITG): the queries read the image once, then the text is decoded
        from [DEC] (and `prompt`), seeing every query and the text before it. B * per_image
        captions, image-major."""
        if self.lm_head is None:
            raise BlipctlError("this Q-Former has no ITG head (transformers' Blip2ForImageTextRetrieval "
                               "keeps none; LAVIS's stage-1 blip2 checkpoints do), so it cannot caption")
        c = self.codec
        _, kv = self.qformer.query_states(self.encode_image(images))
        rows = per_image * beams(cfg)
        cache = KVCache(images.device)
        cache.kv = [(k.repeat_interleave(rows, 0), v.repeat_interleave(rows, 0)) for k, v in kv]
        words = self.qformer.tok.weight

        def step(ids: torch.Tensor, cache: KVCache) -> torch.Tensor:
            h, new = self.qformer.text_step(ids, cache.positions(ids.shape[1]), cache.kv)
            cache.update(new, ids.shape[1])
            return self.lm_head(h[:, -1:], words)[:, 0]

        prompt_ids = c.prompt_ids(prompt, images.device).expand(images.shape[0] * per_image, -1)
        out = generate(step, cache, prompt_ids, cfg, c.eos, c.pad)
        return [c.strip_prompt(t, prompt) for t in c.decode(out)]


class InstructBlip(Blip2Generator):
    """InstructBLIP (Flan-T5 or Vicuna/LLaMA): the instruction is read by the Q-Former too,
    as [queries; instruction tokens] under one bidirectional mask (only the queries
    cross-attend to the image); the query outputs alone are projected into the LM, followed by
    the instruction as its prompt. The Q-Former's tokenizer is bert-base-uncased + [DEC]
    (`qformer_codec`), truncating on the left at `MAX_INSTRUCTION` tokens, as LAVIS's (or at the
    Q-Former's positions, if fewer)."""

    MAX_INSTRUCTION = 128

    def __init__(self, visual: nn.Module, ln_vision: nn.LayerNorm, qformer: QFormer, proj: nn.Linear,
                 llm: FrozenLM):
        super().__init__(visual, ln_vision, qformer, proj, llm)
        self.qformer_codec = None  # a BlipText with [CLS] first, attached by the loader

    def queries(self, image: torch.Tensor, prompts: list[str] | None = None) -> torch.Tensor:
        """(B, N, Dv) image tokens and B instructions -> (B, Q, D) query outputs."""
        prompts = [""] * image.shape[0] if prompts is None else prompts
        most = min(self.MAX_INSTRUCTION, self.qformer.cfg.max_positions)  # a small Q-Former has fewer
        ids, mask = self.qformer_codec.encode(prompts, "text", most, device=image.device,
                                              truncation_side="left")
        return self.qformer(ids, image, mask)[:, :self.qformer.cfg.queries]
