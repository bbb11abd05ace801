"""onnx2tf leaves a residual sum in NCHW (its Add's shape "rescue"); quantize's layout fixes
(hardtool.quantize.o2t_layout) keep the ops after it right and native: a PReLU on the sum stays
one PRELU (not relu + (x - |x|) * slope / 2 between TRANSPOSEs), and a transposed conv on it whose
channel count equals the width (ERFNet's case) reads NHWC data instead of crashing TensorFlow."""

from __future__ import annotations

import contextlib
from collections import Counter

import numpy as np
import pytest
import torch

from hardtool.models.peers.layers import PReLU
from hardtool.quantize import export, o2t_layout
from hardtool.quantize.pipeline import quantize
from hardtool.quantize.validate import load_interpreter, op_list


class _ResidualPReLU(torch.nn.Module):
    """conv → + conv → PReLU → conv, 16 channels at 16×32 (ENet's bottleneck ending)."""

    def __init__(self):
        super().__init__()
        self.a = torch.nn.Conv2d(3, 16, 3, 2, 1)
        self.b = torch.nn.Conv2d(16, 16, 3, 1, 1)
        self.act = PReLU(16)
        self.out = torch.nn.Conv2d(16, 8, 1)
        with torch.no_grad():
            self.act.weight.uniform_(0.05, 0.4)

    def forward(self, x):
        y = self.a(x)
        return self.out(self.act(y + self.b(y)))


class _ResidualDeconv(torch.nn.Module):
    """conv → + conv → ReLU → stride-2 transposed conv, 32 channels at 16×32: C equals W."""

    def __init__(self):
        super().__init__()
        self.a = torch.nn.Conv2d(3, 32, 3, 2, 1)
        self.b = torch.nn.Conv2d(32, 32, 3, 1, 1)
        self.up = torch.nn.ConvTranspose2d(32, 8, 3, 2)

    def forward(self, x):
        y = self.a(x)
        return self.up(torch.relu(y + self.b(y)))


def _int8_ops(module: torch.nn.Module, tmp_path, size=(32, 64)) -> Counter:
    torch.manual_seed(0)
    export.export_onnx(module.eval(), size, tmp_path / "m.onnx", argmax=False)
    data = tmp_path / "npy"
    data.mkdir()
    rng = np.random.default_rng(0)
    for i in range(6):
        np.save(data / f"{i}.npy", rng.normal(size=(3, *size)).astype(np.float32))
    quantize(tmp_path / "m.onnx", data, tmp_path / "q", calib_images=4, progress=False, task="generic")
    return Counter(op["op_name"] for op in op_list(load_interpreter(tmp_path / "q" / "model_int8.tflite")))


@pytest.mark.parametrize("fixed", [True, False], ids=["fixed", "onnx2tf-as-is"])
def test_prelu_after_a_residual_sum_stays_one_prelu(fixed, tmp_path, monkeypatch):
    if not fixed:
        monkeypatch.setattr(o2t_layout, "layout_fixes", contextlib.nullcontext)
    ops = _int8_ops(_ResidualPReLU(), tmp_path)
    if fixed:
        assert ops["PRELU"] == 1 and not ops["ABS"] and not ops["TRANSPOSE"], dict(ops)
    else:  # what the fix is for: onnx2tf's decomposition, between transposes
        assert not ops["PRELU"] and ops["ABS"] == 1 and ops["TRANSPOSE"] >= 1, dict(ops)


def test_transposed_conv_on_a_residual_sum_with_channels_equal_to_width(tmp_path):
    """Converted and checked against onnxruntime by quantize (without the fix TensorFlow dies)."""
    ops = _int8_ops(_ResidualDeconv(), tmp_path)
    assert ops["TRANSPOSE_CONV"] == 1 and not ops["TRANSPOSE"], dict(ops)
