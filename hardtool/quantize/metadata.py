"""hardtool's own entry in a .tflite's metadata: the preprocessing (mean/std) and provenance,
so any later stage can feed the model exactly as it was calibrated. Written with the TFLite
schema's object API, so the rest of the file stays as the converter wrote it."""

from __future__ import annotations

import json

NAME = "hardtool"


def _schema():
    from tensorflow.lite.python import schema_py_generated as schema

    return schema


def add_metadata(tflite: bytes, info: dict) -> bytes:
    """Return ``tflite`` with ``info`` (JSON) stored as metadata entry 'hardtool'."""
    import flatbuffers

    schema = _schema()
    model = schema.ModelT.InitFromPackedBuf(bytearray(tflite), 0)
    buf = schema.BufferT()
    buf.data = list(json.dumps(info, sort_keys=True).encode())
    model.buffers.append(buf)
    md = schema.MetadataT()
    md.name = NAME
    md.buffer = len(model.buffers) - 1
    model.metadata = [m for m in (model.metadata or []) if m.name not in (NAME, NAME.encode())] + [md]
    b = flatbuffers.Builder(len(tflite) + 4096)
    b.Finish(model.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())


def read_metadata(tflite: bytes) -> dict:
    """The 'hardtool' entry, or {} for a model that has none."""
    schema = _schema()
    m = schema.Model.GetRootAsModel(bytearray(tflite), 0)
    for i in range(m.MetadataLength()):
        md = m.Metadata(i)
        if md.Name() and md.Name().decode() == NAME:
            data = m.Buffers(md.Buffer()).DataAsNumpy()
            return json.loads(bytes(data).decode())
    return {}
