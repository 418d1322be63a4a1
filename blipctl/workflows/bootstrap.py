"""`blipctl bootstrap`: CapFilt over a web set, shard by shard.

For each input shard: the captioner writes K synthetic captions per image, the filter scores
the web text(s) and every synthetic caption with its ITM head, and the shard's kept texts are
written as a webdataset tar (`shards/NNNNNN.tar`, one sample per image-text pair) and every
candidate with its decision as `parts/NNNNNN.json`. Each file is written to a temporary name,
fsynced and renamed; the part is written last and marks the shard done, so a rerun skips done
shards and a crash loses at most the shard in progress. Under torchrun, rank r takes shards
r, r + world, ... At the end rank 0 merges the parts into `annotations.json` (the kept pairs,
with provenance), `summary.json` and `grid.png`.
"""

from __future__ import annotations

import io
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from blipctl.capfilt.models import CaptionerConfig, FilterConfig
from blipctl.capfilt.source import BootstrapInput, ShardRef, WebItem, input_shards
from blipctl.errors import BlipctlError, ConfigError
from blipctl.files import write_tar, write_text


@dataclass
class BootstrapConfig:
    output_dir: str = "runs/bootstrap"
    input: BootstrapInput = field(default_factory=BootstrapInput)
    captioner: CaptionerConfig = field(default_factory=CaptionerConfig)
    filter: FilterConfig = field(default_factory=FilterConfig)
    batch_size: int = 32            # images per forward pass
    seed: int = 0                   # synthetic captions are sampled from (seed, shard, batch)
    device: str = "auto"
    dtype: Literal["fp32", "bf16"] = "fp32"
    grid: int = 12                  # images shown in grid.png; 0 for none


@dataclass
class Outcome:
    summary: dict
    bad: list[tuple[str, str]]


def _check(cfg: BootstrapConfig) -> None:
    if not cfg.captioner.model and not cfg.filter.model:
        raise ConfigError("recipe keys `captioner.model` and `filter.model` are both empty: "
                          "CapFilt needs a captioner, a filter or both")
    if cfg.captioner.captions_per_image < 1:
        raise ConfigError("recipe key `captioner.captions_per_image`: must be at least 1")
    d = cfg.captioner.decode
    if d.top_p <= 0 and d.num_beams > 1 and cfg.captioner.captions_per_image > 1:
        raise ConfigError("recipe key `captioner.captions_per_image`: beam search gives one caption "
                          "per image; use nucleus sampling (decode.top_p > 0) for more")
    f = cfg.filter.keep_fraction
    if f is not None and not 0 < f <= 1:
        raise ConfigError(f"recipe key `filter.keep_fraction`: must be in (0, 1], got {f}")
    if cfg.batch_size < 1:
        raise ConfigError("recipe key `batch_size`: must be at least 1")


def _same_recipe(out: Path, config_yaml: str) -> None:
    """A rerun continues only the run it started: same recipe, device and dtype aside."""
    import yaml

    from blipctl.config.dicts import changed_keys
    from blipctl.config.yaml_io import load_yaml

    old = out / "config.yaml"
    if not old.is_file() or not config_yaml:
        return
    changed = changed_keys(load_yaml(old), yaml.safe_load(config_yaml), ignore=("device", "dtype"))
    if changed:
        raise ConfigError(f"{out}: holds a bootstrap of a different recipe (changed: {', '.join(changed)}); "
                           "give a new output_dir, or delete it to start over")


