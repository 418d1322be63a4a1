"""Scenes of 1-4 coloured shapes on a plain background, and how to draw them.

A scene is laid out on a 3x3 grid, one object per cell, so objects never overlap and
every pair has a well-defined spatial relation.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from PIL import Image, ImageDraw

SHAPES = ("circle", "square", "triangle", "diamond", "star", "cross")
COLOURS = {
    "red": (214, 39, 40),
    "green": (44, 160, 44),
    "blue": (31, 90, 220),
    "yellow": (240, 210, 30),
    "purple": (148, 60, 189),
    "orange": (255, 127, 14),
    "white": (245, 245, 245),
    "black": (25, 25, 25),
}
BACKGROUNDS = {
    "gray": (128, 128, 128),
    "white": (250, 250, 250),
    "black": (10, 10, 10),
    "beige": (225, 210, 170),
    "pink": (250, 190, 200),
}
SIZES = ("small", "large")
# (row, col) of the 3x3 grid -> a name for where an object sits
CELL_NAMES = {
    (0, 0): "top left", (0, 1): "top", (0, 2): "top right",
    (1, 0): "left", (1, 1): "center", (1, 2): "right",
    (2, 0): "bottom left", (2, 1): "bottom", (2, 2): "bottom right",
}


@dataclass(frozen=True)
class Obj:
    shape: str
    colour: str
    size: str
    row: int
    col: int
    dx: float  # jitter inside the cell, in cell fractions
    dy: float

    @property
    def where(self) -> str:
        return CELL_NAMES[(self.row, self.col)]


@dataclass(frozen=True)
class Scene:
    background: str
    objects: tuple[Obj, ...]

    def count(self, shape: str | None = None, colour: str | None = None) -> int:
        return sum((shape is None or o.shape == shape) and (colour is None or o.colour == colour)
                   for o in self.objects)


def sample_scene(rng: random.Random) -> Scene:
    """Draws a background and 1-4 objects; objects never share the background's colour."""
    background = rng.choice(list(BACKGROUNDS))
    colours = [c for c in COLOURS if c != background]
    n = rng.choice((1, 1, 2, 2, 2, 3, 3, 4))
    cells = rng.sample(sorted(CELL_NAMES), n)
    # repeat a shape or colour now and then, so counts above one occur
    base_shape, base_colour = rng.choice(SHAPES), rng.choice(colours)
    objs = []
    for row, col in sorted(cells):
        shape = base_shape if rng.random() < 0.35 else rng.choice(SHAPES)
        colour = base_colour if rng.random() < 0.35 else rng.choice(colours)
        objs.append(Obj(shape, colour, rng.choice(SIZES), row, col,
                        rng.uniform(-0.12, 0.12), rng.uniform(-0.12, 0.12)))
    return Scene(background, tuple(objs))


def _polygon(shape: str, cx: float, cy: float, r: float) -> list[tuple[float, float]]:
    if shape == "triangle":
        return [(cx + r * math.cos(a), cy - r * math.sin(a))
                for a in (math.pi / 2, math.pi * 7 / 6, math.pi * 11 / 6)]
    if shape == "diamond":
        return [(cx, cy - r), (cx + r * 0.8, cy), (cx, cy + r), (cx - r * 0.8, cy)]
    if shape == "star":
        pts = []
        for i in range(10):
            rad = r if i % 2 == 0 else r * 0.45
            a = math.pi / 2 + i * math.pi / 5
            pts.append((cx + rad * math.cos(a), cy - rad * math.sin(a)))
        return pts
    if shape == "cross":
        t = r * 0.35
        return [(cx - t, cy - r), (cx + t, cy - r), (cx + t, cy - t), (cx + r, cy - t),
                (cx + r, cy + t), (cx + t, cy + t), (cx + t, cy + r), (cx - t, cy + r),
                (cx - t, cy + t), (cx - r, cy + t), (cx - r, cy - t), (cx - t, cy - t)]
    raise ValueError(shape)


def render(scene: Scene, size: int) -> Image.Image:
    """The scene as an RGB image of `size` x `size` pixels."""
    img = Image.new("RGB", (size, size), BACKGROUNDS[scene.background])
    draw = ImageDraw.Draw(img)
    cell = size / 3
    for o in scene.objects:
        cx = (o.col + 0.5 + o.dx) * cell
        cy = (o.row + 0.5 + o.dy) * cell
        r = cell * (0.22 if o.size == "small" else 0.38)
        fill = COLOURS[o.colour]
        if o.shape == "circle":
            draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=fill)
        elif o.shape == "square":
            s = r * 0.85
            draw.rectangle((cx - s, cy - s, cx + s, cy + s), fill=fill)
        else:
            draw.polygon(_polygon(o.shape, cx, cy, r), fill=fill)
    return img
