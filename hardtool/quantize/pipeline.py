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

from hardtool.core.boards import targets
from hardtool.core.errors import HardtoolError
from hardtool.core.files import atomic_files, atomic_write_json, check_input_file
from hardtool.core.resources import available_memory
from hardtool.data.cityscapes import find_samples, load_rgb, normalize
from hardtool.data.labels import class_names


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


MIN_SIDE = 32  # the network's deepest branch works at 1/32 of the input


def check_input_size(size: tuple[int, int], allow_large: bool = False, source: str = "--input-size") -> None:
    """Refuse, before anything is allocated, sizes the network cannot take (under 32 pixels) and,
    unless ``allow_large``, inputs whose int8 image alone exceeds the RAM of every known target."""
    h, w = (int(v) for v in size)
    if h < MIN_SIDE or w < MIN_SIDE:
        raise HardtoolError(
            f"{source} {h} {w}: height and width must be at least {MIN_SIDE} pixels "
            "(the network works down to 1/32 of its input)"
        )
    biggest = max(targets().values(), key=lambda t: t.ram_bytes)
    if h * w * 3 > biggest.ram_bytes and not allow_large:
        raise HardtoolError(
            f"{source} {h} {w}: the int8 input image alone takes {h * w * 3:,} B, more than the RAM of any "
            f"target hardtool knows ({biggest.name}: {biggest.ram_bytes:,} B); choose a smaller size, or pass "
            "--allow-large-input if you mean it"
        )
    need, have = (
        h * w * 3 * 4,
        available_memory(),
    )  # at least one float32 input image, checked before it is made
    if have is not None and need > have:
        raise HardtoolError(
            f"{source} {h} {w}: one float32 input image alone needs {need:,} B of memory, more than this "
            f"machine has available ({have:,} B); choose a smaller size"
        )


def calibration_images(data: Path, split: str, n: int, size: tuple[int, int], mean, std) -> np.ndarray:
    """The first ``n`` images of the split, preprocessed exactly as for evaluation: [n, 3, H, W]."""
    if n <= 0:
        raise HardtoolError("--calib-images must be at least 1")
    samples = find_samples(data, split, need_labels=False)[:n]
    return np.stack([normalize(load_rgb(s.image, size), mean, std) for s in samples])


class _Timer:
    """Seconds per named step, for the report."""

    def __init__(self) -> None:
        self.timings: dict[str, float] = {}

    def __call__(self, name: str, fn, *a, **kw):
        t0 = time.perf_counter()
        r = fn(*a, **kw)
        self.timings[name] = round(time.perf_counter() - t0, 3)
        return r


def _source(
    input_path: Path, kind: str, arch: str | None, input_size, tmp: Path, timed: _Timer, allow_large: bool
) -> dict:
    """The float model (torch, if a checkpoint) as model.onnx in ``tmp``, its input size and preprocessing."""
    from hardtool.models.checkpoint import DEFAULT_MEAN, DEFAULT_STD, load_checkpoint
    from hardtool.quantize import export

    if kind == "checkpoint":
        model, info = timed("load", load_checkpoint, input_path, arch)
        size = tuple(input_size or info.input_size)
        if not input_size:
            check_input_size(size, allow_large, "the checkpoint's input size")
        timed("export_onnx", export.export_onnx, model, size, tmp / "model.onnx")
        meta = {"arch": info.arch, "num_classes": info.num_classes}
        return {"model": model, "size": size, "mean": info.mean, "std": info.std, "meta": meta}
    m = export.load_onnx(input_path)
    size = export.onnx_input_size(m)
    check_input_size(size, allow_large, f"{input_path.name}'s input size")
    if input_size and tuple(input_size) != size:
        raise HardtoolError(f"{input_path.name} has a fixed input of {size[0]}×{size[1]}; drop --input-size")
    shutil.copyfile(input_path, tmp / "model.onnx")
    return {"model": None, "size": size, "mean": DEFAULT_MEAN, "std": DEFAULT_STD, "meta": {}}


FLOAT_NAME = "model_float32.tflite"  # written beside model_int8.tflite with keep_float


def _convert(
    src: dict,
    data: Path,
    calib_split: str,
    calib_images: int,
    tmp: Path,
    bar,
    timed: _Timer,
    keep_float: bool = False,
) -> dict:
    """model.onnx → model_int8.tflite, calibrated (and model_float32.tflite from the same SavedModel
    with ``keep_float``); returns the report's calibration / conversion entries."""
    from hardtool.quantize import convert, export

    size, mean, std = src["size"], src["mean"], src["std"]
    calib = calibration_images(data, calib_split, calib_images, size, mean, std)
    report: dict = {
        "calibration": {
            "split": calib_split,
            "images": int(len(calib)),
            "input_size": list(size),
            "mean": list(mean),
            "std": list(std),
            "method": "TFLiteConverter representative dataset",
        }
    }
    if src["model"] is not None:
        report["onnx_check"] = timed(
            "onnx_check", export.compare_with_torch, src["model"], tmp / "model.onnx", calib[:4]
        )
    task = bar.add_task("calibrating", total=len(calib))
    info = {"mean": list(mean), "std": list(std), "input_size": list(size), **src["meta"]}
    dtypes = ("int8", "float32") if keep_float else ("int8",)
    flats, report["canonicalized_ops"], steps = convert.onnx_to_tflites(
        tmp / "model.onnx", tmp, calib, info, lambda: bar.advance(task), dtypes
    )
    timed.timings.update(steps)
    (tmp / "model_int8.tflite").write_bytes(flats["int8"])
    if keep_float:
        (tmp / FLOAT_NAME).write_bytes(flats["float32"])
        report["float_model"] = {
            "file": FLOAT_NAME,
            "bytes": len(flats["float32"]),
            "sha256": hashlib.sha256(flats["float32"]).hexdigest(),
            "note": "the same graph unquantised (float32 builtins), for planning and comparison",
        }
    return report


