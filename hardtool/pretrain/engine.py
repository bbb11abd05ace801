"""The pre-training loop: AdamW, linear warm-up then cosine decay per step, gradient accumulation
over micro-batches, DistributedDataParallel across processes, top-1 / top-5 on val after every
epoch, a resumable checkpoint after every epoch (and every ``save_every`` steps)."""

from __future__ import annotations

import contextlib
import io
import math
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from hardtool.core.errors import HardtoolError
from hardtool.core.files import atomic_write_bytes
from hardtool.models.checkpoint import DEFAULT_MEAN, DEFAULT_STD, read_checkpoint
from hardtool.pretrain import dist as D
from hardtool.pretrain.augment import BatchAugment
from hardtool.pretrain.config import RECIPE, PretrainConfig
from hardtool.pretrain.data import Plan, StepSampler, TrainSet, ValSet, mix_seed, read_layout
from hardtool.pretrain.model import FORMAT, HardClassifier


def lr_at(cfg: PretrainConfig, step: int, steps_per_epoch: int) -> float:
    """Learning rate of optimizer step ``step`` (0-based): linear warm-up, then cosine to min_lr."""
    warm = cfg.warmup_epochs * steps_per_epoch
    total = cfg.epochs * steps_per_epoch
    if step < warm:
        return cfg.warmup_lr + (cfg.lr - cfg.warmup_lr) * step / warm
    t = (step - warm) / max(1, total - warm)
    return cfg.min_lr + 0.5 * (cfg.lr - cfg.min_lr) * (1 + math.cos(math.pi * t))


def make_optimizer(model: torch.nn.Module, cfg: PretrainConfig) -> torch.optim.AdamW:
    """AdamW; biases and BatchNorm weights without weight decay unless ``decay_1d`` (timm's rule)."""
    decay, plain = [], []
    for p in model.parameters():
        (decay if p.ndim > 1 or cfg.decay_1d else plain).append(p)
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": plain, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=cfg.warmup_lr, betas=tuple(cfg.betas), eps=cfg.eps)


def resume_config(saved: dict, given: PretrainConfig, explicit: set[str] | None) -> PretrainConfig:
    """The saved recipe with the given runtime settings; a recipe value given explicitly must agree."""
    cfg = PretrainConfig.from_dict(saved)
    names = set(RECIPE) if explicit is None else explicit
    clash = [n for n in RECIPE if n in names and getattr(given, n) != getattr(cfg, n)]
    if clash:
        n = clash[0]
        raise HardtoolError(
            f"--resume continues the saved recipe, but --{n.replace('_', '-')} {getattr(given, n)} differs from "
            f"the checkpoint's {getattr(cfg, n)}; drop it, or start over with --force"
        )
    for n in set(PretrainConfig.__dataclass_fields__) - set(RECIPE):
        setattr(cfg, n, getattr(given, n))
    return cfg


def save(path: Path, model: HardClassifier, opt, cfg: PretrainConfig, classes, state: dict) -> None:
    obj = {
        "format": FORMAT,
        "version": 1,
        "arch": model.arch,
        "num_classes": len(classes),
        "classes": list(classes),
        "input_size": [cfg.crop, cfg.crop],
        "normalization": {"mean": list(DEFAULT_MEAN), "std": list(DEFAULT_STD)},
        "config": cfg.to_dict(),
        "encoder": model.encoder_state(),
        "head": {k: v.detach().cpu() for k, v in model.head.state_dict().items()},
        "meta": {"history": state["history"]},
        "train_state": {**state, "optimizer": opt.state_dict()},
    }
    buf = io.BytesIO()
    torch.save(obj, buf)
    atomic_write_bytes(path, buf.getvalue())


def load_state(path: Path) -> dict:
    obj = read_checkpoint(path)
    if obj.get("format") != FORMAT or "train_state" not in obj:
        raise HardtoolError(
            f"{path} is not a 'hardtool pretrain' checkpoint; drop --resume or pick another --out"
        )
    return obj


class Normalize:
    def __init__(self, device):
        self.mean = torch.tensor(DEFAULT_MEAN, device=device).view(1, 3, 1, 1)
        self.std = torch.tensor(DEFAULT_STD, device=device).view(1, 3, 1, 1)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


