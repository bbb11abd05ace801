"""`hardtool train`: CPU training on a Cityscapes-layout folder, resumable from its checkpoint."""

from __future__ import annotations

import math
import time
from pathlib import Path

import click
import numpy as np
import torch
import torch.nn.functional as F

from hardtool.core.errors import HardtoolError
from hardtool.core.files import json_text
from hardtool.data.cityscapes import SegDataset
from hardtool.models.checkpoint import (
    DEFAULT_MEAN,
    DEFAULT_STD,
    CheckpointInfo,
    read_checkpoint,
    save_checkpoint,
)
from hardtool.models.registry import ARCHS, build_model, canonical, default_input_size


def _load_split(root: Path, split: str, size, augment: bool, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    ds = SegDataset(root, split, size, DEFAULT_MEAN, DEFAULT_STD, augment=False, seed=seed)
    xs, ys = zip(*(ds[i] for i in range(len(ds))), strict=True)
    return torch.from_numpy(np.stack(xs)), torch.from_numpy(np.stack(ys))


def _resume(out: Path, arch: str, model, opt, sched, epochs: int, log) -> tuple[int, list]:
    """(start epoch, history) from a resumable checkpoint at ``out``; model, optimizer, scheduler and RNG restored."""
    obj = read_checkpoint(out)
    state = obj.get("train_state")
    if state is None or canonical(obj.get("arch", "")) != arch:
        raise HardtoolError(
            f"{out} holds no resumable {arch} training state; drop --resume or pick another --out"
        )
    model.load_state_dict(obj["state_dict"])
    opt.load_state_dict(state["optimizer"])
    sched.load_state_dict(state["scheduler"])
    torch.set_rng_state(state["torch_rng"])
    log(f"resuming {out} at epoch {state['epoch']}/{epochs}")
    return state["epoch"], state["history"]


def _epoch(model, opt, sched, x_train, y_train, batch: int, gen, on_step) -> float:
    """One epoch over a random permutation with random horizontal flips; returns the mean loss."""
    model.train()
    perm = torch.randperm(len(x_train), generator=gen)
    losses = []
    for i in range(0, len(perm), batch):
        idx = perm[i : i + batch]
        xb, yb = x_train[idx], y_train[idx]
        flip = torch.rand(len(idx), generator=gen) < 0.5
        xb = torch.where(flip[:, None, None, None], xb.flip(-1), xb)
        yb = torch.where(flip[:, None, None], yb.flip(-1), yb)
        logits = model(xb)
        up = F.interpolate(logits, size=xb.shape[-2:], mode="bilinear", align_corners=False)
        loss = F.cross_entropy(up, yb, ignore_index=255)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        losses.append(loss.item())
        on_step(float(np.mean(losses)))
    return float(np.mean(losses))


def _build(arch: str, pretrained: Path | None, log):
    """The model; with ``pretrained`` (a 'hardtool pretrain' or segmentation checkpoint) its encoder
    starts from those weights while the fusion, decoder and classifier start fresh."""
    model = build_model(arch)
    if pretrained is not None:
        from hardtool.pretrain.model import load_encoder

        log(f"encoder from {pretrained}: {load_encoder(model, arch, pretrained)} tensors")
    return model


def train(
    arch: str,
    data: Path,
    out: Path,
    epochs: int,
    batch: int,
    lr: float,
    size: tuple[int, int],
    seed: int = 0,
    resume: bool = False,
    threads: int | None = None,
    log=print,
    pretrained: Path | None = None,
) -> dict:
    """Train ``arch`` and write the checkpoint after every epoch (with optimizer state, to resume)."""
    from rich.progress import Progress

    from hardtool.predict import evaluate_predictor, torch_predictor

    arch = canonical(arch)
    if threads:
        torch.set_num_threads(threads)
    torch.manual_seed(seed)
    x_train, y_train = _load_split(data, "train", size, True, seed)
    model = _build(arch, pretrained, log)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    steps_per_epoch = math.ceil(len(x_train) / batch)
    total = epochs * steps_per_epoch
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: (1 - min(s, total - 1) / total) ** 0.9)
    start_epoch, history = 0, []
    if resume and out.exists():
        start_epoch, history = _resume(out, arch, model, opt, sched, epochs, log)
    gen = torch.Generator().manual_seed(seed + start_epoch)
    info = CheckpointInfo(arch, 19, tuple(size), DEFAULT_MEAN, DEFAULT_STD)
    with Progress() as p:
        task = p.add_task(f"training {arch}", total=total, completed=start_epoch * steps_per_epoch)
        for epoch in range(start_epoch, epochs):
            t0 = time.time()

            def on_step(loss: float, epoch: int = epoch) -> None:
                p.update(task, advance=1, description=f"epoch {epoch + 1}/{epochs} loss {loss:.3f}")

            loss = _epoch(model, opt, sched, x_train, y_train, batch, gen, on_step)
            history.append({"epoch": epoch + 1, "loss": loss, "seconds": time.time() - t0})
            state = {"epoch": epoch + 1, "history": history, "optimizer": opt.state_dict()}
            state |= {"scheduler": sched.state_dict(), "torch_rng": torch.get_rng_state()}
            info.meta = {"trained_on": str(data), "epochs": epoch + 1, "batch": batch, "lr": lr, "seed": seed}
            info.meta.update({"pretrained": str(pretrained)} if pretrained else {})
            save_checkpoint(out, model, info, extra={"train_state": state})
    model.eval()
    sc, _, _ = evaluate_predictor(torch_predictor(model, DEFAULT_MEAN, DEFAULT_STD), data, tuple(size), "val")
    info.meta.update({"val_miou": sc.miou, "history": history})
    save_checkpoint(out, model, info)  # final checkpoint: no optimizer state, small
    return {"checkpoint": str(out), "val_miou": sc.miou, "epochs": epochs, "history": history}


