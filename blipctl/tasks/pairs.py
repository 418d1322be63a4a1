"""The data side every image-text pair task shares (pretraining, captioning, retrieval, BLIP-2's
stages): caption records cleaned as BLIP cleans them, and an image per record."""

from __future__ import annotations

from blipctl.data.annotations import caption_records, clean_pair
from blipctl.data.loader import image_sample


class ImageTextPairs:
    """Mixed into a task with `max_words`; `record_prompt` is prepended to every caption (BLIP's
    captioner trains on "a picture of " + caption)."""

    max_words: int = 30
    record_prompt: str = ""

    def stream_record(self, rec: dict) -> dict:
        """A streamed (webdataset) image-text sample, cleaned as `records` cleans the JSON's."""
        return clean_pair(rec, self.max_words, self.record_prompt)

    def records(self, files: list[str], root: str) -> list[dict]:
        return [r for f in files for r in caption_records(f, root, self.max_words, self.record_prompt)]

    def sample(self, image_size: int, train: bool, hflip: bool = True, augment: bool = True):
        return image_sample(image_size, train, hflip, augment)
