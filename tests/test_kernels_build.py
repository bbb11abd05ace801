"""The kernel library builds warning-free for host and Cortex-M7, stays integer-only, and the
Python mirrors of its integer parameters and scratch sizes agree with TFLite / the C side."""

from __future__ import annotations

import math
import shutil
import subprocess

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from kernels_util import kernel_lib_fixture  # noqa: F401  (provides the kernel_lib fixture)

from hardtool.core.boards import C_FLAGS, EMULATED_BOARD, get_board
from hardtool.kernels import build as hostlib
from hardtool.kernels import quant
from hardtool.kernels.scratch import kernel_scratch_bytes

ARM_CC = "arm-none-eabi-gcc"


@pytest.mark.skipif(shutil.which(ARM_CC) is None, reason="arm-none-eabi-gcc not installed")
def test_builds_for_cortex_m7_without_warnings_or_float(tmp_path):
    objs = hostlib.compile_for_cortex_m7(tmp_path)
    assert len(objs) == len(hostlib.kernel_sources()) >= 4
    dump = subprocess.run(
        ["arm-none-eabi-objdump", "-d", *map(str, objs)], capture_output=True, text=True, check=True
    )
    fp_ops = [
        ln
        for ln in dump.stdout.splitlines()
        if "\tv" in ln
        and any(
            f"\t{op}" in ln for op in ("vadd", "vsub", "vmul", "vdiv", "vcvt", "vmov", "vldr", "vstr", "vcmp")
        )
    ]
    assert not fp_ops, f"kernels use the FPU: {fp_ops[:5]}"
    syms = subprocess.run(
        ["arm-none-eabi-nm", *map(str, objs)], capture_output=True, text=True, check=True
    ).stdout
    float_helpers = [
        s for s in syms.split() if s.startswith(("__aeabi_f", "__aeabi_d", "__aeabi_i2f", "__aeabi_ui2f"))
    ]
    assert not float_helpers, float_helpers


@pytest.mark.parametrize("defines", [(), ("HARD_FLOAT_IO", "HARD_EMULATE_DSP")])
def test_host_build_is_strict_c99(tmp_path, defines):
    """-std=c99 -pedantic -Wall -Wextra -Wconversion -Werror, every file on its own; also with the
    float I/O kernels and the emulated DSP paths compiled in."""
    for src in hostlib.kernel_sources():
        proc = subprocess.run(
            [
                "gcc",
                *[f"-D{d}" for d in defines],
                "-std=c99",
                "-pedantic",
                "-Wall",
                "-Wextra",
                "-Wconversion",
                "-Wshadow",
                "-Werror",
                "-O2",
                "-I",
                str(hostlib.kernel_dir()),
                "-c",
                str(src),
                "-o",
                str(tmp_path / (src.stem + ".o")),
            ],
            capture_output=True,
            text=True,
        )
        assert proc.returncode == 0, f"{src.name}:\n{proc.stderr}"


