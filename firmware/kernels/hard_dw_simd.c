/*
 * hard_dw_simd.c - DEPTHWISE_CONV_2D (channel multiplier 1) four channels at a time.
 *
 * Per output pixel the kernel lists the input pixel of every tap; a tap in the padding points
 * at a row of input zero points instead (it then contributes nothing), so interior and border
 * pixels, any stride and any dilation run the same loop.  Per tap and four channels: one input
 * word and one filter word, widened with SXTAB16 (the input offset added on the way) and
 * SXTB16, then four 16x16 multiply-accumulates (SMLABB/SMLATT).  Requantisation once per
 * output with the single-multiply form when the layer allows it (hard_dsp.h).
 *
 * Two filter layouts:
 *   - 1HWC as TFLite stores it (hard_depthwise_conv_s8 dispatches here on ARMv7E-M);
 *   - "dw q15" for hard_depthwise_conv_3x3_s8: per group of four channels, per tap, the two
 *     words {w[c], w[c+2]}, {w[c+1], w[c+3]} as int16 (hardtool/kernels/weights.py), so the
 *     filter needs no widening in the loop.
 */
#include <string.h>

#include "hard_dsp.h"
#include "hard_dw_simd.h"

typedef struct
{
    int32_t a0;
    int32_t a1;
    int32_t a2;
    int32_t a3;
} hard_acc4;

/* Four channels of one tap: x and w each hold four int8 values. */
static inline hard_acc4 hard_dw_mac(hard_acc4 acc, int32_t x, int32_t offset2, int32_t w02, int32_t w13)
{
    const int32_t x02 = hard_sxtab16(offset2, x);
    const int32_t x13 = hard_sxtab16_ror8(offset2, x);
    acc.a0 = hard_smlabb(x02, w02, acc.a0);
    acc.a2 = hard_smlatt(x02, w02, acc.a2);
    acc.a1 = hard_smlabb(x13, w13, acc.a1);
    acc.a3 = hard_smlatt(x13, w13, acc.a3);
    return acc;
}

/* Input pointers of every tap of output pixel (oy, ox); padding taps point at g->pad. */
void hard_dw_taps(const hard_dw_geom *g, const int8_t *in, int32_t oy, int32_t ox, const int8_t **taps)
{
    const int32_t iy0 = oy * g->stride_h - g->pad_top;
    const int32_t ix0 = ox * g->stride_w - g->pad_left;
    int32_t t = 0;
    for (int32_t ky = 0; ky < g->k_h; ++ky)
    {
        const int32_t iy = iy0 + ky * g->dil_h;
        const int row_ok = iy >= 0 && iy < g->in_h;
        for (int32_t kx = 0; kx < g->k_w; ++kx)
        {
            const int32_t ix = ix0 + kx * g->dil_w;
            taps[t++] = row_ok && ix >= 0 && ix < g->in_w ? in + (iy * g->in_w + ix) * g->c : g->pad;
        }
    }
}

static inline void hard_dw_keep4(const hard_dw_geom *g, hard_acc4 acc, int32_t c)
{
    g->acc[c] = acc.a0;
    g->acc[c + 1] = acc.a1;
    g->acc[c + 2] = acc.a2;
    g->acc[c + 3] = acc.a3;
}

static inline hard_acc4 hard_dw_bias4(const hard_rq *rq, int32_t c)
{
    hard_acc4 acc = {rq[c].bias, rq[c + 1].bias, rq[c + 2].bias, rq[c + 3].bias};
    return acc;
}

/* Channels [c_end4, c) one at a time (c not a multiple of four). */
static void hard_dw_tail(const hard_dw_geom *g, const int8_t *const *taps, const int8_t *filter, int32_t c_begin)
{
    const int32_t n_taps = g->k_h * g->k_w;
    for (int32_t c = c_begin; c < g->c; ++c)
    {
        int32_t acc = g->rq[c].bias;
        for (int32_t t = 0; t < n_taps; ++t)
        {
            acc += filter[t * g->c + c] * (taps[t][c] + g->input_offset);
        }
        g->acc[c] = acc;
    }
}

/* One tap of four channels, filter 1HWC: the filter word widened here. */
static inline hard_acc4 hard_dw_tap_1hwc(hard_acc4 acc, const int8_t *tap, const int8_t *w, int32_t offset2)
{
    const int32_t wv = hard_read_s8x4(w);
    return hard_dw_mac(acc, hard_read_s8x4(tap), offset2, hard_sxtb16(wv), hard_sxtb16_ror8(wv));
}

