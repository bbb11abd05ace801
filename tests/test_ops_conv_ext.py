"""The PRELU and TRANSPOSE_CONV records and the grouped CONV_2D branch, end to end without the
codegen pipeline: each op's record checks (Prepare, refusal), chooses a kernel for a DSP and a
portable target, and its emitter writes the constants and the call of exactly that symbol; the
emitted layers of one-op and multi-op int8 models, compiled with the kernel library
(-Wall -Wextra -Werror) into a host program, give TFLite's reference kernels' output bytes."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
from kernels_util import RefModel, assert_bit_exact, convert_int8, rand_int8

from hardtool.core.boards import C_FLAGS
from hardtool.core.graph.ir import Graph, Op
from hardtool.core.graph.lower import lower
from hardtool.core.graph.reader import load_tflite_bytes
from hardtool.core.graph.validate import Check
from hardtool.kernels.build import kernel_dir, kernel_sources
from hardtool.ops import conv_grouped, records
from hardtool.ops.cgen import EmitContext, Layer


@pytest.fixture(scope="module")
def kernel_objs(tmp_path_factory) -> list[Path]:
    """The kernel library compiled once for this module's host programs."""
    out = tmp_path_factory.mktemp("ext_objs")
    objs = []
    for src in kernel_sources():
        obj = out / (src.stem + ".o")
        subprocess.run(["gcc", *C_FLAGS, "-I", str(kernel_dir()), "-c", str(src), "-o", str(obj)], check=True)
        objs.append(obj)
    return objs


def _record_parts(g: Graph, op: Op):
    """(refuse, choose, emit) of the op: its record's, or the grouped branch of CONV_2D."""
    if conv_grouped.is_grouped(g, op):
        return conv_grouped.refuse, conv_grouped.choose, conv_grouped.emit
    rec = records()[op.name]
    rec.prepare(Check(g, op))
    return rec.refuse, rec.choose, rec.emit


def _program(g: Graph, dsp: bool) -> tuple[str, list[Layer]]:
    """A C program: every op's emitted layer in order, the graph input on stdin, output on stdout."""
    chosen = {}
    for op in g.ops:
        refuse, choose, _ = _record_parts(g, op)
        refuse(g, op)
        chosen[op.index] = choose(g, op, dsp)
    ctx = EmitContext(
        graph=g,
        ptr=lambda t: f"t{t}",
        scratch=lambda i: (f"(void *)s{i}", chosen[i].scratch) if chosen[i].scratch else None,
    )
    layers, decls, calls = [], [], []
    for step, op in enumerate(g.ops):
        layer = Layer(step, op.index, f"{op.name}#{op.index}", kernel=chosen[op.index].symbol)
        _record_parts(g, op)[2](ctx, op, layer, f"l{step}")
        assert layer.kernel == chosen[op.index].symbol and f"st = {layer.kernel}(" in layer.call
        layers.append(layer)
        decls += layer.decls
        calls.append(f"    {layer.call}\n    if (st != HARD_OK) return 10 + {step};")
        if chosen[op.index].scratch:
            decls.append(f"static uint32_t s{op.index}[{(chosen[op.index].scratch + 3) // 4}];")
    for t in g.tensors:
        if not t.is_constant and t.dtype == "int8":
            decls.append(f"static int8_t t{t.index}[{t.nbytes}] __attribute__((aligned(8)));")
    x, y = g.tensors[g.inputs[0]], g.tensors[g.outputs[0]]
    main = (
        "int main(void)\n{\n    hard_status st;\n"
        f"    if (fread(t{x.index}, 1, {x.nbytes}, stdin) != {x.nbytes}) return 2;\n"
        + "\n".join(calls)
        + f"\n    fwrite(t{y.index}, 1, {y.nbytes}, stdout);\n    return 0;\n}}\n"
    )
    head = '#include <stdint.h>\n#include <stdio.h>\n#include <string.h>\n#include "hard_kernels.h"\n\n'
    return head + "\n".join(decls) + "\n\n" + main, layers


def _check_model(model: bytes, kernel_objs, tmp_path: Path, expect_ops: list[str]) -> None:
    ref = RefModel(model)
    assert ref.op_names == expect_ops, ref.op_names
    g = lower(load_tflite_bytes(model, validate=False))
    rng = np.random.default_rng(len(model))
    xs = [rand_int8(rng, ref.shape(ref.inputs[0])) for _ in range(3)]
    for dsp in (False, True):
        src, layers = _program(g, dsp)
        exe = tmp_path / f"prog_{int(dsp)}"
        (tmp_path / "prog.c").write_text(src)
        cmd = ["gcc", *C_FLAGS, "-I", str(kernel_dir()), str(tmp_path / "prog.c"), *map(str, kernel_objs)]
        subprocess.run([*cmd, "-o", str(exe)], check=True)
        assert all(L.macs > 0 or L.name.startswith("PRELU") for L in layers)
        for x in xs:
            (want,) = ref.run(x)
            got = subprocess.run([str(exe)], input=x.tobytes(), capture_output=True, check=True).stdout
            assert_bit_exact(np.frombuffer(got, np.int8).reshape(want.shape), want, f"dsp={dsp} {expect_ops}")


def _w(rng, *shape) -> np.ndarray:
    return rng.normal(0, 1, shape).astype(np.float32)


