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
 *   - "dw q15" for hard_depthwise_conv_3x3_s8 (hardtool/kernels/weights.py): per group of four
 *     channels, per pair of taps (0, 1), (2, 3), (4, 5), (6, 7), the four words
 *     {w[t][c + j], w[t + 1][c + j]} as int16, then tap 8's {w[c], w[c+2]}, {w[c+1], w[c+3]}.
 *     The 3x3 kernel pairs the two taps' input bytes of each channel with PKHBT/PKHTB, widens
 *     them with SXTB16 and multiplies both taps with one SMLAD: per tap pair and four channels
 *     two input words, two PKH, four SXTB16, four filter words and four SMLAD.  The input
 *     offset is folded into the accumulator's start (bias + offset * sum of the channel's
 *     weights; a padding tap reads the zero point, -offset, and so still contributes nothing),
 *     and the four accumulators are requantised from registers.
 */
#include <string.h>

#include "hard_dsp.h"
#include "hard_dw_simd.h"

/* GCC hoists the next pairs' loads above the multiplies and runs out of registers; an empty asm
 * on the accumulators after each pair keeps the loads where they are used. */
#if HARD_DSP
#define HARD_KEEP4(acc) __asm volatile("" : "+r"((acc).a0), "+r"((acc).a1), "+r"((acc).a2), "+r"((acc).a3))
#else
#define HARD_KEEP4(acc) (void)0
#endif

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

/* Four channels of the tap pair whose input words are a and b (no input offset), filter words w. */
HARD_HOT hard_acc4 hard_dw_mac_pair(hard_acc4 acc, int32_t a, int32_t b, const int32_t *w)
{
    const int32_t lo = hard_pkhbt_lsl16(a, b); /* bytes a0 a1 b0 b1 */
    const int32_t hi = hard_pkhtb_asr16(b, a); /* bytes a2 a3 b2 b3 */
    int32_t w0;
    int32_t w1;
    hard_read_word_pair(w, &w0, &w1);
    acc.a0 = hard_smlad(hard_sxtb16(lo), w0, acc.a0);
    acc.a1 = hard_smlad(hard_sxtb16_ror8(lo), w1, acc.a1);
    hard_read_word_pair(w + 2, &w0, &w1);
    acc.a2 = hard_smlad(hard_sxtb16(hi), w0, acc.a2);
    acc.a3 = hard_smlad(hard_sxtb16_ror8(hi), w1, acc.a3);
    HARD_KEEP4(acc);
    return acc;
}

/* Four channels of the ninth tap (no input offset), filter words {w[c], w[c+2]}, {w[c+1], w[c+3]}. */
HARD_HOT hard_acc4 hard_dw_mac_last(hard_acc4 acc, int32_t x, const int32_t *w)
{
    const int32_t x02 = hard_sxtb16(x);
    const int32_t x13 = hard_sxtb16_ror8(x);
    int32_t w02;
    int32_t w13;
    hard_read_word_pair(w, &w02, &w13);
    acc.a0 = hard_smlabb(x02, w02, acc.a0);
    acc.a2 = hard_smlatt(x02, w02, acc.a2);
    acc.a1 = hard_smlabb(x13, w13, acc.a1);
    acc.a3 = hard_smlatt(x13, w13, acc.a3);
    return acc;
}

/* Weight of tap t, channel c in the dw q15 layout. */
static int32_t hard_dw_q15_weight(const int32_t *filter, int32_t t, int32_t c)
{
    const int32_t *w = filter + (c >> 2) * 18;
    const int32_t lane = c & 3;
    const int32_t word = t < 8 ? w[(t >> 1) * 4 + lane] : w[16 + (lane & 1)];
    const int32_t high = t < 8 ? (t & 1) : (lane >> 1);
    return high ? (int32_t)(int16_t)((uint32_t)word >> 16) : (int32_t)(int16_t)word;
}

/* One output from its doubled accumulator: the fast requantisation with the output offset
 * already in the table's rounding term (hard_dw_fold), saturated and clamped. */
HARD_HOT int8_t hard_dw_rq(int32_t acc2, const hard_rq *q, const hard_out_stage *s, const int full_range)
{
    const int32_t v = hard_ssat8((hard_smmlar(acc2, q->mult, q->round_hi) + (acc2 >> 31)) >> q->rshift);
    return (int8_t)(full_range ? v : hard_clamp_i32(v, s->act_min, s->act_max));
}

/* Four channels of the window: the taps in pairs, then the ninth. */
HARD_HOT hard_acc4 hard_dw_window(hard_acc4 acc, const int8_t *const *taps, int32_t c, const int32_t *w)
{
    acc = hard_dw_mac_pair(acc, hard_read_s8x4(taps[0] + c), hard_read_s8x4(taps[1] + c), w);
    acc = hard_dw_mac_pair(acc, hard_read_s8x4(taps[2] + c), hard_read_s8x4(taps[3] + c), w + 4);
    acc = hard_dw_mac_pair(acc, hard_read_s8x4(taps[4] + c), hard_read_s8x4(taps[5] + c), w + 8);
    acc = hard_dw_mac_pair(acc, hard_read_s8x4(taps[6] + c), hard_read_s8x4(taps[7] + c), w + 12);
    return hard_dw_mac_last(acc, hard_read_s8x4(taps[8] + c), w + 16);
}

