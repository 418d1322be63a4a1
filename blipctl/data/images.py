"""Reading user images safely, and BLIP's test-time preprocessing."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from blipctl.errors import BlipctlError

IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff"}
# OpenAI CLIP statistics, which BLIP and transformers' BlipImageProcessor use
MEAN = (0.48145466, 0.4578275, 0.40821073)
STD = (0.26862954, 0.26130258, 0.27577711)


def load_rgb(path: str | Path) -> Image.Image:
    """An 8-bit RGB image with EXIF orientation applied; any failure names the file and why.

    Grey, palette, RGBA (composited on white), CMYK and 16-bit images are converted;
    images over PIL's pixel limit (decompression bombs) are refused.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                img = ImageOps.exif_transpose(img)
                img.load()
    except FileNotFoundError:
        raise BlipctlError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise BlipctlError(f"{path}: is a directory") from None
    except (Image.DecompressionBombWarning, Image.DecompressionBombError):
        raise BlipctlError(f"{path}: refused: over {Image.MAX_IMAGE_PIXELS} pixels "
                           "(a possible decompression bomb)") from None
    except (OSError, ValueError, SyntaxError) as e:
        raise BlipctlError(f"{path}: not a readable image ({e})") from None
    return to_rgb(img)


def to_rgb(img: Image.Image) -> Image.Image:
    if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        a = np.asarray(img, dtype=np.float32)
        top = 65535.0 if img.mode.startswith("I;16") else max(float(a.max()), 1.0)
        img = Image.fromarray(np.clip(a / top * 255.0 + 0.5, 0, 255).astype(np.uint8))
    if img.mode == "P":
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "PA"):
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return img.convert("RGB")


def preprocess(img: Image.Image, size: int):
    """BLIP's test transform: bicubic (antialiased) resize to size x size of the 8-bit image,
    scale to [0, 1], CLIP-normalise; float32 (3, size, size).

    This is what transformers' default BlipImageProcessor (torchvision backend) computes.
    """
    import torch
    from torchvision.transforms.v2 import functional as tvF

    x = torch.from_numpy(np.asarray(img, dtype=np.uint8).transpose(2, 0, 1).copy())
    x = tvF.resize(x, [size, size], interpolation=tvF.InterpolationMode.BICUBIC, antialias=True)
    x = x.float() / 255.0
    mean = torch.tensor(MEAN)[:, None, None]
    std = torch.tensor(STD)[:, None, None]
    return (x - mean) / std
