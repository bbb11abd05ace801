"""Two layout slips of onnx2tf (1.29) caught while it builds the Keras graph.

onnx2tf keeps 4-D activations NHWC. Its Add ends with a "rescue" that compares the NHWC sum with
the ONNX (NCHW) output shape, finds them different and transposes both inputs to NCHW, so a
residual sum leaves Add in NCHW; later ops guess the layout again from the shapes:
- a PRelu on such a sum cannot build Keras' PReLU and falls back to relu(x) + (x - |x|) * a / 2,
  five int8 ops between TRANSPOSEs instead of one PRELU (ENet 22 times, ESPNetV2 13);
- a ConvTranspose takes its input as NHWC and transposes it only when TensorFlow refuses the
  shapes; where the channel count equals the width (ERFNet's 64 channels at 32×64, at 128×256)
  nothing is refused, the conv reads NCHW data as NHWC and TensorFlow dies of a signal later.

`layout_fixes` builds a PRelu (constant per-channel slope) on such a sum itself, as Keras' PReLU on
the NHWC sum, its output transposed back so that the ops after it see what they saw before
(TFLite's converter cancels the transpose pairs), and gives a ConvTranspose its input in NHWC. A ConvTranspose input
in neither layout is refused with an error instead of a crash. Leaving Add's sum in NHWC instead
would be the cleaner fix, but other ops' guesses depend on it (DABNet at 64×128 then converts
wrongly)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

from hardtool.core.errors import HardtoolError


def _static(shape) -> list[int] | None:
    """A fully known shape as a list of ints, else None."""
    if shape is None:
        return None
    dims = list(shape)
    return [int(d) for d in dims] if all(isinstance(d, int) for d in dims) else None


def _nhwc(onnx_shape: list[int]) -> list[int]:
    return [onnx_shape[0], *onnx_shape[2:], onnx_shape[1]]


def _is_nchw_slip(tf_shape: list[int] | None, onnx_shape: list[int] | None) -> bool:
    """A 4-D tensor laid out as ONNX has it (NCHW) where onnx2tf means NHWC."""
    return (
        tf_shape is not None
        and onnx_shape is not None
        and len(onnx_shape) == 4
        and tf_shape == onnx_shape
        and tf_shape != _nhwc(onnx_shape)
    )


def _slipped_input(graph_node, tf_layers_dict: dict) -> tuple[str, dict, list[int]] | None:
    """(input name, its entry, its ONNX shape) when input 0 is a 4-D tensor left in NCHW."""
    src = graph_node.inputs[0]
    entry = tf_layers_dict.get(src.name)
    onnx_shape = _static(src.shape)
    x = entry.get("tf_node") if entry else None
    if x is None or not _is_nchw_slip(_static(getattr(x, "shape", None)), onnx_shape):
        return None
    return src.name, entry, onnx_shape


def _producer(graph_node) -> str | None:
    src = graph_node.inputs[0]
    return src.inputs[0].op if getattr(src, "inputs", None) else None


def _per_channel_slope(graph_node, channels: int):
    """The PRelu's constant slope as [1, 1, C] when it is one per channel (or one), else None."""
    import numpy as np

    values = getattr(graph_node.inputs[1], "values", None)
    if values is None or np.size(values) not in (1, channels):
        return None
    flat = np.asarray(values, np.float32).reshape(-1)
    return np.broadcast_to(flat, (channels,)).reshape(1, 1, channels).copy()


def _prelu_on_slipped_sum(make_node: Callable) -> Callable:
    """A PRelu on a residual sum left in NCHW: Keras' PReLU on the NHWC sum, its output back in
    NCHW (what the ops after it expect); TFLite's converter cancels the transposes. Others (and
    non-constant slopes) go to onnx2tf's own builder."""

    def wrapped(*, graph_node, tf_layers_dict: dict, **kwargs):
        slip = _slipped_input(graph_node, tf_layers_dict)
        slope = _per_channel_slope(graph_node, slip[2][1]) if slip else None
        if slope is None or _producer(graph_node) != "Add":
            return make_node(graph_node=graph_node, tf_layers_dict=tf_layers_dict, **kwargs)
        import tensorflow as tf
        from tensorflow.python.keras.layers import PReLU  # the layer onnx2tf uses

        _, entry, _ = slip
        x = tf.transpose(entry["tf_node"], [0, 2, 3, 1])
        y = PReLU(weights=[slope], shared_axes=[1, 2])(x)
        out = graph_node.outputs[0]
        tf_layers_dict[out.name] = {
            "optype": graph_node.op,
            "shape": out.shape,
            "dtype": out.dtype,
            "nhwc": entry.get("nhwc", False),
            "tf_node": tf.transpose(y, [0, 3, 1, 2]),
        }

    return wrapped


def _conv_transpose_nhwc_input(make_node: Callable) -> Callable:
    """A ConvTranspose input left in NCHW given to onnx2tf's builder in NHWC."""

    def wrapped(*, graph_node, tf_layers_dict: dict, **kwargs):
        slip = _slipped_input(graph_node, tf_layers_dict)
        if slip is None:
            return make_node(graph_node=graph_node, tf_layers_dict=tf_layers_dict, **kwargs)
        import tensorflow as tf

        name, entry, _ = slip
        tf_layers_dict[name] = {**entry, "tf_node": tf.transpose(entry["tf_node"], [0, 2, 3, 1])}
        try:
            return make_node(graph_node=graph_node, tf_layers_dict=tf_layers_dict, **kwargs)
        finally:
            tf_layers_dict[name] = entry

    return wrapped


def _conv_transpose_guard(make_node: Callable) -> Callable:
    """A ConvTranspose input in neither layout: an error, not a conv that TensorFlow dies on."""

    def wrapped(*, graph_node, tf_layers_dict: dict, **kwargs):
        src = graph_node.inputs[0]
        onnx_shape = _static(src.shape)
        x = tf_layers_dict.get(src.name, {}).get("tf_node")
        shape = _static(getattr(x, "shape", None))
        if onnx_shape and len(onnx_shape) == 4 and shape and shape not in (onnx_shape, _nhwc(onnx_shape)):
            raise HardtoolError(
                f"onnx2tf gives ConvTranspose '{graph_node.name}' an input of shape {shape} for "
                f"ONNX's {onnx_shape}; change the input size or the layers before it"
            )
        return make_node(graph_node=graph_node, tf_layers_dict=tf_layers_dict, **kwargs)

    return wrapped


@contextlib.contextmanager
def layout_fixes() -> Iterator[None]:
    """onnx2tf's PRelu and ConvTranspose builders wrapped (as above) for the duration."""
    from onnx2tf.ops import ConvTranspose, PRelu

    saved = [(PRelu, PRelu.make_node), (ConvTranspose, ConvTranspose.make_node)]
    PRelu.make_node = _prelu_on_slipped_sum(PRelu.make_node)
    ConvTranspose.make_node = _conv_transpose_guard(_conv_transpose_nhwc_input(ConvTranspose.make_node))
    try:
        yield
    finally:
        for module, fn in saved:
            module.make_node = fn
