"""The web set CapFilt reads, cut into shards that are loaded one at a time: an annotation
JSON (`[{image, caption}]`, image paths under `root`) in chunks of `shard_size` images, or
webdataset tars, one output shard per input tar."""

from __future__ import annotations

import json
import tarfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from blipctl.data.annotations import read_json_list
from blipctl.data.shards import expand_shards, is_shard_spec
from blipctl.errors import BlipctlError

IMAGE_EXTS = ("jpg", "jpeg", "png", "webp")


@dataclass
class BootstrapInput:
    root: str = "runs/mini/corpus"  # the source and image paths in it are under this
    source: str = "web.json"        # annotation JSON, or shards: a .tar, a brace pattern {000..009}
    noise: str | None = None        # ground-truth flags [{image, noisy, kind}] for filter statistics
    shard_size: int = 500           # images per output shard when the source is JSON


@dataclass
class WebItem:
    """One web image and its alt-text(s). `image` names it for provenance: the path as the
    annotation file gives it, or `shard.tar:key`."""

    key: str
    image: str
    texts: list[str]
    ext: str = "jpg"
    data: bytes | None = None  # the encoded image; read from `path` when None
    path: Path | None = None
    noise: dict | None = field(default=None, repr=False)  # {noisy, kind} when known

    def read(self) -> bytes:
        if self.data is None:
            try:
                self.data = self.path.read_bytes()
            except OSError as e:
                raise BlipctlError(f"{self.image}: cannot read image ({e.strerror})") from None
        return self.data


@dataclass
class ShardRef:
    index: int
    name: str
    load: Callable[[], list[WebItem]]


def _noise_flags(cfg: BootstrapInput) -> dict[str, dict]:
    if not cfg.noise:
        return {}
    path = Path(cfg.root) / cfg.noise
    flags = {}
    for i, rec in enumerate(read_json_list(path)):
        if "image" not in rec or not isinstance(rec.get("noisy"), bool):
            raise BlipctlError(f"{path}: record {i}: needs `image` and a true/false `noisy`")
        flags[rec["image"]] = {"noisy": rec["noisy"], "kind": rec.get("kind")}
    return flags


def _json_shards(cfg: BootstrapInput, noise: dict[str, dict]) -> list[ShardRef]:
    path = Path(cfg.root) / cfg.source
    texts: dict[str, list[str]] = {}
    for i, rec in enumerate(read_json_list(path)):
        image, caption = rec.get("image"), rec.get("caption")
        if not isinstance(image, str):
            raise BlipctlError(f"{path}: record {i}: `image` should be a path string")
        if isinstance(caption, str):
            caption = [caption]
        if not (isinstance(caption, list) and all(isinstance(c, str) for c in caption)):
            raise BlipctlError(f"{path}: record {i}: `caption` should be a string or a list of strings")
        texts.setdefault(image, []).extend(caption)
    images = list(texts)
    if cfg.shard_size < 1:
        raise BlipctlError(f"recipe key `input.shard_size`: must be at least 1, got {cfg.shard_size}")

    def loader(start: int) -> Callable[[], list[WebItem]]:
        def load() -> list[WebItem]:
            chunk = images[start:start + cfg.shard_size]
            return [WebItem(f"{start + j:09d}", im, texts[im], Path(im).suffix.lstrip(".").lower() or "jpg",
                            path=Path(cfg.root) / im, noise=noise.get(im))
                    for j, im in enumerate(chunk)]
        return load

    return [ShardRef(s, f"{path.name}[{start}:{start + cfg.shard_size}]", loader(start))
            for s, start in enumerate(range(0, len(images), cfg.shard_size))]


def _tar_items(index: int, path: Path, noise: dict[str, dict]) -> list[WebItem]:
    """A tar's samples; keys gain the shard index, so they stay unique across shards."""
    members: dict[str, dict[str, bytes]] = {}
    try:
        with tarfile.open(path) as tar:
            for m in tar:
                if m.isfile():
                    key, _, ext = Path(m.name).name.partition(".")
                    members.setdefault(key, {})[ext.lower()] = tar.extractfile(m).read()
    except (OSError, tarfile.TarError) as e:
        raise BlipctlError(f"{path}: not a readable webdataset shard ({e})") from None
    items = []
    for key, files in members.items():
        meta = json.loads(files["json"]) if "json" in files else {}
        text = files["txt"].decode() if "txt" in files else meta.get("caption", "")
        ext = next((e for e in IMAGE_EXTS if e in files), None)
        where = f"{path.name}:{key}"
        texts = [text] if isinstance(text, str) else list(text)
        items.append(WebItem(f"{index:06d}-{key}", where, texts, ext or "jpg", data=files.get(ext, b""),
                             noise=noise.get(meta.get("image", where))))
    return items


def input_shards(cfg: BootstrapInput) -> list[ShardRef]:
    """The source's shards, in order; each loads its items only when asked."""
    noise = _noise_flags(cfg)
    if not is_shard_spec(cfg.source):
        return _json_shards(cfg, noise)
    return [ShardRef(s, p.name, lambda s=s, p=p: _tar_items(s, p, noise))
            for s, p in enumerate(expand_shards(cfg.source, cfg.root))]
