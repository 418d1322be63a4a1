"""The objectives across ranks: 2 gloo processes against one process on the full batch."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

WORKER = Path(__file__).with_name("objectives_worker.py")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.integration
def test_two_ranks_equal_one_process_on_the_full_batch(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run([sys.executable, str(WORKER), str(tmp_path / "one.pt")], check=True, env=env,
                   timeout=120)
    subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2",
                    f"--master_port={free_port()}", str(WORKER), str(tmp_path / "two.pt")],
                   check=True, env=env, timeout=180, capture_output=True)
    one, two = torch.load(tmp_path / "one.pt"), torch.load(tmp_path / "two.pt")
    torch.testing.assert_close(two["losses"], one["losses"], atol=1e-5, rtol=0)
    assert one["losses"].gt(0).all() and one["losses"].isfinite().all()
    for name, g in one["grads"].items():
        assert g.abs().sum() > 0, name  # every objective reaches every parameter it uses
        torch.testing.assert_close(two["grads"][name], g, atol=1e-5, rtol=0, msg=name)
    torch.testing.assert_close(two["queue"], one["queue"], atol=1e-6, rtol=0)
    assert torch.equal(two["id_queue"], one["id_queue"]) and int(two["ptr"]) == 8
