"""Starting a fine-tune from other weights, as BLIP's `load_checkpoint` does: every tensor
whose original-BLIP name and shape match is copied, the rest keep their initialisation.

Sources: a blipctl run directory, an original BLIP/LAVIS `.pth`, or a transformers directory
or Hub id. All are brought to original BLIP names first, so a pretrain checkpoint initialises
any task model (its decoder -> the captioner, its encoder -> retrieval, VQA, NLVR2).
"""

from __future__ import annotations

from pathlib import Path

import torch

from blipctl.checkpoints.original import KEYS, is_tied, original_state, read_pth
from blipctl.errors import BlipctlError
from blipctl.models.nlvr import BlipNLVR
from blipctl.models.vit import resize_pos_embed


def source_state(source: str) -> dict[str, torch.Tensor]:
    from blipctl.checkpoints.load import is_run, load_run

    path = Path(source)
    if is_run(path):
        return original_state(load_run(path))
    if path.suffix in (".pth", ".pt") or path.is_file():
        return read_pth(path)
    from blipctl.checkpoints import hf

    return original_state(hf.load_hf(hf.hub_or_dir(source)))


def _twin(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """NLVR2 from a single-image model: both image branches start from the one cross-attention."""
    out = dict(state)
    for k, v in state.items():
        for one, two in ((".crossattention.self.", (".crossattention.self0.", ".crossattention.self1.")),
                         (".crossattention.output.dense.", (".crossattention.output.dense0.",
                                                            ".crossattention.output.dense1."))):
            if one in k:
                for t in two:
                    out.setdefault(k.replace(one, t), v)
    return out


def init_from(model: torch.nn.Module, source: str) -> str:
    """Copies matching tensors from `source` into `model`; returns a one-line report."""
    try:
        theirs = source_state(source)
    except BlipctlError as e:
        raise BlipctlError(f"recipe key `init`: {str(e).removeprefix('--model ')}") from None
    if isinstance(model, BlipNLVR):
        theirs = _twin(theirs)
    target = original_state(model)
    loaded, mismatched = {}, []
    for key, ref in target.items():
        value = theirs.get(key)
        if value is None or is_tied(key):
            continue
        if key.endswith("pos_embed") and value.shape != ref.shape:
            value = resize_pos_embed(value, model.visual.patch_embed.num_patches)
        if value.shape != ref.shape:
            mismatched.append(key)
            continue
        loaded[key] = value
    ours = KEYS[type(model)].to_ours(loaded, source)
    missing, _ = model.load_state_dict(ours, strict=False)
    report = f"{len(ours)} tensors from {source}"
    if missing:
        report += f"; {len(missing)} not in it, kept at initialisation ({', '.join(missing[:3])}" + \
            (", ..." if len(missing) > 3 else "") + ")"
    if mismatched:
        report += f"; {len(mismatched)} skipped for shape ({', '.join(mismatched[:3])})"
    return report
