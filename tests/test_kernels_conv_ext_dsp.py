"""TRANSPOSE_CONV and grouped CONV_2D on the emulated Cortex-M7: the SIMD (SMLAD) entry points
equal the portable ones byte for byte on random shapes, in the host build, the QEMU firmware
built with the DSP paths and the one built portable-only; and their exact instruction counts
per MAC on U-Net / ESPNetV2 shapes (printed with -s)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from kernels_util import assert_bit_exact, rand_int8

from hardtool.device import icount
from hardtool.device.kernel_runner import QemuRunner, build_qemu_runner, qemu_available
from hardtool.kernels import host as H
from hardtool.kernels import host_conv_ext as X
from hardtool.kernels.runner import Buf, HostRunner, Program
from hardtool.kernels.scratch_conv_ext import grouped_gemm_buffer_size, transpose_conv_gemm_buffer_size

pytestmark = pytest.mark.skipif(not qemu_available(), reason="needs arm-none-eabi-gcc and qemu-system-arm")


@pytest.fixture(scope="module")
def runners() -> tuple[HostRunner, QemuRunner, QemuRunner]:
    with ThreadPoolExecutor(max_workers=3) as ex:
        host = ex.submit(HostRunner)
        dsp = ex.submit(build_qemu_runner, None, True)
        portable = ex.submit(build_qemu_runner, None, False)
        plugin, _ = icount.try_plugin()
        return host.result(), QemuRunner(dsp.result(), plugin), QemuRunner(portable.result(), plugin)


def _words(obj) -> list[int]:
    """The params' int32 words before hard_conv_params' trailing pointer (as the runner reads them)."""
    end = type(obj).tile_pixels.offset + 4 if hasattr(type(obj), "fused_add") else len(bytes(obj))
    return [int(v) for v in np.frombuffer(bytes(obj)[:end], dtype="<i4")]


def _ptr(prog: Program, a: np.ndarray | None) -> int:
    return -1 if a is None else prog.array(a).offset


def _call(prog: Program, fn: str, params, x, w, bias, q, out_shape, scratch: int) -> Buf:
    """One convolution-shaped call: (ctx, params, quant, in dims, in, filter dims, filter, bias, out dims, out)."""
    ctx = [prog.empty((scratch,), np.uint8, fill=0xA5).offset, scratch] if scratch > 0 else [-1, 0]
    head = [*ctx, *_words(params), _ptr(prog, q[0]), _ptr(prog, q[1]), *x.shape, _ptr(prog, x)]
    out = prog.empty(out_shape)
    prog.call(fn, [*head, *w.shape, _ptr(prog, w), _ptr(prog, bias), *out_shape, out.offset], out)
    return out


def _quant(rng, n: int) -> tuple[np.ndarray, np.ndarray]:
    return rng.integers(1 << 30, (1 << 31) - 1, n).astype(np.int32), rng.integers(-12, -6, n).astype(np.int32)


def add_tconv(prog, rng, in_shape, k, stride, cout, out_hw, pads, gemm_only=False) -> list[Buf]:
    """The same TRANSPOSE_CONV through both entry points (the SIMD one only with gemm_only)."""
    x, w = rand_int8(rng, in_shape), rand_int8(rng, (cout, *k, in_shape[3]))
    bias = rng.integers(-20000, 20000, cout).astype(np.int32) if rng.random() < 0.8 else None
    q = _quant(rng, cout)
    act = (-128, 127) if rng.random() < 0.7 else (-90, 100)
    P = X._transpose_conv_params_type()
    params = P(
        int(rng.integers(-20, 20)),
        int(rng.integers(-20, 20)),
        H.Tile(*stride),
        H.Padding(*pads),
        H.Activation(*act),
    )
    out_shape = (1, *out_hw, cout)
    size = transpose_conv_gemm_buffer_size(in_shape[3], k, stride, cout)
    outs = [] if gemm_only else [_call(prog, "hard_transpose_conv_s8", params, x, w, bias, q, out_shape, 0)]
    return outs + [_call(prog, "hard_transpose_conv_gemm_s8", params, x, w, bias, q, out_shape, size)]


def add_grouped(prog, rng, in_shape, k, groups, cout, stride, dil, pads, gemm_only=False) -> list[Buf]:
    x, w = rand_int8(rng, in_shape), rand_int8(rng, (cout, *k, in_shape[3] // groups))
    bias = rng.integers(-20000, 20000, cout).astype(np.int32) if rng.random() < 0.8 else None
    q = _quant(rng, cout)
    params = H.ConvParams(
        int(rng.integers(-20, 20)),
        int(rng.integers(-20, 20)),
        H.Tile(*stride),
        H.Tile(*dil),
        H.Padding(*pads),
        H.Activation(-128, 127),
    )
    oh = (in_shape[1] + pads[0] + pads[1] - ((k[0] - 1) * dil[0] + 1)) // stride[0] + 1
    ow = (in_shape[2] + pads[2] + pads[3] - ((k[1] - 1) * dil[1] + 1)) // stride[1] + 1
    out_shape = (1, oh, ow, cout)
    size = grouped_gemm_buffer_size(w.shape)
    outs = [] if gemm_only else [_call(prog, "hard_convolve_grouped_s8", params, x, w, bias, q, out_shape, 0)]
    return outs + [_call(prog, "hard_convolve_grouped_gemm_s8", params, x, w, bias, q, out_shape, size)]


def _random_program(rng) -> tuple[Program, list[list[Buf]]]:
    prog, groups = Program(), []
    for _ in range(25):
        k = (int(rng.integers(1, 5)), int(rng.integers(1, 5)))
        s = (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
        h, w, cin = int(rng.integers(1, 6)), int(rng.integers(1, 6)), int(rng.integers(1, 20))
        out_hw = (h * s[0] + int(rng.integers(0, k[0])), w * s[1] + int(rng.integers(0, k[1])))
        pads = (int(rng.integers(0, k[0])), 0, int(rng.integers(0, k[1])), 0)
        groups.append(add_tconv(prog, rng, (1, h, w, cin), k, s, int(rng.integers(1, 12)), out_hw, pads))
        g = int(rng.integers(1, 5))
        k = (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
        shape = (1, int(rng.integers(3, 8)), int(rng.integers(3, 8)), g * int(rng.integers(1, 9)))
        pads = tuple(int(rng.integers(0, 2)) for _ in range(4))
        stride = (int(rng.integers(1, 3)), int(rng.integers(1, 3)))
        groups.append(add_grouped(prog, rng, shape, k, g, g * int(rng.integers(1, 6)), stride, (1, 1), pads))
    return prog, groups


def test_simd_entry_points_equal_portable_on_the_board(runners) -> None:
    host, dsp, portable = runners
    prog, pairs = _random_program(np.random.default_rng(20))
    ref = host.run(prog)
    ref.check(prog.names)
    for plain, simd in pairs:
        assert_bit_exact(ref.get(simd), ref.get(plain), "host: SIMD vs portable")
    for name, runner in (("dsp", dsp), ("portable", portable)):
        res = runner.run(prog)
        res.check(prog.names)
        for bufs in pairs:
            for b in bufs:
                assert_bit_exact(res.get(b), ref.get(b), f"QEMU {name}")


# (name, kind, input shape, kernel, stride or groups, out channels, out hw / pads, MACs)
def _tconv_macs(in_shape, k, s, cout, out_hw, pads) -> int:
    """Products the reference computes that land inside the output."""

    def axis(n_in, kk, ss, n_out, p):
        return sum(1 for i in range(n_in) for t in range(kk) if 0 <= i * ss - p + t < n_out)

    return (
        axis(in_shape[1], k[0], s[0], out_hw[0], pads[0])
        * axis(in_shape[2], k[1], s[1], out_hw[1], pads[2])
        * in_shape[3]
        * cout
    )


def test_instructions_per_mac(runners) -> None:
    """U-Net upsamplers and ESPNetV2-style grouped convs at HARD's 1/8 resolution (16 x 32)."""
    _, dsp, portable = runners
    if dsp.plugin is None:
        pytest.skip("the instruction-count plugin could not be built")
    rng = np.random.default_rng(7)
    prog, rows = Program(), []
    for k, pads in (((2, 2), (0, 0, 0, 0)), ((3, 3), (0, 1, 0, 1)), ((4, 4), (1, 1, 1, 1))):
        add_tconv(prog, rng, (1, 16, 32, 32), k, (2, 2), 16, (32, 64), pads)
        rows.append(
            (
                f"TRANSPOSE_CONV {k[0]}x{k[1]} s2 32->16 at 16x32",
                _tconv_macs((1, 16, 32, 32), k, (2, 2), 16, (32, 64), pads),
            )
        )
    for k, g, pads in (((3, 3), 4, (1, 1, 1, 1)), ((1, 1), 4, (0, 0, 0, 0)), ((3, 3), 2, (1, 1, 1, 1))):
        add_grouped(prog, rng, (1, 16, 32, 64), k, g, 64, (1, 1), (1, 1), pads)
        rows.append(
            (
                f"grouped CONV_2D {k[0]}x{k[1]} groups {g} 64->64 at 16x32",
                16 * 32 * 64 * k[0] * k[1] * 64 // g,
            )
        )
    counts_dsp = dsp.run(prog).counts
    counts_port = portable.run(prog).counts
    for i, (what, macs) in enumerate(rows):
        plain, simd = counts_dsp[2 * i], counts_dsp[2 * i + 1]
        print(
            f"{what}: SIMD {simd / macs:.2f}, portable entry {plain / macs:.2f}, -DHARD_NO_DSP SIMD entry {counts_port[2 * i + 1] / macs:.2f} instructions/MAC"
        )
        assert simd < plain, what
