"""Scratch bytes of the kernels of hard_conv_ext.h, mirroring their C ``*_get_buffer_size()``
(the planner reserves them; tests compare both). The portable entry points need none."""

from __future__ import annotations

from collections.abc import Sequence

_RQ_ENTRY_BYTES = 16  # hard_rq: multiplier, right shift, rounding constant, bias


def _col_pair_bytes(k: int) -> int:
    """hard_col_pair_bytes: two pixels' k values as q15, groups of four."""
    return (k + 3) // 4 * 16


def _gemm_out_bytes(out_c: int) -> int:
    """hard_gemm_out_bytes: two accumulators and a requantisation entry per channel."""
    return 2 * out_c * 4 + out_c * _RQ_ENTRY_BYTES


def transpose_conv_gemm_buffer_size(
    in_c: int, kernel: Sequence[int], stride: Sequence[int], out_c: int
) -> int:
    """hard_transpose_conv_gemm_s8: the q15 column of one stride phase's taps (at most
    ceil(kh / sh) * ceil(kw / sw)), each tap's filter offset, accumulators and the table."""
    taps = -(-int(kernel[0]) // int(stride[0])) * -(-int(kernel[1]) // int(stride[1]))
    return taps * (_col_pair_bytes(int(in_c)) + 4) + _gemm_out_bytes(int(out_c))


def grouped_gemm_buffer_size(filter_shape: Sequence[int]) -> int:
    """hard_convolve_grouped_gemm_s8: one group's column pair, accumulators and table, and the
    k staging bytes (k = kh * kw * filter input channels)."""
    o, kh, kw, fc = (int(v) for v in filter_shape)
    k = kh * kw * fc
    return _col_pair_bytes(k) + _gemm_out_bytes(o) + (k + 3) // 4 * 4
