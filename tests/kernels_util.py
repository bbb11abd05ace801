"""Helpers for the kernel tests: one-op int8 TFLite models and the reference interpreter.

Every kernel test builds a tiny float graph, converts it to a full-int8 .tflite, runs it with
TFLite's reference kernels (BUILTIN_REF) and compares our C kernel bit for bit, fed with the
same int8 tensors and the quantisation parameters read back from the interpreter.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable, Sequence

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

from hardtool.kernels.host import EMULATE_DSP, HOST_DEFINES, KernelLib, build_kernel_library

# Conversion takes ~0.1 s, so each example converts its own model and then draws several inputs.
KERNEL_SETTINGS = settings(
    max_examples=30,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
INPUTS_PER_MODEL = 4


@pytest.fixture(scope="session", name="kernel_lib")
def kernel_lib_fixture(tmp_path_factory) -> KernelLib:
    """The kernel library compiled once per session with host gcc and -Werror."""
    return KernelLib(build_kernel_library(tmp_path_factory.mktemp("hard_kernels")))


@pytest.fixture(scope="session", name="kernel_lib_dsp")
def kernel_lib_dsp_fixture(tmp_path_factory) -> KernelLib:
    """The library with the Cortex-M DSP code paths, their intrinsics emulated in portable C."""
    out = tmp_path_factory.mktemp("hard_kernels_dsp")
    return KernelLib(build_kernel_library(out, defines=(*HOST_DEFINES, EMULATE_DSP)))


@pytest.fixture(scope="session", name="host_runner")
def host_runner_fixture():
    """The kernel runner for this machine: the optimised entry points, DSP instructions emulated."""
    from hardtool.kernels.runner import HostRunner

    return HostRunner()


def convert_int8(
    fn: Callable,
    input_shapes: Sequence[Sequence[int]],
    input_ranges: Sequence[float | tuple[float, float]] | None = None,
    seed: int = 0,
    io_type: str = "int8",
    **converter_flags,
) -> bytes:
    """Full-int8 conversion of a tf.function with float inputs (int8 model inputs/outputs, or
    ``io_type`` 'uint8' / 'float32' ones); ``converter_flags`` are set on the converter."""
    import tensorflow as tf

    ranges = list(input_ranges) if input_ranges is not None else [1.0] * len(input_shapes)
    # a number r calibrates on [-r, r]; a (low, high) pair on that interval (moves the zero point)
    ranges = [(-float(r), float(r)) if np.isscalar(r) else (float(r[0]), float(r[1])) for r in ranges]
    specs = [tf.TensorSpec(list(s), tf.float32) for s in input_shapes]
    concrete = fn.get_concrete_function(*specs)
    conv = tf.lite.TFLiteConverter.from_concrete_functions([concrete], fn)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    rng = np.random.default_rng(seed)

    def representative():
        for _ in range(8):
            yield [
                rng.uniform(lo, hi, s).astype(np.float32)
                for s, (lo, hi) in zip(input_shapes, ranges, strict=True)
            ]

    conv.representative_dataset = representative
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = getattr(tf, io_type)
    conv.inference_output_type = getattr(tf, io_type)
    for name, value in converter_flags.items():
        setattr(conv, name, value)
    return conv.convert()


@dataclass(frozen=True)
class Quant:
    scale: float
    zero_point: int
    scales: np.ndarray  # per-channel scales (length 1 when per-tensor)
    zero_points: np.ndarray


class RefModel:
    """A converted model under TFLite's reference kernels, with its tensors readable."""

    def __init__(self, model: bytes):
        import tensorflow as tf

        self.model = model
        self.interp = tf.lite.Interpreter(
            model_content=model,
            experimental_op_resolver_type=tf.lite.experimental.OpResolverType.BUILTIN_REF,
            experimental_preserve_all_tensors=True,
        )
        self.interp.allocate_tensors()
        self.ops = self.interp._get_ops_details()
        self.op_names = [o["op_name"] for o in self.ops]
        self._details = {t["index"]: t for t in self.interp.get_tensor_details()}
        self.inputs = [d["index"] for d in self.interp.get_input_details()]
        self.outputs = [d["index"] for d in self.interp.get_output_details()]

    def op(self, name: str) -> dict:
        """The only op of that type in the model."""
        found = [o for o in self.ops if o["op_name"] == name]
        assert len(found) == 1, f"expected one {name}, model has {self.op_names}"
        return found[0]

    def quant(self, tensor: int) -> Quant:
        qp = self._details[tensor]["quantization_parameters"]
        scales = np.asarray(qp["scales"], dtype=np.float64)
        zps = np.asarray(qp["zero_points"])
        assert scales.size >= 1, f"tensor {tensor} is not quantised"
        return Quant(float(scales[0]), int(zps[0]), scales, zps)

    def dtype(self, tensor: int):
        return self._details[tensor]["dtype"]

    def shape(self, tensor: int) -> tuple[int, ...]:
        return tuple(int(v) for v in self._details[tensor]["shape"])

    def tensor(self, tensor: int) -> np.ndarray:
        return np.array(self.interp.get_tensor(tensor))

    def run(self, *xs: np.ndarray) -> list[np.ndarray]:
        for idx, x in zip(self.inputs, xs, strict=True):
            self.interp.set_tensor(idx, x)
        self.interp.invoke()
        return [self.tensor(i) for i in self.outputs]


