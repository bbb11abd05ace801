"""How the C kernels touch memory, for the planner, the plan's contract check and codegen:

- (which ops write their output with a pixel stride, and which ops are elementwise or spatial,
  is each op record's ``strided_output`` / ``memory``: ``hardtool.ops.tables``);
- how an op may write their output over their input (*in place*), and how far before the input
  the output must start. Elementwise kernels read ``in[i]`` before writing ``out[i]``, so the
  output may sit exactly on the input (gap 0). The spatial kernels (convolutions, depthwise,
  pooling; every portable and DSP path) produce output pixels in raster order, every channel of
  a pixel before the next pixel, at most two pixels written together, and read no input byte
  before the first tap of the pixel they compute. Placing the output
  ``gap`` bytes *before* the input, with ``gap`` the largest distance by which those writes
  run ahead of the rows still to be read, makes every write land on input bytes no later
  output needs: the gap is the "row buffer of the input rows still needed" of an in-place
  depthwise (TinyEngine), without a copy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from hardtool.core.graph.ir import Graph, Op

ALIGN = 16  # the planner's buffer alignment (TFLite Micro's): a gap keeps both buffers aligned


@dataclass(frozen=True)
class Window:
    """The sliding window of a spatial op along H (the planner's rows) and W."""

    k_h: int
    k_w: int
    stride_h: int
    stride_w: int
    dil_h: int
    dil_w: int
    pad_top: int
    pad_left: int

    def rows_read(self, a: int, b: int, in_h: int) -> tuple[int, int, int, int]:
        """Output rows [a, b) read input rows [r0, r1); (r0, r1, padding above, padding below)."""
        start = a * self.stride_h - self.pad_top
        end = (b - 1) * self.stride_h - self.pad_top + (self.k_h - 1) * self.dil_h + 1
        r0, r1 = max(0, start), min(in_h, end)
        return r0, r1, r0 - start, max(0, end - r1)


def _dense4(graph: Graph, t: int) -> bool:
    x = graph.tensors[t]
    return len(x.shape) == 4 and x.shape[0] == 1 and x.itemsize == 1 and not x.is_constant


def window(op: Op, graph: Graph) -> Window | None:
    """The window of a spatial op (an op record with ``Memory.SPATIAL``: callers check the class;
    a convolution's filter is input 1, a pool's is its ``filter_height`` x ``filter_width``), or
    None for a shape the kernels do not run as a 2-D sliding window."""
    if not op.outputs or not op.inputs or not _dense4(graph, op.inputs[0]):
        return None
    o = op.options
    if "filter_height" not in o:
        if len(op.inputs) < 2 or op.inputs[1] < 0 or len(graph.tensors[op.inputs[1]].shape) != 4:
            return None
        k_h, k_w = graph.tensors[op.inputs[1]].shape[1:3]
    else:
        k_h, k_w = o.get("filter_height", 0), o.get("filter_width", 0)
    pads = o.get("explicit_padding")
    if not k_h or not k_w or pads is None:
        return None
    return Window(
        int(k_h),
        int(k_w),
        int(o.get("stride_h", 1)),
        int(o.get("stride_w", 1)),
        int(o.get("dilation_h_factor", 1)),
        int(o.get("dilation_w_factor", 1)),
        int(pads[0]),
        int(pads[2]),
    )


def _align(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN


def inplace_gap(op: Op, graph: Graph) -> int | None:
    """Bytes by which the output must start before the input for the op to run in place, or None
    when its kernel cannot (not a raster-order kernel, batch > 1, or a shape it does not take).

    While output pixel ``p`` is computed (raster order) the kernels may already have written
    pixels up to ``p + 1`` (the GEMM kernels write pixels in pairs), and they still read input
    from the first tap of pixel ``p`` or of a later pixel on; the gap is the largest lead of
    those writes over that first byte still to be read, rounded up to the planner's alignment."""
    win = window(op, graph)
    if win is None or not _dense4(graph, op.outputs[0]):
        return None
    _, in_h, w_in, c_in = graph.tensors[op.inputs[0]].shape
    _, h_out, w_out, c_out = graph.tensors[op.outputs[0]].shape
    oy = np.arange(h_out)[:, None]
    ox = np.arange(w_out)[None, :]
    row = np.maximum(0, oy * win.stride_h - win.pad_top)
    col = np.maximum(0, ox * win.stride_w - win.pad_left)
    first_read = ((row * w_in + col) * c_in).ravel().astype(np.int64)
    still_read = np.minimum.accumulate(first_read[::-1])[::-1]  # by pixel p or a later one
    pixels = h_out * w_out
    written = np.minimum(np.arange(pixels) + 2, pixels).astype(np.int64) * c_out
    return _align(max(int((written - still_read).max()), 0))
