"""Checkpoint formats, one module each, behind one explicit ordered table, `FORMATS`.

A format offers:

    detect(source) -> bool     whether a path or Hub id is in this format (cheap: no weights read)
    load(source) -> model      the task model it holds, in eval mode, its text codec attached
                               (a format whose checkpoints hold no LM also takes `llm=`)
    state(source) -> dict      its state dict under blipctl's names, training state included
                               (what warm start and frozen-by-reference read)
    save(model, out)           where blipctl writes the format (`blipctl export --to NAME`)

`find` walks the table in order and the first format that detects the source reads it: a run
directory before a LAVIS BLIP-2 `.pth` before a BLIP `.pth` before a transformers directory or
Hub id (the last takes any other directory). A new format is a module here and a row in `FORMATS`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from blipctl.checkpoints.formats import blip_pth, blipctl_run, hf_blip, lavis_blip2
from blipctl.errors import BlipctlError


@dataclass(frozen=True)
class Format:
    name: str  # as `blipctl export --to` names it
    holds: str  # for messages
    detect: Callable[[str], bool]
    load: Callable[[str], object]
    state: Callable[[str], dict]
    save: Callable[[object, Path], None] | None = None  # None: blipctl does not write it
    takes_llm: bool = False  # its checkpoints hold no LM: load(source, llm=...) names one
    takes_frozen_dtype: bool = False  # load(source, frozen_dtype=...) holds BLIP-2's frozen parts in it


FORMATS: tuple[Format, ...] = (
    Format("run", "a blipctl run directory", blipctl_run.detect, blipctl_run.load, blipctl_run.state),
    Format("lavis", "a LAVIS BLIP-2 .pth file", lavis_blip2.detect, lavis_blip2.load, lavis_blip2.state,
           lavis_blip2.save, takes_llm=True, takes_frozen_dtype=True),
    Format("blip", "an original BLIP .pth file", blip_pth.detect, blip_pth.load, blip_pth.state,
           blip_pth.save),
    Format("hf", "a transformers directory or a Hub id like Salesforce/blip-image-captioning-base",
           hf_blip.detect, hf_blip.load, hf_blip.state, hf_blip.save, takes_frozen_dtype=True),
)


def find(source: str) -> Format:
    """The format of `source`: the first in `FORMATS` that detects it."""
    found = next((f for f in FORMATS if _detects(f, source)), None)
    if found is None:
        raise BlipctlError(f"--model {source}: not found (expected "
                           f"{', '.join(f.holds for f in FORMATS[:-1])} or {FORMATS[-1].holds})")
    return found


def _detects(fmt: Format, source: str) -> bool:
    try:
        return fmt.detect(source)
    except OSError:  # a name the file system cannot even look up (too long, say): not this format
        return False


def writer(name: str) -> Format:
    """The format `blipctl export --to name` writes."""
    found = next((f for f in FORMATS if f.name == name and f.save is not None), None)
    if found is None:
        names = ", ".join(f.name for f in FORMATS if f.save is not None)
        raise BlipctlError(f"--to {name}: blipctl writes {names}")
    return found
