"""`hardtool codegen --runtime tflm`: the emitted resolver holds exactly the file's ops, the arena
constant is at least what TFLite Micro really needs, the C array is the file byte for byte (and
compiles for the Cortex-M7), and the offline memory plan is honoured by TFLM, valid under TFLM's
own lifetimes and bit-exact with TFLite's reference kernels."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from hardtool.codegen.tflm import (
    RESOLVER,
    add_offline_plan,
    check_inputs,
    check_offline_plan,
    generate_tflm,
    last_op_inputs,
    read_offline_plan,
    tflm_outputs,
)
from hardtool.core.errors import HardtoolError
from hardtool.core.files import WRITTEN
from hardtool.core.graph import load_tflite
from hardtool.core.graph.edit import with_outputs
from hardtool.core.tflm_arena import measure
from hardtool.memplan.files import plan_to_files
from hardtool.memplan.tflm_layout import tflm_layout
from tests.test_cli_errors import assert_one_line_error, run


@pytest.fixture(scope="module")
def edge(zoo_model) -> Path:
    return zoo_model("hard_edge")


def memplan_json(model: Path, folder: Path) -> Path:
    """memplan.json for ``model`` (its tflm_layout is what --offline-plan stores)."""
    return plan_to_files(model, folder, measure_tflm=False, force=True)[2]


@pytest.fixture(scope="module")
def plain(edge, tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("tflm") / "plain"
    return out, generate_tflm(edge, out, memplan_json(edge, out.parent))


@pytest.fixture(scope="module")
def offline(edge, tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("tflm") / "offline"
    return out, generate_tflm(edge, out, memplan_json(edge, out.parent), offline_plan=True)


def array_bytes(cc: Path) -> bytes:
    body = cc.read_text().split("= {", 1)[1].split("};", 1)[0]
    return bytes(int(h, 16) for h in re.findall(r"0x([0-9a-f]{2})", body))


def constant(header: Path, name: str) -> int:
    return int(re.search(rf"constexpr int {name} = (-?\d+);", header.read_text()).group(1))


def reference(data: bytes):
    import tensorflow as tf

    it = tf.lite.Interpreter(
        model_content=data,
        experimental_preserve_all_tensors=True,
        experimental_op_resolver_type=tf.lite.experimental.OpResolverType.BUILTIN_REF,
    )
    it.allocate_tensors()
    return it


def allocates(data: bytes, sizes: list[int]) -> list[bool]:
    """Which arena sizes TFLM accepts, probed in a child process (too small an arena may crash it)."""
    code = (
        "import sys\nfrom tflite_micro.python.tflite_micro import runtime\n"
        "d = open(sys.argv[1], 'rb').read()\n"
        "for s in map(int, sys.argv[2:]):\n"
        "    try:\n        runtime.Interpreter.from_bytes(d, arena_size=s); print(1, flush=True)\n"
        "    except RuntimeError:\n        print(0, flush=True)\n"
    )
    import tempfile

    with tempfile.NamedTemporaryFile(suffix=".tflite") as f:
        f.write(data)
        f.flush()
        r = subprocess.run(
            [sys.executable, "-c", code, f.name, *map(str, sizes)],
            capture_output=True,
            text=True,
            timeout=120,
        )
    got = [ln == "1" for ln in r.stdout.split()]
    return got + [False] * (len(sizes) - len(got))  # a crash counts as "does not allocate"


def test_resolver_holds_exactly_the_files_ops(edge, plain):
    out, summary = plain
    it = reference(edge.read_bytes())
    file_ops = sorted({d["op_name"] for d in it._get_ops_details()})  # TFLite's own parser
    assert summary["ops"] == file_ops
    calls = re.findall(r"resolver\.(Add\w+)\(\)", (out / "model_tflm.cc").read_text())
    assert calls == [RESOLVER[n] for n in file_ops]
    assert constant(out / "model_tflm.h", "kNumOps") == len(file_ops)
    assert "MicroMutableOpResolver<kNumOps>" in (out / "model_tflm.h").read_text()


def test_arena_constant_covers_what_tflm_needs(plain):
    out, summary = plain
    data = (out / "model_int8.tflite").read_bytes()
    arena = constant(out / "model_tflm.h", "kTensorArenaSize")
    measured = summary["arena"]["tflm_measured"]
    assert arena == summary["arena_size"] and arena % 16 == 0
    assert arena >= measured + summary["arena"]["margin"]["kernel_scratch"] + 16
    # the measurement is TFLM's true minimum: it allocates there and not 16 bytes below
    assert allocates(data, [arena, measured, measured - 16]) == [True, True, False]


def test_model_array_is_the_file(edge, plain):
    out, summary = plain
    data = array_bytes(out / "model_data.cc")
    assert data == edge.read_bytes() == (out / "model_int8.tflite").read_bytes()
    assert f"hard_model_data_len = {len(data)};" in (out / "model_data.cc").read_text()
    assert summary["weights_bytes"] == len(data)
    assert sorted(summary["files"]) == sorted(p.name for p in out.iterdir() if p.name != WRITTEN)
    assert json.loads((out / "codegen.json").read_text()) == summary


def test_model_data_compiles_for_cortex_m7(offline, tmp_path):
    gxx = shutil.which("arm-none-eabi-g++")
    if gxx is None:
        pytest.skip("arm-none-eabi-g++ not installed")
    out, _ = offline
    obj = tmp_path / "model_data.o"
    r = subprocess.run(
        [
            gxx,
            "-c",
            "-Wall",
            "-Wextra",
            "-Werror",
            "-std=c++17",
            "-O2",
            "-mcpu=cortex-m7",
            "-mthumb",
            str(out / "model_data.cc"),
            "-o",
            str(obj),
        ],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr
    # the object holds the file's bytes, 16-byte aligned, in read-only data (flash)
    nm = subprocess.run([gxx.replace("g++", "nm"), "-S", str(obj)], capture_output=True, text=True).stdout
    addr, size, kind = next(ln.split()[:3] for ln in nm.splitlines() if ln.endswith(" hard_model_data"))
    data = (out / "model_int8.tflite").read_bytes()
    assert kind == "R" and int(size, 16) == len(data) and int(addr, 16) % 16 == 0
    raw = tmp_path / "rodata.bin"
    subprocess.run(
        [gxx.replace("g++", "objcopy"), "-O", "binary", "-j", ".rodata", str(obj), str(raw)], check=True
    )
    assert raw.read_bytes()[int(addr, 16) : int(addr, 16) + len(data)] == data


def test_offline_plan_is_in_tflm_format(edge, offline):
    out, summary = offline
    data = (out / "model_int8.tflite").read_bytes()
    g = load_tflite(edge)
    offsets = read_offline_plan(data)
    assert offsets is not None and len(offsets) == len(g.tensors)
    header = np.array([0, 1, len(offsets)], "<i4").tobytes()
    at = data.find(header + np.array(offsets, "<i4").tobytes())
    assert at >= 0 and at % 4 == 0  # TFLM reads the buffer as uint32 words
    for t in g.tensors:
        used = t.index in g.activations()
        assert (offsets[t.index] >= 0) == used, t.name
    assert summary["offline_plan"]["planned_tensors"] == len(g.activations())
    assert read_offline_plan(edge.read_bytes()) is None
    assert array_bytes(out / "model_data.cc") == data


def tflm_lifetimes(g) -> dict[int, tuple[int, int]]:
    """TFLM's AllocationInfoBuilder rules: inputs from scope 0, op i's outputs from scope i+1,
    last use at the last reading op's scope, graph outputs to the end."""
    first, last = {t: 0 for t in g.inputs}, {t: 0 for t in g.inputs}
    for i, op in enumerate(g.ops):
        for t in op.outputs:
            first.setdefault(t, i + 1)
        for t in (*op.inputs, *op.outputs):
            if t >= 0 and not g.tensors[t].is_constant:
                last[t] = i + 1
    for t in g.outputs:
        last[t] = len(g.ops)
    return {t: (first[t], last[t]) for t in first}


