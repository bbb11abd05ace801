"""`compare` as a function from files to files: model names (+ optional checkpoints, calibration
images) → OUT/compare.json, OUT/compare.png and, per model, OUT/models/<name>/ with both TFLite
files and their plans. Models run in worker processes (two at a time on two cores); outputs are
published together at the end, and nothing is replaced without ``force``."""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from hardtool.compare.measure import STEPS, ModelJob, run_job
from hardtool.core.boards import DEFAULT_TARGET, get_target
from hardtool.core.errors import HardtoolError
from hardtool.core.files import atomic_files, atomic_write_bytes, atomic_write_json, check_clobber
from hardtool.models.peers import PEERS

REFERENCE = "hard_edge"
DEFAULT_MODELS: tuple[str, ...] = (REFERENCE, *PEERS)
DEFAULT_SIZE = (128, 256)
MODELS_DIR = "models"
JSON_NAME, PNG_NAME = "compare.json", "compare.png"


@dataclass
class CompareOptions:
    models: tuple[str, ...] = DEFAULT_MODELS
    input_size: tuple[int, int] = DEFAULT_SIZE
    target: str = DEFAULT_TARGET
    data: Path | None = None  # Cityscapes-layout calibration images; None: synthetic scenes
    calib_images: int = 8
    ckpts: dict[str, Path] = field(default_factory=dict)  # model name -> trained checkpoint
    jobs: int = 2
    measure_tflm: bool = True
    seed: int = 0


def resolve_models(opts: CompareOptions) -> tuple[list[str], dict[str, Path]]:
    """Canonical model names (in order, once each) and checkpoints by canonical name; every name
    and checkpoint file checked before any work starts."""
    from hardtool.core.files import check_input_file
    from hardtool.models.registry import canonical

    if not opts.models:
        raise HardtoolError("no models to compare; name some, or none for HARD-Edge and every peer")
    names = list(dict.fromkeys(canonical(m) for m in opts.models))
    ckpts = {}
    for name, path in opts.ckpts.items():
        key = canonical(name)
        if key not in names:
            raise HardtoolError(
                f"--ckpt {name}=...: {key} is not among the models compared ({', '.join(names)})"
            )
        check_input_file(Path(path), f"--ckpt {name}", "a hardtool checkpoint (.pt)")
        ckpts[key] = Path(path)
    return names, ckpts


def _check_outputs(out: Path, names: list[str], force: bool) -> None:
    for p in (out / JSON_NAME, out / PNG_NAME, *(out / MODELS_DIR / n for n in names)):
        check_clobber(p, force)


@contextlib.contextmanager
def calibration(opts: CompareOptions) -> Iterator[tuple[Path, str, str]]:
    """(root, split, description) of the calibration images: --data's train split, or synthetic
    street scenes generated for this run (and removed after it)."""
    from hardtool.data.cityscapes import find_samples

    n = opts.calib_images
    if opts.data is not None:
        found = len(find_samples(Path(opts.data), "train", need_labels=False))
        yield Path(opts.data), "train", f"{min(n, found)} images of {opts.data} (train split)"
        return
    from hardtool.data.synth import generate

    h, w = opts.input_size
    with tempfile.TemporaryDirectory(prefix="hardtool-compare-calib-") as root:
        generate(Path(root), n, opts.seed, ("train",), (max(64, h), max(64, w)))
        yield (
            Path(root),
            "train",
            f"{n} synthetic street scenes (hardtool data synth, seed {opts.seed}); no --data",
        )


_queue = None  # a worker process's channel for progress steps


def _init_worker(queue) -> None:
    global _queue
    _queue = queue
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _pool_job(job: ModelJob) -> dict:
    from hardtool.core import quiet

    quiet.install()
    return run_job(job, lambda s: _queue.put((job.name, s)))


