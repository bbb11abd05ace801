"""The one reader of `.tflite` files: flatbuffer → IR, using the schema bindings TFLite ships,
with validation that turns every malformed or undeployable model into one clear error line."""

from __future__ import annotations

import hashlib
import re
import struct
from pathlib import Path
from typing import Any

import numpy as np

from hardtool.core.errors import HardtoolError
from hardtool.core.graph.ir import Graph, Op, Quant, Tensor
from hardtool.core.graph.validate import validate_graph

_DTYPES = {
    "FLOAT32": "float32",
    "FLOAT16": "float16",
    "FLOAT64": "float64",
    "INT32": "int32",
    "UINT8": "uint8",
    "INT64": "int64",
    "BOOL": "bool",
    "INT16": "int16",
    "INT8": "int8",
    "UINT64": "uint64",
    "UINT32": "uint32",
    "UINT16": "uint16",
}


def schema():
    """The generated flatbuffer bindings; tflite-micro's copy imports fastest, TensorFlow's is the fallback."""
    try:
        from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as s
    except ImportError:  # pragma: no cover - depends on the installed packages
        from tensorflow.lite.python import schema_py_generated as s
    return s


def _enum_names(cls) -> dict[int, str]:
    return {v: k for k, v in vars(cls).items() if not k.startswith("_") and isinstance(v, int)}


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _options(obj: Any, s) -> dict[str, Any]:
    """Builtin options object → plain dict with snake_case keys and enum values as names."""
    if obj is None:
        return {}
    padding, act, types = (
        _enum_names(s.Padding),
        _enum_names(s.ActivationFunctionType),
        _enum_names(s.TensorType),
    )
    out: dict[str, Any] = {}
    for k, v in vars(obj).items():
        key = _snake(k)
        if isinstance(v, np.ndarray):
            v = v.tolist()
        if key == "padding":
            v = padding.get(v, v)
        elif key == "fused_activation_function":
            v = act.get(v, v)
        elif key in ("output_type", "in_data_type", "out_data_type"):
            v = _DTYPES.get(types.get(v, ""), v)
        out[key] = v
    return out


def _corrupt(name: str, why: str) -> HardtoolError:
    return HardtoolError(
        f"{name} is not a valid .tflite file (truncated or corrupt: {why}); "
        "re-export it with 'hardtool quantize'"
    )


def load_tflite(path: Path | str, validate: bool = True) -> Graph:
    """Read a .tflite file; with ``validate`` reject float models, ops the toolchain cannot deploy and
    every field TFLite's own Prepare functions would refuse (`hardtool.core.graph.validate`)."""
    path = Path(path)
    if path.is_dir():
        raise HardtoolError(f"{path} is a folder, not a model file; give the path of an int8 .tflite")
    if not path.is_file():
        raise HardtoolError(f"{path}: no such model file")
    return load_tflite_bytes(path.read_bytes(), path.name, validate)


def load_tflite_bytes(data: bytes, name: str = "model.tflite", validate: bool = True) -> Graph:
    """Like `load_tflite` for bytes already in memory."""
    if len(data) < 8 or data[4:8] != b"TFL3":
        raise _corrupt(name, f"no TFL3 identifier in its {len(data)}-byte header")
    try:
        graph = _parse(bytes(data), name)
    except HardtoolError:
        raise
    except (
        struct.error,
        IndexError,
        ValueError,
        TypeError,
        OverflowError,
        MemoryError,
        UnicodeDecodeError,
        AttributeError,
    ) as e:
        why = (
            f"it has {len(data)} bytes but refers to data beyond its end"
            if isinstance(e, struct.error | IndexError)
            else f"{type(e).__name__}: {str(e)[:100]}"
        )
        raise _corrupt(name, why) from None
    if validate:
        validate_graph(graph)
    return graph


def _count(n: int, data: bytes, what: str, name: str) -> int:
    if n < 0 or 4 * n > len(data):
        raise _corrupt(name, f"{what} count {n} exceeds the file size")
    return n


def _opcodes(model, s, data: bytes, name: str) -> list[str]:
    """Builtin name of every operator code ('CUSTOM:<name>' for custom ops)."""
    op_names = _enum_names(s.BuiltinOperator)
    codes = []
    for i in range(_count(model.OperatorCodesLength(), data, "operator code", name)):
        c = model.OperatorCodes(i)
        code = max(c.BuiltinCode(), c.DeprecatedBuiltinCode())
        if code == s.BuiltinOperator.CUSTOM:
            codes.append("CUSTOM:" + (c.CustomCode() or b"").decode(errors="replace"))
        else:
            codes.append(op_names.get(code, f"BUILTIN_{code}"))
    return codes


