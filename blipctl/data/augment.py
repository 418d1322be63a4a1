"""BLIP's training and evaluation image transforms.

Training: RandomResizedCrop (scale 0.5-1, bicubic), horizontal flip, and BLIP's RandomAugment
(2 ops drawn with replacement from its 10-op list, each applied with probability 0.5, at
magnitude 5 of 10), then CLIP mean/std. Every draw comes from a `torch.Generator`, so a
sample's augmentation depends only on its seed (exact resume, any number of workers).
"""

from __future__ import annotations

import torch
import torchvision.transforms.functional as TF
from PIL import Image, ImageEnhance, ImageOps
from torchvision.transforms import InterpolationMode, RandomResizedCrop

from blipctl.data.images import MEAN, STD
from blipctl.data.images import preprocess as eval_transform  # noqa: F401  BLIP's test transform

OPS = ("Identity", "AutoContrast", "Brightness", "Sharpness", "Equalize",
       "ShearX", "ShearY", "TranslateX", "TranslateY", "Rotate")
MAX_LEVEL, GRAY = 10, (128, 128, 128)


def _uniform(g: torch.Generator) -> float:
    return torch.rand((), generator=g).item()


def apply_op(img: Image.Image, op: str, level: float, g: torch.Generator) -> Image.Image:
    """One RandomAugment op at `level` (0-10), with BLIP's magnitudes: enhance factor
    0.1 + 1.8 * level/10, shear 0.3, translate 10 px, rotate 30 degrees at level 10,
    a random sign, and gray fill."""
    m = level / MAX_LEVEL
    if op == "Identity":
        return img
    if op == "AutoContrast":
        return ImageOps.autocontrast(img)
    if op == "Equalize":
        return ImageOps.equalize(img)
    if op in ("Brightness", "Sharpness"):
        return getattr(ImageEnhance, op)(img).enhance(m * 1.8 + 0.1)
    sign = -1.0 if _uniform(g) > 0.5 else 1.0
    if op == "Rotate":
        return TF.rotate(img, sign * m * 30, fill=list(GRAY))
    if op.startswith("Shear"):
        shear = sign * m * 0.3  # the affine coefficient, as BLIP's cv2 matrix uses it
        coeffs = (1, shear, 0, 0, 1, 0) if op == "ShearX" else (1, 0, 0, shear, 1, 0)
        return img.transform(img.size, Image.Transform.AFFINE, coeffs, Image.Resampling.BILINEAR,
                             fillcolor=GRAY)
    shift = sign * m * 10
    coeffs = (1, 0, -shift, 0, 1, 0) if op == "TranslateX" else (1, 0, 0, 0, 1, -shift)
    return img.transform(img.size, Image.Transform.AFFINE, coeffs, Image.Resampling.BILINEAR,
                         fillcolor=GRAY)


def random_augment(img: Image.Image, g: torch.Generator, n: int = 2, level: float = 5,
                   ops: tuple[str, ...] = OPS) -> Image.Image:
    for i in torch.randint(len(ops), (n,), generator=g).tolist():
        if _uniform(g) <= 0.5:
            img = apply_op(img, ops[i], level, g)
    return img


def _normalise(img: Image.Image) -> torch.Tensor:
    return TF.normalize(TF.to_tensor(img), MEAN, STD)  # (3, S, S)


def train_transform(img: Image.Image, size: int, g: torch.Generator, min_scale: float = 0.5,
                    augment: bool = True, hflip: bool = True) -> torch.Tensor:
    """BLIP's training transform, every random choice drawn from `g`. `hflip=False` keeps
    images unmirrored (for text that names left and right) and draws the same numbers.
    `augment=False`: no crop and no RandomAugment, the whole image resized (for text that
    names colours, counts and positions, which both would change)."""
    if augment:
        with torch.random.fork_rng(devices=[]):  # RandomResizedCrop draws from the global RNG
            torch.manual_seed(int(torch.randint(2**62, (), generator=g)))
            i, j, h, w = RandomResizedCrop.get_params(img, (min_scale, 1.0), (3 / 4, 4 / 3))
        img = TF.resized_crop(img, i, j, h, w, [size, size], InterpolationMode.BICUBIC)
    else:
        img = TF.resize(img, [size, size], InterpolationMode.BICUBIC)
    if _uniform(g) < 0.5 and hflip:
        img = TF.hflip(img)
    if augment:
        img = random_augment(img, g)
    return _normalise(img)
