"""Filter layouts the specialised C kernels read from flash (README "Weight layouts").

Each function takes the filter as TFLite stores it (int8 numpy array) and returns the array
codegen writes to flash instead, as little-endian values of the returned dtype. numpy only.
"""

from __future__ import annotations

import numpy as np

# SXTB16 order inside a group of four: the int16 pairs {v0, v2} and {v1, v3}.
_SXTB16_ORDER = [0, 2, 1, 3]


def dw3x3_q15(filter_1hwc: np.ndarray) -> np.ndarray:
    """DEPTHWISE_CONV_2D 3x3 filter (1, 3, 3, C) int8 -> int16 for hard_depthwise_conv_3x3_s8.

    Per group of four channels (the last one zero-padded): for each tap pair (0, 1), (2, 3),
    (4, 5), (6, 7) (taps in row-major order) the four words {w[t][c+j], w[t+1][c+j]}, j = 0..3,
    then tap 8's words {w[c], w[c+2]} and {w[c+1], w[c+3]}: 36 int16 (72 bytes) per group, so
    the kernel multiplies two taps of a channel with one SMLAD without widening the filter.
    Every weight is doubled: the accumulators then hold the doubled sum the fast
    requantisation multiplies (no shift per output). Emit it 4-byte aligned.
    """
    w = np.asarray(filter_1hwc)
    if w.dtype != np.int8 or w.ndim != 4 or w.shape[:3] != (1, 3, 3):
        raise ValueError(f"expected a (1, 3, 3, C) int8 depthwise filter, got {w.dtype} {w.shape}")
    c = w.shape[3]
    groups = (c + 3) // 4
    padded = np.zeros((9, groups * 4), dtype=np.int16)
    padded[:, :c] = w.reshape(9, c).astype(np.int16) * 2
    per_group = padded.reshape(9, groups, 4).transpose(1, 0, 2)  # group, tap, channel
    pairs = per_group[:, :8].reshape(groups, 4, 2, 4).transpose(0, 1, 3, 2)  # group, pair, channel, tap
    last = per_group[:, 8][:, _SXTB16_ORDER]
    return np.ascontiguousarray(np.concatenate([pairs.reshape(groups, 32), last], axis=1).reshape(-1))


def gemm_q15_pairs(filter_ohwi: np.ndarray) -> np.ndarray:
    """CONV_2D filter (O, kh, kw, I) int8 -> int16 for hard_convolve_1x1_q15_s8 /
    hard_convolve_im2col_q15_s8.

    Each output channel's row is its k = kh * kw * I values in OHWI order. Per pair of output
    channels (an odd last one paired with zeros), per group of four k-values (the last one
    zero-padded), the words c0 {w0, w2}, c1 {w0, w2}, c0 {w1, w3},
    c1 {w1, w3}: one LDRD gives both channels' halves, multiplied with SMLAD against two
    pixels without widening the filter. Twice the int8 filter's flash; emit it 4-byte aligned.
    """
    w = np.asarray(filter_ohwi)
    if w.dtype != np.int8 or w.ndim != 4:
        raise ValueError(f"expected an (O, kh, kw, I) int8 filter, got {w.dtype} {w.shape}")
    o, i = w.shape[0], int(np.prod(w.shape[1:]))
    pairs, groups = (o + 1) // 2, (i + 3) // 4
    padded = np.zeros((pairs * 2, groups * 4), dtype=np.int16)
    padded[:o, :i] = w.reshape(o, i)
    # [pair, channel, group, half, lane] -> [pair, group, half, channel, lane]
    split = padded.reshape(pairs, 2, groups, 4)[..., _SXTB16_ORDER].reshape(pairs, 2, groups, 2, 2)
    return np.ascontiguousarray(split.transpose(0, 2, 3, 1, 4).reshape(-1))