def _evaluate(
    model, kind: str, tmp: Path, data: Path, size, split: str, n: int | None, progress: bool, timed
) -> dict:
    """mIoU of the float (torch), ONNX (onnxruntime) and int8 (TFLite reference kernels) models."""
    from hardtool.predict import evaluate_predictor, torch_predictor
    from hardtool.quantize import runtime

    int8 = runtime.Int8Model(tmp / "model_int8.tflite")
    predictors = {}
    if model is not None:
        predictors["float"] = (torch_predictor(model, int8.mean, int8.std), "float (torch)")
    if kind != "tflite":
        predictors["onnx"] = (
            runtime.OnnxModel(tmp / "model.onnx", int8.mean, int8.std),
            "onnx (onnxruntime)",
        )
    predictors["int8"] = (int8, "int8 (TFLite reference kernels)")
    evals = {}
    for name, (pred, label) in predictors.items():
        sc, _, _ = timed(f"eval_{name}", evaluate_predictor, pred, data, size, split, n, progress, label)
        evals[name] = sc.as_dict(class_names())
    return evals


def _final_report(tmp: Path, evals: dict, hist: dict, size, split: str, n_images: int, timings: dict) -> dict:
    from hardtool.quantize.runtime import Int8Model

    int8 = Int8Model(tmp / "model_int8.tflite")
    ref = evals.get("float") or evals.get("onnx")
    flat = (tmp / "model_int8.tflite").read_bytes()
    return {
        "eval": {"split": split, "images": n_images, **evals},
        "miou_drop": (ref["miou"] - evals["int8"]["miou"]) if ref else None,
        "ops": hist,
        "model_bytes": len(flat),
        "model_sha256": hashlib.sha256(flat).hexdigest(),
        "input_quant": {"size": list(size), "scale": float(int8.scale), "zero_point": int(int8.zero_point)},
        "timings_s": timings,
        "versions": _versions(),
    }


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
    allow_large_input: bool = False,
    keep_float: bool = False,
) -> dict:
    """Run the whole quantisation path and return the report (also written to quant_report.json).
    With ``keep_float`` the float32 TFLite of the same graph is written too (model_float32.tflite).
    Only OUT's model.onnx, model_int8.tflite, quant_report.json (and model_float32.tflite) are
    replaced (with ``force``); other files there (plans, projects) are left alone."""
    from rich.progress import Progress

    from hardtool.quantize import runtime, validate

    input_path, data, out = Path(input_path), Path(data), Path(out)
    check_input_file(input_path, "input", "a checkpoint (.pt), an .onnx or an int8 .tflite file")
    if input_size:
        check_input_size(input_size, allow_large_input)
    n_eval = len(find_samples(data, eval_split)[:eval_images])  # fail on the data before any slow step
    kind = {".onnx": "onnx", ".tflite": "tflite"}.get(input_path.suffix.lower(), "checkpoint")
    if keep_float and kind == "tflite":
        raise HardtoolError(
            f"--keep-float needs a checkpoint or an .onnx input: {input_path.name} is already a TFLite "
            "model, with no float graph to keep"
        )
    timed = _Timer()
    report: dict = {"input": str(input_path), "input_kind": kind, "data": str(data)}
    names = ("model_int8.tflite", "quant_report.json") + (("model.onnx",) if kind != "tflite" else ())
    names += (FLOAT_NAME,) if keep_float else ()
    with atomic_files(out, names, force) as tmp, Progress(transient=True, disable=not progress) as bar:
        model = None
        if kind == "tflite":
            shutil.copyfile(input_path, tmp / "model_int8.tflite")
            size = runtime.Int8Model(tmp / "model_int8.tflite").input_size
        else:
            src = _source(input_path, kind, arch, input_size, tmp, timed, allow_large_input)
            model, size = src["model"], src["size"]
            report |= _convert(src, data, calib_split, calib_images, tmp, bar, timed, keep_float)
        hist = validate.check_int8_graph(tmp / "model_int8.tflite")
        validate.check_tail(tmp / "model_int8.tflite")
        evals = _evaluate(model, kind, tmp, data, size, eval_split, eval_images, progress, timed)
        report |= _final_report(tmp, evals, hist, size, eval_split, n_eval, timed.timings)
        atomic_write_json(tmp / "quant_report.json", report)
    return report


def random_bn_stats(model):
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
    model = random_bn_stats(build_model(arch).eval())
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
