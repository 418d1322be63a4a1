"""Runs every objective on a fixed world batch and saves losses and gradients.

`python objectives_worker.py OUT` computes on the full batch in one process; under
`torchrun --nproc_per_node 2` each rank takes its half and averages gradients as DDP does.
"""

from __future__ import annotations

import sys

import torch
import torch.distributed as dist
from torch import nn

from blipctl.objectives.gather import rank_and_world
from blipctl.objectives.itc import ITCLoss, QueryITCLoss, enqueue_
from blipctl.objectives.itm import ITMLoss
from blipctl.objectives.lm import LMLoss

B, E, D, T, V, Q = 8, 6, 5, 7, 11, 16


def world_batch():
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(3, V, (B, T), generator=g)
    mask = torch.ones(B, T, dtype=torch.long)
    for i, n in enumerate([7, 5, 6, 3, 7, 4, 2, 6]):  # ragged lengths: ranks hold unequal token counts
        mask[i, n:] = 0
    return dict(x_img=torch.randn(B, D, generator=g), x_txt=torch.randn(B, D, generator=g),
                x_img_m=torch.randn(B, D, generator=g), x_txt_m=torch.randn(B, D, generator=g),
                image_ids=torch.tensor([0, 1, 1, 2, 3, 0, 4, 5]), ids=ids, mask=mask,
                img_tokens=torch.randn(B, 3, D, generator=g),
                queue_i=nn.functional.normalize(torch.randn(E, Q, generator=g), dim=0),
                queue_t=nn.functional.normalize(torch.randn(E, Q, generator=g), dim=0),
                id_queue=torch.randint(0, 6, (Q,), generator=g))


def model():
    torch.manual_seed(1)
    return nn.ModuleDict(dict(img=nn.Linear(D, E), txt=nn.Linear(D, E), tok=nn.Embedding(V, D),
                              lm=nn.Linear(D, V), itm=nn.Linear(D, 2)))


def run(out: str) -> None:
    rank, world = rank_and_world()
    full, net = world_batch(), model()
    n = B // world
    b = {k: (v[rank * n:(rank + 1) * n] if v.shape[0] == B else v) for k, v in full.items()}
    feat = lambda m, x: nn.functional.normalize(net[m](x), dim=-1)  # noqa: E731
    temp = torch.tensor(0.1)
    itc = ITCLoss()
    with torch.no_grad():
        fi_m, ft_m = feat("img", b["x_img_m"]), feat("txt", b["x_txt_m"])
    fi, ft = feat("img", b["x_img"]), feat("txt", b["x_txt"])
    loss_mom, sim_i2t, sim_t2i = itc(fi, ft, temp, fi_m, ft_m, b["queue_i"], b["queue_t"], alpha=0.4,
                                     image_ids=b["image_ids"], id_queue=b["id_queue"])
    loss_plain, _, _ = itc(fi, ft, temp)  # online features gathered with gradient
    # BLIP-2: 3 query features per image, the best query per pair, columns without gradient
    fq = nn.functional.normalize(net["img"](b["img_tokens"]), dim=-1)  # (n, 3, E)
    loss_query, _, _ = QueryITCLoss(0.1)(fq, ft, temp)

    # ITM with one admissible negative per row, so the draw is the same however the batch is split
    world_cols = torch.arange(B)
    only = (world_cols[None] == ((world_cols + 3) % B)[rank * n:(rank + 1) * n, None])
    forced = torch.where(only, 0.0, float("-inf"))
    def match(img, ids, mask):  # noqa: E306
        h = img.mean(1) + (net["tok"](ids) * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)
        return net["itm"](h)
    loss_itm = ITMLoss()(match, b["img_tokens"] @ net["img"].weight.t() @ net["img"].weight,
                         b["ids"], b["mask"], forced, forced)

    logits = net["lm"](net["tok"](b["ids"]))
    loss_lm = LMLoss(0.1)(logits, b["ids"], b["mask"], prompt_len=2)

    total = loss_mom + loss_plain + loss_query + loss_itm + loss_lm
    total.backward()
    grads = {k: p.grad.clone() for k, p in net.named_parameters()}
    losses = torch.stack([loss_mom, loss_plain, loss_query, loss_itm, loss_lm]).detach()
    if world > 1:
        for g in grads.values():
            dist.all_reduce(g)
            g /= world
        dist.all_reduce(losses)
        losses /= world
    ptr = torch.zeros(1, dtype=torch.long)
    queue_i, id_queue = b["queue_i"].clone(), b["id_queue"].clone()
    from blipctl.objectives.gather import gather
    enqueue_(ptr, [queue_i, id_queue], [gather(fi_m), gather(b["image_ids"])])
    if rank == 0:
        torch.save(dict(losses=losses, grads=grads, queue=queue_i, id_queue=id_queue, ptr=ptr), out)


if __name__ == "__main__":
    if "RANK" in __import__("os").environ:
        dist.init_process_group("gloo")
    run(sys.argv[1])
    if dist.is_initialized():
        dist.destroy_process_group()
