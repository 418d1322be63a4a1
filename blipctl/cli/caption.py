"""`blipctl caption [INPUTS]...`"""

from __future__ import annotations

import enum
import sys

import typer

from blipctl.cli.output import emit_results


class DType(str, enum.Enum):
    auto = "auto"
    fp32 = "fp32"
    bf16 = "bf16"


DTYPE_HELP = ("Weights: auto is fp32 for BLIP, and for BLIP-2's frozen tower and LM bf16 where this "
              "machine computes bf16 fast (the Q-Former stays fp32).")


class Format(str, enum.Enum):
    text = "text"
    jsonl = "jsonl"


def caption(
    inputs: list[str] = typer.Argument(..., help="Image files, directories, globs, or - for "
                                       "paths on stdin."),
    model: str = typer.Option("Salesforce/blip-image-captioning-base", "--model", "-m",
                              help="Hub id, transformers directory, original BLIP or LAVIS "
                                   "BLIP-2 .pth, or blipctl run directory."),
    llm: str = typer.Option(None, "--llm", help="The LM (directory or Hub id) of a LAVIS BLIP-2 "
                            "checkpoint, which holds none."),
    num_beams: int = typer.Option(3, "--num-beams", help="Beam width (1: greedy)."),
    max_length: int = typer.Option(20, "--max-length", help="Most tokens, prompt included."),
    min_length: int = typer.Option(5, "--min-length", help="Fewest tokens, prompt included."),
    top_p: float = typer.Option(0.0, "--top-p", help="Nucleus sampling when > 0 (BLIP: 0.9)."),
    temperature: float = typer.Option(1.0, "--temperature", help="Sampling temperature."),
    repetition_penalty: float = typer.Option(1.0, "--repetition-penalty",
                                             help="Penalty for repeated tokens (BLIP samples with 1.1)."),
    seed: int = typer.Option(0, "--seed", help="Seed for sampling."),
    prompt: str | None = typer.Option(None, "--prompt", help="Text the caption continues (default: the "
                                      "model's own, 'a picture of ' for BLIP, none for BLIP-2)."),
    instruction: str | None = typer.Option(None, "--instruction", help="What a BLIP-2 or InstructBLIP model "
                                           "is asked (InstructBLIP's Q-Former reads it too), e.g. 'A short "
                                           "image description:'; the caption is the answer, and --max-length "
                                           "and --min-length count its own tokens."),
    batch_size: int = typer.Option(8, "--batch-size", "-b", help="Images per batch."),
    dtype: DType = typer.Option(DType.auto, "--dtype", help=DTYPE_HELP),
    device: str = typer.Option("cpu", "--device", help="cpu, cuda or cuda:N."),
    fmt: Format = typer.Option(Format.text, "--format", help="text, or jsonl records."),
) -> None:
    """Caption images. A bad file is reported on stderr; the rest finish; exit code 1."""
    from blipctl.decode import DecodeConfig
    from blipctl.errors import ConfigError
    from blipctl.workflows.infer import CaptionJob, expand_inputs
    from blipctl.workflows.infer import caption as run

    if instruction is not None and prompt is not None:
        raise ConfigError("--instruction and --prompt: give one (an instruction is what the model is asked, "
                          "a prompt the text its caption continues)")
    paths, errors = expand_inputs(inputs, sys.stdin.readlines)
    job = CaptionJob(model=model, llm=llm, prompt=prompt, instruction=instruction, batch_size=batch_size,
                     dtype=dtype.value,
                     device=device,
                     decode=DecodeConfig(num_beams=num_beams, max_length=max_length,
                                         min_length=min_length, top_p=top_p,
                                         temperature=temperature,
                                         repetition_penalty=repetition_penalty, seed=seed))
    failed = emit_results(lambda advance: run(paths, job, advance), len(paths), errors,
                          fmt.value, key="caption", single=len(inputs) == 1 and len(paths) == 1)
    if failed:
        raise typer.Exit(1)
