"""Gathering tensors across ranks; a no-op in a single process."""

from __future__ import annotations

import torch
import torch.distributed as dist


def rank_and_world() -> tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


class _GatherWithGrad(torch.autograd.Function):
    """all_gather whose backward sums the incoming gradients over ranks and returns this
    rank's slice, so every rank's loss reaches every rank's features."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        out = [torch.empty_like(x) for _ in range(dist.get_world_size())]
        dist.all_gather(out, x.contiguous())
        return torch.cat(out)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.contiguous()
        dist.all_reduce(grad)
        return grad.chunk(dist.get_world_size())[dist.get_rank()]


def gather_with_grad(x: torch.Tensor) -> torch.Tensor:
    """(B, ...) on each rank -> (world * B, ...), rank-major, differentiable."""
    return _GatherWithGrad.apply(x) if rank_and_world()[1] > 1 else x


@torch.no_grad()
def gather(x: torch.Tensor) -> torch.Tensor:
    """(B, ...) on each rank -> (world * B, ...), rank-major, no gradient."""
    if rank_and_world()[1] == 1:
        return x
    out = [torch.empty_like(x) for _ in range(dist.get_world_size())]
    dist.all_gather(out, x.contiguous())
    return torch.cat(out)


def global_sum(x: torch.Tensor) -> torch.Tensor:
    """The sum of a (detached) tensor over ranks."""
    if rank_and_world()[1] == 1:
        return x
    x = x.detach().clone()
    dist.all_reduce(x)
    return x


@torch.no_grad()
def gather_text(ids: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Texts padded to each rank's own longest: (B, T) ids and mask -> the local ones padded on
    the right to the world's longest T' (pad id 0, mask 0), and the world's (world * B, T')."""
    if rank_and_world()[1] == 1:
        return ids, mask, ids, mask
    longest = torch.tensor(ids.shape[1], device=ids.device)
    dist.all_reduce(longest, op=dist.ReduceOp.MAX)
    extra = int(longest) - ids.shape[1]
    ids, mask = (torch.nn.functional.pad(t, (0, extra)) for t in (ids, mask))
    return ids, mask, gather(ids), gather(mask)