def run(cfg: BootstrapConfig, config_yaml: str = "") -> Outcome:
    """Bootstraps `cfg.input`; returns the summary and the unreadable items."""
    import torch

    from blipctl.engine.dist import barrier, setup, teardown

    _check(cfg)
    out = Path(cfg.output_dir)
    shards = input_shards(cfg.input)
    world = setup(cfg.device)
    try:
        if world.main:
            (out / "shards").mkdir(parents=True, exist_ok=True)
            (out / "parts").mkdir(exist_ok=True)
            _same_recipe(out, config_yaml)
            if config_yaml:
                write_text(out / "config.yaml", config_yaml)
        barrier()
        mine = shards[world.rank::world.size]
        todo = [s for s in mine if not (out / "parts" / f"{s.index:06d}.json").is_file()]
        if len(todo) < len(mine):
            print(f"bootstrap: {len(mine) - len(todo)} shard(s) already done in {out}; skipping them",
                  file=sys.stderr)
        dtype = {"fp32": torch.float32, "bf16": torch.bfloat16}[cfg.dtype]
        worker = _Worker(cfg, world.device, dtype)
        from blipctl.progress import progress

        with progress(len(todo), f"CapFilt (rank {world.rank})" if world.size > 1 else "CapFilt") as advance:
            for shard in todo:
                worker.shard(shard, out)
                advance(1)
        barrier()
        outcome = _merge(cfg, out, shards) if world.main else Outcome({}, [])
        barrier()
        return outcome
    finally:
        teardown()


class _Worker:
    """The loaded models and what a shard needs from them."""

    def __init__(self, cfg: BootstrapConfig, device, dtype):
        from blipctl.checkpoints.load import load_model
        from blipctl.models.protocols import Captioner, Matcher, require

        self.cfg, self.device, self.dtype = cfg, device, dtype
        self.captioner = self.filter = None
        if cfg.captioner.model:
            m = require(load_model(cfg.captioner.model), Captioner,
                        f"recipe key `captioner.model`: {cfg.captioner.model}")
            self.captioner = m.to(device=device, dtype=dtype).eval()
        if cfg.filter.model:
            m = require(load_model(cfg.filter.model), Matcher,
                        f"recipe key `filter.model`: {cfg.filter.model}")
            self.filter = m.to(device=device, dtype=dtype).eval()

    def _pixels(self, items: list[WebItem], bad: list[dict]):
        """(readable items, {image size: (B, 3, S, S)}) for the sizes the models need."""
        import torch

        from blipctl.data.images import load_rgb, preprocess

        sizes = {m.image_size for m in (self.captioner, self.filter) if m is not None}
        good, pix = [], {s: [] for s in sizes}
        for item in items:
            try:
                img = load_rgb(io.BytesIO(item.read()))
            except BlipctlError as e:
                bad.append({"image": item.image, "error": str(e).split(": ", 1)[-1]})
                continue
            good.append(item)
            for s in sizes:
                pix[s].append(preprocess(img, s))
        return good, {s: torch.stack(v).to(self.device, self.dtype) for s, v in pix.items() if v}

    def shard(self, shard: ShardRef, out: Path) -> None:
        from blipctl.capfilt.models import match_probability, synthetic_captions
        from blipctl.data.loader import sample_seed

        cfg = self.cfg
        items = shard.load()
        candidates: list[dict] = []
        bad: list[dict] = []
        readable: list[WebItem] = []
        for b, start in enumerate(range(0, len(items), cfg.batch_size)):
            good, pixels = self._pixels(items[start:start + cfg.batch_size], bad)
            if not good:
                continue
            synth = [[] for _ in good]
            if self.captioner is not None:
                synth = synthetic_captions(self.captioner, pixels[self.captioner.image_size],
                                           cfg.captioner, seed=sample_seed(cfg.seed, shard.index, b))
            pairs = [(i, t, "web") for i, it in enumerate(good) for t in it.texts]
            pairs += [(i, t, "synthetic") for i, caps in enumerate(synth) for t in caps]
            scores = [None] * len(pairs)
            if self.filter is not None:
                scores = match_probability(self.filter, pixels[self.filter.image_size],
                                           [(i, t) for i, t, _ in pairs], cfg.filter)
            for (i, text, source), score in zip(pairs, scores, strict=True):
                it = good[i]
                c = {"image": it.image, "key": it.key, "caption": text, "source": source,
                     "score": None if score is None else round(score, 6)}
                if source == "web" and it.noise is not None:
                    c.update(noisy=it.noise["noisy"], kind=it.noise.get("kind"))
                candidates.append(c)
            readable += good
        _decide(candidates, cfg.filter if self.filter is not None else None)
        provenance = _provenance(cfg)
        by_key = {it.key: it for it in readable}
        counts: dict[str, int] = {}

        def samples():
            for c in candidates:
                if not c["keep"]:
                    continue
                j = counts[c["key"]] = counts.get(c["key"], -1) + 1
                it = by_key[c["key"]]
                yield f"{c['key']}_{j}", {it.ext: it.read(), "txt": c["caption"].encode(),
                                          "json": json.dumps(_kept_record(c, provenance)).encode()}

        write_tar(out / "shards" / f"{shard.index:06d}.tar", samples())
        write_text(out / "parts" / f"{shard.index:06d}.json",
                   json.dumps({"shard": shard.index, "source": shard.name, **provenance,
                               "candidates": candidates, "bad": bad}, indent=None) + "\n")


