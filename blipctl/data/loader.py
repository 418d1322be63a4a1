"""From records to batches: seeded per-sample transforms, resumable epoch order split across
ranks, bad items reported instead of raised, and webdataset shards streamed.

A sample's randomness comes from a generator seeded by (seed, epoch, index), so the batches a
run sees do not depend on worker counts, and a resumed run sees exactly what it would have.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset, IterableDataset, Sampler

from blipctl.data.augment import eval_transform, train_transform
from blipctl.data.images import load_rgb
from blipctl.errors import BlipctlError


@dataclass
class Bad:
    """A record that could not become a sample: where it came from and why."""

    where: str
    reason: str


def sample_seed(*parts: int) -> int:
    digest = hashlib.blake2b(repr(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


def image_sample(image_size: int, train: bool, hflip: bool = True) -> Callable[[dict, torch.Generator], dict]:
    """record {image, ...} -> {image: (3, S, S), ...the record's other fields}."""

    def make(rec: dict, g: torch.Generator) -> dict:
        rec = dict(rec)
        data = rec.pop("image_bytes", None)
        try:
            img = load_rgb(rec["image"] if data is None else io.BytesIO(data))
        except BlipctlError as e:
            if data is None:
                raise
            raise BlipctlError(f"{rec['where']}: {str(e).split(': ', 1)[-1]}") from None
        rec["image"] = (train_transform(img, image_size, g, hflip=hflip) if train
                        else eval_transform(img, image_size))
        return rec

    return make


def nlvr_sample(image_size: int, train: bool, hflip: bool = True) -> Callable[[dict, torch.Generator], dict]:
    """record {images, sentence, label} -> {left, right, sentence, label}. Training swaps the
    pair half of the time, swapping "left" and "right" in the sentence, as BLIP does."""
    swap_words = {"left": "right", "right": "left"}

    def make(rec: dict, g: torch.Generator) -> dict:
        left, right = (load_rgb(p) for p in rec["images"])
        t = (lambda im: train_transform(im, image_size, g, hflip=hflip)) if train else \
            (lambda im: eval_transform(im, image_size))
        left, right, sentence = t(left), t(right), rec["sentence"]
        if train and torch.rand((), generator=g).item() < 0.5:
            left, right = right, left
            sentence = " ".join(swap_words.get(w, w) for w in sentence.split(" "))
        return {**rec, "left": left, "right": right, "sentence": sentence}

    return make


class Samples(Dataset):
    """Records made into samples by `make(record, generator)`; failures become `Bad`."""

    def __init__(self, records: list[dict], make: Callable[[dict, torch.Generator], dict],
                 seed: int = 0):
        self.records, self.make, self.seed, self.epoch = records, make, seed, 0

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, i: int) -> dict | Bad:
        rec = self.records[i]
        g = torch.Generator().manual_seed(sample_seed(self.seed, self.epoch, i))
        try:
            return self.make(rec, g)
        except BlipctlError as e:
            return Bad(rec.get("where", f"record {i}"), str(e))


def collate(items: list[dict | Bad]) -> dict[str, Any]:
    """Stacks tensors and lists everything else; bad items go to `batch["bad"]`."""
    good = [x for x in items if not isinstance(x, Bad)]
    batch: dict[str, Any] = {"bad": [x for x in items if isinstance(x, Bad)], "size": len(good)}
    for key in good[0] if good else ():
        values = [x[key] for x in good]
        batch[key] = torch.stack(values) if isinstance(values[0], torch.Tensor) else values
    return batch


