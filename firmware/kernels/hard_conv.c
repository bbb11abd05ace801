/*
 * hard_conv.c - CONV_2D and DEPTHWISE_CONV_2D, int8 with per-channel requantisation.
 *
 * Reference semantics (TFLite ConvPerChannel / DepthwiseConvPerChannel):
 *   acc = bias[oc] + sum over in-bounds taps of filter * (input + input_offset)
 *   out = clamp(MultiplyByQuantizedMultiplier(acc, mult[oc], shift[oc]) + output_offset)
 * Out-of-bounds taps (the padding) contribute nothing, i.e. pad with the input zero point.
 */
#include "hard_dsp.h"
#include "hard_dw_simd.h"
#include "hard_fused_add.h"
#include "hard_kernels.h"
#include "hard_support.h"

static int hard_conv_geometry_valid(const hard_tile *stride, const hard_tile *dilation, const hard_padding *pad)
{
    return stride->h > 0 && stride->w > 0 && dilation->h > 0 && dilation->w > 0 && pad->top >= 0 && pad->left >= 0 &&
           pad->bottom >= 0 && pad->right >= 0;
}

/* Geometry and quantisation shared by the portable loops below. */
typedef struct
{
    int32_t in_h;
    int32_t in_w;
    int32_t in_c;
    int32_t k_h;
    int32_t k_w;
    int32_t stride_h;
    int32_t stride_w;
    int32_t dil_h;
    int32_t dil_w;
    int32_t pad_top;
    int32_t pad_left;
    int32_t input_offset;
    int32_t output_offset;
    int32_t act_min;
    int32_t act_max;
} hard_conv_geom;

static hard_conv_geom hard_conv_geom_make(const hard_dims *in,
                                          const hard_dims *f,
                                          const hard_tile *stride,
                                          const hard_tile *dil,
                                          const hard_padding *pad,
                                          int32_t input_offset,
                                          int32_t output_offset,
                                          const hard_activation *act)
{
    hard_conv_geom g = {in->h,  in->w,    in->c,     f->h,         f->w,          stride->h, stride->w, dil->h,
                        dil->w, pad->top, pad->left, input_offset, output_offset, act->min,  act->max};
    return g;
}

static inline int8_t hard_conv_out(const hard_conv_geom *g, int32_t acc, int32_t mult, int32_t shift)
{
    acc = hard_requantize(acc, mult, shift) + g->output_offset;
    return (int8_t)hard_clamp_i32(acc, g->act_min, g->act_max);
}

/* What every output pixel of a portable CONV_2D / DEPTHWISE_CONV_2D reads besides the input. */
typedef struct
{
    hard_conv_geom g;
    const int8_t *filter;
    const int32_t *bias;
    const int32_t *full_bias; /* CONV_2D: per-channel full-window bias, or NULL (computed per pixel) */
    const hard_per_channel_quant *quant;
    int32_t out_c;
    int32_t ch_mult;         /* DEPTHWISE_CONV_2D */
    const hard_fa_stage *fa; /* CONV_2D: NULL, or the fused residual ADD run after each row */
} hard_conv_job;

/* Every output channel of the output pixel whose window starts at input row iy0, column ix0. */
typedef void (*hard_conv_pixel_fn)(
    const hard_conv_job *job, const int8_t *in_batch, int32_t iy0, int32_t ix0, int8_t *out);

/* Every output pixel of every batch in order, ostride bytes apart: pixel by pixel, so the output
 * may overwrite the input (see hard_kernels.h, "in place"). */
static void hard_conv_walk(const hard_conv_job *job,
                           const hard_dims *input_dims,
                           const int8_t *input,
                           const hard_dims *output_dims,
                           int8_t *output,
                           int32_t ostride,
                           hard_conv_pixel_fn pixel)
{
    const hard_conv_geom *g = &job->g;
    for (int32_t b = 0; b < input_dims->n; ++b)
    {
        const int8_t *in_batch = input + b * g->in_h * g->in_w * g->in_c;
        int8_t *out = output + b * output_dims->h * output_dims->w * ostride;
        for (int32_t oy = 0; oy < output_dims->h; ++oy)
        {
            int8_t *row = out;
            for (int32_t ox = 0; ox < output_dims->w; ++ox, out += ostride)
            {
                pixel(job, in_batch, oy * g->stride_h - g->pad_top, ox * g->stride_w - g->pad_left, out);
            }
            if (job->fa != 0)
            {
                /* the row's pixels are written and only they: their ADD in one run */
                hard_fa_row(job->fa, row, output_dims->w);
            }
        }
    }
}