/* Four channels of a 3x3 window, filter 1HWC (unrolled). */
static inline hard_acc4
hard_dw_3x3_1hwc(hard_acc4 acc, const int8_t *const *taps, int32_t c, const int8_t *w, int32_t stride, int32_t offset2)
{
    acc = hard_dw_tap_1hwc(acc, taps[0] + c, w, offset2);
    acc = hard_dw_tap_1hwc(acc, taps[1] + c, w + stride, offset2);
    acc = hard_dw_tap_1hwc(acc, taps[2] + c, w + 2 * stride, offset2);
    acc = hard_dw_tap_1hwc(acc, taps[3] + c, w + 3 * stride, offset2);
    acc = hard_dw_tap_1hwc(acc, taps[4] + c, w + 4 * stride, offset2);
    acc = hard_dw_tap_1hwc(acc, taps[5] + c, w + 5 * stride, offset2);
    acc = hard_dw_tap_1hwc(acc, taps[6] + c, w + 6 * stride, offset2);
    acc = hard_dw_tap_1hwc(acc, taps[7] + c, w + 7 * stride, offset2);
    return hard_dw_tap_1hwc(acc, taps[8] + c, w + 8 * stride, offset2);
}

/* One output pixel, filter 1HWC (tap t of channel c at filter[t * C + c]). */
void hard_dw_pixel_1hwc(const hard_dw_geom *g, const int8_t *const *taps, const int8_t *filter, int8_t *out)
{
    const int32_t n_taps = g->k_h * g->k_w;
    const int32_t offset2 = hard_dup_lanes(g->input_offset);
    const int32_t channels = g->c;
    int32_t *acc_out = g->acc;
    int32_t c = 0;
    for (; c + 4 <= channels; c += 4)
    {
        hard_acc4 acc = hard_dw_bias4(g->rq, c);
        if (n_taps == 9)
        {
            acc = hard_dw_3x3_1hwc(acc, taps, c, filter + c, channels, offset2);
        }
        else
        {
            for (int32_t t = 0; t < n_taps; ++t)
            {
                acc = hard_dw_tap_1hwc(acc, taps[t] + c, filter + t * channels + c, offset2);
            }
        }
        acc_out[c] = acc.a0;
        acc_out[c + 1] = acc.a1;
        acc_out[c + 2] = acc.a2;
        acc_out[c + 3] = acc.a3;
    }
    hard_dw_tail(g, taps, filter, c);
    hard_rq_store(&g->out, g->rq, acc_out, 1, channels, out);
}

/* One output pixel of a 3x3 kernel, filter in the dw q15 layout (README "Weight layouts"). */
void hard_dw_pixel_3x3_q15(const hard_dw_geom *g, const int8_t *const *taps, const int32_t *filter, int8_t *out)
{
    const int32_t offset2 = hard_dup_lanes(g->input_offset);
    const int32_t groups = g->c >> 2;
    int32_t c = 0;
    for (int32_t grp = 0; grp < groups; ++grp, c += 4)
    {
        hard_acc4 acc = hard_dw_bias4(g->rq, c);
        const int32_t *w = filter + grp * 18;
        acc = hard_dw_mac(acc, hard_read_s8x4(taps[0] + c), offset2, w[0], w[1]);
        acc = hard_dw_mac(acc, hard_read_s8x4(taps[1] + c), offset2, w[2], w[3]);
        acc = hard_dw_mac(acc, hard_read_s8x4(taps[2] + c), offset2, w[4], w[5]);
        acc = hard_dw_mac(acc, hard_read_s8x4(taps[3] + c), offset2, w[6], w[7]);
        acc = hard_dw_mac(acc, hard_read_s8x4(taps[4] + c), offset2, w[8], w[9]);
        acc = hard_dw_mac(acc, hard_read_s8x4(taps[5] + c), offset2, w[10], w[11]);
        acc = hard_dw_mac(acc, hard_read_s8x4(taps[6] + c), offset2, w[12], w[13]);
        acc = hard_dw_mac(acc, hard_read_s8x4(taps[7] + c), offset2, w[14], w[15]);
        acc = hard_dw_mac(acc, hard_read_s8x4(taps[8] + c), offset2, w[16], w[17]);
        hard_dw_keep4(g, acc, c);
    }
    /* Tail channels: the layout's last group holds them zero-padded to four. */
    for (; c < g->c; ++c)
    {
        const int32_t *w = filter + groups * 18;
        const int32_t lane = c & 3;
        int32_t acc = g->rq[c].bias;
        for (int32_t t = 0; t < 9; ++t)
        {
            const int32_t word = w[2 * t + (lane & 1)];
            const int32_t wv = (lane & 2) ? (int32_t)(int16_t)((uint32_t)word >> 16) : (int32_t)(int16_t)word;
            acc += wv * (taps[t][c] + g->input_offset);
        }
        g->acc[c] = acc;
    }
    hard_rq_store(&g->out, g->rq, g->acc, 1, g->c, out);
}

/* ------------------------------------------------------------ entry points */

static int hard_dw_simd_valid(const hard_dw_conv_params *p,
                              const hard_dims *in,
                              const hard_dims *f,
                              const hard_dims *out,
                              const hard_context *ctx)
{
    return hard_dims_valid(in) && hard_dims_valid(f) && hard_dims_valid(out) && p->ch_mult == 1 && f->n == 1 &&
           out->c == in->c && f->c == in->c && out->n == in->n && p->stride.h > 0 && p->stride.w > 0 &&
           p->dilation.h > 0 && p->dilation.w > 0 && p->padding.top >= 0 && p->padding.left >= 0 &&
           f->h * f->w <= HARD_DW_MAX_TAPS && hard_act_int8(&p->activation) &&
           hard_out_stride_valid(p->output_stride, out->c) && hard_ctx_ok(ctx, hard_dw_scratch_bytes(in->c));
}

