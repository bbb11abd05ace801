"""Small rewrites of .tflite files for comparisons, e.g. the same model without its label-map tail
so TFLite Micro and our plan can be compared on exactly the same tensors."""

from __future__ import annotations

from hardtool.errors import HardtoolError
from hardtool.graph.reader import schema


def drop_tail(data: bytes, n_ops: int) -> bytes:
    """The model without its last ``n_ops`` ops; the inputs of the first dropped op that are not
    constants become the graph outputs. Unused tensors are removed."""
    import flatbuffers

    s = schema()
    model = s.ModelT.InitFromPackedBuf(bytearray(data), 0)
    sg = model.subgraphs[0]
    if not 0 < n_ops < len(sg.operators):
        raise HardtoolError(f"cannot drop {n_ops} of {len(sg.operators)} ops")
    cut = sg.operators[-n_ops]
    sg.operators = sg.operators[:-n_ops]

    def constant(t: int) -> bool:
        data = model.buffers[sg.tensors[t].buffer].data
        return data is not None and len(data) > 0

    new_outputs = [t for t in cut.inputs if t >= 0 and not constant(t)]
    used = sorted(
        {t for op in sg.operators for t in (*op.inputs, *op.outputs) if t >= 0}
        | set(sg.inputs)
        | set(new_outputs)
    )
    remap = {old: new for new, old in enumerate(used)}
    remap[-1] = -1
    sg.tensors = [sg.tensors[t] for t in used]
    for op in sg.operators:
        op.inputs = [remap[t] for t in op.inputs]
        op.outputs = [remap[t] for t in op.outputs]
    sg.inputs = [remap[t] for t in sg.inputs]
    sg.outputs = [remap[t] for t in new_outputs]
    model.signatureDefs = None  # they name the old outputs
    b = flatbuffers.Builder(len(data) + 4096)
    b.Finish(model.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())