int32_t hard_convolve_s8_get_buffer_size(const hard_dims *input_dims,
                                         const hard_dims *filter_dims,
                                         const hard_dims *output_dims)
{
    /* The ARMv7E-M paths (hard_conv_gemm.c) take these; the portable path ignores them. */
    if (filter_dims->h == 1 && filter_dims->w == 1)
    {
        return hard_convolve_1x1_s8_get_buffer_size(input_dims, filter_dims);
    }
    return hard_convolve_im2col_s8_get_buffer_size(input_dims, filter_dims, output_dims);
}

/* sum over the valid taps of one output pixel: filter . input, and (when partial) sum(filter). */
static int32_t hard_conv_window(const hard_conv_geom *g,
                                const int8_t *in_batch,
                                const int8_t *filt,
                                int32_t iy0,
                                int32_t ix0,
                                int32_t ky_lo,
                                int32_t ky_hi,
                                int32_t *tap_sum,
                                int32_t *full)
{
    int32_t kx_lo;
    int32_t kx_hi;
    hard_window_range(ix0, g->k_w, g->dil_w, g->in_w, &kx_lo, &kx_hi);
    const int32_t kx_n = kx_hi - kx_lo;
    const int32_t ky_end = kx_n > 0 ? ky_hi : ky_lo;
    const int32_t row_stride = g->in_w * g->in_c;
    const int32_t c = g->in_c;
    *full = ky_lo == 0 && ky_hi == g->k_h && kx_n == g->k_w;
    int32_t acc = 0;
    *tap_sum = 0;
    for (int32_t ky = ky_lo; ky < ky_end; ++ky)
    {
        /* First valid tap of this filter row. */
        const int8_t *in_row = in_batch + (iy0 + ky * g->dil_h) * row_stride + (ix0 + kx_lo * g->dil_w) * c;
        const int8_t *f_row = filt + ky * g->k_w * c;
        if (g->dil_w == 1)
        {
            /* The valid taps of one filter row are contiguous in memory. */
            acc += hard_dot_s8(f_row + kx_lo * c, in_row, kx_n * c);
            *tap_sum += *full ? 0 : hard_sum_s8(f_row + kx_lo * c, kx_n * c);
            continue;
        }
        for (int32_t kx = kx_lo; kx < kx_hi; ++kx)
        {
            acc += hard_dot_s8(f_row + kx * c, in_row + (kx - kx_lo) * g->dil_w * c, c);
            *tap_sum += *full ? 0 : hard_sum_s8(f_row + kx * c, c);
        }
    }
    return acc;
}

/* bias + input_offset * sum(filter): the accumulator's start for a window wholly inside the input. */
static int32_t hard_conv_full_bias(const hard_conv_geom *g, const int8_t *filt, int32_t bias_val)
{
    return bias_val + g->input_offset * hard_sum_s8(filt, g->k_h * g->k_w * g->in_c);
}

/* Every output channel of one output pixel (a hard_conv_pixel_fn). */
HARD_NOINLINE void
hard_conv_pixel(const hard_conv_job *job, const int8_t *in_batch, int32_t iy0, int32_t ix0, int8_t *out)
{
    const hard_conv_geom local = job->g; /* copies: the int8 stores below cannot alias them */
    const hard_conv_geom *g = &local;
    const int8_t *filter = job->filter;
    const int32_t *bias = job->bias;
    const int32_t *full_bias = job->full_bias;
    const hard_per_channel_quant *quant = job->quant;
    const int32_t out_c = job->out_c;
    const int32_t filter_size = g->k_h * g->k_w * g->in_c;
    int32_t ky_lo;
    int32_t ky_hi;
    hard_window_range(iy0, g->k_h, g->dil_h, g->in_h, &ky_lo, &ky_hi);
    for (int32_t oc = 0; oc < out_c; ++oc)
    {
        const int8_t *filt = filter + oc * filter_size;
        const int32_t bias_val = bias != 0 ? bias[oc] : 0;
        int32_t tap_sum;
        int32_t full;
        int32_t acc = hard_conv_window(g, in_batch, filt, iy0, ix0, ky_lo, ky_hi, &tap_sum, &full);
        if (full)
        {
            acc += full_bias != 0 ? full_bias[oc] : hard_conv_full_bias(g, filt, bias_val);
        }
        else
        {
            acc += bias_val + g->input_offset * tap_sum;
        }
        out[oc] = hard_conv_out(g, acc, quant->multiplier[oc], quant->shift[oc]);
    }
}

