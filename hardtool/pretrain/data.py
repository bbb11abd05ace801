"""ImageNet-layout folders (``train/<class>/*.JPEG``, ``val/<class>/*``) read with PIL, following
torchvision's ImageFolder conventions (torchvision cannot be imported beside the CPU torch build
this project uses): class folders sorted by name give the indices, files are walked in sorted
order, torchvision's extension list, images converted to RGB.

Sampling is global and deterministic: one permutation per epoch from (seed, epoch), cut into
global batches; rank r of W takes the r-th contiguous slice of every global batch, cut into
micro-batches. Every random draw is keyed by a sample's or group's position in that global
order, so the run does not depend on the number of processes, and a resumed run continues
exactly where it stopped."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from hardtool.core.errors import HardtoolError

IMG_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")


def find_classes(root: Path) -> list[str]:
    """Class names = sub-folder names, sorted (their index is the label), as torchvision."""
    if not root.is_dir():
        raise HardtoolError(
            f"{root} is not a folder; expected an ImageNet layout with {root.name}/<class>/*.JPEG"
        )
    classes = sorted(e.name for e in os.scandir(root) if e.is_dir())
    if not classes:
        raise HardtoolError(f"no class folders in {root}; expected {root}/<class>/<image>")
    return classes


def make_samples(root: Path, classes: list[str]) -> list[tuple[str, int]]:
    """(path, class index) for every image, classes in index order, files in sorted walk order."""
    samples = []
    empty = []
    for idx, name in enumerate(classes):
        found = 0
        for dirpath, _, files in sorted(os.walk(root / name, followlinks=True)):
            for f in sorted(files):
                if f.lower().endswith(IMG_EXTENSIONS):
                    samples.append((os.path.join(dirpath, f), idx))
                    found += 1
        if not found:
            empty.append(name)
    if empty:
        raise HardtoolError(
            f"no images in {len(empty)} class folder(s) of {root} (first: {empty[0]}); "
            f"allowed extensions: {', '.join(IMG_EXTENSIONS)}"
        )
    return samples


@dataclass
class Split:
    root: Path
    classes: list[str]
    samples: list[tuple[str, int]]


def read_layout(data: Path) -> tuple[Split, Split]:
    """The train and val splits; val must have the same classes as train."""
    data = Path(data)
    tr_cls = find_classes(data / "train")
    va_root = data / "val"
    va_cls = find_classes(va_root)
    if va_cls != tr_cls:
        extra = sorted(set(va_cls) ^ set(tr_cls))
        raise HardtoolError(
            f"{va_root} and {data / 'train'} hold different class folders ({len(va_cls)} vs {len(tr_cls)}; "
            f"first difference: {extra[0] if extra else 'order'}); val needs one folder per training class"
        )
    return Split(data / "train", tr_cls, make_samples(data / "train", tr_cls)), Split(
        va_root, tr_cls, make_samples(va_root, tr_cls)
    )


def load_rgb(path: str) -> torch.Tensor:
    """[3, H, W] float in [0, 1]."""
    try:
        with Image.open(path) as im:
            arr = np.asarray(im.convert("RGB"), dtype=np.uint8)
    except Exception as e:  # noqa: BLE001 - every unreadable image is the same user error
        raise HardtoolError(f"cannot read image {path} ({type(e).__name__}); remove or replace it") from None
    return torch.from_numpy(arr.copy()).permute(2, 0, 1).float().div_(255)


def val_image(path: str, crop: int, crop_pct: float) -> torch.Tensor:
    """Resize the short side to crop / crop_pct (bilinear, antialiased), centre-crop ``crop``."""
    short = int(crop / crop_pct)
    with Image.open(path) as im:
        im = im.convert("RGB")
        w, h = im.size
        s = short / min(w, h)
        im = im.resize((max(crop, round(w * s)), max(crop, round(h * s))), Image.BILINEAR)
        w, h = im.size
        left, top = (w - crop) // 2, (h - crop) // 2
        arr = np.asarray(im.crop((left, top, left + crop, top + crop)), dtype=np.uint8)
    return torch.from_numpy(arr.copy()).permute(2, 0, 1).float().div_(255)


def mix_seed(*parts: int) -> int:
    """A 63-bit seed from integers (splitmix64 steps): distinct parts give unrelated streams."""
    h = 0x9E3779B97F4A7C15
    for p in parts:
        h = (h ^ (int(p) & 0xFFFFFFFFFFFFFFFF)) * 0xBF58476D1CE4E5B9 & 0xFFFFFFFFFFFFFFFF
        h = (h ^ (h >> 27)) * 0x94D049BB133111EB & 0xFFFFFFFFFFFFFFFF
        h ^= h >> 31
    return h & 0x7FFFFFFFFFFFFFFF


class TrainSet(torch.utils.data.Dataset):
    """Keys are (sample index, seed): the seed fixes the image's RandomResizedCrop."""

    def __init__(self, split: Split, crop: int, scale, ratio):
        self.split, self.crop, self.scale, self.ratio = split, crop, tuple(scale), tuple(ratio)

    def __len__(self) -> int:
        return len(self.split.samples)

    def __getitem__(self, key: tuple[int, int]) -> tuple[torch.Tensor, int]:
        from hardtool.pretrain.augment import random_resized_crop

        idx, seed = key
        path, label = self.split.samples[idx]
        return random_resized_crop(load_rgb(path), self.crop, self.scale, self.ratio, seed), label


