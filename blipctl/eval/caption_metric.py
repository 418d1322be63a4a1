"""Captioning metrics with pycocoevalcap: BLEU-1..4, METEOR, ROUGE-L, CIDEr and (when its
CoreNLP jars are installed) SPICE, plus the nocaps per-domain breakdown and COCO-format I/O.

The scorers run one by one, as `COCOEvalCap.evaluate()` does, but without forcing SPICE (which
downloads CoreNLP when its jars are missing). Like BLIP's evaluation, only the images that have
a prediction are scored. Values are fractions, as pycocoevalcap returns them.
"""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from pycocoevalcap.bleu.bleu import Bleu
from pycocoevalcap.cider.cider import Cider
from pycocoevalcap.meteor.meteor import Meteor
from pycocoevalcap.rouge.rouge import Rouge
from pycocoevalcap.spice import get_stanford_models as _corenlp
from pycocoevalcap.spice.spice import Spice
from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

from blipctl.errors import BlipctlError

NOCAPS_DOMAINS = ("in-domain", "near-domain", "out-domain")
# SPICE runs `java -jar spice-1.0.jar` in pycocoevalcap/spice/, whose classpath needs these two
# Stanford CoreNLP 3.6.0 jars in pycocoevalcap/spice/lib/ (where get_stanford_models puts them).
SPICE_LIB_DIR = Path(_corenlp.__file__).resolve().parent / _corenlp.SPICELIB
SPICE_JARS = (f"{_corenlp.JAR}.jar", f"{_corenlp.JAR}-models.jar")

Warn = Callable[[str], None]


def print_to_stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def caption_scores(gts: dict[Any, list[str]], res: dict[Any, str], spice: bool = True,
                   warn: Warn = print_to_stderr) -> dict[str, float]:
    """gts: each image's reference captions; res: each image's predicted caption. Returns
    bleu_1..bleu_4, meteor, rouge_l, cider, and spice when it ran."""
    return caption_scores_per_image(gts, res, spice, warn)[0]


def caption_scores_per_image(gts: dict[Any, list[str]], res: dict[Any, str], spice: bool = True,
                             warn: Warn = print_to_stderr) -> tuple[dict[str, float], dict[Any, float]]:
    """`caption_scores`, and each image's CIDEr (their mean is the corpus CIDEr)."""
    gts, res = _matched(gts, res, warn)
    gts_tok, res_tok = _tokenize(gts), _tokenize({k: [c] for k, c in res.items()})
    run_spice = spice and _spice_ready(warn)
    with _meteor() as meteor:
        out, _, cider = _score(gts_tok, res_tok, meteor, run_spice, warn)
    return out, cider


def nocaps_breakdown(gts: dict[Any, list[str]], res: dict[Any, str], domains: dict[Any, str],
                     spice: bool = True, warn: Warn = print_to_stderr) -> dict[str, dict[str, float]]:
    """caption_scores of each nocaps domain's images and of them all ("entire"); a domain with
    no predicted image is left out. Tokenizes once and starts METEOR once."""
    gts, res = _matched(gts, res, warn)
    bad = [k for k in res if domains.get(k) not in NOCAPS_DOMAINS]
    if bad:
        raise BlipctlError(f"image {bad[0]!r} has domain {domains.get(bad[0])!r}; "
                           f"expected one of {', '.join(NOCAPS_DOMAINS)} ({len(bad)} such image(s))")
    gts_tok, res_tok = _tokenize(gts), _tokenize({k: [c] for k, c in res.items()})
    subsets = {d: [k for k in res if domains[k] == d] for d in NOCAPS_DOMAINS}
    subsets["entire"] = list(res)
    run_spice = spice and _spice_ready(warn)
    out = {}
    with _meteor() as meteor:
        for name, ids in subsets.items():
            if ids:
                out[name], run_spice, _ = _score({k: gts_tok[k] for k in ids}, {k: res_tok[k] for k in ids},
                                              meteor, run_spice, warn)
    return out


