"""The op records (hardtool.ops): every record complete and consistent, every table derived from
them, and the one kernel choice: the generated C calls exactly the kernel (and filter layout)
that codegen.json reports."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from bench.common import mlperf_dir
from hardtool.core.oprules import op_rules
from hardtool.kernels import weights
from hardtool.ops import Memory, records, tables
from hardtool.ops.tflm_ops import TFLM_BUILTINS, TFLM_METHODS
from tests.test_codegen import assert_bit_exact, project

ROOT = Path(__file__).resolve().parents[1]
# hard_kernels.h and the headers it includes (hard_conv_ext.h, hard_data.h)
HEADER = "".join(p.read_text() for p in sorted((ROOT / "firmware" / "kernels").glob("hard_*.h")))
MLPERF_DIR = mlperf_dir() or Path("shared/mlperf-tiny")
C_LIBRARY = {"memmove"}  # a reshape the plan cannot alias is one C library copy


def declared(symbol: str) -> bool:
    """``symbol`` is a function declared in firmware/kernels/hard_kernels.h (or a C library one)."""
    return symbol in C_LIBRARY or re.search(rf"\b{re.escape(symbol)}\s*\(", HEADER) is not None


def test_every_record_is_complete():
    recs = records()
    assert recs, "no op records"
    for name, r in recs.items():
        need, most, outs = r.arity
        assert name == r.name and name.isupper(), name
        assert 0 <= need and (most is None or most >= need) and (outs is None or outs >= 1), name
        assert isinstance(r.memory, Memory) and r.summary, name
        assert not r.runs or r.choose is not None, f"{name} has an emitter but no kernel choice"
        assert r.choose is None or r.runs, f"{name} chooses a kernel it cannot emit"
        assert not r.strided_output or r.runs, name
        assert not r.lean or r.runs, name
        if name in TFLM_METHODS:  # a TFLite builtin TFLite Micro registers: its resolver method
            assert r.tflm == TFLM_METHODS[name], name
        else:
            assert r.tflm is None, f"{name}: TFLite Micro has no {r.tflm}"
    assert len(TFLM_METHODS) == len(TFLM_BUILTINS) and all(m.startswith("Add") for m in TFLM_METHODS.values())


def test_every_kernel_a_record_names_exists_in_the_kernel_headers():
    """Every kernel symbol a record's source names (all branches of every ``choose``) is a
    function of firmware/kernels/hard_kernels.h."""
    named = set()
    for path in (ROOT / "hardtool" / "ops").glob("*.py"):
        named |= set(
            re.findall(r'"(hard_[a-z0-9_]+_(?:s8|u8|f32|s8_u8|u8_s8|s8_f32|f32_s8))"', path.read_text())
        )
    assert "hard_depthwise_conv_3x3_s8" in named and "hard_convolve_1x1_s8" in named
    missing = sorted(s for s in named if not declared(s))
    assert not missing, missing


def test_tables_are_derived_from_the_records():
    recs = records()
    rules = op_rules()
    assert rules.supported == tables.SUPPORTED == frozenset(recs)
    assert rules.arity == {n: r.arity for n, r in recs.items()}
    assert set(rules.checks) == {n for n, r in recs.items() if r.prepare is not None}
    assert tables.KERNEL_OPS == {n for n, r in recs.items() if r.runs}
    assert tables.RESHAPES == {"RESHAPE", "SQUEEZE", "EXPAND_DIMS"}
    assert {"CONV_2D", "DEPTHWISE_CONV_2D", "AVERAGE_POOL_2D", "MAX_POOL_2D"} <= tables.SPATIAL_OPS
    assert tables.SPATIAL_OPS <= tables.STRIDED_OUTPUT_OPS
    assert tables.RESOLVER == {n: r.tflm for n, r in recs.items() if r.tflm}
    assert tables.LEAN_OPS == {n for n, r in recs.items() if r.lean} == {"CONV_2D", "DEPTHWISE_CONV_2D"}


def test_readme_op_table_is_generated_from_the_records():
    readme = (ROOT / "README.md").read_text()
    m = re.search(r"<!-- op-table:start -->\n(.*?)<!-- op-table:end -->", readme, re.S)
    assert m, "README.md lacks the op table markers"
    assert m.group(1) == tables.op_table_markdown(), "regenerate it: python -m hardtool.ops.tables README.md"
    text = tables.op_table_text()
    assert all(f"{n} " in text for n in TFLM_METHODS)


def _layer_calls(model_c: str, layer: dict, stage_k: int | None) -> list[str]:
    """The kernel functions the generated C calls for one layer of codegen.json's table."""
    if stage_k is not None:
        m = re.search(rf"hard_stage_{stage_k}\(const int8_t.*?\n}}", model_c, re.S)
    else:
        m = re.search(rf"/\* \d+: {re.escape(layer['name'])} \*/\n(.*?)HARD_HOOK\(\d+, 1\)", model_c, re.S)
    assert m, layer
    calls = re.findall(r"\b(hard_[a-z0-9_]+|memmove)\(", m.group(0))
    return [c for c in calls if not c.startswith("hard_stage_")]


