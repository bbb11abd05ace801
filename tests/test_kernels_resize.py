"""RESIZE_BILINEAR, RESIZE_NEAREST_NEIGHBOR, ARG_MAX and the fused resize+argmax epilogue
vs TFLite's reference kernels, bit for bit."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from kernels_util import (  # noqa: F401  (kernel_lib_fixture provides the kernel_lib fixture)
    INPUTS_PER_MODEL,
    KERNEL_SETTINGS,
    RefModel,
    assert_bit_exact,
    convert_int8,
    kernel_lib_fixture,
    rand_int8,
)

# (align_corners, half_pixel_centers); TFLite rejects both together.
MODES = [(False, False), (True, False), (False, True)]


@st.composite
def resize_cases(draw, max_classes: int = 8):
    h, w = draw(st.integers(1, 7)), draw(st.integers(1, 7))
    up = draw(st.booleans())
    out = (
        (draw(st.integers(h, 4 * h + 3)), draw(st.integers(w, 4 * w + 3)))
        if up
        else (draw(st.integers(1, h + 2)), draw(st.integers(1, w + 2)))
    )
    return {
        "in_shape": (1, h, w, draw(st.integers(1, max_classes))),
        "out": out,
        "mode": draw(st.sampled_from(MODES)),
        "seed": draw(st.integers(0, 2**16)),
    }


def _resize_model(case: dict, method: str, with_argmax: bool = False) -> RefModel:
    import tensorflow as tf

    align, half = case["mode"]
    size = list(case["out"])

    @tf.function
    def f(x):
        if method == "bilinear":
            y = tf.compat.v1.image.resize_bilinear(x, size, align_corners=align, half_pixel_centers=half)
        else:
            y = tf.compat.v1.image.resize_nearest_neighbor(
                x, size, align_corners=align, half_pixel_centers=half
            )
        return tf.argmax(y, axis=-1) if with_argmax else y

    return RefModel(convert_int8(f, [case["in_shape"]], seed=case["seed"]))


def _inputs(rng: np.random.Generator, shape) -> list[np.ndarray]:
    """Full-range logits, plus narrow-range ones that make argmax ties common."""
    xs = [rand_int8(rng, shape) for _ in range(INPUTS_PER_MODEL)]
    xs.append(rng.integers(-2, 2, size=shape).astype(np.int8))
    xs.append(np.full(shape, -128, dtype=np.int8))
    return xs


@KERNEL_SETTINGS
@given(case=resize_cases())
def test_resize_bilinear_matches_tflite(kernel_lib, case):
    ref = _resize_model(case, "bilinear")
    assert ref.op_names == ["RESIZE_BILINEAR"], ref.op_names
    align, half = case["mode"]
    for x in _inputs(np.random.default_rng(case["seed"]), case["in_shape"]):
        (want,) = ref.run(x)
        got = kernel_lib.resize_bilinear(x, case["out"], align, half)
        assert_bit_exact(got, want, f"RESIZE_BILINEAR {case}")


@KERNEL_SETTINGS
@given(case=resize_cases())
def test_resize_nearest_matches_tflite(kernel_lib, case):
    ref = _resize_model(case, "nearest")
    assert ref.op_names == ["RESIZE_NEAREST_NEIGHBOR"], ref.op_names
    align, half = case["mode"]
    for x in _inputs(np.random.default_rng(case["seed"]), case["in_shape"]):
        (want,) = ref.run(x)
        got = kernel_lib.resize_nearest(x, case["out"], align, half)
        assert_bit_exact(got, want, f"RESIZE_NEAREST_NEIGHBOR {case}")


def _nearest_index_f32(v: np.ndarray, in_size: int, out_size: int, align: bool, half: bool) -> np.ndarray:
    """TFLite's GetNearestNeighbor in float32 (numpy float32 ops round like C float)."""
    f32 = np.float32
    if align and out_size > 1:
        scale = f32(in_size - 1) / f32(out_size - 1)
    else:
        scale = f32(in_size) / f32(out_size)
    t = (v.astype(f32) + f32(0.5 if half else 0.0)) * scale
    if align:  # std::round (halves away from zero); t >= 0 and t - floor(t) is exact
        idx = np.where(t - np.floor(t) >= f32(0.5), np.floor(t) + 1, np.floor(t))
    else:
        idx = np.floor(t)
    out = np.minimum(idx.astype(np.int64), in_size - 1)
    return np.maximum(out, 0) if half else out


