"""Processes (torch.distributed, started by torchrun) and BatchNorm statistics that do not depend
on how many there are.

Gradients: summed over the global batch in float64 and divided once (``GradSum``), the sum over
ranks done by DistributedDataParallel through a communication hook, so the float32 gradient is
the same for any split of the batch over ranks and micro-batches. BatchNorm: the batch a BN layer normalises over is the micro-batch, fixed by the config and the
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


class GradSum:
    """The gradient of the global batch, summed in float64 over micro-batches and ranks and divided
    by the batch once, so it does not depend on how the batch is split: the per-micro-batch
    gradients are the same float32 numbers in any split, and their float64 sum does not depend on
    the order of the terms (float32 values far apart in magnitude aside).

    With DDP the sum across ranks runs in a communication hook on the last micro-batch's backward;
    the earlier micro-batches run under ``no_sync`` and are collected here."""

    def __init__(self, model: nn.Module, d: Dist, ddp: nn.Module | None, batch: int):
        self.params = [p for p in model.parameters() if p.requires_grad]
        self.acc = {p: torch.zeros_like(p, dtype=torch.float64) for p in self.params}
        self.d, self.batch = d, batch
        if ddp is not None:
            ddp.register_comm_hook(None, self._hook)

    def collect(self) -> None:
        """Add the gradients of one micro-batch backward and clear them."""
        for p in self.params:
            if p.grad is not None:
                self.acc[p] += p.grad.double()
                p.grad = None

    def finish(self) -> None:
        """Without DDP: the gradient of the whole batch from the collected sums."""
        for p in self.params:
            p.grad = (self.acc[p] / self.batch).to(p.dtype)
            self.acc[p].zero_()

    def _hook(self, state, bucket):
        grads = bucket.gradients()
        params = bucket.parameters()
        flat = torch.cat([(self.acc[p] + g.double()).flatten() for p, g in zip(params, grads, strict=True)])
        for p in params:
            self.acc[p].zero_()
        fut = dist.all_reduce(flat, async_op=True).get_future()

        def done(f):
            buf = bucket.buffer()
            buf.copy_((f.value()[0] / self.batch).to(buf.dtype))
            return buf

        return fut.then(done)