/* One output pixel of a 3x3 kernel, its taps at taps[t] + off, filter in the dw q15 layout
 * (weights doubled, so the accumulators hold twice the sum).  mode 0: fast requantisation from registers, full range;
 * 1: the same, clamped; 2: the accumulators halved, plus the bias, through hard_rq_store. */
HARD_HOT void hard_dw_pixel_pairs(
    const hard_dw_geom *g, const int8_t *const *taps, int32_t off, const int32_t *filter, int8_t *out, const int mode)
{
    const hard_rq *q = g->rq;
    const int32_t c4 = g->c & ~3;
    const hard_acc4 zero = {0, 0, 0, 0};
    int32_t c = 0;
    for (; c < c4; c += 4, filter += 18)
    {
        hard_acc4 acc = hard_dw_window(mode == 2 ? zero : hard_dw_bias4(q, c), taps, off + c, filter);
        if (mode == 2)
        {
            acc.a0 = q[c].bias + (acc.a0 >> 1);
            acc.a1 = q[c + 1].bias + (acc.a1 >> 1);
            acc.a2 = q[c + 2].bias + (acc.a2 >> 1);
            acc.a3 = q[c + 3].bias + (acc.a3 >> 1);
            hard_dw_keep4(g, acc, c);
            continue;
        }
        out[c] = hard_dw_rq(acc.a0, q + c, &g->out, mode == 0);
        out[c + 1] = hard_dw_rq(acc.a1, q + c + 1, &g->out, mode == 0);
        out[c + 2] = hard_dw_rq(acc.a2, q + c + 2, &g->out, mode == 0);
        out[c + 3] = hard_dw_rq(acc.a3, q + c + 3, &g->out, mode == 0);
    }
    for (; c < g->c; ++c) /* the layout's last group holds them zero-padded to four */
    {
        int32_t acc2 = mode == 2 ? 0 : q[c].bias;
        for (int32_t t = 0; t < 9; ++t)
        {
            acc2 += hard_dw_q15_weight(filter - (c4 >> 2) * 18, t, c) * taps[t][off + c];
        }
        if (mode == 2)
        {
            g->acc[c] = q[c].bias + (acc2 >> 1);
            continue;
        }
        out[c] = hard_dw_rq(acc2, q + c, &g->out, mode == 0);
    }
    if (mode == 2)
    {
        hard_rq_store(&g->out, q, g->acc, 1, g->c, out);
    }
}

/* The doubled weight sums of channels c .. c + 3 from one group of the layout. */
static void hard_dw_group_sums(const int32_t *w, int32_t sums[4])
{
    for (int32_t j = 0; j < 4; ++j)
    {
        int32_t s = 0;
        for (int32_t p = 0; p < 4; ++p)
        {
            const int32_t word = w[4 * p + j];
            s += (int32_t)(int16_t)word + (int32_t)(int16_t)((uint32_t)word >> 16);
        }
        const int32_t last = w[16 + (j & 1)];
        sums[j] = s + (j < 2 ? (int32_t)(int16_t)last : (int32_t)(int16_t)((uint32_t)last >> 16));
    }
}

/* The 3x3 kernel's table: each bias takes the input offset (bias + offset * the channel's
 * weight sum; the doubled filter's sum halved).  When the fast requantisation applies and every
 * shift is at most 22 (so that offset * 2^shift + 2^30 stays inside 32 bits), the bias is
 * doubled like the accumulators and the output offset moves into the rounding term:
 * ((t + 2^(e-1)) >> e) + offset == (t + 2^(e-1) + offset * 2^e) >> e.  Returns the pixel mode. */
static int hard_dw_fold(const hard_dw_geom *g, hard_rq *table, const int32_t *filter)
{
    int fold = g->out.fast;
    for (int32_t c = 0; c < g->c; ++c)
    {
        fold &= table[c].rshift <= 22;
    }
    int32_t sums[4];
    for (int32_t c = 0; c < g->c; ++c)
    {
        if ((c & 3) == 0)
        {
            hard_dw_group_sums(filter + (c >> 2) * 18, sums);
        }
        table[c].bias += g->input_offset * (sums[c & 3] / 2);
        if (fold)
        {
            table[c].bias *= 2;
            table[c].round_hi += (int32_t)((uint32_t)g->out.offset << table[c].rshift);
        }
    }
    const int full_range = g->out.act_min <= HARD_INT8_MIN && g->out.act_max >= HARD_INT8_MAX;
    return fold ? (full_range ? 0 : 1) : 2;
}

