"""Kernel choice per layer, the filter layouts, and the scratch sizes codegen will reserve for them."""

from __future__ import annotations

import numpy as np
import pytest
from kernels_util import kernel_lib_fixture  # noqa: F401  (provides the kernel_lib fixture)

from hardtool.core.graph.ir import Graph, Op, Tensor
from hardtool.kernels.weights import dw3x3_q15, gemm_q15_pairs
from hardtool.ops.tables import choose


def _graph(x_shape, w_shape, y_shape, **options) -> tuple[Op, Graph]:
    tensors = [
        Tensor(0, "x", tuple(x_shape), "int8"),
        Tensor(1, "w", tuple(w_shape), "int8"),
        Tensor(2, "y", tuple(y_shape), "int8"),
    ]
    graph = Graph(tensors=tensors, ops=[], inputs=(0,), outputs=(2,))
    name = options.pop("name", "CONV_2D")
    return Op(0, name, (0, 1), (2,), options), graph


@pytest.mark.parametrize(
    "x, w, y, opts, kernel, layout",
    [
        ((1, 16, 32, 32), (32, 1, 1, 32), (1, 16, 32, 32), {}, "hard_convolve_1x1_q15_s8", "gemm_q15_pairs"),
        (
            (1, 32, 64, 16),
            (32, 1, 1, 16),
            (1, 16, 32, 32),
            {"stride_h": 2},
            "hard_convolve_1x1_q15_s8",
            "gemm_q15_pairs",
        ),
        (
            (1, 8, 8, 4),
            (4, 1, 1, 4),
            (1, 10, 10, 4),
            {"explicit_padding": (1, 1, 1, 1)},
            "hard_convolve_im2col_q15_s8",
            "gemm_q15_pairs",
        ),
        (
            (1, 128, 256, 3),
            (8, 3, 3, 3),
            (1, 64, 128, 8),
            {},
            "hard_convolve_im2col_q15_s8",
            "gemm_q15_pairs",
        ),
        (
            (1, 16, 32, 32),
            (1, 3, 3, 32),
            (1, 16, 32, 32),
            {"name": "DEPTHWISE_CONV_2D", "dilation_h_factor": 4, "dilation_w_factor": 4},
            "hard_depthwise_conv_3x3_s8",
            "dw3x3_q15",
        ),
        (
            (1, 8, 8, 4),
            (1, 3, 3, 8),
            (1, 8, 8, 8),
            {"name": "DEPTHWISE_CONV_2D"},
            "hard_depthwise_conv_s8",
            None,
        ),
        (
            (1, 8, 8, 4),
            (1, 5, 5, 4),
            (1, 8, 8, 4),
            {"name": "DEPTHWISE_CONV_2D"},
            "hard_depthwise_conv_s8",
            None,
        ),
    ],
)
def test_select_kernel_and_scratch(kernel_lib, x, w, y, opts, kernel, layout):
    op, graph = _graph(x, w, y, **opts)
    choice = choose(graph, op)
    assert (choice.symbol, choice.layout) == (kernel, layout), choice.reason
    c_args = (x,) if kernel == "hard_depthwise_conv_3x3_s8" else (x, w) if "1x1" in kernel else (x, w, y)
    assert choice.scratch == kernel_lib.buffer_size(kernel, *c_args) > 0
    assert choice.reason


def test_fallbacks_say_why():
    op, graph = _graph((1, 8, 8, 4), (1, 3, 3, 8), (1, 8, 8, 8), name="DEPTHWISE_CONV_2D")
    assert "multiplier 2" in choose(graph, op).reason
    op, graph = _graph((1, 8, 8, 4), (1, 9, 9, 4), (1, 8, 8, 4), name="DEPTHWISE_CONV_2D")
    assert "portable" in choose(graph, op).reason
    op, graph = _graph((1, 16, 32, 40), (1, 16, 32, 40), (1, 128, 256), name="HARD_RESIZE_ARGMAX")
    assert "40 classes" in choose(graph, op).reason
    op, graph = _graph((1, 8, 8, 4), (4, 3, 3, 4), (1, 8, 8, 4))
    assert choose(graph, op, dsp=False).symbol == "hard_convolve_s8"
    with pytest.raises(ValueError, match="LSTM"):
        choose(graph, _graph((1, 4), (1, 4), (1, 4), name="LSTM")[0])


def test_dw3x3_q15_layout():
    rng = np.random.default_rng(0)
    w = rng.integers(-128, 128, (1, 3, 3, 6), dtype=np.int16).astype(np.int8)
    q = dw3x3_q15(w)
    assert q.dtype == np.int16 and q.shape == (2 * 9 * 4,)
    group = q.reshape(2, 36)
    taps = np.zeros((9, 8), np.int16)
    taps[:, :6] = w.reshape(9, 6).astype(np.int16) * 2  # doubled
    for g in range(2):
        pairs = group[g, :32].reshape(4, 4, 2)  # tap pair, channel, [tap 2p, tap 2p + 1]
        for p in range(4):
            for j in range(4):
                np.testing.assert_array_equal(pairs[p, j], taps[2 * p : 2 * p + 2, 4 * g + j])
        np.testing.assert_array_equal(group[g, 32:], taps[8, 4 * g + np.array([0, 2, 1, 3])])
    with pytest.raises(ValueError):
        dw3x3_q15(w.astype(np.int16))
    with pytest.raises(ValueError):
        dw3x3_q15(np.zeros((1, 5, 5, 4), np.int8))


def test_gemm_q15_pairs_layout():
    rng = np.random.default_rng(1)
    w = rng.integers(-128, 128, (3, 1, 1, 6), dtype=np.int16).astype(np.int8)
    q = gemm_q15_pairs(w)
    assert q.dtype == np.int16 and q.shape == (2 * 2 * 8,)
    words = q.reshape(2, 2, 4, 2)  # channel pair, group of four, word, int16 lane
    m = np.zeros((4, 8), np.int16)
    m[:3, :6] = w.reshape(3, 6)
    for p in range(2):
        for g in range(2):
            k = 4 * g
            c0, c1 = m[2 * p], m[2 * p + 1]
            want = [c0[[k, k + 2]], c1[[k, k + 2]], c0[[k + 1, k + 3]], c1[[k + 1, k + 3]]]
            np.testing.assert_array_equal(words[p, g], want)
    with pytest.raises(ValueError):
        gemm_q15_pairs(np.zeros((4, 3, 3, 4), np.int16))
    k3 = rng.integers(-128, 128, (5, 3, 3, 3), dtype=np.int16).astype(np.int8)
    np.testing.assert_array_equal(gemm_q15_pairs(k3), gemm_q15_pairs(k3.reshape(5, 1, 1, 27)))
