"""`hardtool quantize` on models hardtool did not write (ONNX exported from plain torch, logits
out): int8 input and output, the report of each task (mIoU, top-1, float-vs-int8 outputs), the
padded MaxPool calibrated with finite scales, and bad input refused in one line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from hardtool.core.errors import HardtoolError
from hardtool.quantize.pipeline import quantize
from hardtool.quantize.validate import ABSURD_SCALE, load_interpreter, op_list
from tests import foreign_models as fm
from tests.test_cli_errors import assert_one_line_error, run


class TinyPool(nn.Module):
    """conv → (ReLU) → padded MaxPool 3×3/2 → conv: the stem of every ResNet / ShuffleNet / U-Net."""

    def __init__(self, relu: bool):
        super().__init__()
        self.c1, self.c2 = nn.Conv2d(3, 8, 3, 1, 1), nn.Conv2d(8, 4, 3, 1, 1)
        self.act = nn.ReLU() if relu else nn.Identity()
        self.pool = nn.MaxPool2d(3, 2, padding=1)

    def forward(self, x):
        return self.c2(self.pool(self.act(self.c1(x))))


def _tiny(path: Path, relu: bool = False, **kw) -> Path:
    torch.manual_seed(0)
    return fm.export(TinyPool(relu), (32, 32), path, **kw)


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("foreign")


@pytest.fixture(scope="module")
def npy_folder(work) -> Path:
    """20 preprocessed inputs [3, 32, 32] as .npy files."""
    root = work / "npy"
    root.mkdir()
    rng = np.random.default_rng(0)
    for i in range(20):
        np.save(root / f"{i:02d}.npy", rng.normal(size=(3, 32, 32)).astype(np.float32))
    return root


@pytest.fixture(scope="module")
def image_folder(work) -> Path:
    """An ImageFolder: 3 classes × 8 random RGB images."""
    root = work / "imgs"
    rng = np.random.default_rng(1)
    for i in range(24):
        d = root / f"class{i % 3}"
        d.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (40, 56, 3), dtype=np.uint8)).save(d / f"{i}.png")
    return root


@pytest.fixture(scope="module")
def tiny_quant(work, npy_folder) -> tuple[Path, dict]:
    onnx_path = _tiny(work / "tiny.onnx")
    out = work / "tiny_q"
    return out, quantize(onnx_path, npy_folder, out, calib_images=8, progress=False)


def _io(path: Path) -> tuple[dict, dict]:
    it = load_interpreter(path)
    return it.get_input_details()[0], it.get_output_details()[0]


def _activation_scales(path: Path) -> list[float]:
    it = load_interpreter(path)
    tensors = {t["index"]: t for t in it.get_tensor_details()}
    outs = [t for op in op_list(it) for t in op["outputs"]]
    return [float(s) for t in outs for s in tensors[t]["quantization_parameters"]["scales"]]


def test_padded_maxpool_calibrates_with_finite_scales(tiny_quant):
    out, r = tiny_quant
    assert r["task"] == "generic" and r["tail"] == "none"
    assert r["onnx_changes"]["maxpool_pads_made_finite"] == 1
    assert "MAX_POOL_2D" in r["ops"] and "DEQUANTIZE" not in r["ops"]
    scales = _activation_scales(out / "model_int8.tflite")
    assert scales and ABSURD_SCALE[0] <= min(scales) and max(scales) <= ABSURD_SCALE[1]
    it = load_interpreter(out / "model_int8.tflite")
    for op in op_list(it):
        if op["op_name"] == "PADV2":  # the pool's pad: the tensor's int8 minimum, never below it
            assert int(it.get_tensor(op["inputs"][2])) == -128
    inp, outp = _io(out / "model_int8.tflite")
    assert inp["dtype"] == np.int8 and outp["dtype"] == np.int8
    assert list(outp["shape"]) == [1, 16, 16, 4]  # logits stay logits, NHWC
    oc = r["output_check"]
    assert oc["within_threshold"] and oc["cosine_similarity"] > 0.99 and oc["samples"] == 12
    assert not r["warnings"]
    on_disk = json.loads((out / "quant_report.json").read_text())
    assert on_disk["output_check"] == oc


def test_output_check_recomputed(tiny_quant, npy_folder):
    """The report's RMSE from onnxruntime and the reference interpreter, recomputed by hand."""
    import onnxruntime as ort

    out, r = tiny_quant
    it = load_interpreter(out / "model_int8.tflite")
    (inp,), (outp,) = it.get_input_details(), it.get_output_details()
    sess = ort.InferenceSession(str(out / "model.onnx"), providers=["CPUExecutionProvider"])
    errs = []
    for f in sorted(npy_folder.glob("*.npy")):
        x = np.load(f)
        ref = sess.run(None, {sess.get_inputs()[0].name: x[None]})[0][0].transpose(1, 2, 0)
        s, z = inp["quantization"]
        it.set_tensor(
            inp["index"], np.clip(np.round(x.transpose(1, 2, 0) / s) + z, -128, 127).astype(np.int8)[None]
        )
        it.invoke()
        s, z = outp["quantization"]
        errs.append((it.get_tensor(outp["index"])[0].astype(np.float32) - z) * s - ref)
    # the 12 held-out samples are among these 20; every one's error is within the reported max
    worst = max(float(np.abs(e).max()) for e in errs)
    assert r["output_check"]["max_abs_error"] <= worst + 1e-6
    assert r["output_check"]["rmse"] <= worst


