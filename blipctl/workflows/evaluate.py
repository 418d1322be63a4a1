"""`blipctl eval`: a model on a recipe's split -> predictions.json, metrics.json, a table."""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from blipctl.errors import BlipctlError
from blipctl.eval.batches import EvalData, Evaluation
from blipctl.files import write_text


@dataclass
class EvalConfig:
    output_dir: str = "runs/eval"
    model: str = ""                  # run directory, BLIP .pth, transformers directory or Hub id
    llm: str | None = None           # the LM of a LAVIS BLIP-2 checkpoint, which holds none
    task: dict = field(default_factory=lambda: {"_component_": "blipctl.eval.caption.CaptionEval"})
    data: EvalData = field(default_factory=EvalData)
    device: str = "auto"             # auto: cuda when there is one
    dtype: Literal["fp32", "bf16"] = "fp32"
    expect: dict = field(default_factory=dict)  # metric: {value, tol}, what `--check` compares with


def run(cfg: EvalConfig, config_yaml: str = "") -> Evaluation:
    """Evaluates `cfg.model` with `cfg.task`; writes the run directory and returns the result."""
    import numpy as np
    import torch

    from blipctl.checkpoints.load import load_model
    from blipctl.config.schema import instantiate
    from blipctl.models.protocols import find, what
    from blipctl.workflows.infer import placed

    if not cfg.model:
        raise BlipctlError("no model to evaluate: pass --model (a run directory, .pth, transformers "
                           "directory or Hub id) or set `model:` in the recipe")
    if cfg.device == "auto":
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    else:
        device = torch.device(cfg.device)
    dtype = {"fp32": torch.float32, "bf16": torch.bfloat16}[cfg.dtype]
    task = instantiate(cfg.task)
    loaded = load_model(cfg.model, cfg.llm, frozen_dtype=dtype)
    model = find(loaded, task.needs)
    if model is None:
        raise BlipctlError(f"--model {cfg.model}: a {type(loaded).__name__} cannot run "
                           f"{type(task).__name__}: it cannot {what(task.needs)}")
    model, dtype = placed(model, dtype, device)
    model.eval()
    t0 = time.perf_counter()
    result = task(model, cfg.data, device, dtype)
    seconds = time.perf_counter() - t0
    out = Path(cfg.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    if config_yaml:
        write_text(out / "config.yaml", config_yaml)
    write_text(out / "predictions.json", json.dumps(result.predictions, indent=1) + "\n")
    for name, array in result.arrays.items():
        np.save(out / f"{name}.npy", array)
    write_text(out / "metrics.json", json.dumps(result.metrics, indent=2) + "\n")
    for b in result.bad:
        print(f"blipctl: {b.where}: {b.reason}", file=sys.stderr)
    print(f"evaluated {cfg.model} on {cfg.data.annotations} in {seconds:.1f} s -> {out}", file=sys.stderr)
    return result


def score_files(task: str, predictions: str, annotations: str, spice: bool = True) -> dict:
    """Scores a predictions file the way the official evaluation does (see docs/eval.md)."""
    if task == "caption":
        from blipctl.eval.caption import score
        from blipctl.eval.caption_metric import read_coco_results

        return score(read_coco_results(predictions), annotations, spice=spice)
    if task == "vqa":
        from blipctl.eval import vqa

        return vqa.score(vqa.read_results(predictions), annotations)
    if task == "nlvr":
        from blipctl.eval import nlvr

        return nlvr.score(nlvr.read_results(predictions), annotations)
    from blipctl.eval.retrieval import score_file

    return score_file(predictions, annotations)
