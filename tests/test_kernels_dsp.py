"""The ARMv7E-M (DSP) kernel paths on the emulated Cortex-M7, byte for byte.

Hundreds of randomised calls (odd and non-multiple-of-4 channel counts, every padding, strides
1/2, dilations 1/2/4/8, depth multipliers, extreme zero points, multipliers and biases) go into
one program that runs three ways: the host build (portable C; the optimised entry points with
their DSP instructions emulated in C), the QEMU firmware built with the DSP paths and the QEMU
firmware built portable-only (-DHARD_NO_DSP). All three must agree with the portable path of the
entry points TFLite is checked against in test_kernels_*.py; a second program does the same with
one-op models run by TFLite's BUILTIN_REF kernels.
"""

from __future__ import annotations

import dataclasses
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pytest
from kernels_util import RefModel, assert_bit_exact, convert_int8, rand_int8

from hardtool.device import icount
from hardtool.device.kernel_runner import QemuRunner, build_qemu_runner, qemu_available
from hardtool.kernels import calls as K
from hardtool.kernels import quant
from hardtool.kernels.runner import HostRunner, Program
from hardtool.kernels.weights import dw3x3_q15, gemm_q15_pairs

pytestmark = pytest.mark.skipif(not qemu_available(), reason="needs arm-none-eabi-gcc and qemu-system-arm")


@dataclass
class Runners:
    host: HostRunner
    dsp: QemuRunner
    portable: QemuRunner


@pytest.fixture(scope="module")
def runners() -> Runners:
    """Built once per source version (cached by digest), the three builds in parallel."""
    with ThreadPoolExecutor(max_workers=3) as ex:
        host = ex.submit(HostRunner)
        dsp = ex.submit(build_qemu_runner, None, True)
        portable = ex.submit(build_qemu_runner, None, False)
        plugin, _ = icount.try_plugin()
        return Runners(host.result(), QemuRunner(dsp.result(), plugin), QemuRunner(portable.result(), plugin))


# ------------------------------------------------------------------ random cases
def _quant(rng: np.random.Generator, n: int, extreme: bool) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel multipliers/shifts: TFLite-like, or extremes (left shifts, tiny and huge values)."""
    mult = rng.integers(1 << 30, (1 << 31) - 1, n)
    shift = rng.integers(-12, -4, n)
    if extreme:
        mult[rng.random(n) < 0.3] = (1 << 31) - 1
        shift = rng.integers(-31, 3, n)
    return mult, shift


def _conv_args(rng, k, stride, dil, cout, extreme) -> K.ConvArgs:
    zps = [-128, 127] if extreme else list(range(-20, 20))
    mult, shift = _quant(rng, cout, extreme)
    pads = tuple(int(rng.integers(0, (k - 1) * dil + 2)) for _ in range(4))
    lo = int(rng.integers(-128, 0)) if rng.random() < 0.3 else -128
    hi = int(rng.integers(0, 128)) if rng.random() < 0.3 else 127
    return K.ConvArgs(
        int(rng.choice(zps)), int(rng.choice(zps)), mult, shift, (stride, stride), (dil, dil), pads, (lo, hi)
    )


def _bias(rng, n: int, extreme: bool) -> np.ndarray | None:
    if rng.random() < 0.15:
        return None
    span = 1 << 30 if extreme else 20000
    return rng.integers(-span, span, n).astype(np.int32)


def _input(rng, shape, extreme: bool) -> np.ndarray:
    x = rand_int8(rng, shape)
    if extreme:  # saturated activations
        x[rng.random(shape) < 0.5] = rng.choice([-128, 127])
    return x


def _tile2(a: K.ConvArgs) -> K.ConvArgs:
    """The same convolution through the q15 GEMMs' 2-pixel x 2-channel tile."""
    return dataclasses.replace(a, tile_pixels=2)


