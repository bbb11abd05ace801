"""End to end through memplan and codegen -t host: a ShuffleNetV2-style network (channel split,
branch convs, concat, channel shuffle as RESHAPE -> 5-D TRANSPOSE -> RESHAPE) and a model with the
other new data-movement and math ops; every layer and output of the generated C equals TFLite's
reference kernels."""

from __future__ import annotations

import numpy as np
from kernels_util import convert_int8

from tests.test_codegen import assert_bit_exact, project


def _shuffle(y, groups: int = 2):
    import tensorflow as tf

    _, h, w, c = y.shape
    y = tf.reshape(y, [1, h, w, groups, c // groups])
    return tf.reshape(tf.transpose(y, [0, 1, 2, 4, 3]), [1, h, w, c])


def shufflenet_units() -> bytes:
    """Two ShuffleNetV2 basic units (split, 1x1 conv -> 3x3 depthwise -> 1x1 conv on one half,
    concat, shuffle) on a 1 x 8 x 8 x 16 input, then global average pooling."""
    import tensorflow as tf

    rng = np.random.default_rng(0)
    ws = [
        (
            rng.normal(0, 0.4, (1, 1, 8, 8)).astype(np.float32),
            rng.normal(0, 0.4, (3, 3, 8, 1)).astype(np.float32),
            rng.normal(0, 0.4, (1, 1, 8, 8)).astype(np.float32),
            rng.normal(0, 0.1, (8,)).astype(np.float32),
        )
        for _ in range(2)
    ]

    @tf.function
    def f(x):
        for w1, dw, w2, b in ws:
            a, br = tf.split(x, 2, axis=3)
            br = tf.nn.relu(tf.nn.conv2d(br, w1, 1, "SAME") + b)
            br = tf.nn.depthwise_conv2d(br, dw, [1, 1, 1, 1], "SAME")
            br = tf.nn.relu(tf.nn.conv2d(br, w2, 1, "SAME") + b)
            x = _shuffle(tf.concat([a, br], axis=3))
        return tf.reduce_mean(x, axis=[1, 2])

    return convert_int8(f, [(1, 8, 8, 16)], [2.0])


def data_ops() -> bytes:
    """GATHER, SPACE_TO_DEPTH, REDUCE_MAX, SPLIT_V, PACK, UNPACK, SQUARED_DIFFERENCE, ABS, RSQRT,
    TRANSPOSE between convolution-free int8 layers."""
    import tensorflow as tf

    @tf.function
    def f(x, z):
        g = tf.gather(x, [3, 1, 0, 2], axis=3)
        s = tf.nn.space_to_depth(g, 2)
        m = tf.reduce_max(tf.abs(s), axis=[3], keepdims=True)
        p, q = tf.split(x, [1, 3], axis=3)
        st = tf.stack([p, q[..., :1]], axis=1)
        u0, u1 = tf.unstack(st, axis=1)
        d = tf.math.squared_difference(u0, u1)
        r = tf.math.rsqrt(tf.abs(z) + 0.25)
        return m, tf.transpose(d, [0, 2, 1, 3]), r

    return convert_int8(f, [(1, 4, 6, 4), (1, 5, 3)], [2.0, 2.0])


def _ops(path) -> set[str]:
    from hardtool.core.graph import load_tflite

    return {op.name for op in load_tflite(path).ops}


def test_shufflenet_units_bit_exact(tmp_path):
    tfl = tmp_path / "model_int8.tflite"
    tfl.write_bytes(shufflenet_units())
    assert {"SPLIT", "TRANSPOSE", "CONCATENATION", "RESHAPE"} <= _ops(tfl), _ops(tfl)
    proj = project(tfl, tmp_path)
    assert_bit_exact(proj, n_inputs=3)
    model_c = (proj / "model.c").read_text()
    assert model_c.count("hard_transpose_s8(") == 2  # one copy per shuffle: its reshapes cost nothing
    assert "memmove(" not in model_c  # (the plan aliases every RESHAPE)


def test_data_ops_bit_exact(tmp_path):
    tfl = tmp_path / "model_int8.tflite"
    tfl.write_bytes(data_ops())
    want = {
        "GATHER",
        "SPACE_TO_DEPTH",
        "REDUCE_MAX",
        "SPLIT_V",
        "PACK",
        "UNPACK",
        "SQUARED_DIFFERENCE",
        "ABS",
    }
    assert want <= _ops(tfl), want - _ops(tfl)
    proj = project(tfl, tmp_path)
    assert_bit_exact(proj, n_inputs=3)
