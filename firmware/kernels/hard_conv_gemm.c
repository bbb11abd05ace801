/*
 * hard_conv_gemm.c - CONV_2D as GEMMs over q15 columns: the pointwise 1x1 kernel and the
 * k x k kernel with im2col (any stride, dilation and padding; also the 3-channel stem).
 *
 * Both take filters OHWI as TFLite stores them and a scratch buffer from the caller
 * (*_get_buffer_size()).  Output pixels are processed in pairs: their input values are
 * expanded once to q15 (with the input offset added), then every output channel pair is a
 * 2x2 SMLAD block (hard_gemm.c).  Padding taps are zero columns (the input zero point).
 */
#include <string.h>

#include "hard_gemm.h"
#include "hard_gemm_rows.h"
#include "hard_kernels.h"

static int hard_gemm_conv_valid(const hard_conv_params *p,
                                const hard_dims *input_dims,
                                const hard_dims *filter_dims,
                                const hard_dims *output_dims)
{
    const hard_padding *pad = &p->padding;
    return hard_dims_valid(input_dims) && hard_dims_valid(filter_dims) && hard_dims_valid(output_dims) &&
           input_dims->c == filter_dims->c && output_dims->c == filter_dims->n && output_dims->n == input_dims->n &&
           p->stride.h > 0 && p->stride.w > 0 && p->dilation.h > 0 && p->dilation.w > 0 && pad->top >= 0 &&
           pad->left >= 0 && pad->bottom >= 0 && pad->right >= 0 && hard_act_int8(&p->activation) &&
           hard_out_stride_valid(p->output_stride, output_dims->c) && hard_fused_add_valid(p->fused_add);
}

static void hard_gemm_args_init(hard_gemm_args *a,
                                const hard_conv_params *p,
                                const hard_per_channel_quant *quant,
                                const int8_t *filter,
                                const int32_t *bias,
                                int32_t k,
                                int32_t out_c,
                                void *scratch)
{
    a->filter = filter;
    a->bias = bias;
    a->k = k;
    a->row_stride = k;
    a->out_c = out_c;
    a->out.offset = p->output_offset;
    a->out.act_min = p->activation.min;
    a->out.act_max = p->activation.max;
    a->fa = 0;
    hard_gemm_prepare(a, quant, scratch);
}

/* The fused residual ADD's constants in fa, when the layer has one. */
static void hard_gemm_args_fuse(hard_gemm_args *a, hard_fa_stage *fa, const hard_conv_params *p, const int8_t *output)
{
    if (p->fused_add != 0)
    {
        hard_fa_prepare(fa, p->fused_add, output, a->out_c, hard_out_stride(p->output_stride, a->out_c));
        a->fa = fa;
    }
}

/* ------------------------------------------------------------------- 1x1 */

int32_t hard_convolve_1x1_s8_get_buffer_size(const hard_dims *input_dims, const hard_dims *filter_dims)
{
    return hard_col_pair_bytes(input_dims->c) + hard_gemm_out_bytes(filter_dims->n);
}

/* A 1x1 kernel reads input pixel (oy * stride, ox * stride): no padding, every read in bounds. */
static int hard_1x1_valid(const hard_conv_params *p, const hard_dims *in, const hard_dims *f, const hard_dims *out)
{
    return hard_gemm_conv_valid(p, in, f, out) && f->h == 1 && f->w == 1 && p->padding.top == 0 &&
           p->padding.left == 0 && (out->h - 1) * p->stride.h < in->h && (out->w - 1) * p->stride.w < in->w;
}

static const int8_t *
hard_1x1_pixel(const int8_t *in, const hard_dims *in_dims, const hard_conv_params *p, int32_t out_w, int32_t pixel)
{
    const int32_t oy = pixel / out_w;
    const int32_t ox = pixel - oy * out_w;
    return in + ((oy * p->stride.h) * in_dims->w + ox * p->stride.w) * in_dims->c;
}

