"""Instructions per frame on a target's emulated core, estimated from per-layer counts: every
convolution and depthwise convolution layer's MACs times the instructions per MAC its kernel
class takes on that core, counted exactly (TCG plugin) on the core's kernel runner once per
core and cached. Other ops (adds, pooling, resize, argmax) are not counted: the figure is an
estimate, labelled so; `hardtool run` on the emulated board gives the exact count."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from hardtool.core.files import atomic_write_json
from hardtool.core.graph import Graph

# (class, cin, cout, k, h, w): HARD-Edge-like layers the rate of each class is counted on
PROBES = (("conv3x3", 16, 32, 3, 16, 32), ("conv1x1", 32, 32, 1, 16, 32), ("dw3x3", 32, 32, 3, 16, 32))
METHOD = "estimated: conv/depthwise MACs x the core's counted instructions per MAC (other ops not counted)"


def layer_macs(graph: Graph) -> dict[str, int]:
    """MACs per kernel class (conv3x3: any non-1x1 convolution, conv1x1, dw3x3: any depthwise)."""
    out = {"conv3x3": 0, "conv1x1": 0, "dw3x3": 0}
    for op in graph.ops:
        if op.name not in ("CONV_2D", "DEPTHWISE_CONV_2D"):
            continue
        o = graph.tensors[op.outputs[0]].shape
        w = graph.tensors[op.inputs[1]].shape  # OHWI (conv) or 1HWC (depthwise)
        elems = int(np.prod(o))
        if op.name == "DEPTHWISE_CONV_2D":
            out["dw3x3"] += elems * w[1] * w[2]
        else:
            out["conv1x1" if w[1] == w[2] == 1 else "conv3x3"] += elems * w[1] * w[2] * w[3]
    return out


def _probe_program():
    from hardtool.kernels import calls as K
    from hardtool.kernels.runner import Program

    rng = np.random.default_rng(0)
    prog, macs = Program(), []
    for cls, cin, cout, k, h, w in PROBES:
        x = rng.integers(-128, 128, (1, h, w, cin)).astype(np.int8)
        mult = rng.integers(1 << 30, (1 << 31) - 1, cout)
        a = K.ConvArgs(-3, 5, mult, rng.integers(-10, -7, cout), (1, 1), (1, 1), ((k - 1) // 2,) * 4)
        if cls == "dw3x3":
            wt = rng.integers(-128, 128, (1, k, k, cout)).astype(np.int8)
            K.add_depthwise(prog, "hard_depthwise_conv_s8", x, wt, None, a, 1)
            macs.append(h * w * cout * k * k)
        else:
            wt = rng.integers(-128, 128, (cout, k, k, cin)).astype(np.int8)
            K.add_conv(prog, "hard_convolve_s8", x, wt, None, a)
            macs.append(h * w * cout * k * k * cin)
    return prog, macs


def core_rates(core: str, cache: Path | None = None) -> dict[str, float] | None:
    """Instructions per MAC of each kernel class on ``core`` (None: no plugin to count with)."""
    from hardtool.device import icount
    from hardtool.device.kernel_runner import QemuRunner, build_qemu_runner
    from hardtool.kernels.runner import cache_dir

    elf = build_qemu_runner(None, True, core)
    path = Path(cache or cache_dir()) / f"fit_rates_{elf.stem}.json"
    if path.is_file():
        return json.loads(path.read_text())
    plugin, _ = icount.try_plugin()
    if plugin is None:
        return None
    prog, macs = _probe_program()
    counts = QemuRunner(elf, plugin, core=core).run(prog).counts
    rates = {p[0]: n / m for p, n, m in zip(PROBES, counts, macs, strict=True)}
    atomic_write_json(path, rates)
    return rates


def frame_instructions(graph: Graph, rates: dict[str, float]) -> int:
    """The estimate for one frame: Σ class MACs x class instructions per MAC."""
    return int(sum(m * rates[k] for k, m in layer_macs(graph).items()))
