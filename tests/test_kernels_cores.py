"""The kernels on every emulated Cortex-M core (firmware/cores/*.json), byte for byte.

One program of randomised kernel calls (a smaller set than test_kernels_dsp.py's, which covers
the Cortex-M7 in depth) runs on the host build (portable C) and on each core's QEMU machine with
that core's compiler flags: the DSP paths on the Cortex-M4, M33 and M55, the portable ones on the
Cortex-M3 (no DSP extension). Every output must equal the host's; a second program checks the
convolutions against TFLite's BUILTIN_REF kernels on every core.
"""

from __future__ import annotations

import numpy as np
import pytest
from kernels_util import assert_bit_exact
from test_kernels_dsp import (
    _add_conv_cases,
    _add_dw_cases,
    _add_elementwise_cases,
    _add_pool_resize_cases,
    _tflite_conv_case,
)

from hardtool.core.boards import cores, get_core
from hardtool.device import icount
from hardtool.device.kernel_runner import QemuRunner, build_qemu_runner, qemu_available
from hardtool.kernels import calls as K
from hardtool.kernels.runner import HostRunner, Program

pytestmark = pytest.mark.skipif(not qemu_available(), reason="needs arm-none-eabi-gcc and qemu-system-arm")
OTHER_CORES = [c for c in cores() if c != "cortex-m7"]  # the M7 is test_kernels_dsp.py's


@pytest.fixture(scope="module")
def host() -> HostRunner:
    return HostRunner()


def _runner(core: str) -> QemuRunner:
    plugin, _ = icount.try_plugin()
    return QemuRunner(build_qemu_runner(None, True, core), plugin, core=core)


def test_every_core_names_its_machine_and_dsp() -> None:
    assert set(OTHER_CORES) >= {"cortex-m3", "cortex-m4", "cortex-m33", "cortex-m55"}
    assert not get_core("m3").dsp and all(get_core(c).dsp for c in ("m4", "m33", "m55"))
    assert get_core("cortex-m4").machine == "mps2-an386" and get_core("m55").machine == "mps3-an547"


@pytest.mark.parametrize("core", OTHER_CORES)
def test_kernels_bit_exact_on_core(host: HostRunner, core: str) -> None:
    rng = np.random.default_rng(2027)
    prog = Program()
    pairs = _add_conv_cases(prog, rng, 12) + _add_dw_cases(prog, rng, 12)
    singles = _add_elementwise_cases(prog, rng, 6) + _add_pool_resize_cases(prog, rng, 4)
    want = host.run(prog)
    want.check(prog.names)
    res = _runner(core).run(prog)
    assert res.status == want.status, f"{core}: statuses differ from the host's"
    names = {b.offset: name for name, b in zip(prog.names, prog.outputs, strict=True)}
    for buf in [b for pair in pairs for b in pair] + singles:
        assert_bit_exact(res.get(buf), want.get(buf), f"{core} {names[buf.offset]}")
    if res.counts is not None:  # the plugin counted every call on this core
        assert len(res.counts) == len(prog.names) and all(n > 0 for n in res.counts)


@pytest.mark.parametrize("core", OTHER_CORES)
def test_convolutions_match_tflite_reference_on_core(core: str) -> None:
    rng = np.random.default_rng(12)
    prog = Program()
    expect = []
    for k, stride, dil, cin, cout in [(3, 2, 1, 3, 16), (1, 1, 1, 32, 19)]:
        x, w, b, a, want = _tflite_conv_case(rng, False, k, stride, dil, cin, cout, (9, 14))
        expect.append((K.add_conv(prog, "hard_convolve_s8", x, w, b, a), want))
    x, w, b, a, want = _tflite_conv_case(rng, True, 3, 1, 2, 19, 19, (18, 20))
    expect.append((K.add_depthwise(prog, "hard_depthwise_conv_s8", x, w, b, a, 1), want))
    res = _runner(core).run(prog)
    res.check(prog.names)
    for (buf, want), fn in zip(expect, prog.names, strict=True):
        assert_bit_exact(res.get(buf), want, f"{core} {fn}")
