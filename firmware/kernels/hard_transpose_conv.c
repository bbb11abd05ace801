/*
 * hard_transpose_conv.c - TRANSPOSE_CONV int8, bit-exact with TFLite's
 * reference_integer_ops::TransposeConv.
 *
 * The reference scatters: every input pixel adds its products into an int32 buffer as large
 * as the output, then requantises it.  Both kernels here gather instead: output pixel
 * (oy, ox) sums exactly the taps with oy + pad_top - ky = iy * stride (0 <= iy < in_h), and
 * likewise in x, so no output-sized buffer is needed.  The integer sums are the same (int32
 * addition is exact and order-free here), hence the same bytes.
 */
#include <string.h>

#include "hard_gemm.h"
#include "hard_gemm_rows.h"
#include "hard_kernels.h"

static int
hard_tconv_valid(const hard_transpose_conv_params *p, const hard_dims *in, const hard_dims *f, const hard_dims *out)
{
    return p != 0 && hard_dims_valid(in) && hard_dims_valid(f) && hard_dims_valid(out) && in->c == f->c &&
           out->c == f->n && out->n == in->n && p->stride.h > 0 && p->stride.w > 0 && p->padding.top >= 0 &&
           p->padding.left >= 0 && p->activation.min <= p->activation.max;
}

/* Taps of one axis reaching output position o: k = first, first + stride, ... < last, with
 * input index (o + pad - k) / stride.  Returns the first; *last bounds the tap index. */
static inline int32_t
hard_tconv_taps(int32_t o, int32_t pad, int32_t stride, int32_t kernel, int32_t in_size, int32_t *last)
{
    const int32_t t = o + pad; /* >= 0 */
    int32_t first = t % stride;
    /* input index < in_size  <=>  k > t - stride * in_size */
    const int32_t lo = t - stride * in_size + 1;
    if (first < lo)
    {
        first += ((lo - first + stride - 1) / stride) * stride;
    }
    *last = hard_min_i32(kernel, t + 1);
    return first;
}

int32_t hard_transpose_conv_s8_get_buffer_size(const hard_dims *input_dims,
                                               const hard_dims *filter_dims,
                                               const hard_dims *output_dims)
{
    (void)input_dims;
    (void)filter_dims;
    (void)output_dims;
    return 0;
}

typedef struct
{
    const hard_dims *in;
    const hard_dims *f;
    int32_t ky0, ky1, kx0, kx1; /* tap ranges (step = stride) */
    int32_t ty, tx;             /* o + pad of the pixel */
} hard_tconv_window;

/* Raw accumulator of output channel oc at one pixel (input offset applied, no bias). */
static int32_t hard_tconv_acc(const hard_tconv_window *w,
                              const hard_transpose_conv_params *p,
                              const int8_t *input,
                              const int8_t *filter,
                              int32_t oc)
{
    const int32_t c = w->in->c;
    int32_t acc = 0;
    for (int32_t ky = w->ky0; ky < w->ky1; ky += p->stride.h)
    {
        const int32_t iy = (w->ty - ky) / p->stride.h;
        for (int32_t kx = w->kx0; kx < w->kx1; kx += p->stride.w)
        {
            const int32_t ix = (w->tx - kx) / p->stride.w;
            const int8_t *x = input + (iy * w->in->w + ix) * c;
            const int8_t *f = filter + ((oc * w->f->h + ky) * w->f->w + kx) * c;
            for (int32_t i = 0; i < c; ++i)
            {
                acc += (x[i] + p->input_offset) * f[i];
            }
        }
    }
    return acc;
}

hard_status hard_transpose_conv_s8(const hard_context *ctx,
                                   const hard_transpose_conv_params *params,
                                   const hard_per_channel_quant *quant_params,
                                   const hard_dims *input_dims,
                                   const int8_t *input,
                                   const hard_dims *filter_dims,
                                   const int8_t *filter,
                                   const int32_t *bias,
                                   const hard_dims *output_dims,
                                   int8_t *output)
{
    (void)ctx;
    if (!hard_tconv_valid(params, input_dims, filter_dims, output_dims) || quant_params == 0)
    {
        return HARD_ARG_ERROR;
    }
    const hard_transpose_conv_params *p = params;
    const int32_t out_c = output_dims->c;
    hard_tconv_window w = {input_dims, filter_dims, 0, 0, 0, 0, 0, 0};
    for (int32_t b = 0; b < output_dims->n; ++b)
    {
        const int8_t *in = input + b * input_dims->h * input_dims->w * input_dims->c;
        for (int32_t oy = 0; oy < output_dims->h; ++oy)
        {
            w.ty = oy + p->padding.top;
            w.ky0 = hard_tconv_taps(oy, p->padding.top, p->stride.h, filter_dims->h, input_dims->h, &w.ky1);
            for (int32_t ox = 0; ox < output_dims->w; ++ox)
            {
                w.tx = ox + p->padding.left;
                w.kx0 = hard_tconv_taps(ox, p->padding.left, p->stride.w, filter_dims->w, input_dims->w, &w.kx1);
                for (int32_t oc = 0; oc < out_c; ++oc)
                {
                    int32_t acc = hard_tconv_acc(&w, p, in, filter, oc) + (bias != 0 ? bias[oc] : 0);
                    acc = hard_requantize(acc, quant_params->multiplier[oc], quant_params->shift[oc]);
                    acc = hard_clamp_i32(acc + p->output_offset, p->activation.min, p->activation.max);
                    *output++ = (int8_t)acc;
                }
            }
        }
    }
    return HARD_OK;
}