def test_scratch_table_mirrors_c(kernel_lib):
    rng = np.random.default_rng(0)
    for _ in range(20):
        n, h, w, c = 1, *(int(v) for v in rng.integers(1, 50, size=3))
        inp, out = (n, h, w, c), (n, h * 2, w * 2, c)
        lib = kernel_lib.buffer_size
        assert kernel_scratch_bytes("hard_avgpool_s8", inp) == lib("hard_avgpool_s8", inp, out)
        assert kernel_scratch_bytes("hard_mean_hw_s8", inp) == lib("hard_mean_hw_s8", inp)
        assert kernel_scratch_bytes("hard_resize_bilinear_argmax_s8", inp) == lib(
            "hard_resize_bilinear_argmax_s8", inp
        )
        cout = int(rng.integers(1, 70))
        for fn, filt, c_args in [
            ("hard_convolve_s8", (cout, 3, 3, c), (inp, (cout, 3, 3, c), inp)),
            ("hard_convolve_s8", (cout, 1, 1, c), (inp, (cout, 1, 1, c), inp)),
            ("hard_convolve_1x1_s8", (cout, 1, 1, c), (inp, (cout, 1, 1, c))),
            ("hard_convolve_1x1_q15_s8", (cout, 1, 1, c), (inp, (cout, 1, 1, c))),
            ("hard_convolve_im2col_s8", (cout, 3, 2, c), (inp, (cout, 3, 2, c), inp)),
            ("hard_convolve_im2col_q15_s8", (cout, 3, 2, c), (inp, (cout, 3, 2, c), inp)),
            ("hard_depthwise_conv_s8", (1, 3, 3, c), (inp, (1, 3, 3, c), inp)),
            ("hard_depthwise_conv_3x3_s8", (1, 3, 3, c), (inp,)),
        ]:
            assert kernel_scratch_bytes(fn, inp, filt) == lib(fn, *c_args), (fn, inp, filt)
        assert kernel_scratch_bytes("hard_max_pool_s8", inp) == lib("hard_max_pool_s8", inp, out) == 0
    for _ in range(5):
        units, depth = (int(v) for v in rng.integers(1, 300, size=2))
        for fn in ("hard_fully_connected_s8", "hard_fully_connected_per_channel_s8"):
            assert (
                kernel_scratch_bytes(fn, (1, depth)) == kernel_lib.buffer_size(fn, (units, 1, 1, depth)) == 0
            )
    for _op, fn in [
        ("SOFTMAX", "hard_softmax_s8"),
        ("LOGISTIC", "hard_lut_s8"),
        ("TANH", "hard_lut_s8"),
        ("RELU", "hard_relu_s8"),
        ("RELU6", "hard_relu_s8"),
        ("RELU_N1_TO_1", "hard_relu_s8"),
        ("RELU_0_TO_1", "hard_relu_s8"),
        ("LEAKY_RELU", "hard_leaky_relu_s8"),
        ("HARD_SWISH", "hard_hard_swish_s8"),
        ("SUB", "hard_broadcast_add_s8"),
        ("ADD", "hard_broadcast_add_s8"),
        ("MUL", "hard_broadcast_mul_s8"),
        ("MAXIMUM", "hard_maximum_s8"),
        ("MINIMUM", "hard_minimum_s8"),
        ("STRIDED_SLICE", "hard_strided_slice_s8"),
        ("SLICE", "hard_strided_slice_s8"),
        ("PAD", "hard_pad4d_s8"),
        ("PADV2", "hard_pad4d_s8"),
        ("QUANTIZE", "hard_requantize_s8_u8"),
        ("QUANTIZE", "hard_requantize_u8_s8"),
        ("QUANTIZE", "hard_quantize_f32_s8"),
        ("DEQUANTIZE", "hard_dequantize_s8_f32"),
        ("ADD", "hard_elementwise_add_s8"),
        ("ADD", "hard_elementwise_add_table_s8"),
        ("MUL", "hard_elementwise_mul_s8"),
        ("QUANTIZE", "hard_requantize_s8"),
        ("CONCATENATION", "hard_concatenation_c_s8"),
        ("PAD", "hard_pad_s8"),
        ("RESIZE_BILINEAR", "hard_resize_bilinear_s8"),
        ("RESIZE_NEAREST_NEIGHBOR", "hard_resize_nearest_s8"),
        ("ARG_MAX", "hard_argmax_c_s8"),
    ]:
        assert kernel_scratch_bytes(fn, (1, 4, 4, 8)) == kernel_lib.buffer_size(fn) == 0
    assert kernel_lib.buffer_size("hard_mean_s8") == kernel_scratch_bytes("hard_mean_s8", (1, 4, 4, 8)) == 0
    with pytest.raises(ValueError):
        kernel_scratch_bytes("hard_avgpool_s8", (1, 4, 4, 0))
    with pytest.raises(TypeError):
        kernel_scratch_bytes("hard_convolve_s8", (1, 4, 4, 8))


@pytest.mark.parametrize(
    "scale, expected",
    [
        (0.0, (0, 0)),
        (1.0, (1 << 30, 1)),
        (0.5, (1 << 30, 0)),
        (0.75, (1610612736, 0)),
        (300.0, (1258291200, 9)),
        (1.0 - 2.0**-33, (1 << 30, 1)),  # rounds up to 2^31: halved, shift + 1
        ((2**30 + 0.5) / 2**31, (2**30 + 1, 0)),  # a tie rounds away from zero (not to even)
        ((2**30 + 2.5) / 2**31, (2**30 + 3, 0)),
        (2.0**-32, (1 << 30, -31)),
        (2.0**-33, (0, 0)),  # shift below -31 flushes to zero
        (-0.75, (-1610612736, 0)),
    ],
)
def test_quantize_multiplier_edge_cases(scale, expected):
    assert quant.quantize_multiplier(scale) == expected


def test_quantize_multiplier_rejects_non_finite():
    for bad in (math.nan, math.inf):
        with pytest.raises(ValueError):
            quant.quantize_multiplier(bad)


