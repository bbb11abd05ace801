"""The .tflite reader and lower(): checked against TFLite's own interpreter and shape arithmetic."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hardtool.core.errors import HardtoolError
from hardtool.core.graph import load_tflite, load_tflite_bytes, lower, same_padding


@pytest.fixture(scope="session")
def models(tmp_path_factory):
    import model_builders as mm

    d = tmp_path_factory.mktemp("graph_models")
    return {k: mm.build(k, d) for k in ("toy_hard", "toy_float", "reversed_rows")}


def test_reader_matches_tflite_interpreter(models):
    import tensorflow as tf

    g = load_tflite(models["toy_hard"])
    it = tf.lite.Interpreter(model_path=str(models["toy_hard"]))
    details = {d["index"]: d for d in it.get_tensor_details()}
    assert len(details) == len(g.tensors)
    for t in g.tensors:
        d = details[t.index]
        assert t.name == d["name"]
        assert t.shape == tuple(d["shape"])
        assert np.dtype(t.dtype) == np.dtype(d["dtype"])
        qp = d["quantization_parameters"]
        if t.quant is None:
            assert len(qp["scales"]) == 0
        else:
            np.testing.assert_allclose(t.quant.scale, qp["scales"], rtol=1e-6)
            assert list(t.quant.zero_point) == list(qp["zero_points"])
    ops = it._get_ops_details()  # noqa: SLF001
    assert [o.name for o in g.ops] == [o["op_name"] for o in ops]
    assert [list(o.inputs) for o in g.ops] == [list(o["inputs"]) for o in ops]
    assert g.inputs == tuple(d["index"] for d in it.get_input_details())
    assert g.outputs == tuple(d["index"] for d in it.get_output_details())
    consts = [t for t in g.tensors if t.is_constant and t.dtype == "int8"]
    assert consts and all(t.data.shape == t.shape for t in consts)


def test_lower_folds_pads_and_fuses_the_tail(models):
    g = load_tflite(models["toy_hard"])
    pads = [op for op in g.ops if op.name == "PAD"]
    assert pads, "the toy model should contain PAD + VALID convs"
    low = lower(g)
    assert [
        op for op in low.ops if op.name in ("PAD", "RESIZE_BILINEAR") and op.outputs[0] in low.outputs
    ] == []
    assert not any(op.name == "PAD" for op in low.ops)
    fused = [op for op in low.ops if "fused_add" in op.options]  # residual ADDs folded into a conv
    assert fused, "the toy model's residual ADDs fold into their convolution"
    assert len(low.ops) == len(g.ops) - len(pads) - 1 - len(fused)
    folded = [op for op in low.ops if op.options.get("folded_pad")]
    assert len(folded) == len(pads)
    # every conv's explicit padding reproduces its output shape
    for op in low.ops:
        if op.name in ("CONV_2D", "DEPTHWISE_CONV_2D"):
            _, h, w, _ = low.tensors[op.inputs[0]].shape
            _, kh, kw, _ = low.tensors[op.inputs[1]].shape
            t, b, l_, r = op.options["explicit_padding"]
            o = op.options
            eh = (kh - 1) * o["dilation_h_factor"] + 1
            ew = (kw - 1) * o["dilation_w_factor"] + 1
            out = low.tensors[op.outputs[0]].shape
            assert out[1] == (h + t + b - eh) // o["stride_h"] + 1
            assert out[2] == (w + l_ + r - ew) // o["stride_w"] + 1
    last = low.ops[-1]
    assert last.name == "HARD_RESIZE_ARGMAX"
    lab = low.tensors[low.outputs[0]]
    assert lab.dtype == "uint8" and lab.shape == (1, 64, 128)
    assert last.options["num_classes"] == 5 and last.options["half_pixel_centers"] in (True, False)
    # the full-resolution logits are gone
    assert not any(t.shape == (1, 64, 128, 5) for t in low.tensors)
    assert lower(low) is low
    # the original graph is untouched
    assert any(op.name == "PAD" for op in g.ops)


def test_same_padding_matches_tflite():
    assert same_padding(128, 3, 2) == (0, 1)
    assert same_padding(16, 3, 1, dilation=2) == (2, 2)
    assert same_padding(7, 1, 1) == (0, 0)


def test_float_model_is_refused_naming_the_ops(models):
    with pytest.raises(HardtoolError, match=r"float model: float ops #0 PAD .*#1 CONV_2D"):
        load_tflite(models["toy_float"])


def test_unsupported_op_is_named_with_its_index(models):
    with pytest.raises(
        HardtoolError, match=r"1 op\(s\) that hardtool cannot deploy.*\n  op #1 REVERSE_V2 \(\[1, 16, 16, 8\]"
    ):
        load_tflite(models["reversed_rows"])


@pytest.mark.parametrize("cut", [0, 7, 100, 1000, 0.5, 0.9])
def test_truncated_file_is_one_clear_error(models, cut):
    data = models["toy_hard"].read_bytes()
    n = int(len(data) * cut) if isinstance(cut, float) else cut
    with pytest.raises(HardtoolError, match="truncated or corrupt"):
        load_tflite_bytes(data[:n], "m.tflite")


def test_missing_file(tmp_path):
    with pytest.raises(HardtoolError, match="no such model file"):
        load_tflite(tmp_path / "nope.tflite")


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.data())
def test_corrupted_bytes_load_or_fail_cleanly(models, data):
    """Any byte damage gives a graph or a HardtoolError, never another exception."""
    raw = bytearray(models["toy_hard"].read_bytes())
    for _ in range(data.draw(st.integers(1, 8))):
        i = data.draw(st.integers(8, len(raw) - 1))
        raw[i] = data.draw(st.integers(0, 255))
    try:
        g = load_tflite_bytes(bytes(raw), "m.tflite")
        lower(g)
    except HardtoolError:
        pass