static void hard_dw_geom_init(hard_dw_geom *g,
                              const hard_dw_conv_params *p,
                              const hard_per_channel_quant *quant,
                              const hard_dims *in,
                              const hard_dims *f,
                              const int32_t *bias,
                              void *scratch)
{
    int8_t *pad = (int8_t *)scratch;
    hard_rq *table = (hard_rq *)(void *)(pad + (in->c + 3) / 4 * 4);
    g->in_h = in->h;
    g->in_w = in->w;
    g->c = in->c;
    g->k_h = f->h;
    g->k_w = f->w;
    g->stride_h = p->stride.h;
    g->stride_w = p->stride.w;
    g->dil_h = p->dilation.h;
    g->dil_w = p->dilation.w;
    g->pad_top = p->padding.top;
    g->pad_left = p->padding.left;
    g->input_offset = p->input_offset;
    g->bias = bias;
    g->out.offset = p->output_offset;
    g->out.act_min = p->activation.min;
    g->out.act_max = p->activation.max;
    hard_rq_prepare(quant, bias, in->c, f->h * f->w, table, &g->out);
    g->rq = table;
    g->acc = (int32_t *)(void *)(table + in->c);
    memset(pad, (int)(int8_t)(-p->input_offset), (size_t)in->c);
    g->pad = pad;
}

hard_status hard_dw_simd_1hwc(const hard_context *ctx,
                              const hard_dw_conv_params *params,
                              const hard_per_channel_quant *quant,
                              const hard_dims *input_dims,
                              const int8_t *input,
                              const hard_dims *filter_dims,
                              const int8_t *filter,
                              const int32_t *bias,
                              const hard_dims *output_dims,
                              int8_t *output)
{
    if (!hard_dw_simd_valid(params, input_dims, filter_dims, output_dims, ctx))
    {
        return HARD_ARG_ERROR;
    }
    hard_dw_geom g;
    const int8_t *taps[HARD_DW_MAX_TAPS];
    hard_dw_geom_init(&g, params, quant, input_dims, filter_dims, bias, ctx->buf);
    const int32_t ostride = hard_out_stride(params->output_stride, output_dims->c);
    const int32_t in_size = input_dims->h * input_dims->w * input_dims->c;
    for (int32_t b = 0; b < input_dims->n; ++b)
    {
        const int8_t *in = input + b * in_size;
        int8_t *out = output + b * output_dims->h * output_dims->w * ostride;
        for (int32_t oy = 0; oy < output_dims->h; ++oy)
        {
            for (int32_t ox = 0; ox < output_dims->w; ++ox)
            {
                hard_dw_taps(&g, in, oy, ox, taps);
                hard_dw_pixel_1hwc(&g, taps, filter, out);
                out += ostride;
            }
        }
    }
    return HARD_OK;
}

int32_t hard_depthwise_conv_3x3_s8_get_buffer_size(const hard_dims *input_dims)
{
    return hard_dw_scratch_bytes(input_dims->c);
}

hard_status hard_depthwise_conv_3x3_s8(const hard_context *ctx,
                                       const hard_dw_conv_params *dw_conv_params,
                                       const hard_per_channel_quant *quant_params,
                                       const hard_dims *input_dims,
                                       const int8_t *input,
                                       const hard_dims *filter_dims,
                                       const int8_t *filter,
                                       const int32_t *bias,
                                       const hard_dims *output_dims,
                                       int8_t *output)
{
    if (!hard_dw_simd_valid(dw_conv_params, input_dims, filter_dims, output_dims, ctx) || filter_dims->h != 3 ||
        filter_dims->w != 3 || ((uintptr_t)filter & 3u) != 0)
    {
        return HARD_ARG_ERROR;
    }
    hard_dw_geom g;
    const int8_t *taps[9];
    hard_dw_geom_init(&g, dw_conv_params, quant_params, input_dims, filter_dims, bias, ctx->buf);
    const int32_t ostride = hard_out_stride(dw_conv_params->output_stride, output_dims->c);
    const int32_t *w = (const int32_t *)(const void *)filter;
    const int32_t in_size = input_dims->h * input_dims->w * input_dims->c;
    for (int32_t b = 0; b < input_dims->n; ++b)
    {
        const int8_t *in = input + b * in_size;
        int8_t *out = output + b * output_dims->h * output_dims->w * ostride;
        for (int32_t oy = 0; oy < output_dims->h; ++oy)
        {
            for (int32_t ox = 0; ox < output_dims->w; ++ox)
            {
                hard_dw_taps(&g, in, oy, ox, taps);
                hard_dw_pixel_3x3_q15(&g, taps, w, out);
                out += ostride;
            }
        }
    }
    return HARD_OK;
}
