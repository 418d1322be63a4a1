"""`blipctl vqa IMAGE QUESTION` and `blipctl vqa --questions FILE.jsonl`"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from blipctl.cli.caption import DTYPE_HELP, DType, Format
from blipctl.cli.output import emit_results
from blipctl.errors import ConfigError


def vqa(
    image: str = typer.Argument(None, help="An image (with QUESTION)."),
    question: str = typer.Argument(None, help="The question about IMAGE."),
    questions: Path = typer.Option(None, "--questions", "-q", dir_okay=False,
                                   help='JSONL file of {"image", "question"} lines (and optionally '
                                   '"instruction").'),
    answers: Path = typer.Option(None, "--answers", dir_okay=False,
                                 help="Rank this answer list (JSON list or one per line) "
                                 "instead of generating."),
    k_test: int = typer.Option(128, "--k-test", help="Answers kept after first-token ranking."),
    model: str = typer.Option("Salesforce/blip-vqa-base", "--model", "-m",
                              help="Hub id, transformers directory, original BLIP or LAVIS "
                                   "BLIP-2 .pth, or blipctl run directory."),
    llm: str = typer.Option(None, "--llm", help="The LM (directory or Hub id) of a LAVIS BLIP-2 "
                            "checkpoint, which holds none."),
    num_beams: int = typer.Option(None, "--num-beams", help="Beam width (1: greedy); default: the "
                                  "model's paper's (BLIP 3, BLIP-2 5)."),
    max_length: int = typer.Option(None, "--max-length", help="Most answer tokens (BLIP counts its "
                                   "[DEC]); default 10."),
    min_length: int = typer.Option(None, "--min-length", help="Fewest answer tokens; default 1."),
    length_penalty: float = typer.Option(None, "--length-penalty", help="Beam-score length exponent; "
                                         "default: the model's paper's (BLIP 1, BLIP-2 0 for OPT, "
                                         "-1 for Flan-T5)."),
    instruction: str = typer.Option(None, "--instruction", help="What a BLIP-2 or InstructBLIP model is "
                                    'asked, {} standing for the question (default "Question: {} Short '
                                    'answer:"); an `instruction` field of a --questions line overrides it.'),
    batch_size: int = typer.Option(8, "--batch-size", "-b", help="Questions per batch."),
    dtype: DType = typer.Option(DType.auto, "--dtype", help=DTYPE_HELP),
    device: str = typer.Option("cpu", "--device", help="cpu, cuda or cuda:N."),
    fmt: Format = typer.Option(Format.text, "--format", help="text, or jsonl records."),
) -> None:
    """Answer questions about images. Bad lines and files are reported; the rest finish."""
    from blipctl.workflows.infer import VQAJob
    from blipctl.workflows.infer import vqa as run

    if questions and (image or question):
        raise ConfigError("give IMAGE QUESTION or --questions FILE, not both")
    if not questions and not (image and question):
        raise ConfigError("give IMAGE QUESTION, or --questions FILE.jsonl")
    if instruction is not None and "{}" not in instruction:
        raise ConfigError(f"--instruction {instruction!r}: write {{}} where the question goes")
    items, errors = read_questions(questions) if questions else ([{"image": image,
                                                                    "question": question}], [])
    job = VQAJob(model=model, llm=llm, k_test=k_test, batch_size=batch_size, dtype=dtype.value,
                 instruction=instruction,
                 device=device, answers=read_answers(answers) if answers else None,
                 decode={k: v for k, v in dict(num_beams=num_beams, max_length=max_length,
                                               min_length=min_length,
                                               length_penalty=length_penalty).items() if v is not None})
    failed = emit_results(lambda advance: run(items, job, advance), len(items), errors, fmt.value,
                          key="answer", single=not questions,
                          extra=lambda r: {"question": r.question})
    if failed:
        raise typer.Exit(1)


def read_questions(path: Path) -> tuple[list[dict], list[str]]:
    """Items from a JSONL file; each bad line becomes an error naming the file and line."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as e:
        raise ConfigError(f"{path}: cannot read: {e.strerror or e}") from None
    items, errors = [], []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            errors.append(f"{path}:{n}: invalid JSON ({e.msg})")
            continue
        if not (isinstance(row, dict) and isinstance(row.get("image"), str)
                and isinstance(row.get("question"), str)):
            errors.append(f'{path}:{n}: expected {{"image": str, "question": str}}')
            continue
        if "instruction" in row and not (isinstance(row["instruction"], str) and "{}" in row["instruction"]):
            errors.append(f"{path}:{n}: `instruction` should be a string with {{}} where the question goes")
            continue
        items.append(row)
    return items, errors


def read_answers(path: Path) -> list[str]:
    """An answer list: a JSON list of strings, or one answer per line."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(f"{path}: cannot read: {e.strerror or e}") from None
    if text.lstrip().startswith("["):
        try:
            answers = json.loads(text)
        except json.JSONDecodeError as e:
            raise ConfigError(f"{path}:{e.lineno}: invalid JSON ({e.msg})") from None
    else:
        answers = [line.strip() for line in text.splitlines() if line.strip()]
    if not answers or not all(isinstance(a, str) for a in answers):
        raise ConfigError(f"{path}: expected a non-empty list of answer strings")
    return answers
