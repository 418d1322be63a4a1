"""The recipe's `optim:` section: the optimizer (a component), its parameter groups, and the
learning-rate schedule's settings (the schedule itself is `schedule.lr_at`).

Parameter groups come from two rules, both off by default (BLIP: one AdamW group, every
trainable parameter decayed):

- `no_decay_1d: true` puts every parameter with fewer than two dimensions (biases, LayerNorm
  weights, scalars such as ITC's temperature) in a group without weight decay, as nanoGPT's
  `configure_optimizers` and LAVIS's `get_optimizer_params` do;
- `lr_scale: {prefix: factor}` multiplies the scheduled learning rate for the parameters whose
  name starts with `prefix` (a plain name prefix, as `freeze` uses; the longest one wins).

The optimizer is called as `optimizer(groups, lr=optim.lr, weight_decay=optim.weight_decay)`,
plus `betas=optim.betas` if it takes betas and the node does not set them.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from blipctl.errors import ConfigError

if TYPE_CHECKING:
    from torch import nn

ADAMW = {"_component_": "torch.optim.AdamW"}


@dataclass
class OptimConfig:
    lr: float = 1e-5                      # BLIP's init_lr
    min_lr: float = 0.0
    weight_decay: float = 0.05            # every parameter, as BLIP does (but see no_decay_1d)
    betas: tuple[float, float] = (0.9, 0.999)
    # cosine (BLIP fine-tuning), step (BLIP pretraining), warmup_cosine (BLIP-2, LAVIS's
    # linear_warmup_cosine_lr), warmup_cosine_steps (InstructBLIP: cosine over the run's steps);
    # see schedule.lr_at
    schedule: Literal["cosine", "step", "warmup_cosine", "warmup_cosine_steps"] = "cosine"
    warmup_lr: float = 1e-6               # step, warmup_cosine: linear warmup in the first epoch...
    warmup_steps: int = 0                 # ...over this many optimizer steps
    decay_rate: float = 0.9               # step schedule: lr * decay_rate ** epoch
    epochs: int = 1
    grad_accum: int = 1                   # micro-batches per optimizer step
    clip_grad: float = 0.0                # max gradient norm; 0 = off (BLIP does not clip)
    # the torch optimizer, e.g. {_component_: torch.optim.AdamW, eps: 1.0e-6}; null: AdamW
    # (lr, weight_decay and betas come from the keys above, not from this node)
    optimizer: dict | None = None
    no_decay_1d: bool = False             # no weight decay on biases, norm weights and scalars
    lr_scale: dict[str, float] = field(default_factory=dict)  # name prefix -> lr factor, e.g. {visual: 0.1}


def param_groups(model: nn.Module, cfg: OptimConfig) -> list[dict[str, Any]]:
    """The trainable parameters of `model`, in `named_parameters` order, grouped by the rules
    above; with neither rule, one plain group `{"params": [...]}`."""
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    for prefix in cfg.lr_scale:
        if not any(n.startswith(prefix) for n, _ in named):
            raise ConfigError(f"recipe key `optim.lr_scale.{prefix}`: no trainable parameter of "
                              f"{type(model).__name__} has a name that starts with it")
    groups: dict[tuple[bool, float], dict[str, Any]] = {}
    for name, p in named:
        decay = not (cfg.no_decay_1d and p.ndim < 2)
        prefix = max((s for s in cfg.lr_scale if name.startswith(s)), key=len, default=None)
        scale = 1.0 if prefix is None else float(cfg.lr_scale[prefix])
        group = groups.get((decay, scale))
        if group is None:
            group = groups[(decay, scale)] = {"params": []}
            if not decay:
                group["weight_decay"] = 0.0
            if cfg.lr_scale:
                group["lr_scale"] = scale
        group["params"].append(p)
    return list(groups.values())


def build_optimizer(groups: list[dict[str, Any]], cfg: OptimConfig) -> Any:
    """`cfg.optimizer` (AdamW if null) over `groups`."""
    from blipctl.config.schema import instantiate, resolve

    node = cfg.optimizer or ADAMW
    for key in ("lr", "weight_decay"):
        if key in node:
            raise ConfigError(f"recipe key `optim.optimizer.{key}`: set `optim.{key}` instead "
                              "(the schedule and the parameter groups start from it)")
    kwargs: dict[str, Any] = {"lr": cfg.lr, "weight_decay": cfg.weight_decay}
    target = resolve(node["_component_"], "optim.optimizer._component_")
    if "betas" not in node and "betas" in inspect.signature(target).parameters:
        kwargs["betas"] = tuple(cfg.betas)
    return instantiate(node, groups, **kwargs)


def set_lr(optimizer: Any, lr: float) -> None:
    """The scheduled learning rate, times each group's `lr_scale`."""
    for group in optimizer.param_groups:
        group["lr"] = lr * group.get("lr_scale", 1.0)