class Trainer:
    """One process's share of the run; every rank holds the same weights after each step."""

    def __init__(self, cfg: PretrainConfig, d: D.Dist, classes: list[str], n_train: int):
        self.cfg, self.d, self.classes = cfg, d, classes
        torch.manual_seed(cfg.seed)  # the same initial weights on every rank
        self.model = HardClassifier(cfg.arch, len(classes), cfg.head_width, cfg.dropout).to(d.device)
        self.bn = D.BNStats(self.model, cfg.bn_momentum)
        self.opt = make_optimizer(self.model, cfg)
        self.net = self.model
        if d.on:
            ids = [d.device.index] if d.device.type == "cuda" else None
            self.net = torch.nn.parallel.DistributedDataParallel(
                self.model, device_ids=ids, forward_sync_buffers=False
            )
        self.grads = D.GradSum(self.model, d, self.net if d.on else None, cfg.batch)
        m = cfg.micro(d.world)
        self.plan = Plan(n_train, cfg.batch, m, d.world, d.rank)
        self.group = math.gcd(cfg.randaug_group, m)
        self.aug = BatchAugment(
            cfg.hflip, cfg.randaug_n, cfg.randaug_m, cfg.randaug_mstd, cfg.randaug_p, self.group
        )
        self.norm = Normalize(d.device)

    def load(self, obj: dict) -> None:
        sd = {**obj["encoder"], **{f"head.{k}": v for k, v in obj["head"].items()}}
        self.model.load_state_dict(sd)
        self.opt.load_state_dict(obj["train_state"]["optimizer"])

    def _group_seeds(self, epoch: int, step: int, j: int) -> list[int]:
        p = self.plan
        start = step * p.batch + p.rank * p.local + j * p.micro  # position in the epoch's global order
        return [mix_seed(self.cfg.seed, epoch, start + t, 0xA116) for t in range(0, p.micro, self.group)]

    def step(self, micro_batches, epoch: int, step: int) -> float:
        """One optimizer step over this rank's micro-batches; returns the global batch's mean loss."""
        cfg, d, p = self.cfg, self.d, self.plan
        lr = lr_at(cfg, epoch * p.steps + step, p.steps)
        for g in self.opt.param_groups:
            g["lr"] = lr
        self.opt.zero_grad(set_to_none=True)
        self.model.train()
        total = 0.0
        for j, (x, y) in enumerate(micro_batches):
            x = self.norm(self.aug(x.to(d.device, non_blocking=True), self._group_seeds(epoch, step, j)))
            y = y.to(d.device, non_blocking=True)
            last = j == len(micro_batches) - 1
            sync = contextlib.nullcontext() if (last or not d.on) else self.net.no_sync()
            with sync:
                loss = F.cross_entropy(self.net(x), y, label_smoothing=cfg.label_smoothing, reduction="sum")
                loss.backward()  # summed, not averaged: GradSum divides by the global batch once
            if not (d.on and last):  # the last one of a DDP step is summed in the comm hook
                self.grads.collect()
            self.bn.end_micro()
            total += loss.item()
        if not d.on:
            self.grads.finish()
        self.opt.step()
        self.bn.fold(d)
        return D.all_sum(d, [total])[0] / p.batch

    def evaluate(self, val: ValSet) -> tuple[float, float]:
        """Top-1 / top-5 over the whole val split; val batches are cut the same on any number of ranks."""
        d, m = self.d, self.plan.micro
        chunks = [list(range(i, min(i + m, len(val)))) for i in range(0, len(val), m)]
        loader = torch.utils.data.DataLoader(
            val, batch_sampler=chunks[d.rank :: d.world], num_workers=self.cfg.workers
        )
        self.model.eval()
        c1 = c5 = 0
        k = min(5, len(self.classes))
        with torch.inference_mode():
            for x, y in loader:
                top = self.model(self.norm(x.to(d.device))).topk(k, dim=1).indices.cpu()
                c1 += int((top[:, 0] == y).sum())
                c5 += int((top == y[:, None]).any(1).sum())
        c1, c5, n = D.all_sum(d, [c1, c5, sum(len(c) for c in chunks[d.rank :: d.world])])
        return c1 / n, c5 / n


