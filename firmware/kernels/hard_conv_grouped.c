/*
 * hard_conv_grouped.c - grouped CONV_2D int8 (filter input channels = input channels / groups),
 * bit-exact with TFLite's reference_integer_ops::ConvPerChannel, which TFLite's converter uses
 * for a torch Conv2d with groups > 1 (e.g. ESPNetV2) when the groups are not depthwise.
 */
#include <string.h>

#include "hard_gemm.h"
#include "hard_kernels.h"

static int hard_grouped_valid(const hard_conv_params *p, const hard_dims *in, const hard_dims *f, const hard_dims *out)
{
    if (p == 0 || !hard_dims_valid(in) || !hard_dims_valid(f) || !hard_dims_valid(out) || in->c % f->c != 0)
    {
        return 0;
    }
    const int32_t groups = in->c / f->c;
    return out->c == f->n && out->c % groups == 0 && out->n == in->n && p->stride.h > 0 && p->stride.w > 0 &&
           p->dilation.h > 0 && p->dilation.w > 0 && p->padding.top >= 0 && p->padding.left >= 0 &&
           p->activation.min <= p->activation.max && hard_out_stride_valid(p->output_stride, out->c) &&
           p->fused_add == 0; /* no fused residual ADD here */
}

int32_t hard_convolve_grouped_s8_get_buffer_size(const hard_dims *input_dims,
                                                 const hard_dims *filter_dims,
                                                 const hard_dims *output_dims)
{
    (void)input_dims;
    (void)filter_dims;
    (void)output_dims;
    return 0;
}

/* Raw accumulator of output channel oc whose window starts at (iy0, ix0) (input offset added). */
static int32_t hard_grouped_acc(const hard_conv_params *p,
                                const hard_dims *in_dims,
                                const int8_t *in,
                                const hard_dims *f_dims,
                                const int8_t *filter,
                                int32_t oc,
                                int32_t first_c,
                                int32_t iy0,
                                int32_t ix0)
{
    const int32_t fc = f_dims->c;
    int32_t acc = 0;
    for (int32_t ky = 0; ky < f_dims->h; ++ky)
    {
        const int32_t iy = iy0 + ky * p->dilation.h;
        for (int32_t kx = 0; kx < f_dims->w; ++kx)
        {
            const int32_t ix = ix0 + kx * p->dilation.w;
            if (iy < 0 || iy >= in_dims->h || ix < 0 || ix >= in_dims->w)
            {
                continue;
            }
            const int8_t *x = in + (iy * in_dims->w + ix) * in_dims->c + first_c;
            const int8_t *w = filter + ((oc * f_dims->h + ky) * f_dims->w + kx) * fc;
            for (int32_t i = 0; i < fc; ++i)
            {
                acc += (x[i] + p->input_offset) * w[i];
            }
        }
    }
    return acc;
}

hard_status hard_convolve_grouped_s8(const hard_context *ctx,
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
    (void)ctx;
    const hard_conv_params *p = conv_params;
    if (!hard_grouped_valid(p, input_dims, filter_dims, output_dims) || quant_params == 0)
    {
        return HARD_ARG_ERROR;
    }
    const int32_t out_c = output_dims->c;
    const int32_t per_group = out_c / (input_dims->c / filter_dims->c);
    const int32_t ostride = hard_out_stride(p->output_stride, out_c);
    for (int32_t b = 0; b < output_dims->n; ++b)
    {
        const int8_t *in = input + b * input_dims->h * input_dims->w * input_dims->c;
        int8_t *out = output + b * output_dims->h * output_dims->w * ostride;
        for (int32_t oy = 0; oy < output_dims->h; ++oy)
        {
            const int32_t iy0 = oy * p->stride.h - p->padding.top;
            for (int32_t ox = 0; ox < output_dims->w; ++ox, out += ostride)
            {
                const int32_t ix0 = ox * p->stride.w - p->padding.left;
                for (int32_t oc = 0; oc < out_c; ++oc)
                {
                    const int32_t first_c = (oc / per_group) * filter_dims->c;
                    int32_t acc = hard_grouped_acc(p, input_dims, in, filter_dims, filter, oc, first_c, iy0, ix0);
                    acc += bias != 0 ? bias[oc] : 0;
                    acc = hard_requantize(acc, quant_params->multiplier[oc], quant_params->shift[oc]);
                    out[oc] = (int8_t)hard_clamp_i32(acc + p->output_offset, p->activation.min, p->activation.max);
                }
            }
        }
    }
    return HARD_OK;
}

/* ------------------------------------------------------------ SIMD GEMM */

static int32_t hard_grouped_k(const hard_dims *f)
{
    return f->h * f->w * f->c;
}

int32_t hard_convolve_grouped_gemm_s8_get_buffer_size(const hard_dims *input_dims,
                                                      const hard_dims *filter_dims,
                                                      const hard_dims *output_dims)
{
    (void)input_dims;
    (void)output_dims;
    const int32_t k = hard_grouped_k(filter_dims);
    return hard_col_pair_bytes(k) + hard_gemm_out_bytes(filter_dims->n) + ((k + 3) / 4) * 4;
}

typedef struct
{
    const int8_t *in; /* this batch's input */
    const hard_dims *in_dims;
    const hard_dims *f_dims;
    const hard_conv_params *p;
    const int8_t *filter;
    int8_t *stage; /* scratch: k bytes */
    int32_t *col;  /* scratch: a column pair */
    int32_t offset2;
    int32_t out_w;
} hard_grouped_im2col;

