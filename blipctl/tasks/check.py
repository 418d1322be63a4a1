"""Does a model fit a training task? Each task names the capabilities it trains (`needs`)."""

from __future__ import annotations

from typing import Any

from blipctl.errors import ConfigError
from blipctl.models.protocols import require


def check_model(task: Any, model: Any, where: str = "recipe key `model`") -> None:
    """Raises a one-line ConfigError unless `model` itself (not a view) offers every capability
    in `task.needs`."""
    needs = task.needs if isinstance(task.needs, tuple) else (task.needs,)
    for capability in needs:
        require(model, capability, f"{where} ({type(task).__name__})", views=False, error=ConfigError)


def check_codec(model: Any, where: str = "recipe key `codec`") -> None:
    """Raises a one-line ConfigError when the model's tokenizer has ids that its token
    embeddings have no row for (a codec's vocab file and the model's `vocab_size` disagree)."""
    from blipctl.models.layers import Embeddings
    from blipctl.models.qformer import QFormer

    codec = getattr(model, "codec", None)
    rows = [m.tok.num_embeddings for m in model.modules()
            if isinstance(m, Embeddings) or isinstance(m, QFormer) and m.tok is not None]
    if codec is None or not rows or not hasattr(codec, "tokenizer"):
        return
    ids = getattr(codec, "id_count", None) or len(codec.tokenizer)
    if ids > min(rows):
        source = getattr(codec, "vocab_file", None) or "bert-base-uncased"
        raise ConfigError(f"{where}: the tokenizer ({source}) has {ids} ids but the model's "
                          f"vocab_size is {min(rows)}; make them agree")