def _run_pool(jobs: list[ModelJob], workers: int, on_step, on_done, retry: bool = True) -> None:
    """Run the jobs in ``workers`` processes, reporting steps and finished rows as they come. A worker
    that dies (a signal inside TensorFlow) breaks the pool for every model in it: those run again,
    each alone, so only the one that dies again is reported failed."""
    import multiprocessing as mp
    import queue as queue_mod
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    ctx = mp.get_context("spawn")  # TensorFlow is not fork-safe
    q = ctx.Queue()
    pool = ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_worker, initargs=(q,))
    broken: list[ModelJob] = []
    try:
        pending = {pool.submit(_pool_job, j): j for j in jobs}
        while pending:
            done, _ = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
            with contextlib.suppress(queue_mod.Empty):
                while True:
                    on_step(*q.get_nowait())
            for f in done:
                job, e = pending.pop(f), f.exception()
                if isinstance(e, BrokenProcessPool) and retry:
                    broken.append(job)
                else:
                    on_done(job, f.result() if e is None else _crashed(job, e))
    except BaseException:  # Ctrl-C (or a failure here): stop the models still running
        procs = list((getattr(pool, "_processes", None) or {}).values())
        pool.shutdown(wait=False, cancel_futures=True)
        for p in procs:
            p.terminate()
        raise
    pool.shutdown(wait=True)
    for job in broken:
        _run_pool([job], 1, on_step, on_done, retry=False)


def _crashed(job: ModelJob, e: BaseException) -> dict:
    from hardtool.compare.measure import one_line

    if type(e).__name__ == "BrokenProcessPool":
        return {
            "name": job.name,
            "error": "its worker process died (a signal inside TensorFlow's converter, e.g. an illegal "
            "instruction); measure it at another --input-size",
        }
    return {"name": job.name, "error": f"the worker process failed: {one_line(e)}"}


def run_jobs(jobs: list[ModelJob], workers: int, progress: bool) -> list[dict]:
    """Every job's row, in the jobs' order; a rich progress bar per model."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    rows: dict[str, dict] = {}
    columns = (TextColumn("{task.description:<28}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, disable=not progress) as bar:
        tasks = {j.name: bar.add_task(f"{j.name}: waiting", total=len(STEPS)) for j in jobs}

        def on_step(name: str, step: str) -> None:
            done = STEPS.index(step) if step in STEPS else 0
            bar.update(tasks[name], completed=done, description=f"{name}: {step}")

        def on_done(job: ModelJob, row: dict) -> None:
            rows[job.name] = row
            state = "failed" if "error" in row else "done"
            bar.update(tasks[job.name], completed=len(STEPS), description=f"{job.name}: {state}")

        if workers <= 1 or len(jobs) == 1:
            for j in jobs:
                on_done(j, run_job(j, lambda s, n=j.name: on_step(n, s)))
        else:
            _run_pool(jobs, min(workers, len(jobs)), on_step, on_done)
    return [rows[j.name] for j in jobs]


def compare_models(out: Path, opts: CompareOptions, force: bool = False, progress: bool = True) -> dict:
    """Export, plan and measure every model; write OUT/compare.json, OUT/compare.png and each model's
    files under OUT/models/<name>/ (together, at the end); return the comparison document."""
    from hardtool.compare.report import chart_png, document
    from hardtool.quantize.pipeline import check_input_size

    out = Path(out)
    names, ckpts = resolve_models(opts)
    check_input_size(opts.input_size)
    get_target(opts.target)
    if opts.calib_images < 1 or opts.jobs < 1:
        raise HardtoolError("--calib-images and --jobs must be at least 1")
    _check_outputs(out, names, force)
    t0 = time.perf_counter()
    with atomic_files(out, None, force=True) as tmp, calibration(opts) as (root, split, calib_desc):
        jobs = [
            ModelJob(
                n,
                tuple(opts.input_size),
                opts.target,
                str(root),
                split,
                opts.calib_images,
                str(tmp / MODELS_DIR / n),
                f"{MODELS_DIR}/{n}",
                str(ckpts[n]) if n in ckpts else None,
                opts.seed,
                opts.measure_tflm,
            )
            for n in names
        ]
        rows = run_jobs(jobs, opts.jobs, progress)
        doc = document(rows, opts, calib_desc, time.perf_counter() - t0)
        atomic_write_json(tmp / JSON_NAME, doc)
        atomic_write_bytes(tmp / PNG_NAME, chart_png(doc))
    return doc
