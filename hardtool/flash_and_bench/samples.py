"""Inputs for any model: a folder of input files (raw bytes or ``.npy``, one sample per file, the
MLPerf Tiny dataset format) with an optional ``labels.csv`` (``file,class``); the host int8
reference (TFLite's reference kernels on the same bytes) for every output tensor; per-tensor
bit-exactness and top-1 accuracy."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hardtool.core.errors import HardtoolError

LABELS_CSV = "labels.csv"


@dataclass
class SampleFolder:
    names: list[str]
    inputs: list[list[np.ndarray]]  # per sample, one array per model input
    classes: list[int | None] | None  # per sample, from labels.csv (None: no labels.csv)


def is_sample_folder(data: Path) -> bool:
    """A folder of input files rather than a Cityscapes root (which has leftImg8bit/)."""
    return Path(data).is_dir() and not (Path(data) / "leftImg8bit").is_dir()


def _split(raw: bytes, inputs: list[dict], name: str) -> list[np.ndarray]:
    total = sum(t["bytes"] for t in inputs)
    if len(raw) != total:
        sizes = " + ".join(str(t["bytes"]) for t in inputs)
        raise HardtoolError(f"{name}: {len(raw):,} bytes; the model's input is {total:,} bytes ({sizes})")
    out, at = [], 0
    for t in inputs:
        out.append(np.frombuffer(raw[at : at + t["bytes"]], dtype=t["dtype"]).reshape(t["dims"]).copy())
        at += t["bytes"]
    return out


def _quantize(x: np.ndarray, t: dict) -> np.ndarray:
    """A float sample for an int8 / uint8 input: quantised with the input's scale and zero point."""
    info = np.iinfo(t["dtype"])
    q = np.round(x.astype(np.float64) / t["scale"]) + t["zero_point"]
    return np.clip(q, info.min, info.max).astype(t["dtype"])


def load_sample(path: Path, inputs: list[dict]) -> list[np.ndarray]:
    """One sample: the raw input bytes (every input in order), or a ``.npy`` array with the
    model's element count (float arrays for an integer input are quantised with its scale)."""
    if path.suffix != ".npy":
        return _split(path.read_bytes(), inputs, path.name)
    try:
        x = np.load(path, allow_pickle=False)
    except (ValueError, OSError) as e:
        raise HardtoolError(f"{path.name} is not a readable .npy file ({e})") from None
    if len(inputs) == 1 and x.dtype.kind == "f" and np.dtype(inputs[0]["dtype"]).kind in "iu":
        if x.size != int(np.prod(inputs[0]["dims"])):
            raise HardtoolError(
                f"{path.name}: {x.size} values; the model's input has {np.prod(inputs[0]['dims'])}"
            )
        return [_quantize(x, inputs[0]).reshape(inputs[0]["dims"])]
    return _split(np.ascontiguousarray(x).tobytes(), inputs, path.name)


def read_classes(data: Path, names: list[str]) -> list[int | None] | None:
    """Ground-truth class per sample from labels.csv (``file,class``; a header row is allowed)."""
    path = Path(data) / LABELS_CSV
    if not path.is_file():
        return None
    table: dict[str, int] = {}
    with path.open(newline="") as f:
        for i, row in enumerate(csv.reader(f)):
            if len(row) < 2 or not row[0].strip():
                continue
            try:
                table[row[0].strip()] = int(row[1])
            except ValueError:
                if i == 0:
                    continue  # header
                raise HardtoolError(f"{path}: line {i + 1}: class {row[1]!r} is not an integer") from None
    return [table.get(n, table.get(Path(n).stem)) for n in names]


def read_samples(data: Path, inputs: list[dict], n: int) -> SampleFolder:
    """The first ``n`` input files of ``data`` (sorted by name), checked against the model's inputs."""
    files = sorted(p for p in Path(data).iterdir() if p.is_file() and p.name != LABELS_CSV)
    files = [p for p in files if not p.name.startswith(".")][:n]
    if not files:
        raise HardtoolError(
            f"no input files in {data}: put one file per sample (raw input bytes or .npy) there, "
            f"and optionally {LABELS_CSV} (file,class)"
        )
    names = [p.name for p in files]
    return SampleFolder(names, [load_sample(p, inputs) for p in files], read_classes(data, names))


def reference_outputs(model: Path, samples: list[list[np.ndarray]]) -> list[list[np.ndarray]]:
    """Every output of TFLite's reference kernels (BUILTIN_REF) for each sample: the host int8 reference."""
    from hardtool.quantize.validate import load_interpreter

    it = load_interpreter(Path(model))
    outs = []
    for xs in samples:
        for d, x in zip(it.get_input_details(), xs, strict=True):
            it.set_tensor(d["index"], np.asarray(x).reshape(d["shape"]))
        it.invoke()
        outs.append([it.get_tensor(d["index"]).copy() for d in it.get_output_details()])
    return outs


def device_arrays(raw: list[bytes], outputs: list[dict]) -> list[np.ndarray]:
    """The device's output bytes as arrays of each output's type and shape."""
    return [np.frombuffer(b, dtype=t["dtype"]).reshape(t["dims"]) for b, t in zip(raw, outputs, strict=True)]


def _equal(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a, b = np.asarray(a).reshape(-1), np.asarray(b).reshape(-1)
    if a.dtype.kind == "f" and b.dtype.kind == "f":  # bit for bit, -0.0 included
        return a.astype(np.float32).view(np.int32) == b.astype(np.float32).view(np.int32)
    return a.astype(np.int64) == b.astype(np.int64)


def compare_outputs(
    device: list[list[np.ndarray]], host: list[list[np.ndarray]], outputs: list[dict]
) -> dict:
    """Per output tensor: values equal to the host int8 reference over every sample."""
    per_tensor = []
    for i, t in enumerate(outputs):
        same = [int(_equal(d[i], h[i]).sum()) for d, h in zip(device, host, strict=False)]
        total = len(same) * int(np.prod(t["dims"]))
        per_tensor.append(
            {"index": i, "name": t["name"], "dtype": t["dtype"], "values": total, "values_equal": sum(same)}
            | {
                "fraction": sum(same) / total if total else None,
                "bit_exact": total > 0 and sum(same) == total,
            }
        )
    differ = [k for k, (d, h) in enumerate(zip(device, host, strict=False)) if not all(map(_all_equal, d, h))]
    values = sum(p["values"] for p in per_tensor)
    equal = sum(p["values_equal"] for p in per_tensor)
    return {
        "values": values,
        "values_equal": equal,
        "fraction": equal / values if values else None,
        "bit_exact": values > 0 and not differ,
        "differing_images": differ,
        "per_tensor": per_tensor,
    }


def _all_equal(a: np.ndarray, b: np.ndarray) -> bool:
    return bool(_equal(a, b).all())


def predicted_class(outputs: list[np.ndarray], labels: bool) -> int:
    """The class a sample is given: the label of a model ending in ARG_MAX, else the argmax of
    output 0 (quantised values order like the real ones)."""
    out = np.asarray(outputs[0]).reshape(-1)
    return int(out[0]) if labels else int(np.argmax(out))


def top1(predictions: list[list[np.ndarray]], classes: list[int | None] | None, labels: bool) -> dict | None:
    """Share of the samples labelled in labels.csv whose predicted class is right."""
    pairs = [(predicted_class(p, labels), c) for p, c in zip(predictions, classes or [], strict=False)]
    pairs = [(p, c) for p, c in pairs if c is not None]
    if not pairs:
        return None
    correct = sum(p == c for p, c in pairs)
    return {"n": len(pairs), "correct": correct, "top1": correct / len(pairs)}
