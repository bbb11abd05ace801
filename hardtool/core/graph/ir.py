"""The small typed IR every stage after quantisation works on: tensors, ops, graph inputs/outputs.

Plain dataclasses (no flatbuffer objects inside), so graphs can also be built by hand in tests
and transformed by `lower()` without touching the file format."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Quant:
    """Affine quantisation: real = scale * (q - zero_point). ``axis`` is set for per-channel."""

    scale: tuple[float, ...]
    zero_point: tuple[int, ...]
    axis: int | None = None

    @property
    def per_channel(self) -> bool:
        return self.axis is not None and len(self.scale) > 1

    def same_as(self, other: Quant | None) -> bool:
        """Equal per-tensor parameters, i.e. the int8 bytes mean the same real values."""
        if other is None or self.per_channel or other.per_channel:
            return False
        return (
            math.isclose(self.scale[0], other.scale[0], rel_tol=1e-6, abs_tol=0.0)
            and self.zero_point[0] == other.zero_point[0]
        )


@dataclass
class Tensor:
    """One tensor. ``data`` is set for constants (weights, biases, shape operands), else None."""

    index: int
    name: str
    shape: tuple[int, ...]
    dtype: str  # numpy dtype name: 'int8', 'uint8', 'int32', 'float32', ...
    quant: Quant | None = None
    data: np.ndarray | None = None
    source_index: int | None = None  # index in the .tflite subgraph this tensor came from

    @property
    def is_constant(self) -> bool:
        return self.data is not None

    @property
    def itemsize(self) -> int:
        return np.dtype(self.dtype).itemsize

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) * self.itemsize

    @property
    def is_float(self) -> bool:
        return np.dtype(self.dtype).kind == "f"


@dataclass
class Op:
    """One operator. ``inputs`` may hold -1 for an omitted optional input (TFLite convention)."""

    index: int
    name: str  # builtin name, e.g. 'CONV_2D'; fused ops use a 'HARD_' prefix
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    options: dict[str, Any] = field(default_factory=dict)
    source_ops: tuple[int, ...] = ()  # indices of the .tflite ops this op stands for


@dataclass
class Graph:
    """A single-subgraph model. Tensor and op indices equal list positions."""

    tensors: list[Tensor]
    ops: list[Op]
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    sha256: str = ""
    name: str = "model"
    description: str = ""
    lowered: bool = False

    def producers(self) -> dict[int, int]:
        """tensor index -> index of the op writing it."""
        return {t: op.index for op in self.ops for t in op.outputs}

    def consumers(self) -> dict[int, list[int]]:
        """tensor index -> indices of ops reading it (each op once, in op order)."""
        out: dict[int, list[int]] = {}
        for op in self.ops:
            for t in dict.fromkeys(op.inputs):
                if t >= 0:
                    out.setdefault(t, []).append(op.index)
        return out

    def activations(self) -> list[int]:
        """Tensors that need RAM: everything that is not a constant (inputs and outputs included)."""
        used = {t for op in self.ops for t in (*op.inputs, *op.outputs) if t >= 0}
        used |= set(self.inputs) | set(self.outputs)
        return sorted(t for t in used if not self.tensors[t].is_constant)

    def op_inputs(self, op: Op) -> list[Tensor]:
        return [self.tensors[t] for t in op.inputs if t >= 0]

    def copy(self) -> Graph:
        """A copy whose lists, ops and tensors can be changed without touching this graph."""
        return replace(
            self,
            tensors=[replace(t) for t in self.tensors],
            ops=[replace(o, options=dict(o.options)) for o in self.ops],
        )

    def check(self) -> None:
        """Structural invariants: indices in range, list positions match, each tensor written once."""
        for i, t in enumerate(self.tensors):
            assert t.index == i, f"tensor {i} has index {t.index}"
        written: set[int] = set()
        for i, op in enumerate(self.ops):
            assert op.index == i, f"op {i} has index {op.index}"
            for t in op.inputs:
                assert -1 <= t < len(self.tensors), f"op {i} reads tensor {t}"
            for t in op.outputs:
                assert 0 <= t < len(self.tensors) and t not in written, f"op {i} writes tensor {t}"
                written.add(t)
        for t in (*self.inputs, *self.outputs):
            assert 0 <= t < len(self.tensors)


def describe_op(graph: Graph, op: Op) -> str:
    """``op #3 TRANSPOSE ([1, 16, 16, 8], [4] -> [1, 16, 8, 16])``: one op, for error lines."""
    ins = ", ".join(str(list(graph.tensors[t].shape)) for t in op.inputs if t >= 0)
    outs = ", ".join(str(list(graph.tensors[t].shape)) for t in op.outputs)
    return f"op #{op.index} {op.name} ({ins} -> {outs})"
