"""The ten peers as published, deployed: exported as the pipeline exports them (torch.onnx.export at
opset 17, logits → bilinear upsample → argmax), through `hardtool quantize` at 128×256 to an int8
graph with int8 input, holding the published layers' TFLite ops (PRELU, TRANSPOSE_CONV, grouped
CONV_2D, FULLY_CONNECTED, the shuffle's TRANSPOSE); then memplan → codegen -t host → build, and
the host program's bytes equal TFLite's reference kernels on every layer and the output. A peer
with an op codegen has no kernel for yet is skipped, naming every such op.

DABNet and ENet run at 160×320: at 128×256 their PReLUs meet tensors whose channel count equals
their height or width (64 channels at 32×64, 32 at 16×32), and onnx2tf applies such a PRelu's
slopes along the wrong axis; quantize's conversion check refuses the result (tested below)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch

from hardtool.models import PEERS, build_model
from hardtool.quantize import export
from hardtool.quantize.pipeline import quantize, random_bn_stats
from hardtool.quantize.validate import load_interpreter, op_list
from tests.test_codegen import assert_bit_exact, project

SIZE = (128, 256)
SIZES = {"dabnet": (160, 320), "enet": (160, 320)}  # see the module docstring
# the TFLite ops of each paper's own layers (beyond conv, pooling, add, concat, resize)
PUBLISHED_OPS = {
    "enet": {"PRELU", "TRANSPOSE_CONV"},
    "fssnet": {"TRANSPOSE_CONV"},
    "espnet": {"PRELU", "TRANSPOSE_CONV"},
    "espnetv2": {"PRELU"},
    "erfnet": {"TRANSPOSE_CONV"},
    "lednet": {"TRANSPOSE", "STRIDED_SLICE"},
    "cgnet": {"PRELU", "FULLY_CONNECTED"},
    "dabnet": {"PRELU"},
}
FAST = ("fastscnn", "fssnet")  # the default run; the other eight are marked slow (minutes each on 2 cores)
PEER_PARAMS = [n if n in FAST else pytest.param(n, marks=pytest.mark.slow) for n in sorted(PEERS)]


def peer_model(name: str, seed: int = 0) -> torch.nn.Module:
    """Seeded weights, BN statistics and PReLU slopes that are not the initial constants."""
    torch.manual_seed(seed)
    model = random_bn_stats(build_model(name).eval())
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.PReLU):
                m.weight.uniform_(0.05, 0.4)
    return model


@pytest.fixture(scope="module")
def quantized(tmp_path_factory):
    """quantized(name) → (int8 .tflite, quantize's report), built once per peer."""
    root = tmp_path_factory.mktemp("peers")
    done: dict[str, tuple[Path, dict]] = {}

    def get(name: str, size: tuple[int, int] | None = None) -> tuple[Path, dict]:
        size = size or SIZES.get(name, SIZE)
        key = f"{name}_{size[0]}x{size[1]}"
        if key not in done:
            data = root / f"npy_{size[0]}x{size[1]}"
            if not data.is_dir():
                data.mkdir()
                rng = np.random.default_rng(0)
                for i in range(10):
                    np.save(data / f"{i:02d}.npy", rng.normal(size=(3, *size)).astype(np.float32))
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


@pytest.mark.slow
def test_onnx2tf_prelu_layout_pitfall_is_refused(quantized):
    """DABNet at 128×256: onnx2tf converts a PReLU on 64 channels at 32×64 with its slopes along
    the wrong axis; quantize's check against onnxruntime refuses it in one line."""
    from hardtool.core.errors import HardtoolError

    with pytest.raises(HardtoolError, match="onnx2tf converted model.onnx wrongly") as e:
        quantized("dabnet", SIZE)
    assert "\n" not in str(e.value)