/* ------------------------------------------------------------ SIMD gather */

static inline int32_t hard_ceil_div(int32_t a, int32_t b)
{
    return (a + b - 1) / b;
}

/* Words of one tap's segment in a column pair (both pixels, cin values each). */
static inline int32_t hard_tconv_tap_words(int32_t cin)
{
    return hard_col_pair_bytes(cin) / (int32_t)sizeof(int32_t);
}

static inline int32_t hard_tconv_max_taps(const hard_dims *f, const hard_tile *stride)
{
    return hard_ceil_div(f->h, stride->h) * hard_ceil_div(f->w, stride->w);
}

int32_t hard_transpose_conv_gemm_s8_get_buffer_size(const hard_dims *input_dims,
                                                    const hard_dims *filter_dims,
                                                    const hard_dims *output_dims,
                                                    const hard_tile *stride)
{
    (void)output_dims;
    if (stride == 0 || stride->h <= 0 || stride->w <= 0)
    {
        return 0;
    }
    const int32_t taps = hard_tconv_max_taps(filter_dims, stride);
    return taps * (hard_col_pair_bytes(input_dims->c) + (int32_t)sizeof(int32_t)) + hard_gemm_out_bytes(filter_dims->n);
}

typedef struct
{
    const int8_t *in; /* this batch's input */
    int32_t in_h, in_w, cin, k_w;
    int32_t sh, sw;
    int32_t offset2;
    int32_t tap_words;
    int32_t *col;  /* scratch: max_taps segments */
    int32_t *offs; /* scratch: filter offset of each segment's tap */
} hard_tconv_gather;

/* Lane `lane` of one tap segment: the input pixel's values (offset added), or zeros. */
static inline void
hard_tconv_lane(const hard_tconv_gather *g, int32_t iy, int32_t tx, int32_t kx, int32_t *seg, int32_t lane)
{
    const int32_t d = tx - kx;
    const int32_t ix = d / g->sw;
    if (d >= 0 && ix < g->in_w)
    {
        hard_col_expand(g->in + (iy * g->in_w + ix) * g->cin, g->cin, g->offset2, seg, lane);
        return;
    }
    for (int32_t i = 2 * lane; i < g->tap_words; i += 4)
    {
        seg[i] = 0;
        seg[i + 1] = 0;
    }
}

/* The column of the taps reaching pixels A (tx_a = ox_a + pad) and B (same phase, same row);
 * taps neither pixel sees are left out.  Returns the number of segments. */
static int32_t
hard_tconv_column(const hard_tconv_gather *g, int32_t ty, int32_t ky0, int32_t ky1, int32_t tx_a, int32_t tx_b)
{
    int32_t n = 0;
    const int32_t kx0 = tx_a % g->sw;
    for (int32_t ky = ky0; ky < ky1; ky += g->sh)
    {
        const int32_t iy = (ty - ky) / g->sh;
        for (int32_t kx = kx0; kx < g->k_w; kx += g->sw)
        {
            const int32_t ia = tx_a - kx;
            const int32_t ib = tx_b - kx;
            const int a_in = ia >= 0 && ia / g->sw < g->in_w;
            const int b_in = ib >= 0 && ib / g->sw < g->in_w;
            if (!a_in && !b_in)
            {
                continue;
            }
            int32_t *seg = g->col + n * g->tap_words;
            hard_tconv_lane(g, iy, tx_a, kx, seg, 0);
            hard_tconv_lane(g, iy, tx_b, kx, seg, 1);
            g->offs[n++] = (ky * g->k_w + kx) * g->cin;
        }
    }
    return n;
}

