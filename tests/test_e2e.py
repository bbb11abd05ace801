"""The whole flow on the emulated board: checkpoint → int8 → plan → C → firmware → QEMU →
serial bench; the device's label maps equal the host int8 reference on every pixel."""

from __future__ import annotations

import json
import shutil

import pytest

from tests.test_cli_errors import assert_one_line_error, run
from tests.test_interrupts import assert_interrupted, child_running, ctrl_c, left_running, snapshot

pytestmark = [
    pytest.mark.skipif(
        shutil.which("qemu-system-arm") is None or shutil.which("arm-none-eabi-gcc") is None,
        reason="needs qemu-system-arm and arm-none-eabi-gcc",
    ),
    pytest.mark.slow,  # the whole pipeline on the emulated board
]


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory, demo_ckpt, synth_data):
    out = tmp_path_factory.mktemp("run") / "edge"
    r = run(
        "run",
        str(demo_ckpt),
        "--data",
        str(synth_data),
        "--out",
        str(out),
        "--board",
        "qemu",
        "--n",
        "3",
        "--input-size",
        "64",
        "128",
        "--calib-images",
        "8",
        "--json",
    )
    assert r.returncode == 0, r.stderr[-2000:]
    return out, json.loads(r.stdout)


def test_run_on_emulated_board_is_bit_exact(pipeline):
    out, s = pipeline
    assert s["bit_exact"] is True
    bench = json.loads((out / "qemu" / "bench" / "bench.json").read_text())
    assert bench["completed"] == 3 and bench["board"]["emulated"] is True
    assert bench["agreement"]["fraction"] == 1.0 and bench["agreement"]["differing_images"] == []
    assert bench["miou"]["device"] == bench["miou"]["host_int8"]
    assert bench["miou"]["float"] is not None
    assert bench["latency"]["unit"] == "instructions" and "ms" not in bench["latency"]
    assert bench["latency"]["mean"] > 1e6
    layers = bench["per_layer"]
    assert len(layers) == s["codegen"]["layers"] and all(row["mean"] >= 0 for row in layers)
    assert (
        abs(sum(row["mean"] for row in layers) - bench["latency"]["mean"]) <= 0.02 * bench["latency"]["mean"]
    )
    # per op type: the per-layer rows summed by op, the rates recomputed from those rows
    types = {g["op"]: g for g in bench["per_op_type"]}
    assert sum(g["layers"] for g in types.values()) == len(layers)
    convs = [row for row in layers if row["name"].startswith("CONV_2D#")]
    conv = types["CONV_2D"]
    assert conv["layers"] == len(convs) and conv["macs"] == sum(row["macs"] for row in convs)
    assert conv["per_mac"] == pytest.approx(sum(row["mean"] for row in convs) / conv["macs"])
    assert "per_element" in types["AVERAGE_POOL_2D"] and "per_mac" not in types["AVERAGE_POOL_2D"]
    assert "ADD" not in types  # every residual ADD runs in a convolution's output stage
    # codegen says which path each kernel takes on the Cortex-M7 (HARD's depthwise convs are 3x3)
    table = json.loads((out / "qemu" / "codegen.json").read_text())["layer_table"]
    dw = [L for L in table if L["name"].startswith("DEPTHWISE_CONV_2D#")]
    assert dw and all(L["reason"].startswith("3x3, dilation") for L in dw)
    assert (out / "qemu" / "bench" / "masks.png").stat().st_size > 1000
    # measured SRAM close to memplan's prediction (stack and statics are estimates there)
    sram = bench["sram"]
    plan = json.loads((out / "model_int8.memplan.json").read_text())
    assert sram["arena"] == plan["arena_size"]
    # `run` plans with every technique: the firmware fed the input rows into the first layers
    # (no op runs in place any more: the residual ADDs, which did, now run in their convolutions)
    techniques = plan["techniques"]["by_technique"]
    assert plan["stage"]["streamed"] is True
    assert all(techniques[t]["enabled"] for t in ("inplace", "strided_concat", "stream", "patch"))
    assert 0 < sram["stack_high_water"] <= sram["stack_reserved"]
    assert abs(sram["ram_used_linker"] - sram["memplan_peak"]) <= 1024