hard_status hard_convolve_1x1_s8(const hard_context *ctx,
                                 const hard_conv_params *conv_params,
                                 const hard_per_channel_quant *quant_params,
                                 const hard_dims *input_dims,
                                 const int8_t *input,
                                 const hard_dims *filter_dims,
                                 const int8_t *filter,
                                 const int32_t *bias,
                                 const hard_dims *output_dims,
                                 int8_t *output)
{
    if (!hard_1x1_valid(conv_params, input_dims, filter_dims, output_dims) ||
        !hard_ctx_ok(ctx, hard_convolve_1x1_s8_get_buffer_size(input_dims, filter_dims)))
    {
        return HARD_ARG_ERROR;
    }
    const int32_t in_c = input_dims->c;
    const int32_t out_c = output_dims->c;
    const int32_t ostride = hard_out_stride(conv_params->output_stride, out_c);
    const int32_t pixels = output_dims->h * output_dims->w;
    const int32_t offset2 = hard_dup_lanes(conv_params->input_offset);
    int32_t *col = (int32_t *)ctx->buf;
    hard_gemm_args args;
    hard_gemm_args_init(&args, conv_params, quant_params, filter, bias, in_c, out_c,
                        (int8_t *)ctx->buf + hard_col_pair_bytes(in_c));
    hard_fa_stage fa;
    hard_gemm_args_fuse(&args, &fa, conv_params, output);

    for (int32_t b = 0; b < input_dims->n; ++b)
    {
        const int8_t *in = input + b * input_dims->h * input_dims->w * in_c;
        int8_t *out = output + b * pixels * ostride;
        for (int32_t px = 0; px < pixels; px += 2)
        {
            const int32_t px_b = px + 1 < pixels ? px + 1 : px;
            hard_col_expand(hard_1x1_pixel(in, input_dims, conv_params, output_dims->w, px), in_c, offset2, col, 0);
            hard_col_expand(hard_1x1_pixel(in, input_dims, conv_params, output_dims->w, px_b), in_c, offset2, col, 1);
            hard_gemm_pair(&args, col, out + px * ostride, out + px_b * ostride);
        }
    }
    return HARD_OK;
}

/* --------------------------------------------- the q15 filter ("gemm q15 pairs") */

/* Pixel values as q15 plus the offset, per group of four: dst[4g] = {v0, v2},
 * dst[4g + half] = {v1, v3}.  half 1 with dst = col + 2 * lane is the int8-filter column pair
 * (hard_gemm.h); half 2 with dst = col + lane the "gemm q15 pairs" one: per group of four
 * k-values the words {A02, B02, A13, B13}, so one LDRD loads both pixels' halves. */
HARD_HOT void hard_col_expand_any(const int8_t *src, int32_t n, int32_t offset2, int32_t *dst, int32_t half)
{
    const int32_t full = n >> 2;
    for (int32_t g = 0; g < full; ++g)
    {
        const int32_t x = hard_read_s8x4(src + 4 * g);
        dst[4 * g] = hard_sxtab16(offset2, x);
        dst[4 * g + half] = hard_sxtab16_ror8(offset2, x);
    }
    const int32_t tail = n & 3;
    if (tail != 0)
    {
        uint32_t x = 0;
        if (n >= 4)
        {
            x = (uint32_t)hard_read_s8x4(src + n - 4) >> (8 * (4 - tail));
        }
        else
        {
            for (int32_t i = 0; i < tail; ++i)
            {
                x |= (uint32_t)(uint8_t)src[i] << (8 * i);
            }
        }
        dst[4 * full] = hard_sxtab16(offset2, (int32_t)x);
        dst[4 * full + half] = hard_sxtab16_ror8(offset2, (int32_t)x);
    }
}

/* Two words at p in one LDRD: GCC 12 splits a 64-bit load into two LDRs for the Cortex-M7. */
HARD_HOT void hard_load_pair(const int32_t *p, int32_t *lo, int32_t *hi)
{
#if HARD_DSP
    int32_t a;
    int32_t b;
    __asm("ldrd %0, %1, %2" : "=r"(a), "=r"(b) : "m"(*(const uint64_t *)(const void *)p));
    *lo = a;
    *hi = b;
#else
    hard_col_load(p, lo, hi);
#endif
}

/* Half a group: the two channels' words w and the two pixels' words at col, four SMLAD. */
HARD_HOT hard_acc2x2 hard_mac_q15_half(const int32_t *col, const int32_t *w, hard_acc2x2 acc)
{
    int32_t w0;
    int32_t w1;
    int32_t a;
    int32_t b;
    hard_load_pair(w, &w0, &w1);
    hard_load_pair(col, &a, &b);
    acc.c0p0 = hard_smlad(w0, a, acc.c0p0);
    acc.c0p1 = hard_smlad(w0, b, acc.c0p1);
    acc.c1p0 = hard_smlad(w1, a, acc.c1p0);
    acc.c1p1 = hard_smlad(w1, b, acc.c1p1);
    return acc;
}