class EpochBatches(Sampler):
    """Each epoch shuffles the indices with (seed, epoch), cuts them into world batches of
    `batch_size * world` and gives this rank its contiguous slice; an incomplete last world
    batch is dropped. `start(epoch, batch)` positions the next iteration for resuming."""

    def __init__(self, n: int, batch_size: int, seed: int = 0, rank: int = 0, world: int = 1,
                 shuffle: bool = True):
        self.n, self.bs, self.seed, self.shuffle = n, batch_size, seed, shuffle
        self.rank, self.world = rank, world
        self.epoch, self.first = 0, 0
        if len(self) == 0:
            raise BlipctlError(f"{n} training items cannot fill one batch of {batch_size} x {world} "
                               "rank(s); lower the batch size")

    def start(self, epoch: int, batch: int = 0) -> None:
        self.epoch, self.first = epoch, batch

    def __len__(self) -> int:
        return self.n // (self.bs * self.world)

    def __iter__(self) -> Iterator[list[int]]:
        g = torch.Generator().manual_seed(sample_seed(self.seed, self.epoch))
        order = (torch.randperm(self.n, generator=g) if self.shuffle else torch.arange(self.n)).tolist()
        step = self.bs * self.world
        for b in range(self.first, len(self)):
            lo = b * step + self.rank * self.bs
            yield order[lo:lo + self.bs]


def map_loader(samples: Samples, batches: EpochBatches, workers: int = 0) -> DataLoader:
    return DataLoader(samples, batch_sampler=batches, num_workers=workers, collate_fn=collate,
                      persistent_workers=False)


def count_shard_samples(urls: list[str]) -> int:
    """Samples in webdataset tars: distinct keys (file names up to the first dot)."""
    total = 0
    for url in urls:
        try:
            with tarfile.open(url) as tar:
                total += len({Path(m.name).name.split(".")[0] for m in tar.getmembers() if m.isfile()})
        except (OSError, tarfile.TarError) as e:
            raise BlipctlError(f"{url}: not a readable webdataset shard ({e})") from None
    return total


def rank_quota(urls: list[str], world: int, batch_size: int) -> int:
    """Samples per rank per epoch: the smallest rank's share (of shards dealt round-robin),
    in whole batches, so no rank repeats a sample while another is still fresh."""
    return min(count_shard_samples(urls[r::world]) for r in range(world)) // batch_size * batch_size


class WebShards(IterableDataset):
    """Streams webdataset shards (`KEY.jpg` + `KEY.txt` or `KEY.json`) as caption records.
    Shards are split across ranks, then across DataLoader workers; each rank cycles its
    shards (and each worker its share), so every rank yields `samples_per_rank` per epoch."""

    def __init__(self, urls: list[str], make: Callable[[dict, torch.Generator], dict],
                 samples_per_rank: int, seed: int = 0, rank: int = 0, world: int = 1):
        if len(urls) < world:
            raise BlipctlError(f"{len(urls)} shard(s) cannot be split across {world} ranks")
        self.urls, self.make, self.seed = urls[rank::world], make, seed
        self.samples_per_rank, self.rank, self.epoch = samples_per_rank, rank, 0

    def _records(self, urls: list[str]) -> Iterator[dict]:
        import webdataset as wds

        stream = wds.WebDataset(urls, shardshuffle=False, empty_check=False,
                                nodesplitter=None, workersplitter=None)
        for s in stream:
            where = f"{Path(s.get('__url__', '?')).name}:{s.get('__key__')}"
            text = s.get("txt")
            if text is None and "json" in s:
                text = json.loads(s["json"]).get("caption")
            yield {"image_bytes": s.get("jpg") or s.get("png"), "caption": (text or b"").decode()
                   if isinstance(text, bytes) else (text or ""), "where": where,
                   "image": where, "image_id": sample_seed(where) % (2**31)}

    def __iter__(self) -> Iterator[dict | Bad]:
        info = torch.utils.data.get_worker_info()
        wid, nw = (info.id, info.num_workers) if info else (0, 1)
        active = min(nw, len(self.urls))  # workers beyond the shard count stay idle
        if wid >= active:
            return
        quota = self.samples_per_rank // active + (wid < self.samples_per_rank % active)
        urls = self.urls[wid::active]
        i = 0
        while i < quota:
            for rec in self._records(urls):
                if i >= quota:
                    return
                g = torch.Generator().manual_seed(sample_seed(self.seed, self.epoch, self.rank, wid, i))
                i += 1
                try:
                    yield self.make(rec, g)
                except BlipctlError as e:
                    yield Bad(rec["where"], str(e))
