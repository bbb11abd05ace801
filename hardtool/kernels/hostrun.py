"""Run a generated `host` project in-process (gcc → shared library → ctypes): every input and
output tensor through the generated API, optionally capturing every layer's output from the
arena. Tests use it to compare the generated C with TFLite's reference kernels layer by layer;
users can use it to debug a mismatch."""

from __future__ import annotations

import ctypes
import json
import tempfile
from pathlib import Path

import numpy as np

from hardtool.core.boards import C_FLAGS
from hardtool.core.errors import HardtoolError
from hardtool.core.graph import load_tflite, lower
from hardtool.core.toolchain import first_error, run_tool
from hardtool.kernels.build import SHARED_FLAGS

HOOK = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_int, ctypes.c_int)


class _Profile(ctypes.Structure):
    _fields_ = [("hook", HOOK), ("ctx", ctypes.c_void_p)]


class HostModel:
    """A generated model compiled for this machine; ``run`` takes and returns every input and
    output tensor (codegen.json describes them)."""

    def __init__(self, project: Path, cc: str = "gcc"):
        self.project = Path(project)
        summary = json.loads((self.project / "codegen.json").read_text())
        srcs = [self.project / "model.c", *sorted((self.project / "kernels").glob("*.c"))]
        self._tmp = tempfile.TemporaryDirectory(prefix="hardtool-host-")
        lib = Path(self._tmp.name) / "libmodel.so"
        defines = [f"-D{k}={v}" for k, v in summary.get("defines", {}).items()]
        includes = [f"-I{self.project}", f"-I{self.project / 'kernels'}"]
        cmd = [cc, *C_FLAGS, *SHARED_FLAGS, *defines, *includes, "-o", str(lib), *map(str, srcs), "-lm"]
        r = run_tool(cmd)
        if r.returncode != 0:
            raise HardtoolError(f"host build failed: {first_error(r.stderr)}")
        self.lib = ctypes.CDLL(str(lib))
        for fn in ("hard_model_input", "hard_model_output"):
            getattr(self.lib, fn).restype = ctypes.c_void_p
            getattr(self.lib, fn).argtypes = [ctypes.c_int]
        self.lib.hard_model_run.argtypes = [ctypes.c_void_p]
        self.plan = json.loads((self.project / "memplan.json").read_text())
        self.graph = lower(load_tflite(self.project / "model_int8.tflite", validate=False))
        self.arena = (ctypes.c_uint8 * int(self.plan["arena_size"])).in_dll(self.lib, "hard_arena")
        self.inputs, self.outputs = summary["inputs"], summary["outputs"]
        self.layer_ops = [int(L["op"]) for L in summary["layer_table"]]
        self.stage_layers = sum(1 for L in summary["layer_table"] if L.get("stage"))
        self.streamed = bool((summary.get("stage") or {}).get("streamed"))
        self.input_shape = tuple(self.inputs[0]["dims"])
        if self.streamed:
            self.lib.hard_model_feed_rows.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p]

    def _write_inputs(self, xs: list[np.ndarray], prof) -> None:
        """Every input into its buffer, or (a streamed model) fed row by row, which runs the
        first stage."""
        if len(xs) != len(self.inputs):
            raise HardtoolError(f"the model has {len(self.inputs)} inputs, got {len(xs)}")
        for i, (x, info) in enumerate(zip(xs, self.inputs, strict=True)):
            a = np.ascontiguousarray(x, dtype=info["dtype"])
            if a.nbytes != info["bytes"]:
                raise HardtoolError(f"input {i}: {a.nbytes} bytes, the model takes {info['bytes']}")
            if not self.streamed:
                ctypes.memmove(self.lib.hard_model_input(i), a.ctypes.data, a.nbytes)
                continue
            self.lib.hard_model_stream_begin()
            rc = self.lib.hard_model_feed_rows(a.ctypes.data, a.shape[1], prof)
            if rc != 0:
                raise HardtoolError(f"generated model failed at layer {-rc - 1} while fed its rows")

    def _tensor(self, e: dict, t) -> np.ndarray:
        """A tensor's bytes from the arena (gathered row by row from a strided slice)."""
        v = e.get("view")
        if v is None:
            raw = bytes(self.arena[e["offset"] : e["offset"] + t.nbytes])
        else:
            row = t.nbytes // v["outer"]
            raw = b"".join(
                bytes(self.arena[e["offset"] + r * v["row_bytes"] : e["offset"] + r * v["row_bytes"] + row])
                for r in range(v["outer"])
            )
        return np.frombuffer(raw, dtype=t.dtype).reshape(t.shape).copy()

    def _capture_hook(self, captured: dict[int, np.ndarray]):
        """After each layer its output; a first stage's output (written band by band) once the
        layer after the stage starts, its bands never."""
        planned = {b["tensor"]: b for b in self.plan["buffers"] if b.get("tensor") is not None}

        def grab(op) -> None:
            e = planned.get(op.outputs[0])
            if e is not None and "stage" not in e and op.name not in ("HARD_RESIZE_ARGMAX", "ARG_MAX"):
                captured[op.index] = self._tensor(e, self.graph.tensors[op.outputs[0]])

        def hook(_ctx, layer, end):
            op = self.graph.ops[self.layer_ops[layer]]
            if layer == self.stage_layers and self.stage_layers and not end:
                grab(self.graph.ops[self.layer_ops[layer - 1]])
            if end and layer >= self.stage_layers:
                grab(op)

        return HOOK(hook)

    def run(
        self, xs: np.ndarray | list[np.ndarray], capture: bool = False
    ) -> tuple[list[np.ndarray], dict[int, np.ndarray]]:
        """Every output (arrays of the output's dtype and shape; a label map is uint8) for the
        inputs ``xs`` (one array per input, or the one input); with ``capture``, {op index: its
        output tensor} after every layer too."""
        captured: dict[int, np.ndarray] = {}
        cb = self._capture_hook(captured) if capture else None
        prof = _Profile(cb, None) if cb else None
        self._write_inputs(
            list(xs) if isinstance(xs, list | tuple) else [xs], ctypes.byref(prof) if prof else None
        )
        rc = self.lib.hard_model_run(ctypes.byref(prof) if prof else None)
        if rc != 0:
            raise HardtoolError(f"generated model failed at layer {-rc - 1}")
        outs = []
        for i, info in enumerate(self.outputs):
            raw = ctypes.string_at(self.lib.hard_model_output(i), info["bytes"])
            outs.append(np.frombuffer(raw, dtype=info["dtype"]).reshape(info["dims"]).copy())
        return outs, captured
