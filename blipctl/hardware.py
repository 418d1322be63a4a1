"""What this machine computes fast, measured rather than assumed."""

from __future__ import annotations

import time
from functools import lru_cache


@lru_cache(maxsize=1)
def bf16_pays(size: int = 512, repeats: int = 5) -> bool:
    """Whether bf16 is the better dtype for frozen weights here: on CUDA, whether the device
    supports it; on CPU, whether a (size x size) bf16 matmul runs at least as fast as fp32
    (CPUs without native bf16, such as AVX2-only ones, emulate it several times slower).
    Measured once per process, in about 50 ms."""
    import torch

    if torch.cuda.is_available():
        return torch.cuda.is_bf16_supported()
    best = {}
    for dtype in (torch.float32, torch.bfloat16):
        a = torch.randn(size, size).to(dtype)
        a @ a  # warm-up
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            a @ a
            times.append(time.perf_counter() - t0)
        best[dtype] = min(times)
    return best[torch.bfloat16] <= best[torch.float32]
