"""`hardtool eval`: mIoU of a checkpoint, an ONNX file or an int8 .tflite on a Cityscapes-layout
folder — the same loop and the same metric for every stage, so any stage can be re-measured."""

from __future__ import annotations

from pathlib import Path

import click
import numpy as np

from hardtool.core.errors import HardtoolError
from hardtool.core.files import json_text
from hardtool.data.cityscapes import find_samples
from hardtool.data.labels import class_names
from hardtool.metrics import SegScores
from hardtool.predict import Predictor, evaluate_predictor, torch_predictor


def load_predictor(model_path: Path, arch: str | None = None) -> tuple[Predictor, tuple[int, int], dict]:
    """Predictor for a .pt checkpoint, an .onnx file or an int8 .tflite, with its input size."""
    model_path = Path(model_path)
    suffix = model_path.suffix.lower()
    if suffix in (".onnx", ".tflite"):
        from hardtool.quantize import runtime

        return runtime.load_predictor(model_path)
    from hardtool.models.checkpoint import load_checkpoint

    model, info = load_checkpoint(model_path, arch)
    return (
        torch_predictor(model, info.mean, info.std),
        tuple(info.input_size),
        {"kind": "torch", "arch": info.arch, "mean": info.mean, "std": info.std},
    )


def print_scores(sc: SegScores, title: str) -> None:
    from rich.console import Console
    from rich.table import Table

    t = Table(title=title)
    t.add_column("class")
    t.add_column("IoU", justify="right")
    for name, v in zip(class_names(), sc.iou, strict=True):
        t.add_row(name, "—" if np.isnan(v) else f"{100 * v:.2f}")
    t.add_row("[b]mIoU[/b]", f"[b]{_pct(sc.miou)}[/b]")
    Console().print(t)
    why = "" if sc.pixels else ": no pixel of these images has a valid label, so there is nothing to score"
    click.echo(f"mIoU {_pct(sc.miou)}  pixel acc {_pct(sc.pixel_acc)}  ({sc.pixels} labelled pixels{why})")


def _pct(v: float) -> str:
    """A score in percent, or n/a when it is not a number (no labelled pixel, absent class)."""
    return "n/a" if not np.isfinite(v) else f"{100 * v:.2f}"


@click.command("eval")
@click.argument("model", type=click.Path(path_type=Path))
@click.option("--data", type=click.Path(path_type=Path), required=True, help="Cityscapes-layout root.")
@click.option("--split", default="val", show_default=True)
@click.option("--n", "limit", type=int, default=None, help="Evaluate only the first N images.")
@click.option("--arch", default=None, help="Architecture, for a bare state_dict.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def eval_cmd(model: Path, data: Path, split: str, limit: int | None, arch: str | None, as_json: bool) -> None:
    """mIoU of MODEL (.pt checkpoint, .onnx or int8 .tflite) on DATA."""
    if limit is not None and limit <= 0:
        raise HardtoolError("--n must be at least 1")
    find_samples(data, split)  # fail on the data before loading a model
    predict, size, meta = load_predictor(model, arch)
    sc, cm, _ = evaluate_predictor(predict, data, size, split, limit, progress=not as_json)
    if as_json:
        doc = {"model": str(model), "split": split, "input_size": list(size)}
        click.echo(json_text(doc | sc.as_dict(class_names()) | {"confusion": cm.tolist()}))
    else:
        print_scores(sc, f"{model.name} on {data} ({split})")
