"""The export's stand-ins for modules torch's ONNX export or int8 TFLite cannot take: adaptive
average pools whose bins do not divide the input (equal to torch's pool in float at every size)
and 2×2 max-unpooling with a max-pool's indices (equal to torch's, ties included); exported through `hardtool.quantize.export.export_onnx`, onnxruntime computes what
torch computes."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from hardtool.quantize import export
from hardtool.quantize.export_modules import (
    ExactAdaptiveAvgPool2d,
    PoolKeepingInput,
    UnpoolFromInput,
    adaptive_bins,
    exportable,
    unpool_2x2,
)

OUTPUTS = [1, 2, 3, 6, (3, 5), (7, 2), (None, 3), (13, 1)]


@pytest.mark.parametrize("output_size", OUTPUTS, ids=str)
def test_equals_torch_at_every_size(output_size):
    torch.manual_seed(0)
    for h in range(1, 14):
        for w in range(1, 14):
            x = torch.randn(2, 3, h, w, dtype=torch.float64)
            want = nn.AdaptiveAvgPool2d(output_size)(x)
            got = ExactAdaptiveAvgPool2d(output_size)(x)
            assert got.shape == want.shape, (h, w)
            torch.testing.assert_close(got, want, rtol=0, atol=1e-12)


def test_bins_follow_pytorch():
    assert adaptive_bins(8, 3) == [(0, 3), (2, 6), (5, 8)]
    assert adaptive_bins(4, 6) == [(0, 1), (0, 2), (1, 2), (2, 3), (2, 4), (3, 4)]


class _Pyramid(nn.Module):
    """Pyramid pooling as Fast-SCNN and PSPNet publish it: adaptive pools to 1, 2, 3 and 6 bins."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, 4, 1)
        self.pools = nn.ModuleList(nn.AdaptiveAvgPool2d(b) for b in (1, 2, 3, 6))

    def forward(self, x):
        y = self.conv(x)
        size = (int(y.shape[-2]), int(y.shape[-1]))  # constants: no shape arithmetic in the graph
        return torch.cat([nn.functional.interpolate(p(y), size) for p in self.pools], 1)


def test_swapped_copy_leaves_the_model_alone():
    model = _Pyramid().eval()
    swapped = exportable(model)
    assert swapped is not model
    assert all(isinstance(p, nn.AdaptiveAvgPool2d) for p in model.pools)
    assert all(isinstance(p, ExactAdaptiveAvgPool2d) for p in swapped.pools)
    plain = nn.Sequential(nn.Conv2d(3, 4, 1))
    assert exportable(plain) is plain


@pytest.mark.parametrize("size", [(16, 32), (20, 36), (128, 256)])
def test_exports_and_runs_like_torch(size, tmp_path):
    """torch's exporter refuses these pools (3 and 6 bins of 4×8, 5×9, 32×64 maps); exported, the
    graph computes what torch computes, its non-uniform bins gathered from stride-1 pools."""
    import onnx
    import onnxruntime as ort

    torch.manual_seed(0)
    model = _Pyramid().eval()
    export.export_onnx(model, size, tmp_path / "m.onnx", argmax=False)
    ops = {n.op_type for n in onnx.load(str(tmp_path / "m.onnx")).graph.node}
    assert {"AveragePool", "Gather"} <= ops, ops
    x = np.random.RandomState(0).randn(1, 3, *size).astype(np.float32)
    sess = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    (got,) = sess.run(None, {"input": x})
    with torch.no_grad():
        want = model(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-5)


def test_unpool_equals_torch_ties_included():
    torch.manual_seed(0)
    x, y = torch.randn(2, 4, 10, 14), torch.randn(2, 4, 5, 7)
    _, idx = nn.functional.max_pool2d(x, 2, return_indices=True)
    assert torch.equal(unpool_2x2(y, x), nn.functional.max_unpool2d(y, idx, 2))
    # integer values: most windows hold their maximum more than once; torch's index is the first
    x = torch.randint(-1, 2, (2, 4, 10, 14)).float()
    _, idx = nn.functional.max_pool2d(x, 2, return_indices=True)
    windows = x.unfold(2, 2, 2).unfold(3, 2, 2).reshape(2, 4, 5, 7, 4)
    assert ((windows == windows.amax(-1, keepdim=True)).sum(-1) > 1).float().mean() > 0.3
    assert torch.equal(unpool_2x2(y, x), nn.functional.max_unpool2d(y, idx, 2))


class _EncoderDecoder(nn.Module):
    """ENet's (and SegNet's) pattern: the decoder un-pools with the encoder's max-pool indices."""

    def __init__(self, pool_kernel: int = 2):
        super().__init__()
        self.a = nn.Conv2d(3, 8, 3, 1, 1)
        self.pool = nn.MaxPool2d(pool_kernel, 2, return_indices=True)
        self.b = nn.Conv2d(8, 8, 1)
        self.unpool = nn.MaxUnpool2d(2, 2)
        self.c = nn.Conv2d(8, 4, 1)

    def forward(self, x):
        x = self.a(x)
        p, idx = self.pool(x)
        return self.c(self.unpool(self.b(p), idx))