def _train_loader(tr: Trainer, ds: TrainSet, epoch: int, first: int):
    sampler = StepSampler(tr.plan, tr.cfg.seed, epoch, first)
    return torch.utils.data.DataLoader(
        ds, batch_sampler=sampler, num_workers=tr.cfg.workers, pin_memory=tr.d.device.type == "cuda"
    )


def _progress(enabled: bool):
    if not enabled:
        return contextlib.nullcontext(None)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    cols = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    return Progress(*cols)


def _loop(tr: Trainer, ds: TrainSet, val: ValSet, out: Path, state: dict, bar) -> dict:
    """Epochs from ``state`` to the end; checkpoints on the main rank."""
    cfg, d, p = tr.cfg, tr.d, tr.plan
    task = bar.add_task("pre-training", total=cfg.epochs * p.steps) if bar else None
    if bar:
        bar.update(task, completed=state["epoch"] * p.steps + state["step"])

    def checkpoint() -> None:
        if d.main:
            save(out, tr.model, tr.opt, cfg, tr.classes, state)
        D.barrier(d)

    while state["epoch"] < cfg.epochs:
        epoch, t0 = state["epoch"], time.perf_counter()
        it = iter(_train_loader(tr, ds, epoch, state["step"]))
        for step in range(state["step"], p.steps):
            batch = [next(it) for _ in range(p.micro_per_step)]
            state["losses"].append(tr.step(batch, epoch, step))
            state["step"] = step + 1
            if bar:
                loss = sum(state["losses"]) / len(state["losses"])
                bar.update(task, advance=1, description=f"epoch {epoch + 1}/{cfg.epochs} loss {loss:.3f}")
            if cfg.save_every and state["step"] % cfg.save_every == 0 and state["step"] < p.steps:
                checkpoint()
        top1, top5 = tr.evaluate(val)
        state["history"].append(
            {
                "epoch": epoch + 1,
                "loss": sum(state["losses"]) / len(state["losses"]),
                "top1": top1,
                "top5": top5,
                "lr": tr.opt.param_groups[0]["lr"],
                "seconds": round(time.perf_counter() - t0, 3),
            }
        )
        if bar:
            bar.console.print(
                f"epoch {epoch + 1}: loss {state['history'][-1]['loss']:.4f} top-1 {100 * top1:.2f} % top-5 {100 * top5:.2f} %"
            )
        state.update(epoch=epoch + 1, step=0, losses=[])
        checkpoint()
    return state


def pretrain(
    cfg: PretrainConfig,
    data: Path,
    out: Path,
    resume: bool = False,
    explicit: set[str] | None = None,
    device: str = "auto",
    progress: bool = True,
) -> dict:
    """Pre-train ``cfg.arch``'s encoder on the ImageNet-layout folder ``data``; write ``out``."""
    d = D.init(device)
    try:
        train_split, val_split = read_layout(Path(data))
        obj = load_state(out) if resume and Path(out).exists() else None
        if obj is not None:
            cfg = resume_config(obj["config"], cfg, explicit)
            if obj["classes"] != train_split.classes:
                raise HardtoolError(f"{out} was trained on other classes than {data}; pick another --out")
        cfg.check(d.world)
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        tr = Trainer(cfg, d, train_split.classes, len(train_split.samples))
        if tr.plan.steps == 0:
            raise HardtoolError(f"{data}/train has {tr.plan.n} images, fewer than one --batch of {cfg.batch}")
        state = {"epoch": 0, "step": 0, "losses": [], "history": []}
        if obj is not None:
            tr.load(obj)
            state = {k: obj["train_state"][k] for k in state}
        ds = TrainSet(train_split, cfg.crop, cfg.scale, cfg.ratio)
        val = ValSet(val_split, cfg.crop, cfg.val_crop_pct)
        with _progress(progress and d.main) as bar:
            state = _loop(tr, ds, val, Path(out), state, bar)
        last = state["history"][-1] if state["history"] else {}
        return {
            "checkpoint": str(out),
            "arch": cfg.arch,
            "processes": d.world,
            "rank": d.rank,
            "top1": last.get("top1"),
            "top5": last.get("top5"),
            "history": state["history"],
        }
    finally:
        D.shutdown(d)
