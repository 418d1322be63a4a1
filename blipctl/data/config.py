"""The recipe's `data:` section: what the training loop reads, and how."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class DataConfig:
    root: str = "runs/mini/corpus"        # image paths in the annotation files are relative to this
    # annotation JSON files, or webdataset shards (`a.tar`, `web-{000000..000009}.tar`), under root
    train: list[str] = field(default_factory=lambda: ["caption_train.json"])
    shuffle: int = 1000                   # shards: the shuffle buffer, in samples
    image_size: int = 384
    batch_size: int = 32                  # per rank and micro-batch
    workers: int = 2
    skip_bad: bool = False                # skip (and count) unreadable images instead of stopping
    hflip: bool = True                    # BLIP's random horizontal flip; off when text names left/right
    augment: bool = True                  # BLIP's random crop and RandomAugment; off when text names
                                          # colours, counts and positions (the mini corpus)