def assert_calls_match_codegen_json(proj: Path) -> dict:
    """Every layer's C calls exactly codegen.json's kernel (a relocation's concatenation first),
    reading the filter in the layout codegen.json names; returns {kernel: layers}."""
    summary = json.loads((proj / "codegen.json").read_text())
    model_c = (proj / "model.c").read_text()
    seen: dict[str, int] = {}
    stage_k = 0
    for layer in summary["layer_table"]:
        k = None
        if layer.get("stage"):
            k, stage_k = stage_k, stage_k + 1
        calls = _layer_calls(model_c, layer, k)
        assert calls and calls[-1] == layer["kernel"], (layer, calls)
        assert set(calls[:-1]) <= {"hard_concatenation_c_s8"}, (layer, calls)
        assert declared(layer["kernel"]), layer
        assert layer["reason"], layer
        seen[layer["kernel"]] = seen.get(layer["kernel"], 0) + 1
    layouts = [L for L in summary["layer_table"] if L.get("layout")]
    assert all(callable(getattr(weights, L["layout"], None)) for L in layouts), layouts
    casts = model_c.count("(const int8_t *)(const void *)")
    assert casts >= len(layouts)
    return seen


def test_host_build_calls_the_general_entry_points(zoo_model, tmp_path):
    proj = project(zoo_model("hard_edge"), tmp_path, "host")
    seen = assert_calls_match_codegen_json(proj)
    assert "hard_convolve_s8" in seen and "hard_depthwise_conv_s8" in seen
    assert not {"hard_convolve_1x1_s8", "hard_convolve_im2col_s8", "hard_depthwise_conv_3x3_s8"} & set(seen)


def test_dsp_build_calls_the_chosen_kernels_and_is_bit_exact(zoo_model, tmp_path):
    """HARD-Edge for the emulated Cortex-M7: the specialised kernels are called directly, and the
    project (its DSP instructions emulated in C) equals TFLite's reference kernels bit for bit."""
    proj = project(zoo_model("hard_edge"), tmp_path, "qemu")
    seen = assert_calls_match_codegen_json(proj)
    assert seen.get("hard_depthwise_conv_3x3_s8", 0) > 0 and seen.get("hard_convolve_1x1_s8", 0) > 0
    summary = json.loads((proj / "codegen.json").read_text())
    dw = [L for L in summary["layer_table"] if L["kernel"] == "hard_depthwise_conv_3x3_s8"]
    assert all(L["layout"] == "dw3x3_q15" for L in dw)
    assert_bit_exact(proj, n_inputs=2)


@pytest.mark.parametrize(
    "name", ["vww_96_int8", "resnet8_quant", "kws_ref_model", "ad01_int8", "strm_ww_int8"]
)
def test_mlperf_tiny_calls_match_codegen_json(name, tmp_path):
    path = MLPERF_DIR / f"{name}.tflite"
    if not path.is_file():
        pytest.skip(f"{path} not present")
    proj = project(path, tmp_path, "qemu")
    seen = assert_calls_match_codegen_json(proj)
    if name == "vww_96_int8":  # MobileNet: 3x3 depthwise layers, bit-exact through the DSP choices
        assert seen.get("hard_depthwise_conv_3x3_s8", 0) > 0
        assert_bit_exact(proj, n_inputs=1)
