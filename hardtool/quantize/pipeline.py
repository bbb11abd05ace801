"""`quantize` as a function from files to files: INPUT (checkpoint / .onnx / .tflite) + images →
out/{model.onnx, model_int8.tflite, quant_report.json}, written atomically."""

from __future__ import annotations

import hashlib
import platform
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hardtool.core.boards import targets
from hardtool.core.errors import HardtoolError
from hardtool.core.files import atomic_files, atomic_write_json, check_input_file
from hardtool.core.resources import available_memory
from hardtool.data.cityscapes import find_samples, load_rgb, normalize
from hardtool.data.labels import class_names
from hardtool.quantize.samples import Samples


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


def check_input_size(
    size: tuple[int, int], allow_large: bool = False, source: str = "--input-size", min_side: int = MIN_SIDE
) -> None:
    """Refuse, before anything is allocated, sizes the network cannot take (hardtool's nets: under
    32 pixels) and, unless ``allow_large``, inputs whose int8 image alone exceeds the RAM of every
    known target."""
    h, w = (int(v) for v in size)
    if h < min_side or w < min_side:
        raise HardtoolError(
            f"{source} {h} {w}: height and width must be at least {min_side} pixels "
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


TASKS = ("seg", "cls", "generic")
TAILS = ("argmax", "none")


@dataclass
class Job:
    """What the user asked for, resolved where it can be before any slow step."""

    kind: str
    calib_images: int = 64
    input_size: tuple[int, int] | None = None
    arch: str | None = None
    calib_split: str = "train"
    eval_split: str = "val"
    eval_images: int | None = None
    allow_large: bool = False
    keep_float: bool = False
    task: str | None = None
    tail: str | None = None
    float_io: bool = False
    mean: tuple | None = None
    std: tuple | None = None
    min_cosine: float = 0.98


def _check_job(job: Job) -> None:
    if job.task is not None and job.task not in TASKS:
        raise HardtoolError(f"--task must be one of {', '.join(TASKS)}, not {job.task}")
    if job.tail is not None and job.tail not in TAILS:
        raise HardtoolError(f"--tail must be one of {', '.join(TAILS)}, not {job.tail}")
    if job.kind == "checkpoint" and job.task not in (None, "seg"):
        raise HardtoolError("a hardtool checkpoint is a segmentation model: drop --task or use --task seg")
    if job.kind == "tflite" and (job.tail or job.float_io or job.keep_float):
        flag = "--tail" if job.tail else "--float-io" if job.float_io else "--keep-float"
        raise HardtoolError(
            f"{flag} needs a checkpoint or an .onnx input: a .tflite is already converted, with no float "
            "graph to change or keep"
        )
    if not 0.0 <= job.min_cosine <= 1.0:
        raise HardtoolError(f"--min-cosine must be between 0 and 1, not {job.min_cosine}")
    if (job.mean is None) != (job.std is None):
        raise HardtoolError("give --mean and --std together")
    if job.mean is not None and (len(job.mean) != len(job.std) or min(abs(v) for v in job.std) == 0):
        raise HardtoolError("--mean and --std need one value per channel each, and no zero std")


def _infer_task(kind: str, out_shape: list, integer_out: bool) -> str:
    """seg for hardtool checkpoints and label maps, cls for [1, N] outputs, else generic."""
    if kind == "checkpoint" or (integer_out and len(out_shape) == 3):
        return "seg"
    return "cls" if len(out_shape) == 2 else "generic"


def _source_checkpoint(job: Job, input_path: Path, tmp: Path, timed: _Timer) -> dict:
    """The checkpoint's float model exported as tmp/model.onnx (with the argmax tail by default)."""
    import onnx

    from hardtool.models.checkpoint import load_checkpoint
    from hardtool.quantize import export

    model, info = timed("load", load_checkpoint, input_path, job.arch)
    size = tuple(job.input_size or info.input_size)
    if not job.input_size:
        check_input_size(size, job.allow_large, "the checkpoint's input size")
    job.tail = job.tail or "argmax"
    timed("export_onnx", export.export_onnx, model, size, tmp / "model.onnx", job.tail == "argmax")
    return {
        "model": model,
        "onnx": onnx.load(str(tmp / "model.onnx")),
        "size": size,
        "channels": 3,
        "mean": tuple(job.mean or info.mean),
        "std": tuple(job.std or info.std),
        "meta": {"arch": info.arch, "num_classes": info.num_classes},
        "task": "seg",
    }


def _source_onnx(job: Job, input_path: Path) -> dict:
    """The user's ONNX with its one input fixed to [1, C, H, W]; task and tail resolved."""
    from hardtool.models.checkpoint import DEFAULT_MEAN, DEFAULT_STD
    from hardtool.quantize import export, onnx_prep

    m = export.load_onnx(input_path)
    size = onnx_prep.fix_input(m, input_path.name, job.input_size)
    check_input_size(size, job.allow_large, f"{input_path.name}'s input size", min_side=1)
    channels = onnx_prep.graph_inputs(m)[0].type.tensor_type.shape.dim[1].dim_value
    shape = onnx_prep.output_shape(m)
    job.tail = job.tail or "none"
    task = job.task or ("seg" if job.tail == "argmax" else _infer_task("onnx", shape, False))
    if task == "seg" and len(shape) == 4 and shape[1] != len(class_names()):
        raise HardtoolError(
            f"--task seg scores Cityscapes' {len(class_names())} classes, but {input_path.name} outputs "
            f"{shape[1]} channels; use --task generic (float vs int8 outputs) for other label sets"
        )
    mean = job.mean or (DEFAULT_MEAN if channels == 3 else (0.0,) * channels)
    std = job.std or (DEFAULT_STD if channels == 3 else (1.0,) * channels)
    return {"model": None, "onnx": m, "size": size, "channels": channels, "mean": tuple(mean),
            "std": tuple(std), "meta": {"source": input_path.name}, "task": task}  # fmt: skip


def _seg_samples(data: Path, job: Job, src: dict) -> Samples:
    size, mean, std = src["size"], src["mean"], src["std"]
    calib = calibration_images(data, job.calib_split, job.calib_images, size, mean, std)
    held = find_samples(data, job.eval_split)[: min(8, job.eval_images or 8)]
    return Samples(
        calib=calib,
        held=np.stack([normalize(load_rgb(s.image, size), mean, std) for s in held]),
        source={"layout": "Cityscapes", "split": job.calib_split, "calibration": len(calib)},
    )


def _samples(data: Path, job: Job, src: dict) -> Samples:
    """Calibration and held-out inputs for the task, preprocessed like the model's inputs."""
    from hardtool.quantize import samples

    if src["task"] == "seg":
        return _seg_samples(data, job, src)
    shape = (src["channels"], *src["size"])
    if src["task"] == "cls":
        splits = (job.calib_split, job.eval_split)
        return samples.classification(
            data, shape, src["mean"], src["std"], job.calib_images, job.eval_images, splits
        )
    return samples.generic(data, shape, src["mean"], src["std"], job.calib_images, job.eval_images)


FLOAT_NAME = "model_float32.tflite"  # written beside model_int8.tflite with keep_float


def _prepare_onnx(src: dict, job: Job, calib: np.ndarray, tmp: Path) -> dict:
    """Finite MaxPool pads (and the argmax tail if asked) in the ONNX that gets converted."""
    import onnx

    from hardtool.quantize import onnx_prep

    m = onnx_prep.simplified(src["onnx"])
    changes = {"maxpool_pads_made_finite": onnx_prep.pad_maxpools(m, calib)}
    if job.tail == "argmax" and not onnx_prep.ends_in_argmax(m):
        onnx_prep.add_argmax(m)
        changes["argmax_tail_added"] = True
    onnx.save(m, str(tmp / "model.onnx"))
    return changes  # model.onnx is simplified: onnx2tf must not simplify it again


def _convert(src: dict, smp: Samples, job: Job, tmp: Path, bar, timed: _Timer) -> dict:
    """model.onnx → model_int8.tflite, calibrated (and model_float32.tflite from the same SavedModel
    with ``keep_float``); returns the report's calibration / conversion entries."""
    from hardtool.quantize import convert, export

    size, mean, std, calib = src["size"], src["mean"], src["std"], smp.calib
    report: dict = {
        "calibration": {
            **smp.source,
            "images": int(len(calib)),
            "input_size": list(size),
            "mean": list(mean),
            "std": list(std),
            "method": "TFLiteConverter representative dataset",
        },
        "onnx_changes": _prepare_onnx(src, job, calib, tmp),
    }
    if src["model"] is not None and job.tail == "argmax":
        report["onnx_check"] = timed(
            "onnx_check", export.compare_with_torch, src["model"], tmp / "model.onnx", calib[:4]
        )
    task = bar.add_task("calibrating", total=len(calib))
    info = {
        "mean": list(mean),
        "std": list(std),
        "input_size": list(size),
        "task": src["task"],
        **src["meta"],
    }
    dtypes = ("int8", "float32") if job.keep_float else ("int8",)
    flats, report["canonicalized_ops"], steps = convert.onnx_to_tflites(
        tmp / "model.onnx", tmp, calib, info, lambda: bar.advance(task), dtypes, job.float_io, True
    )
    timed.timings.update(steps)
    (tmp / "model_int8.tflite").write_bytes(flats["int8"])
    if job.keep_float:
        (tmp / FLOAT_NAME).write_bytes(flats["float32"])
        report["float_model"] = {
            "file": FLOAT_NAME,
            "bytes": len(flats["float32"]),
            "sha256": hashlib.sha256(flats["float32"]).hexdigest(),
            "note": "the same graph unquantised (float32 builtins), for planning and comparison",
        }
    return report


def _evaluate_seg(model, kind: str, tmp: Path, data: Path, size, job: Job, progress: bool, timed) -> dict:
    """mIoU of the float (torch), ONNX (onnxruntime) and int8 (TFLite reference kernels) models."""
    from hardtool.predict import evaluate_predictor, torch_predictor
    from hardtool.quantize import runtime

    int8 = runtime.Int8Model(tmp / "model_int8.tflite", job.mean, job.std)
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
        sc, _, _ = timed(
            f"eval_{name}",
            evaluate_predictor,
            pred,
            data,
            size,
            job.eval_split,
            job.eval_images,
            progress,
            label,
        )
        evals[name] = sc.as_dict(class_names())
    n = len(find_samples(data, job.eval_split)[: job.eval_images])
    ref = evals.get("float") or evals.get("onnx")
    drop = (ref["miou"] - evals["int8"]["miou"]) if ref else None
    return {"eval": {"split": job.eval_split, "images": n, **evals}, "miou_drop": drop}


def _evaluate(src: dict, smp: Samples, job: Job, tmp: Path, data: Path, progress: bool, timed) -> dict:
    """The task's accuracy report, and float vs int8 outputs on held-out samples where the model
    outputs numbers (not a label map) and its float graph is at hand."""
    from hardtool.quantize import fidelity

    out: dict = {"task": src["task"]}
    if src["task"] == "seg" and data is not None:
        out |= _evaluate_seg(src["model"], job.kind, tmp, data, src["size"], job, progress, timed)
    q = timed("eval_int8", fidelity.run_tflite, tmp / "model_int8.tflite", smp.held)
    labels_out = np.issubdtype(q.dtype, np.integer)
    ref = None
    if job.kind != "tflite" and (src["task"] == "cls" or not labels_out):
        ref = timed("eval_float", fidelity.run_onnx, tmp / "model.onnx", smp.held)
    if src["task"] == "cls":
        r = ref if ref is not None else q
        out["eval"] = fidelity.classification_report(r, q, smp.labels, smp.classes)
        if ref is None:
            del out["eval"]["float"], out["eval"]["agreement"]
    if ref is not None and not labels_out:
        out["output_check"] = fidelity.output_report(ref, q, job.min_cosine)
    out["warnings"] = _warnings(out)
    return out


def _warnings(out: dict) -> list[str]:
    oc = out.get("output_check")
    if oc and not oc["within_threshold"]:
        return [
            f"int8 outputs differ from float: cosine similarity {oc['cosine_similarity']:.4f} < "
            f"{oc['threshold']['cosine_similarity_min']} on {oc['samples']} held-out samples (RMSE "
            f"{oc['rmse']:.4g}, max abs error {oc['max_abs_error']:.4g}); check the calibration data "
            "(--data, --mean/--std) and the ops after the first large error"
        ]
    return []


def _final_report(tmp: Path, hist: dict, size, timings: dict) -> dict:
    from hardtool.quantize.validate import load_interpreter

    it = load_interpreter(tmp / "model_int8.tflite")
    inp, outp = it.get_input_details()[0], it.get_output_details()[0]
    flat = (tmp / "model_int8.tflite").read_bytes()

    def io(d: dict) -> dict:
        s, z = d["quantization"]
        return {"dtype": np.dtype(d["dtype"]).name, "shape": [int(v) for v in d["shape"]], "scale": float(s),
                "zero_point": int(z)}  # fmt: skip

    return {
        "ops": hist,
        "model_bytes": len(flat),
        "model_sha256": hashlib.sha256(flat).hexdigest(),
        "input_quant": {"size": list(size), **io(inp)},
        "output_quant": io(outp),
        "timings_s": timings,
        "versions": _versions(),
    }


def _source(job: Job, input_path: Path, tmp: Path, timed: _Timer) -> dict:
    """The model to convert (or, for a .tflite, the one to check) and its preprocessing."""
    from hardtool.models.checkpoint import DEFAULT_MEAN, DEFAULT_STD
    from hardtool.quantize import runtime

    if job.kind == "checkpoint":
        return _source_checkpoint(job, input_path, tmp, timed)
    if job.kind == "onnx":
        return _source_onnx(job, input_path)
    shutil.copyfile(input_path, tmp / "model_int8.tflite")
    int8 = runtime.Int8Model(tmp / "model_int8.tflite", job.mean, job.std)
    it = int8.interp
    d = it.get_output_details()[0]
    integer = np.dtype(d["dtype"]).kind in "iu" and not d["quantization"][0]
    task = job.task or _infer_task("tflite", list(d["shape"]), integer)
    c = int(it.get_input_details()[0]["shape"][-1])
    mean = job.mean or int8.meta.get("mean", DEFAULT_MEAN if c == 3 else (0.0,) * c)
    std = job.std or int8.meta.get("std", DEFAULT_STD if c == 3 else (1.0,) * c)
    return {"model": None, "onnx": None, "size": int8.input_size, "channels": c, "mean": tuple(mean),
            "std": tuple(std), "meta": {}, "task": task}  # fmt: skip


def _check_graph(tmp: Path, job: Job) -> dict:
    """Full int8 (float edges only if asked or given), sane scales, and hardtool's fused tail for
    its own checkpoints; returns the op histogram."""
    from hardtool.quantize import validate

    path = tmp / "model_int8.tflite"
    hist = validate.check_int8_graph(path, allow_float_edges=job.float_io or job.kind == "tflite")
    validate.check_scales(path)
    if job.kind == "checkpoint" and job.tail == "argmax":
        validate.check_tail(path)
    return hist


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
    **options,
) -> dict:
    """Run the whole quantisation path and return the report (also written to quant_report.json).
    ``options``: task ("seg" | "cls" | "generic", inferred by default), tail ("argmax" | "none"),
    float_io, mean, std (see `Job`). With ``keep_float`` the float32 TFLite of the same graph is
    written too. Only OUT's model.onnx, model_int8.tflite, quant_report.json (and
    model_float32.tflite) are replaced (with ``force``); other files there are left alone."""
    from rich.progress import Progress

    input_path, data, out = Path(input_path), Path(data), Path(out)
    check_input_file(input_path, "input", "a checkpoint (.pt), an .onnx or an int8 .tflite file")
    kind = {".onnx": "onnx", ".tflite": "tflite"}.get(input_path.suffix.lower(), "checkpoint")
    job = Job(kind, calib_images, input_size, arch, calib_split, eval_split, eval_images,
              allow_large_input, keep_float, **options)  # fmt: skip
    _check_job(job)
    if calib_images <= 0:
        raise HardtoolError("--calib-images must be at least 1")
    if input_size and kind == "checkpoint":
        check_input_size(input_size, allow_large_input)
    if kind == "checkpoint":
        find_samples(data, eval_split)  # fail on the data before any slow step
    timed = _Timer()
    report: dict = {"input": str(input_path), "input_kind": kind, "data": str(data)}
    names = ("model_int8.tflite", "quant_report.json") + (("model.onnx",) if kind != "tflite" else ())
    names += (FLOAT_NAME,) if keep_float else ()
    with atomic_files(out, names, force) as tmp, Progress(transient=True, disable=not progress) as bar:
        src = _source(job, input_path, tmp, timed)
        hist = _check_graph(tmp, job) if kind == "tflite" else None  # before reading any data
        smp = _samples(data, job, src)
        if kind != "tflite":
            report |= _convert(src, smp, job, tmp, bar, timed)
            hist = _check_graph(tmp, job)
        report |= {"tail": job.tail, "float_io": job.float_io}
        report |= _evaluate(src, smp, job, tmp, data, progress, timed)
        report |= _final_report(tmp, hist, src["size"], timed.timings)
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
