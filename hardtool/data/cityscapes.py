"""Reader for the official Cityscapes layout:
``leftImg8bit/{split}/{city}/*_leftImg8bit.png`` with ``gtFine/{split}/{city}/*_gtFine_labelIds.png``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from hardtool.core.errors import HardtoolError
from hardtool.data.labels import id_to_train_lut

IMG_SUFFIX = "_leftImg8bit.png"
GT_SUFFIX = "_gtFine_labelIds.png"


@dataclass(frozen=True)
class Sample:
    image: Path
    label: Path | None


def find_samples(root: Path, split: str = "val", need_labels: bool = True) -> list[Sample]:
    """Pairs of image and label files, sorted; one clear error for every way the folder is wrong."""
    root = Path(root)
    if not root.is_dir():
        raise HardtoolError(
            f"data folder {root} does not exist; point --data at a Cityscapes root "
            f"(or make one: hardtool data synth --out {root})"
        )
    img_dir = root / "leftImg8bit" / split
    images = sorted(img_dir.glob(f"*/*{IMG_SUFFIX}"))
    if not images:
        raise HardtoolError(
            f"no images in {img_dir}/<city>/*{IMG_SUFFIX}; expected the official Cityscapes "
            f"layout (or generate one: hardtool data synth --out {root})"
        )
    out = []
    for ip in images:
        lp = root / "gtFine" / split / ip.parent.name / (ip.name[: -len(IMG_SUFFIX)] + GT_SUFFIX)
        if not lp.is_file():
            if need_labels:
                raise HardtoolError(
                    f"label {lp} missing for image {ip.name}; every image needs its *{GT_SUFFIX}"
                )
            lp = None
        out.append(Sample(ip, lp))
    return out


def _open(path: Path, mode: str) -> Image.Image:
    try:
        im = Image.open(path)
        im.load()
    except (UnidentifiedImageError, OSError) as e:
        raise HardtoolError(f"cannot read image {path} ({e}); replace or remove the file") from None
    return im.convert(mode) if im.mode != mode else im


def load_rgb(path: Path, size: tuple[int, int] | None = None) -> np.ndarray:
    """RGB uint8 [H, W, 3], bilinearly resized to ``size`` = (H, W) when given."""
    im = _open(path, "RGB")
    if size is not None and im.size != (size[1], size[0]):
        im = im.resize((size[1], size[0]), Image.BILINEAR)
    return np.asarray(im, dtype=np.uint8)


def load_train_ids(sample: Sample, size: tuple[int, int] | None = None) -> np.ndarray:
    """Label map in train ids (ignore = 255), nearest-resized to ``size``; sizes must match the image."""
    assert sample.label is not None
    lab = _open(sample.label, "L")
    with Image.open(sample.image) as im:
        isize = im.size
    if lab.size != isize:
        raise HardtoolError(
            f"label {sample.label.name} is {lab.size[0]}×{lab.size[1]} but its image is "
            f"{isize[0]}×{isize[1]}; labels must have the image's size"
        )
    if size is not None and lab.size != (size[1], size[0]):
        lab = lab.resize((size[1], size[0]), Image.NEAREST)
    return id_to_train_lut()[np.asarray(lab, dtype=np.uint8)]


def normalize(rgb: np.ndarray, mean, std) -> np.ndarray:
    """uint8 HWC → float32 CHW, (x/255 - mean) / std: the preprocessing of train, eval and calibration."""
    x = rgb.astype(np.float32) / 255.0
    x = (x - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)
    return np.ascontiguousarray(x.transpose(2, 0, 1))


class SegDataset:
    """Indexable (image CHW float32 normalised, train-id label HW int64) pairs at the model input size."""

    def __init__(
        self,
        root: Path,
        split: str,
        size: tuple[int, int],
        mean,
        std,
        augment: bool = False,
        seed: int = 0,
        limit: int | None = None,
    ):
        self.samples = find_samples(root, split)[:limit]
        self.size, self.mean, self.std, self.augment = tuple(size), mean, std, augment
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return len(self.samples)

    def raw(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        s = self.samples[i]
        return load_rgb(s.image, self.size), load_train_ids(s, self.size)

    def __getitem__(self, i: int):
        rgb, lab = self.raw(i)
        if self.augment and self.rng.random() < 0.5:
            rgb, lab = rgb[:, ::-1], lab[:, ::-1]
        return normalize(rgb, self.mean, self.std), np.ascontiguousarray(lab).astype(np.int64)
