"""Starting a model from other weights (the recipe's `init`), as BLIP's `load_checkpoint` does:
every tensor whose name and shape match is copied, the rest keep their initialisation.

The source is anything `load_model` reads (a blipctl run, an original BLIP/LAVIS `.pth`, a
transformers directory or Hub id), as its state dict under blipctl's own names, momentum
encoders and queues included. Names match across task models but for one module with two
names: the image-grounded text encoder is `text.` in retrieval and NLVR2 models and `encoder.`
in pretrain and VQA models (`SYNONYMS`). So a pretrain checkpoint initialises any task model
(its decoder the captioner's, its encoder that of retrieval, VQA and NLVR2). NLVR2's two
cross-attentions per layer both start from a single-image model's one; a position embedding
is resized to the model's grid. The frozen parts a recipe builds from their own checkpoints
(BLIP-2's tower and LM, `checkpoints.parts`) keep those weights.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import torch

from blipctl.checkpoints.transforms import to_grid
from blipctl.errors import BlipctlError

# one module, two names: (the name in some models, the common name)
SYNONYMS = (("text.", "encoder."), ("text_m.", "encoder_m."))
# NLVR2's twin cross-attention (`cross.h0/h1`, `cross.o0/o1`) from a single one (`cross.q/k/v`, `cross.o`)
_TWIN = (re.compile(r"(.*\.cross\.)([qkv]\.(?:weight|bias))"), (r"\1h0.\2", r"\1h1.\2"),
         re.compile(r"(.*\.cross\.)o(\.(?:weight|bias))"), (r"\1o0\2", r"\1o1\2"))


def _common(key: str) -> str:
    for name, common in SYNONYMS:
        if key.startswith(name):
            return common + key[len(name):]
    return key


def _with_twins(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    out = dict(state)
    qkv, qkv_twins, o, o_twins = _TWIN
    for key, value in state.items():
        for rx, twins in ((qkv, qkv_twins), (o, o_twins)):
            if rx.fullmatch(key):
                for twin in twins:
                    out.setdefault(rx.sub(twin, key), value)
    return out


def onto(model: torch.nn.Module, source: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The source's tensors under `model`'s names, for each of the model's keys the source has
    (in the model's order), position embeddings resized to the model's grid; shapes unchecked."""
    theirs = _with_twins({_common(k): v for k, v in source.items()})
    out = {}
    for key, ref in model.state_dict().items():
        value = theirs.get(_common(key))
        if value is not None:
            out[key] = to_grid(value, ref) if key.endswith("pos_embed") else value
    return out


@dataclass
class WarmStart:
    """What `warm_start` copied; `str()` is its one-line report."""

    source: str
    loaded: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # not in the source: kept as the recipe built them
    skipped: list[str] = field(default_factory=list)  # in the source with another shape

    def __str__(self) -> str:
        report = f"{len(self.loaded)} tensors from {self.source}"
        if self.missing:
            more = ", ..." if len(self.missing) > 3 else ""
            report += (f"; {len(self.missing)} not in it, kept as built "
                       f"({', '.join(self.missing[:3])}{more})")
        if self.skipped:
            report += f"; {len(self.skipped)} skipped for shape ({', '.join(self.skipped[:3])})"
        return report


def source_state(source: str) -> dict[str, torch.Tensor]:
    """The source's state dict under blipctl's names, through the format table."""
    from blipctl.checkpoints.formats import find

    return find(source).state(source)


def warm_start(model: torch.nn.Module, source: str) -> WarmStart:
    """Copies the tensors of `source` that fit into `model`."""
    try:
        theirs = source_state(source)
    except BlipctlError as e:
        raise BlipctlError(f"recipe key `init`: {str(e).removeprefix('--model ')}") from None
    from blipctl.checkpoints.frozen import built

    target = model.state_dict()
    own = built(model)  # frozen parts the recipe read from their own checkpoints keep those weights
    found = {k: v for k, v in onto(model, theirs).items() if k not in own}
    loaded = {k: v for k, v in found.items() if v.shape == target[k].shape}
    missing, _ = model.load_state_dict(loaded, strict=False)
    return WarmStart(source, list(loaded), [k for k in missing if k not in own],
                     [k for k in found if k not in loaded])
