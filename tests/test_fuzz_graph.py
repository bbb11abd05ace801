"""Hardening fuzz: seeded mutants of real models (the zoo's HARD-Edge and, when present, the MLPerf
Tiny files nobody here wrote) through memplan and codegen. Each mutant ends in a plan (and, for
codegen, C that compiles with -Wall -Wextra -Werror) or a one-line HardtoolError: never another
exception. Mutants are byte damage and field-level edits made through the flatbuffer object API
(tests/graph_mutants.py). HARDTOOL_FUZZ_SCALE=5 runs the full 1,000 / 200 mutants."""

from __future__ import annotations

import collections
import json
import os
import shutil
import subprocess
import time
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

SCALE = float(os.environ.get("HARDTOOL_FUZZ_SCALE", "1"))
N_MEMPLAN, N_CODEGEN = int(200 * SCALE), int(40 * SCALE)
FAST = PlanOptions(schedule_states=20_000, place_work=20_000)


@pytest.fixture(scope="module")
def sources(zoo_model) -> dict[str, bytes]:
    models = {"hard_edge": Path(zoo_model("hard_edge")).read_bytes()}
    mlperf = mlperf_dir()
    for p in sorted(mlperf.glob("*.tflite")) if mlperf else []:
        models[p.stem] = p.read_bytes()
    return models


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
        assert "\n" not in str(e)
        return "refused", None


def run_fuzz(items, check) -> tuple[collections.Counter, list[str]]:
    """Outcome counts and the internal errors, each with what reproduces it."""
    counts: collections.Counter = collections.Counter()
    internal = []
    for label, seed, data_kind in items:
        kind, data = data_kind
        try:
            counts[f"{kind}:{check(data)}"] += 1
        except Exception as e:  # noqa: BLE001 - exactly what this test looks for
            internal.append(f"{label} seed {seed} ({kind}): {type(e).__name__}: {str(e)[:200]}")
    return counts, internal


@pytest.mark.slow
def test_memplan_mutants_never_give_an_internal_error(sources):
    names = sorted(sources)
    items = ((names[s % len(names)], s, mutant(sources[names[s % len(names)]], s)) for s in range(N_MEMPLAN))
    t0 = time.perf_counter()
    counts, internal = run_fuzz(items, lambda d: plan_outcome(d, picture=len(d) % 16 == 0)[0])
    assert not internal, internal[:10]
    assert sum(counts.values()) == N_MEMPLAN
    kinds = {k.split(":")[0] for k in counts}
    assert kinds == set(KINDS), kinds  # every kind of mutation was tried
    assert any(k.endswith(":planned") for k in counts) and any(k.endswith(":refused") for k in counts)
    print(f"{N_MEMPLAN} memplan mutants in {time.perf_counter() - t0:.1f} s: {dict(sorted(counts.items()))}")


def compile_model_c(project: Path) -> None:
    r = subprocess.run(
        ["gcc", "-std=c99", "-fsyntax-only", "-Wall", "-Wextra", "-Werror", "-Ikernels", "model.c"],
        cwd=project,
        capture_output=True,
        text=True,
    )
    if r.returncode:
        raise AssertionError(f"generated C does not compile: {r.stderr[:300]}")


@pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc")
def test_codegen_mutants_give_c_that_compiles_or_one_line(sources, tmp_path):
    from hardtool.codegen.generate import generate

    def codegen(data: bytes) -> str:
        status, doc = plan_outcome(data)
        if doc is None:
            return status
        work = Path(tmp_path / f"m{len(list(tmp_path.iterdir()))}")
        work.mkdir()
        (work / "model.tflite").write_bytes(data)
        (work / "model.memplan.json").write_text(json.dumps(doc))
        try:
            generate(work / "model.tflite", work / "model.memplan.json", "host", work / "host")
        except HardtoolError as e:
            # one line, or the op listing: a summary line, then one indented line per op
            head, *ops = str(e).split("\n")
            assert not ops or (head.endswith(":") and all(ln.startswith("  ") for ln in ops)), str(e)
            return "refused by codegen"
        compile_model_c(work / "host")
        shutil.rmtree(work)
        return "compiled"

    src = sources["hard_edge"]
    t0 = time.perf_counter()
    counts, internal = run_fuzz(
        (("hard_edge", s, mutant(src, 10_000 + s)) for s in range(N_CODEGEN)), codegen
    )
    assert not internal, internal[:10]
    assert any(k.endswith(":compiled") for k in counts), counts
    print(f"{N_CODEGEN} codegen mutants in {time.perf_counter() - t0:.1f} s: {dict(sorted(counts.items()))}")
