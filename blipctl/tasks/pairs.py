"""The data side the single-image tasks share: an image per record, and the records of image-text
pairs (pretraining, captioning, retrieval, BLIP-2's stages: captions cleaned as BLIP cleans
them, from files or streamed shards) or of VQA (questions with weighted answers)."""

from __future__ import annotations

from blipctl.data.annotations import caption_records, clean_pair, vqa_records
from blipctl.data.loader import image_sample


class ImageRecords:
    def sample(self, image_size: int, train: bool, hflip: bool = True, augment: bool = True):
        return image_sample(image_size, train, hflip, augment)


class VQARecords(ImageRecords):
    """VQA fine-tuning's records (BLIP's and BLIP-2's): a question and its weighted answers."""

    def records(self, files: list[str], root: str) -> list[dict]:
        return [r for f in files for r in vqa_records(f, root)]


class ImageTextPairs(ImageRecords):
    """Mixed into a task with `max_words`; `record_prompt` is prepended to every caption (BLIP's
    captioner trains on "a picture of " + caption)."""

    max_words: int = 30
    record_prompt: str = ""

    def stream_record(self, rec: dict) -> dict:
        """A streamed (webdataset) image-text sample, cleaned as `records` cleans the JSON's."""
        return clean_pair(rec, self.max_words, self.record_prompt)

    def records(self, files: list[str], root: str) -> list[dict]:
        return [r for f in files for r in caption_records(f, root, self.max_words, self.record_prompt)]