HARD_HOT hard_acc2x2 hard_mac_q15(const int32_t *restrict col,
                                  const int32_t *restrict w,
                                  int32_t groups,
                                  hard_acc2x2 acc)
{
    for (; groups >= 2; groups -= 2)
    {
        acc = hard_mac_q15_half(col, w, acc);
        acc = hard_mac_q15_half(col + 2, w + 2, acc);
        acc = hard_mac_q15_half(col + 4, w + 4, acc);
        acc = hard_mac_q15_half(col + 6, w + 6, acc);
        col += 8;
        w += 8;
    }
    if (groups > 0)
    {
        acc = hard_mac_q15_half(col, w, acc);
        acc = hard_mac_q15_half(col + 2, w + 2, acc);
    }
    return acc;
}

/* One channel's outputs for both pixels, requantised straight from the registers. */
HARD_HOT void hard_rq_out2(const hard_out_stage *st,
                           const hard_rq *q,
                           int32_t a,
                           int32_t b,
                           int8_t *out_a,
                           int8_t *out_b,
                           const int fast,
                           const int full_range)
{
    int32_t va = fast ? hard_rq_apply(a, q->mult, q->rshift, q->round_hi) : hard_requantize(a, q->mult, q->rshift);
    int32_t vb = fast ? hard_rq_apply(b, q->mult, q->rshift, q->round_hi) : hard_requantize(b, q->mult, q->rshift);
    va = hard_ssat8(va + st->offset);
    vb = hard_ssat8(vb + st->offset);
    if (!full_range)
    {
        va = hard_clamp_i32(va, st->act_min, st->act_max);
        vb = hard_clamp_i32(vb, st->act_min, st->act_max);
    }
    *out_a = (int8_t)va;
    *out_b = (int8_t)vb;
}

/* Every output channel of the pixel pair in col: channel pairs against the q15 filter, each
 * requantised as soon as its accumulators are done (out_b may equal out_a: a lone pixel). */
HARD_HOT void hard_q15_channels(
    const hard_gemm_args *args, const int32_t *col, int8_t *out_a, int8_t *out_b, const int fast, const int full_range)
{
    const int32_t *w = (const int32_t *)(const void *)args->filter;
    const int32_t groups = (args->k + 3) >> 2;
    const int32_t out_c = args->out_c;
    const hard_out_stage st = args->out;
    const hard_rq *rq = args->rq;
    int32_t c = 0;
    for (; c + 1 < out_c; c += 2)
    {
        hard_acc2x2 acc = {rq[c].bias, rq[c].bias, rq[c + 1].bias, rq[c + 1].bias};
        acc = hard_mac_q15(col, w, groups, acc);
        hard_rq_out2(&st, &rq[c], acc.c0p0, acc.c0p1, out_a + c, out_b + c, fast, full_range);
        hard_rq_out2(&st, &rq[c + 1], acc.c1p0, acc.c1p1, out_a + c + 1, out_b + c + 1, fast, full_range);
        w += 4 * groups;
    }
    if (c < out_c)
    {
        /* The odd last channel: its pair partner is zeros in the filter. */
        hard_acc2x2 acc = {rq[c].bias, rq[c].bias, 0, 0};
        acc = hard_mac_q15(col, w, groups, acc);
        hard_rq_out2(&st, &rq[c], acc.c0p0, acc.c0p1, out_a + c, out_b + c, fast, full_range);
    }
}

static void hard_gemm_pair_q15(const hard_gemm_args *args, const int32_t *col, int8_t *out_a, int8_t *out_b)
{
    const int full_range = args->out.act_min <= HARD_INT8_MIN && args->out.act_max >= HARD_INT8_MAX;
    if (args->out.fast)
    {
        if (full_range)
        {
            hard_q15_channels(args, col, out_a, out_b, 1, 1);
        }
        else
        {
            hard_q15_channels(args, col, out_a, out_b, 1, 0);
        }
    }
    else
    {
        hard_q15_channels(args, col, out_a, out_b, 0, full_range);
    }
    if (args->fa != 0)
    {
        hard_fa_pair(args->fa, out_a, out_b);
    }
}