def test_absurd_scale_is_named(work, npy_folder):
    """Converted without the MaxPool rewrite, the pad is −FLT_MAX and the scales explode: quantize
    names the op and the cause in one line."""
    from hardtool.quantize import convert

    calib = np.stack([np.load(f) for f in sorted(npy_folder.glob("*.npy"))[:8]])
    onnx_path = _tiny(work / "raw.onnx", relu=True)
    flat, _, _ = convert.onnx_to_tflite(onnx_path, work / "raw_work", calib, {})
    (work / "raw.tflite").write_bytes(flat)
    assert max(_activation_scales(work / "raw.tflite")) > 1e30  # the converter's pitfall is real
    with pytest.raises(HardtoolError, match=r"absurd int8 output scale .* PADV2 .*MaxPool") as e:
        quantize(work / "raw.tflite", npy_folder, work / "raw_q", progress=False)
    assert "\n" not in str(e.value)
    assert not (work / "raw_q").exists()


def test_dynamic_size_and_batch(work, npy_folder):
    _tiny(work / "dyn.onnx", dynamic=True)
    _tiny(work / "b2.onnx", batch=2)
    r = run("quantize", str(work / "dyn.onnx"), "--data", str(npy_folder), "--out", str(work / "d"))
    assert r.returncode == 2
    assert_one_line_error(r, "input 'input'", "dynamic", "--input-size")
    with pytest.raises(HardtoolError, match=r"input 'input' has batch 2; re-export it with a batch of 1"):
        quantize(work / "b2.onnx", npy_folder, work / "b", progress=False)
    assert not (work / "d").exists() and not (work / "b").exists()
    rep = quantize(
        work / "dyn.onnx", npy_folder, work / "d", calib_images=4, input_size=(32, 32), progress=False
    )
    assert rep["input_quant"]["shape"] == [1, 32, 32, 3] and rep["output_quant"]["dtype"] == "int8"


def test_no_clobber_then_force_and_warning(tiny_quant, work, npy_folder):
    out, _ = tiny_quant
    before = (out / "model_int8.tflite").read_bytes()
    with pytest.raises(HardtoolError, match="--force"):
        quantize(work / "tiny.onnx", npy_folder, out, progress=False)
    assert (out / "model_int8.tflite").read_bytes() == before
    # a threshold no int8 model meets: the report is a warning on stderr, not a silent pass
    args = ("quantize", str(work / "tiny.onnx"), "--data", str(npy_folder), "--out", str(out))
    r = run(*args, "--force", "--json", "--min-cosine", "1.0", "--calib-images", "4")
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    assert not rep["output_check"]["within_threshold"] and rep["warnings"]
    assert "warning: int8 outputs differ from float: cosine similarity" in r.stderr
    assert (out / "model_int8.tflite").read_bytes() != before  # replaced: calibrated on 4, not 8


def test_float_io(work, npy_folder):
    r = quantize(
        _tiny(work / "fio.onnx"), npy_folder, work / "fio", calib_images=4, progress=False, float_io=True
    )
    inp, outp = _io(work / "fio" / "model_int8.tflite")
    assert inp["dtype"] == np.float32 and outp["dtype"] == np.float32
    assert {"QUANTIZE", "DEQUANTIZE"} <= set(r["ops"]) and r["output_check"]["within_threshold"]


