"""Processes (torch.distributed, started by torchrun) and BatchNorm statistics that do not depend
on how many there are.

Gradients: DistributedDataParallel averages them over ranks; each rank's loss is the mean over
its share of the global batch, so the result is the global batch mean, as in one process.
BatchNorm: the batch a BN layer normalises over is the micro-batch, fixed by the config and the
same on any number of ranks, so forward and backward are the same. Its running statistics are an
exponential average over micro-batches in order; a rank only sees its own, so each BN keeps its
running buffers frozen during the step (momentum 0), its batch statistics are gathered from all
ranks after the step and folded in, in global micro-batch order, on every rank alike."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import partial

import torch
import torch.distributed as dist
from torch import nn


@dataclass
class Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def on(self) -> bool:
        return self.world > 1


def init(device: str) -> Dist:
    """Join the process group torchrun describes in the environment (gloo on CPU, nccl on CUDA)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = device == "cuda" or (device == "auto" and torch.cuda.is_available())
    dev = torch.device(f"cuda:{local}") if use_cuda else torch.device("cpu")
    if use_cuda:
        torch.cuda.set_device(dev)
    if world > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    rank = dist.get_rank() if world > 1 else 0
    return Dist(rank, world, local, dev)


def shutdown(d: Dist) -> None:
    if d.on and dist.is_initialized():
        dist.destroy_process_group()


def all_sum(d: Dist, values: list[float]) -> list[float]:
    t = torch.tensor(values, dtype=torch.float64, device=d.device)
    if d.on:
        dist.all_reduce(t)
    return t.tolist()


def barrier(d: Dist) -> None:
    if d.on:
        dist.barrier()


class BNStats:
    """Running BN statistics updated in global micro-batch order (see the module note)."""

    def __init__(self, model: nn.Module, momentum: float):
        self.bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
        self.momentum = momentum
        self.rows: list[torch.Tensor] = []
        self._cur: dict[int, torch.Tensor] = {}
        for i, bn in enumerate(self.bns):
            bn.momentum = 0.0  # running buffers stay put in forward; fold() updates them
            bn.register_forward_pre_hook(partial(self._hook, i))

    def _hook(self, i: int, mod: nn.Module, args) -> None:
        if mod.training:
            if i in self._cur:
                raise RuntimeError("a BatchNorm layer ran twice in one forward; BNStats cannot order it")
            var, mean = torch.var_mean(args[0].detach().float(), dim=(0, 2, 3), unbiased=True)
            self._cur[i] = torch.cat([mean, var])

    def end_micro(self) -> None:
        """Close the stats of one micro-batch forward (rows in self.bns order, not call order)."""
        self.rows.append(torch.cat([self._cur[i] for i in range(len(self.bns))]))
        self._cur = {}

    def fold(self, d: Dist) -> None:
        """Gather every rank's micro-batch stats and fold them into the running buffers in order."""
        local = torch.stack(self.rows)
        self.rows = []
        rows = local
        if d.on:
            parts = [torch.empty_like(local) for _ in range(d.world)]
            dist.all_gather(parts, local)
            rows = torch.cat(parts)  # rank-major = global micro-batch order
        m = self.momentum
        with torch.no_grad():
            for bn in self.bns:  # forward counted this rank's micro-batches; count everyone's
                bn.num_batches_tracked.add_(len(rows) - len(local))
            for row in rows:
                off = 0
                for bn in self.bns:
                    c = bn.num_features
                    bn.running_mean.mul_(1 - m).add_(row[off : off + c], alpha=m)
                    bn.running_var.mul_(1 - m).add_(row[off + c : off + 2 * c], alpha=m)
                    off += 2 * c
