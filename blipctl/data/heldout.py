"""Readers for the held-out datasets of InstructBLIP's zero-shot table (arXiv 2305.06500, Table 1),
each reading the dataset's OFFICIAL annotation file as its authors release it.

Every reader is a small class; an instance is called as `reader(path, image_root)` and returns plain
records, and its class attribute `metric` names how predictions are scored:

- "vqa": the official VQAv2 10-answer accuracy (`blipctl.eval.vqa_metric.vqa_accuracy`);
- "exact": exact match of the normalised answer to the one answer (`vqa_metric.gqa_accuracy`);
- "choice": accuracy of the candidate picked among `choices` (`eval.choice_metric.choice_accuracy`);
- "mrr": mean reciprocal rank of the ground truth among `choices` (`choice_metric.visdial_metrics`);
- "auc": ROC AUC of P(first choice) against the label (`choice_metric.roc_auc`).

A record is `{"image", "question", "answers", "choices", "question_id", "where"}`: `image` is joined
to `image_root`; `question` is the dataset's raw text (no prompt template: InstructBLIP's templates,
quoted in each class, are applied by the caller); `answers` holds the human answers ("vqa"), the one
correct answer ("exact", "choice", "mrr") or ["yes"] / ["no"] ("auc"); `choices` is the candidate
list or None; `where` is "file:<index or key>". Some readers add dataset-specific keys (listed in
their docstrings), e.g. ScienceQA's `context`.

InstructBLIP scores the "choice", "mrr" and "auc" datasets by ranking the candidates by their
likelihood under the LLM ("vocabulary ranking", paper Sec. 2.5; `predict_class` in LAVIS
lavis/models/blip2_models/blip2_vicuna_instruct.py), not by free generation.

A missing file, invalid JSON or a malformed record is a one-line `BlipctlError` naming the file and
the record.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from blipctl.data.annotations import _field, _where, annotation_text, json_records, read_json, read_json_list
from blipctl.errors import BlipctlError

Record = dict[str, Any]


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    """One JSON object per line (blank lines skipped); record i is the i-th object."""
    out = []
    for n, line in enumerate(annotation_text(path).splitlines(), 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as e:
            raise BlipctlError(f"{path}: line {n}: not valid JSON (column {e.colno}: {e.msg})") from None
        if not isinstance(rec, dict):
            raise BlipctlError(f"{path}: line {n}: expected an object, got {type(rec).__name__}")
        out.append(rec)
    return out


def _records_of(data: dict, path: Path) -> list[tuple[str, dict]]:
    """The (key, record) pairs of a JSON object keyed by question / problem id."""
    for key, rec in data.items():
        if not isinstance(rec, dict):
            raise BlipctlError(f"{path}: record {key}: expected an object, got {type(rec).__name__}")
    return list(data.items())


def _index(rec: dict, key: str, n: int, path: Path, i: Any) -> int:
    """An integer field that indexes a list of length n (bools refused)."""
    value = _field(rec, key, int, path, i)
    if isinstance(value, bool) or not 0 <= value < n:
        raise BlipctlError(f"{path}: record {i}: `{key}` should index one of {n} entries, got {value!r}")
    return value


def _strings(rec: dict, key: str, path: Path, i: Any) -> list[str]:
    """A non-empty list of strings."""
    value = _field(rec, key, list, path, i)
    if not value or not all(isinstance(v, str) for v in value):
        raise BlipctlError(f"{path}: record {i}: `{key}` should be a non-empty list of strings")
    return value


def _top(data: dict, key: str, kind: type, path: Path, within: str = "") -> Any:
    """A top-level (or `within`-level) key of a whole-file JSON object."""
    where = f"`{within}` " if within else "the top level "
    if key not in data:
        raise BlipctlError(f"{path}: {where}has no key `{key}`")
    if not isinstance(data[key], kind):
        raise BlipctlError(f"{path}: `{key}` should be {kind.__name__}, got {type(data[key]).__name__}")
    return data[key]


def _label(rec: dict, path: Path, i: Any) -> int:
    value = _field(rec, "label", int, path, i)
    if isinstance(value, bool) or value not in (0, 1):
        raise BlipctlError(f"{path}: record {i}: `label` should be 0 or 1, got {value!r}")
    return value


def lettered_options(choices: list[str]) -> str:
    """Options as InstructBLIP lists them in ScienceQA prompts: "(a) x (b) y (c) z" (an author's
    answer in salesforce/LAVIS issue #326)."""
    return " ".join(f"({chr(ord('a') + k)}) {c}" for k, c in enumerate(choices))


class TextVQA:
    """TextVQA v0.5.1 (Singh et al. 2019), `TextVQA_0.5.1_val.json` from textvqa.org/dataset
    (dl.fbaipublicfiles.com/textvqa/data/): `{"data": [{question_id, image_id, question,
    answers: [10 strings], ...}]}`; images are `{image_root}/{image_dir}/{image_id}.jpg` (the val
    images ship in `train_images/`; pass `image_dir="test_images"` for the test split).

    The official file holds no OCR. Give `ocr_path`, the companion `TextVQA_Rosetta_OCR_v0.2_val.json`
    (`{"data": [{image_id, ocr_tokens, ...}]}`), to get each image's Rosetta tokens in the extra key
    `ocr_tokens` ([] without it). InstructBLIP feeds OCR tokens to TextVQA ("OCR tokens:" before the
    question; paper Table 5 caption, quoted in LAVIS issue #435); unconfirmed: that these are the
    Rosetta tokens of that file. Template (paper Appendix E, from memory, unconfirmed verbatim):
    "<Image> OCR tokens: {}. Question: {} Short answer:". Scored with the VQAv2 accuracy.
    """

    metric = "vqa"

    def __init__(self, ocr_path: str | None = None, image_dir: str = "train_images"):
        self.ocr_path = ocr_path
        self.image_dir = image_dir

    def _ocr(self) -> dict[Any, list[str]]:
        if self.ocr_path is None:
            return {}
        path = Path(self.ocr_path)
        out = {}
        for i, rec in enumerate(json_records(_top(read_json(path, dict), "data", list, path), path)):
            tokens = _field(rec, "ocr_tokens", list, path, i)
            if not all(isinstance(t, str) for t in tokens):
                raise BlipctlError(f"{path}: record {i}: `ocr_tokens` should be a list of strings")
            out[_field(rec, "image_id", str, path, i)] = tokens
        return out

    def __call__(self, path: str, image_root: str) -> list[Record]:
        path, root = Path(path), Path(image_root)
        data = json_records(_top(read_json(path, dict), "data", list, path), path)
        ocr = self._ocr()
        out = []
        for i, rec in enumerate(data):
            image_id = _field(rec, "image_id", str, path, i)
            out.append({"image": str(root / self.image_dir / f"{image_id}.jpg"),
                        "question": _field(rec, "question", str, path, i),
                        "answers": _strings(rec, "answers", path, i), "choices": None,
                        "question_id": _field(rec, "question_id", int, path, i),
                        "where": _where(path, i), "ocr_tokens": ocr.get(image_id, [])})
        return out


class VizWiz:
    """VizWiz-VQA (Gurari et al. 2018), `val.json` from vizwiz.org (Annotations.zip): a list of
    `{image, question, answers: [{answer, answer_confidence} x 10], answer_type, answerable}`;
    images are `{image_root}/{image}` (image_root: the unzipped `val/` folder). The ten answers,
    "unanswerable" included, are scored with the VQAv2 accuracy, as the VizWiz evaluation does. VizWiz
    has no question id; each image holds one question, so the image file name serves. Extra keys:
    `answer_type`, `answerable`. Template (paper Appendix E, from memory, unconfirmed verbatim):
    "<Image> Question: {} Short answer:".
    """

    metric = "vqa"

    def __call__(self, path: str, image_root: str) -> list[Record]:
        path, root = Path(path), Path(image_root)
        out = []
        for i, rec in enumerate(read_json_list(path)):
            image = _field(rec, "image", str, path, i)
            answers = _field(rec, "answers", list, path, i)
            if not answers or not all(isinstance(a, dict) and isinstance(a.get("answer"), str)
                                      for a in answers):
                raise BlipctlError(f"{path}: record {i}: `answers` should be a non-empty list of "
                                   "{answer, answer_confidence} objects")
            out.append({"image": str(root / image), "question": _field(rec, "question", str, path, i),
                        "answers": [a["answer"] for a in answers], "choices": None,
                        "question_id": image, "where": _where(path, i),
                        "answer_type": rec.get("answer_type"), "answerable": rec.get("answerable")})
        return out


class GQA:
    """GQA balanced test-dev (Hudson & Manning 2019), the official `testdev_balanced_questions.json`
    from cs.stanford.edu/people/dorarad/gqa (questions1.2.zip): an object `{question_id: {imageId,
    question, answer, fullAnswer, ...}}`; images are `{image_root}/images/{imageId}.jpg`. Scored by
    exact match of the normalised prediction to `answer` (`vqa_metric.gqa_accuracy`, as LAVIS). Template
    (paper Appendix E, from memory, unconfirmed verbatim): "<Image> Question: {} Short answer:".
    """

    metric = "exact"

    def __call__(self, path: str, image_root: str) -> list[Record]:
        path, root = Path(path), Path(image_root)
        out = []
        for qid, rec in _records_of(read_json(path, dict), path):
            image_id = _field(rec, "imageId", str, path, qid)
            out.append({"image": str(root / "images" / f"{image_id}.jpg"),
                        "question": _field(rec, "question", str, path, qid),
                        "answers": [_field(rec, "answer", str, path, qid)], "choices": None,
                        "question_id": qid, "where": _where(path, qid)})
        return out


class VSR:
    """Visual Spatial Reasoning (Liu et al. 2023), the jsonl splits of cambridgeltl/visual-spatial-
    reasoning (`data/splits/{random,zeroshot}/{train,dev,test}.jsonl`): one `{image, image_link,
    caption, label (1 true, 0 false), relation, ...}` per line; images are COCO 2017 files by name,
    `{image_root}/{image}`.

    VSR is a true/false statement task: the question is the caption itself and the choices are
    ["true", "false"] (answer "true" for label 1), ranked by likelihood. InstructBLIP's prompt (paper
    Appendix E per a maintainer in LAVIS issue #370; wording from memory, also used by MiniGPT-v2's
    VSR eval): "<Image> Based on the image, is this statement true or false? "{}" Answer:".
    Unconfirmed: whether InstructBLIP ranks "true"/"false" or "yes"/"no" (X-InstructBLIP's LAVIS
    dataset, lavis/datasets/datasets/vsr_datasets.py, accepts both) and which split it reports (the
    zero-shot split's test.jsonl is the plausible one). VSR has no question id: the line's record
    index serves. Extra key: `relation`.
    """

    metric = "choice"
    choices = ["true", "false"]

    def __call__(self, path: str, image_root: str) -> list[Record]:
        path, root = Path(path), Path(image_root)
        out = []
        for i, rec in enumerate(_read_jsonl(path)):
            label = _label(rec, path, i)
            out.append({"image": str(root / _field(rec, "image", str, path, i)),
                        "question": _field(rec, "caption", str, path, i),
                        "answers": [self.choices[0] if label == 1 else self.choices[1]],
                        "choices": list(self.choices), "question_id": i, "where": _where(path, i),
                        "relation": rec.get("relation")})
        return out


class IconQA:
    """IconQA multi-text-choice (Lu et al. 2021), from lupantech/IconQA (`iconqa_data.zip`). Two
    official forms are read:

    - the single file `iconqa_data/problems.json`, `{pid: {question, choices, answer (index),
      ques_type, split, ...}}`: the `choose_txt` problems of `split` (listed, in order, by
      `pid_splits.json` beside it under `choose_txt_{split}` when that file exists, as the official
      loaders do); images `{image_root}/{split}/choose_txt/{pid}/image.png`, image_root being
      `iconqa_data/iconqa`;
    - the split folder `iconqa_data/iconqa/{split}/choose_txt` (or `.../{split}`), one `{pid}/data.json`
      with the same fields per problem, pids in numeric order; images `{pid}/image.png` in the same
      folder (or under image_root, if one is given).

    The question is kept raw (the official Patch-TRM loader drops a leading "Count ... by ..."
    sentence; we do not). Choices are the option texts, ranked by likelihood; the answer is
    `choices[answer]`. Template (paper Appendix E, from memory, unconfirmed verbatim):
    "<Image> Question: {} Options: {}. Short answer:".
    """

    metric = "choice"
    task = "choose_txt"

    def __init__(self, split: str = "test"):
        self.split = split

    def _record(self, rec: dict, pid: str, image: Path, path: Path, where: str) -> Record:
        choices = _strings(rec, "choices", path, pid)
        answer = _index(rec, "answer", len(choices), path, pid)
        return {"image": str(image), "question": _field(rec, "question", str, path, pid),
                "answers": [choices[answer]], "choices": choices, "question_id": pid, "where": where}

    def __call__(self, path: str, image_root: str) -> list[Record]:
        path = Path(path)
        if path.is_dir():
            return self._folder(path / self.task if (path / self.task).is_dir() else path, image_root)
        problems = read_json(path, dict)
        splits = path.parent / "pid_splits.json"
        if splits.exists():
            key = f"{self.task}_{self.split}"
            pids = _top(read_json(splits, dict), key, list, splits)
            for pid in pids:
                if pid not in problems:
                    raise BlipctlError(f"{splits}: `{key}` lists problem {pid!r}, absent from {path.name}")
        else:
            pids = [pid for pid, rec in _records_of(problems, path)
                    if _field(rec, "ques_type", str, path, pid) == self.task
                    and _field(rec, "split", str, path, pid) == self.split]
        root = Path(image_root)
        out = []
        for pid in pids:
            rec = problems[pid]
            if not isinstance(rec, dict):
                raise BlipctlError(f"{path}: record {pid}: expected an object, got {type(rec).__name__}")
            out.append(self._record(rec, pid, root / self.split / self.task / pid / "image.png", path,
                                    _where(path, pid)))
        return out

    def _folder(self, folder: Path, image_root: str) -> list[Record]:
        dirs = [d for d in folder.iterdir() if d.is_dir()]
        if not dirs:
            raise BlipctlError(f"{folder}: no problem folders ({{pid}}/data.json) in this IconQA folder")
        dirs.sort(key=lambda d: (not d.name.isdigit(), int(d.name) if d.name.isdigit() else 0, d.name))
        root = Path(image_root) if image_root else folder
        out = []
        for d in dirs:
            data = d / "data.json"
            rec = read_json(data, dict)
            out.append(self._record(rec, d.name, root / d.name / "image.png", data, f"{d.name}/data.json"))
        return out


class ScienceQA:
    """ScienceQA, image subset (Lu et al. 2022), the official `problems.json` of lupantech/ScienceQA
    (`data/scienceqa/problems.json`): `{pid: {question, choices, answer (index), hint, image
    ("image.png" or null), split, lecture, solution, ...}}`; images `{image_root}/{split}/{pid}/image.png`
    (the `images/` folder of the release). Only the problems of `split` (default "test") that have an
    image are kept, InstructBLIP's "ScienceQA (IMG)" set (paper Sec. 3; "we only use the questions with
    the image context", an author in LAVIS issue #326).

    Context: InstructBLIP includes the textual context when it exists (same comment); that is the
    problem's `hint`, returned raw in the extra key `context` ("" when absent) and NOT folded into
    `question`. Unconfirmed: that hint alone (not lecture or solution) forms the context; the author's
    comment and LAVIS's `predict_class` ("context: {}. " before the prompt) only say "context".
    Prompt (the author's comment): "Context: {} Question: {} Options: {}. Answer:", options lettered
    "(a) .. (b) .." (`lettered_options`), answered by ranking the candidates; `choices` holds the
    option texts and `answers` the correct one (unconfirmed: whether the ranked candidates are the
    texts or the letters).
    """

    metric = "choice"

    def __init__(self, split: str = "test"):
        self.split = split

    def __call__(self, path: str, image_root: str) -> list[Record]:
        path, root = Path(path), Path(image_root)
        out = []
        for pid, rec in _records_of(read_json(path, dict), path):
            image = _field(rec, "image", (str, type(None)), path, pid)
            if _field(rec, "split", str, path, pid) != self.split or not image:
                continue
            choices = _strings(rec, "choices", path, pid)
            answer = _index(rec, "answer", len(choices), path, pid)
            hint = rec.get("hint") or ""
            if not isinstance(hint, str):
                raise BlipctlError(f"{path}: record {pid}: `hint` should be str, got {type(hint).__name__}")
            out.append({"image": str(root / self.split / pid / image),
                        "question": _field(rec, "question", str, path, pid),
                        "answers": [choices[answer]], "choices": choices, "question_id": pid,
                        "where": _where(path, pid), "context": hint})
        return out


class HatefulMemes:
    """Hateful Memes (Kiela et al. 2020), the official jsonl of the Facebook AI release
    (`dev_seen.jsonl`, `test_seen.jsonl`; `dev.jsonl` in phase 1): one `{id, img: "img/42953.png",
    label, text}` per line; images `{image_root}/{img}` (image_root: the folder holding `img/`).

    The question is the meme's text; choices ["yes", "no"] with label 1 (hateful) = "yes"; the metric
    is the ROC AUC of P("yes"), the dataset's official metric, as InstructBLIP reports it. Template
    (paper Appendix E per a maintainer in LAVIS issue #370; wording from memory, also used by
    MiniGPT-v2's HM eval): "<Image> This is an image with: "{}" written on it. Is it hateful? Answer:".
    Unconfirmed: which split InstructBLIP scores (the labelled dev_seen is the plausible one).
    """

    metric = "auc"
    choices = ["yes", "no"]

    def __call__(self, path: str, image_root: str) -> list[Record]:
        path, root = Path(path), Path(image_root)
        out = []
        for i, rec in enumerate(_read_jsonl(path)):
            label = _label(rec, path, i)
            qid = _field(rec, "id", (int, str), path, i)
            out.append({"image": str(root / _field(rec, "img", str, path, i)),
                        "question": _field(rec, "text", str, path, i),
                        "answers": ["yes" if label == 1 else "no"], "choices": list(self.choices),
                        "question_id": qid, "where": _where(path, i)})
        return out


class VisDial:
    """Visual Dialog v1.0 val (Das et al. 2017), the official `visdial_1.0_val.json` from
    visualdialog.org/data: `{"data": {"dialogs": [{image_id, caption, dialog: [{question, answer,
    answer_options: [100], gt_index}]}], "questions": [..], "answers": [..]}}`, question / answer /
    option fields being indices into those lists; images
    `{image_root}/VisualDialog_val2018/VisualDialog_val2018_{image_id:012d}.jpg`.

    One record per dialog round (`rounds="all"`, the official val protocol: every round has its
    100 options and `gt_index`, and R@k / MRR / mean rank average over all rounds), or only each
    dialog's last round (`rounds="last"`). Unconfirmed: which of the two InstructBLIP reports (the
    paper gives VisDial val MRR; a user in LAVIS issue #439 scores the 10th round only).

    `choices` are the round's 100 options (ranked by likelihood; metric MRR), `answers` the ground
    truth `answers[answer_options[gt_index]]`. `question` joins, line by line, the caption, the
    history of the previous rounds ("q: .. a: .." per round, as LAVIS's visdial dataset joins them)
    and the current question. The pieces are also returned raw in the extra keys `caption`,
    `dialog_history` ("" in round 1) and `current_question`, with `image_id` and `round_id` (1-based,
    as the official evaluation numbers rounds); `question_id` is "{image_id}_{round_id}". InstructBLIP
    builds its prompt from those pieces: "<Image> Dialog history: {}\\n Question: {} Short answer:"
    (the BLIVA authors, "same as InstructBLIP", mlpc-ucsd/BLIVA issue #18), with LAVIS's
    `predict_class` putting 'This image has the caption "{}". ' first.
    """

    metric = "mrr"

    def __init__(self, rounds: str = "all"):
        if rounds not in ("all", "last"):
            raise BlipctlError(f"VisDial: rounds should be \"all\" or \"last\", got {rounds!r}")
        self.rounds = rounds

    def __call__(self, path: str, image_root: str) -> list[Record]:
        path, root = Path(path), Path(image_root)
        data = _top(read_json(path, dict), "data", dict, path)
        dialogs = _top(data, "dialogs", list, path, "data")
        questions = _top(data, "questions", list, path, "data")
        answers = _top(data, "answers", list, path, "data")
        for name, texts in (("questions", questions), ("answers", answers)):
            bad = next((k for k, t in enumerate(texts) if not isinstance(t, str)), None)
            if bad is not None:
                raise BlipctlError(f"{path}: `data.{name}` entry {bad} should be str, "
                                   f"got {type(texts[bad]).__name__}")
        out = []
        for d, dialog in enumerate(dialogs):
            if not isinstance(dialog, dict):
                raise BlipctlError(f"{path}: dialog {d}: expected an object, got {type(dialog).__name__}")
            image_id = _field(dialog, "image_id", int, path, d)
            caption = _field(dialog, "caption", str, path, d)
            turns = _field(dialog, "dialog", list, path, d)
            if not turns:
                raise BlipctlError(f"{path}: record {d}: `dialog` has no rounds")
            qa = []  # (question, answer) texts of every round
            for r, turn in enumerate(turns):
                at = f"{d} round {r + 1}"
                if not isinstance(turn, dict):
                    raise BlipctlError(f"{path}: record {at}: expected an object, got {type(turn).__name__}")
                qa.append((questions[_index(turn, "question", len(questions), path, at)],
                           answers[_index(turn, "answer", len(answers), path, at)]))
            keep = range(len(turns)) if self.rounds == "all" else [len(turns) - 1]
            for r in keep:
                at = f"{d} round {r + 1}"
                options = _field(turns[r], "answer_options", list, path, at)
                if not options:
                    raise BlipctlError(f"{path}: record {at}: `answer_options` is empty")
                if not all(type(k) is int and 0 <= k < len(answers) for k in options):
                    raise BlipctlError(f"{path}: record {at}: `answer_options` should index "
                                       f"`data.answers` ({len(answers)} entries)")
                choices = [answers[k] for k in options]
                gt = _index(turns[r], "gt_index", len(choices), path, at)
                history = " ".join(f"q: {q} a: {a}" for q, a in qa[:r])
                current = qa[r][0]
                out.append({"image": str(root / "VisualDialog_val2018"
                                         / f"VisualDialog_val2018_{image_id:012d}.jpg"),
                            "question": "\n".join(x for x in (caption, history, current) if x),
                            "answers": [choices[gt]], "choices": choices,
                            "question_id": f"{image_id}_{r + 1}", "where": f"{path.name}:{d}/{r + 1}",
                            "caption": caption, "dialog_history": history, "current_question": current,
                            "image_id": image_id, "round_id": r + 1})
        return out