@click.command("train")
@click.option("--arch", default="hard_edge", show_default=True, help=f"One of {', '.join(ARCHS)}.")
@click.option(
    "--data", type=click.Path(path_type=Path), required=True, help="Cityscapes-layout root (train + val)."
)
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Checkpoint to write (.pt).")
@click.option("--epochs", type=int, default=30, show_default=True)
@click.option("--batch", type=int, default=8, show_default=True)
@click.option("--lr", type=float, default=5e-3, show_default=True)
@click.option("--input-size", nargs=2, type=int, default=None, help="H W (default: the variant's).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--threads", type=int, default=None, help="torch CPU threads.")
@click.option(
    "--pretrained",
    type=click.Path(path_type=Path),
    default=None,
    help="Start the encoder from a 'hardtool pretrain' checkpoint (the rest starts fresh).",
)
@click.option("--resume", is_flag=True, help="Continue from the state saved in --out.")
@click.option("--force", is_flag=True, help="Overwrite an existing --out.")
@click.option("--json", "as_json", is_flag=True)
def train_cmd(
    arch, data, out, epochs, batch, lr, input_size, seed, threads, pretrained, resume, force, as_json
) -> None:
    """Train a zoo model (HARD variant or peer) on the CPU; the checkpoint is written after every epoch."""
    arch = canonical(arch)
    if epochs <= 0 or batch <= 0 or lr <= 0:
        raise HardtoolError("--epochs, --batch and --lr must be positive")
    if out.exists() and not (resume or force):
        raise HardtoolError(f"{out} exists; pass --resume to continue training or --force to start over")
    size = tuple(input_size) if input_size else default_input_size(arch)
    res = train(
        arch,
        data,
        out,
        epochs,
        batch,
        lr,
        size,
        seed,
        resume,
        threads,
        log=(lambda *_: None) if as_json else click.echo,
        pretrained=pretrained,
    )
    if as_json:
        click.echo(json_text(res))
    else:
        click.echo(f"wrote {out}: val mIoU {100 * res['val_miou']:.2f}")
