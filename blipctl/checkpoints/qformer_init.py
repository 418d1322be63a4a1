"""A Q-Former started from BERT, as BLIP-2 starts it (LAVIS's `init_Qformer`): BERT's
embeddings, self-attention and FFN for the text, the same FFN copied into every layer's query
FFN, the cross-attention and the 32 queries new. BERT's vocab gains BLIP-2's [DEC] row; its
token-type embedding is dropped, as LAVIS drops it."""

from __future__ import annotations

import torch

from blipctl.checkpoints.keymap import KeyMap
from blipctl.checkpoints.names import BERT
from blipctl.errors import BlipctlError
from blipctl.models.qformer import QFormer

# BERT (transformers' BertModel names) -> MED names; the Q-Former's embeddings are top-level.
# BLIP-2's Q-Former has no token-type embedding: LAVIS drops BERT's, and so does blipctl.
_BERT = KeyMap([("", "", [*BERT, (None, "pooler.dense.{w}"),
                          (None, "embeddings.token_type_embeddings.weight")])])
_EMBED = {"embed.tok.weight": "tok.weight", "embed.pos.weight": "pos.weight", "embed.ln.weight": "ln.weight",
          "embed.ln.bias": "ln.bias"}


def from_bert(qformer: QFormer, bert: dict[str, torch.Tensor], where: str = "BERT") -> list[str]:
    """Copies a BertModel state dict (transformers' names, `bert.` prefixes stripped) into
    `qformer`; returns the Q-Former's tensors left at their initialisation (cross-attention,
    queries, new vocab rows)."""
    return from_med(qformer, _BERT.to_ours({k.removeprefix("bert."): v for k, v in bert.items()
                                            if not k.startswith(("cls.", "bert.pooler"))}, where), where)


def from_med(qformer: QFormer, ours: dict[str, torch.Tensor], where: str = "BERT") -> list[str]:
    """The same from a BERT-style text encoder under MED's names (a BLIP model's `text.` or
    `encoder.`, prefix stripped); its cross-attention is not copied."""
    target = qformer.state_dict()
    copied = {}
    for key, value in ours.items():
        name = _EMBED.get(key, key)
        if name.startswith("layers.") and ".cross." in name:
            continue
        names = [name, name.replace(".mlp.", ".mlp_query.")] if ".mlp." in name else [name]
        for n in names:
            if n not in target:
                raise BlipctlError(f"{where}: {key} has no place in this Q-Former (is it deeper?)")
            t = target[n]
            if n == "tok.weight":  # [DEC] (and any other new id) keeps its initialisation
                if value.shape[0] > t.shape[0] or value.shape[1:] != t.shape[1:]:
                    raise BlipctlError(f"{where}: word embeddings {tuple(value.shape)} do not fit "
                                       f"{tuple(t.shape)}")
                value = torch.cat([value, t[value.shape[0]:]])
            elif t.shape != value.shape:
                raise BlipctlError(f"{where}: {key} is {tuple(value.shape)}, the Q-Former's {n} "
                                   f"{tuple(t.shape)}")
            copied[n] = value
    qformer.load_state_dict(copied, strict=False)
    return sorted(set(target) - set(copied)) + (["tok.weight (new rows)"] if "tok.weight" in copied else [])
