"""Run a generated `host` project in-process (gcc → shared library → ctypes), optionally
capturing every layer's output from the arena. Tests use it to compare the generated C with
TFLite's reference kernels layer by layer; users can use it to debug a mismatch."""

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
    """A generated model compiled for this machine."""

    def __init__(self, project: Path, cc: str = "gcc"):
        self.project = Path(project)
        srcs = [self.project / "model.c", *sorted((self.project / "kernels").glob("*.c"))]
        self._tmp = tempfile.TemporaryDirectory(prefix="hardtool-host-")
        lib = Path(self._tmp.name) / "libmodel.so"
        cmd = [
            cc,
            *C_FLAGS,
            *SHARED_FLAGS,
            f"-I{self.project}",
            f"-I{self.project / 'kernels'}",
            "-o",
            str(lib),
            *map(str, srcs),
        ]
        r = run_tool(cmd)
        if r.returncode != 0:
            raise HardtoolError(f"host build failed: {first_error(r.stderr)}")
        self.lib = ctypes.CDLL(str(lib))
        self.lib.hard_model_input.restype = ctypes.POINTER(ctypes.c_int8)
        self.lib.hard_model_labels.restype = ctypes.POINTER(ctypes.c_uint8)
        self.lib.hard_model_run.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p]
        self.plan = json.loads((self.project / "memplan.json").read_text())
        self.graph = lower(load_tflite(self.project / "model_int8.tflite"))
        self.arena = (ctypes.c_uint8 * int(self.plan["arena_size"])).in_dll(self.lib, "hard_arena")
        shape = self.graph.tensors[self.graph.inputs[0]].shape
        self.input_shape = tuple(shape)
        out = self.graph.tensors[self.graph.outputs[0]].shape
        self.label_shape = tuple(out[1:3])

    def run(self, x: np.ndarray, capture: bool = False) -> tuple[np.ndarray, dict[int, np.ndarray]]:
        """Labels [H, W] for int8 input x; with ``capture``, {op index: output tensor} too."""
        x = np.ascontiguousarray(x, dtype=np.int8).reshape(self.input_shape)
        n = x.size
        ctypes.memmove(self.lib.hard_model_input(), x.ctypes.data, n)
        captured: dict[int, np.ndarray] = {}
        offsets = {b["tensor"]: b["offset"] for b in self.plan["buffers"] if b.get("tensor") is not None}
        order = [int(i) for i in self.plan["order"]]

        def hook(_ctx, layer, end):
            if not (capture and end):
                return
            op = self.graph.ops[order[layer]]
            t = self.graph.tensors[op.outputs[0]]
            if op.outputs[0] not in offsets or op.name in ("HARD_RESIZE_ARGMAX", "ARG_MAX"):
                return
            off = offsets[op.outputs[0]]
            raw = bytes(self.arena[off : off + t.nbytes])
            captured[op.index] = np.frombuffer(raw, dtype=t.dtype).reshape(t.shape).copy()

        cb = HOOK(hook)
        prof = _Profile(cb, None)
        labels = np.zeros(self.label_shape, np.uint8)
        rc = self.lib.hard_model_run(self.lib.hard_model_input(), labels.ctypes.data, ctypes.byref(prof))
        if rc != 0:
            raise HardtoolError(f"generated model failed at layer {-rc - 1}")
        return labels, captured
