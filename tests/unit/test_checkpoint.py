"""Atomic training checkpoints: contents, keep-last-N, frozen flags, exact restore."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from blipctl.engine import checkpoint
from blipctl.errors import BlipctlError


class Tied(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Linear(3, 3), nn.Linear(3, 3)
        self.b.weight = self.a.weight  # shared, as MED's encoder and decoder share weights
        self.register_buffer("queue", torch.randn(3, 5))


def test_save_load_round_trip_keeps_everything(tmp_path):
    torch.manual_seed(0)
    m = Tied()
    m.a.bias.requires_grad_(False)
    opt = torch.optim.AdamW([p for p in m.parameters() if p.requires_grad], lr=0.1)
    m.b(m.a(torch.randn(2, 3))).sum().backward()
    opt.step()
    ck = checkpoint.save(tmp_path, 7, m, opt, {"epoch": 1, "batch": 4}, "seed: 1\n")
    assert sorted(p.name for p in ck.iterdir()) == ["config.yaml", "model.safetensors", "optimizer.pt",
                                                     "rng_0.pt", "state.json"]
    state = json.loads((ck / "state.json").read_text())
    assert state["frozen"] == ["a.bias"] and state["step"] == 7 and state["batch"] == 4
    after = torch.rand(1)

    torch.manual_seed(123)
    n = Tied()
    checkpoint.load_weights(ck, n)  # first: it restores which parameters are frozen
    opt2 = torch.optim.AdamW([p for p in n.parameters() if p.requires_grad], lr=0.1)
    checkpoint.load_trainer(ck, opt2)
    assert torch.rand(1) == after  # the RNG continues where the saved run was
    for (k, v), (_, w) in zip(m.state_dict().items(), n.state_dict().items(), strict=True):
        assert torch.equal(v, w), k
    assert n.b.weight is n.a.weight and not n.a.bias.requires_grad
    s1, s2 = opt.state_dict()["state"], opt2.state_dict()["state"]
    assert all(torch.equal(s1[i]["exp_avg"], s2[i]["exp_avg"]) for i in s1)


def test_keep_last_n_and_ignore_unfinished(tmp_path):
    m = Tied()
    for step in range(1, 6):
        checkpoint.save(tmp_path, step, m, None, {}, "", keep=2)
    (tmp_path / "checkpoints" / ".step_000009.tmp").mkdir()  # a crash mid-save
    assert [p.name for p in checkpoint.checkpoints(tmp_path)] == ["step_000004", "step_000005"]
    assert checkpoint.latest(tmp_path).name == "step_000005"
    with pytest.raises(BlipctlError, match="no checkpoint"):
        checkpoint.latest(tmp_path / "elsewhere")