/* ----------------------------------------------------------------- im2col */

/* Geometry as plain values (read into locals: the int8 stores cannot alias them). */
typedef struct
{
    int32_t in_h;
    int32_t in_w;
    int32_t c;
    int32_t k_h;
    int32_t k_w;
    int32_t dil_h;
    int32_t dil_w;
    int32_t k;
    int32_t offset2;
    int8_t zero_point;
    int32_t q15; /* the filter is "gemm q15 pairs": column words {A02, B02, A13, B13} */
} hard_im2col;

static inline void
hard_gemm_pair_any(const hard_im2col *m, const hard_gemm_args *args, const int32_t *col, int8_t *out_a, int8_t *out_b)
{
    if (m->q15)
    {
        hard_gemm_pair_q15(args, col, out_a, out_b);
    }
    else
    {
        hard_gemm_pair(args, col, out_a, out_b);
    }
}

static int32_t hard_im2col_k(const hard_dims *filter_dims)
{
    return filter_dims->h * filter_dims->w * filter_dims->c;
}

int32_t hard_convolve_im2col_s8_get_buffer_size(const hard_dims *input_dims,
                                                const hard_dims *filter_dims,
                                                const hard_dims *output_dims)
{
    (void)input_dims;
    (void)output_dims;
    const int32_t k = hard_im2col_k(filter_dims);
    return hard_col_pair_bytes(k) + hard_gemm_out_bytes(filter_dims->n) + ((k + 3) / 4) * 4;
}

/* Input pixel (iy, ix) of one tap, or NULL in the padding. */
static inline const int8_t *hard_tap(const hard_im2col *m, const int8_t *in, int32_t iy, int32_t ix)
{
    if (iy < 0 || iy >= m->in_h || ix < 0 || ix >= m->in_w)
    {
        return 0;
    }
    return in + (iy * m->in_w + ix) * m->c;
}

/* C % 4 == 0: each tap is whole groups; expand straight from the input, zeros for padding. */
static void
hard_im2col_direct(const hard_im2col *geom, const int8_t *in, int32_t iy0, int32_t ix0, int32_t *col, int32_t lane)
{
    const hard_im2col m = *geom;
    const int32_t tap_words = m.c;
    const int32_t half = m.q15 ? 2 : 1;
    col += m.q15 ? lane : 2 * lane;
    for (int32_t ky = 0; ky < m.k_h; ++ky)
    {
        for (int32_t kx = 0; kx < m.k_w; ++kx)
        {
            const int8_t *src = hard_tap(&m, in, iy0 + ky * m.dil_h, ix0 + kx * m.dil_w);
            if (src != 0)
            {
                hard_col_expand_any(src, m.c, m.offset2, col, half);
            }
            else
            {
                for (int32_t g = 0; g < tap_words; g += 4)
                {
                    col[g] = 0;
                    col[g + half] = 0;
                }
            }
            col += tap_words;
        }
    }
}

/* n bytes from src, or the zero point when src is NULL (word copies where possible). */
static inline int8_t *hard_stage(int8_t *dst, const int8_t *src, int32_t n, int8_t zero_point)
{
    if (src == 0)
    {
        memset(dst, zero_point, (size_t)n);
        return dst + n;
    }
    int32_t i = 0;
    for (; i + 4 <= n; i += 4)
    {
        memcpy(dst + i, src + i, 4);
    }
    for (; i < n; ++i)
    {
        dst[i] = src[i];
    }
    return dst + n;
}

/* Any C: gather the k bytes (the zero point in the padding). */
static void hard_im2col_stage(const hard_im2col *geom, int8_t *stage, const int8_t *in, int32_t iy0, int32_t ix0)
{
    const hard_im2col m = *geom;
    const int32_t row_bytes = m.k_w * m.c;
    if (m.dil_w == 1 && ix0 >= 0 && ix0 + m.k_w <= m.in_w)
    {
        /* The taps of a kernel row are contiguous and inside: one copy per row. */
        const int8_t *src = in + (iy0 * m.in_w + ix0) * m.c;
        const int32_t src_step = m.dil_h * m.in_w * m.c;
        for (int32_t ky = 0, iy = iy0; ky < m.k_h; ++ky, iy += m.dil_h, src += src_step)
        {
            stage = hard_stage(stage, iy >= 0 && iy < m.in_h ? src : 0, row_bytes, m.zero_point);
        }
        return;
    }
    for (int32_t ky = 0, iy = iy0; ky < m.k_h; ++ky, iy += m.dil_h)
    {
        for (int32_t kx = 0; kx < m.k_w; ++kx)
        {
            stage = hard_stage(stage, hard_tap(&m, in, iy, ix0 + kx * m.dil_w), m.c, m.zero_point);
        }
    }
}

