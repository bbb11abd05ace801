"""One lowered-graph op → the C that runs it: constant declarations (flash) and a kernel call.

Every integer parameter is derived here from the .tflite's float scales with the same
arithmetic as TFLite's kernel Prepare functions (codegen.quant), so the C never touches floats
and matches the reference kernels bit for bit."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from hardtool.codegen import quant as Q
from hardtool.codegen.emit import c_array
from hardtool.errors import HardtoolError
from hardtool.graph.ir import Graph, Op, Tensor

SUPPORTED = (
    "CONV_2D",
    "DEPTHWISE_CONV_2D",
    "AVERAGE_POOL_2D",
    "MAX_POOL_2D",
    "MEAN",
    "ADD",
    "MUL",
    "CONCATENATION",
    "PAD",
    "RESIZE_BILINEAR",
    "RESIZE_NEAREST_NEIGHBOR",
    "QUANTIZE",
    "RESHAPE",
    "ARG_MAX",
    "HARD_RESIZE_ARGMAX",
)


@dataclass
class Layer:
    index: int  # position in execution order
    op: int  # op index in the lowered graph
    name: str  # for profiles: "CONV_2D#3"
    decls: list[str] = field(default_factory=list)
    call: str = ""
    macs: int = 0


def _scale(t: Tensor) -> float:
    return float(t.quant.scale[0])


def _zp(t: Tensor) -> int:
    return int(t.quant.zero_point[0])


def _dims(shape) -> str:
    s = list(shape)
    while len(s) < 4:
        s.insert(1, 1)
    return "{%d, %d, %d, %d}" % tuple(s)


def _act(op: Op, out: Tensor) -> tuple[int, int]:
    return Q.activation_range(str(op.options.get("fused_activation_function", "NONE")), _scale(out), _zp(out))


class LayerWriter:
    """Turns ops into C; ``ptr(t)`` gives the C expression of a tensor's buffer."""

    def __init__(self, graph: Graph, ptr, scratch, labels_expr: str):
        self.g = graph
        self.ptr = ptr  # tensor index -> C pointer expression (int8_t *)
        self.scratch = scratch  # op index -> (C pointer expression, size) or None
        self.labels = labels_expr

    def layer(self, step: int, op: Op) -> Layer:
        if op.name not in SUPPORTED:
            raise HardtoolError(
                f"op #{op.index} {op.name} has no int8 kernel in hardtool's runtime "
                f"(supported: {', '.join(SUPPORTED)})"
            )
        L = Layer(step, op.index, f"{op.name}#{op.index}")
        getattr(self, "_" + op.name.lower())(op, L, f"l{step}")
        return L

    def _ctx(self, op: Op) -> str:
        s = self.scratch(op.index)
        return "{NULL, 0}" if s is None else "{%s, %d}" % s

    def _t(self, i: int) -> Tensor:
        return self.g.tensors[i]

    # ---------------------------------------------------------------- convolutions
    def _conv_common(
        self, op: Op, L: Layer, p: str, depthwise: bool
    ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        x, w, y = self._t(op.inputs[0]), self._t(op.inputs[1]), self._t(op.outputs[0])
        b = self._t(op.inputs[2]) if len(op.inputs) > 2 and op.inputs[2] >= 0 else None
        cout = y.shape[-1]
        fscales = list(w.quant.scale) if len(w.quant.scale) > 1 else [w.quant.scale[0]] * cout
        mult, shift = Q.conv_channel_params(_scale(x), fscales, _scale(y))
        L.decls += [
            c_array(f"{p}_w", w.data.astype(np.int8)),
            c_array(f"{p}_mult", np.asarray(mult, np.int32)),
            c_array(f"{p}_shift", np.asarray(shift, np.int32)),
        ]
        if b is not None:
            L.decls.append(c_array(f"{p}_b", b.data.astype(np.int32)))
        kh, kw = w.shape[1], w.shape[2]
        L.macs = int(np.prod(y.shape)) * kh * kw * (1 if depthwise else w.shape[3])
        return x, w, b, y

    def _conv_2d(self, op: Op, L: Layer, p: str) -> None:
        x, w, b, y = self._conv_common(op, L, p, False)
        if w.shape[3] != x.shape[3]:
            raise HardtoolError(
                f"op #{op.index} CONV_2D is grouped ({x.shape[3]} input channels, filter "
                f"{w.shape[3]}); re-quantize with hardtool quantize, which rewrites it as depthwise"
            )
        o = op.options
        t, bo, le, r = o["explicit_padding"]
        amin, amax = _act(op, y)
        L.decls.append(
            f"static const hard_conv_params {p}_p = {{{-_zp(x)}, {_zp(y)}, {{{o.get('stride_h', 1)}, {o.get('stride_w', 1)}}}, "
            f"{{{o.get('dilation_h_factor', 1)}, {o.get('dilation_w_factor', 1)}}}, {{{t}, {bo}, {le}, {r}}}, {{{amin}, {amax}}}}};"
        )
        L.call = (
            f"{{ static const hard_per_channel_quant q = {{{p}_mult, {p}_shift}};\n"
            f"    static const hard_dims in = {_dims(x.shape)}, f = {_dims(w.shape)}, out = {_dims(y.shape)};\n"
            f"    const hard_context ctx = {self._ctx(op)};\n"
            f"    st = hard_convolve_s8(&ctx, &{p}_p, &q, &in, {self.ptr(x.index)}, &f, {p}_w, "
            f"{p + '_b' if b is not None else 'NULL'}, &out, {self.ptr(y.index)}); }}"
        )

    def _depthwise_conv_2d(self, op: Op, L: Layer, p: str) -> None:
        x, w, b, y = self._conv_common(op, L, p, True)
        o = op.options
        t, bo, le, r = o["explicit_padding"]
        amin, amax = _act(op, y)
        mult = y.shape[-1] // x.shape[-1]
        L.decls.append(
            f"static const hard_dw_conv_params {p}_p = {{{-_zp(x)}, {_zp(y)}, {mult}, {{{o.get('stride_h', 1)}, {o.get('stride_w', 1)}}}, "
            f"{{{o.get('dilation_h_factor', 1)}, {o.get('dilation_w_factor', 1)}}}, {{{t}, {bo}, {le}, {r}}}, {{{amin}, {amax}}}}};"
        )
        L.call = (
            f"{{ static const hard_per_channel_quant q = {{{p}_mult, {p}_shift}};\n"
            f"    static const hard_dims in = {_dims(x.shape)}, f = {_dims(w.shape)}, out = {_dims(y.shape)};\n"
            f"    const hard_context ctx = {self._ctx(op)};\n"
            f"    st = hard_depthwise_conv_s8(&ctx, &{p}_p, &q, &in, {self.ptr(x.index)}, &f, {p}_w, "
            f"{p + '_b' if b is not None else 'NULL'}, &out, {self.ptr(y.index)}); }}"
        )

    # ---------------------------------------------------------------- pooling / mean
    def _pool(self, op: Op, L: Layer, p: str, fn: str) -> None:
        x, y = self._t(op.inputs[0]), self._t(op.outputs[0])
        o = op.options
        t, bo, le, r = o["explicit_padding"]
        amin, amax = _act(op, y)
        L.decls.append(
            f"static const hard_pool_params {p}_p = {{{{{o['stride_h']}, {o['stride_w']}}}, "
            f"{{{t}, {bo}, {le}, {r}}}, {{{amin}, {amax}}}}};"
        )
        L.call = (
            f"{{ static const hard_dims in = {_dims(x.shape)}, f = {{1, {o['filter_height']}, {o['filter_width']}, 1}}, "
            f"out = {_dims(y.shape)};\n    const hard_context ctx = {self._ctx(op)};\n"
            f"    st = {fn}(&ctx, &{p}_p, &in, {self.ptr(x.index)}, &f, &out, {self.ptr(y.index)}); }}"
        )

    def _average_pool_2d(self, op: Op, L: Layer, p: str) -> None:
        self._pool(op, L, p, "hard_avgpool_s8")

    def _max_pool_2d(self, op: Op, L: Layer, p: str) -> None:
        self._pool(op, L, p, "hard_max_pool_s8")

    def _mean(self, op: Op, L: Layer, p: str) -> None:
        x, y = self._t(op.inputs[0]), self._t(op.outputs[0])
        axes = sorted(int(a) % 4 for a in np.ravel(self._t(op.inputs[1]).data))
        if axes != [1, 2] or len(y.shape) != 4:
            raise HardtoolError(
                f"op #{op.index} MEAN over axes {axes} (keep_dims={len(y.shape) == 4}); "
                "only MEAN over H and W with keep_dims is supported"
            )
        rp = Q.mean_params(_scale(x), _zp(x), _scale(y), _zp(y))
        L.decls.append(
            f"static const hard_mean_params {p}_p = {{{rp.input_offset}, {rp.output_offset}, "
            f"{{{rp.multiplier}, {rp.shift}}}}};"
        )
        L.call = (
            f"{{ static const hard_dims in = {_dims(x.shape)};\n    const hard_context ctx = {self._ctx(op)};\n"
            f"    st = hard_mean_hw_s8(&ctx, &{p}_p, &in, {self.ptr(x.index)}, {self.ptr(y.index)}); }}"
        )

    # ---------------------------------------------------------------- elementwise
    def _binary(self, op: Op) -> tuple[Tensor, Tensor, Tensor]:
        a, b, y = self._t(op.inputs[0]), self._t(op.inputs[1]), self._t(op.outputs[0])
        if a.shape != b.shape or a.shape != y.shape or a.is_constant or b.is_constant:
            raise HardtoolError(
                f"op #{op.index} {op.name} broadcasts {a.shape} with {b.shape}; "
                "only same-shape activations are supported"
            )
        return a, b, y

    def _add(self, op: Op, L: Layer, p: str) -> None:
        a, b, y = self._binary(op)
        ap = Q.add_params(_scale(a), _zp(a), _scale(b), _zp(b), _scale(y), _zp(y))
        amin, amax = _act(op, y)
        L.decls.append(
            f"static const hard_add_params {p}_p = {{{ap.input1_offset}, {ap.input1_multiplier}, {ap.input1_shift}, "
            f"{ap.input2_offset}, {ap.input2_multiplier}, {ap.input2_shift}, {ap.left_shift}, "
            f"{ap.output_offset}, {ap.output_multiplier}, {ap.output_shift}, {{{amin}, {amax}}}}};"
        )
        L.call = (
            f"st = hard_elementwise_add_s8(&{p}_p, {self.ptr(a.index)}, {self.ptr(b.index)}, "
            f"{self.ptr(y.index)}, {int(np.prod(y.shape))});"
        )

    def _mul(self, op: Op, L: Layer, p: str) -> None:
        a, b, y = self._binary(op)
        o1, o2, rp = Q.mul_params(_scale(a), _zp(a), _scale(b), _zp(b), _scale(y), _zp(y))
        amin, amax = _act(op, y)
        L.decls.append(
            f"static const hard_mul_params {p}_p = {{{o1}, {o2}, {rp.output_offset}, "
            f"{{{rp.multiplier}, {rp.shift}}}, {{{amin}, {amax}}}}};"
        )
        L.call = (
            f"st = hard_elementwise_mul_s8(&{p}_p, {self.ptr(a.index)}, {self.ptr(b.index)}, "
            f"{self.ptr(y.index)}, {int(np.prod(y.shape))});"
        )

    def _quantize(self, op: Op, L: Layer, p: str) -> None:
        x, y = self._t(op.inputs[0]), self._t(op.outputs[0])
        if x.dtype != "int8" or y.dtype != "int8":
            raise HardtoolError(
                f"op #{op.index} QUANTIZE from {x.dtype} to {y.dtype}; only int8 → int8 is supported"
            )
        rp = Q.requantize_params(_scale(x), _zp(x), _scale(y), _zp(y))
        L.decls.append(
            f"static const hard_requant_params {p}_p = {{{rp.input_offset}, {rp.output_offset}, "
            f"{{{rp.multiplier}, {rp.shift}}}}};"
        )
        L.call = f"st = hard_requantize_s8(&{p}_p, {self.ptr(x.index)}, {self.ptr(y.index)}, {int(np.prod(y.shape))});"

    def _concatenation(self, op: Op, L: Layer, p: str) -> None:
        y = self._t(op.outputs[0])
        axis = int(op.options.get("axis", -1)) % len(y.shape)
        if axis != len(y.shape) - 1:
            raise HardtoolError(
                f"op #{op.index} CONCATENATION along axis {axis}; only the channel axis is supported"
            )
        entries = []
        for i in op.inputs:
            x = self._t(i)
            rp = Q.requantize_params(_scale(x), _zp(x), _scale(y), _zp(y))
            entries.append(
                f"{{{self.ptr(i)}, {x.shape[-1]}, {{{rp.input_offset}, {rp.output_offset}, "
                f"{{{rp.multiplier}, {rp.shift}}}}}}}"
            )
        rows = int(np.prod(y.shape[:-1]))
        L.call = (
            f"{{ const hard_concat_input in[{len(entries)}] = {{\n      "
            + ",\n      ".join(entries)
            + f"}};\n    st = hard_concatenation_c_s8(in, {len(entries)}, {rows}, {self.ptr(y.index)}); }}"
        )

    def _pad(self, op: Op, L: Layer, p: str) -> None:
        x, y = self._t(op.inputs[0]), self._t(op.outputs[0])
        pads = np.asarray(self._t(op.inputs[1]).data).reshape(-1, 2)
        if len(x.shape) != 4 or pads[0].any() or pads[3].any():
            raise HardtoolError(
                f"op #{op.index} PAD pads batch or channels; only H and W padding is supported"
            )
        L.decls.append(
            f"static const hard_pad_params {p}_p = {{{{{pads[1, 0]}, {pads[1, 1]}, {pads[2, 0]}, "
            f"{pads[2, 1]}}}, {_zp(y)}}};"
        )
        L.call = (
            f"{{ static const hard_dims in = {_dims(x.shape)}, out = {_dims(y.shape)};\n"
            f"    st = hard_pad_s8(&{p}_p, &in, {self.ptr(x.index)}, &out, {self.ptr(y.index)}); }}"
        )

    def _resize(self, op: Op, L: Layer, p: str, fn: str) -> None:
        x, y = self._t(op.inputs[0]), self._t(op.outputs[0])
        o = op.options
        L.decls.append(
            f"static const hard_resize_params {p}_p = {{{int(bool(o.get('align_corners')))}, "
            f"{int(bool(o.get('half_pixel_centers')))}}};"
        )
        L.call = (
            f"{{ static const hard_dims in = {_dims(x.shape)}, out = {_dims(y.shape)};\n"
            f"    st = {fn}(&{p}_p, &in, {self.ptr(x.index)}, &out, {self.ptr(y.index)}); }}"
        )

    def _resize_bilinear(self, op: Op, L: Layer, p: str) -> None:
        self._resize(op, L, p, "hard_resize_bilinear_s8")

    def _resize_nearest_neighbor(self, op: Op, L: Layer, p: str) -> None:
        self._resize(op, L, p, "hard_resize_nearest_s8")

    def _reshape(self, op: Op, L: Layer, p: str) -> None:
        x, y = self._t(op.inputs[0]), self._t(op.outputs[0])
        L.call = (
            f"if ((const void *){self.ptr(x.index)} != (const void *){self.ptr(y.index)}) "
            f"memmove({self.ptr(y.index)}, {self.ptr(x.index)}, {x.nbytes});"
        )

    def _arg_max(self, op: Op, L: Layer, p: str) -> None:
        x = self._t(op.inputs[0])
        if op.outputs[0] not in self.g.outputs:
            raise HardtoolError(
                f"op #{op.index} ARG_MAX inside the graph; only a final ARG_MAX (label map) is supported"
            )
        L.call = f"{{ static const hard_dims in = {_dims(x.shape)};\n    st = hard_argmax_c_s8(&in, {self.ptr(x.index)}, {self.labels}); }}"

    def _hard_resize_argmax(self, op: Op, L: Layer, p: str) -> None:
        x = self._t(op.inputs[0])
        o = op.options
        L.decls.append(
            f"static const hard_resize_params {p}_p = {{{int(bool(o.get('align_corners')))}, "
            f"{int(bool(o.get('half_pixel_centers')))}}};"
        )
        L.call = (
            f"{{ static const hard_dims in = {_dims(x.shape)}, out = {{1, {o['output_height']}, {o['output_width']}, "
            f"{o['num_classes']}}};\n    const hard_context ctx = {self._ctx(op)};\n"
            f"    st = hard_resize_bilinear_argmax_s8(&ctx, &{p}_p, &in, {self.ptr(x.index)}, &out, {self.labels}); }}"
        )
