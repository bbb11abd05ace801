"""`quantize` as a function from files to files: INPUT (checkpoint / .onnx / .tflite) + images →
out/{model.onnx, model_int8.tflite, quant_report.json}, written atomically."""

from __future__ import annotations

import hashlib
import platform
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from hardtool.data.cityscapes import find_samples, load_rgb, normalize
from hardtool.data.labels import class_names
from hardtool.errors import HardtoolError
from hardtool.fsutil import atomic_dir, atomic_write_json, check_clobber


def _versions() -> dict:
    import importlib.metadata as md

    out = {"python": platform.python_version()}
    for pkg in ("torch", "onnx", "onnxruntime", "onnx2tf", "tensorflow", "numpy"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            out[pkg] = None
    import hardtool

    out["hardtool"] = hardtool.__version__
    return out


def calibration_images(data: Path, split: str, n: int, size: tuple[int, int], mean, std) -> np.ndarray:
    """The first ``n`` images of the split, preprocessed exactly as for evaluation: [n, 3, H, W]."""
    if n <= 0:
        raise HardtoolError("--calib-images must be at least 1")
    samples = find_samples(data, split, need_labels=False)[:n]
    return np.stack([normalize(load_rgb(s.image, size), mean, std) for s in samples])


def quantize(
    input_path: Path,
    data: Path,
    out: Path,
    calib_images: int = 64,
    input_size: tuple[int, int] | None = None,
    arch: str | None = None,
    calib_split: str = "train",
    eval_split: str = "val",
    eval_images: int | None = None,
    force: bool = False,
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> dict:
    """Run the whole quantisation path and return the report (also written to quant_report.json)."""
    from rich.progress import Progress

    from hardtool.evaluate import evaluate_predictor, torch_predictor
    from hardtool.quantize import convert, export, runtime, validate

    input_path, data, out = Path(input_path), Path(data), Path(out)
    if not input_path.exists():
        raise HardtoolError(f"input {input_path} not found")
    check_clobber(out, force)
    find_samples(data, eval_split)  # fail on the data before any slow step
    kind = {".onnx": "onnx", ".tflite": "tflite"}.get(input_path.suffix.lower(), "checkpoint")
    timings: dict[str, float] = {}
    report: dict = {"input": str(input_path), "input_kind": kind, "data": str(data)}

    def timed(name: str, fn, *a, **kw):
        t0 = time.perf_counter()
        r = fn(*a, **kw)
        timings[name] = round(time.perf_counter() - t0, 3)
        return r

    with atomic_dir(out, force=force) as tmp, Progress(transient=True, disable=not progress) as bar:
        model = None
        meta: dict = {}
        if kind == "tflite":
            hist = validate.check_int8_graph(input_path)
            shutil.copyfile(input_path, tmp / "model_int8.tflite")
            size = runtime.Int8Model(tmp / "model_int8.tflite").input_size
        else:
            if kind == "checkpoint":
                from hardtool.models.checkpoint import load_checkpoint

                model, info = timed("load", load_checkpoint, input_path, arch)
                size = tuple(input_size or info.input_size)
                mean, std = info.mean, info.std
                meta = {"arch": info.arch, "num_classes": info.num_classes}
                timed("export_onnx", export.export_onnx, model, size, tmp / "model.onnx")
            else:
                m = export.load_onnx(input_path)
                size = export.onnx_input_size(m)
                if input_size and tuple(input_size) != size:
                    raise HardtoolError(
                        f"{input_path.name} has a fixed input of {size[0]}×{size[1]}; drop --input-size"
                    )
                from hardtool.models.checkpoint import DEFAULT_MEAN, DEFAULT_STD

                mean, std = DEFAULT_MEAN, DEFAULT_STD
                shutil.copyfile(input_path, tmp / "model.onnx")
            calib = calibration_images(data, calib_split, calib_images, size, mean, std)
            report["calibration"] = {
                "split": calib_split,
                "images": int(len(calib)),
                "input_size": list(size),
                "mean": list(mean),
                "std": list(std),
                "method": "TFLiteConverter representative dataset",
            }
            if model is not None:
                report["onnx_check"] = timed(
                    "onnx_check", export.compare_with_torch, model, tmp / "model.onnx", calib[:4]
                )
            task = bar.add_task("calibrating", total=len(calib))
            flat, report["canonicalized_ops"], steps = convert.onnx_to_int8(
                tmp / "model.onnx",
                tmp,
                calib,
                {"mean": list(mean), "std": list(std), "input_size": list(size), **meta},
                lambda: bar.advance(task),
            )
            timings.update(steps)
            (tmp / "model_int8.tflite").write_bytes(flat)
            hist = validate.check_int8_graph(tmp / "model_int8.tflite")
        validate.check_tail(tmp / "model_int8.tflite")

        names = class_names()
        evals = {}
        int8 = runtime.Int8Model(tmp / "model_int8.tflite")
        if model is not None:
            sc, _, _ = timed(
                "eval_float",
                evaluate_predictor,
                torch_predictor(model, int8.mean, int8.std),
                data,
                size,
                eval_split,
                eval_images,
                progress,
                "float (torch)",
            )
            evals["float"] = sc.as_dict(names)
        if kind != "tflite":
            onnx_pred = runtime.OnnxModel(tmp / "model.onnx", int8.mean, int8.std)
            sc, _, _ = timed(
                "eval_onnx",
                evaluate_predictor,
                onnx_pred,
                data,
                size,
                eval_split,
                eval_images,
                progress,
                "onnx (onnxruntime)",
            )
            evals["onnx"] = sc.as_dict(names)
        sc, _, _ = timed(
            "eval_int8",
            evaluate_predictor,
            int8,
            data,
            size,
            eval_split,
            eval_images,
            progress,
            "int8 (TFLite reference kernels)",
        )
        evals["int8"] = sc.as_dict(names)
        ref = evals.get("float") or evals.get("onnx")
        report.update(
            {
                "eval": {
                    "split": eval_split,
                    "images": len(find_samples(data, eval_split)[:eval_images]),
                    **evals,
                },
                "miou_drop": (ref["miou"] - evals["int8"]["miou"]) if ref else None,
                "ops": hist,
                "model_bytes": (tmp / "model_int8.tflite").stat().st_size,
                "model_sha256": hashlib.sha256((tmp / "model_int8.tflite").read_bytes()).hexdigest(),
                "input_quant": {
                    "size": list(size),
                    "scale": float(int8.scale),
                    "zero_point": int(int8.zero_point),
                },
                "timings_s": timings,
                "versions": _versions(),
            }
        )
        atomic_write_json(tmp / "quant_report.json", report)
    return report


def _random_bn_stats(model):
    """BN statistics that are not the identity, so the folded weights look like a trained net's."""
    import torch

    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 2.0)
    return model


def zoo_tflite(
    arch: str,
    input_size: tuple[int, int],
    out_dir: Path,
    seed: int = 0,
    calib_images: int = 8,
    dtype: str = "int8",
) -> Path:
    """A .tflite of a zoo model (HARD variant or peer) with seeded random weights: full int8
    calibrated on synthetic scenes, or ``dtype="float32"`` for the float reference of the same
    graph.

    For tests and benchmarks of later stages (memory plans, kernels) where the graph's shape
    matters, not its accuracy. Cached: an existing file is returned as is."""
    import torch

    from hardtool.data.synth import generate
    from hardtool.models.checkpoint import DEFAULT_MEAN, DEFAULT_STD
    from hardtool.models.registry import build_model, canonical
    from hardtool.quantize import convert, export

    if dtype not in ("int8", "float32"):
        raise HardtoolError(f"dtype must be int8 or float32, not {dtype}")
    arch = canonical(arch)
    out_dir = Path(out_dir)
    path = out_dir / f"{arch}_{input_size[0]}x{input_size[1]}_{dtype}.tflite"
    if path.is_file():
        return path
    out_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    model = _random_bn_stats(build_model(arch).eval())
    work = out_dir / f".{path.stem}-work"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    try:
        data = work / "data"
        generate(data, calib_images, seed, ("train",), (max(64, input_size[0]), max(64, input_size[1])))
        calib = calibration_images(data, "train", calib_images, input_size, DEFAULT_MEAN, DEFAULT_STD)
        export.export_onnx(model, input_size, work / "model.onnx")
        flat, _, _ = convert.onnx_to_tflite(
            work / "model.onnx",
            work,
            calib,
            {
                "mean": list(DEFAULT_MEAN),
                "std": list(DEFAULT_STD),
                "input_size": list(input_size),
                "arch": arch,
                "weights": f"random seed {seed}",
            },
            int8=dtype == "int8",
        )
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(flat)
        tmp.replace(path)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return path
