"""The MLPerf Tiny reference models, lowered and run op by op through the host build of our C
kernels, equal TFLite's reference interpreter on every intermediate tensor, bit for bit.

These are int8 models nobody on this project wrote (vww, resnet8, kws, ad01, strm_ww): every op
they use has a kernel. The files are read where they are kept (HARDTOOL_MLPERF_TINY), never
copied into the repository; the test is skipped where they are absent."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from host_graph import run_graph
from kernels_util import (  # noqa: F401  (the *_fixture imports provide the kernel_lib fixtures)
    RefModel,
    assert_bit_exact,
    kernel_lib_dsp_fixture,
    kernel_lib_fixture,
    rand_int8,
)

from bench.common import mlperf_dir
from hardtool.core.graph import load_tflite, lower

MLPERF_DIR = mlperf_dir() or Path("shared/mlperf-tiny")  # absent: the tests that need it skip
MODELS = ["vww_96_int8", "resnet8_quant", "kws_ref_model", "ad01_int8", "strm_ww_int8"]


@pytest.mark.parametrize("name", MODELS)
def test_mlperf_tiny_model_runs_bit_exact_on_our_kernels(kernel_lib, kernel_lib_dsp, name):
    path = MLPERF_DIR / f"{name}.tflite"
    if not path.is_file():
        pytest.skip(f"{path} not present")
    graph = lower(load_tflite(path))
    ref = RefModel(path.read_bytes())
    rng = np.random.default_rng(0)
    for trial in range(2):
        xs = [rand_int8(rng, graph.tensors[t].shape) for t in graph.inputs]
        ref.run(*xs)
        for lib, path_name in ((kernel_lib, "portable"), (kernel_lib_dsp, "DSP"))[: 2 if trial == 0 else 1]:
            values = run_graph(lib, graph, xs)
            for op in graph.ops:
                t = graph.tensors[op.outputs[0]]
                want = ref.tensor(t.source_index)
                assert_bit_exact(values[t.index], want, f"{name} op #{op.index} {op.name} ({path_name})")
