"""Scratch bytes each int8 kernel needs, mirroring the C ``*_get_buffer_size()`` functions.

The memory planner reserves these buffers in the arena; keep this table in step with
firmware/kernels/ (tests/test_kernels_scratch.py checks both agree).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hardtool.core.graph.ir import Graph, Op

INT32_BYTES = 4

# op type -> the dims keyword it needs; ops missing here need no scratch.
_NO_SCRATCH = frozenset(
    {
        "CONV_2D",
        "DEPTHWISE_CONV_2D",
        "MAX_POOL_2D",
        "ADD",
        "MUL",
        "QUANTIZE",
        "CONCATENATION",
        "PAD",
        "RESIZE_BILINEAR",
        "RESIZE_NEAREST_NEIGHBOR",
        "ARG_MAX",
    }
)


def scratch_bytes_for(op_type: str, **dims: int) -> int:
    """Scratch bytes for one kernel call.

    AVERAGE_POOL_2D and MEAN need ``channels`` (one int32 accumulator per channel);
    HARD_RESIZE_ARGMAX needs ``input_width`` and ``channels`` (one vertically
    interpolated low-resolution row of int32). Every other supported op needs none.
    """
    op = op_type.upper()
    if op in ("AVERAGE_POOL_2D", "MEAN"):
        return _positive(dims, "channels") * INT32_BYTES
    if op == "HARD_RESIZE_ARGMAX":
        return _positive(dims, "input_width") * _positive(dims, "channels") * INT32_BYTES
    if op in _NO_SCRATCH:
        return 0
    raise ValueError(f"no int8 kernel for op {op_type!r}")


def _positive(dims: dict[str, int], key: str) -> int:
    if key not in dims:
        raise TypeError(f"scratch size needs {key}=")
    value = int(dims[key])
    if value <= 0:
        raise ValueError(f"{key} must be positive, got {value}")
    return value


def scratch_bytes(op: Op, graph: Graph) -> int:
    """Scratch bytes of one op of a lowered graph (the memory planner's ``ScratchFn``).

    Op types this library has no kernel for need no scratch from it and give 0; codegen is
    where an unsupported op is reported.
    """
    name = op.name.upper()
    if name not in _NO_SCRATCH and name not in ("AVERAGE_POOL_2D", "MEAN", "HARD_RESIZE_ARGMAX"):
        return 0
    shape = graph.tensors[op.inputs[0]].shape  # any rank: a rank-1 or scalar input has width / channels 1
    width, channels = (int(shape[-2]) if len(shape) >= 2 else 1), (int(shape[-1]) if shape else 1)
    return scratch_bytes_for(name, input_width=width, channels=channels)