def _quant(q) -> Quant | None:
    if q is None or q.scale is None or len(q.scale) == 0:
        return None
    zp = q.zeroPoint if q.zeroPoint is not None else [0] * len(q.scale)
    axis = int(q.quantizedDimension) if len(q.scale) > 1 else None
    return Quant(tuple(float(x) for x in q.scale), tuple(int(x) for x in zp), axis)


def _tensor(model, s, sg, i: int, data: bytes, name: str) -> Tensor:
    tt = s.TensorT.InitFromObj(sg.Tensors(i))
    tname = (tt.name or b"").decode(errors="replace") if isinstance(tt.name, bytes) else (tt.name or "")
    shape = tuple(int(d) for d in (tt.shape if tt.shape is not None else ()))
    sig = tt.shapeSignature
    # a free batch dimension (-1 in the signature) is fine: we run the stored shape, batch 1 at
    # the graph input (SPACE_TO_BATCH_ND outputs store their block-multiplied batch)
    dynamic = [j for j, d in enumerate(sig if sig is not None else ()) if int(d) < 0]
    if any(d < 0 for d in shape) or any(j != 0 or not shape or shape[0] < 1 for j in dynamic):
        raise HardtoolError(
            f"{name}: tensor {i} '{tname}' has a dynamic shape; convert the model with a fixed input size"
        )
    type_name = _enum_names(s.TensorType).get(tt.type, str(tt.type))
    if type_name not in _DTYPES:
        raise HardtoolError(f"{name}: tensor {i} '{tname}' has type {type_name}, which cannot be deployed")
    dtype = _DTYPES[type_name]
    return Tensor(
        i,
        tname,
        shape,
        dtype,
        _quant(tt.quantization),
        _buffer(model, tt.buffer, data, shape, dtype, name, i),
        i,
    )


def _ops(s, sg, codes: list[str], n_tensors: int, data: bytes, name: str) -> list[Op]:
    ops: list[Op] = []
    for i in range(_count(sg.OperatorsLength(), data, "operator", name)):
        ot = s.OperatorT.InitFromObj(sg.Operators(i))
        if not 0 <= ot.opcodeIndex < len(codes):
            raise _corrupt(name, f"op {i} has opcode index {ot.opcodeIndex}")
        ins = tuple(int(t) for t in (ot.inputs if ot.inputs is not None else ()))
        outs = tuple(int(t) for t in (ot.outputs if ot.outputs is not None else ()))
        for t in (*ins, *outs):
            if not -1 <= t < n_tensors:
                raise _corrupt(name, f"op {i} refers to tensor {t}")
        ops.append(Op(i, codes[ot.opcodeIndex], ins, outs, _options(ot.builtinOptions, s), (i,)))
    return ops


def _parse(data: bytes, name: str) -> Graph:
    s = schema()
    model = s.Model.GetRootAs(data, 0)
    n_sub = _count(model.SubgraphsLength(), data, "subgraph", name)
    if n_sub != 1:
        raise HardtoolError(f"{name} has {n_sub} subgraphs; only single-subgraph models can be deployed")
    codes = _opcodes(model, s, data, name)
    sg = model.Subgraphs(0)
    tensors = [
        _tensor(model, s, sg, i, data, name) for i in range(_count(sg.TensorsLength(), data, "tensor", name))
    ]
    ops = _ops(s, sg, codes, len(tensors), data, name)
    g_in = tuple(int(sg.Inputs(j)) for j in range(_count(sg.InputsLength(), data, "input", name)))
    g_out = tuple(int(sg.Outputs(j)) for j in range(_count(sg.OutputsLength(), data, "output", name)))
    for t in (*g_in, *g_out):
        if not 0 <= t < len(tensors):
            raise _corrupt(name, f"graph input/output refers to tensor {t}")
    desc = model.Description()
    description = desc.decode(errors="replace") if isinstance(desc, bytes) else (desc or "")
    return Graph(tensors, ops, g_in, g_out, hashlib.sha256(data).hexdigest(), Path(name).stem, description)


def _buffer(model, index: int, data: bytes, shape: tuple[int, ...], dtype: str, name: str, ti: int):
    """Constant data of a tensor as a numpy array of its shape, or None for an activation."""
    if index == 0:
        return None
    if not 0 < index < model.BuffersLength():
        raise _corrupt(name, f"tensor {ti} refers to buffer {index}")
    buf = model.Buffers(index)
    if buf.Offset() > 1:  # data stored after the flatbuffer (models > 2 GB)
        off, size = buf.Offset(), buf.Size()
        if off + size > len(data):
            raise _corrupt(name, f"buffer {index} ends past the end of the file")
        raw = np.frombuffer(data, np.uint8, count=size, offset=off)
    elif buf.DataLength() > 0:
        raw = buf.DataAsNumpy()
    else:
        return None
    want = int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize
    if raw.size != want:
        raise _corrupt(name, f"tensor {ti} has {raw.size} bytes of data for shape {list(shape)} {dtype}")
    return raw.view(dtype).reshape(shape).copy()
