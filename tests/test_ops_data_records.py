"""The op records of TRANSPOSE, DEPTH_TO_SPACE / SPACE_TO_DEPTH, SPLIT / SPLIT_V / PACK / UNPACK,
GATHER, SUM / REDUCE_MAX, SQUARED_DIFFERENCE / ABS / RSQRT (and the refused DIV), on their own:
each op of a converted int8 model passes its record's Prepare checks and refusal, and the C its
emitter writes, compiled with -Werror into a small host program (every tensor in its own
buffer), gives the bytes TFLite's reference kernels give (SUM: TFLite Micro's, see
test_kernels_reduce_ext.py)."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest
from kernels_util import RefModel, convert_int8, rand_int8

from hardtool.core.boards import C_FLAGS
from hardtool.core.graph.validate import Check
from hardtool.kernels.build import kernel_dir, kernel_sources
from hardtool.ops import get
from hardtool.ops.cgen import EmitContext, Layer

MINE = {
    "TRANSPOSE", "DEPTH_TO_SPACE", "SPACE_TO_DEPTH", "SPLIT", "SPLIT_V", "PACK", "UNPACK",
    "GATHER", "SUM", "REDUCE_MAX", "SQUARED_DIFFERENCE", "ABS", "RSQRT",
}  # fmt: skip


def _model() -> bytes:
    import tensorflow as tf

    def f(x, y, z, w):
        a, b = tf.split(x, 2, axis=3)
        c = tf.split(y, [1, 3], axis=2)
        s = tf.stack([a, b], axis=1)
        u = tf.unstack(s, axis=1)
        return [
            *u,
            *c,
            tf.gather(x, [3, 0, 0], axis=2),
            tf.nn.space_to_depth(x, 2),
            tf.reduce_sum(x, axis=[1, 2], keepdims=True),
            tf.reduce_max(y, axis=[3]),
            tf.transpose(tf.reshape(x, [1, 4, 4, 2, 2]), [0, 1, 2, 4, 3]),
            tf.math.squared_difference(x, w),
            tf.abs(y),
            tf.math.rsqrt(z),
        ]

    shapes = [(1, 4, 4, 4), (1, 4, 4, 4), (1, 3, 5), (1, 1, 4)]
    return convert_int8(tf.function(f), shapes, [1.0, (-2.0, 0.5), (0.05, 3.0), 3.0])


def _program(graph, order) -> str:
    """C for the ops in ``order``: a static buffer per tensor, inputs read from argv[1], outputs
    written to argv[2] in graph order."""
    acts = sorted({t for i in order for t in (*graph.ops[i].inputs, *graph.ops[i].outputs) if t >= 0})
    acts = [t for t in acts if not graph.tensors[t].is_constant]
    e = EmitContext(graph=graph, ptr=lambda t: f"T{t}", scratch=lambda i: None)
    decls, calls = [], []
    for k, i in enumerate(order):
        op = graph.ops[i]
        layer = Layer(index=k, op=i, name=f"{op.name}#{i}")
        rec = get(op.name) if op.name in MINE else None
        if rec is None:  # the RESHAPEs around the shuffle: same bytes
            assert op.name == "RESHAPE", op.name
            calls.append(f"memcpy(T{op.outputs[0]}, T{op.inputs[0]}, {graph.tensors[op.inputs[0]].nbytes});")
            continue
        rec.emit(e, op, layer, f"l{k}")
        assert layer.kernel == rec.choose(graph, op, False).symbol
        decls += layer.decls
        calls.append(f"{layer.call}\nif (st != HARD_OK) return {10 + k};")
    bufs = [f"static int8_t T{t}[{graph.tensors[t].nbytes}];" for t in acts]
    reads = [
        f"if (fread(T{t}, 1, {graph.tensors[t].nbytes}, f) != {graph.tensors[t].nbytes}) return 2;"
        for t in graph.inputs
    ]
    writes = [f"fwrite(T{t}, 1, {graph.tensors[t].nbytes}, f);" for t in graph.outputs]
    body = "\n".join(["hard_status st = HARD_OK;", 'FILE *f = fopen(argv[1], "rb");', "if (!f) return 1;", *reads,
                      "fclose(f);", *calls, 'f = fopen(argv[2], "wb");', "if (!f) return 3;", *writes, "fclose(f);",
                      "(void)argc;", "return 0;"])  # fmt: skip
    head = '#include <stdio.h>\n#include <string.h>\n#include "hard_kernels.h"\n'
    return head + "\n".join(bufs + decls) + f"\nint main(int argc, char **argv)\n{{\n{body}\n}}\n"


def test_records_emit_c_that_matches_tflite(tmp_path):
    from tflite_micro.python.tflite_micro import runtime

    from hardtool.core.graph import load_tflite_bytes

    model = _model()
    graph = load_tflite_bytes(model, validate=False)
    names = [op.name for op in graph.ops]
    assert MINE - {"DEPTH_TO_SPACE"} <= set(names), names
    for op in graph.ops:
        if op.name in MINE:
            rec = get(op.name)
            rec.prepare(Check(graph, op))
            rec.refuse(graph, op)
    src = tmp_path / "prog.c"
    src.write_text(_program(graph, range(len(graph.ops))))
    exe = tmp_path / "prog"
    cmd = ["gcc", *C_FLAGS, "-I", str(kernel_dir()), str(src), *map(str, kernel_sources()), "-o", str(exe)]
    build = subprocess.run(cmd, capture_output=True, text=True)
    assert build.returncode == 0, build.stderr[:3000]

    ref = RefModel(model)
    micro = runtime.Interpreter.from_bytes(model)
    rng = np.random.default_rng(5)
    sum_out = [t for op in graph.ops if op.name == "SUM" for t in op.outputs]
    for trial in range(3):
        xs = [rand_int8(rng, graph.tensors[t].shape) for t in graph.inputs]
        zp = graph.tensors[graph.inputs[2]].quant.zero_point[0]
        xs[2] = np.maximum(xs[2], zp).astype(np.int8)  # RSQRT: TFLite fails below the zero point
        (tmp_path / "in.bin").write_bytes(b"".join(x.tobytes() for x in xs))
        run = subprocess.run(
            [str(exe), str(tmp_path / "in.bin"), str(tmp_path / "out.bin")], capture_output=True
        )
        assert run.returncode == 0, run
        got = np.frombuffer((tmp_path / "out.bin").read_bytes(), np.int8)
        want = ref.run(*xs)
        for i, x in enumerate(xs):
            micro.set_input(x, i)
        micro.invoke()
        at = 0
        for k, (t, w) in enumerate(zip(graph.outputs, want, strict=True)):
            if t in sum_out:
                w = np.array(micro.get_output(k))
            n = w.size
            np.testing.assert_array_equal(
                got[at : at + n], w.reshape(-1), err_msg=f"output {k} ({t}) trial {trial}"
            )
            at += n


def test_div_is_recorded_as_refused():
    from hardtool.kernels.support import Refused

    rec = get("DIV")
    assert rec is not None and not rec.runs and rec.tflm == "AddDiv"
    with pytest.raises(Refused, match="no int8 DIV"):
        rec.refuse(None, None)