@pytest.fixture(scope="module")
def classifier_quant(work, image_folder) -> tuple[Path, dict]:
    onnx_path = fm.export_named("mbv3_small_cls", work)
    out = work / "cls_q"
    return out, quantize(onnx_path, image_folder, out, calib_images=8, progress=False)


def test_classifier_on_an_image_folder(classifier_quant):
    out, r = classifier_quant
    assert r["task"] == "cls"  # inferred from the [1, 10] output
    ev = r["eval"]
    assert ev["images"] == 16 and ev["classes"] == 3 and ev["model_outputs"] == 10
    assert 0 <= ev["int8"]["top1"] <= 1 and ev["agreement"] >= 0.8
    assert {"FULLY_CONNECTED", "HARD_SWISH", "MEAN"} <= set(r["ops"]) and "DEQUANTIZE" not in r["ops"]
    assert r["output_quant"] == {**r["output_quant"], "dtype": "int8", "shape": [1, 10]}


def test_tflm_arena_names_a_missing_kernel(classifier_quant):
    from hardtool.core.tflm_arena import measure

    out, r = classifier_quant
    assert "RELU_0_TO_1" in r["ops"]
    res = measure(out / "model_int8.tflite")
    assert res["missing_kernels"] == ["RELU_0_TO_1"]
    assert (
        res["error"] == "TFLite Micro's Python interpreter has no kernel for RELU_0_TO_1; no arena measured"
    )