def test_flash_and_bench_again_on_the_same_build(pipeline, synth_data, tmp_path):
    out, _ = pipeline
    r = run(
        "flash-and-bench",
        str(out / "qemu"),
        "--data",
        str(synth_data),
        "--n",
        "1",
        "--board",
        "qemu",
        "--out",
        str(tmp_path / "b"),
        "--json",
    )
    assert r.returncode == 0, r.stderr[-2000:]
    assert json.loads(r.stdout)["agreement"]["bit_exact"] is True


def test_flash_and_bench_bad_inputs(pipeline, synth_data, tmp_path):
    out, _ = pipeline
    assert_one_line_error(
        run("flash-and-bench", str(tmp_path), "--data", str(synth_data), "--board", "qemu"),
        "not a firmware project",
    )
    assert_one_line_error(
        run("flash-and-bench", str(out / "qemu"), "--data", str(tmp_path / "none"), "--board", "qemu"),
        "does not exist",
    )
    # asking for the real board with a project generated for the emulator
    assert_one_line_error(
        run(
            "flash-and-bench",
            str(out / "qemu"),
            "--data",
            str(synth_data),
            "--board",
            "disco",
            "--port",
            "/dev/null",
        ),
        "baremetal",
    )


def test_ctrl_c_keeps_partial_results(pipeline, synth_data, tmp_path, monkeypatch):
    """An interrupt after the first image still writes bench.json and masks.png for that image."""
    from hardtool.device import session
    from hardtool.flash_and_bench.run import flash_and_bench

    out, _ = pipeline
    real_infer = session.BenchSession.infer
    calls = []

    def infer_then_interrupt(self, index, image):
        calls.append(index)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real_infer(self, index, image)

    monkeypatch.setattr(session.BenchSession, "infer", infer_then_interrupt)
    r = flash_and_bench(
        out / "qemu",
        synth_data,
        n=3,
        board="qemu",
        out=tmp_path / "partial",
        progress=False,
        log=lambda *_: None,
    )
    assert r["interrupted"] is True and r["completed"] == 1 and r["requested"] == 3
    assert r["agreement"]["bit_exact"] is True
    saved = json.loads((tmp_path / "partial" / "bench.partial.json").read_text())
    assert saved["completed"] == 1 and (tmp_path / "partial" / "masks.partial.png").is_file()
    assert not (tmp_path / "partial" / "bench.json").exists()  # never named like a complete report
    from hardtool.flash_and_bench.report import print_report

    print_report(r)  # the table of a partial run (no protocol totals from a finished session)


def earlier_report(folder):
    """A complete report from an earlier run, which no later run may replace without --force."""
    folder.mkdir(parents=True)
    (folder / "bench.json").write_text(json.dumps({"completed": 2, "requested": 2}))
    (folder / "masks.png").write_bytes(b"\x89PNG earlier masks")
    return snapshot(folder)


def test_rerun_refuses_to_replace_a_report_without_force(pipeline, synth_data, tmp_path):
    out, _ = pipeline
    before = earlier_report(tmp_path / "b")
    r = run(
        "flash-and-bench",
        str(out / "qemu"),
        "--data",
        str(synth_data),
        "--board",
        "qemu",
        "--out",
        str(tmp_path / "b"),
    )
    assert_one_line_error(r, "--force")
    assert snapshot(tmp_path / "b") == before


def test_ctrl_c_before_the_board_runs(pipeline, synth_data, tmp_path):
    out, _ = pipeline
    before = earlier_report(tmp_path / "b")
    args = ["flash-and-bench", str(out / "qemu"), "--data", str(synth_data), "--board", "qemu"]
    when = child_running("arm-none-eabi")  # while the firmware is being built
    rc, _, err, pressed = ctrl_c([*args, "--out", str(tmp_path / "b"), "--force"], when)
    assert_interrupted(rc, err, pressed)
    assert "no partial output was written" in err
    assert snapshot(tmp_path / "b") == before