def _provenance(cfg: BootstrapConfig) -> dict:
    return {"captioner": cfg.captioner.model, "filter": cfg.filter.model}


def _kept_record(c: dict, provenance: dict) -> dict:
    """A kept pair as annotations.json and the shard's JSON give it: text, source, score, the
    checkpoints used, and the image's key as `image_id` (shared by all texts of one image)."""
    return {"image": c["image"], "caption": c["caption"], "source": c["source"], "score": c["score"],
            **provenance, "image_id": c["key"]}


def _decide(candidates: list[dict], filt: FilterConfig | None) -> None:
    """Sets `keep` on each candidate: all without a filter; P(match) > threshold; or, with
    keep_fraction, the shard's top fraction by P(match) (ties broken by order)."""
    if filt is None:
        for c in candidates:
            c["keep"] = True
        return
    if filt.keep_fraction is None:
        for c in candidates:
            c["keep"] = c["score"] > filt.threshold
        return
    n = round(filt.keep_fraction * len(candidates))
    best = set(sorted(range(len(candidates)), key=lambda i: -candidates[i]["score"])[:n])
    for i, c in enumerate(candidates):
        c["keep"] = i in best


def _merge(cfg: BootstrapConfig, out: Path, shards: list[ShardRef]) -> Outcome:
    from blipctl.capfilt.stats import noise_stats, source_counts

    candidates, bad = [], []
    for s in shards:
        part = json.loads((out / "parts" / f"{s.index:06d}.json").read_text(encoding="utf-8"))
        candidates += part["candidates"]
        bad += [(b["image"], b["error"]) for b in part["bad"]]
    provenance = _provenance(cfg)
    kept = [_kept_record(c, provenance) for c in candidates if c["keep"]]
    write_text(out / "annotations.json", json.dumps(kept, indent=None) + "\n")
    last = len(shards) - 1
    summary = {
        "input": str(Path(cfg.input.root) / cfg.input.source), "image_root": cfg.input.root,
        "images": len({c["key"] for c in candidates}), "unreadable": len(bad),
        "shards": f"shards/{{000000..{last:06d}}}.tar" if last > 0 else "shards/000000.tar",
        "annotations": "annotations.json", "kept": len(kept), **provenance,
        "threshold": cfg.filter.threshold if cfg.filter.model and cfg.filter.keep_fraction is None else None,
        "keep_fraction": cfg.filter.keep_fraction if cfg.filter.model else None,
        "sources": source_counts(candidates), "noise": noise_stats(candidates),
    }
    write_text(out / "summary.json", json.dumps(summary, indent=2) + "\n")
    if cfg.grid > 0 and candidates:
        from blipctl.capfilt.grid import draw_grid

        draw_grid(out, candidates, cfg.grid, out / "grid.png", root=cfg.input.root)
    return Outcome(summary, bad)