@settings(max_examples=200, deadline=None)
@given(st.floats(min_value=1e-9, max_value=1e4, allow_nan=False))
def test_quantize_multiplier_is_nearest(scale):
    mult, shift = quant.quantize_multiplier(scale)
    assert (1 << 30) <= mult < (1 << 31)
    assert abs(mult * 2.0 ** (shift - 31) - scale) <= 2.0 ** (shift - 32) * (1 + 1e-12)


def test_activation_range_int8():
    assert quant.activation_range("NONE", 0.1, 3) == (-128, 127)
    assert quant.activation_range("RELU", 0.1, -20) == (-20, 127)
    assert quant.activation_range("RELU6", 6 / 255, -128) == (-128, 127)
    assert quant.activation_range("RELU6", 0.1, -100) == (-100, -40)
    assert quant.activation_range("RELU_N1_TO_1", 0.01, 0) == (-100, 100)


def test_same_padding_matches_tflite_convention():
    assert quant.same_padding(7, 3, 2) == (1, 1, 4)
    assert quant.same_padding(8, 3, 2) == (0, 1, 4)  # the odd pixel goes after
    assert quant.same_padding(5, 3, 1, dilation=2) == (2, 2, 5)
    assert quant.valid_out_size(7, 3, 2, dilation=2) == 2


def test_scratch_bytes_for_ir_ops():
    """The memory planner's entry point reads the dims from the lowered graph's tensors."""
    from hardtool.core.graph.ir import Graph, Op, Tensor
    from hardtool.ops.tables import scratch_bytes

    logits = Tensor(0, "logits", (1, 16, 32, 19), "int8")
    labels = Tensor(1, "labels", (1, 128, 256), "uint8")
    conv_w = Tensor(2, "w", (8, 1, 1, 19), "int8")
    graph = Graph(tensors=[logits, labels, conv_w], ops=[], inputs=(0,), outputs=(1,))

    def op(name: str) -> Op:
        return Op(0, name, (0, 2) if "CONV" in name else (0,), (1,))

    assert scratch_bytes(op("HARD_RESIZE_ARGMAX"), graph) == 32 * 19 * 4 + 2 * 32 * 12
    assert scratch_bytes(op("AVERAGE_POOL_2D"), graph) == 19 * 4
    # MEAN over H and W, keeping dims: hard_mean_hw_s8's 4 x C (other MEANs: hard_mean_s8, none)
    axes = Tensor(2, "axes", (2,), "int32", data=np.array([1, 2], np.int32))
    pooled = Tensor(3, "pooled", (1, 1, 1, 19), "int8")
    graph_mean = Graph(tensors=[logits, labels, axes, pooled], ops=[], inputs=(0,), outputs=(3,))
    assert scratch_bytes(Op(0, "MEAN", (0, 2), (3,)), graph_mean) == 19 * 4
    # the DSP choice hard_convolve_1x1_q15_s8: a q15 column quad (4 pixels x 20 values -> 160
    # bytes) and the word after it, two int32 accumulators and a 16-byte requantisation entry
    # per output channel
    assert scratch_bytes(op("CONV_2D"), graph) == 160 + 4 + 8 * (8 + 16)
    assert scratch_bytes(op("RESHAPE"), graph) == 0


@pytest.mark.skipif(shutil.which(ARM_CC) is None, reason="arm-none-eabi-gcc not installed")
def test_cortex_m7_uses_dsp_instructions_and_float_io_only_when_asked(tmp_path):
    """FULLY_CONNECTED's inner loop is SMLAD on the Cortex-M7; hard_float_io.c is empty unless
    HARD_FLOAT_IO is defined, and then it is the library's only floating point."""
    objs = {o.stem: o for o in hostlib.compile_for_cortex_m7(tmp_path / "plain")}
    fc = subprocess.run(["arm-none-eabi-objdump", "-d", str(objs["hard_fc"])], capture_output=True, text=True)
    assert "smlad" in fc.stdout and "sxtab16" in fc.stdout
    syms = subprocess.run(["arm-none-eabi-nm", str(objs["hard_float_io"])], capture_output=True, text=True)
    assert "hard_quantize_f32_s8" not in syms.stdout
    obj = tmp_path / "float_io.o"
    src = hostlib.kernel_dir() / "hard_float_io.c"
    cmd = [
        ARM_CC,
        *get_board(EMULATED_BOARD).cpu_flags,
        *C_FLAGS,
        "-DHARD_FLOAT_IO",
        "-I",
        str(hostlib.kernel_dir()),
        "-c",
        str(src),
        "-o",
        str(obj),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    dump = subprocess.run(["arm-none-eabi-objdump", "-d", str(obj)], capture_output=True, text=True).stdout
    assert "vdiv.f32" in dump and "vmul.f32" in dump
