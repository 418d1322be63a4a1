"""Text about scenes: human captions, web alt-text and its noise, VQA questions, NLVR2 statements.

Every function takes a `random.Random`, so a seed fixes the text as well as the pixels.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable
from dataclasses import replace

from blipctl.data.synth.scenes import BACKGROUNDS, CELL_NAMES, COLOURS, SHAPES, Obj, Scene

NUMBER_WORDS = {0: "no", 1: "one", 2: "two", 3: "three", 4: "four"}
NOISE_KINDS = ("junk", "mismatch", "attribute")


def plural(shape: str) -> str:
    return shape + ("es" if shape.endswith("s") else "s")


def article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def _np(o: Obj, rng: random.Random, size_p: float = 0.5) -> str:
    """`a small red circle`, with the size said about half the time."""
    words = ([o.size] if rng.random() < size_p else []) + [o.colour, o.shape]
    return f"{article(words[0])} {' '.join(words)}"


def _listing(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _groups(scene: Scene, rng: random.Random, size_p: float = 0.5) -> list[str]:
    """Noun phrases that fold identical colour+shape objects into counts: `two red circles`."""
    counts = Counter((o.colour, o.shape) for o in scene.objects)
    seen, out = set(), []
    for o in scene.objects:
        key = (o.colour, o.shape)
        if key in seen:
            continue
        seen.add(key)
        n = counts[key]
        out.append(_np(o, rng, size_p) if n == 1 else f"{NUMBER_WORDS[n]} {o.colour} {plural(o.shape)}")
    rng.shuffle(out)
    return out


def _relation(a: Obj, b: Obj, rng: random.Random) -> str:
    options = []
    if a.col != b.col:
        options.append(rng.choice(("to the left of", "left of")) if a.col < b.col
                       else rng.choice(("to the right of", "right of")))
    if a.row != b.row:
        options.append("above" if a.row < b.row else rng.choice(("below", "under")))
    return rng.choice(options)


def _where_phrase(o: Obj, rng: random.Random) -> str:
    if o.where == "center":
        return rng.choice(("in the center", "in the middle of the picture"))
    if " " in o.where:
        return f"in the {o.where} corner"
    return rng.choice((f"on the {o.where}", f"at the {o.where} of the image"))


def _caption_candidates(scene: Scene, rng: random.Random) -> list[str]:
    bg, objs = scene.background, scene.objects
    listing = _listing(_groups(scene, rng))
    n = len(objs)
    cands = [
        f"{listing} on a {bg} background",
        f"a {bg} background with {listing}",
        f"{rng.choice(('an image of', 'a picture of', 'a drawing of'))} {listing}",
        f"{listing} against a plain {bg} backdrop",
        f"a simple illustration showing {listing} on {bg}",
    ]
    if n == 1:
        o = objs[0]
        cands += [
            f"{_np(o, rng, 1.0)} {_where_phrase(o, rng)}",
            f"a single {o.colour} {o.shape} on a {bg} background",
            f"there is {_np(o, rng)} {_where_phrase(o, rng)} of a {bg} image",
        ]
    else:
        a, b = rng.sample(list(objs), 2)
        rel = _relation(a, b, rng)
        cands += [
            f"{_np(a, rng)} {rel} {_np(b, rng)}",
            f"{_np(a, rng)} {rel} {_np(b, rng)} on a {bg} background",
            f"{NUMBER_WORDS[n]} shapes on a {bg} background: {listing}",
            f"there are {NUMBER_WORDS[n]} objects, {listing}",
        ]
    return cands


def captions(scene: Scene, rng: random.Random, k: int) -> list[str]:
    """k distinct human-style captions of the scene."""
    cands = list(dict.fromkeys(_caption_candidates(scene, rng)))
    rng.shuffle(cands)
    while len(cands) < k:  # tiny scenes may give few distinct ones: draw more
        cands += [c for c in _caption_candidates(scene, rng) if c not in cands]
    return cands[:k]


def web_text(scene: Scene, rng: random.Random) -> str:
    """Terse, correct alt-text in the styles scraped pages use."""
    bare = _listing([g.split(" ", 1)[1] if g.startswith(("a ", "an ")) else g
                     for g in _groups(scene, rng, size_p=0.2)])
    style = rng.randrange(6)
    if style == 0:
        return bare
    if style == 1:
        return f"{bare} on {scene.background}"
    if style == 2:
        return f"{bare.title()} - stock illustration"
    if style == 3:
        return f"vector clip art: {bare}, {scene.background} background"
    if style == 4:
        return f"geometric shapes {bare} | free image"
    return f"{bare} ({scene.background})"


_JUNK = (
    "IMG_{n4}.jpg", "DSC{n5}", "untitled-{n1}", "click here to enlarge",
    "free shipping on orders over ${n2}", "best hd wallpapers 1920x1080",
    "logo", "thumbnail", "image {n1} of {n2}", "photo by user{n4}",
    "sale! {n2}% off today only", "home > gallery > page {n1}", "screenshot {n4}",
    "download now", "product picture {n5}", "banner_final_v{n1}.png",
)


def junk_text(rng: random.Random) -> str:
    return rng.choice(_JUNK).format(n1=rng.randint(1, 9), n2=rng.randint(10, 99),
                                    n4=rng.randint(1000, 9999), n5=rng.randint(10000, 99999))


def corrupt_attribute(scene: Scene, rng: random.Random) -> Scene:
    """The scene with one attribute of one object changed: colour, shape or (by adding) count."""
    i = rng.randrange(len(scene.objects))
    o = scene.objects[i]
    what = rng.choice(("colour", "shape", "count") if len(scene.objects) < 4 else ("colour", "shape"))
    if what == "colour":
        colour = rng.choice([c for c in COLOURS if c not in (o.colour, scene.background)])
        new = replace(o, colour=colour)
    elif what == "shape":
        new = replace(o, shape=rng.choice([s for s in SHAPES if s != o.shape]))
    else:
        free = sorted(set(CELL_NAMES) - {(p.row, p.col) for p in scene.objects})
        row, col = rng.choice(free)
        return replace(scene, objects=scene.objects + (replace(o, row=row, col=col),))
    objs = list(scene.objects)
    objs[i] = new
    return replace(scene, objects=tuple(objs))


# ---- VQA -----------------------------------------------------------------------------------

def _annotate(answer: str, rng: random.Random, p: float, alternatives: list[str]) -> list[str]:
    """Ten human answers: the right one, each swapped for a plausible slip with probability p."""
    return [rng.choice(alternatives) if alternatives and rng.random() < p else answer
            for _ in range(10)]


def _unique_objects(scene: Scene, key: Callable[[Obj], object]) -> list[Obj]:
    counts = Counter(key(o) for o in scene.objects)
    return [o for o in scene.objects if counts[key(o)] == 1]


def _q_colour(scene: Scene, rng: random.Random):
    objs = _unique_objects(scene, lambda o: o.shape)
    if not objs or rng.random() < 0.2:
        others = [c for c in BACKGROUNDS if c != scene.background]
        return ("what color is the background?", scene.background, "other", "what color is the",
                _annotate(scene.background, rng, 0.05, others))
    o = rng.choice(objs)
    slips = [c for c in COLOURS if c != o.colour]
    return (f"what color is the {o.shape}?", o.colour, "other", "what color is the",
            _annotate(o.colour, rng, 0.08, slips))


def _q_count(scene: Scene, rng: random.Random):
    kind = rng.randrange(3)
    if kind == 0:
        shape = rng.choice(SHAPES)
        q, n = f"how many {plural(shape)} are there?", scene.count(shape=shape)
    elif kind == 1:
        colour = rng.choice([o.colour for o in scene.objects])
        q, n = f"how many {colour} shapes are there?", scene.count(colour=colour)
    else:
        q, n = "how many shapes are in the picture?", len(scene.objects)
    slips = [str(m) for m in (n - 1, n + 1) if 0 <= m <= 4]
    return (q, str(n), "number", "how many", _annotate(str(n), rng, 0.1, slips))


def _q_exists(scene: Scene, rng: random.Random):
    if rng.random() < 0.5:
        o = rng.choice(scene.objects)
        colour, shape = o.colour, o.shape
    else:
        colour, shape = rng.choice(list(COLOURS)), rng.choice(SHAPES)
    ans = "yes" if scene.count(shape=shape, colour=colour) else "no"
    return (f"is there {article(colour)} {colour} {shape}?", ans, "yes/no", "is there a",
            _annotate(ans, rng, 0.04, ["no" if ans == "yes" else "yes"]))


def _q_where(scene: Scene, rng: random.Random):
    objs = _unique_objects(scene, lambda o: (o.colour, o.shape))
    if not objs:  # every object has a twin: "where" has no single answer
        return _q_count(scene, rng)
    o = rng.choice(objs)
    near = [name for (r, c), name in CELL_NAMES.items()
            if abs(r - o.row) + abs(c - o.col) == 1]
    return (f"where is the {o.colour} {o.shape}?", o.where, "other", "where is the",
            _annotate(o.where, rng, 0.1, near))


QUESTION_KINDS = (_q_colour, _q_count, _q_exists, _q_where)
# each kind's `question_type` (VQAv2's field: the question's first words), by the kind's name
QUESTION_TYPES = {"colour": "what color is the", "count": "how many", "exists": "is there a",
                  "where": "where is the"}


def questions(scene: Scene, rng: random.Random, k: int) -> list[dict]:
    """k questions of different kinds, each with ten answers, VQAv2-style."""
    out = []
    for make in rng.sample(QUESTION_KINDS, min(k, len(QUESTION_KINDS))):
        q, ans, atype, qtype, answers = make(scene, rng)
        out.append({"question": q, "answer": answers, "multiple_choice_answer": ans,
                    "answer_type": atype, "question_type": qtype})
    return out


def answer_space() -> list[str]:
    """Every answer a synthetic question can have."""
    words = set(COLOURS) | set(BACKGROUNDS) | set(CELL_NAMES.values()) | {"yes", "no"}
    return sorted(words) + [str(n) for n in range(5)]


# ---- NLVR2 ---------------------------------------------------------------------------------

def _s_count(left: Scene, right: Scene, rng: random.Random):
    side, scene = rng.choice((("left", left), ("right", right)))
    shape = rng.choice([o.shape for o in scene.objects] + list(SHAPES))
    n = rng.choice((scene.count(shape=shape), rng.randint(1, 3)))
    truth = scene.count(shape=shape) == n
    if n == 0:
        return f"the {side} image contains no {plural(shape)}", truth
    noun = shape if n == 1 else plural(shape)
    return f"the {side} image contains exactly {NUMBER_WORDS[n]} {noun}", truth


def _s_both_colour(left: Scene, right: Scene, rng: random.Random):
    colour = rng.choice([o.colour for o in left.objects + right.objects])
    return (f"both images contain {article(colour)} {colour} shape",
            bool(left.count(colour=colour) and right.count(colour=colour)))


def _s_any_shape(left: Scene, right: Scene, rng: random.Random):
    shape = rng.choice(SHAPES)
    return (f"at least one image contains {article(shape)} {shape}",
            bool(left.count(shape=shape) or right.count(shape=shape)))


def _s_more(left: Scene, right: Scene, rng: random.Random):
    a, b = ("left", "right") if rng.random() < 0.5 else ("right", "left")
    na, nb = (len(left.objects), len(right.objects)) if a == "left" else (
        len(right.objects), len(left.objects))
    return f"there are more shapes in the {a} image than in the {b} image", na > nb


def _s_background(left: Scene, right: Scene, rng: random.Random):
    bg = rng.choice((left.background, right.background, rng.choice(list(BACKGROUNDS))))
    if rng.random() < 0.5:
        return f"both images have a {bg} background", left.background == right.background == bg
    side, scene = rng.choice((("left", left), ("right", right)))
    return f"the {side} image has a {bg} background", scene.background == bg


STATEMENT_KINDS = (_s_count, _s_both_colour, _s_any_shape, _s_more, _s_background)


def statement(left: Scene, right: Scene, rng: random.Random) -> tuple[str, bool]:
    """A statement about an image pair, with true and false labels drawn equally often."""
    want = rng.random() < 0.5
    for _ in range(30):
        text, truth = rng.choice(STATEMENT_KINDS)(left, right, rng)
        if truth == want:
            break
    return text, truth
