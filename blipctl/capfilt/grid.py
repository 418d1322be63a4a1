"""grid.png: CapFilt at a glance. Each cell shows an image, its web text and its synthetic
captions, each with the filter's P(match) and whether it was kept (green) or dropped (red)."""

from __future__ import annotations

import io
import tarfile
import textwrap
from pathlib import Path

from blipctl.errors import BlipctlError

KEEP, DROP = "#1a7f37", "#cf222e"


def _image(out: Path, key: str, root: Path | None, image: str):
    """The cell's picture: from its source file when it exists, else from a kept pair's shard."""
    from PIL import Image

    if root is not None and (root / image).is_file():
        return Image.open(root / image).convert("RGB")
    for shard in sorted((out / "shards").glob("*.tar")):
        with tarfile.open(shard) as tar:
            for m in tar:
                if m.name.startswith(f"{key}_") and not m.name.endswith((".txt", ".json")):
                    return Image.open(io.BytesIO(tar.extractfile(m).read())).convert("RGB")
    return None


def draw_grid(out: Path, candidates: list[dict], n: int, path: Path, root: str | Path | None = None,
              cols: int = 4) -> Path:
    """Lays out the first `n` images of `candidates` (parts' records) and saves a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    by_image: dict[str, list[dict]] = {}
    for c in candidates:
        if c["key"] in by_image or len(by_image) < n:
            by_image.setdefault(c["key"], []).append(c)
    if not by_image:
        raise BlipctlError(f"{out}: no candidates to draw")
    rows = -(-len(by_image) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 3.4, rows * 4.4), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, (key, cands) in zip(axes.flat, by_image.items(), strict=False):
        img = _image(out, key, Path(root) if root else None, cands[0]["image"])
        if img is not None:
            ax.imshow(img)
        y = -0.04
        for c in cands:
            score = "" if c["score"] is None else f" p={c['score']:.2f}"
            mark = "kept" if c["keep"] else "dropped"
            label = "web" if c["source"] == "web" else "syn"
            text = textwrap.fill(f"{label}{score} {mark}: {c['caption']}", 44)
            ax.text(0, y, text, transform=ax.transAxes, va="top", fontsize=7.5,
                    color=KEEP if c["keep"] else DROP, family="DejaVu Sans",
                    parse_math=False)  # alt-text "$5 off $20" is not TeX
            y -= 0.075 * (text.count("\n") + 1) + 0.02
    fig.suptitle("CapFilt: web text and synthetic captions, kept (green) or dropped (red) by the filter",
                 fontsize=11)
    fig.subplots_adjust(left=0.02, right=0.98, top=0.94, bottom=0.02, hspace=0.9, wspace=0.1)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
