"""Hardening fuzz: seeded mutants of real models (the zoo's HARD-Edge and, when present, the MLPerf
Tiny files nobody here wrote) through memplan, and through codegen into a host program built with
AddressSanitizer and UBSan and run on a seeded input. Each mutant ends in a plan (and, for codegen,
C that compiles with -Wall -Wextra -Werror and runs clean under the sanitizers, or stops at a
kernel's argument check) or a one-line HardtoolError: never another exception, never a sanitizer
report. Mutants are byte damage and edits of the flatbuffer's fields and structure made through
the object API the graph reader uses (tests/graph_mutants.py).

`make test` runs a small seeded slice; `make fuzz` the full run (HARDTOOL_FUZZ_MEMPLAN=1000,
HARDTOOL_FUZZ_CODEGEN=200). Both spread the mutants over two processes or threads."""

from __future__ import annotations

import collections
import json
import multiprocessing
import os
import random
import shutil
import subprocess
import threading
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path

import pytest

from bench.common import mlperf_dir
from hardtool.core.errors import HardtoolError
from hardtool.core.files import json_text
from hardtool.core.graph import load_tflite_bytes
from hardtool.memplan.contract import check_plan
from hardtool.memplan.plan import PlanOptions, plan_graph, to_json
from hardtool.memplan.tflm_layout import tflm_layout
from tests.graph_mutants import KINDS, mutant

N_MEMPLAN = int(os.environ.get("HARDTOOL_FUZZ_MEMPLAN", "120"))
N_CODEGEN = int(os.environ.get("HARDTOOL_FUZZ_CODEGEN", "12"))
WORKERS = 2
FAST = PlanOptions(schedule_states=20_000, place_work=20_000)
CLANG = shutil.which("clang")


@pytest.fixture(scope="module")
def sources(zoo_model) -> dict[str, bytes]:
    models = {"hard_edge": Path(zoo_model("hard_edge")).read_bytes()}
    mlperf = mlperf_dir()
    for p in sorted(mlperf.glob("*.tflite")) if mlperf else []:
        models[p.stem] = p.read_bytes()
    return models


def assert_one_line_or_op_listing(e: HardtoolError) -> None:
    """One line, or the listing of ops a model cannot have: a summary line, then one indented
    line per op (hardtool.core.graph.unsupported_op_error)."""
    head, *ops = str(e).split("\n")
    assert not ops or (head.endswith(":") and all(ln.startswith("  op #") for ln in ops)), str(e)


def plan_outcome(data: bytes, picture: bool = False) -> tuple[str, dict | None]:
    """('planned', memplan.json) or ('refused', None); anything else raises. ``picture``: also
    draw the timeline PNG, as the command does."""
    from hardtool.memplan.report import timeline_png

    try:
        g = load_tflite_bytes(data, "model.tflite")
        plan = plan_graph(g, options=FAST)
        doc = to_json(plan, tflm_layout=tflm_layout(g))
        check_plan(doc, plan.graph)
        json_text(doc)
        if picture:
            assert timeline_png(doc, plan)[:4] == b"\x89PNG"
        return "planned", doc
    except HardtoolError as e:
        assert_one_line_or_op_listing(e)
        return "refused", None


def pick(sources: dict[str, bytes], seed: int) -> tuple[str, str, bytes]:
    """(source name, mutation kind, mutant) for ``seed``: the sources in turn."""
    names = sorted(sources)
    name = names[seed % len(names)]
    return (name, *mutant(sources[name], seed))


def _fuzz_one(check, sources: dict[str, bytes], seed: int) -> tuple[str, str]:
    """(kind:outcome, '') or (kind, what went wrong and how to reproduce it)."""
    name, kind, data = pick(sources, seed)
    try:
        return f"{kind}:{check(data, seed)}", ""
    except Exception as e:  # noqa: BLE001 - exactly what this test looks for
        return kind, f"{name} seed {seed} ({kind}): {type(e).__name__}: {str(e)[:300]}"


_SOURCES: dict[str, bytes] = {}


def _init_worker(sources: dict[str, bytes]) -> None:
    _SOURCES.update(sources)


def _memplan_one(seed: int) -> tuple[str, str]:
    return _fuzz_one(lambda d, s: plan_outcome(d, picture=s % 64 == 0)[0], _SOURCES, seed)


