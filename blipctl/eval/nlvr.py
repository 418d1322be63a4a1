"""NLVR2 evaluation: accuracy of the true/false head over a split's image pairs."""

from __future__ import annotations

import torch

from blipctl.data.annotations import nlvr_records, read_json_list
from blipctl.data.loader import nlvr_sample
from blipctl.errors import BlipctlError
from blipctl.eval.batches import EvalData, Evaluation, eval_batches
from blipctl.models.nlvr import BlipNLVR


def _key(rec: dict, i: int):
    return rec.get("identifier", i)


def score(predictions: dict, annotations_path: str, partial: bool = False) -> dict:
    """Accuracy (percent) of {identifier (or record index): "True"|"False"} against an NLVR2 file."""
    recs = read_json_list(annotations_path)
    right = n = 0
    for i, rec in enumerate(recs):
        key = _key(rec, i)
        if key not in predictions:
            if partial:
                continue
            raise BlipctlError(f"{annotations_path}: record {i} ({key}) has no prediction")
        n += 1
        right += str(predictions[key]) == str(rec.get("label"))
    return {"acc": round(100 * right / max(n, 1), 2), "n": n}


def read_results(path: str) -> dict:
    """`[{"identifier" (or "index"), "prediction": "True"|"False"}]` as {key: prediction}."""
    out = {}
    for i, r in enumerate(read_json_list(path)):
        key = r.get("identifier", r.get("index"))
        if key is None or str(r.get("prediction")) not in ("True", "False"):
            raise BlipctlError(f"{path}: record {i}: expected {{\"identifier\" or \"index\", "
                               "\"prediction\": \"True\" | \"False\"}")
        out[key] = str(r["prediction"])
    return out


class NLVREval:
    model_type = BlipNLVR

    def __init__(self, max_length: int = 512):
        self.max_length = max_length  # BLIP does not truncate; capped at the model's positions

    def adapt(self, model):
        return model

    @torch.no_grad()
    def __call__(self, model: BlipNLVR, data: EvalData, tok, device: torch.device,
                 dtype: torch.dtype) -> Evaluation:
        path = f"{data.root}/{data.annotations}"
        raw = read_json_list(path)
        records = nlvr_records(path, data.root)
        size = data.image_size or model.visual.cfg.image_size
        predictions, bad = {}, []
        for batch in eval_batches(records, nlvr_sample(size, False), data.batch_size, data.workers, bad):
            enc = tok(batch["sentence"], padding="longest", truncation=True, return_tensors="pt",
                      max_length=min(self.max_length, model.text.cfg.max_positions))
            ids, mask = enc.input_ids.to(device), enc.attention_mask.to(device)
            ids[:, 0] = tok.enc_token_id
            logits = model(batch["left"].to(device=device, dtype=dtype),
                           batch["right"].to(device=device, dtype=dtype), ids, mask)
            for i, p in zip(batch["index"], logits.argmax(1).tolist(), strict=True):
                predictions[_key(raw[i], i)] = "True" if p else "False"
        key = "identifier" if raw and "identifier" in raw[0] else "index"
        return Evaluation([{key: k, "prediction": v} for k, v in predictions.items()],
                          score(predictions, path, partial=bool(bad)), bad=bad)
