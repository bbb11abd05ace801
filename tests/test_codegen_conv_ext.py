"""PRELU, LEAKY_RELU, TRANSPOSE_CONV, grouped CONV_2D and a padded MAX_POOL_2D through the whole
pipeline: memplan, codegen (host, and the emulated board's DSP target), the build, every layer's
output and the model's output bytes equal TFLite's reference kernels (single-op models and a small
U-Net level); the U-Net level also as firmware on the emulated Cortex-M7."""

from __future__ import annotations

import json
import re
import shutil

import numpy as np
import pytest
from kernels_util import convert_int8

from tests.test_codegen import assert_bit_exact, project


def _w(rng, *shape) -> np.ndarray:
    return rng.normal(0, 1, shape).astype(np.float32)


def _prelu(x, alpha):
    import tensorflow as tf

    return tf.nn.relu(x) + tf.nn.relu(-x) * (-alpha)


def prelu_model() -> bytes:
    import tensorflow as tf

    alpha = np.random.default_rng(1).normal(0.2, 0.3, (1, 1, 6)).astype(np.float32)
    return convert_int8(tf.function(lambda x: _prelu(x, alpha)), [(1, 7, 9, 6)], [(-2.0, 1.0)])


def transpose_conv_model(k: int, stride: int, mode: str, bias: bool) -> bytes:
    import tensorflow as tf

    rng = np.random.default_rng(k + stride)
    w, b = _w(rng, k, k, 5, 12), _w(rng, 5)
    h, wd = 4, 6
    out = (h * stride, wd * stride) if mode == "SAME" else ((h - 1) * stride + k, (wd - 1) * stride + k)

    @tf.function
    def f(x):
        y = tf.nn.conv2d_transpose(x, w, [1, *out, 5], stride, mode)
        return tf.nn.relu(y + b) if bias else y

    return convert_int8(f, [(1, h, wd, 12)])


def grouped_conv_model() -> bytes:
    import tensorflow as tf

    rng = np.random.default_rng(4)
    w, b = _w(rng, 3, 3, 4, 9), _w(rng, 9)
    return convert_int8(
        tf.function(lambda x: tf.nn.relu6(tf.nn.conv2d(x, w, 2, "SAME") + b)), [(1, 9, 10, 12)]
    )


def unet_model(leaky: bool) -> bytes:
    """conv -> PReLU (or LeakyReLU) -> padded max pool -> grouped conv -> ConvTranspose2d(2, 2)
    -> concat with the skip -> conv: a U-Net level as onnx2tf converts it."""
    import tensorflow as tf

    rng = np.random.default_rng(9)
    w1, b1, wg, bg = _w(rng, 3, 3, 3, 8), _w(rng, 8), _w(rng, 3, 3, 2, 8), _w(rng, 8)
    wt, bt, w2, b2 = _w(rng, 2, 2, 8, 8), _w(rng, 8), _w(rng, 1, 1, 16, 4), _w(rng, 4)
    a1, a2 = (rng.normal(0.25, 0.2, (1, 1, 8)).astype(np.float32) for _ in range(2))

    def act(x, a):
        return tf.nn.leaky_relu(x, 0.1) if leaky else _prelu(x, a)

    @tf.function
    def f(x):
        s = act(tf.nn.conv2d(x, w1, 1, "SAME") + b1, a1)
        d = tf.nn.max_pool2d(s, 3, 2, "SAME")
        d = act(tf.nn.conv2d(d, wg, 1, "SAME") + bg, a2)
        u = tf.nn.conv2d_transpose(d, wt, [1, 16, 20, 8], 2, "VALID") + bt
        return tf.nn.conv2d(tf.concat([u, s], axis=3), w2, 1, "VALID") + b2

    return convert_int8(f, [(1, 16, 20, 3)])


def _ops(model: bytes) -> list[str]:
    from kernels_util import RefModel

    return RefModel(model).op_names


