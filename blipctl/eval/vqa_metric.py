"""The official VQAv2 accuracy (GT-Vision-Lab/VQA `vqaEval.py`), reproduced exactly.

For each question, each of the 10 human answers is left out in turn; the prediction scores
min(#matching remaining answers / 3, 1), and the ten scores are averaged. Answers are
normalised (punctuation, number words to digits, articles dropped, contractions restored,
lower case) only when the humans disagree; a unanimous question compares raw strings, as the
official tool does. The tool's period regex is applied at most 32 times per answer (it passes
`re.UNICODE` where `count` goes); that is kept too.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable

_CONTRACTIONS_TABLE = """
aint=ain't arent=aren't cant=can't couldve=could've couldnt=couldn't couldn'tve=couldn't've
couldnt've=couldn't've didnt=didn't doesnt=doesn't dont=don't hadnt=hadn't hadnt've=hadn't've
hadn'tve=hadn't've hasnt=hasn't havent=haven't hed=he'd hed've=he'd've he'dve=he'd've hes=he's
howd=how'd howll=how'll hows=how's Id've=I'd've I'dve=I'd've Im=I'm Ive=I've isnt=isn't itd=it'd
itd've=it'd've it'dve=it'd've itll=it'll let's=let's maam=ma'am mightnt=mightn't
mightnt've=mightn't've mightn'tve=mightn't've mightve=might've mustnt=mustn't mustve=must've
neednt=needn't notve=not've oclock=o'clock oughtnt=oughtn't ow's'at='ow's'at 'ows'at='ow's'at
'ow'sat='ow's'at shant=shan't shed've=she'd've she'dve=she'd've she's=she's shouldve=should've
shouldnt=shouldn't shouldnt've=shouldn't've shouldn'tve=shouldn't've somebody'd=somebodyd
somebodyd've=somebody'd've somebody'dve=somebody'd've somebodyll=somebody'll
somebodys=somebody's someoned=someone'd someoned've=someone'd've someone'dve=someone'd've
someonell=someone'll someones=someone's somethingd=something'd somethingd've=something'd've
something'dve=something'd've somethingll=something'll thats=that's thered=there'd
thered've=there'd've there'dve=there'd've therere=there're theres=there's theyd=they'd
theyd've=they'd've they'dve=they'd've theyll=they'll theyre=they're theyve=they've twas='twas
wasnt=wasn't wed've=we'd've we'dve=we'd've weve=we've werent=weren't whatll=what'll
whatre=what're whats=what's whatve=what've whens=when's whered=where'd wheres=where's
whereve=where've whod=who'd whod've=who'd've who'dve=who'd've wholl=who'll whos=who's
whove=who've whyll=why'll whyre=why're whys=why's wont=won't wouldve=would've wouldnt=wouldn't
wouldnt've=wouldn't've wouldn'tve=wouldn't've yall=y'all yall'll=y'all'll y'allll=y'all'll
yall'd've=y'all'd've y'alld've=y'all'd've y'all'dve=y'all'd've youd=you'd youd've=you'd've
you'dve=you'd've youll=you'll youre=you're youve=you've
"""
CONTRACTIONS = dict(pair.split("=", 1) for pair in _CONTRACTIONS_TABLE.split())
NUMBERS = {"none": "0", "zero": "0", "one": "1", "two": "2", "three": "3", "four": "4",
           "five": "5", "six": "6", "seven": "7", "eight": "8", "nine": "9", "ten": "10"}
ARTICLES = {"a", "an", "the"}
PUNCT = [";", "/", "[", "]", '"', "{", "}", "(", ")", "=", "+", "\\", "_", "-", ">", "<", "@", "`",
         ",", "?", "!"]
_PERIOD = re.compile(r"(?!<=\d)(\.)(?!\d)")
_COMMA = re.compile(r"(\d)(\,)(\d)")


def process_punctuation(text: str) -> str:
    out = text
    for p in PUNCT:
        if (p + " " in text or " " + p in text) or _COMMA.search(text) is not None:
            out = out.replace(p, "")
        else:
            out = out.replace(p, " ")
    return _PERIOD.sub("", out, count=re.UNICODE)  # sic: the official tool's count


def process_digit_article(text: str) -> str:
    words = [NUMBERS.get(w, w) for w in text.lower().split()]
    return " ".join(CONTRACTIONS.get(w, w) for w in words if w not in ARTICLES)


def normalise(answer: str) -> str:
    return process_digit_article(process_punctuation(answer))


def _clean(s: str) -> str:
    return s.replace("\n", " ").replace("\t", " ").strip()


def question_accuracy(prediction: str, answers: list[str]) -> float:
    """Accuracy in [0, 1] of one predicted answer against the human answers."""
    gts = [_clean(a) for a in answers]
    pred = _clean(prediction)
    if len(set(gts)) > 1:
        gts = [normalise(a) for a in gts]
        pred = normalise(pred)
    scores = []
    for i in range(len(gts)):
        others = gts[:i] + gts[i + 1:]
        scores.append(min(1.0, sum(a == pred for a in others) / 3))
    return sum(scores) / len(scores)


def vqa_accuracy(predictions: dict, questions: Iterable[dict]) -> dict:
    """predictions: {question_id: answer}; questions: VQAv2-style records with
    `question_id`, `answer` (the human answers) and optionally `answer_type` and
    `question_type`. Returns percentages, rounded to 2 places as the official tool does:
    {"overall", "per_answer_type": {...}, "per_question_type": {...}, "n"}."""
    overall, by_answer, by_question = [], defaultdict(list), defaultdict(list)
    for q in questions:
        acc = question_accuracy(predictions[q["question_id"]], q["answer"])
        overall.append(acc)
        by_answer[q.get("answer_type", "all")].append(acc)
        by_question[q.get("question_type", "all")].append(acc)

    def pct(xs: list[float]) -> float:
        return round(100 * sum(xs) / len(xs), 2)

    return {"overall": pct(overall), "n": len(overall),
            "per_answer_type": {k: pct(v) for k, v in sorted(by_answer.items())},
            "per_question_type": {k: pct(v) for k, v in sorted(by_question.items())}}


def gqa_accuracy(predictions: dict, questions: Iterable[dict]) -> dict:
    """GQA's exact-match accuracy as LAVIS scores it: the prediction normalised as VQAv2 does
    (punctuation, digits, articles), the single ground-truth `answer` as given. Percent:
    {"overall", "n"}."""
    hits = [normalise(_clean(predictions[q["question_id"]])) == q["answer"] for q in questions]
    return {"overall": round(100 * sum(hits) / max(len(hits), 1), 2), "n": len(hits)}