#if HARD_DSP
/* The SIMD paths when the caller gave the scratch they need; HARD_OK when one ran. */
static hard_status hard_convolve_dsp(const hard_context *ctx,
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
    if (ctx == 0 || ctx->buf == 0)
    {
        return HARD_ARG_ERROR;
    }
    if (hard_convolve_1x1_s8(ctx, conv_params, quant_params, input_dims, input, filter_dims, filter, bias, output_dims,
                             output) == HARD_OK)
    {
        return HARD_OK;
    }
    return hard_convolve_im2col_s8(ctx, conv_params, quant_params, input_dims, input, filter_dims, filter, bias,
                                   output_dims, output);
}
#endif

hard_status hard_convolve_s8(const hard_context *ctx,
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
    if (!hard_dims_valid(input_dims) || !hard_dims_valid(filter_dims) || !hard_dims_valid(output_dims) ||
        input_dims->c != filter_dims->c || output_dims->c != filter_dims->n || output_dims->n != input_dims->n ||
        !hard_conv_geometry_valid(&conv_params->stride, &conv_params->dilation, &conv_params->padding) ||
        !hard_out_stride_valid(conv_params->output_stride, output_dims->c) ||
        !hard_fused_add_valid(conv_params->fused_add))
    {
        return HARD_ARG_ERROR;
    }
#if HARD_DSP
    if (hard_convolve_dsp(ctx, conv_params, quant_params, input_dims, input, filter_dims, filter, bias, output_dims,
                          output) == HARD_OK)
    {
        return HARD_OK;
    }
#endif
    hard_conv_job job = {hard_conv_geom_make(input_dims, filter_dims, &conv_params->stride, &conv_params->dilation,
                                             &conv_params->padding, conv_params->input_offset,
                                             conv_params->output_offset, &conv_params->activation),
                         filter,
                         bias,
                         0,
                         quant_params,
                         output_dims->c,
                         1,
                         0};
    const int32_t out_c = output_dims->c;
    const int32_t ostride = hard_out_stride(conv_params->output_stride, out_c);
    hard_fa_stage fa;
    if (conv_params->fused_add != 0)
    {
        hard_fa_prepare(&fa, conv_params->fused_add, output, out_c, ostride);
        job.fa = &fa;
    }
    /* Per-channel full-window bias in the scratch when there is room, else per pixel. */
    if (hard_ctx_ok(ctx, out_c * (int32_t)sizeof(int32_t)))
    {
        int32_t *full_bias = (int32_t *)ctx->buf;
        for (int32_t oc = 0; oc < out_c; ++oc)
        {
            full_bias[oc] =
                hard_conv_full_bias(&job.g, filter + oc * job.g.k_h * job.g.k_w * job.g.in_c, bias != 0 ? bias[oc] : 0);
        }
        job.full_bias = full_bias;
    }
    hard_conv_walk(&job, input_dims, input, output_dims, output, ostride, hard_conv_pixel);
    return HARD_OK;
}

int32_t hard_depthwise_conv_s8_get_buffer_size(const hard_dims *input_dims,
                                               const hard_dims *filter_dims,
                                               const hard_dims *output_dims)
{
    /* A row of input zero points for the ARMv7E-M path (hard_dw_simd.c). */
    (void)filter_dims;
    (void)output_dims;
    return hard_depthwise_conv_3x3_s8_get_buffer_size(input_dims);
}

