"""From records to batches: seeded per-sample transforms, resumable epoch order split across
ranks, bad items reported instead of raised, and webdataset shards streamed.

A sample's randomness comes from a generator seeded by (seed, epoch, index), so the batches a
run sees do not depend on worker counts, and a resumed run sees exactly what it would have.
"""

from __future__ import annotations

import hashlib
import io
import json
import random
import tarfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset, IterableDataset, Sampler

from blipctl.data.augment import eval_transform, train_transform
from blipctl.data.config import DataConfig
from blipctl.data.images import load_rgb
from blipctl.errors import BlipctlError


@dataclass
class Bad:
    """A record that could not become a sample: where it came from and why."""

    where: str
    reason: str
    batch_index: int | None = None  # a streamed sample's batch (see WebShards)


def sample_seed(*parts: int) -> int:
    digest = hashlib.blake2b(repr(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


def image_sample(image_size: int, train: bool, hflip: bool = True,
                 augment: bool = True) -> Callable[[dict, torch.Generator], dict]:
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
        rec["image"] = (train_transform(img, image_size, g, augment=augment, hflip=hflip) if train
                        else eval_transform(img, image_size))
        return rec

    return make


def nlvr_sample(image_size: int, train: bool, hflip: bool = True,
                augment: bool = True) -> Callable[[dict, torch.Generator], dict]:
    """record {images, sentence, label} -> {left, right, sentence, label}. Training swaps the
    pair half of the time, swapping "left" and "right" in the sentence, as BLIP does."""
    swap_words = {"left": "right", "right": "left"}

    def make(rec: dict, g: torch.Generator) -> dict:
        left, right = (load_rgb(p) for p in rec["images"])
        t = (lambda im: train_transform(im, image_size, g, augment=augment, hflip=hflip)) if train else \
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
    Shards are split across ranks, then across DataLoader workers, each worker taking whole
    batches: global batch k comes from worker k % workers, which is the order a DataLoader
    reads them in. Each epoch shuffles the worker's shard order and passes its samples through
    a seeded shuffle buffer; a worker cycles its shards until it has its quota, so every rank
    yields `samples_per_rank` per epoch. `start(epoch, batch)` resumes at a batch: the samples
    before it are skipped undecoded, and the rest are the same as in an uninterrupted run."""

    def __init__(self, urls: list[str], make: Callable[[dict, torch.Generator], dict],
                 samples_per_rank: int, seed: int = 0, rank: int = 0, world: int = 1,
                 batch_size: int = 1, shuffle: int = 0):
        if len(urls) < world:
            raise BlipctlError(f"{len(urls)} shard(s) cannot be split across {world} ranks")
        self.urls, self.make, self.seed = urls[rank::world], make, seed
        self.samples_per_rank, self.rank, self.epoch = samples_per_rank, rank, 0
        self.batch_size, self.shuffle, self.first = batch_size, shuffle, 0

    def start(self, epoch: int, batch: int = 0) -> None:
        self.epoch, self.first = epoch, batch

    def _shuffled(self, urls: list[str], g: random.Random) -> Iterator[dict]:
        while True:
            order = list(urls)
            g.shuffle(order)
            buffer: list[dict] = []
            for rec in self._records(order):
                if self.shuffle <= 1:
                    yield rec
                    continue
                if len(buffer) < self.shuffle:
                    buffer.append(rec)
                    continue
                j = g.randrange(len(buffer))
                buffer[j], rec = rec, buffer[j]
                yield rec
            g.shuffle(buffer)
            yield from buffer

    def _records(self, urls: list[str]) -> Iterator[dict]:
        import webdataset as wds

        stream = wds.WebDataset(urls, shardshuffle=False, empty_check=False,
                                nodesplitter=None, workersplitter=None)
        for s in stream:
            where = f"{Path(s.get('__url__', '?')).name}:{s.get('__key__')}"
            meta = json.loads(s["json"]) if "json" in s else {}
            text = s.get("txt")
            if text is None:
                text = meta.get("caption")
            # pairs that share an image (a bootstrap's web text and synthetic captions) share its id
            iid = meta.get("image_id", where)
            yield {"image_bytes": s.get("jpg") or s.get("png"), "caption": (text or b"").decode()
                   if isinstance(text, bytes) else (text or ""), "where": where,
                   "image": where, "image_id": sample_seed(str(iid)) % (2**31)}

    def __iter__(self) -> Iterator[dict | Bad]:
        info = torch.utils.data.get_worker_info()
        wid, nw = (info.id, info.num_workers) if info else (0, 1)
        active = min(nw, len(self.urls))  # workers beyond the shard count stay idle
        if wid >= active:
            return
        bs, n_batches = self.batch_size, self.samples_per_rank // self.batch_size
        mine = range(wid, n_batches, active)  # this worker's global batch indices
        stream = self._shuffled(self.urls[wid::active], random.Random(sample_seed(self.seed, self.epoch,
                                                                                 self.rank, wid)))
        for n, k in enumerate(mine):
            for j in range(bs):
                rec = next(stream)
                if k < self.first:
                    continue
                i = n * bs + j
                g = torch.Generator().manual_seed(sample_seed(self.seed, self.epoch, self.rank, wid, i))
                try:
                    yield {**self.make(rec, g), "batch_index": k}
                except BlipctlError as e:
                    yield Bad(rec["where"], str(e), k)


def in_order(batches: Iterator[dict], first: int = 0) -> Iterator[dict]:
    """Batches sorted back into global order by their `batch_index`, from `first`: after a
    resume, a DataLoader starts its round-robin at worker 0, not at the worker that owns the
    next batch."""
    pending: dict[int, dict] = {}
    nxt = first
    for b in batches:
        k = b["batch_index"][0] if b.get("batch_index") else b["bad"][0].batch_index
        pending[k] = b
        while nxt in pending:
            yield pending.pop(nxt)
            nxt += 1
    yield from (pending[k] for k in sorted(pending))


class TrainData:
    """What the training loop reads: an annotation JSON's records (shuffled each epoch across
    the whole set) or webdataset shards (streamed). `loader(epoch, batch)` starts there."""

    def __init__(self, records: list[dict] | None, urls: list[str] | None, make, batch_size: int,
                 seed: int, rank: int, world: int, workers: int, shuffle: int = 1000):
        self.workers = workers
        if urls:
            quota = rank_quota(urls, world, batch_size)
            if quota == 0:
                raise BlipctlError(f"{len(urls)} shard(s) cannot fill one batch of {batch_size} x "
                                   f"{world} rank(s); lower the batch size")
            self.stream = WebShards(urls, make, quota, seed, rank, world, batch_size, shuffle)
            self.n = quota // batch_size
        else:
            self.stream = None
            self.samples = Samples(records, make, seed)
            self.batches = EpochBatches(len(self.samples), batch_size, seed, rank, world)
            self.n = len(self.batches)
        self.batch_size = batch_size

    def __len__(self) -> int:
        return self.n

    def loader(self, epoch: int, first: int = 0) -> Iterator[dict]:
        if self.stream is None:
            self.samples.epoch = epoch
            self.batches.start(epoch, first)
            return iter(map_loader(self.samples, self.batches, self.workers))
        self.stream.start(epoch, first)
        loader = DataLoader(self.stream, batch_size=self.batch_size, num_workers=self.workers,
                            collate_fn=collate)
        return in_order(iter(loader), first)


def _cleaned(clean: Callable[[dict], dict], make: Callable, rec: dict, g: torch.Generator) -> dict:
    return make(clean(rec), g)


def train_data(task: Any, data: DataConfig, seed: int, rank: int = 0, world: int = 1) -> TrainData:
    """The recipe's `data` for `task`: its annotation files, or its shards (only for tasks that
    train on image-text pairs: pretraining, captioning, retrieval)."""
    from functools import partial

    from blipctl.data.shards import expand_shards, is_shard_spec
    from blipctl.errors import ConfigError

    root = Path(data.root)
    specs = [f for f in data.train if is_shard_spec(f)]
    make = task.sample(data.image_size, True, data.hflip, data.augment)
    if not specs:
        records = task.records([str(root / f) for f in data.train], str(root))
        return TrainData(records, None, make, data.batch_size, seed, rank, world, data.workers)
    if len(specs) < len(data.train):
        raise ConfigError("recipe key `data.train`: give annotation files or shards, not both")
    if not hasattr(task, "stream_record"):
        raise ConfigError(f"recipe key `data.train`: {type(task).__name__} cannot read webdataset shards; "
                          "shards hold image-text pairs (pretraining, captioning, retrieval)")
    urls = [str(p) for spec in specs for p in expand_shards(spec, root)]
    return TrainData(None, urls, partial(_cleaned, task.stream_record, make), data.batch_size, seed, rank,
                     world, data.workers, data.shuffle)