def _add_conv_cases(prog: Program, rng, n: int) -> list:
    pairs = []
    for i in range(n):
        extreme = i % 5 == 4
        k, stride, dil = int(rng.choice([1, 1, 2, 3])), int(rng.integers(1, 3)), int(rng.choice([1, 2, 4, 8]))
        cin, cout = int(rng.integers(1, 21)), int(rng.integers(1, 21))
        a = _conv_args(rng, k, stride, dil, cout, extreme)
        eff = (k - 1) * dil + 1
        h, w = (int(rng.integers(max(1, eff - a.padding[0] - a.padding[1]), 12)) for _ in range(2))
        w = max(w, eff - a.padding[2] - a.padding[3])
        x, wt, b = (
            _input(rng, (1, h, w, cin), extreme),
            rand_int8(rng, (cout, k, k, cin)),
            _bias(rng, cout, extreme),
        )
        ref = K.add_conv(prog, "hard_convolve_s8", x, wt, b, a, scratch=0)  # the portable path
        outs = [
            K.add_conv(prog, "hard_convolve_s8", x, wt, b, a),
            K.add_conv(prog, "hard_convolve_im2col_s8", x, wt, b, a),
            K.add_conv(prog, "hard_convolve_im2col_q15_s8", x, wt, b, a, w_data=gemm_q15_pairs(wt)),
            # the q15 GEMMs' 2-pixel tile (tile_pixels 2), which codegen --tune may choose
            K.add_conv(prog, "hard_convolve_im2col_q15_s8", x, wt, b, _tile2(a), w_data=gemm_q15_pairs(wt)),
        ]
        if k == 1 and not any(a.padding):
            outs.append(K.add_conv(prog, "hard_convolve_1x1_s8", x, wt, b, a))
            q15 = gemm_q15_pairs(wt)
            outs.append(K.add_conv(prog, "hard_convolve_1x1_q15_s8", x, wt, b, a, w_data=q15))
            outs.append(K.add_conv(prog, "hard_convolve_1x1_q15_s8", x, wt, b, _tile2(a), w_data=q15))
        pairs += [(ref, o) for o in outs]
    return pairs


def _add_dw_cases(prog: Program, rng, n: int) -> list:
    pairs = []
    for i in range(n):
        extreme = i % 5 == 4
        k, stride, dil = (
            int(rng.choice([3, 3, 1, 2, 5])),
            int(rng.integers(1, 3)),
            int(rng.choice([1, 2, 4, 8])),
        )
        cin, mult = int(rng.integers(1, 41)), int(rng.choice([1, 1, 1, 2, 3]))
        a = _conv_args(rng, k, stride, dil, cin * mult, extreme)
        eff = (k - 1) * dil + 1
        h = max(int(rng.integers(1, 14)), eff - a.padding[0] - a.padding[1])
        w = max(int(rng.integers(1, 14)), eff - a.padding[2] - a.padding[3])
        x, wt = _input(rng, (1, h, w, cin), extreme), rand_int8(rng, (1, k, k, cin * mult))
        b = _bias(rng, cin * mult, extreme)
        ref = K.add_depthwise(prog, "hard_depthwise_conv_s8", x, wt, b, a, mult, scratch=0)
        pairs.append((ref, K.add_depthwise(prog, "hard_depthwise_conv_s8", x, wt, b, a, mult)))
        if k == 3 and mult == 1:
            q15 = dw3x3_q15(wt)
            pairs.append(
                (ref, K.add_depthwise(prog, "hard_depthwise_conv_3x3_s8", x, wt, b, a, 1, w_data=q15))
            )
    return pairs


def _add_elementwise_cases(prog: Program, rng, n: int) -> list:
    outs = []
    for i in range(n):
        shape = (1, int(rng.integers(1, 9)), int(rng.integers(1, 9)), int(rng.integers(1, 70)))
        s1, s2, so = np.exp(rng.uniform(-6, 1, 3))
        z1, z2, zo = (int(v) for v in rng.integers(-128, 128, 3))
        act = (-128, 127) if i % 3 else (zo, int(rng.integers(zo, 128)))
        a, b = _input(rng, shape, i % 4 == 0), _input(rng, shape, i % 4 == 0)
        outs.append(K.add_add(prog, a, b, quant.add_params(s1, z1, s2, z2, so, zo), act))
        o1, o2, rp = quant.mul_params(s1, z1, s2 * 50, z2, so, zo)
        outs.append(K.add_mul(prog, a, b, o1, o2, rp, act))
    return outs