/* Every output channel of one output pixel, walking only the valid taps (a hard_conv_pixel_fn). */
HARD_NOINLINE void
hard_dw_pixel(const hard_conv_job *job, const int8_t *in_batch, int32_t iy0, int32_t ix0, int8_t *out)
{
    const hard_conv_geom local = job->g; /* copies: the int8 stores below cannot alias them */
    const hard_conv_geom *g = &local;
    const int8_t *filter = job->filter;
    const int32_t *bias = job->bias;
    const hard_per_channel_quant *quant = job->quant;
    const int32_t ch_mult = job->ch_mult;
    const int32_t out_c = g->in_c * ch_mult;
    int32_t ky_lo;
    int32_t ky_hi;
    int32_t kx_lo;
    int32_t kx_hi;
    hard_window_range(iy0, g->k_h, g->dil_h, g->in_h, &ky_lo, &ky_hi);
    hard_window_range(ix0, g->k_w, g->dil_w, g->in_w, &kx_lo, &kx_hi);
    /* A window fully in the padding leaves the bias only. */
    const int empty = ky_lo == ky_hi || kx_lo == kx_hi;
    const int32_t ky_end = empty ? ky_lo : ky_hi;
    const int32_t row_stride = g->in_w * g->in_c;
    const int8_t *in_win =
        empty ? in_batch : in_batch + (iy0 + ky_lo * g->dil_h) * row_stride + (ix0 + kx_lo * g->dil_w) * g->in_c;
    const int8_t *f_win = filter + (ky_lo * g->k_w + kx_lo) * out_c;
    const int32_t tap_y_in = g->dil_h * row_stride;
    const int32_t tap_x_in = g->dil_w * g->in_c;
    const int32_t tap_y_f = g->k_w * out_c;
    const int32_t f_span = (kx_hi - kx_lo) * out_c;
    const int32_t input_offset = g->input_offset;
    int32_t oc = 0;
    for (int32_t ic = 0; ic < g->in_c; ++ic)
    {
        for (int32_t m = 0; m < ch_mult; ++m, ++oc)
        {
            int32_t acc = bias != 0 ? bias[oc] : 0;
            const int8_t *restrict in_tap_row = in_win + ic;
            const int8_t *restrict f_tap_row = f_win + oc;
            for (int32_t ky = ky_lo; ky < ky_end; ++ky)
            {
                const int8_t *in_tap = in_tap_row;
                const int8_t *f_tap = f_tap_row;
                const int8_t *f_end = f_tap_row + f_span;
                while (f_tap != f_end)
                {
                    acc += *f_tap * (*in_tap + input_offset);
                    in_tap += tap_x_in;
                    f_tap += out_c;
                }
                in_tap_row += tap_y_in;
                f_tap_row += tap_y_f;
            }
            out[oc] = hard_conv_out(g, acc, quant->multiplier[oc], quant->shift[oc]);
        }
    }
}

hard_status hard_depthwise_conv_s8(const hard_context *ctx,
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
    const int32_t ch_mult = dw_conv_params->ch_mult;
    if (!hard_dims_valid(input_dims) || !hard_dims_valid(filter_dims) || !hard_dims_valid(output_dims) ||
        ch_mult <= 0 || output_dims->c != input_dims->c * ch_mult || filter_dims->c != output_dims->c ||
        output_dims->n != input_dims->n ||
        !hard_conv_geometry_valid(&dw_conv_params->stride, &dw_conv_params->dilation, &dw_conv_params->padding) ||
        !hard_out_stride_valid(dw_conv_params->output_stride, output_dims->c))
    {
        return HARD_ARG_ERROR;
    }
#if HARD_DSP
    if (hard_dw_simd_1hwc(ctx, dw_conv_params, quant_params, input_dims, input, filter_dims, filter, bias, output_dims,
                          output) == HARD_OK)
    {
        return HARD_OK;
    }
#else
    (void)ctx;
#endif
    const hard_conv_job job = {hard_conv_geom_make(input_dims, filter_dims, &dw_conv_params->stride,
                                                   &dw_conv_params->dilation, &dw_conv_params->padding,
                                                   dw_conv_params->input_offset, dw_conv_params->output_offset,
                                                   &dw_conv_params->activation),
                               filter,
                               bias,
                               0,
                               quant_params,
                               output_dims->c,
                               ch_mult,
                               0};
    hard_conv_walk(&job, input_dims, input, output_dims, output,
                   hard_out_stride(dw_conv_params->output_stride, output_dims->c), hard_dw_pixel);
    return HARD_OK;
}