def summarise(results: list[tuple[str, str]]) -> tuple[collections.Counter, list[str]]:
    counts = collections.Counter(k for k, err in results if not err)
    return counts, [err for _, err in results if err]


@pytest.mark.slow
def test_memplan_mutants_never_give_an_internal_error(sources):
    t0 = time.perf_counter()
    ctx = multiprocessing.get_context("spawn")  # no fork of a process that may hold TensorFlow's threads
    with ProcessPoolExecutor(WORKERS, mp_context=ctx, initializer=_init_worker, initargs=(sources,)) as ex:
        results = list(ex.map(_memplan_one, range(N_MEMPLAN), chunksize=8))
    counts, internal = summarise(results)
    print(
        f"\n{N_MEMPLAN} memplan mutants in {time.perf_counter() - t0:.1f} s: {len(internal)} internal errors; "
        f"{dict(sorted(counts.items()))}"
    )
    assert not internal, internal[:10]
    assert sum(counts.values()) == N_MEMPLAN
    if N_MEMPLAN >= 8 * len(KINDS):
        assert {k.split(":")[0] for k in counts} == set(KINDS)  # every kind of mutation was tried
    assert any(k.endswith(":planned") for k in counts) and any(k.endswith(":refused") for k in counts)


# ---- codegen, and the generated C under AddressSanitizer + UBSan ---------------------------------

SAN_FLAGS = [
    "-std=c99", "-O1", "-g", "-fno-omit-frame-pointer", "-Wall", "-Wextra", "-Werror",
    "-fsanitize=address,undefined", "-fno-sanitize-recover=all",
]  # fmt: skip
SAN_ENV = {"ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0", "UBSAN_OPTIONS": "print_stacktrace=1"}


class SanitizerReport(AssertionError):
    """The generated program crashed or a sanitizer reported (what this fuzz must never see)."""


class SanitizedHost:
    """Builds generated host projects with ASan + UBSan; the kernel library (identical in every
    project) is compiled once per set of files and defines, the model per project."""

    def __init__(self, cache: Path):
        self.cache = cache
        self.lock = threading.Lock()
        self.kernels: dict[tuple, list[Path]] = {}

    def _kernel_objects(self, project: Path, defines: list[str]) -> list[Path]:
        files = sorted(p.name for p in (project / "kernels").glob("*.c"))
        key = (tuple(files), tuple(defines))
        with self.lock:
            if key not in self.kernels:
                out = self.cache / f"k{len(self.kernels)}"
                out.mkdir()
                for f in files:
                    src = project / "kernels" / f
                    cmd = [CLANG, *SAN_FLAGS, *defines, f"-I{project / 'kernels'}", "-c", str(src)]
                    run_checked([*cmd, "-o", str(out / f.replace(".c", ".o"))], "kernels")
                self.kernels[key] = sorted(out.glob("*.o"))
            return self.kernels[key]

    def build(self, project: Path, defines: dict) -> Path:
        flags = [f"-D{k}={v}" for k, v in defines.items()]
        objs = self._kernel_objects(project, flags)
        exe = project / "model_host_san"
        srcs = [str(project / "model.c"), str(project / "main_host.c")]
        inc = [f"-I{project}", f"-I{project / 'kernels'}"]
        run_checked([CLANG, *SAN_FLAGS, *flags, *inc, *srcs, *map(str, objs), "-lm", "-o", str(exe)], "model")
        return exe

    @staticmethod
    def run(exe: Path, input_bytes: int, output_bytes: int, seed: int) -> str:
        """'ran' (every output byte written) or 'stopped by a kernel check' (exit 3, one line)."""
        data = random.Random(seed).randbytes(input_bytes)
        r = subprocess.run([str(exe)], input=data, capture_output=True, env=os.environ | SAN_ENV, timeout=600)
        err = r.stderr.decode(errors="replace")
        if r.returncode < 0 or "Sanitizer" in err or "runtime error:" in err:
            raise SanitizerReport(f"exit {r.returncode}: {err[-1500:]}")
        if r.returncode == 0 and len(r.stdout) == output_bytes:
            return "ran"
        if r.returncode == 3 and err.startswith("error: layer ") and err.count("\n") == 1:
            return "stopped by a kernel check"
        raise AssertionError(
            f"host program: exit {r.returncode}, {len(r.stdout)} of {output_bytes} B, {err[:300]}"
        )


