"""Confusion-matrix mIoU over the 19 Cityscapes train classes (ignore = 255), computed the way
cityscapesscripts' pixel-level evaluation does: IoU = TP / (TP + FP + FN) per class, classes
that occur in neither ground truth nor prediction are left out of the mean (NaN)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hardtool.data.labels import IGNORE, NUM_CLASSES


def confusion(gt: np.ndarray, pred: np.ndarray, num_classes: int = NUM_CLASSES) -> np.ndarray:
    """[num_classes, num_classes] int64 counts, rows = ground truth, columns = prediction."""
    gt = np.asarray(gt).ravel().astype(np.int64)
    pred = np.asarray(pred).ravel().astype(np.int64)
    if gt.shape != pred.shape:
        raise ValueError(f"prediction has {pred.size} pixels, ground truth {gt.size}")
    keep = gt != IGNORE
    gt, pred = gt[keep], pred[keep]
    if pred.size and (pred.min() < 0 or pred.max() >= num_classes):
        raise ValueError(
            f"predictions must be train ids in [0, {num_classes}); got {pred.min()}..{pred.max()}"
        )
    return np.bincount(gt * num_classes + pred, minlength=num_classes**2).reshape(num_classes, num_classes)


def iou_per_class(cm: np.ndarray) -> np.ndarray:
    tp = np.diag(cm).astype(np.float64)
    denom = cm.sum(0) + cm.sum(1) - tp
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denom > 0, tp / np.maximum(denom, 1), np.nan)


def miou(cm: np.ndarray) -> float:
    iou = iou_per_class(cm)
    return float(np.nanmean(iou)) if np.isfinite(iou).any() else float("nan")


@dataclass
class SegScores:
    miou: float
    iou: list[float]
    pixel_acc: float
    pixels: int

    def as_dict(self, names: list[str] | None = None) -> dict:
        d = {"miou": self.miou, "pixel_acc": self.pixel_acc, "pixels": self.pixels}
        d["iou"] = dict(zip(names, self.iou, strict=True)) if names else self.iou
        return d


def scores(cm: np.ndarray) -> SegScores:
    total = int(cm.sum())
    return SegScores(
        miou(cm),
        [float(v) for v in iou_per_class(cm)],
        float(np.trace(cm) / total) if total else float("nan"),
        total,
    )
