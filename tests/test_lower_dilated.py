"""lower() folds SPACE_TO_BATCH_ND -> CONV_2D / DEPTHWISE_CONV_2D -> BATCH_TO_SPACE_ND (Keras
dilated convs with a dynamic batch) into one dilated conv; our conv kernels running the folded
op equal TFLite's reference kernels running the three ops, bit for bit."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from kernels_util import (  # noqa: F401  (kernel_lib_fixture provides the kernel_lib fixture)
    INPUTS_PER_MODEL,
    RefModel,
    assert_bit_exact,
    kernel_lib_fixture,
    rand_int8,
)

from hardtool.core.graph import load_tflite_bytes, lower
from hardtool.kernels import quant

CASES = [
    # (layer, input h/w/c, kernel, dilation, padding, activation)
    ("depthwise", (12, 10, 4), 3, (2, 2), "same", None),
    ("depthwise", (13, 11, 3), 3, (3, 2), "same", "relu"),
    ("depthwise", (13, 11, 4), (3, 2), (2, 4), "valid", None),
    ("conv", (12, 10, 4), 3, (2, 3), "same", "relu"),
    ("conv", (13, 11, 3), (2, 3), (2, 2), "valid", None),
    ("conv", (9, 15, 2), 3, (4, 4), "same", None),
]


def _keras_model(layer: str, hwc, kernel, dilation, padding, activation, seed: int) -> bytes:
    """The Keras model with no fixed batch (what keeps the space-to-batch form), full int8."""
    import tensorflow as tf

    tf.keras.utils.set_random_seed(seed)
    inp = tf.keras.Input(hwc)
    kw = dict(
        dilation_rate=dilation, padding=padding, activation=activation, bias_initializer="random_normal"
    )
    if layer == "depthwise":
        out = tf.keras.layers.DepthwiseConv2D(kernel, depth_multiplier=2 if seed % 2 else 1, **kw)(inp)
    else:
        out = tf.keras.layers.Conv2D(5, kernel, **kw)(inp)
    conv = tf.lite.TFLiteConverter.from_keras_model(tf.keras.Model(inp, out))
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    rng = np.random.default_rng(seed)
    conv.representative_dataset = lambda: (
        [rng.uniform(-2, 1, (1, *hwc)).astype(np.float32)] for _ in range(8)
    )
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = conv.inference_output_type = tf.int8
    return conv.convert()


@pytest.mark.parametrize("case", CASES, ids=[f"{c[0]}-{c[4]}-d{c[3][0]}x{c[3][1]}" for c in CASES])
def test_space_to_batch_dilated_conv_folds_bit_exact(kernel_lib, case):
    model = _keras_model(*case, seed=CASES.index(case))
    graph = load_tflite_bytes(model)  # validates: the pattern's ops are accepted
    names = [op.name for op in graph.ops]
    assert names[:3] == ["SPACE_TO_BATCH_ND", names[1], "BATCH_TO_SPACE_ND"], names
    lowered = lower(graph)
    conv = lowered.ops[0]
    assert [op.name for op in lowered.ops] == [names[1], *names[3:]]
    assert conv.options["folded_space_to_batch"] and conv.source_ops == (0, 1, 2)
    assert (conv.options["dilation_h_factor"], conv.options["dilation_w_factor"]) == case[3]
    x, w, b = (lowered.tensors[t] for t in conv.inputs)
    y = lowered.tensors[conv.outputs[0]]
    assert x.index == lowered.inputs[0] and y.shape == graph.tensors[graph.ops[2].outputs[0]].shape

    mults, shifts = quant.conv_channel_params(x.quant.scale[0], w.quant.scale, y.quant.scale[0])
    kw = dict(
        input_zp=x.quant.zero_point[0],
        output_zp=y.quant.zero_point[0],
        multipliers=mults,
        shifts=shifts,
        dilation=case[3],
        padding=conv.options["explicit_padding"],
        act=quant.activation_range(
            conv.options["fused_activation_function"], y.quant.scale[0], y.quant.zero_point[0]
        ),
    )
    ref = RefModel(model)
    rng = np.random.default_rng(1)
    for _ in range(INPUTS_PER_MODEL):
        xin = rand_int8(rng, x.shape)
        ref.run(xin)
        want = ref.tensor(y.source_index)  # the BATCH_TO_SPACE_ND output, before any separate RELU
        if conv.name == "DEPTHWISE_CONV_2D":
            got = kernel_lib.depthwise_conv2d(xin, w.data, b.data, ch_mult=w.shape[3] // x.shape[3], **kw)
        else:
            got = kernel_lib.conv2d(xin, w.data, b.data, **kw)
        assert_bit_exact(got, want, f"folded {case}")


def test_variants_it_cannot_express_stay_unfused():
    """A strided inner conv, mismatched blocks, or a tensor read by a second op: left as is."""
    graph = load_tflite_bytes(_keras_model(*CASES[0], seed=0))
    s2b, conv, b2s = graph.ops[:3]

    def lowered_names(edit) -> list[str]:
        g = graph.copy()
        edit(g)
        return [op.name for op in lower(g).ops]

    rest = [op.name for op in graph.ops[3:]]  # Keras adds the bias after the pattern
    assert lowered_names(lambda g: None) == ["DEPTHWISE_CONV_2D", *rest]

    def strided(g):
        g.ops[1].options.update(stride_h=2)

    def other_block(g):  # a block tensor of its own (the converter shares one between the two ops)
        b2s_op = g.ops[2]
        t = g.tensors[b2s_op.inputs[1]]
        g.tensors.append(dataclasses.replace(t, index=len(g.tensors), data=t.data + 1))
        b2s_op.inputs = (b2s_op.inputs[0], len(g.tensors) - 1, *b2s_op.inputs[2:])

    def second_reader(g):
        g.outputs = (*g.outputs, g.ops[1].outputs[0])

    for edit in (strided, other_block, second_reader):
        assert lowered_names(edit) == [s2b.name, conv.name, b2s.name, *rest], edit.__name__
