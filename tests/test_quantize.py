"""`hardtool quantize`: int8 accuracy close to float, report numbers recomputed independently,
every zoo variant converts to native int8 builtins, bad inputs fail cleanly."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from hardtool.quantize.pipeline import quantize
from hardtool.quantize.validate import NATIVE_INT8
from tests.test_cli_errors import assert_one_line_error, run


@pytest.fixture(scope="module")
def demo_quant(tmp_path_factory, synth_data, demo_ckpt) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("q") / "edge"
    report = quantize(
        demo_ckpt, synth_data, out, calib_images=12, progress=False, log=lambda *_: None, keep_float=True
    )
    return out, report


def test_outputs_and_report(demo_quant):
    out, r = demo_quant
    assert {p.name for p in out.iterdir()} == {
        "model.onnx",
        "model_int8.tflite",
        "model_float32.tflite",
        "quant_report.json",
    }
    on_disk = json.loads((out / "quant_report.json").read_text())
    assert on_disk["eval"]["int8"]["miou"] == r["eval"]["int8"]["miou"]
    assert r["onnx_check"]["max_abs_logit_diff"] < 1e-3
    assert r["onnx_check"]["label_agreement"] > 0.999
    assert abs(r["eval"]["float"]["miou"] - r["eval"]["onnx"]["miou"]) < 1e-3
    assert r["eval"]["float"]["miou"] > 0.3
    assert abs(r["miou_drop"]) <= 0.005  # int8 within 0.5 mIoU points of float
    assert set(r["ops"]) <= NATIVE_INT8 and "TRANSPOSE" not in r["ops"] and "DEQUANTIZE" not in r["ops"]


def test_int8_miou_recomputed_independently(demo_quant, synth_data):
    """Re-run the .tflite with a fresh reference interpreter and a plain numpy mIoU."""
    import tensorflow as tf
    from PIL import Image

    from hardtool.data.labels import id_to_train_lut

    out, r = demo_quant
    it = tf.lite.Interpreter(
        model_path=str(out / "model_int8.tflite"),
        experimental_op_resolver_type=tf.lite.experimental.OpResolverType.BUILTIN_REF,
    )
    it.allocate_tensors()
    inp, outp = it.get_input_details()[0], it.get_output_details()[0]
    scale, zp = inp["quantization"]
    _, h, w, _ = inp["shape"]
    mean = np.array([0.485, 0.456, 0.406], np.float32)
    std = np.array([0.229, 0.224, 0.225], np.float32)
    cm = np.zeros((19, 19), np.int64)
    lut = id_to_train_lut()
    for ip in sorted((synth_data / "leftImg8bit" / "val").glob("*/*.png")):
        lp = Path(
            str(ip).replace("leftImg8bit", "gtFine", 1).replace("_leftImg8bit.png", "_gtFine_labelIds.png")
        )
        rgb = np.asarray(Image.open(ip).convert("RGB").resize((w, h), Image.BILINEAR), np.float32) / 255
        q = np.clip(np.round(((rgb - mean) / std) / scale) + zp, -128, 127).astype(np.int8)[None]
        it.set_tensor(inp["index"], q)
        it.invoke()
        pred = it.get_tensor(outp["index"])[0].astype(np.int64)
        gt = lut[np.asarray(Image.open(lp).resize((w, h), Image.NEAREST))].astype(np.int64)
        k = gt != 255
        cm += np.bincount(gt[k] * 19 + pred[k], minlength=361).reshape(19, 19)
    tp = np.diag(cm)
    den = cm.sum(0) + cm.sum(1) - tp
    ref = float(np.mean(tp[den > 0] / den[den > 0]))
    assert abs(ref - r["eval"]["int8"]["miou"]) <= 1e-9


def test_keep_float_is_the_onnx_graph_unquantised(demo_quant):
    """--keep-float: a float32 TFLite (no quantised tensor) computing what onnxruntime computes on
    the exported ONNX (test_compare checks that memplan plans it and codegen refuses it)."""
    import onnxruntime as ort
    import tensorflow as tf

    from hardtool.core.graph import is_float_model, load_tflite

    out, _ = demo_quant
    tfl = out / "model_float32.tflite"
    assert is_float_model(load_tflite(tfl, float_ok=True))
    it = tf.lite.Interpreter(model_path=str(tfl))
    it.allocate_tensors()
    (inp,), (outp,) = it.get_input_details(), it.get_output_details()
    assert inp["dtype"] == np.float32 and outp["dtype"] in (np.float32, np.int32, np.int64)
    x = np.random.default_rng(0).standard_normal(inp["shape"]).astype(np.float32)
    it.set_tensor(inp["index"], x)
    it.invoke()
    got = it.get_tensor(outp["index"])
    sess = ort.InferenceSession(str(out / "model.onnx"), providers=["CPUExecutionProvider"])
    want = sess.run(None, {sess.get_inputs()[0].name: x.transpose(0, 3, 1, 2)})[0]
    want = want.transpose(0, 2, 3, 1) if want.ndim == 4 and got.ndim == 4 else want
    if got.dtype == np.float32:
        assert np.abs(got - want).max() < 1e-3
    else:  # a label map: the argmax of the same logits, equal almost everywhere
        assert np.mean(got.reshape(want.shape) == want) > 0.999


def test_tflite_input_passes_through(demo_quant, synth_data, tmp_path):
    out, r = demo_quant
    r2 = quantize(out / "model_int8.tflite", synth_data, tmp_path / "again", progress=False)
    assert r2["eval"]["int8"]["miou"] == r["eval"]["int8"]["miou"]
    assert (tmp_path / "again" / "model_int8.tflite").read_bytes() == (out / "model_int8.tflite").read_bytes()


@pytest.mark.slow
@pytest.mark.parametrize("arch", ["hard_xxs", "hard_xs", "hard_s", "hard_gpu", "hard_edge"])
def test_every_variant_converts_to_native_int8(arch, zoo_model):
    from hardtool.quantize.validate import check_int8_graph, check_tail, load_interpreter, op_list

    p = zoo_model(arch)
    hist = check_int8_graph(p)
    check_tail(p)
    assert set(hist) <= NATIVE_INT8, hist
    assert "SPACE_TO_BATCH_ND" not in hist and "TRANSPOSE" not in hist
    it = load_interpreter(p)
    tensors = {t["index"]: t for t in it.get_tensor_details()}
    dilated = [op for op in op_list(it) if op["op_name"] == "DEPTHWISE_CONV_2D"]
    assert dilated, "depthwise convs must stay native"
    # grouped CONV_2D (filter with one input channel) never survives canonicalisation
    for op in op_list(it):
        if op["op_name"] == "CONV_2D":
            assert tensors[op["inputs"][1]]["shape"][-1] > 1 or tensors[op["inputs"][0]]["shape"][-1] == 1


def test_bad_inputs(tmp_path, synth_data, demo_ckpt):
    import tensorflow as tf

    # float-only tflite
    m = tf.keras.Sequential([tf.keras.Input((8, 8, 3)), tf.keras.layers.Conv2D(4, 3)])
    (tmp_path / "float.tflite").write_bytes(tf.lite.TFLiteConverter.from_keras_model(m).convert())
    assert_one_line_error(
        run(
            "quantize",
            str(tmp_path / "float.tflite"),
            "--data",
            str(synth_data),
            "--out",
            str(tmp_path / "o1"),
        ),
        "not a full-int8",
        "CONV_2D",
    )
    # corrupt ONNX
    (tmp_path / "bad.onnx").write_bytes(b"\x08\x07garbage" * 10)
    assert_one_line_error(
        run("quantize", str(tmp_path / "bad.onnx"), "--data", str(synth_data), "--out", str(tmp_path / "o2")),
        "not a valid ONNX",
    )
    # checkpoint naming an architecture that does not exist
    obj = torch.load(demo_ckpt, weights_only=True)
    obj["arch"] = "hard_xxl"
    torch.save(obj, tmp_path / "xxl.pt")
    assert_one_line_error(
        run("quantize", str(tmp_path / "xxl.pt"), "--data", str(synth_data), "--out", str(tmp_path / "o3")),
        "unknown architecture",
    )
    # data folder with no images
    (tmp_path / "empty" / "leftImg8bit" / "val").mkdir(parents=True)
    assert_one_line_error(
        run("quantize", str(demo_ckpt), "--data", str(tmp_path / "empty"), "--out", str(tmp_path / "o4")),
        "no images",
    )
    # calibration count 0
    assert_one_line_error(
        run(
            "quantize",
            str(demo_ckpt),
            "--data",
            str(synth_data),
            "--calib-images",
            "0",
            "--out",
            str(tmp_path / "o5"),
        ),
        "--calib-images",
    )
    for i in range(1, 6):
        assert not (tmp_path / f"o{i}").exists()
    assert not list(tmp_path.glob(".o*"))  # no half-written temp folders left behind


def test_refuses_to_overwrite(demo_quant, synth_data):
    out, _ = demo_quant
    before = (out / "model_int8.tflite").read_bytes()
    assert_one_line_error(
        run("quantize", str(out / "model_int8.tflite"), "--data", str(synth_data), "--out", str(out)),
        "--force",
    )
    assert (out / "model_int8.tflite").read_bytes() == before


def test_keep_float_refuses_a_tflite_input(demo_quant, synth_data, tmp_path):
    out, _ = demo_quant
    # a .tflite input alone quantizes (test_tflite_input_passes_through); with --keep-float it cannot
    r = run(
        "quantize",
        str(out / "model_int8.tflite"),
        "--data",
        str(synth_data),
        "--out",
        str(tmp_path / "q2"),
        "--keep-float",
    )
    assert_one_line_error(r, "--keep-float needs a checkpoint or an .onnx input")
    assert not (tmp_path / "q2").exists()