CASES = {
    "prelu": (prelu_model, ["PRELU"]),
    "tconv_k3s2_same_bias": (lambda: transpose_conv_model(3, 2, "SAME", True), ["TRANSPOSE_CONV"]),
    "tconv_k2s2_valid": (lambda: transpose_conv_model(2, 2, "VALID", False), ["TRANSPOSE_CONV"]),
    "grouped": (grouped_conv_model, ["CONV_2D"]),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_single_op_bit_exact(name, tmp_path):
    build, ops = CASES[name]
    model = build()
    assert _ops(model) == ops
    tfl = tmp_path / "model_int8.tflite"
    tfl.write_bytes(model)
    assert_bit_exact(project(tfl, tmp_path), n_inputs=3)


SIMD = {"hard_convolve_grouped_gemm_s8", "hard_transpose_conv_gemm_s8"}


@pytest.mark.parametrize(
    "leaky,template",
    [(False, "host"), (True, "host"), (False, "qemu")],
    ids=["prelu", "leaky_relu", "prelu_dsp"],
)
def test_unet_level_bit_exact(leaky, template, tmp_path):
    """The host template runs the portable kernels; the emulated board's (a DSP target) the SIMD
    ones, here built for the host with their instructions emulated in C."""
    model = unet_model(leaky)
    act = "LEAKY_RELU" if leaky else "PRELU"
    want = {"CONV_2D", act, "MAX_POOL_2D", "TRANSPOSE_CONV", "CONCATENATION"}
    assert want <= set(_ops(model)), _ops(model)
    tfl = tmp_path / "model_int8.tflite"
    tfl.write_bytes(model)
    proj = project(tfl, tmp_path, template)
    kernels = {L["kernel"] for L in json.loads((proj / "codegen.json").read_text())["layer_table"]}
    assert SIMD <= kernels if template == "qemu" else not SIMD & kernels, kernels
    assert_bit_exact(proj, n_inputs=3)


@pytest.mark.skipif(
    not (shutil.which("arm-none-eabi-gcc") and shutil.which("qemu-system-arm")),
    reason="needs arm-none-eabi-gcc and qemu-system-arm",
)
def test_unet_level_bit_exact_on_the_emulated_board(tmp_path):
    """The same level as firmware on the emulated Cortex-M7: the SIMD kernels' real DSP
    instructions, output bytes equal to TFLite's reference kernels."""
    from tests.test_memplan_lean import run_on_qemu

    tfl = tmp_path / "model_int8.tflite"
    tfl.write_bytes(unet_model(False))
    proj = project(tfl, tmp_path, "qemu")
    cg = json.loads((proj / "codegen.json").read_text())
    assert SIMD <= {L["kernel"] for L in cg["layer_table"]}
    r = run_on_qemu(proj, cg, tmp_path)
    assert r["completed"] == 2 and r["agreement"]["bit_exact"], r["agreement"]


def grouped_concat_model() -> bytes:
    """Two grouped convs written straight into their channel slices of a concatenation (the
    plan's strided output), as ESPNetV2's EESP unit concatenates its grouped branches."""
    import tensorflow as tf

    rng = np.random.default_rng(12)
    wa, wb, ba, bb = _w(rng, 3, 3, 4, 8), _w(rng, 1, 1, 2, 8), _w(rng, 8), _w(rng, 8)

    @tf.function
    def f(x):
        a = tf.nn.relu(tf.nn.conv2d(x, wa, 1, "SAME") + ba)
        b = tf.nn.conv2d(x, wb, 1, "VALID") + bb
        return tf.concat([a, b], axis=3)

    return convert_int8(f, [(1, 6, 7, 8)])


@pytest.mark.parametrize("template", ["host", "qemu"])
def test_grouped_convs_into_concat_slices_bit_exact(template, tmp_path):
    model = grouped_concat_model()
    assert _ops(model) == ["CONV_2D", "CONV_2D", "CONCATENATION"], _ops(model)
    tfl = tmp_path / "model_int8.tflite"
    tfl.write_bytes(model)
    proj = project(tfl, tmp_path, template)
    assert (
        len(
            re.findall(
                r"hard_conv_params l\d_p = \{[^;]*\.output_stride = 16", (proj / "model.c").read_text()
            )
        )
        == 2
    )
    assert_bit_exact(proj, n_inputs=3)
