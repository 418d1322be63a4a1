"""Capabilities: what a consumer (inference, evaluation, CapFilt, a training task) needs from a
model, as `typing.Protocol`s. Consumers ask for a capability, never for a class, so a new model
family plugs in by offering the methods.

A model that holds several capabilities in shared modules (BLIP's pretraining model: a
captioner and a matcher) lists them in `views`; `require` finds them there.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import torch

from blipctl.decode import DecodeConfig
from blipctl.errors import BlipctlError


@runtime_checkable
class VisionTower(Protocol):
    """An image encoder: (B, 3, S, S) pixels at its `image_size` -> (B, N, D) tokens."""

    @property
    def image_size(self) -> int: ...

    def encode_image(self, images: torch.Tensor) -> torch.Tensor: ...


@runtime_checkable
class ImageTextModel(Protocol):
    """read images at its `image_size` and text through its `codec`"""

    codec: Any

    @property
    def image_size(self) -> int: ...


@runtime_checkable
class Captioner(ImageTextModel, Protocol):
    """caption images"""

    prompt: str  # what a caption continues unless the caller gives another

    def caption(self, images: torch.Tensor, prompt: str, cfg: DecodeConfig,
                per_image: int = 1) -> list[str]: ...


@runtime_checkable
class Answerer(ImageTextModel, Protocol):
    """answer questions about images"""

    @property
    def answer_decode(self) -> DecodeConfig: ...  # how its paper decodes answers

    def answer(self, images: torch.Tensor, questions: list[str], cfg: DecodeConfig) -> list[str]: ...


@runtime_checkable
class AnswerRanker(Answerer, Protocol):
    """rank a list of candidate answers"""

    def candidates(self, answers: list[str], device: torch.device) -> Any: ...

    def rank(self, images: torch.Tensor, questions: list[str], candidates: Any,
             k: int = 128) -> list[int]: ...


@runtime_checkable
class ChoiceScorer(Answerer, Protocol):
    """score each question's own candidate answers"""

    def choice_scores(self, images: torch.Tensor, questions: list[str], choices: list[list[str]],
                      templates: list[str] | None = None) -> list[list[float]]: ...


@runtime_checkable
class Embedder(VisionTower, ImageTextModel, Protocol):
    """embed images and texts in one space (ITC)"""

    def image_features(self, image: torch.Tensor) -> torch.Tensor: ...

    def text_features(self, ids: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor: ...


@runtime_checkable
class Matcher(VisionTower, ImageTextModel, Protocol):
    """score image-text pairs (ITM)"""

    def itm_logits(self, image: torch.Tensor, ids: torch.Tensor,
                   mask: torch.Tensor | None = None) -> torch.Tensor: ...


@runtime_checkable
class PairClassifier(ImageTextModel, Protocol):
    """tell whether a statement is true of an image pair (NLVR2)"""

    @property
    def max_text_length(self) -> int: ...

    def pair_logits(self, left: torch.Tensor, right: torch.Tensor, ids: torch.Tensor,
                    mask: torch.Tensor | None = None) -> torch.Tensor: ...


@runtime_checkable
class LanguageModel(Protocol):
    """learn to write text about images (the image-grounded decoder's LM loss)"""

    codec: Any

    def encode_image(self, images: torch.Tensor) -> torch.Tensor: ...

    def lm_hidden(self, image: torch.Tensor, ids: torch.Tensor,
                  mask: torch.Tensor | None = None) -> torch.Tensor: ...

    def lm_logits(self, hidden: torch.Tensor) -> torch.Tensor: ...


@runtime_checkable
class AnswerLearner(Protocol):
    """learn to answer questions (question states, then the answer decoder's LM loss)"""

    codec: Any

    def encode_question(self, images: torch.Tensor, ids: torch.Tensor,
                        mask: torch.Tensor) -> torch.Tensor: ...

    def answer_logits(self, states: torch.Tensor, qmask: torch.Tensor, ids: torch.Tensor,
                      mask: torch.Tensor | None = None) -> torch.Tensor: ...


@runtime_checkable
class MomentumContrastive(Protocol):
    """learn ITC against momentum encoders and feature queues (a BLIP retrieval model needs a
    `queue_size`: 57600 in BLIP, 0 for in-batch only)"""

    temp: torch.Tensor
    image_queue: torch.Tensor
    text_queue: torch.Tensor
    ptr_queue: torch.Tensor

    def momentum_update(self) -> None: ...

    def momentum_features(self, images: torch.Tensor, ids: torch.Tensor,
                          mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]: ...


@runtime_checkable
class QueryLearner(Protocol):
    """learn BLIP-2's stage-1 losses: ITC over query features, ITM, and ITG after the cached
    queries (`stage1`, `itg_logits`)"""

    codec: Any
    temp: torch.Tensor

    def stage1(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, list]: ...

    def text_features(self, ids: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor: ...

    def itm_logits(self, image: torch.Tensor, ids: torch.Tensor,
                   mask: torch.Tensor | None = None) -> torch.Tensor: ...

    def itg_logits(self, kv: list, ids: torch.Tensor) -> torch.Tensor: ...


@runtime_checkable
class PrefixLearner(Protocol):
    """learn to prompt a frozen LM with image queries (BLIP-2's stage 2): `logits` over text
    read after the projected queries, and the token a text ends with (`eos`)"""

    codec: Any

    @property
    def eos(self) -> int: ...

    def logits(self, images: torch.Tensor, ids: torch.Tensor, mask: torch.Tensor | None = None,
               decoder_ids: torch.Tensor | None = None, decoder_mask: torch.Tensor | None = None,
               prompts: list[str] | None = None) -> torch.Tensor: ...


def what(capability: type) -> str:
    """A capability's phrase for messages ("caption images")."""
    return " ".join((capability.__doc__ or capability.__name__).split())


def find(model: Any, capability: type, views: bool = True) -> Any | None:
    """`model` itself if it offers `capability`, else (with `views`) the first of its views
    that does; None if neither."""
    if isinstance(model, capability):
        return model
    if views:
        return next((v for v in getattr(model, "views", ()) if isinstance(v, capability)), None)
    return None


def require(model: Any, capability: type, where: str, views: bool = True,
            error: type[BlipctlError] = BlipctlError) -> Any:
    """`find`, or a one-line error naming `where` the model came from and what it lacks."""
    found = find(model, capability, views)
    if found is None:
        raise error(f"{where}: a {type(model).__name__} cannot {what(capability)}; "
                           f"give a model that can")
    return found