def test_prelu_layer(kernel_objs, tmp_path):
    import tensorflow as tf

    rng = np.random.default_rng(1)
    alpha = rng.normal(0.2, 0.3, (1, 1, 6)).astype(np.float32)
    f = tf.function(lambda x: tf.nn.relu(x) + tf.nn.relu(-x) * (-alpha))
    _check_model(convert_int8(f, [(1, 5, 7, 6)], [(-2.0, 1.0)]), kernel_objs, tmp_path, ["PRELU"])


@pytest.mark.parametrize(
    "k,stride,mode,bias", [(3, 2, "SAME", True), (2, 2, "VALID", False), (4, 3, "SAME", True)]
)
def test_transpose_conv_layer(kernel_objs, tmp_path, k, stride, mode, bias):
    import tensorflow as tf

    rng = np.random.default_rng(k)
    w, b = _w(rng, k, k, 5, 12), _w(rng, 5)
    h, wd = 4, 6
    out = (h * stride, wd * stride) if mode == "SAME" else ((h - 1) * stride + k, (wd - 1) * stride + k)

    @tf.function
    def f(x):
        y = tf.nn.conv2d_transpose(x, w, [1, *out, 5], stride, mode)
        return tf.nn.relu(y + b) if bias else y

    _check_model(convert_int8(f, [(1, h, wd, 12)]), kernel_objs, tmp_path, ["TRANSPOSE_CONV"])


def test_grouped_conv_layer(kernel_objs, tmp_path):
    import tensorflow as tf

    rng = np.random.default_rng(4)
    w, b = _w(rng, 3, 3, 4, 9), _w(rng, 9)
    f = tf.function(lambda x: tf.nn.relu6(tf.nn.conv2d(x, w, 2, "SAME") + b))
    _check_model(convert_int8(f, [(1, 9, 10, 12)]), kernel_objs, tmp_path, ["CONV_2D"])


def test_grouped_conv_prelu_transpose_conv_chain(kernel_objs, tmp_path):
    """A U-Net-like decoder step: grouped conv -> PReLU -> ConvTranspose2d(2, 2) -> PReLU."""
    import tensorflow as tf

    rng = np.random.default_rng(5)
    wg, bg, wt, bt = _w(rng, 3, 3, 4, 8), _w(rng, 8), _w(rng, 2, 2, 6, 8), _w(rng, 6)
    a1, a2 = (rng.normal(0.25, 0.2, (1, 1, c)).astype(np.float32) for c in (8, 6))

    def prelu(x, a):
        return tf.nn.relu(x) + tf.nn.relu(-x) * (-a)

    @tf.function
    def f(x):
        y = prelu(tf.nn.conv2d(x, wg, 1, "SAME") + bg, a1)
        return prelu(tf.nn.conv2d_transpose(y, wt, [1, 10, 12, 6], 2, "VALID") + bt, a2)

    ops = ["CONV_2D", "PRELU", "TRANSPOSE_CONV", "PRELU"]
    _check_model(convert_int8(f, [(1, 5, 6, 8)]), kernel_objs, tmp_path, ops)


def _graph(model: bytes) -> Graph:
    return lower(load_tflite_bytes(model, validate=False))


def test_prepare_and_refusal_name_the_problem():
    """Prepare rejects what TFLite's Prepare rejects (one line naming the op); the refusal says
    why our kernels cannot run an instance."""
    import dataclasses

    import tensorflow as tf

    from hardtool.core.errors import HardtoolError
    from hardtool.kernels.support import Refused

    rng = np.random.default_rng(2)
    alpha = rng.normal(0.2, 0.3, (1, 1, 4)).astype(np.float32)
    g = _graph(convert_int8(tf.function(lambda x: tf.nn.relu(x) + tf.nn.relu(-x) * (-alpha)), [(1, 3, 5, 4)]))
    (op,) = g.ops
    y = g.tensors[op.outputs[0]]
    g.tensors[y.index] = dataclasses.replace(y, shape=(1, 3, 5, 5))
    with pytest.raises(HardtoolError, match=r"op #0 PRELU: output \[1, 3, 5, 5\] is not the broadcast shape"):
        records()["PRELU"].prepare(Check(g, op))
    g.tensors[y.index] = dataclasses.replace(y, dtype="int16")
    with pytest.raises(Refused, match="not int8"):
        records()["PRELU"].refuse(g, op)

    w = _w(rng, 3, 3, 5, 4)
    f = tf.function(lambda x: tf.nn.conv2d_transpose(x, w, [1, 6, 10, 5], 2, "SAME"))
    g = _graph(convert_int8(f, [(1, 3, 5, 4)]))
    (op,) = g.ops
    shape = g.tensors[op.inputs[0]]
    g.tensors[shape.index] = dataclasses.replace(shape, data=np.array([1, 6, 11, 5], np.int32))
    with pytest.raises(HardtoolError, match=r"TRANSPOSE_CONV: output shape operand \[1, 6, 11, 5\] is not"):
        records()["TRANSPOSE_CONV"].prepare(Check(g, op))

    wg = _w(rng, 3, 3, 2, 6)
    g = _graph(convert_int8(tf.function(lambda x: tf.nn.conv2d(x, wg, 1, "SAME")), [(1, 5, 5, 6)]))
    (op,) = g.ops
    assert conv_grouped.groups(g, op) == 3 and conv_grouped.is_grouped(g, op)
    y = g.tensors[op.outputs[0]]
    g.tensors[y.index] = dataclasses.replace(y, shape=(1, 5, 5, 7))
    with pytest.raises(Refused, match="do not split into 3 groups"):
        conv_grouped.refuse(g, op)