def rand_int8(rng: np.random.Generator, shape: Sequence[int]) -> np.ndarray:
    return rng.integers(-128, 128, size=tuple(shape), dtype=np.int16).astype(np.int8)


def assert_bit_exact(ours: np.ndarray, ref: np.ndarray, what: str) -> None:
    """Equal shapes and every element equal; on failure say how many differ and by how much."""
    ours = np.asarray(ours)
    ref = np.asarray(ref)
    assert ours.shape == ref.shape, f"{what}: shape {ours.shape} != reference {ref.shape}"
    diff = ours.astype(np.int64) - ref.astype(np.int64)
    bad = np.count_nonzero(diff)
    assert bad == 0, f"{what}: {bad}/{diff.size} elements differ, max |diff| {np.abs(diff).max()}"


def patch_options(model: bytes, op_name: str, **values) -> bytes:
    """The model with fields of every ``op_name`` op's builtin options set (e.g. SOFTMAX beta),
    for option values the converter never emits from TensorFlow graphs."""
    import flatbuffers

    from hardtool.core.graph.reader import schema

    s = schema()
    m = s.ModelT.InitFromPackedBuf(bytearray(model), 0)
    code = getattr(s.BuiltinOperator, op_name)
    indices = [
        i for i, c in enumerate(m.operatorCodes) if max(c.builtinCode, c.deprecatedBuiltinCode) == code
    ]
    patched = 0
    for op in m.subgraphs[0].operators:
        if op.opcodeIndex in indices:
            for key, value in values.items():
                setattr(op.builtinOptions, key, value)
            patched += 1
    assert patched, f"no {op_name} op to patch"
    b = flatbuffers.Builder(len(model) + 1024)
    b.Finish(m.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())


def ref_mbqm(x: int, mult: int, shift: int) -> int:
    """TFLite's MultiplyByQuantizedMultiplier on Python ints (int32 wrap of the left shift and
    the one saturating case included): the independent model kernels are checked against."""
    a = x * (1 << max(shift, 0))
    a = (a + (1 << 31)) % (1 << 32) - (1 << 31)
    if a == mult == -(1 << 31):
        hi = (1 << 31) - 1
    else:
        ab = a * mult
        hi = (ab + (1 << 30)) >> 31 if ab >= 0 else -((-ab + (1 << 30) - 1) >> 31)
    right = max(-shift, 0)
    mask = (1 << right) - 1
    threshold = (mask >> 1) + (1 if hi < 0 else 0)
    return (hi >> right) + (1 if (hi & mask) > threshold else 0)
