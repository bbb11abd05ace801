"""Instructions per frame on a target's emulated core, from per-layer counts cached by layer
signature: every layer of a kernel class the runner can call (convolution, depthwise, add,
average pool, bilinear resize, the fused resize→argmax tail) is run once with its exact shapes,
strides, dilations and padding (seeded random data and quantisation) through exactly the call
codegen emits for the core (the kernel the op record chooses, with the filter layout it reads
from flash; a convolution lower() fused a residual ADD into with that ``hard_fused_add``
epilogue; a same-shape ADD through its inputs' tables) on the core's kernel runner, its
instructions counted exactly by the TCG plugin, and the count cached by (core, runner build,
signature). The resize→argmax tail labels blocks from their corners where they prove the label,
so its count depends on the logits: it is fed spatially smooth seeded logits (``smooth_logits``),
as a trained model's are, not noise. A frame's figure is the sum over its layers: an estimate
(data-dependent branches, the generated code's call overhead and layers of other ops are not in
it), labelled so; `hardtool run` on the emulated board gives the exact count."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np

from hardtool.core.files import atomic_write_json
from hardtool.core.graph import Graph, lower
from hardtool.ops.tables import choose

METHOD = (
    "estimated: sum of per-layer counts on the target's emulated core (kernel runner, exact per layer;"
    " the argmax tail on smooth synthetic logits)"
)
CONVS = ("CONV_2D", "DEPTHWISE_CONV_2D")
COUNTED = (*CONVS, "ADD", "AVERAGE_POOL_2D", "RESIZE_BILINEAR", "HARD_RESIZE_ARGMAX")
ADDS = ("hard_elementwise_add_table_s8", "hard_elementwise_add_s8")
GEOMETRY = ("stride_h", "stride_w", "dilation_h_factor", "dilation_w_factor", "filter_height", "filter_width")


def _shape(g: Graph, t: int) -> list[int]:
    return [int(v) for v in g.tensors[t].shape]


def _pads(op, x: list[int], k: tuple[int, int], geo: dict) -> list[int]:
    """(top, bottom, left, right): the lowered op's explicit padding, else TFLite's SAME / VALID."""
    from hardtool.kernels.quant import same_padding

    if "explicit_padding" in op.options:
        return [int(v) for v in op.options["explicit_padding"]]
    if op.options.get("padding") != "SAME":
        return [0, 0, 0, 0]
    h = same_padding(x[1], k[0], geo["stride_h"], geo["dilation_h_factor"])
    w = same_padding(x[2], k[1], geo["stride_w"], geo["dilation_w_factor"])
    return [h[0], h[1], w[0], w[1]]


def signature(g: Graph, op, dsp: bool = True) -> str | None:
    """What a layer's instruction count depends on, as a JSON text (None: left out of the estimate);
    ``dsp``: the kernel choice of a core with the DSP extension, else the portable one."""
    if op.name not in COUNTED:
        return None
    geo = {k: int(op.options.get(k, 1)) for k in GEOMETRY}
    x, out = _shape(g, op.inputs[0]), _shape(g, op.outputs[0])
    sig: dict = {"op": op.name, "x": x, "out": out, "geo": geo}
    if op.name in CONVS:
        w = _shape(g, op.inputs[1])
        if op.name == "CONV_2D" and w[3] != x[3]:
            return None  # grouped: not a call the runner's helpers make
        k = choose(g, op, dsp)  # the entry point and filter layout codegen emits for this core
        sig |= {"w": w, "pads": _pads(op, x, (w[1], w[2]), geo), "kernel": k.symbol, "layout": k.layout}
        if k.tile_pixels:  # the GEMM tile codegen --tune chose (absent: the kernel's default)
            sig["tile_pixels"] = k.tile_pixels
        if "fused_add" in op.options:  # lower() folded a residual ADD into its output stage
            sig["fused_add"] = op.options["fused_add"]["conv_side"] == 0
    elif op.name == "ADD":
        sig["kernel"] = choose(g, op, dsp).symbol  # the table ADD codegen emits
        if sig["kernel"] not in ADDS:
            return None  # broadcast add: another kernel
    elif op.name == "AVERAGE_POOL_2D":
        sig["pads"] = _pads(op, x, (geo["filter_height"], geo["filter_width"]), geo)
    else:
        sig["half_pixel"] = bool(op.options.get("half_pixel_centers"))
        sig["align"] = bool(op.options.get("align_corners"))
        if op.name == "HARD_RESIZE_ARGMAX":
            sig["logits"] = "smooth"  # the data the count was made on (smooth_logits)
    return json.dumps(sig, sort_keys=True)


def band_signature(g: Graph, op, dsp: bool, span) -> str | None:
    """The signature of a stage op run on one band (a memplan stage Span): the layer's call on
    ``span.in_rows`` input rows and ``span.out_rows`` output rows, the image border's padding
    above and below as the band has it."""
    base = signature(g, op, dsp)
    if base is None:
        return None
    sig = json.loads(base)
    sig["x"][1], sig["out"][1] = span.in_rows, span.out_rows
    if "pads" in sig:
        sig["pads"][0], sig["pads"][1] = span.pad_top, span.pad_bottom
    return json.dumps(sig, sort_keys=True)


def _signatures(g: Graph, dsp: bool, stage=None) -> list[str | None]:
    """Per layer of the lowered graph, its signatures: one per band for a stage op (the plan's
    first stage runs band by band, its halo rows computed again), else one."""
    in_stage = {i: k for k, i in enumerate(stage.ops)} if stage is not None else {}
    out: list[str | None] = []
    for i, op in enumerate(g.ops):
        if i in in_stage:
            out += [band_signature(g, op, dsp, p[in_stage[i]]) for p in stage.patches]
        else:
            out.append(signature(g, op, dsp))
    return out


def smooth_logits(rng: np.random.Generator, shape: list[int]) -> np.ndarray:
    """Seeded int8 logits shaped like a trained segmentation head's, not noise: each class a
    sum of three plane waves of at most one and a half periods across the map, so the argmax
    labels form regions a few source pixels across and the tail's block test proves most
    blocks (on noise it proves almost none and the count is several times the run's)."""
    n, h, w, c = shape
    yy, xx = np.meshgrid(np.arange(h) / max(h, 1), np.arange(w) / max(w, 1), indexing="ij")
    out = np.zeros((n, h, w, c))
    for i in range(n * c):
        f = rng.uniform(-1.5, 1.5, (3, 2))
        phase, amp = rng.uniform(0, 2 * np.pi, 3), rng.uniform(20, 45, 3)
        waves = [
            a * np.cos(2 * np.pi * (u * yy + v * xx) + ph)
            for (u, v), ph, a in zip(f, phase, amp, strict=True)
        ]
        out[i // c, :, :, i % c] = sum(waves)
    return np.clip(np.rint(out), -128, 127).astype(np.int8)


def _add_conv(prog, rng: np.random.Generator, sig: dict, x: np.ndarray) -> None:
    """A convolution's call as codegen emits it: its kernel, filter layout and fused ADD."""
    from hardtool.kernels import calls as K
    from hardtool.kernels import quant, weights

    geo, cout = sig["geo"], sig["out"][3]
    mult = rng.integers(1 << 30, (1 << 31) - 1, cout)
    strides = (geo["stride_h"], geo["stride_w"])
    a = K.ConvArgs(-3, 5, mult, rng.integers(-10, -7, cout), strides, _dilation(geo), tuple(sig["pads"]))
    a = dataclasses.replace(a, tile_pixels=sig.get("tile_pixels", 0))
    w = rng.integers(-128, 128, sig["w"]).astype(np.int8)
    bias = rng.integers(-2000, 2000, cout).astype(np.int32)
    data = getattr(weights, sig["layout"])(w) if sig.get("layout") else None
    if sig["op"] == "DEPTHWISE_CONV_2D":
        fn = sig.get("kernel", "hard_depthwise_conv_s8")
        K.add_depthwise(prog, fn, x, w, bias, a, cout // sig["x"][3], w_data=data)
        return
    fused = None
    if "fused_add" in sig:
        residual = rng.integers(-128, 128, sig["out"]).astype(np.int8)
        fused = K.FusedAddArgs(residual, quant.add_params(0.05, 3, 0.07, -2, 0.09, 1), sig["fused_add"])
    K.add_conv(prog, sig.get("kernel", "hard_convolve_s8"), x, w, bias, a, w_data=data, fused=fused)


def _dilation(geo: dict) -> tuple[int, int]:
    return geo["dilation_h_factor"], geo["dilation_w_factor"]


def _add_call(prog, rng: np.random.Generator, sig: dict) -> None:
    """The layer's kernel call with its exact geometry, random int8 data and quantisation (the
    tail: smooth logits)."""
    from hardtool.kernels import calls as K
    from hardtool.kernels import quant

    x = rng.integers(-128, 128, sig["x"]).astype(np.int8)
    geo, name = sig["geo"], sig["op"]
    if name in CONVS:
        _add_conv(prog, rng, sig, x)
    elif name == "ADD":
        y = rng.integers(-128, 128, sig["x"]).astype(np.int8)
        p = quant.add_params(0.05, 3, 0.07, -2, 0.09, 1)
        (K.add_add if sig.get("kernel") == "hard_elementwise_add_s8" else K.add_add_table)(prog, x, y, p)
    elif name == "AVERAGE_POOL_2D":
        k, s = (geo["filter_height"], geo["filter_width"]), (geo["stride_h"], geo["stride_w"])
        K.add_avgpool(prog, x, k, s, tuple(sig["pads"]))
    elif name == "RESIZE_BILINEAR":
        K.add_resize(prog, x, tuple(sig["out"][1:3]), sig["align"], sig["half_pixel"])
    else:
        logits = smooth_logits(rng, sig["x"])
        K.add_resize_argmax(prog, logits, tuple(sig["out"][1:3]), sig["align"], sig["half_pixel"])


def layer_counts(
    graph: Graph, core: str, cache: Path | None = None, dsp: bool | None = None, stage=None
) -> dict[str, int] | None:
    """{signature: instructions} of every counted layer of ``graph`` on ``core`` (through the
    kernels codegen chooses for it; ``dsp`` False: the portable ones, as the host template), from
    the cache or counted now in one runner program (None: no instruction-count plugin here).
    ``stage``: the plan's first stage (hardtool.memplan.stage.Stage), whose ops are counted per band."""
    from hardtool.core.boards import get_core
    from hardtool.device import icount
    from hardtool.device.kernel_runner import QemuRunner, build_qemu_runner
    from hardtool.kernels.runner import Program, cache_dir

    g, dsp = lower(graph), get_core(core).dsp if dsp is None else dsp
    sigs = sorted({s for s in _signatures(g, dsp, stage) if s is not None})
    elf = build_qemu_runner(None, True, core)
    path = Path(cache or cache_dir()) / f"fit_counts_{elf.stem}.json"
    known = json.loads(path.read_text()) if path.is_file() else {}
    todo = [s for s in sigs if s not in known]
    if todo:
        plugin, _ = icount.try_plugin()
        if plugin is None:
            return None
        prog, rng = Program(), np.random.default_rng(0)
        for s in todo:
            _add_call(prog, rng, json.loads(s))
        res = QemuRunner(elf, plugin, timeout=600.0, core=core).run(prog)
        known |= dict(zip(todo, res.counts, strict=True))
        atomic_write_json(path, known)
    return {s: int(known[s]) for s in sigs}


def frame_instructions(
    graph: Graph, counts: dict[str, int], dsp: bool = True, stage=None
) -> tuple[int, list[str]]:
    """(Σ per-layer counts, the ops left out of the estimate); ``dsp`` and ``stage`` as the
    counts were made."""
    g = lower(graph)
    sigs = _signatures(g, dsp, stage)
    left_out = sorted({op.name for op in g.ops if signature(g, op, dsp) is None})
    return sum(counts[s] for s in sigs if s is not None), left_out