/* Every output channel of the pixel pair: per channel pair, the SMLAD block over each segment. */
static void hard_tconv_gemm(const hard_tconv_gather *g,
                            int32_t segs,
                            const int8_t *filter,
                            int32_t row,
                            int32_t out_c,
                            const hard_rq *rq,
                            int32_t *acc_out)
{
    const int32_t cin = g->cin;
    for (int32_t c = 0; c < out_c; c += 2)
    {
        const int32_t c1 = c + 1 < out_c ? c + 1 : c; /* the odd last channel: its row twice */
        const int8_t *w0 = filter + c * row;
        const int8_t *w1 = filter + c1 * row;
        hard_acc2x2 acc = {rq[c].bias, rq[c].bias, rq[c1].bias, rq[c1].bias};
        for (int32_t s = 0; s < segs; ++s)
        {
            acc = hard_mac_rows(g->col + s * g->tap_words, w0 + g->offs[s], w1 + g->offs[s], cin, acc);
        }
        acc_out[2 * c] = acc.c0p0;
        acc_out[2 * c + 1] = acc.c0p1;
        if (c1 != c)
        {
            acc_out[2 * c + 2] = acc.c1p0;
            acc_out[2 * c + 3] = acc.c1p1;
        }
    }
}

typedef struct
{
    hard_out_stage stage;
    const hard_rq *rq;
    int32_t *acc;
    const int8_t *filter;
    int32_t row; /* filter bytes per output channel */
    int32_t out_w, out_c;
    int32_t pad_left;
} hard_tconv_out;

/* One output row: each stride phase of x, its pixels two at a time. */
static void
hard_tconv_row(const hard_tconv_gather *g, const hard_tconv_out *o, int32_t ty, int32_t ky0, int32_t ky1, int8_t *out)
{
    const int32_t phases = hard_min_i32(g->sw, o->out_w);
    for (int32_t ph = 0; ph < phases; ++ph)
    {
        for (int32_t ox = ph; ox < o->out_w; ox += 2 * g->sw)
        {
            const int32_t ox_b = ox + g->sw < o->out_w ? ox + g->sw : ox;
            const int32_t segs = hard_tconv_column(g, ty, ky0, ky1, ox + o->pad_left, ox_b + o->pad_left);
            hard_tconv_gemm(g, segs, o->filter, o->row, o->out_c, o->rq, o->acc);
            hard_rq_store2(&o->stage, o->rq, o->acc, o->out_c, out + ox * o->out_c, out + ox_b * o->out_c);
        }
    }
}

hard_status hard_transpose_conv_gemm_s8(const hard_context *ctx,
                                        const hard_transpose_conv_params *params,
                                        const hard_per_channel_quant *quant_params,
                                        const hard_dims *input_dims,
                                        const int8_t *input,
                                        const hard_dims *filter_dims,
                                        const int8_t *filter,
                                        const int32_t *bias,
                                        const hard_dims *output_dims,
                                        int8_t *output)
{
    const hard_transpose_conv_params *p = params;
    if (!hard_tconv_valid(p, input_dims, filter_dims, output_dims) || quant_params == 0 ||
        !hard_act_int8(&p->activation) ||
        !hard_ctx_ok(ctx,
                     hard_transpose_conv_gemm_s8_get_buffer_size(input_dims, filter_dims, output_dims, &p->stride)))
    {
        return HARD_ARG_ERROR;
    }
    const int32_t taps = hard_tconv_max_taps(filter_dims, &p->stride);
    const int32_t out_c = output_dims->c;
    const int32_t row = filter_dims->h * filter_dims->w * filter_dims->c;
    hard_tconv_gather g = {0,
                           input_dims->h,
                           input_dims->w,
                           input_dims->c,
                           filter_dims->w,
                           p->stride.h,
                           p->stride.w,
                           hard_dup_lanes(p->input_offset),
                           hard_tconv_tap_words(input_dims->c),
                           (int32_t *)ctx->buf,
                           0};
    g.offs = g.col + taps * g.tap_words;
    hard_tconv_out o = {{0, p->output_offset, p->activation.min, p->activation.max},
                        0,
                        g.offs + taps,
                        filter,
                        row,
                        output_dims->w,
                        out_c,
                        p->padding.left};
    hard_rq *table = (hard_rq *)(void *)(o.acc + 2 * out_c);
    hard_rq_prepare(quant_params, bias, out_c, row, table, &o.stage);
    o.rq = table;
    for (int32_t b = 0; b < output_dims->n; ++b)
    {
        g.in = input + b * input_dims->h * input_dims->w * input_dims->c;
        for (int32_t oy = 0; oy < output_dims->h; ++oy)
        {
            int32_t ky1;
            const int32_t ky0 = hard_tconv_taps(oy, p->padding.top, p->stride.h, filter_dims->h, input_dims->h, &ky1);
            int8_t *out = output + ((b * output_dims->h + oy) * output_dims->w) * out_c;
            hard_tconv_row(&g, &o, oy + p->padding.top, ky0, ky1, out);
        }
    }
    return HARD_OK;
}
