"""Small int8 .tflite models built in code for memplan tests and benchmarks, none from our zoo:
a three-branch toy that mimics HARD (PAD + VALID convs, branches at 1/8, 1/16, 1/32, resize +
concat fusion, head at 1/8, bilinear resize to the input size, argmax), a small U-Net, a Keras
MobileNetV2 with random weights (no downloads), and the four MLPerf Tiny reference architectures
(MobileNetV1 0.25 at 96x96 for visual wake words, DS-CNN for keyword spotting, ResNet-8 for
CIFAR-10, the fully connected autoencoder for anomaly detection) with random weights."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _keras():
    import tensorflow as tf

    return tf, tf.keras, tf.keras.layers


def _conv(L, x, c, k=3, s=1, pad=True, act="relu"):
    """Explicit zero padding + VALID conv, as the onnx2tf path produces."""
    if pad and k > 1:
        x = L.ZeroPadding2D(k // 2)(x)
    return L.Conv2D(c, k, strides=s, padding="valid", activation=act)(x)


def _dw(L, x, s=1):
    x = L.ZeroPadding2D(1)(x)
    return L.DepthwiseConv2D(3, strides=s, padding="valid", activation="relu")(x)


def toy_hard(input_size=(64, 128), classes=5, tail=True):
    """Stem at stride 2/4/8, branches at 1/8, 1/16, 1/32 fused by resize + concat, head at 1/8."""
    tf, keras, L = _keras()
    h, w = input_size
    inp = keras.Input((h, w, 3), batch_size=1)
    x = _conv(L, inp, 8, s=2)
    x = _conv(L, x, 16, s=2)
    x8 = _dw(L, x, s=2)
    x8 = _conv(L, x8, 16, k=1)
    b8 = L.Add()([_conv(L, _dw(L, x8), 16, k=1), x8])
    b16 = _conv(L, _dw(L, b8, s=2), 24, k=1)
    b32 = _conv(L, _dw(L, b16, s=2), 32, k=1)
    b32 = L.AveragePooling2D(3, strides=1, padding="same")(b32)
    up16 = L.Resizing(h // 8, w // 8, interpolation="bilinear")(_conv(L, b16, 16, k=1))
    up32 = L.Resizing(h // 8, w // 8, interpolation="bilinear")(_conv(L, b32, 16, k=1))
    cat = L.Concatenate()([b8, up16, up32])
    y = _conv(L, cat, 16, k=1)
    y = _conv(L, y, classes, k=1, act=None)
    if tail:
        y = L.Resizing(h, w, interpolation="bilinear")(y)
        y = L.Lambda(lambda t: tf.argmax(t, axis=-1, output_type=tf.int32))(y)
    return keras.Model(inp, y)


def unet(input_size=(64, 64), classes=4, width=8):
    """Two-level U-Net: encoder convs + max pool, decoder bilinear upsampling + skip concat."""
    tf, keras, L = _keras()
    h, w = input_size
    inp = keras.Input((h, w, 3), batch_size=1)
    e1 = _conv(L, _conv(L, inp, width), width)
    e2 = _conv(L, _conv(L, L.MaxPooling2D(2)(e1), 2 * width), 2 * width)
    m = _conv(L, _conv(L, L.MaxPooling2D(2)(e2), 4 * width), 4 * width)
    d2 = L.Concatenate()([L.Resizing(h // 2, w // 2, interpolation="bilinear")(m), e2])
    d2 = _conv(L, d2, 2 * width)
    d1 = L.Concatenate()([L.Resizing(h, w, interpolation="bilinear")(d2), e1])
    d1 = _conv(L, d1, width)
    y = L.Conv2D(classes, 1)(d1)
    y = L.Lambda(lambda t: tf.argmax(t, axis=-1, output_type=tf.int32))(y)
    return keras.Model(inp, y)


def mobilenet_v2(size=96, alpha=0.35):
    """Keras MobileNetV2 with random weights (weights=None: nothing is downloaded)."""
    tf, keras, L = _keras()
    m = keras.applications.MobileNetV2(
        input_shape=(size, size, 3), alpha=alpha, weights=None, classes=10, include_top=True
    )
    # Random weights make activations shrink layer after layer until int8 scales underflow; set
    # every batch norm's moving statistics to those of a random batch, as training would.
    bns = [layer for layer in m.layers if isinstance(layer, L.BatchNormalization)]
    for layer in bns:
        layer.momentum = 0.0
    m(np.random.default_rng(0).uniform(-1, 1, (8, size, size, 3)).astype(np.float32), training=True)
    inp = keras.Input((size, size, 3), batch_size=1)
    return keras.Model(inp, m(inp, training=False))


def _settle_batch_norms(model, shape, seed: int = 0) -> None:
    """Random weights make activations shrink layer after layer until int8 scales underflow; give
    every batch norm the moving statistics of a random batch, as training would."""
    _, _, L = _keras()
    for layer in model.layers:
        if isinstance(layer, L.BatchNormalization):
            layer.momentum = 0.0
    model(np.random.default_rng(seed).uniform(-1, 1, (8, *shape)).astype(np.float32), training=True)


def mlperf_vww(size: int = 96, alpha: float = 0.25):
    """Visual wake words: Keras MobileNetV1 at width 0.25, 96x96 RGB, two classes."""
    _, keras, _ = _keras()
    m = keras.applications.MobileNet(
        input_shape=(size, size, 3), alpha=alpha, weights=None, classes=2, include_top=True
    )
    _settle_batch_norms(m, (size, size, 3))
    inp = keras.Input((size, size, 3), batch_size=1)
    return keras.Model(inp, m(inp, training=False))


def _bn_relu(L, x):
    return L.Activation("relu")(L.BatchNormalization()(x))


def mlperf_kws(filters: int = 64, blocks: int = 4, classes: int = 12):
    """Keyword spotting DS-CNN: 49x10 MFCC input, a 10x4 stride-2 conv, four depthwise-separable
    blocks, average pooling over the whole map, a dense softmax (the MLPerf Tiny KWS model)."""
    _, keras, L = _keras()
    inp = keras.Input((49, 10, 1), batch_size=1)
    x = _bn_relu(L, L.Conv2D(filters, (10, 4), strides=(2, 2), padding="same", use_bias=False)(inp))
    for _ in range(blocks):
        x = _bn_relu(L, L.DepthwiseConv2D(3, padding="same", use_bias=False)(x))
        x = _bn_relu(L, L.Conv2D(filters, 1, use_bias=False)(x))
    x = L.Flatten()(L.AveragePooling2D(pool_size=(25, 5))(x))
    model = keras.Model(inp, L.Dense(classes, activation="softmax")(x))
    _settle_batch_norms(model, (49, 10, 1))
    return model


def _res_block(L, x, filters: int, stride: int):
    y = _bn_relu(L, L.Conv2D(filters, 3, strides=stride, padding="same")(x))
    y = L.BatchNormalization()(L.Conv2D(filters, 3, padding="same")(y))
    if stride != 1 or x.shape[-1] != filters:
        x = L.Conv2D(filters, 1, strides=stride)(x)
    return L.Activation("relu")(L.Add()([x, y]))


def mlperf_ic(classes: int = 10):
    """CIFAR-10 ResNet-8: a 3x3 stem, three residual stacks (16, 32, 64 filters; stride 2 with a
    1x1 shortcut from the second on), 8x8 average pooling, a dense softmax (the MLPerf Tiny IC model)."""
    _, keras, L = _keras()
    inp = keras.Input((32, 32, 3), batch_size=1)
    x = _bn_relu(L, L.Conv2D(16, 3, padding="same")(inp))
    for filters, stride in ((16, 1), (32, 2), (64, 2)):
        x = _res_block(L, x, filters, stride)
    x = L.Flatten()(L.AveragePooling2D(pool_size=8)(x))
    model = keras.Model(inp, L.Dense(classes, activation="softmax")(x))
    _settle_batch_norms(model, (32, 32, 3))
    return model


def mlperf_ad(inputs: int = 640, width: int = 128, bottleneck: int = 8):
    """Anomaly detection autoencoder: 640 inputs, four dense 128 layers, an 8-wide bottleneck, four
    dense 128 layers, a dense 640 reconstruction (the MLPerf Tiny AD model, batch norms folded)."""
    _, keras, L = _keras()
    inp = keras.Input((inputs,), batch_size=1)
    x = inp
    for units in (width,) * 4 + (bottleneck,) + (width,) * 4:
        x = _bn_relu(L, L.Dense(units)(x))
    model = keras.Model(inp, L.Dense(inputs)(x))
    _settle_batch_norms(model, (inputs,))
    return model


def reversed_rows():
    """A conv followed by a REVERSE_V2, an op the toolchain does not deploy."""
    tf, keras, L = _keras()
    inp = keras.Input((16, 16, 8), batch_size=1)
    y = L.Conv2D(8, 3, padding="same")(inp)
    return keras.Model(inp, L.Lambda(lambda t: tf.reverse(t, [1]))(y))


def to_tflite(model, int8: bool = True, seed: int = 0) -> bytes:
    """Full-int8 (int8 input, TFLITE_BUILTINS_INT8, random calibration data) or float32 TFLite."""
    import contextlib
    import io

    tf, _, _ = _keras()
    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    if int8:
        shape = [1, *model.input_shape[1:]]
        rng = np.random.default_rng(seed)

        def rep():
            for _ in range(4):
                yield [rng.uniform(-1, 1, shape).astype(np.float32)]

        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.representative_dataset = rep
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        conv.inference_input_type = tf.int8
        if (
            model.output.dtype.startswith("float")
            if isinstance(model.output.dtype, str)
            else model.output.dtype.is_floating
        ):
            conv.inference_output_type = tf.int8
    with contextlib.redirect_stdout(io.StringIO()):
        return conv.convert()


MLPERF = {"mlperf_vww": mlperf_vww, "mlperf_kws": mlperf_kws, "mlperf_ic": mlperf_ic, "mlperf_ad": mlperf_ad}


def build(kind: str, out_dir: Path, **kw) -> Path:
    """Write (once) and return out_dir/<kind>.tflite for kind in toy_hard, toy_hard_notail, unet,
    mobilenet_v2, toy_float, reversed_rows, mlperf_vww, mlperf_kws, mlperf_ic, mlperf_ad."""
    out_dir = Path(out_dir)
    suffix = "_".join(
        f"{k}{'x'.join(map(str, v)) if isinstance(v, tuple) else v}" for k, v in sorted(kw.items())
    )
    path = out_dir / f"{kind}{'_' + suffix if suffix else ''}.tflite"
    if path.is_file():
        return path
    out_dir.mkdir(parents=True, exist_ok=True)
    import tensorflow as tf

    tf.keras.utils.set_random_seed(0)
    if kind == "toy_hard":
        data = to_tflite(toy_hard(**kw))
    elif kind == "toy_hard_notail":
        data = to_tflite(toy_hard(tail=False, **kw))
    elif kind == "toy_float":
        data = to_tflite(toy_hard(**kw), int8=False)
    elif kind == "unet":
        data = to_tflite(unet(**kw))
    elif kind == "mobilenet_v2":
        data = to_tflite(mobilenet_v2(**kw))
    elif kind == "reversed_rows":
        data = to_tflite(reversed_rows())
    elif kind in MLPERF:
        data = to_tflite(MLPERF[kind](**kw))
    else:
        raise ValueError(kind)
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)
    return path
