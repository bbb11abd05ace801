"""The ten peers as published, deployed: exported as the pipeline exports them (torch.onnx.export at
opset 17, logits → bilinear upsample → argmax), through `hardtool quantize` at 128×256 to an
int8 graph with int8 input, holding the published layers' TFLite ops (PRELU, TRANSPOSE_CONV,
grouped CONV_2D, FULLY_CONNECTED, the shuffle's TRANSPOSE); then memplan → codegen -t host →
build, and the host program's bytes equal TFLite's reference kernels on every layer and the
output. A peer with an op codegen has no kernel for yet is skipped, naming every such op.

The PReLUs are exported with a [1, C, 1, 1] slope (`hardtool.models.peers.layers.PReLU`): with
torch's [C, 1, 1] onnx2tf applies the slopes along the height where a channel count equals it
(DABNet and ENet at 128×256), which quantize's conversion check refuses (tested below)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch

from hardtool.models import PEERS, build_model
from hardtool.models.peers.layers import ChannelBN, PReLU
from hardtool.quantize import export
from hardtool.quantize.pipeline import quantize, random_bn_stats
from hardtool.quantize.validate import load_interpreter, op_list
from tests.test_codegen import assert_bit_exact, project

SIZE = (128, 256)
# the TFLite ops of each paper's own layers (beyond conv, pooling, add, concat, resize)
PUBLISHED_OPS = {
    # max-unpooling: MAX_POOL_2D, EQUAL, SELECT_V2, CONCATENATION, DEPTH_TO_SPACE as RESHAPE /
    # TRANSPOSE (hardtool.quantize.export_modules, canonical)
    "enet": {"PRELU", "TRANSPOSE_CONV", "EQUAL", "SELECT_V2"},
    "fssnet": {"TRANSPOSE_CONV"},
    "espnet": {"PRELU", "TRANSPOSE_CONV"},
    "espnetv2": {"PRELU"},
    "erfnet": {"TRANSPOSE_CONV"},
    "lednet": {"TRANSPOSE", "STRIDED_SLICE"},
    "cgnet": {"PRELU", "FULLY_CONNECTED"},
    "dabnet": {"PRELU"},
    # the adaptive pools to 3 and 6 bins: stride-1 average pools and a gather per axis
    # (hardtool.quantize.export_modules), in NHWC: no TRANSPOSE
    "fastscnn": {"AVERAGE_POOL_2D", "GATHER", "MEAN"},
}
FAST = ("fastscnn", "fssnet")  # the default run; the other eight are marked slow (minutes each on 2 cores)
# ERFNet at 128x256 feeds a transposed conv 64 channels at 32x64, left in NCHW by onnx2tf's Add:
# quantize gives it the NHWC input (hardtool.quantize.o2t_layout), so every peer runs at 128x256
SIZES: dict[str, tuple[int, int]] = {}


def _param(name: str):
    return name if name in FAST else pytest.param(name, marks=pytest.mark.slow)


PEER_PARAMS = [_param(n) for n in sorted(PEERS)]


def peer_model(name: str, seed: int = 0) -> torch.nn.Module:
    """Seeded weights, BN statistics and PReLU slopes that are not the initial constants."""
    torch.manual_seed(seed)
    model = random_bn_stats(build_model(name).eval())
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.PReLU):
                m.weight.uniform_(0.05, 0.4)
    return model


def calib_samples(root: Path, size: tuple[int, int]) -> Path:
    """Ten seeded float NCHW samples of ``size`` under ``root`` (made once): calibration data."""
    data = root / f"npy_{size[0]}x{size[1]}"
    if not data.is_dir():
        data.mkdir()
        rng = np.random.default_rng(0)
        for i in range(10):
            np.save(data / f"{i:02d}.npy", rng.normal(size=(3, *size)).astype(np.float32))
    return data


@pytest.fixture(scope="module")
def quantized(tmp_path_factory):
    """quantized(name) → (int8 .tflite, quantize's report), built once per peer."""
    root = tmp_path_factory.mktemp("peers")
    done: dict[str, tuple[Path, dict]] = {}

    def get(name: str, size: tuple[int, int] | None = None) -> tuple[Path, dict]:
        size = size or SIZES.get(name, SIZE)
        key = f"{name}_{size[0]}x{size[1]}"
        if key not in done:
            data = calib_samples(root, size)
            onnx_path = root / f"{key}.onnx"
            export.export_onnx(peer_model(name), size, onnx_path)
            report = quantize(onnx_path, data, root / key, calib_images=8, progress=False, log=lambda s: None)
            done[key] = (root / key / "model_int8.tflite", report)
        return done[key]

    return get


def int8_ops(path: Path) -> Counter:
    return Counter(op["op_name"] for op in op_list(load_interpreter(path)))


def missing_kernels(path: Path) -> list[str]:
    """One line per op of the lowered graph that codegen cannot generate yet (index, shapes, why)."""
    from hardtool.core.graph import load_tflite, lower
    from hardtool.ops.tables import unsupported

    return unsupported(lower(load_tflite(path, validate=False)))


def _grouped_convs(path: Path) -> int:
    it = load_interpreter(path)
    shape = {t["index"]: t["shape"] for t in it.get_tensor_details()}
    return sum(
        1
        for op in op_list(it)
        if op["op_name"] == "CONV_2D" and shape[op["inputs"][1]][3] < shape[op["inputs"][0]][3]
    )


@pytest.mark.parametrize("name", PEER_PARAMS)
def test_peer_quantizes_with_its_published_ops(name, quantized):
    path, report = quantized(name)
    it = load_interpreter(path)
    (inp,), (out,) = it.get_input_details(), it.get_output_details()
    size = SIZES.get(name, SIZE)
    assert inp["dtype"] == np.int8 and list(inp["shape"]) == [1, *size, 3]
    assert list(out["shape"]) == [1, *size]  # the label map
    ops = int8_ops(path)
    assert "DEQUANTIZE" not in ops and not report["warnings"]
    assert PUBLISHED_OPS.get(name, set()) <= set(ops), dict(ops)
    # no PReLU left as onnx2tf's relu(x) + (x - |x|) * slope / 2 (hardtool.quantize.o2t_layout)
    assert "ABS" not in ops, dict(ops)
    if name == "fastscnn":
        assert "TRANSPOSE" not in ops, dict(ops)
    if name == "espnetv2":
        assert _grouped_convs(path) >= 2 * 14  # each EESP's grouped 1x1 reduction and expansion
    print(f"{name}: {dict(ops.most_common())}; no kernel yet: {missing_kernels(path)}")


@pytest.mark.parametrize("name", PEER_PARAMS)
def test_peer_host_build_bit_exact(name, quantized, tmp_path):
    path, _ = quantized(name)
    missing = missing_kernels(path)
    if missing:
        pytest.skip(f"{name}: codegen has no kernel yet for {len(missing)} op(s): " + "; ".join(missing))
    assert_bit_exact(project(path, tmp_path), n_inputs=2)


class _PReLUAfterSum(torch.nn.Module):
    """conv → + depthwise conv → BN (as `ChannelBN`) → PReLU → conv, with 32 channels at 32×64."""

    def __init__(self, prelu: type[torch.nn.PReLU]):
        super().__init__()
        self.a = torch.nn.Conv2d(3, 32, 3, 2, 1)
        self.b = torch.nn.Conv2d(32, 32, 3, 1, 1, groups=32)
        self.bn, self.act = ChannelBN(32), prelu(32)
        self.out = torch.nn.Conv2d(32, 8, 1)
        with torch.no_grad():
            self.act.weight.uniform_(-1, 1)
            self.bn.running_mean.uniform_(-1, 1)

    def forward(self, x):
        y = self.a(x)
        return self.out(self.act(self.bn(y + self.b(y))))


@pytest.mark.parametrize("prelu", [torch.nn.PReLU, PReLU], ids=["torch", "peers"])
def test_onnx2tf_prelu_slope_axis(prelu, tmp_path):
    """torch's PReLU slope [C, 1, 1] on 32 channels at a height of 32: onnx2tf applies it along
    the height and the conversion check catches it; the peers' PReLU ([1, C, 1, 1]) converts to
    a PRELU that agrees with onnxruntime."""
    from hardtool.core.errors import HardtoolError
    from hardtool.quantize import convert

    torch.manual_seed(0)
    export.export_onnx(_PReLUAfterSum(prelu).eval(), (64, 128), tmp_path / "m.onnx", argmax=False)
    images = np.random.RandomState(0).randn(2, 3, 64, 128).astype(np.float32)
    saved = convert.onnx_to_saved_model(tmp_path / "m.onnx", tmp_path / "tf", images)
    if prelu is torch.nn.PReLU:
        with pytest.raises(HardtoolError, match="converted m.onnx wrongly"):
            convert.check_saved_model(saved, tmp_path / "m.onnx", images)
    else:
        assert convert.check_saved_model(saved, tmp_path / "m.onnx", images)["max_relative_diff"] < 1e-5