def test_offline_plan_is_valid_under_tflm_lifetimes(edge, offline):
    g = load_tflite(edge)
    offsets = read_offline_plan((offline[0] / "model_int8.tflite").read_bytes())
    life = tflm_lifetimes(g)
    producer = {t: op for op in g.ops for t in op.outputs}
    planned = [t for t in life if offsets[t] >= 0]
    shared = 0
    for i, a in enumerate(planned):
        for b in planned[i + 1 :]:
            (fa, la), (fb, lb) = life[a], life[b]
            if fa > lb or fb > la:
                continue
            ea, eb = offsets[a] + g.tensors[a].nbytes, offsets[b] + g.tensors[b].nbytes
            if ea <= offsets[b] or eb <= offsets[a]:
                continue
            # the one legal overlap: an elementwise op writing over a same-shape input that dies there
            y, x = (a, b) if fa > fb else (b, a)
            op = producer[y]
            assert (
                op.name == "ADD"
                and x in op.inputs
                and life[x][1] == life[y][0]
                and offsets[x] == offsets[y]
                and g.tensors[x].shape == g.tensors[y].shape
            ), f"{g.tensors[a].name} and {g.tensors[b].name} overlap"
            shared += 1
    assert shared > 0  # hard_edge's residual ADDs run in place


def test_offline_plan_bit_exact_with_reference(edge, offline):
    """TFLM with the offline plan and the emitted arena equals TFLite's reference kernels, on the
    labels and on the full-resolution logits (the last op's input)."""
    out, summary = offline
    data = (out / "model_int8.tflite").read_bytes()
    g = load_tflite(edge)
    extra = last_op_inputs(g)
    xs = check_inputs(g, 3, seed=7)
    got = tflm_outputs(with_outputs(data, extra), summary["arena_size"] + 4096, xs)
    small = tflm_outputs(data, summary["arena"]["tflm_measured"], xs)  # the plan's own minimum arena
    it = reference(edge.read_bytes())
    inp = it.get_input_details()[0]
    seen = []
    for x, outs, labels in zip(xs, got, small, strict=True):
        it.set_tensor(inp["index"], x)
        it.invoke()
        want_labels = it.get_tensor(it.get_output_details()[0]["index"])
        want_logits = it.get_tensor(extra[0])
        assert np.array_equal(labels[0], want_labels) and np.array_equal(outs[0], want_labels)
        assert np.array_equal(outs[1], want_logits)
        seen.append(want_logits)
    assert not np.array_equal(seen[0], seen[1])  # the logits depend on the input: the comparison can fail


