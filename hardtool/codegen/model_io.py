"""The generated API's view of a model's inputs and outputs (docs/contracts.md §3): per tensor its
type, dims, bytes, scale and zero point and where it lives in the arena; the label map when the
graph ends in ARG_MAX (or the fused resize → argmax); and the inputs cut into rows for streaming."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hardtool.core.errors import HardtoolError
from hardtool.core.graph.ir import Graph, Tensor
from hardtool.kernels import support

TYPE_ENUM = {
    "int8": "HARD_TYPE_INT8",
    "uint8": "HARD_TYPE_UINT8",
    "int32": "HARD_TYPE_INT32",
    "float32": "HARD_TYPE_FLOAT32",
}
LABEL_OPS = ("ARG_MAX", "HARD_RESIZE_ARGMAX")
MAX_ROW_BYTES = 1024  # rows of a non-image input: the largest divisor of its size up to this
MAX_IMAGE_ROW_BYTES = 16384  # an NHWC input with longer rows is cut like any other input


@dataclass(frozen=True)
class TensorInfo:
    """One graph input or output as the C API describes it."""

    name: str
    dtype: str  # numpy name of what the buffer holds (a label map is uint8)
    shape: tuple[int, ...]
    nbytes: int
    scale: float  # 0 for float32 tensors
    zero_point: int
    offset: int  # bytes from the arena start

    @property
    def type_enum(self) -> str:
        return TYPE_ENUM[self.dtype]


@dataclass(frozen=True)
class ModelIO:
    inputs: list[TensorInfo]
    outputs: list[TensorInfo]
    num_classes: int | None  # set when output 0 is a uint8 label map
    input_rows: int
    input_row_bytes: int

    @property
    def labels(self) -> TensorInfo | None:
        return self.outputs[0] if self.num_classes is not None else None

    @property
    def float_io(self) -> bool:
        return any(t.dtype == "float32" for t in self.inputs + self.outputs)

    @property
    def input_bytes(self) -> int:
        return sum(t.nbytes for t in self.inputs)

    @property
    def output_bytes(self) -> int:
        return sum(t.nbytes for t in self.outputs)


def label_op(graph: Graph):
    """The op writing the label map (a final ARG_MAX or HARD_RESIZE_ARGMAX), or None."""
    if len(graph.outputs) != 1:
        return None
    producer = graph.producers().get(graph.outputs[0])
    op = graph.ops[producer] if producer is not None else None
    return op if op is not None and op.name in LABEL_OPS else None


def _info(t: Tensor, offset: int, labels: bool) -> TensorInfo:
    q = t.quant
    dtype = "uint8" if labels else t.dtype
    nbytes = int(np.prod(t.shape, dtype=np.int64)) if labels else t.nbytes
    scale = float(q.scale[0]) if q is not None and not labels else 0.0
    zero_point = int(q.zero_point[0]) if q is not None and not labels else 0
    return TensorInfo(t.name, dtype, tuple(int(d) for d in t.shape), nbytes, scale, zero_point, offset)


def input_rows(inputs: list[TensorInfo]) -> tuple[int, int]:
    """(rows, bytes per row) of the inputs as one byte stream: an image's rows for a single NHWC
    input, else the largest divisor of the size up to MAX_ROW_BYTES."""
    if len(inputs) == 1 and len(inputs[0].shape) == 4:
        n, h, _, _ = inputs[0].shape
        if inputs[0].nbytes // (n * h) <= MAX_IMAGE_ROW_BYTES:
            return n * h, inputs[0].nbytes // (n * h)
    total = sum(t.nbytes for t in inputs)
    row = max(d for d in range(1, min(total, MAX_ROW_BYTES) + 1) if total % d == 0)
    return total // row, row


def model_io(graph: Graph, offsets: dict[int, int]) -> ModelIO:
    """Inputs and outputs of the lowered ``graph`` with their arena ``offsets`` (tensor -> bytes)."""
    for t in (*graph.inputs, *graph.outputs):
        if t not in offsets:  # a constant graph output: it has bytes in flash, no place in the arena
            kind = "a constant" if graph.tensors[t].is_constant else "not in the plan"
            raise HardtoolError(
                f"graph {'input' if t in graph.inputs else 'output'} tensor {t} '{graph.tensors[t].name}' is "
                f"{kind}: hardtool's runtime returns only tensors its ops compute; re-export the model "
                "without it as an output"
            )
    lop = label_op(graph)
    ins = [_info(graph.tensors[t], offsets[t], False) for t in graph.inputs]
    outs = [_info(graph.tensors[t], offsets[t], lop is not None) for t in graph.outputs]
    classes = support.argmax_classes(graph, lop) if lop is not None else None
    rows, row_bytes = input_rows(ins)
    return ModelIO(ins, outs, classes, rows, row_bytes)