def _add_pool_resize_cases(prog: Program, rng, n: int) -> list:
    outs = []
    for i in range(n):
        kh, kw, sh, sw = (int(v) for v in rng.integers(1, 4, 4))
        h, w, c = int(rng.integers(kh, 12)), int(rng.integers(kw, 12)), int(rng.integers(1, 20))
        pads = (
            int(rng.integers(0, kh)),
            int(rng.integers(0, kh)),
            int(rng.integers(0, kw)),
            int(rng.integers(0, kw)),
        )
        act = (-128, 127) if i % 2 else (-100, 90)
        outs.append(K.add_avgpool(prog, rand_int8(rng, (1, h, w, c)), (kh, kw), (sh, sw), pads, act))
        ih, iw, ch = int(rng.integers(1, 10)), int(rng.integers(1, 10)), int(rng.integers(1, 33))
        x = rand_int8(rng, (1, ih, iw, ch))
        if i % 3 == 0:
            x = (x // 64).astype(np.int8)  # few distinct values: many ties
        size = (int(rng.integers(1, 50)), int(rng.integers(1, 90)))
        align = bool(i % 2)
        outs.append(
            K.add_resize_argmax(prog, x, size, align_corners=align, half_pixel=not align and i % 4 == 0)
        )
    # HARD-Edge's head: 16 x 32 x 19 logits to 128 x 256 labels, whole and in row bands
    head = rand_int8(rng, (1, 16, 32, 19))
    outs.append(K.add_resize_argmax(prog, head, (128, 256), half_pixel=True))
    outs += [
        K.add_resize_argmax(prog, head, (128, 256), half_pixel=True, rows=(y, y + 9)) for y in (0, 60, 119)
    ]
    return outs


def test_dsp_paths_equal_portable_on_random_shapes(runners: Runners) -> None:
    rng = np.random.default_rng(2026)
    prog = Program()
    pairs = _add_conv_cases(prog, rng, 60) + _add_dw_cases(prog, rng, 60)
    singles = _add_elementwise_cases(prog, rng, 30) + _add_pool_resize_cases(prog, rng, 30)
    host = runners.host.run(prog)
    host.check(prog.names)
    names = {b.offset: name for name, b in zip(prog.names, prog.outputs, strict=True)}
    for ref, out in pairs:  # the optimised entry points (C-emulated DSP) equal the portable path
        assert_bit_exact(host.get(out), host.get(ref), f"host {names[out.offset]}")
    for name, runner in (("dsp", runners.dsp), ("portable", runners.portable)):
        res = runner.run(prog)
        assert res.status == host.status, f"QEMU {name}: statuses differ from the host's"
        for buf in [b for pair in pairs for b in pair] + singles:
            assert_bit_exact(res.get(buf), host.get(buf), f"QEMU {name} {names[buf.offset]}")


def test_fused_epilogue_whole_and_in_row_bands(runners: Runners) -> None:
    """HARD-Edge's head (16 x 32 x 19 logits to 128 x 256 labels): the row-band entry point gives
    the same rows as the whole map, on the DSP path as on the portable one."""
    rng = np.random.default_rng(19)
    prog = Program()
    head = rand_int8(rng, (1, 16, 32, 19))
    whole = K.add_resize_argmax(prog, head, (128, 256), half_pixel=True)
    bands = {
        y: K.add_resize_argmax(prog, head, (128, 256), half_pixel=True, rows=(y, y + 9)) for y in (0, 60, 119)
    }
    host, dsp = runners.host.run(prog), runners.dsp.run(prog)
    dsp.check(prog.names)
    assert_bit_exact(dsp.get(whole), host.get(whole), "whole map")
    for y, buf in bands.items():
        assert_bit_exact(dsp.get(buf), host.get(whole)[y : y + 9], f"rows {y}..{y + 9}")


def _smooth_logits(rng: np.random.Generator, shape: tuple[int, ...], levels: int) -> np.ndarray:
    """Logits like a segmentation head's: smooth per-class fields (regions with one winner and
    boundaries between them), quantised to `levels` steps so that ties and one-unit margins are
    common."""
    n, h, w, c = shape
    yy, xx = np.meshgrid(np.linspace(0, 1, h), np.linspace(0, 1, w), indexing="ij")
    f = np.stack(
        [
            np.sin(rng.uniform(1, 6) * yy + rng.uniform(0, 6)) * np.cos(rng.uniform(1, 6) * xx)
            for _ in range(c)
        ],
        -1,
    )
    q = np.round(f * levels) * (120 // levels)
    return np.clip(q, -128, 127).astype(np.int8).reshape(n, h, w, c)


def test_fused_epilogue_blocks_with_one_label(runners: Runners) -> None:
    """Smooth logits (most blocks of output pixels have one label, proven from their corners;
    ties and one-unit margins at the boundaries): the DSP path equals the portable one, whole
    and in row bands, with and without half-pixel centres, every class count and odd sizes."""
    rng = np.random.default_rng(23)
    prog = Program()
    outs = []
    for i, (shape, size) in enumerate(
        [
            ((1, 16, 32, 19), (128, 256)),
            ((1, 9, 7, 5), (40, 33)),
            ((1, 6, 4, 32), (23, 61)),
            ((1, 5, 3, 2), (17, 9)),
        ]
    ):
        for levels in (2, 8, 60):
            x = _smooth_logits(rng, shape, levels)
            for half in (True, False):
                outs.append(
                    K.add_resize_argmax(prog, x, size, half_pixel=half, align_corners=not half and i % 2 == 1)
                )
            outs.append(K.add_resize_argmax(prog, x, size, half_pixel=True, rows=(size[0] // 3, size[0] - 2)))
    host, dsp = runners.host.run(prog), runners.dsp.run(prog)
    dsp.check(prog.names)
    for name, buf in zip(prog.names, outs, strict=True):
        assert_bit_exact(dsp.get(buf), host.get(buf), name)


def test_fast_requantisation_refuses_what_it_cannot_take(runners: Runners) -> None:
    """Shifts >= 0 or huge biases take the exact requantisation, an activation outside int8 the
    portable path (hard_convolve_s8) or a refusal (the optimised entry point): never wrong output."""
    rng = np.random.default_rng(7)
    prog = Program()
    x, w = rand_int8(rng, (1, 5, 6, 8)), rand_int8(rng, (6, 3, 3, 8))
    cases = [
        K.ConvArgs(-128, 127, [(1 << 31) - 1] * 6, [2] * 6, padding=(1, 1, 1, 1)),  # left shift
        K.ConvArgs(5, -3, [1 << 30] * 6, [0] * 6, padding=(1, 1, 1, 1)),  # shift 0
        K.ConvArgs(5, -3, [1 << 30] * 6, [-8] * 6, padding=(1, 1, 1, 1), act=(-300, 300)),
    ]
    checks = []
    for a in cases:
        for b in (None, np.full(6, (1 << 30) + 5, np.int32)):
            ref = K.add_conv(prog, "hard_convolve_s8", x, w, b, a, scratch=0)
            for fn in ("hard_convolve_s8", "hard_convolve_im2col_s8"):
                checks.append((ref, K.add_conv(prog, fn, x, w, b, a), len(prog.names) - 1))
    host, dsp = runners.host.run(prog), runners.dsp.run(prog)
    assert dsp.status == host.status
    refused = [prog.names[i] for _, _, i in checks if dsp.status[i] != 0]
    assert refused == ["hard_convolve_im2col_s8"] * 2, refused
    for ref, out, i in checks:
        if dsp.status[i] == 0:
            assert_bit_exact(dsp.get(out), host.get(ref), f"{prog.names[i]} on QEMU vs portable")


# ------------------------------------------------------------------ vs TFLite
def _tflite_conv_case(rng, depthwise: bool, k: int, stride: int, dil: int, cin: int, cout: int, hw):
    import tensorflow as tf

    w = rng.normal(0, 1, (k, k, cin, cout // cin if depthwise else cout)).astype(np.float32)
    w *= np.exp(rng.uniform(-2, 1, w.shape[-1])).astype(np.float32)
    bias = rng.normal(0, 1, cout).astype(np.float32)

    @tf.function
    def f(x):
        if depthwise:
            y = tf.raw_ops.DepthwiseConv2dNative(
                input=x, filter=w, strides=[1, stride, stride, 1], padding="SAME", dilations=[1, dil, dil, 1]
            )
        else:
            y = tf.raw_ops.Conv2D(
                input=x, filter=w, strides=[1, stride, stride, 1], padding="SAME", dilations=[1, dil, dil, 1]
            )
        return tf.nn.relu(y + bias)

    ref = RefModel(convert_int8(f, [(1, *hw, cin)], [2.0], seed=int(rng.integers(1 << 16))))
    name = "DEPTHWISE_CONV_2D" if depthwise else "CONV_2D"
    op = ref.op(name)
    x_i, w_i, b_i = op["inputs"][:3]
    qin, qw, qout = ref.quant(x_i), ref.quant(w_i), ref.quant(op["outputs"][0])
    scales = qw.scales if qw.scales.size == cout else np.full(cout, qw.scale)
    mults, shifts = quant.conv_channel_params(qin.scale, scales, qout.scale)
    pads = []
    for size, s in zip(hw, (stride, stride), strict=True):
        before, after, _ = quant.same_padding(size, k, s, dil)
        pads += [before, after]
    args = K.ConvArgs(
        qin.zero_point,
        qout.zero_point,
        mults,
        shifts,
        (stride, stride),
        (dil, dil),
        tuple(pads),
        quant.activation_range("RELU", qout.scale, qout.zero_point),
    )
    x = rand_int8(rng, (1, *hw, cin))
    (want,) = ref.run(x)
    return x, ref.tensor(w_i), ref.tensor(b_i), args, want


def test_dsp_paths_match_tflite_reference(runners: Runners) -> None:
    rng = np.random.default_rng(11)
    prog = Program()
    expect = []
    for k, stride, dil, cin, cout in [
        (3, 2, 1, 3, 16),
        (3, 1, 2, 8, 12),
        (1, 2, 1, 13, 7),
        (1, 1, 1, 32, 19),
    ]:
        x, w, b, a, want = _tflite_conv_case(rng, False, k, stride, dil, cin, cout, (9, 14))
        fns = ["hard_convolve_s8", "hard_convolve_im2col_s8"] + (["hard_convolve_1x1_s8"] if k == 1 else [])
        expect += [(K.add_conv(prog, fn, x, w, b, a), want) for fn in fns]
        q15 = gemm_q15_pairs(w)
        for t in (a, _tile2(a)):
            expect.append((K.add_conv(prog, "hard_convolve_im2col_q15_s8", x, w, b, t, w_data=q15), want))
            if k == 1:
                expect.append((K.add_conv(prog, "hard_convolve_1x1_q15_s8", x, w, b, t, w_data=q15), want))
    for stride, dil, cin, mult in [
        (1, 1, 16, 1),
        (2, 1, 12, 1),
        (1, 2, 19, 1),
        (1, 4, 32, 1),
        (1, 8, 8, 1),
        (1, 1, 5, 3),
    ]:
        x, w, b, a, want = _tflite_conv_case(rng, True, 3, stride, dil, cin, cin * mult, (18, 20))
        expect.append((K.add_depthwise(prog, "hard_depthwise_conv_s8", x, w, b, a, mult), want))
        if mult == 1:
            fn = "hard_depthwise_conv_3x3_s8"
            expect.append((K.add_depthwise(prog, fn, x, w, b, a, 1, w_data=dw3x3_q15(w)), want))
    for name, res in (("host", runners.host.run(prog)), ("QEMU", runners.dsp.run(prog))):
        res.check(prog.names)
        for (buf, want), fn in zip(expect, prog.names, strict=True):
            assert_bit_exact(res.get(buf), want, f"{name} {fn}")


# ------------------------------------------------------------------ instruction counts
def test_plugin_counts_are_exact_and_repeatable(runners: Runners) -> None:
    if runners.dsp.plugin is None:
        pytest.skip("the instruction-count plugin could not be built")
    rng = np.random.default_rng(3)
    prog = Program()
    x, w = rand_int8(rng, (1, 16, 32, 32)), rand_int8(rng, (32, 1, 1, 32))
    a = K.ConvArgs(3, -2, [1 << 30] * 32, [-7] * 32)
    for _ in range(2):
        K.add_conv(prog, "hard_convolve_s8", x, w, None, a)
    first, second = runners.dsp.run(prog), runners.dsp.run(prog)
    assert first.counts == second.counts and first.counts[0] == first.counts[1]
    macs = 16 * 32 * 32 * 32
    portable = runners.portable.run(prog).counts[0]
    assert 1.0 * macs < first.counts[0] < 3.0 * macs < portable, (first.counts, portable)
