"""DeepSpeed ZeRO from a recipe's `deepspeed:` section (the DeepSpeed JSON config as YAML).

blipctl fills in the batch size, accumulation steps, bf16 and clipping from the recipe.
Without an `optimizer` entry DeepSpeed wraps blipctl's own torch AdamW (no JIT-built ops);
with one (e.g. `{type: AdamW, params: {torch_adam: true}}`) DeepSpeed builds it.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from blipctl.errors import BlipctlError


def initialize(module: nn.Module, optimizer: Any, cfg: Any, world: Any,
               groups: list[dict] | None = None) -> tuple[Any, Any]:
    """(engine, optimizer). `groups`: the parameter groups (engine/optim.py) for an optimizer
    that DeepSpeed builds; blipctl's own optimizer already holds them."""
    from blipctl.engine.precision import policy

    try:
        import deepspeed
    except ImportError:
        raise BlipctlError("recipe key `deepspeed`: DeepSpeed is not installed; "
                           "pip install 'blipctl[deepspeed]' (DS_BUILD_OPS=0 needs no compiler)") from None
    conf = dict(cfg.deepspeed)
    conf.setdefault("train_micro_batch_size_per_gpu", cfg.data.batch_size)
    conf.setdefault("gradient_accumulation_steps", cfg.optim.grad_accum)
    if policy(cfg.precision).autocast == "bf16":
        conf.setdefault("bf16", {"enabled": True})
    if cfg.optim.clip_grad > 0:
        conf.setdefault("gradient_clipping", cfg.optim.clip_grad)
    conf.setdefault("steps_per_print", 10**9)
    client = None
    if "optimizer" not in conf:
        conf.setdefault("zero_allow_untested_optimizer", True)
        client = optimizer
    params = [p for p in module.parameters() if p.requires_grad]
    if client is None and groups is not None:
        params = groups
    engine, ds_optimizer, _, _ = deepspeed.initialize(model=module, optimizer=client, config=conf,
                                                      model_parameters=params,
                                                      dist_init_required=False)
    return engine, ds_optimizer
