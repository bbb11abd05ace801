"""Predictors (one RGB image → train ids) and the evaluation loop every stage shares, so float,
ONNX, int8 and device predictions are measured with the same code and the same metric."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from hardtool.data.cityscapes import find_samples, load_rgb, load_train_ids, normalize
from hardtool.data.labels import NUM_CLASSES
from hardtool.metrics import SegScores, confusion, scores

# A predictor maps one RGB uint8 image [H, W, 3] (already at the model's input size) to train ids [H, W].
Predictor = Callable[[np.ndarray], np.ndarray]


def torch_predictor(model: torch.nn.Module, mean, std) -> Predictor:
    model = model.eval()

    def predict(rgb: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(normalize(rgb, mean, std))[None]
        with torch.no_grad():
            logits = model(x)
            up = F.interpolate(logits, size=x.shape[-2:], mode="bilinear", align_corners=False)
        return up.argmax(1)[0].numpy().astype(np.uint8)

    return predict


def evaluate_predictor(
    predict: Predictor,
    data: Path,
    size: tuple[int, int],
    split: str = "val",
    limit: int | None = None,
    progress: bool = True,
    label: str = "evaluating",
    keep_predictions: bool = False,
) -> tuple[SegScores, np.ndarray, list[np.ndarray]]:
    """Run ``predict`` over the split; returns scores, the confusion matrix and (optionally) predictions."""
    from rich.progress import Progress

    samples = find_samples(data, split)[:limit]
    cm = np.zeros((NUM_CLASSES, NUM_CLASSES), np.int64)
    preds = []
    with Progress(transient=True, disable=not progress) as p:
        task = p.add_task(label, total=len(samples))
        for s in samples:
            rgb = load_rgb(s.image, size)
            gt = load_train_ids(s, size)
            pred = predict(rgb)
            cm += confusion(gt, pred)
            if keep_predictions:
                preds.append(pred)
            p.advance(task)
    return scores(cm), cm, preds
