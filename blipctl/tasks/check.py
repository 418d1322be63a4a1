"""Does a model fit a training task? Each task names the capabilities it trains (`needs`)."""

from __future__ import annotations

from typing import Any

from blipctl.errors import ConfigError
from blipctl.models.protocols import require


def check_model(task: Any, model: Any, where: str = "recipe key `model`") -> None:
    """Raises a one-line ConfigError unless `model` itself (not a view) offers every capability
    in `task.needs`."""
    needs = task.needs if isinstance(task.needs, tuple) else (task.needs,)
    for capability in needs:
        require(model, capability, f"{where} ({type(task).__name__})", views=False, error=ConfigError)