/* Group g's input pixel of a tap, or NULL in the padding. */
static inline const int8_t *hard_grouped_tap(const hard_grouped_im2col *m, int32_t g, int32_t iy, int32_t ix)
{
    if (iy < 0 || iy >= m->in_dims->h || ix < 0 || ix >= m->in_dims->w)
    {
        return 0;
    }
    return m->in + (iy * m->in_dims->w + ix) * m->in_dims->c + g * m->f_dims->c;
}

/* Channels per group a multiple of four: each tap is whole groups of the column; expand
 * straight from the input, zero columns for the padding (no staging copy). */
static void hard_grouped_direct(const hard_grouped_im2col *m, int32_t g, int32_t iy0, int32_t ix0, int32_t lane)
{
    const hard_conv_params *p = m->p;
    const int32_t fc = m->f_dims->c;
    int32_t *col = m->col;
    for (int32_t ky = 0; ky < m->f_dims->h; ++ky)
    {
        for (int32_t kx = 0; kx < m->f_dims->w; ++kx, col += fc)
        {
            const int8_t *src = hard_grouped_tap(m, g, iy0 + ky * p->dilation.h, ix0 + kx * p->dilation.w);
            if (src != 0)
            {
                hard_col_expand(src, fc, m->offset2, col, lane);
                continue;
            }
            for (int32_t i = 2 * lane; i < fc; i += 4)
            {
                col[i] = 0;
                col[i + 1] = 0;
            }
        }
    }
}

/* Lane `lane` of the column pair: group g's channels of every tap (zero point in the padding). */
static void hard_grouped_pixel(const hard_grouped_im2col *m, int32_t g, int32_t pixel, int32_t lane)
{
    const hard_conv_params *p = m->p;
    const int32_t fc = m->f_dims->c;
    const int32_t oy = pixel / m->out_w;
    const int32_t iy0 = oy * p->stride.h - p->padding.top;
    const int32_t ix0 = (pixel - oy * m->out_w) * p->stride.w - p->padding.left;
    if ((fc & 3) == 0)
    {
        hard_grouped_direct(m, g, iy0, ix0, lane);
        return;
    }
    int8_t *dst = m->stage;
    for (int32_t ky = 0; ky < m->f_dims->h; ++ky)
    {
        const int32_t iy = iy0 + ky * p->dilation.h;
        for (int32_t kx = 0; kx < m->f_dims->w; ++kx, dst += fc)
        {
            const int8_t *src = hard_grouped_tap(m, g, iy, ix0 + kx * p->dilation.w);
            if (src == 0)
            {
                memset(dst, (int8_t)(-p->input_offset), (size_t)fc);
            }
            else
            {
                memcpy(dst, src, (size_t)fc);
            }
        }
    }
    hard_col_expand(m->stage, hard_grouped_k(m->f_dims), m->offset2, m->col, lane);
}

/* Output pixels a and b (raster indices; equal for a lone last pixel): every group in turn,
 * each a GEMM of its filter rows and requantisation table slice. */
static void hard_grouped_pair(const hard_grouped_im2col *m,
                              hard_gemm_args *args,
                              const hard_rq *table,
                              int32_t a,
                              int32_t b,
                              int8_t *out_a,
                              int8_t *out_b)
{
    const int32_t groups = m->in_dims->c / m->f_dims->c;
    const int32_t per_group = args->out_c;
    for (int32_t g = 0; g < groups; ++g)
    {
        hard_grouped_pixel(m, g, a, 0);
        hard_grouped_pixel(m, g, b, 1);
        args->filter = m->filter + g * per_group * args->k;
        args->rq = table + g * per_group;
        hard_gemm_pair(args, m->col, out_a + g * per_group, out_b + g * per_group);
    }
}

hard_status hard_convolve_grouped_gemm_s8(const hard_context *ctx,
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
    const hard_conv_params *p = conv_params;
    if (!hard_grouped_valid(p, input_dims, filter_dims, output_dims) || quant_params == 0 ||
        !hard_act_int8(&p->activation) ||
        !hard_ctx_ok(ctx, hard_convolve_grouped_gemm_s8_get_buffer_size(input_dims, filter_dims, output_dims)))
    {
        return HARD_ARG_ERROR;
    }
    const int32_t k = hard_grouped_k(filter_dims);
    const int32_t out_c = output_dims->c;
    const int32_t pixels = output_dims->h * output_dims->w;
    const int32_t ostride = hard_out_stride(p->output_stride, out_c);
    int32_t *col = (int32_t *)ctx->buf;
    int32_t *acc = (int32_t *)(void *)((int8_t *)ctx->buf + hard_col_pair_bytes(k));
    hard_rq *table = (hard_rq *)(void *)(acc + 2 * out_c);
    int8_t *stage = (int8_t *)ctx->buf + hard_col_pair_bytes(k) + hard_gemm_out_bytes(out_c);
    hard_grouped_im2col m = {
        0, input_dims, filter_dims, p, filter, stage, col, hard_dup_lanes(p->input_offset), output_dims->w};
    hard_gemm_args args = {filter,
                           bias,
                           k,
                           k,
                           out_c / (input_dims->c / filter_dims->c),
                           acc,
                           table,
                           {0, p->output_offset, p->activation.min, p->activation.max},
                           0};
    hard_rq_prepare(quant_params, bias, out_c, k, table, &args.out);
    for (int32_t b = 0; b < output_dims->n; ++b)
    {
        m.in = input + b * input_dims->h * input_dims->w * input_dims->c;
        int8_t *out = output + b * pixels * ostride;
        for (int32_t px = 0; px < pixels; px += 2)
        {
            const int32_t px_b = px + 1 < pixels ? px + 1 : px;
            hard_grouped_pair(&m, &args, table, px, px_b, out + px * ostride, out + px_b * ostride);
        }
    }
    return HARD_OK;
}
