"""Kernel choice per layer, the filter layouts, and the scratch sizes codegen will reserve for them."""

from __future__ import annotations

import numpy as np
import pytest
from kernels_util import kernel_lib_fixture  # noqa: F401  (provides the kernel_lib fixture)

from hardtool.core.graph.ir import Graph, Op, Tensor
from hardtool.kernels.weights import dw3x3_q15
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
        ((1, 16, 32, 32), (32, 1, 1, 32), (1, 16, 32, 32), {}, "hard_convolve_1x1_s8", None),
        ((1, 32, 64, 16), (32, 1, 1, 16), (1, 16, 32, 32), {"stride_h": 2}, "hard_convolve_1x1_s8", None),
        (
            (1, 8, 8, 4),
            (4, 1, 1, 4),
            (1, 10, 10, 4),
            {"explicit_padding": (1, 1, 1, 1)},
            "hard_convolve_im2col_s8",
            None,
        ),
        ((1, 128, 256, 3), (8, 3, 3, 3), (1, 64, 128, 8), {}, "hard_convolve_im2col_s8", None),
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
    words = q.reshape(2, 9, 4)  # group, tap, [c, c+2, c+1, c+3]
    taps = w.reshape(9, 6)
    for t in range(9):
        np.testing.assert_array_equal(words[0, t], taps[t, [0, 2, 1, 3]])
        np.testing.assert_array_equal(words[1, t], [taps[t, 4], 0, taps[t, 5], 0])
    with pytest.raises(ValueError):
        dw3x3_q15(w.astype(np.int16))
    with pytest.raises(ValueError):
        dw3x3_q15(np.zeros((1, 5, 5, 4), np.int8))