/* Lane `lane` of the column pair for the output pixel whose window starts at (iy0, ix0). */
static inline void hard_im2col_pixel(
    const hard_im2col *m, int8_t *stage, const int8_t *in, int32_t iy0, int32_t ix0, int32_t *col, int32_t lane)
{
    if ((m->c & 3) == 0)
    {
        hard_im2col_direct(m, in, iy0, ix0, col, lane);
    }
    else
    {
        hard_im2col_stage(m, stage, in, iy0, ix0);
        hard_col_expand_any(stage, m->k, m->offset2, m->q15 ? col + lane : col + 2 * lane, m->q15 ? 2 : 1);
    }
}

/* Output pixels in raster order, two at a time (pairs may span rows); an odd last one alone. */
static void hard_im2col_batch(const hard_im2col *m,
                              const hard_conv_params *p,
                              const hard_gemm_args *args,
                              int32_t *col,
                              int8_t *stage,
                              const int8_t *in,
                              const hard_dims *out_dims,
                              int8_t *out)
{
    const int32_t ostride = hard_out_stride(p->output_stride, out_dims->c);
    int8_t *pending = 0; /* output of the pixel waiting in lane 0 */
    for (int32_t oy = 0; oy < out_dims->h; ++oy)
    {
        const int32_t iy0 = oy * p->stride.h - p->padding.top;
        for (int32_t ox = 0, ix0 = -p->padding.left; ox < out_dims->w; ++ox, ix0 += p->stride.w)
        {
            hard_im2col_pixel(m, stage, in, iy0, ix0, col, pending == 0 ? 0 : 1);
            if (pending == 0)
            {
                pending = out;
            }
            else
            {
                hard_gemm_pair_any(m, args, col, pending, out);
                pending = 0;
            }
            out += ostride;
        }
    }
    if (pending != 0)
    {
        hard_im2col_pixel(m, stage, in, (out_dims->h - 1) * p->stride.h - p->padding.top,
                          (out_dims->w - 1) * p->stride.w - p->padding.left, col, 1);
        hard_gemm_pair_any(m, args, col, pending, pending);
    }
}

static hard_status hard_im2col_run(const hard_context *ctx,
                                   const hard_conv_params *conv_params,
                                   const hard_per_channel_quant *quant_params,
                                   const hard_dims *input_dims,
                                   const int8_t *input,
                                   const hard_dims *filter_dims,
                                   const int8_t *filter,
                                   const int32_t *bias,
                                   const hard_dims *output_dims,
                                   int8_t *output,
                                   int32_t q15)
{
    if (!hard_gemm_conv_valid(conv_params, input_dims, filter_dims, output_dims) ||
        !hard_ctx_ok(ctx, hard_convolve_im2col_s8_get_buffer_size(input_dims, filter_dims, output_dims)))
    {
        return HARD_ARG_ERROR;
    }
    const int32_t k = hard_im2col_k(filter_dims);
    const int32_t out_c = output_dims->c;
    const int32_t pixels = output_dims->h * output_dims->w;
    int32_t *col = (int32_t *)ctx->buf;
    int8_t *out_scratch = (int8_t *)ctx->buf + hard_col_pair_bytes(k);
    const hard_im2col m = {input_dims->h,
                           input_dims->w,
                           input_dims->c,
                           filter_dims->h,
                           filter_dims->w,
                           conv_params->dilation.h,
                           conv_params->dilation.w,
                           k,
                           hard_dup_lanes(conv_params->input_offset),
                           (int8_t)(-conv_params->input_offset),
                           q15};
    int8_t *stage = out_scratch + hard_gemm_out_bytes(out_c);
    hard_gemm_args args;
    hard_gemm_args_init(&args, conv_params, quant_params, filter, bias, k, out_c, out_scratch);
    hard_fa_stage fa;
    hard_gemm_args_fuse(&args, &fa, conv_params, output);
    for (int32_t b = 0; b < input_dims->n; ++b)
    {
        hard_im2col_batch(&m, conv_params, &args, col, stage, input + b * input_dims->h * input_dims->w * input_dims->c,
                          output_dims, output + b * pixels * hard_out_stride(conv_params->output_stride, out_c));
    }
    return HARD_OK;
}

