"""Reading user images: modes, EXIF orientation, bombs and broken files."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from blipctl.data.images import load_rgb, preprocess
from blipctl.errors import BlipctlError


@pytest.mark.parametrize("mode", ["L", "P", "RGBA", "LA", "CMYK", "I;16", "I", "F", "1"])
def test_every_mode_becomes_rgb(tmp_path, mode):
    img = Image.new("RGB", (20, 10), (200, 30, 30)).convert(mode)
    if mode == "I;16":
        img = Image.fromarray(np.full((10, 20), 40000, dtype=np.uint16))
    path = tmp_path / ("x.tiff" if mode in ("CMYK", "I;16", "I", "F") else "x.png")
    img.save(path)
    out = load_rgb(path)
    assert out.mode == "RGB" and out.size == (20, 10)
    if mode == "I;16":
        assert abs(int(np.asarray(out)[0, 0, 0]) - round(40000 / 65535 * 255)) <= 1


def test_transparent_pixels_become_white(tmp_path):
    Image.new("RGBA", (4, 4), (255, 0, 0, 0)).save(tmp_path / "t.png")
    assert np.asarray(load_rgb(tmp_path / "t.png"))[0, 0].tolist() == [255, 255, 255]


def test_exif_orientation_applied(tmp_path):
    img = Image.new("RGB", (30, 10), (0, 0, 255))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    img.save(tmp_path / "r.jpg", exif=exif)
    assert load_rgb(tmp_path / "r.jpg").size == (10, 30)


def test_decompression_bomb_refused(tmp_path, monkeypatch):
    Image.new("RGB", (40, 40)).save(tmp_path / "big.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    with pytest.raises(BlipctlError, match="big.png: refused.*decompression bomb"):
        load_rgb(tmp_path / "big.png")


def test_broken_and_missing_files(tmp_path):
    (tmp_path / "bad.jpg").write_bytes(b"\xff\xd8\xff not really a jpeg")
    with pytest.raises(BlipctlError, match="bad.jpg: not a readable image"):
        load_rgb(tmp_path / "bad.jpg")
    with pytest.raises(BlipctlError, match="nope.jpg: no such file"):
        load_rgb(tmp_path / "nope.jpg")


def test_preprocess_matches_transformers_processor():
    from transformers import BlipImageProcessor

    img = Image.fromarray(np.random.default_rng(0).integers(0, 255, (50, 70, 3), dtype=np.uint8))
    want = BlipImageProcessor(size={"height": 32, "width": 32})(img, return_tensors="pt").pixel_values[0]
    assert (preprocess(img, 32) - want).abs().max() < 1e-5
