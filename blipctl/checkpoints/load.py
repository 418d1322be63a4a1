"""One entry point for `--model` and `init`: any checkpoint `checkpoints.formats.FORMATS` reads."""

from __future__ import annotations


def load_model(source: str, llm: str | None = None, frozen_dtype=None):
    """Any BLIP or BLIP-2 task model, in eval mode with its text codec, from a blipctl run
    directory, a LAVIS BLIP-2 or original BLIP `.pth`/`.pt` file, a transformers directory or a
    Hub id. `llm`: the LM (directory or Hub id) of a checkpoint that holds none (LAVIS BLIP-2).
    `frozen_dtype`: the dtype of a BLIP-2 model's frozen tower and LM (None: bf16 where this
    machine computes it fast, else fp32); other models load in fp32."""
    from blipctl.checkpoints.formats import find
    from blipctl.errors import BlipctlError

    fmt = find(source)
    kwargs = {}
    if llm is not None:
        if not fmt.takes_llm:
            raise BlipctlError(f"--llm {llm}: only a LAVIS BLIP-2 checkpoint takes an LM apart; "
                               f"{source} is {fmt.holds}, which holds its own")
        kwargs["llm"] = llm
    if frozen_dtype is not None and fmt.takes_frozen_dtype:
        kwargs["frozen_dtype"] = frozen_dtype
    return fmt.load(source, **kwargs)