@pytest.mark.slow
def test_int8_tflite_input_is_checked_not_refused_for_ops(classifier_quant, image_folder, tmp_path):
    """An int8 .tflite from elsewhere passes through; its ops are not judged by hardtool's kernels."""
    out, _ = classifier_quant
    r = run(
        "quantize", str(out / "model_int8.tflite"), "--data", str(image_folder),
        "--out", str(tmp_path / "again"), "--calib-images", "4", "--json",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    assert rep["task"] == "cls" and "float" not in rep["eval"] and "RELU_0_TO_1" in rep["ops"]


@pytest.mark.slow
@pytest.mark.parametrize("name", list(fm.MODELS))
def test_foreign_models_quantize(name, work, synth_data, image_folder, tmp_path):
    """Each kind of model, as exported, passes with int8 in/out and its task's report."""
    _, size, task = fm.MODELS[name]
    data = {"seg": synth_data, "cls": image_folder}.get(task)
    if data is None:
        data = tmp_path / "npy"
        data.mkdir()
        for i in range(12):
            np.save(data / f"{i}.npy", np.random.default_rng(i).normal(size=(3, *size)).astype(np.float32))
    opts = {"task": "seg"} if task == "seg" else {}
    r = quantize(fm.export_named(name, work), data, tmp_path / "q", calib_images=8, progress=False, **opts)
    print(name, r["ops"])
    assert r["task"] == task and "DEQUANTIZE" not in r["ops"]
    assert r["input_quant"]["dtype"] == "int8" and r["output_quant"]["dtype"] == "int8"
    scales = _activation_scales(tmp_path / "q" / "model_int8.tflite")
    assert ABSURD_SCALE[0] <= min(scales) and max(scales) <= ABSURD_SCALE[1]
    assert r["output_check"]["within_threshold"], r["output_check"]
    if task == "seg":
        assert r["output_quant"]["shape"] == [1, *size, 19]
        assert {"onnx", "int8"} <= set(r["eval"]) and 0 <= r["eval"]["int8"]["miou"] <= 1
    elif task == "cls":
        assert r["eval"]["images"] == 16 and "top1" in r["eval"]["int8"]
    pooled = name in ("fcn_resnet", "shufflenet_v2", "unet_prelu", "unet_leaky")
    assert (r["onnx_changes"]["maxpool_pads_made_finite"] > 0) == pooled


@pytest.mark.slow
def test_segmentation_argmax_tail_on_a_foreign_model(work, synth_data, tmp_path):
    """--tail argmax on a model that ends in a bilinear Resize: the fused tail codegen wants, an
    int32 label map out, mIoU evaluated on the Cityscapes-layout data."""
    r = quantize(
        fm.export_named("lraspp_mbv3", work), synth_data, tmp_path / "q", calib_images=4, progress=False,
        tail="argmax",
    )  # fmt: skip
    names = [op["op_name"] for op in op_list(load_interpreter(tmp_path / "q" / "model_int8.tflite"))]
    assert names[-2:] == ["RESIZE_BILINEAR", "ARG_MAX"] and r["task"] == "seg"
    assert r["output_quant"]["dtype"] == "int32" and r["output_quant"]["shape"] == [1, 64, 128]
    assert r["onnx_changes"]["argmax_tail_added"] and "output_check" not in r
    assert abs(r["eval"]["onnx"]["miou"] - r["eval"]["int8"]["miou"]) < 0.2


@pytest.mark.slow
def test_checkpoint_without_its_tail(demo_ckpt, synth_data, tmp_path):
    """A hardtool checkpoint with --tail none keeps its logits (int8, NHWC) and is still scored."""
    r = quantize(
        demo_ckpt, synth_data, tmp_path / "q", calib_images=4, eval_images=2, progress=False, tail="none"
    )
    assert r["task"] == "seg" and r["tail"] == "none" and "ARG_MAX" not in r["ops"]
    assert r["output_quant"]["dtype"] == "int8" and len(r["output_quant"]["shape"]) == 4
    assert r["output_check"]["within_threshold"] and {"float", "onnx", "int8"} <= set(r["eval"])


def test_bad_options_fail_before_any_conversion(work, npy_folder, synth_data, tmp_path):
    tiny = _tiny(work / "opts.onnx")
    bad = [
        (
            {"data": synth_data, "task": "seg"},
            "--task seg scores Cityscapes' 19 classes, but opts.onnx outputs 4",
        ),
        ({"data": npy_folder, "mean": (0.5, 0.5, 0.5)}, "give --mean and --std together"),
        ({"data": npy_folder, "mean": (0.5,), "std": (0.0,)}, "no zero std"),
        ({"data": npy_folder, "task": "nope"}, "--task must be one of"),
    ]
    for kw, says in bad:
        data = kw.pop("data")
        with pytest.raises(HardtoolError, match=says.replace("(", r"\(").replace("[", r"\[")):
            quantize(tiny, data, tmp_path / "o", progress=False, **kw)
    wrong = tmp_path / "wrong"
    wrong.mkdir()
    for i in range(3):
        np.save(wrong / f"{i}.npy", np.zeros((3, 16, 16), np.float32))
    with pytest.raises(
        HardtoolError,
        match=r"\d\.npy: a \.npy sample must be the preprocessed model input, shape \[3, 32, 32\]",
    ):
        quantize(tiny, wrong, tmp_path / "o", progress=False)
    assert not (tmp_path / "o").exists()


class ShuffleTail(nn.Module):
    """conv → channel shuffle as the last layer (LEDNet's and CGNet's exports end so): onnx2tf may
    end such a graph in a TRANSPOSE back to NCHW."""

    def __init__(self):
        super().__init__()
        self.c = nn.Conv2d(3, 8, 3, 1, 1)

    def forward(self, x):
        return fm.channel_shuffle(self.c(x))


def test_a_model_ending_in_a_shuffle_keeps_its_layout(work, npy_folder):
    """--tail none on a graph whose converted output is NCHW (or NHWC): checked against
    onnxruntime in the layout it has, and its float-vs-int8 report computed, never an internal error."""
    torch.manual_seed(0)
    onnx_path = fm.export(ShuffleTail(), (32, 32), work / "shuffle_tail.onnx")
    r = quantize(onnx_path, npy_folder, work / "shuffle_tail_q", calib_images=8, progress=False)
    _, outp = _io(work / "shuffle_tail_q" / "model_int8.tflite")
    assert sorted(outp["shape"][1:].tolist()) == [8, 32, 32]
    assert r["output_check"]["cosine_similarity"] > 0.99, r["output_check"]


def test_tflm_arena_names_an_op_its_interpreter_refuses(tmp_path):
    """GATHER with int64 positions (as ONNX exports give): TFLite runs it, TFLite Micro's Prepare
    refuses it at any arena size; the measurement says which op and why, at once."""
    import tensorflow as tf

    from hardtool.core.tflm_arena import measure
    from tests.kernels_util import RefModel, convert_int8

    indices = np.array([2, 0, 1], np.int64)
    data = convert_int8(tf.function(lambda x: tf.gather(x, indices, axis=1) * 2.0), [(1, 3, 4)])
    assert "GATHER" in RefModel(data).op_names  # the reference interpreter takes it
    path = tmp_path / "gather64.tflite"
    path.write_bytes(data)
    res = measure(path)
    assert "arena_bytes" not in res, res
    assert res["error"].startswith("TFLite Micro's interpreter refuses op #"), res
    assert "GATHER" in res["error"] and "INT64" in res["error"], res