def test_offline_plan_is_honoured_and_compared(edge, offline, plain):
    _, summary = offline
    off, plain_arena = summary["offline_plan"], plain[1]["arena"]
    # TFLM's head with the plan is exactly our layout's extent: it used our offsets
    assert summary["arena"]["head_bytes"] == off["plan_head_bytes"] >= off["live_bytes_lower_bound"]
    assert off["arena_without_plan"] == plain_arena["tflm_measured"]
    assert summary["arena"]["tflm_measured"] <= off["arena_without_plan"]
    # what is live at the worst step is a floor for any head, TFLM's own planner included
    assert plain_arena["peak"]["bytes"] == off["live_bytes_lower_bound"] <= plain_arena["head_bytes"]
    # and moving every planned tensor up by 4 KB moves TFLM's head up by exactly 4 KB
    g = load_tflite(edge)
    layout = tflm_layout(g)
    offsets, head = layout["offsets"], layout["head_bytes"]
    shifted = add_offline_plan(edge.read_bytes(), [o + 4096 if o >= 0 else -1 for o in offsets])
    path = offline[0].parent / "shifted.tflite"
    path.write_bytes(shifted)
    assert measure(path)["head_bytes"] == head + 4096


def test_broken_offline_plan_is_refused(edge):
    g = load_tflite(edge)
    source = edge.read_bytes()
    offsets = tflm_layout(g)["offsets"]
    broken = add_offline_plan(
        source, [0 if o >= 0 else -1 for o in offsets]
    )  # everything on top of each other
    with pytest.raises(HardtoolError, match="offline plan changes"):
        check_offline_plan(source, broken, 1 << 20, 1 << 20, g)


def test_cli(edge, tmp_path):
    edge = Path(shutil.copy(edge, tmp_path / "model_int8.tflite"))
    assert_one_line_error(
        run("codegen", str(edge), "--runtime", "tflm", "--offline-plan", "--out", str(tmp_path / "y")),
        "needs memplan.json",
    )
    memplan_json(edge, tmp_path)
    out = tmp_path / "tflm"
    r = run("codegen", str(edge), "--runtime", "tflm", "--offline-plan", "--out", str(out), "--json")
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    assert summary["template"] == "tflm" and summary["offline_plan"]["checked_inputs"] == 3
    assert read_offline_plan((out / "model_int8.tflite").read_bytes()) is not None
    assert_one_line_error(run("codegen", str(edge), "--runtime", "tflm", "--out", str(out)), "already exists")
    assert_one_line_error(
        run("codegen", str(edge), "--offline-plan", "--out", str(tmp_path / "x")), "--runtime tflm"
    )


def test_memplan_is_checked_and_compared(edge, tmp_path):
    from hardtool.memplan import PlanOptions, plan_file, to_json
    from hardtool.memplan.plan import QUICK

    doc = to_json(plan_file(edge, options=PlanOptions(**QUICK)))
    good = tmp_path / "memplan.json"
    good.write_text(json.dumps(doc))
    summary = generate_tflm(edge, tmp_path / "a", good)
    assert summary["hardtool_arena"] == doc["arena_size"] < summary["arena"]["tflm_measured"]
    assert f"{doc['arena_size']}-byte arena" in (tmp_path / "a" / "README.md").read_text()
    other = tmp_path / "other.json"
    other.write_text(json.dumps({**doc, "model_sha256": "0" * 64}))
    with pytest.raises(HardtoolError, match="another model"):
        generate_tflm(edge, tmp_path / "b", other)
    assert not (tmp_path / "b").exists()


def test_op_without_tflm_kernel_is_refused():
    from hardtool.codegen.tflm import resolver_ops
    from hardtool.core.graph import Graph, Op, Tensor

    t = [Tensor(0, "x", (1, 4), "int8"), Tensor(1, "y", (1, 4), "int8")]
    g = Graph(t, [Op(0, "RELU_N1_TO_1", (0,), (1,))], (0,), (1,))
    with pytest.raises(HardtoolError, match="no builtin kernel for RELU_N1_TO_1"):
        resolver_ops(g)


def test_replanning_a_planned_model(offline, plain, tmp_path):
    planned = tmp_path / "planned.tflite"
    shutil.copy(offline[0] / "model_int8.tflite", planned)
    summary = generate_tflm(planned, tmp_path / "again", memplan_json(planned, tmp_path), offline_plan=True)
    again = (tmp_path / "again" / "model_int8.tflite").read_bytes()
    assert read_offline_plan(again) == read_offline_plan(planned.read_bytes())
    assert summary["offline_plan"]["arena_without_plan"] == plain[1]["arena"]["tflm_measured"]
