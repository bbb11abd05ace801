"""Codegen for any int8 TFLite model: the MLPerf Tiny reference files and a model using every op
the kernels take (int8, float32 and uint8 graph I/O, several inputs and outputs) equal TFLite's
reference kernels on every layer and output; the generic C API describes every tensor, the
label-map API exists only for graphs ending in ARG_MAX; unsupported ops are listed all at once."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from kernels_util import convert_int8

from bench.common import mlperf_dir
from tests.test_cli_errors import run
from tests.test_codegen import assert_bit_exact, project

MLPERF_DIR = mlperf_dir() or Path("shared/mlperf-tiny")  # absent: the tests that need it skip
MLPERF = ["vww_96_int8", "resnet8_quant", "kws_ref_model", "ad01_int8", "strm_ww_int8"]


@pytest.mark.slow
@pytest.mark.parametrize("name", MLPERF)
def test_mlperf_tiny_file_bit_exact(name, tmp_path):
    path = MLPERF_DIR / f"{name}.tflite"
    if not path.is_file():
        pytest.skip(f"{path} not present")
    proj = project(path, tmp_path)
    assert_bit_exact(proj, n_inputs=2)
    header = (proj / "model.h").read_text()
    assert "HARD_NUM_CLASSES" not in header and "hard_model_labels" not in header  # logits, not labels


def every_op(io_type: str) -> bytes:
    """Two inputs, three outputs; FULLY_CONNECTED, SOFTMAX, LOGISTIC, TANH, RELU6, RELU_N1_TO_1,
    LEAKY_RELU, HARD_SWISH, MAXIMUM, MINIMUM, SUB, broadcast MUL / ADD with constants, MEAN over H,W
    and over C, STRIDED_SLICE, SLICE, PAD of channels, CONCATENATION along W and C, MAX_POOL_2D,
    RESHAPE, QUANTIZE int8 -> int8, and the graph-edge conversions of ``io_type``."""
    import tensorflow as tf

    rng = np.random.default_rng(0)
    w1 = rng.normal(0, 0.3, (12, 16)).astype(np.float32)
    b1 = rng.normal(0, 0.1, (16,)).astype(np.float32)
    c1 = rng.normal(0, 0.5, (1, 1, 1, 8)).astype(np.float32)

    @tf.function
    def f(x, v):
        a, b = tf.nn.relu6(x), tf.nn.leaky_relu(x, alpha=0.1)
        c = x * tf.nn.relu6(x + 3.0) / 6.0
        e = (tf.maximum(a, b) - tf.minimum(b, c)) * c1 + c1
        m = tf.reduce_mean(e, axis=[1, 2], keepdims=True)
        s = tf.strided_slice(e, [0, 1, 0, 0], [1, 6, 8, 8], [1, 2, 1, 2])
        sl = tf.slice(e, [0, 0, 2, 0], [1, 6, 4, 8])
        cat = tf.concat([tf.pad(sl, [[0, 0], [0, 0], [0, 0], [1, 1]])[:, :, :, :8], sl], axis=2)
        r = tf.reshape(tf.nn.max_pool2d(cat, 2, 2, "VALID"), [1, -1])
        h = tf.nn.relu(tf.matmul(v, w1) + b1)
        t = tf.concat([tf.tanh(h[:, :8]), tf.sigmoid(h[:, 8:] + 0.0 * r[:, :8])], axis=1)
        sm = tf.nn.softmax(tf.concat([t, tf.squeeze(m, [1, 2])], axis=1))
        m2 = tf.clip_by_value(tf.reduce_mean(e, axis=[3]), -1.0, 1.0)
        return sm, m2, tf.nn.max_pool2d(s, [1, 2], [1, 2], "VALID")

    return convert_int8(f, [(1, 6, 8, 8), (1, 12)], [3.0, 2.0], io_type=io_type)


EVERY_OP = {
    "FULLY_CONNECTED",
    "SOFTMAX",
    "LOGISTIC",
    "TANH",
    "RELU6",
    "RELU_N1_TO_1",
    "LEAKY_RELU",
    "HARD_SWISH",
    "MAXIMUM",
    "MINIMUM",
    "SUB",
    "MUL",
    "ADD",
    "MEAN",
    "STRIDED_SLICE",
    "SLICE",
    "PAD",
    "CONCATENATION",
    "MAX_POOL_2D",
    "QUANTIZE",
}


@pytest.mark.parametrize("io_type", ["int8", "float32", "uint8"])
def test_every_op_bit_exact_with_any_graph_io(io_type, tmp_path):
    from hardtool.core.graph import load_tflite

    tfl = tmp_path / "model_int8.tflite"
    tfl.write_bytes(every_op(io_type))
    names = {op.name for op in load_tflite(tfl).ops}
    assert EVERY_OP <= names, EVERY_OP - names
    proj = project(tfl, tmp_path)
    assert_bit_exact(proj, n_inputs=3)
    header, model_c = (proj / "model.h").read_text(), (proj / "model.c").read_text()
    assert "#define HARD_NUM_INPUTS 2" in header and "#define HARD_NUM_OUTPUTS 3" in header
    types = re.findall(r"\.type = (HARD_TYPE_\w+)", model_c)
    edge = {"int8": "HARD_TYPE_INT8", "float32": "HARD_TYPE_FLOAT32", "uint8": "HARD_TYPE_UINT8"}[io_type]
    assert types == [edge] * 5, types
    # the float kernels only for float I/O (built with HARD_FLOAT_IO, never -ffast-math)
    float_io = io_type == "float32"
    assert (proj / "kernels" / "hard_float_io.c").is_file() == float_io
    assert ("-DHARD_FLOAT_IO=1" in (proj / "Makefile").read_text()) == float_io


@pytest.mark.skipif(shutil.which("make") is None, reason="make not installed")
def test_host_executable_writes_every_output_tensor(tmp_path):
    """model_host reads each input's bytes and writes each output's bytes, nothing more (a
    segmentation net ending in logits writes its logits, not labels)."""
    import model_builders

    from hardtool.quantize.runtime import Int8Model

    tfl = model_builders.build("toy_hard_notail", tmp_path, classes=6)
    proj = project(tfl, tmp_path)
    header = (proj / "model.h").read_text()
    assert "HARD_NUM_CLASSES" not in header and "hard_model_labels" not in header
    subprocess.run(["make", "-C", str(proj), "CC=gcc"], capture_output=True, check=True)
    ref = Int8Model(tfl)
    x = np.random.default_rng(3).integers(-128, 128, (2, 64, 128, 3)).astype(np.int8)
    out = subprocess.run(
        [str(proj / "model_host")], input=x.tobytes(), capture_output=True, check=True
    ).stdout
    logits = np.frombuffer(out, np.int8).reshape(2, 8, 16, 6)  # exactly 2 x (8 x 16 x 6) bytes
    for k in range(2):
        ref.interp.set_tensor(ref.input_index, x[k : k + 1])
        ref.interp.invoke()
        assert np.array_equal(logits[k], ref.interp.get_tensor(ref.output_index)[0])
    assert f"{8 * 16 * 6} B" in (proj / "README.md").read_text()


def test_label_api_only_for_argmax_with_its_class_count(tmp_path):
    import model_builders

    tfl = model_builders.build("toy_hard", tmp_path, classes=6)
    proj = project(tfl, tmp_path)
    header = (proj / "model.h").read_text()
    assert "#define HARD_NUM_CLASSES 6" in header and "uint8_t *hard_model_labels(void);" in header
    assert "#define HARD_LABELS_H 64" in header and "#define HARD_LABELS_W 128" in header
    assert "6 classes" in (proj / "README.md").read_text()


def unsupported_model() -> bytes:
    """A REVERSE_V2 (no kernel) and a reversing STRIDED_SLICE (a stride the kernel does not take)."""
    import tensorflow as tf

    @tf.function
    def f(x):
        y = tf.nn.relu(x)
        return tf.reverse(y, [2]), y[:, ::-1, :, :] * 2.0

    return convert_int8(f, [(1, 8, 8, 4)])


def reversing_slice() -> bytes:
    import tensorflow as tf

    @tf.function
    def f(x):
        return tf.nn.relu(x)[:, ::-1, :, :] * 2.0

    return convert_int8(f, [(1, 8, 8, 4)])


def test_codegen_lists_every_unsupported_op_at_once(tmp_path):
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(unsupported_model())
    r = run("codegen", str(bad), "-t", "host", "--out", str(tmp_path / "out"))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    first, *lines = r.stderr.strip().splitlines()
    assert first.startswith("error: bad: 2 op(s)") and len(lines) == 2, r.stderr
    reverse = r"  op #\d+ REVERSE_V2 \(\[1, 8, 8, 4\], \[1\] -> \[1, 8, 8, 4\]\): no int8 kernel"
    assert any(re.fullmatch(reverse, ln) for ln in lines), lines
    assert any(
        re.match(r"  op #\d+ STRIDED_SLICE \(\[1, 8, 8, 4\].*\): only positive strides", ln) for ln in lines
    )
    assert not (tmp_path / "out").exists()


def test_memplan_plans_and_warns_about_ops_codegen_refuses(tmp_path):
    tfl = tmp_path / "rev.tflite"
    tfl.write_bytes(reversing_slice())
    r = run("memplan", str(tfl), "--no-tflm")
    assert r.returncode == 0 and (tmp_path / "rev.memplan.json").is_file(), r.stderr
    lines = r.stderr.strip().splitlines()
    assert lines[0].startswith("warning: 1 op(s)") and "STRIDED_SLICE" in lines[1], r.stderr


def test_mean_reserves_scratch_only_for_the_hw_kernel():
    """MEAN over H and W with keep_dims runs hard_mean_hw_s8 (4 x C scratch); any other MEAN runs
    hard_mean_s8, which needs none."""
    from hardtool.core.graph.ir import Graph, Op, Quant, Tensor
    from hardtool.kernels.support import mean_is_hw
    from hardtool.ops.tables import scratch_bytes

    q = Quant((0.1,), (0,))
    x = Tensor(0, "x", (1, 4, 6, 8), "int8", q)
    hw, c = (
        Tensor(1, "hw", (2,), "int32", None, np.array([1, 2], np.int32)),
        Tensor(2, "c", (1,), "int32", None, np.array([3], np.int32)),
    )
    y1, y2 = Tensor(3, "y1", (1, 1, 1, 8), "int8", q), Tensor(4, "y2", (1, 4, 6), "int8", q)
    ops = [
        Op(0, "MEAN", (0, 1), (3,), {"keep_dims": True}),
        Op(1, "MEAN", (0, 2), (4,), {"keep_dims": False}),
    ]
    g = Graph([x, hw, c, y1, y2], ops, (0,), (3, 4))
    assert mean_is_hw(g, ops[0]) and not mean_is_hw(g, ops[1])
    assert scratch_bytes(ops[0], g) == 4 * 8 and scratch_bytes(ops[1], g) == 0


def test_every_op_with_an_emitter_has_a_kernel_choice():
    from hardtool.ops import records

    assert all(r.choose is not None for r in records().values() if r.runs)