class ValSet(torch.utils.data.Dataset):
    def __init__(self, split: Split, crop: int, crop_pct: float):
        self.split, self.crop, self.crop_pct = split, crop, crop_pct

    def __len__(self) -> int:
        return len(self.split.samples)

    def __getitem__(self, idx: int) -> tuple[torch.Tensor, int]:
        path, label = self.split.samples[idx]
        try:
            return val_image(path, self.crop, self.crop_pct), label
        except OSError as e:
            raise HardtoolError(
                f"cannot read image {path} ({type(e).__name__}); remove or replace it"
            ) from None


@dataclass(frozen=True)
class Plan:
    """How one epoch is cut: ``batch`` images per optimizer step over all ranks, ``micro`` per forward."""

    n: int
    batch: int
    micro: int
    world: int
    rank: int

    @property
    def steps(self) -> int:
        return self.n // self.batch  # the last partial global batch is dropped

    @property
    def local(self) -> int:
        return self.batch // self.world

    @property
    def micro_per_step(self) -> int:
        return self.local // self.micro


def epoch_order(n: int, seed: int, epoch: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(mix_seed(seed, epoch, 0x5EED))
    return torch.randperm(n, generator=g)


def local_micro_batches(
    plan: Plan, order: torch.Tensor, seed: int, epoch: int, step: int
) -> list[list[tuple[int, int]]]:
    """This rank's micro-batches of global step ``step``: lists of (sample index, crop seed)."""
    start = step * plan.batch + plan.rank * plan.local
    out = []
    for j in range(plan.micro_per_step):
        pos = range(start + j * plan.micro, start + (j + 1) * plan.micro)
        out.append([(int(order[p]), mix_seed(seed, epoch, p, 0xC209)) for p in pos])
    return out


class StepSampler(torch.utils.data.Sampler):
    """Yields this rank's micro-batches for steps ``first..plan.steps-1`` of one epoch."""

    def __init__(self, plan: Plan, seed: int, epoch: int, first: int = 0):
        self.plan, self.seed, self.epoch, self.first = plan, seed, epoch, first

    def __len__(self) -> int:
        return (self.plan.steps - self.first) * self.plan.micro_per_step

    def __iter__(self):
        order = epoch_order(self.plan.n, self.seed, self.epoch)
        for step in range(self.first, self.plan.steps):
            yield from local_micro_batches(self.plan, order, self.seed, self.epoch, step)
