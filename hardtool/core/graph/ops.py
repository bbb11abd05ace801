"""Which TFLite builtins the toolchain plans and generates code for, grouped by how their output
may share memory with their inputs."""

from __future__ import annotations

# out[i] depends only on in[i]: the output may overwrite an input of the same size
ELEMENTWISE_UNARY = frozenset(
    {
        "RELU",
        "RELU6",
        "RELU_N1_TO_1",
        "RELU_0_TO_1",
        "LOGISTIC",
        "TANH",
        "HARD_SWISH",
        "LEAKY_RELU",
        "QUANTIZE",
    }
)
# out[i] depends only on a[i], b[i] (when neither input is broadcast)
ELEMENTWISE_BINARY = frozenset({"ADD", "SUB", "MUL", "MAXIMUM", "MINIMUM"})
# same bytes, new shape: the output is an alias of the input
RESHAPES = frozenset({"RESHAPE", "SQUEEZE", "EXPAND_DIMS"})
OTHERS = frozenset(
    {
        "CONV_2D",
        "DEPTHWISE_CONV_2D",
        "TRANSPOSE_CONV",
        "FULLY_CONNECTED",
        "AVERAGE_POOL_2D",
        "MAX_POOL_2D",
        "MEAN",
        "SOFTMAX",
        "CONCATENATION",
        "PAD",
        "PADV2",
        "STRIDED_SLICE",
        "SLICE",
        "RESIZE_BILINEAR",
        "RESIZE_NEAREST_NEIGHBOR",
        "ARG_MAX",
        # float32 graph outputs: int8 -> float32 at the edge (QUANTIZE takes float32 inputs)
        "DEQUANTIZE",
    }
)
# ops that exist only after lower()
FUSED = frozenset({"HARD_RESIZE_ARGMAX"})
# SPACE_TO_BATCH_ND -> CONV_2D / DEPTHWISE_CONV_2D -> BATCH_TO_SPACE_ND (how the converter keeps
# dilation when the batch is dynamic): lower() folds it into one dilated conv
FOLDED = frozenset({"SPACE_TO_BATCH_ND", "BATCH_TO_SPACE_ND"})

SUPPORTED = ELEMENTWISE_UNARY | ELEMENTWISE_BINARY | RESHAPES | OTHERS | FUSED | FOLDED

HINTS = {
    "TILE": "use a Resizing layer instead of UpSampling2D",
}
