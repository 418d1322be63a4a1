"""What the synthetic corpus generator is asked for."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class SynthSpec:
    """Sizes and seeds of a synthetic corpus. The same spec always writes the same files."""

    images: int = 3000  # scenes in all: web set + clean caption set
    seed: int = 0
    noise: float = 0.4  # fraction of web alt-texts that are wrong
    web_fraction: float = 0.6  # share of the images that form the web set
    val_fraction: float = 0.1  # of the clean set; test gets the same share
    image_size: int = 128  # pixels per side
    captions_per_image: int = 5  # paraphrases in the clean set
    questions_per_image: int = 3  # VQA questions per clean image
    nlvr_per_image: int = 1  # NLVR2 statements per clean image
    vocab_size: int = 512  # ids in vocab.txt's tokenizer ([DEC] and [ENC] included)
    shard_size: int = 500  # web samples per webdataset shard
    workers: int = 2  # processes that draw images
