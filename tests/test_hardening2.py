"""Bad input and hostile moments, second round (issue 24): every case gives one line and exit 2,
nothing is lost, and a build or a generated project replaces only what hardtool wrote."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.fixtures.fake_model import fakemodel
from tests.test_cli_errors import assert_one_line_error, run
from tests.test_interrupts import assert_interrupted, child_running, ctrl_c, snapshot

# a folder that exists and that nobody can write into, not even root (sysfs refuses new files)
READ_ONLY = Path("/sys/kernel")
needs_read_only = pytest.mark.skipif(
    not READ_ONLY.is_dir() or sys.platform != "linux", reason="needs Linux's /sys"
)


# ---- memory -----------------------------------------------------------------------------------


def test_huge_input_with_allow_large_input_is_refused_before_allocating(demo_ckpt, synth_data, tmp_path):
    r = run(
        "quantize", str(demo_ckpt), "--data", str(synth_data), "--out", str(tmp_path / "q"),
        "--input-size", "100000", "100000", "--allow-large-input",
    )  # fmt: skip
    assert_one_line_error(r, "120,000,000,000 B", "more than this machine has available", "smaller size")
    assert r.returncode == 2 and not (tmp_path / "q").exists()


def test_an_allocation_that_fails_anyway_is_one_line(monkeypatch, capsys, demo_ckpt, synth_data):
    """Past the check (other programs took the memory meanwhile), torch's RuntimeError is still one line."""
    from hardtool import cli, evaluate

    def no_memory(*_a, **_k):
        raise RuntimeError(
            "[enforce fail at alloc_cpu.cpp:118] data. DefaultCPUAllocator: can't allocate memory: "
            "you tried to allocate 120000000000 bytes. Error code 12 (Cannot allocate memory)"
        )

    monkeypatch.setattr(evaluate, "load_predictor", no_memory)
    assert cli._run(["eval", str(demo_ckpt), "--data", str(synth_data)], verbose=False) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: out of memory (") and "--input-size" in err


# ---- eval without a single labelled pixel -------------------------------------------------------


@pytest.fixture
def unlabelled(synth_data, tmp_path) -> Path:
    """The synthetic set with every val label set to 0 ('unlabeled', ignored in evaluation)."""
    root = tmp_path / "d"
    shutil.copytree(synth_data, root)
    for lab in (root / "gtFine" / "val").glob("*/*_labelIds.png"):
        shape = np.asarray(Image.open(lab)).shape
        Image.fromarray(np.zeros(shape, np.uint8)).save(lab)
    return root


def test_eval_with_no_labelled_pixel_is_null_in_json_and_na_in_text(demo_ckpt, unlabelled):
    r = run("eval", str(demo_ckpt), "--data", str(unlabelled), "--n", "2", "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout, parse_constant=lambda c: pytest.fail(f"bare {c} in the JSON"))
    assert doc["miou"] is None and doc["pixels"] == 0
    assert doc["pixel_acc"] is None and len(doc["iou"]) == 19 and set(doc["iou"].values()) == {None}
    r = run("eval", str(demo_ckpt), "--data", str(unlabelled), "--n", "2")
    assert r.returncode == 0, r.stderr
    assert "mIoU n/a" in r.stdout and "no pixel of these images has a valid label" in r.stdout
    assert "nan" not in r.stdout.lower()


# ---- build: a cache replaced whole, never half ----------------------------------------------------


@pytest.fixture
def project(tmp_path) -> Path:
    return fakemodel.write_project(tmp_path / "p")


@needs_read_only
def test_build_into_a_folder_that_cannot_be_written(project):
    for out in (READ_ONLY, READ_ONLY / "hardtool-build"):
        r = run("build", str(project), "--out", str(out))
        assert_one_line_error(r, f"cannot write {out}", "choose another output location")
        assert r.returncode == 2
    assert not (project / "build").exists()


def _outputs(folder: Path) -> dict[str, bytes]:
    return {k: v for k, v in snapshot(folder).items() if not k.endswith(".log")}


def test_build_replaces_its_own_files_keeps_others_and_a_failed_build_keeps_the_earlier(project):
    from hardtool.build.firmware import build_firmware
    from hardtool.core.errors import HardtoolError
    from hardtool.core.files import WRITTEN, written_files

    build_firmware(project)
    out = project / "build"
    (out / "notes.txt").write_text("mine")
    assert "fake.elf" in written_files(out) and "notes.txt" not in written_files(out)
    (out / "obj" / "999_stale.o").write_bytes(b"not hardtool's")
    build_firmware(project)  # a second build needs no --force: the folder is a cache
    assert (out / "notes.txt").read_text() == "mine" and (out / "obj" / "999_stale.o").is_file()
    before = _outputs(out)
    (project / "bad.c").write_text("int f(void) { int unused; return 0; }\n")
    manifest = json.loads((project / "hardtool_build.json").read_text())
    (project / "hardtool_build.json").write_text(
        json.dumps(manifest | {"sources": [*manifest["sources"], "bad.c"]})
    )
    with pytest.raises(HardtoolError, match=r"compile failed: .*full log: .*build/compile\.log"):
        build_firmware(project)
    assert _outputs(out) == before  # every object, the image, the map and WRITTEN as they were
    assert "unused" in (out / "compile.log").read_text()  # the failed build's log is kept to read
    assert sorted(p.name for p in project.iterdir()) == ["bad.c", "build", "hardtool_build.json"]
    assert WRITTEN in before


def test_ctrl_c_during_a_build_leaves_the_earlier_build_whole(project):
    assert run("build", str(project)).returncode == 0
    before = snapshot(project / "build")
    rc, _, err, pressed = ctrl_c(["build", str(project)], child_running("arm-none-eabi"))
    assert_interrupted(rc, err, pressed)
    assert snapshot(project / "build") == before
    assert sorted(p.name for p in project.iterdir()) == ["build", "hardtool_build.json"]  # no temp left


# ---- codegen --force: only what codegen wrote -------------------------------------------------------


def test_codegen_force_replaces_only_the_files_codegen_wrote(zoo_model, tmp_path):
    from hardtool.core.files import WRITTEN

    model = tmp_path / "m.tflite"
    shutil.copy(zoo_model("hard_edge"), model)
    assert run("memplan", str(model), "--no-tflm").returncode == 0
    out = tmp_path / "c"
    assert run("codegen", str(model), "-t", "qemu", "--out", str(out)).returncode == 0
    first = json.loads((out / WRITTEN).read_text())["files"]
    assert "hardtool_build.json" in first and WRITTEN not in first
    (out / "notes.txt").write_text("mine")
    (out / "bench").mkdir()
    (out / "bench" / "bench.json").write_text("{}")
    assert_one_line_error(run("codegen", str(model), "-t", "host", "--out", str(out)), "--force")
    r = run("codegen", str(model), "-t", "host", "--out", str(out), "--force")
    assert r.returncode == 0, r.stderr
    assert (out / "notes.txt").read_text() == "mine" and (out / "bench" / "bench.json").read_text() == "{}"
    assert not (out / "hardtool_build.json").exists()  # the qemu project's own file is gone
    second = json.loads((out / WRITTEN).read_text())["files"]
    assert {p for p in second} <= {str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()}
    assert "main_host.c" in second


def test_a_written_list_cannot_name_files_outside_its_folder(tmp_path):
    from hardtool.core.files import WRITTEN, atomic_dir

    out = tmp_path / "o"
    out.mkdir()
    (tmp_path / "precious").write_text("keep")
    (out / "a").write_text("old")
    (out / WRITTEN).write_text(json.dumps({"files": ["../precious", "/etc/passwd", "a", 7]}))
    with atomic_dir(out, force=True) as tmp:
        (tmp / "b").write_text("new")
    assert (tmp_path / "precious").read_text() == "keep"
    assert not (out / "a").exists() and (out / "b").read_text() == "new"


# ---- flash-and-bench: the report's folder is checked before the run -----------------------------


@needs_read_only
def test_flash_and_bench_checks_its_output_folder_before_building_or_running(zoo_model, synth_data, tmp_path):
    model = tmp_path / "m.tflite"
    shutil.copy(zoo_model("hard_edge"), model)
    assert run("memplan", str(model), "--no-tflm").returncode == 0
    proj = tmp_path / "qemu"
    assert run("codegen", str(model), "-t", "qemu", "--out", str(proj)).returncode == 0
    r = run(
        "flash-and-bench", str(proj), "--data", str(synth_data), "--board", "qemu", "--out", str(READ_ONLY)
    )
    assert_one_line_error(r, f"cannot write {READ_ONLY}")
    assert r.returncode == 2
    assert not (proj / "build").exists()  # it stopped before the firmware was built (and run)


def test_a_constant_graph_output_is_refused_by_codegen_in_one_line(zoo_model, tmp_path):
    """Found by the structure-aware fuzz: a weights tensor listed as a graph output was planned
    (it needs no arena) and then crashed codegen with a KeyError."""
    from hardtool.codegen.generate import generate
    from hardtool.core.errors import HardtoolError
    from hardtool.core.graph.edit import drop_tail, rewrite
    from tests.test_fuzz_graph import plan_outcome

    def weights_out(m):
        sg = m.subgraphs[0]
        const = next(i for i, t in enumerate(sg.tensors) if m.buffers[t.buffer].data is not None)
        sg.outputs = [int(t) for t in sg.outputs] + [const]

    logits = drop_tail(Path(zoo_model("hard_edge")).read_bytes(), 2)  # no label tail: any output is fine
    data = rewrite(logits, weights_out)
    status, doc = plan_outcome(data)
    assert status == "planned"
    (tmp_path / "m.tflite").write_bytes(data)
    (tmp_path / "m.memplan.json").write_text(json.dumps(doc))
    with pytest.raises(HardtoolError, match=r"graph output tensor \d+ '.*' is a constant") as e:
        generate(tmp_path / "m.tflite", tmp_path / "m.memplan.json", "host", tmp_path / "h")
    assert "\n" not in str(e.value) and not (tmp_path / "h").exists()
