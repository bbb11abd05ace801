"""`hardtool codegen --tune`: every CONV_2D signature of the model counted exactly with each
candidate kernel / filter layout / GEMM tile on the emulated Cortex-M7 (the kernel runner and the
instruction-count plugin), with the layer's own filter, bias and quantisation and a random input;
the fastest is cached by signature (hardtool/ops/conv_tuned.json) and the conv record chooses it.
All candidates' outputs must agree (each is checked against TFLite's reference kernels by the
test suite); a layer where they do not is an error, nothing is cached."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import click
import numpy as np

from hardtool.codegen.cli import codegen_cmd as plain_codegen_cmd
from hardtool.codegen.generate import load_graph
from hardtool.core.errors import HardtoolError
from hardtool.core.files import atomic_write_json
from hardtool.core.graph.ir import Graph, Op
from hardtool.device.icount import build_plugin
from hardtool.device.kernel_runner import QemuRunner, build_qemu_runner
from hardtool.kernels import calls as K
from hardtool.kernels import quant as Q
from hardtool.kernels.runner import Program, cache_dir
from hardtool.kernels.weights import gemm_q15_pairs
from hardtool.ops import conv_grouped, conv_tune

BOARD = "qemu mps2-an500 (emulated Cortex-M7), exact instructions (TCG plugin)"


def _conv_args(g: Graph, op: Op) -> K.ConvArgs:
    """The layer's own quantisation and geometry as the kernel runner's arguments."""
    x, w, y = (g.tensors[i] for i in (op.inputs[0], op.inputs[1], op.outputs[0]))
    cout = w.shape[0]
    scales = list(w.quant.scale) if len(w.quant.scale) > 1 else [w.quant.scale[0]] * cout
    mults, shifts = Q.conv_channel_params(x.quant.scale[0], scales, y.quant.scale[0])
    o = op.options
    act = Q.activation_range(
        o.get("fused_activation_function", "NONE"), y.quant.scale[0], y.quant.zero_point[0]
    )
    return K.ConvArgs(
        int(x.quant.zero_point[0]),
        int(y.quant.zero_point[0]),
        mults,
        shifts,
        (o.get("stride_h", 1), o.get("stride_w", 1)),
        (o.get("dilation_h_factor", 1), o.get("dilation_w_factor", 1)),
        tuple(o.get("explicit_padding", (0, 0, 0, 0))),
        act,
    )


def measure_layer(g: Graph, op: Op, elf: Path, plugin: Path) -> dict:
    """One signature's cache entry: each candidate's exact instructions and the fastest."""
    x_t, w_t = g.tensors[op.inputs[0]], g.tensors[op.inputs[1]]
    bias = g.tensors[op.inputs[2]].data.astype(np.int32) if len(op.inputs) > 2 and op.inputs[2] >= 0 else None
    x = np.random.default_rng(0).integers(-128, 128, x_t.shape).astype(np.int8)
    w = np.ascontiguousarray(w_t.data.astype(np.int8))
    a = _conv_args(g, op)
    prog = Program()
    cands = conv_tune.candidates(g, op)
    bufs = [
        K.add_conv(
            prog,
            c.kernel,
            x,
            w,
            bias,
            dataclasses.replace(a, tile_pixels=c.tile_pixels),
            w_data=gemm_q15_pairs(w) if c.layout else None,
        )
        for c in cands
    ]
    res = QemuRunner(elf, plugin).run(prog)
    res.check(prog.names)
    outs = [res.get(b) for b in bufs]
    if not all(np.array_equal(outs[0], o) for o in outs[1:]):
        raise HardtoolError(f"op #{op.index}: the candidate kernels disagree; nothing cached")
    macs = int(np.prod(g.tensors[op.outputs[0]].shape)) * int(np.prod(w.shape[1:]))
    index = {b.offset: i for i, b in enumerate(prog.outputs)}  # one call per output
    counts = {c.name: int(res.counts[index[b.offset]]) for c, b in zip(cands, bufs, strict=True)}
    return {
        "macs": macs,
        "candidates": {c.name: {"kernel": c.kernel, "layout": c.layout, "tile": c.tile} for c in cands},
        "instructions": counts,
        "instructions_per_mac": {k: round(c / macs, 4) for k, c in counts.items()},
        "chosen": min(counts, key=lambda k: (counts[k], k)),
    }


def tune_graph(g: Graph, path: Path | None = None, log: Callable[[str], None] = print) -> dict:
    """Measure every CONV_2D signature of ``g`` not yet in the cache at ``path`` (default:
    conv_tune.cache_path()); write it back. Returns the model's entries."""
    path = path or conv_tune.cache_path()
    cached = dict(conv_tune.load_cache(path))
    todo = {}
    for op in g.ops:
        if op.name == "CONV_2D" and not conv_grouped.is_grouped(g, op):
            todo.setdefault(conv_tune.signature(g, op), op)
    new = {
        s: op
        for s, op in todo.items()
        if s not in cached or conv_tune.stale(cached[s], conv_tune.candidates(g, op))
    }
    if new:
        elf, plugin = build_qemu_runner(cache_dir(), dsp=True), build_plugin()
        for sig, op in new.items():
            cached[sig] = entry = measure_layer(g, op, elf, plugin)
            per = entry["instructions_per_mac"]
            log(
                f"tuned {sig}: {entry['chosen']} ({', '.join(f'{k} {v:.2f}' for k, v in per.items())} instr/MAC)"
            )
        doc = {"board": BOARD, "runner": elf.name, "layers": dict(sorted(cached.items()))}
        atomic_write_json(path, doc)  # runner: the kernels' source digest the counts were taken with
    return {s: cached[s] for s in todo}


def _with_tune(base: click.Command) -> click.Command:
    """The codegen command with --tune: measure the model's conv signatures first."""

    def callback(tune: bool, **kw):
        if tune and kw.get("runtime", "hardtool") == "hardtool":
            got = tune_graph(load_graph(Path(kw["model"])), log=lambda s: click.echo(s, err=True))
            click.echo(f"{len(got)} conv signatures measured or cached in {conv_tune.cache_path()}", err=True)
        return base.callback(**kw)

    opt = click.Option(
        ["--tune"],
        is_flag=True,
        help="Count every conv layer signature's candidate kernels on the emulated Cortex-M7 first "
        "(those not in the cache hardtool/ops/conv_tuned.json, or $HARDTOOL_CONV_TUNE_CACHE) and choose "
        "the fastest; without it the cached (or rule-based) choice is used.",
    )
    return click.Command(base.name, params=[*base.params, opt], callback=callback, help=base.help)


codegen_cmd = _with_tune(plain_codegen_cmd)
