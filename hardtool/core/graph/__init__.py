"""Graph IR: the one reader of `.tflite` files, and the lowering both memplan and codegen use."""

from hardtool.core.graph.ir import Graph, Op, Quant, Tensor
from hardtool.core.graph.lower import lower, same_padding
from hardtool.core.graph.reader import load_tflite, load_tflite_bytes
from hardtool.core.graph.validate import check_float_ops, unsupported_op_error, validate_graph

__all__ = [
    "Graph",
    "Op",
    "Quant",
    "Tensor",
    "check_float_ops",
    "load_tflite",
    "load_tflite_bytes",
    "lower",
    "same_padding",
    "unsupported_op_error",
    "validate_graph",
]