def coco_results(res: dict[Any, str]) -> list[dict]:
    """The COCO results format, sorted by image_id."""
    return [{"image_id": k, "caption": res[k]} for k in sorted(res)]


def read_coco_results(path: str | Path, gt_ids: Iterable | None = None) -> dict[Any, str]:
    """A COCO results file `[{"image_id", "caption"}]` as {image_id: caption}; with gt_ids, an
    image_id outside them is an error."""
    data = _load_json(path)
    if not isinstance(data, list):
        raise BlipctlError(f"{path}: expected a JSON list of {{\"image_id\", \"caption\"}}")
    res = {}
    for i, item in enumerate(data):
        if not isinstance(item, dict) or "image_id" not in item or not isinstance(item.get("caption"), str):
            raise BlipctlError(f"{path}: entry {i} needs \"image_id\" and a string \"caption\"")
        if item["image_id"] in res:
            raise BlipctlError(f"{path}: duplicate image_id {item['image_id']!r} (entry {i})")
        res[item["image_id"]] = item["caption"]
    if gt_ids is not None:
        known = set(gt_ids)
        unknown = [k for k in res if k not in known]
        if unknown:
            raise BlipctlError(f"{path}: image_id {unknown[0]!r} is not in the ground truth "
                               f"({len(unknown)} such prediction(s))")
    return res


def read_coco_gt(path: str | Path) -> tuple[dict[Any, list[str]], dict[Any, str] | None]:
    """COCO ground truth `{"images": [{"id", "domain"?}], "annotations": [{"image_id", "caption"}]}`
    as ({image_id: captions}, {image_id: domain} or None when no image has a domain). Images
    without captions are left out."""
    return coco_gt(_load_json(path), path)


def coco_gt(data: Any, path: str | Path) -> tuple[dict[Any, list[str]], dict[Any, str] | None]:
    """`read_coco_gt` of a file's loaded JSON."""
    if not isinstance(data, dict) or not isinstance(data.get("images"), list) \
            or not isinstance(data.get("annotations"), list):
        raise BlipctlError(f"{path}: expected a JSON object with \"images\" and \"annotations\" lists")
    ids, domains = set(), {}
    for i, img in enumerate(data["images"]):
        if not isinstance(img, dict) or "id" not in img:
            raise BlipctlError(f"{path}: images[{i}] has no \"id\"")
        if img["id"] in ids:
            raise BlipctlError(f"{path}: duplicate image id {img['id']!r} in images")
        ids.add(img["id"])
        if "domain" in img:
            domains[img["id"]] = img["domain"]
    gts: dict[Any, list[str]] = {}
    for i, ann in enumerate(data["annotations"]):
        if not isinstance(ann, dict) or "image_id" not in ann or not isinstance(ann.get("caption"), str):
            raise BlipctlError(f"{path}: annotations[{i}] needs \"image_id\" and a string \"caption\"")
        if ann["image_id"] not in ids:
            raise BlipctlError(f"{path}: annotations[{i}] refers to image_id {ann['image_id']!r}, "
                               "which is not in images")
        gts.setdefault(ann["image_id"], []).append(ann["caption"])
    return gts, (domains or None)


def coco_images(data: Any, path: str | Path) -> list[tuple[Any, str]]:
    """(id, file_name) of each image of a COCO-format captions file's loaded JSON (NoCaps' and
    COCO's official files), in file order."""
    images = data.get("images") if isinstance(data, dict) else None
    if not isinstance(images, list):
        raise BlipctlError(f"{path}: expected a JSON object with an \"images\" list")
    out = []
    for i, img in enumerate(images):
        if not isinstance(img, dict) or "id" not in img or not isinstance(img.get("file_name"), str):
            raise BlipctlError(f"{path}: images[{i}] needs \"id\" and a string \"file_name\"")
        out.append((img["id"], img["file_name"]))
    return out


