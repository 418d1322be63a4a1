"""Caption evaluation: beam-search captions for a split, scored with the COCO caption metrics
(BLEU-1..4, METEOR, ROUGE-L, CIDEr, and SPICE when its jars are present), in percent as papers
report them. A ground truth whose images carry `domain` (NoCaps) also gets the in-, near- and
out-domain breakdown."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from blipctl.data.annotations import image_id, json_records, read_json
from blipctl.data.loader import image_sample
from blipctl.decode import DecodeConfig
from blipctl.errors import BlipctlError
from blipctl.eval.batches import EvalData, Evaluation, eval_batches
from blipctl.eval.caption_metric import (
    caption_scores_per_image,
    coco_gt,
    coco_images,
    coco_results,
    nocaps_breakdown,
    read_coco_gt,
)
from blipctl.models.protocols import Captioner


def score(res: dict, gt_path: str, spice: bool = True, partial: bool = False) -> dict:
    """Metrics (percent) of captions {image_id: caption} against a COCO-format ground truth;
    `partial`: score only the images that have a caption (the others could not be read)."""
    return score_per_image(res, gt_path, spice, partial)[0]


def score_per_image(res: dict, gt_path: str, spice: bool = True,
                    partial: bool = False) -> tuple[dict, np.ndarray | None]:
    """`score`, and each captioned image's CIDEr in percent, in `res` order (None for a
    ground truth with NoCaps domains)."""
    gts, domains = read_coco_gt(gt_path)
    return scored_against(res, gts, domains, gt_path, spice, partial)


def scored_against(res: dict, gts: dict, domains: dict | None, where: str, spice: bool = True,
                   partial: bool = False) -> tuple[dict, np.ndarray | None]:
    """`score_per_image` against references {image_id: [captions]} read from `where`."""
    if partial:
        gts = {i: g for i, g in gts.items() if i in res}
    missing = [i for i in gts if i not in res]
    if missing:
        raise BlipctlError(f"{where}: {len(missing)} image(s) have no predicted caption "
                           f"(first: image_id {missing[0]})")
    if domains:
        return {d: _percent(m) for d, m in nocaps_breakdown(gts, res, domains, spice=spice).items()}, None
    metrics, each = caption_scores_per_image(gts, res, spice=spice)
    return _percent(metrics), np.array([100 * each[k] for k in res])


def _percent(m: dict) -> dict:
    return {k: round(100 * v, 2) for k, v in m.items()}


class CaptionEval:
    """BLIP's caption test: beam 3, 5-20 tokens, after the prompt "a picture of "."""

    needs = Captioner

    def __init__(self, prompt: str = "a picture of ", num_beams: int = 3, max_length: int = 20,
                 min_length: int = 5, repetition_penalty: float = 1.0, spice: bool = True):
        self.prompt, self.spice = prompt, spice
        self.decode = DecodeConfig(num_beams=num_beams, max_length=max_length, min_length=min_length,
                                   repetition_penalty=repetition_penalty)

    @torch.no_grad()
    def __call__(self, model: Captioner, data: EvalData, device: torch.device,
                 dtype: torch.dtype) -> Evaluation:
        records, refs, domains = split_records(data)
        size = data.image_size or model.image_size
        res, bad = {}, []
        for batch in eval_batches(records, image_sample(size, False), data.batch_size, data.workers, bad):
            images = batch["image"].to(device=device, dtype=dtype)
            caps = model.caption(images, self.prompt, self.decode)
            res.update(zip(batch["image_id"], caps, strict=True))
        # unreadable images are left out of the ground truth too; the run reports them
        where = data.annotations if refs is not None else f"{data.root}/{data.gt}"
        if refs is None:
            refs, domains = read_coco_gt(where)
        metrics, cider = scored_against(res, refs, domains, where, self.spice, partial=bool(bad))
        arrays = {} if cider is None else {"cider_per_image": cider}  # predictions.json order
        return Evaluation(coco_results(res), metrics, arrays, bad=bad)


def split_records(data: EvalData) -> tuple[list[dict], dict | None, dict | None]:
    """The split's records {image, image_id, where}, and without `data.gt` its own references
    {image_id: [captions]} and NoCaps domains (or None). The split is a list of BLIP records
    `[{image, caption?: [..], image_id?}]`, or a COCO-format captions file (`{images: [{id,
    file_name, domain?}], annotations}`, as NoCaps and COCO release theirs)."""
    path = Path(data.root) / data.annotations
    split = read_json(path)
    if isinstance(split, dict):
        records = [{"image": f"{data.root}/{name}", "image_id": i, "where": f"{data.annotations}:{i}"}
                   for i, name in coco_images(split, path)]
        refs, domains = (None, None) if data.gt else coco_gt(split, path)
        return records, refs, domains
    split = json_records(split, path)
    records = [{"image": f"{data.root}/{r['image']}", "image_id": image_id(r, i),
                "where": f"{data.annotations}:{i}"} for i, r in enumerate(split)]
    return records, (None if data.gt else references(split, records, data.annotations)), None


def references(split: list[dict], records: list[dict], name: str) -> dict:
    """{image_id: [captions]} from a split whose records carry their references (`caption`: a
    list, as BLIP's Karpathy test files do), for a recipe without `data.gt`."""
    refs = {}
    for rec, r in zip(split, records, strict=True):
        caps = rec.get("caption")
        if not isinstance(caps, list) or not caps or not all(isinstance(c, str) for c in caps):
            raise BlipctlError(f"{r['where']}: no `caption` list to score against; give the recipe "
                               f"`data.gt`, a COCO-format ground truth for {name}")
        refs.setdefault(r["image_id"], []).extend(caps)
    return refs