def test_resize_nearest_indices_all_sizes(kernel_lib):
    """Every source index for every size pair up to 40 (and wide rows up to 256): the integer
    emulation of TFLite's float32 index arithmetic must agree everywhere."""
    checked = 0
    for in_w in list(range(1, 41)) + [97, 128, 255, 256]:
        x = (np.arange(in_w) - 128).astype(np.int8).reshape(1, 1, in_w, 1)
        for out_w in list(range(1, 41)) + [3 * in_w + 1, 8 * in_w, 200, 256]:
            for align, half in MODES:
                got = kernel_lib.resize_nearest(x, (1, out_w), align, half).reshape(-1).astype(np.int64) + 128
                want = _nearest_index_f32(np.arange(out_w), in_w, out_w, align, half)
                np.testing.assert_array_equal(got, want, err_msg=f"in={in_w} out={out_w} mode={align, half}")
                checked += out_w
    assert checked > 100_000


@KERNEL_SETTINGS
@given(
    hw=st.tuples(st.integers(1, 8), st.integers(1, 8)),
    c=st.integers(1, 40),
    seed=st.integers(0, 2**16),
)
def test_argmax_matches_tflite(kernel_lib, hw, c, seed):
    import tensorflow as tf

    shape = (1, *hw, c)

    @tf.function
    def f(x):
        return tf.argmax(x, axis=-1)

    ref = RefModel(convert_int8(f, [shape], seed=seed))
    assert ref.op_names == ["ARG_MAX"], ref.op_names
    for x in _inputs(np.random.default_rng(seed), shape):
        (want,) = ref.run(x)
        got = kernel_lib.argmax(x)
        assert got.dtype == np.uint8
        assert_bit_exact(got, want, f"ARG_MAX {shape}")


@KERNEL_SETTINGS
@given(case=resize_cases(max_classes=19), rows_per_call=st.sampled_from([None, 1, 3]))
def test_fused_resize_argmax_matches_tflite(kernel_lib, case, rows_per_call):
    """The streaming epilogue equals TFLite RESIZE_BILINEAR -> ARG_MAX (one converted model),
    and equals the reference resized logits followed by a first-maximum argmax."""
    ref = _resize_model(case, "bilinear", with_argmax=True)
    assert ref.op_names == ["RESIZE_BILINEAR", "ARG_MAX"], ref.op_names
    resized_idx = ref.op("RESIZE_BILINEAR")["outputs"][0]
    align, half = case["mode"]
    for x in _inputs(np.random.default_rng(case["seed"]), case["in_shape"]):
        (want,) = ref.run(x)
        got = kernel_lib.resize_argmax(x, case["out"], align, half, rows_per_call=rows_per_call)
        assert got.dtype == np.uint8
        assert_bit_exact(got, want[0], f"fused resize+argmax {case}")
        logits = ref.tensor(resized_idx)[0]
        assert_bit_exact(got, np.argmax(logits, axis=-1), "fused vs reference logits + argmax")


def test_fused_epilogue_at_model_scale(kernel_lib):
    """The demo model's shape: 19 classes at 1/8 of 128x256, half-pixel centers; equals the
    unfused kernels and needs one low-resolution row of scratch (plus the 2 * width column runs
    of the ARMv7E-M path), never a full-resolution map."""
    rng = np.random.default_rng(5)
    x = rand_int8(rng, (1, 16, 32, 19))
    fused = kernel_lib.resize_argmax(x, (128, 256), half_pixel_centers=True, rows_per_call=8)
    unfused = kernel_lib.argmax(kernel_lib.resize_bilinear(x, (128, 256), half_pixel_centers=True))[0]
    assert_bit_exact(fused, unfused, "fused vs unfused at 128x256")
    assert len(np.unique(fused)) == 19
    assert kernel_lib.buffer_size("hard_resize_bilinear_argmax_s8", x.shape) == 32 * 19 * 4 + 2 * 32 * 12
