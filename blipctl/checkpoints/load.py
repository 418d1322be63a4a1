"""One entry point for `--model` and `init`: any checkpoint `checkpoints.formats.FORMATS` reads."""

from __future__ import annotations


def load_model(source: str, llm: str | None = None):
    """Any BLIP or BLIP-2 task model, in eval mode with its text codec, from a blipctl run
    directory, a LAVIS BLIP-2 or original BLIP `.pth`/`.pt` file, a transformers directory or a
    Hub id. `llm`: the LM (directory or Hub id) of a checkpoint that holds none (LAVIS BLIP-2)."""
    from blipctl.checkpoints.formats import find
    from blipctl.errors import BlipctlError

    fmt = find(source)
    if llm is None:
        return fmt.load(source)
    if not fmt.takes_llm:
        raise BlipctlError(f"--llm {llm}: only a LAVIS BLIP-2 checkpoint takes an LM apart; "
                           f"{source} is {fmt.holds}, which holds its own")
    return fmt.load(source, llm=llm)