/* The taps of output pixel (oy, ox) given those of (oy, ox - 1): when both windows lie inside
 * the input horizontally, every tap of an input row moves by stride_w pixels and the taps of
 * padding rows stay on g->pad; otherwise they are listed anew. */
static inline void
hard_dw_taps_next(const hard_dw_geom *g, const int8_t *in, int32_t oy, int32_t ox, const int8_t **taps)
{
    const int32_t ix0 = ox * g->stride_w - g->pad_left;
    if (ox == 0 || ix0 - g->stride_w < 0 || ix0 + (g->k_w - 1) * g->dil_w >= g->in_w)
    {
        hard_dw_taps(g, in, oy, ox, taps);
        return;
    }
    const int32_t step = g->stride_w * g->c;
    const int8_t *pad = g->pad;
    const int32_t n_taps = g->k_h * g->k_w;
    for (int32_t t = 0; t < n_taps; ++t)
    {
        if (taps[t] != pad)
        {
            taps[t] += step;
        }
    }
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

/* Every output pixel of the 1HWC kernel in order, ostride bytes apart: its taps, then the pixel. */
static void hard_dw_walk(const hard_dw_geom *g,
                         const hard_dims *input_dims,
                         const int8_t *input,
                         const hard_dims *output_dims,
                         int8_t *output,
                         int32_t ostride,
                         const int8_t *filter,
                         const int8_t **taps)
{
    const int32_t in_size = input_dims->h * input_dims->w * input_dims->c;
    for (int32_t b = 0; b < input_dims->n; ++b)
    {
        const int8_t *in = input + b * in_size;
        int8_t *out = output + b * output_dims->h * output_dims->w * ostride;
        for (int32_t oy = 0; oy < output_dims->h; ++oy)
        {
            for (int32_t ox = 0; ox < output_dims->w; ++ox)
            {
                hard_dw_taps_next(g, in, oy, ox, taps);
                hard_dw_pixel_1hwc(g, taps, filter, out);
                out += ostride;
            }
        }
    }
}

/* Every output pixel of the 3x3 kernel (mode as hard_dw_pixel_pairs).  Where a row's windows
 * lie inside the input vertically, the taps are listed at the first pixel whose window is
 * inside horizontally too and the following pixels read them at a growing offset (no tap
 * moves); other pixels move or list their taps as hard_dw_taps_next. */
HARD_HOT void hard_dw_walk_3x3(const hard_dw_geom *g,
                               const hard_dims *input_dims,
                               const int8_t *input,
                               const hard_dims *output_dims,
                               int8_t *out,
                               int32_t ostride,
                               const int32_t *filter,
                               const int8_t **taps,
                               const int mode)
{
    const int32_t step = g->stride_w * g->c;
    const int32_t out_w = output_dims->w;
    /* Output columns [x_in, x_end) have their windows inside the input horizontally. */
    const int32_t x_in = (g->pad_left + g->stride_w - 1) / g->stride_w;
    int32_t x_end = x_in;
    while (x_end < out_w && x_end * g->stride_w - g->pad_left + 2 * g->dil_w < g->in_w)
    {
        ++x_end;
    }
    for (int32_t b = 0; b < input_dims->n; ++b)
    {
        const int8_t *in = input + b * input_dims->h * input_dims->w * input_dims->c;
        for (int32_t oy = 0; oy < output_dims->h; ++oy)
        {
            const int32_t iy0 = oy * g->stride_h - g->pad_top;
            const int rows_in = iy0 >= 0 && iy0 + 2 * g->dil_h < g->in_h;
            int32_t off = 0;
            for (int32_t ox = 0; ox < out_w; ++ox, out += ostride)
            {
                if (rows_in && ox > x_in && ox < x_end)
                {
                    off += step;
                }
                else
                {
                    hard_dw_taps_next(g, in, oy, ox, taps);
                    off = 0;
                }
                hard_dw_pixel_pairs(g, taps, off, filter, out, mode);
            }
        }
    }
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
    hard_dw_walk(&g, input_dims, input, output_dims, output, hard_out_stride(params->output_stride, output_dims->c),
                 filter, taps);
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
    hard_rq *table = (hard_rq *)(void *)((int8_t *)ctx->buf + (input_dims->c + 3) / 4 * 4);
    const int32_t *w = (const int32_t *)(const void *)filter;
    const int mode = hard_dw_fold(&g, table, w);
    const int32_t ostride = hard_out_stride(dw_conv_params->output_stride, output_dims->c);
    if (mode == 0)
    {
        hard_dw_walk_3x3(&g, input_dims, input, output_dims, output, ostride, w, taps, 0);
    }
    else if (mode == 1)
    {
        hard_dw_walk_3x3(&g, input_dims, input, output_dims, output, ostride, w, taps, 1);
    }
    else
    {
        hard_dw_walk_3x3(&g, input_dims, input, output_dims, output, ostride, w, taps, 2);
    }
    return HARD_OK;
}