hard_status hard_convolve_im2col_s8(const hard_context *ctx,
                                    const hard_conv_params *conv_params,
                                    const hard_per_channel_quant *quant_params,
                                    const hard_dims *input_dims,
                                    const int8_t *input,
                                    const hard_dims *filter_dims,
                                    const int8_t *filter,
                                    const int32_t *bias,
                                    const hard_dims *output_dims,
                                    int8_t *output)
{
    return hard_im2col_run(ctx, conv_params, quant_params, input_dims, input, filter_dims, filter, bias, output_dims,
                           output, 0);
}

int32_t hard_convolve_im2col_q15_s8_get_buffer_size(const hard_dims *input_dims,
                                                    const hard_dims *filter_dims,
                                                    const hard_dims *output_dims)
{
    return hard_convolve_im2col_s8_get_buffer_size(input_dims, filter_dims, output_dims);
}

hard_status hard_convolve_im2col_q15_s8(const hard_context *ctx,
                                        const hard_conv_params *conv_params,
                                        const hard_per_channel_quant *quant_params,
                                        const hard_dims *input_dims,
                                        const int8_t *input,
                                        const hard_dims *filter_dims,
                                        const int8_t *filter,
                                        const int32_t *bias,
                                        const hard_dims *output_dims,
                                        int8_t *output)
{
    if (((uintptr_t)filter & 3u) != 0)
    {
        return HARD_ARG_ERROR;
    }
    return hard_im2col_run(ctx, conv_params, quant_params, input_dims, input, filter_dims, filter, bias, output_dims,
                           output, 1);
}

int32_t hard_convolve_1x1_q15_s8_get_buffer_size(const hard_dims *input_dims, const hard_dims *filter_dims)
{
    return hard_convolve_1x1_s8_get_buffer_size(input_dims, filter_dims);
}

hard_status hard_convolve_1x1_q15_s8(const hard_context *ctx,
                                     const hard_conv_params *conv_params,
                                     const hard_per_channel_quant *quant_params,
                                     const hard_dims *input_dims,
                                     const int8_t *input,
                                     const hard_dims *filter_dims,
                                     const int8_t *filter,
                                     const int32_t *bias,
                                     const hard_dims *output_dims,
                                     int8_t *output)
{
    if (!hard_1x1_valid(conv_params, input_dims, filter_dims, output_dims) || ((uintptr_t)filter & 3u) != 0 ||
        !hard_ctx_ok(ctx, hard_convolve_1x1_q15_s8_get_buffer_size(input_dims, filter_dims)))
    {
        return HARD_ARG_ERROR;
    }
    const int32_t in_c = input_dims->c;
    const int32_t ostride = hard_out_stride(conv_params->output_stride, output_dims->c);
    const int32_t pixels = output_dims->h * output_dims->w;
    const int32_t offset2 = hard_dup_lanes(conv_params->input_offset);
    int32_t *col = (int32_t *)ctx->buf;
    hard_gemm_args args;
    hard_gemm_args_init(&args, conv_params, quant_params, filter, bias, in_c, output_dims->c,
                        (int8_t *)ctx->buf + hard_col_pair_bytes(in_c));
    hard_fa_stage fa;
    hard_gemm_args_fuse(&args, &fa, conv_params, output);
    for (int32_t b = 0; b < input_dims->n; ++b)
    {
        const int8_t *in = input + b * input_dims->h * input_dims->w * in_c;
        int8_t *out = output + b * pixels * ostride;
        for (int32_t px = 0; px < pixels; px += 2)
        {
            const int32_t px_b = px + 1 < pixels ? px + 1 : px;
            hard_col_expand_any(hard_1x1_pixel(in, input_dims, conv_params, output_dims->w, px), in_c, offset2, col, 2);
            hard_col_expand_any(hard_1x1_pixel(in, input_dims, conv_params, output_dims->w, px_b), in_c, offset2,
                                col + 1, 2);
            hard_gemm_pair_q15(&args, col, out + px * ostride, out + px_b * ostride);
        }
    }
    return HARD_OK;
}