# ---- internals ---------------------------------------------------------------------------------

def _load_json(path: str | Path) -> Any:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except OSError as e:
        raise BlipctlError(f"{path}: cannot read ({e.strerror or e})") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise BlipctlError(f"{path}: not valid JSON ({e})") from None


def _matched(gts: dict, res: dict, warn: Warn) -> tuple[dict, dict]:
    """Checks the inputs (and that java exists); returns gts restricted to the predicted images,
    in gts order, and res in the same order."""
    if not gts:
        raise BlipctlError("no ground-truth captions to score against")
    if not res:
        raise BlipctlError("no predictions to score")
    missing = [k for k in res if not gts.get(k)]
    if missing:
        raise BlipctlError(f"prediction for image {missing[0]!r} has no ground-truth caption "
                           f"({len(missing)} such prediction(s))")
    if shutil.which("java") is None:
        raise BlipctlError("caption metrics need Java (pycocoevalcap runs java): install a JRE and put "
                           "`java` on PATH")
    if len(res) < len(gts):
        warn(f"caption metrics: scoring the {len(res)} predicted image(s); "
             f"{len(gts) - len(res)} ground-truth image(s) have no prediction")
    ids = [k for k in gts if k in res]
    return {k: gts[k] for k in ids}, {k: res[k] for k in ids}


def _tokenize(captions: dict[Any, list[str]]) -> dict[Any, list[str]]:
    """PTB-tokenize (lower case, punctuation dropped). Line breaks inside a caption become
    spaces first: the tokenizer works line by line and would otherwise misalign captions."""
    return PTBTokenizer().tokenize({k: [{"caption": " ".join(c.splitlines())} for c in caps]
                                    for k, caps in captions.items()})


def _spice_ready(warn: Warn) -> bool:
    missing = [j for j in SPICE_JARS if not (SPICE_LIB_DIR / j).is_file()]
    if missing:
        warn(f"SPICE skipped: Stanford CoreNLP jars missing ({' and '.join(missing)}) in {SPICE_LIB_DIR}; "
             f"run `python -m pycocoevalcap.spice.get_stanford_models` once with network access, or copy "
             f"both jars there from {_corenlp.CORENLP}.zip (nlp.stanford.edu/software)")
    return not missing


@contextmanager
def _meteor() -> Iterator[Meteor]:
    """A METEOR scorer whose java process is ended and reaped on exit."""
    meteor = Meteor()
    try:
        yield meteor
    finally:
        proc = meteor.meteor_p
        proc.kill()
        proc.wait()
        for pipe in (proc.stdin, proc.stdout, proc.stderr):
            with suppress(OSError):  # unflushed input to a dead process
                pipe.close()
        if meteor.lock.locked():  # compute_score failed holding it: Meteor.__del__ would hang
            meteor.lock.release()


def _score(gts: dict, res: dict, meteor: Meteor, run_spice: bool, warn: Warn) -> tuple[dict, bool, dict]:
    """Every metric on tokenized captions; also whether SPICE should still be tried next time,
    and each image's CIDEr."""
    bleu, _ = Bleu(4).compute_score(gts, res, verbose=0)
    out = {f"bleu_{n}": float(b) for n, b in enumerate(bleu, 1)}
    out["meteor"] = float(meteor.compute_score(gts, res)[0])
    out["rouge_l"] = float(Rouge().compute_score(gts, res)[0])
    cider, each = Cider().compute_score(gts, res)
    out["cider"] = float(cider)
    if run_spice:
        try:
            out["spice"] = float(Spice().compute_score(gts, res)[0])
        except Exception as e:  # a java failure must not lose the other metrics
            first = (str(e).splitlines() or [""])[0]
            warn(f"SPICE failed ({type(e).__name__}: {first}); reporting the other metrics without it")
            run_spice = False
    return out, run_spice, {k: float(c) for k, c in zip(gts, each, strict=True)}
