"""The one editor of `.tflite` files: unpack to the schema's object API, change, repack; and the
metadata entries (hardtool's preprocessing, TFLM's offline plan) read and written in one way.
Everything not edited stays as the converter wrote it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hardtool.core.errors import HardtoolError
from hardtool.core.graph.reader import schema

FILE_IDENTIFIER = b"TFL3"


def rewrite(data: bytes, change: Callable[[Any], None], extra_bytes: int = 0) -> bytes:
    """``data`` unpacked to a ``ModelT``, passed to ``change`` (which edits it in place), repacked."""
    import flatbuffers

    model = schema().ModelT.InitFromPackedBuf(bytearray(data), 0)
    change(model)
    b = flatbuffers.Builder(len(data) + extra_bytes + 4096)
    b.Finish(model.Pack(b), file_identifier=FILE_IDENTIFIER)
    return bytes(b.Output())


def _is(entry: Any, name: str) -> bool:
    return entry.name in (name, name.encode())


def with_metadata(data: bytes, name: str, payload: bytes) -> bytes:
    """``data`` with metadata entry ``name`` holding ``payload`` (an earlier entry is replaced)."""
    s = schema()

    def change(model: Any) -> None:
        buf = s.BufferT()
        buf.data = list(payload)
        model.buffers.append(buf)
        md = s.MetadataT()
        md.name = name
        md.buffer = len(model.buffers) - 1
        model.metadata = [m for m in (model.metadata or []) if not _is(m, name)] + [md]

    return rewrite(data, change, len(payload))


def read_metadata_entry(data: bytes, name: str) -> bytes | None:
    """The payload of metadata entry ``name``, or None when the model has none."""
    m = schema().Model.GetRootAsModel(bytearray(data), 0)
    for i in range(m.MetadataLength()):
        md = m.Metadata(i)
        if md.Name() and md.Name().decode(errors="replace") == name:
            return bytes(m.Buffers(md.Buffer()).DataAsNumpy())
    return None


def with_outputs(data: bytes, extra: list[int]) -> bytes:
    """``data`` with tensors ``extra`` appended to the subgraph's outputs."""

    def change(model: Any) -> None:
        sg = model.subgraphs[0]
        sg.outputs = [int(t) for t in sg.outputs] + [int(t) for t in extra]

    return rewrite(data, change)


def drop_tail(data: bytes, n_ops: int) -> bytes:
    """The model without its last ``n_ops`` ops; the inputs of the first dropped op that are not
    constants become the graph outputs. Unused tensors are removed. Used for comparisons, e.g.
    the same model without its label-map tail, so TFLite Micro and our plan hold the same tensors."""

    def change(model: Any) -> None:
        sg = model.subgraphs[0]
        if not 0 < n_ops < len(sg.operators):
            raise HardtoolError(f"cannot drop {n_ops} of {len(sg.operators)} ops")
        cut = sg.operators[-n_ops]
        sg.operators = sg.operators[:-n_ops]

        def constant(t: int) -> bool:
            d = model.buffers[sg.tensors[t].buffer].data
            return d is not None and len(d) > 0

        new_outputs = [t for t in cut.inputs if t >= 0 and not constant(t)]
        used = sorted(
            {t for op in sg.operators for t in (*op.inputs, *op.outputs) if t >= 0}
            | set(sg.inputs)
            | set(new_outputs)
        )
        remap = {old: new for new, old in enumerate(used)} | {-1: -1}
        sg.tensors = [sg.tensors[t] for t in used]
        for op in sg.operators:
            op.inputs = [remap[t] for t in op.inputs]
            op.outputs = [remap[t] for t in op.outputs]
        sg.inputs = [remap[t] for t in sg.inputs]
        sg.outputs = [remap[t] for t in new_outputs]
        model.signatureDefs = None  # they name the old outputs

    return rewrite(data, change)