def test_unpool_swapped_only_when_every_indexed_pool_is_2x2():
    swapped = exportable(_EncoderDecoder())
    assert isinstance(swapped.pool, PoolKeepingInput) and isinstance(swapped.unpool, UnpoolFromInput)
    other = exportable(_EncoderDecoder(pool_kernel=3))
    assert isinstance(other.pool, nn.MaxPool2d) and isinstance(other.unpool, nn.MaxUnpool2d)


def test_unpool_exports_and_runs_like_torch(tmp_path):
    import onnx
    import onnxruntime as ort

    torch.manual_seed(0)
    model = _EncoderDecoder().eval()
    export.export_onnx(model, (16, 24), tmp_path / "m.onnx", argmax=False)
    ops = {n.op_type for n in onnx.load(str(tmp_path / "m.onnx")).graph.node}
    assert {"MaxPool", "Equal", "Where", "DepthToSpace"} <= ops and "MaxUnpool" not in ops, ops
    x = np.random.RandomState(0).randn(1, 3, 16, 24).astype(np.float32)
    sess = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    (got,) = sess.run(None, {"input": x})
    with torch.no_grad():
        want = model(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-5)


def test_unpool_int8_graph_is_torchs_and_bit_exact(tmp_path):
    """Quantised, the un-pooling is torch's on the int8 values (repeated maxima included), its
    DEPTH_TO_SPACE is RESHAPE → TRANSPOSE → RESHAPE, and the host build equals TFLite."""
    from kernels_util import RefModel
    from test_codegen import assert_bit_exact, project

    from hardtool.quantize import convert

    torch.manual_seed(0)
    export.export_onnx(_EncoderDecoder().eval(), (16, 24), tmp_path / "m.onnx", argmax=False)
    calib = np.random.RandomState(0).randn(8, 3, 16, 24).astype(np.float32)
    flat, _, _ = convert.onnx_to_tflite(tmp_path / "m.onnx", tmp_path / "work", calib, {"arch": "test"})
    ref = RefModel(flat)
    assert {"EQUAL", "SELECT_V2", "TRANSPOSE"} <= set(ref.op_names), ref.op_names
    assert "DEPTH_TO_SPACE" not in ref.op_names
    convs = [o for o in ref.ops if o["op_name"] == "CONV_2D"]
    pools = {o["outputs"][0]: o for o in ref.ops if o["op_name"] == "MAX_POOL_2D"}
    (y_op,) = [o for o in convs if o["inputs"][0] in pools]  # the conv of the 2x2 max-pool
    pool = pools[y_op["inputs"][0]]
    last = convs[-1]
    zp = ref.quant(y_op["outputs"][0]).zero_point
    ref.run(np.random.default_rng(0).integers(-128, 128, (1, 16, 24, 3)).astype(np.int8))
    x, y, got = (
        torch.from_numpy(ref.tensor(t).astype(np.float32)).permute(0, 3, 1, 2)
        for t in (pool["inputs"][0], y_op["outputs"][0], last["inputs"][0])
    )
    windows = x.unfold(2, 2, 2).unfold(3, 2, 2).reshape(*x.shape[:2], -1, 4)
    assert ((windows == windows.amax(-1, keepdim=True)).sum(-1) > 1).any()  # ties to break
    _, idx = nn.functional.max_pool2d(x, 2, return_indices=True)
    assert torch.equal(got, nn.functional.max_unpool2d(y - zp, idx, 2) + zp)
    path = tmp_path / "m.tflite"
    path.write_bytes(flat)
    assert_bit_exact(project(path, tmp_path / "proj"), n_inputs=2)


@pytest.mark.parametrize("block, shape", [(2, (1, 3, 5, 8)), (3, (2, 2, 4, 18)), (2, (1, 16, 32, 256))])
def test_canonical_depth_to_space_is_the_same_permutation(block, shape):
    """quantize's canonicalisation turns an int8 DEPTH_TO_SPACE (no reference kernel in TFLite)
    into RESHAPE → TRANSPOSE → RESHAPE, equal to TFLite's own DEPTH_TO_SPACE."""
    import tensorflow as tf
    from kernels_util import convert_int8

    from hardtool.quantize.canonical import canonicalize

    model = convert_int8(tf.function(lambda x: tf.nn.depth_to_space(x, block)), [shape])
    out, changed = canonicalize(model)
    kind = tf.lite.experimental.OpResolverType
    x = np.random.default_rng(0).integers(-128, 128, shape).astype(np.int8)
    got = []
    for flat, resolver in ((model, kind.BUILTIN_WITHOUT_DEFAULT_DELEGATES), (out, kind.BUILTIN_REF)):
        it = tf.lite.Interpreter(model_content=flat, experimental_op_resolver_type=resolver)
        it.allocate_tensors()
        it.set_tensor(it.get_input_details()[0]["index"], x)
        it.invoke()
        got.append(
            (
                it.get_tensor(it.get_output_details()[0]["index"]),
                [o["op_name"] for o in it._get_ops_details()],
            )
        )
    assert got[0][1] == ["DEPTH_TO_SPACE"] and changed == 1
    assert got[1][1] == ["RESHAPE", "TRANSPOSE", "RESHAPE"], got[1][1]
    assert np.array_equal(got[0][0], got[1][0])
