"""The export's stand-ins for modules torch's ONNX export or int8 TFLite cannot take: adaptive
average pools whose bins do not divide the input (equal to torch's pool in float at every size)
and 2×2 max-unpooling with a max-pool's indices (equal to torch's except at a window's repeated
maximum); exported through `hardtool.quantize.export.export_onnx`, onnxruntime computes what
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


def test_unpool_equals_torch_but_at_repeated_maxima():
    torch.manual_seed(0)
    x, y = torch.randn(2, 4, 10, 14), torch.randn(2, 4, 5, 7)
    _, idx = nn.functional.max_pool2d(x, 2, return_indices=True)
    assert torch.equal(unpool_2x2(y, x), nn.functional.max_unpool2d(y, idx, 2))
    # integer values: many windows hold their maximum twice; only those differ
    x = torch.randint(-2, 3, (2, 4, 10, 14)).float()
    _, idx = nn.functional.max_pool2d(x, 2, return_indices=True)
    ours, want = unpool_2x2(y, x), nn.functional.max_unpool2d(y, idx, 2)
    windows = x.unfold(2, 2, 2).unfold(3, 2, 2).reshape(2, 4, 5, 7, 4)
    repeated = (windows == windows.amax(-1, keepdim=True)).sum(-1) > 1
    differs = (ours != want).reshape(2, 4, 5, 2, 7, 2).any(5).any(3)
    assert differs.any() and not (differs & ~repeated).any()
    # torch's one position per window has the value here too (the others are the repeats)
    placed = want != 0
    assert torch.equal(ours[placed], want[placed])


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
    assert {"MaxPool", "Equal", "Where"} <= ops and "MaxUnpool" not in ops, ops
    x = np.random.RandomState(0).randn(1, 3, 16, 24).astype(np.float32)
    sess = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    (got,) = sess.run(None, {"input": x})
    with torch.no_grad():
        want = model(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-5)