def test_ctrl_c_on_the_emulated_board_keeps_partial_results_beside_the_report(pipeline, synth_data, tmp_path):
    """A real SIGINT while QEMU runs: exit 130, one line, the partial report printed and written to
    new files, the earlier complete report untouched (--force given)."""
    out, _ = pipeline
    before = earlier_report(tmp_path / "b")
    args = ["flash-and-bench", str(out / "qemu"), "--data", str(synth_data), "--board", "qemu", "--n", "40"]
    for wait in (10.0, 30.0, 90.0):  # until at least one image is done on a slow machine
        rc, stdout, err, pressed = ctrl_c(
            [*args, "--out", str(tmp_path / "b"), "--force", "--json"], child_running("qemu-system-arm"), wait
        )
        assert_interrupted(rc, err, pressed)
        if "partial results in" in err:
            break
    assert {k: v for k, v in snapshot(tmp_path / "b").items() if k in before} == before  # untouched
    report = json.loads(stdout, parse_constant=lambda c: pytest.fail(c))
    k, n = report["completed"], report["requested"]
    assert report["interrupted"] is True and 1 <= k < n and f"{k} of {n} inputs done" in err
    saved = json.loads((tmp_path / "b" / "bench.partial.json").read_text())
    assert saved["completed"] == k and saved["agreement"]["bit_exact"] is True
    assert (tmp_path / "b" / "masks.partial.png").read_bytes()[:4] == b"\x89PNG"
    assert any("qemu" in c for c in ctrl_c.children.values())  # it ran when Ctrl-C was pressed
    assert not left_running("qemu")  # and was stopped


def test_fault_proxy_soak_from_the_command_line(pipeline, synth_data, tmp_path):
    out, _ = pipeline
    r = run(
        "flash-and-bench", str(out / "qemu"), "--data", str(synth_data), "--board", "qemu", "--n", "1",
        "--out", str(tmp_path / "f"), "--fault-proxy", "corrupt=1e-4,drop=5e-5,insert=5e-5,seed=5",
        "--timeout", "0.6", "--json",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr[-2000:]
    report = json.loads(r.stdout)
    assert report["agreement"]["bit_exact"] is True and report["completed"] == 1
    assert sum(report["protocol"]["faults_injected"].values()) > 0


@pytest.fixture(scope="module")
def edge_128x256(tmp_path_factory, demo_ckpt, synth_data):
    """HARD-Edge at 128×256 on the emulated board: a 98,304-byte input, streamed into the model."""
    out = tmp_path_factory.mktemp("edge256") / "edge"
    r = run(
        "run", str(demo_ckpt), "--data", str(synth_data), "--out", str(out), "--board", "qemu", "--n", "1",
        "--input-size", "128", "256", "--calib-images", "8", "--json",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr[-2000:]
    return out / "qemu"


@pytest.mark.parametrize("seed", [1, 2])
def test_hard_edge_128x256_survives_one_error_per_thousand_bytes(edge_128x256, synth_data, tmp_path, seed):
    """At 1e-3 corrupt bytes per byte, both ways, a 768-byte image row meets an error about half
    the time: the input frames shrink below one row (down to 64 bytes) and grow back, the label
    map comes back in pieces of several sizes put together, and the output is bit-exact. The
    faults are seeded; nothing is timed (a loaded machine only makes more resends)."""
    r = run(
        "flash-and-bench", str(edge_128x256), "--data", str(synth_data), "--board", "qemu", "--n", "1",
        "--out", str(tmp_path / "f"), "--fault-proxy", f"corrupt=1e-3,seed={seed}", "--timeout", "1.0", "--json",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr[-2000:]
    report = json.loads(r.stdout)
    p = report["protocol"]
    print(f"seed {seed}: {p}")
    assert report["completed"] == 1 and report["agreement"]["bit_exact"] is True
    assert p["faults_injected"]["corrupt"] > 0 and p["resends"] > 0
    assert 0 < p["smallest_tile"] < 768  # frames smaller than one row of the image