@pytest.fixture(scope="module")
def host(tmp_path_factory) -> SanitizedHost:
    return SanitizedHost(tmp_path_factory.mktemp("sanitized"))


def run_checked(cmd: list[str], what: str) -> None:
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode:
        raise AssertionError(f"generated C ({what}) does not compile: {r.stderr[:600]}")


def codegen_outcome(data: bytes, seed: int, host: SanitizedHost, root: Path) -> str:
    """'refused by memplan', 'refused by codegen' (one line), or the sanitized host run's outcome."""
    from hardtool.codegen.generate import generate

    status, doc = plan_outcome(data)
    if doc is None:
        return "refused by memplan"
    work = root / f"m{seed}"
    work.mkdir()
    (work / "model.tflite").write_bytes(data)
    (work / "model.memplan.json").write_text(json.dumps(doc))
    try:
        summary = generate(work / "model.tflite", work / "model.memplan.json", "host", work / "host")
    except HardtoolError as e:
        assert_one_line_or_op_listing(e)
        return "refused by codegen"
    exe = host.build(work / "host", summary["defines"])
    n_in, n_out = (sum(t["bytes"] for t in summary[k]) for k in ("inputs", "outputs"))
    outcome = host.run(exe, n_in, n_out, seed)
    shutil.rmtree(work)
    return outcome


@pytest.mark.skipif(CLANG is None, reason="needs clang (apt-get install -y clang)")
def test_every_unmutated_model_runs_clean_under_sanitizers(sources, host, tmp_path):
    """The sources themselves first: the kernels' ordinary paths (fused ADDs with negative zero
    points, the DSP-emulating C) free of undefined behaviour, whatever the mutants reach."""
    for i, (name, data) in enumerate(sorted(sources.items())):
        assert codegen_outcome(data, i, host, tmp_path) == "ran", name


@pytest.mark.skipif(CLANG is None, reason="needs clang (apt-get install -y clang)")
def test_codegen_mutants_compile_and_run_clean_under_sanitizers(sources, host, tmp_path):
    def codegen(data: bytes, seed: int) -> str:
        return codegen_outcome(data, seed, host, tmp_path)

    t0 = time.perf_counter()
    seeds = range(10_000, 10_000 + N_CODEGEN)
    with ThreadPoolExecutor(WORKERS) as ex:
        results = list(ex.map(lambda s: _fuzz_one(codegen, sources, s), seeds))
    counts, internal = summarise(results)
    reports = [e for e in internal if "SanitizerReport" in e]
    print(
        f"\n{N_CODEGEN} codegen mutants in {time.perf_counter() - t0:.1f} s: {len(internal) - len(reports)} "
        f"internal errors, {len(reports)} sanitizer reports; {dict(sorted(counts.items()))}"
    )
    assert not internal, internal[:10]
    assert any(k.endswith(":ran") for k in counts), counts


@pytest.mark.skipif(CLANG is None, reason="needs clang (apt-get install -y clang)")
def test_a_plan_that_does_not_fit_its_arena_is_refused_at_start_up(sources, host, tmp_path):
    """The start-up check: model.h edited to a smaller arena (as by hand) → the runtime refuses
    before any kernel writes, with its own error code, under the sanitizers (no overflow first)."""
    from hardtool.codegen.generate import generate

    status, doc = plan_outcome(sources["hard_edge"])
    assert status == "planned"
    (tmp_path / "m.tflite").write_bytes(sources["hard_edge"])
    (tmp_path / "m.memplan.json").write_text(json.dumps(doc))
    summary = generate(tmp_path / "m.tflite", tmp_path / "m.memplan.json", "host", tmp_path / "h")
    header = tmp_path / "h" / "model.h"
    size = summary["arena_size"]
    text = header.read_text()
    assert f"#define HARD_ARENA_SIZE {size} " in text
    header.write_text(
        text.replace(f"#define HARD_ARENA_SIZE {size} ", f"#define HARD_ARENA_SIZE {size - 16} ")
    )
    exe = host.build(tmp_path / "h", summary["defines"])
    r = subprocess.run([str(exe)], input=bytes(summary["inputs"][0]["bytes"]), capture_output=True)
    assert r.returncode == 3 and r.stdout == b""
    assert r.stderr == b"error: the plan does not fit the arena (model.c or model.h was edited?)\n"
