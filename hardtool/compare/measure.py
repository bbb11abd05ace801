"""One model of a comparison (run in a worker process): export it to a float32 and a full-int8
TFLite from one SavedModel, check that the int8 graph is clean, plan both with memplan and measure
TFLite Micro's arena for both. A failure becomes the row's one-line error, never an exception, so
the other models are still reported."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from hardtool.core.errors import HardtoolError
from hardtool.core.files import atomic_write_json

DTYPES = ("float32", "int8")
STEPS = ("export", "convert", "plan int8", "plan float32")  # what a row's progress counts


@dataclass(frozen=True)
class ModelJob:
    name: str  # canonical architecture
    input_size: tuple[int, int]
    target: str
    calib_root: str  # Cityscapes-layout folder with calibration images
    calib_split: str
    calib_images: int
    out_dir: str  # this model's files
    rel_dir: str  # the same folder as named in the report (relative to the comparison's folder)
    ckpt: str | None = None  # trained weights; None: seeded random weights
    seed: int = 0
    measure_tflm: bool = True


def one_line(e: BaseException) -> str:
    """An error as one line (multi-line errors list ops: joined with '; ')."""
    text = str(e) if isinstance(e, HardtoolError) else f"internal error: {type(e).__name__}: {e}"
    return "; ".join(ln.strip() for ln in text.splitlines() if ln.strip())[:500]


def run_job(job: ModelJob, step: Callable[[str], None] | None = None) -> dict:
    """The model's row: sizes, plans and TFLM arenas for float32 and int8, or ``{name, error}``."""
    t0 = time.perf_counter()
    try:
        row = _measure(job, step or (lambda _: None))
    except KeyboardInterrupt:
        raise
    except Exception as e:  # noqa: BLE001 - one model failing must not stop the comparison
        return {"name": job.name, "error": one_line(e), "seconds": round(time.perf_counter() - t0, 1)}
    row["seconds"] = round(time.perf_counter() - t0, 1)
    return row


def _torch_model(job: ModelJob):
    """(model, mean, std, what the weights are): the checkpoint's, or seeded random weights."""
    import torch

    from hardtool.models.checkpoint import DEFAULT_MEAN, DEFAULT_STD, load_checkpoint
    from hardtool.models.registry import build_model
    from hardtool.quantize.pipeline import random_bn_stats

    if job.ckpt is not None:
        model, info = load_checkpoint(Path(job.ckpt))
        if info.arch != job.name:
            raise HardtoolError(f"checkpoint {job.ckpt} is a {info.arch} model, not {job.name}")
        return model, info.mean, info.std, f"checkpoint {job.ckpt}"
    torch.manual_seed(job.seed)
    model = random_bn_stats(build_model(job.name).eval())
    return model, DEFAULT_MEAN, DEFAULT_STD, f"random (seed {job.seed})"


def _export(job: ModelJob, step: Callable[[str], None]) -> tuple[dict[str, Path], str, dict]:
    """Both TFLite files in the job's folder; (paths by dtype, weights, conversion seconds)."""
    from hardtool.quantize import convert, export
    from hardtool.quantize.pipeline import calibration_images

    step("export")
    model, mean, std, weights = _torch_model(job)
    size = tuple(job.input_size)
    calib = calibration_images(Path(job.calib_root), job.calib_split, job.calib_images, size, mean, std)
    out = Path(job.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f"hardtool-compare-{job.name}-") as work:
        export.export_onnx(model, size, Path(work) / "model.onnx")
        step("convert")
        meta = {"arch": job.name, "input_size": list(size), "mean": list(mean), "std": list(std)}
        flats, _, seconds = convert.onnx_to_tflites(
            Path(work) / "model.onnx",
            Path(work),
            calib,
            meta | {"weights": weights},
            dtypes=("int8", "float32"),
        )
    paths = {}
    for dt in DTYPES:
        paths[dt] = out / f"model_{dt}.tflite"
        paths[dt].write_bytes(flats[dt])
    return paths, weights, seconds


def _summary(doc: dict, graph, path: Path, rel_dir: str) -> dict:
    """What the comparison keeps of one plan: file and weight bytes, our plan, TFLM's arena."""
    tflm = doc.get("tflm_arena")
    return {
        "file": f"{rel_dir}/{path.name}",
        "tflite_bytes": path.stat().st_size,
        "weights_bytes": sum(t.nbytes for t in graph.tensors if t.is_constant),
        "activations_total_bytes": sum(graph.tensors[t].nbytes for t in graph.activations()),
        "plan": {
            "arena_bytes": doc["arena_size"],
            "peak_sram_bytes": doc["peak"]["total_bytes"],
            "lower_bound_bytes": doc["lower_bound"],
            "scratch_bytes": doc["peak"]["parts"]["scratch"]["bytes"],
            "scratch_kind": doc["peak"]["parts"]["scratch"]["kind"],
            "fits": doc["verdict"]["fits"],
        },
        "tflm": tflm,
        "tflm_order_live_bytes": doc["tflm_layout"]["live_bytes_lower_bound"],
    }


def _measure(job: ModelJob, step: Callable[[str], None]) -> dict:
    from hardtool.memplan.files import plan_document, plan_paths
    from hardtool.models.registry import PEERS, model_stats
    from hardtool.quantize.validate import check_int8_graph

    paths, weights, seconds = _export(job, step)
    ops = check_int8_graph(paths["int8"])  # a clean full-int8 graph: no float tensors, native ops
    row: dict = {"name": job.name, "kind": "peer" if job.name in PEERS else "hard", "weights": weights}
    stats = model_stats(job.name, tuple(job.input_size))
    row |= {"params": stats.params, "macs": stats.macs, "int8_ops": ops, "convert_seconds": seconds}
    for dt in ("int8", "float32"):
        step(f"plan {dt}")
        doc, _, graph = plan_document(paths[dt], job.target, None, job.measure_tflm)
        atomic_write_json(plan_paths(paths[dt])[0], doc)
        row[dt] = _summary(doc, graph, paths[dt], job.rel_dir)
    return row
