"""Calibration and held-out samples for models that are not hardtool's segmentation nets:
an ImageFolder (one subfolder per class, optionally under train/ and val/) for classifiers, or
any folder of images or ``.npy`` input tensors for everything else.

Images are resized to the model input and normalised with the given mean/std; a ``.npy`` file
is taken as an already preprocessed input of the model's shape ([C, H, W] or [1, C, H, W])."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from hardtool.core.errors import HardtoolError
from hardtool.data.cityscapes import normalize

IMAGE_EXT = {".png", ".jpg", ".jpeg", ".bmp", ".ppm", ".webp"}


@dataclass
class Samples:
    """Preprocessed model inputs: calibration [n, C, H, W], held-out ones and their labels (or None)."""

    calib: np.ndarray
    held: np.ndarray
    labels: list[int] | None = None
    classes: list[str] = field(default_factory=list)
    source: dict = field(default_factory=dict)


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXT | {".npy"})


def load_input(path: Path, shape: tuple[int, int, int], mean, std) -> np.ndarray:
    """One model input [C, H, W] float32 from an image (resized, normalised) or a .npy tensor."""
    from PIL import Image

    c, h, w = shape
    if path.suffix.lower() == ".npy":
        try:
            x = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as e:
            raise HardtoolError(f"{path} is not a readable .npy file ({str(e)[:80]})") from None
        if x.shape not in ((c, h, w), (1, c, h, w)) or x.dtype.kind not in "fiu":
            raise HardtoolError(
                f"{path}: a .npy sample must be the preprocessed model input, shape [{c}, {h}, {w}] or "
                f"[1, {c}, {h}, {w}]; got {list(x.shape)} {x.dtype}"
            )
        return x.reshape(c, h, w).astype(np.float32)
    if c not in (1, 3):
        raise HardtoolError(
            f"the model takes {c} channels; give .npy samples of shape [{c}, {h}, {w}], not images"
        )
    try:
        with Image.open(path) as im:
            im = im.convert("RGB" if c == 3 else "L").resize((w, h), Image.BILINEAR)
            rgb = np.asarray(im, np.uint8).reshape(h, w, c)
    except OSError as e:
        raise HardtoolError(f"{path} is not a readable image ({str(e)[:80]})") from None
    if len(mean) != c or len(std) != c:
        raise HardtoolError(f"--mean/--std need {c} values each for a {c}-channel input")
    return normalize(rgb, mean, std)


def _split(items: list, n_calib: int, n_eval: int | None, what: str) -> tuple[list, list]:
    """A seeded shuffle; the first ``n_calib`` calibrate, the rest (up to ``n_eval``) are held out.
    A folder too small for ``n_calib`` keeps a quarter of its samples (at least one) held out."""
    items = list(items)
    random.Random(0).shuffle(items)
    n_calib = min(n_calib, len(items) - max(1, len(items) // 4))
    if n_calib < 1:
        raise HardtoolError(
            f"{what} has {len(items)} sample(s): at least 2 are needed, one to calibrate and one held "
            "out for the report; add samples"
        )
    return items[:n_calib], items[n_calib:][:n_eval]


def image_folder(root: Path, split: str) -> list[tuple[Path, int]] | None:
    """(file, class index) of an ImageFolder at ``root`` (or ``root/split``), or None if not one."""
    base = root / split if (root / split).is_dir() else root
    classes = sorted(d.name for d in base.iterdir() if d.is_dir() and _files(d)) if base.is_dir() else []
    if len(classes) < 2:
        return None
    return [(f, i) for i, c in enumerate(classes) for f in _files(base / c)]


def classification(root: Path, shape, mean, std, n_calib: int, n_eval: int | None, splits) -> Samples:
    """An ImageFolder: train/ and val/ (``splits``) when both exist, otherwise one folder split."""
    calib_split, eval_split = splits
    if (root / calib_split).is_dir() and (root / eval_split).is_dir():
        tr, ev = image_folder(root, calib_split), image_folder(root, eval_split)
        if not tr or not ev:
            raise HardtoolError(
                f"{root}/{calib_split} and {root}/{eval_split} must each hold class subfolders"
            )
        calib, held = _split(tr, n_calib, 0, f"{root}/{calib_split}")[0], ev[:n_eval]
    else:
        items = image_folder(root, "")
        if not items:
            raise HardtoolError(
                f"{root} is not an ImageFolder: put each class's images in its own subfolder "
                "(ROOT/<class>/*.png, or ROOT/train/<class>/ and ROOT/val/<class>/)"
            )
        calib, held = _split(items, n_calib, n_eval, str(root))
    base = root / eval_split if (root / eval_split).is_dir() else root
    return Samples(
        calib=np.stack([load_input(p, shape, mean, std) for p, _ in calib]),
        held=np.stack([load_input(p, shape, mean, std) for p, _ in held]),
        labels=[c for _, c in held],
        classes=sorted(d.name for d in base.iterdir() if d.is_dir()),
        source={"layout": "ImageFolder", "calibration": len(calib), "held_out": len(held)},
    )


def generic(root: Path, shape, mean, std, n_calib: int, n_eval: int | None) -> Samples:
    """Any folder (searched recursively) of images or .npy model inputs."""
    files = _files(root) if root.is_dir() else []
    if not files:
        raise HardtoolError(
            f"{root} holds no images ({', '.join(sorted(IMAGE_EXT))}) or .npy samples; "
            "point --data at a folder of calibration inputs"
        )
    calib, held = _split(files, n_calib, n_eval if n_eval is not None else 16, str(root))
    return Samples(
        calib=np.stack([load_input(p, shape, mean, std) for p in calib]),
        held=np.stack([load_input(p, shape, mean, std) for p in held]),
        source={"layout": "folder of samples", "calibration": len(calib), "held_out": len(held)},
    )
