/*
 * hard_pool.c - AVERAGE_POOL_2D, MAX_POOL_2D and MEAN over H,W (int8).
 *
 * Average pooling divides by the number of in-bounds elements of each window
 * (rounded half away from zero), max pooling takes the maximum of the in-bounds
 * elements starting from -128; both clamp to the fused activation.  Windows are
 * summed channel-contiguously into an int32 scratch row.
 */
#include <string.h>

#include "hard_dsp.h"
#include "hard_kernels.h"
#include "hard_pool_fast.h"
#include "hard_support.h"
#include "hard_support_ext.h"

static int hard_pool_args_valid(const hard_pool_params *p,
                                const hard_dims *input_dims,
                                const hard_dims *filter_dims,
                                const hard_dims *output_dims)
{
    return hard_dims_valid(input_dims) && hard_dims_valid(output_dims) && filter_dims != 0 && filter_dims->h > 0 &&
           filter_dims->w > 0 && input_dims->c == output_dims->c && input_dims->n == output_dims->n &&
           p->stride.h > 0 && p->stride.w > 0 && p->padding.top >= 0 && p->padding.left >= 0 &&
           hard_out_stride_valid(p->output_stride, output_dims->c);
}

/* One window of the portable pools: its in-bounds taps summed into acc (average) or maxed into
 * out (max; out starts at -128), channel-contiguously. */
HARD_HOT void hard_pool_window(const int8_t *in_batch,
                               int32_t in_w,
                               int32_t ch,
                               int32_t iy0,
                               int32_t ix0,
                               const int32_t win[4],
                               int32_t *restrict acc,
                               int8_t *restrict out,
                               const int is_max)
{
    for (int32_t ky = win[0]; ky < win[1] && win[2] < win[3]; ++ky)
    {
        const int8_t *in_row = in_batch + ((iy0 + ky) * in_w + ix0 + win[2]) * ch;
        for (int32_t kx = win[2]; kx < win[3]; ++kx)
        {
            const int8_t *restrict px = in_row;
            for (int32_t c = 0; c < ch; ++c)
            {
                if (!is_max)
                {
                    acc[c] += px[c];
                }
                else if (px[c] > out[c])
                {
                    out[c] = px[c];
                }
            }
            in_row += ch;
        }
    }
}

/* The portable AVERAGE_POOL_2D (is_max 0, acc: ch int32 of scratch) and MAX_POOL_2D (is_max 1):
 * one walk over the output pixels and their windows, then divide-and-clamp or clamp. */
HARD_HOT hard_status hard_pool_walk(const hard_pool_params *pool_params,
                                    const hard_dims *input_dims,
                                    const int8_t *input,
                                    const hard_dims *filter_dims,
                                    const hard_dims *output_dims,
                                    int8_t *output,
                                    int32_t *restrict acc,
                                    const int is_max)
{
    const int32_t in_h = input_dims->h;
    const int32_t in_w = input_dims->w;
    const int32_t ch = input_dims->c;
    const int32_t out_h = output_dims->h;
    const int32_t out_w = output_dims->w;
    const int32_t act_min =
        is_max ? hard_max_i32(pool_params->activation.min, HARD_INT8_MIN) : pool_params->activation.min;
    const int32_t act_max =
        is_max ? hard_min_i32(pool_params->activation.max, HARD_INT8_MAX) : pool_params->activation.max;
    const int32_t ostride = hard_out_stride(pool_params->output_stride, ch);
    for (int32_t b = 0; b < input_dims->n; ++b)
    {
        const int8_t *in_batch = input + b * in_h * in_w * ch;
        int8_t *restrict out_ptr = output + b * out_h * out_w * ostride;
        for (int32_t oy = 0; oy < out_h; ++oy)
        {
            const int32_t iy0 = oy * pool_params->stride.h - pool_params->padding.top;
            int32_t win[4]; /* ky_lo, ky_hi, kx_lo, kx_hi */
            hard_window_range(iy0, filter_dims->h, 1, in_h, &win[0], &win[1]);
            for (int32_t ox = 0; ox < out_w; ++ox)
            {
                const int32_t ix0 = ox * pool_params->stride.w - pool_params->padding.left;
                hard_window_range(ix0, filter_dims->w, 1, in_w, &win[2], &win[3]);
                const int32_t count = (win[1] - win[0]) * (win[3] - win[2]);
                if (!is_max && count == 0)
                {
                    return HARD_ARG_ERROR; /* the reference rejects an all-padding window */
                }
                if (is_max)
                {
                    memset(out_ptr, HARD_INT8_MIN, (size_t)ch); /* running maximum kept in the output */
                }
                else
                {
                    memset(acc, 0, (size_t)ch * sizeof(int32_t));
                }
                hard_pool_window(in_batch, in_w, ch, iy0, ix0, win, acc, out_ptr, is_max);
                for (int32_t c = 0; c < ch; ++c)
                {
                    const int32_t v = is_max ? out_ptr[c] : hard_div_round_away(acc[c], count);
                    out_ptr[c] = (int8_t)hard_clamp_i32(v, act_min, act_max);
                }
                out_ptr += ostride;
            }
        }
    }
    return HARD_OK;
}

int32_t hard_avgpool_s8_get_buffer_size(const hard_dims *input_dims, const hard_dims *output_dims)
{
    (void)output_dims;
    return input_dims->c * (int32_t)sizeof(int32_t);
}

hard_status hard_avgpool_s8(const hard_context *ctx,
                            const hard_pool_params *pool_params,
                            const hard_dims *input_dims,
                            const int8_t *input,
                            const hard_dims *filter_dims,
                            const hard_dims *output_dims,
                            int8_t *output)
{
    if (!hard_pool_args_valid(pool_params, input_dims, filter_dims, output_dims) || ctx == 0 || ctx->buf == 0 ||
        ctx->size < hard_avgpool_s8_get_buffer_size(input_dims, output_dims))
    {
        return HARD_ARG_ERROR;
    }
#if HARD_DSP
    if (filter_dims->h * filter_dims->w <= 255 && hard_act_int8(&pool_params->activation))
    {
        return hard_avgpool_fast(pool_params, input_dims, input, filter_dims, output_dims, output);
    }
#endif
    return hard_pool_walk(pool_params, input_dims, input, filter_dims, output_dims, output, (int32_t *)ctx->buf, 0);
}

int32_t hard_max_pool_s8_get_buffer_size(const hard_dims *input_dims, const hard_dims *output_dims)
{
    (void)input_dims;
    (void)output_dims;
    return 0;
}

hard_status hard_max_pool_s8(const hard_context *ctx,
                             const hard_pool_params *pool_params,
                             const hard_dims *input_dims,
                             const int8_t *input,
                             const hard_dims *filter_dims,
                             const hard_dims *output_dims,
                             int8_t *output)
{
    (void)ctx;
    if (!hard_pool_args_valid(pool_params, input_dims, filter_dims, output_dims))
    {
        return HARD_ARG_ERROR;
    }
    return hard_pool_walk(pool_params, input_dims, input, filter_dims, output_dims, output, 0, 1);
}

int32_t hard_mean_hw_s8_get_buffer_size(const hard_dims *input_dims)
{
    return input_dims->c * (int32_t)sizeof(int32_t);
}

hard_status hard_mean_hw_s8(const hard_context *ctx,
                            const hard_mean_params *mean_params,
                            const hard_dims *input_dims,
                            const int8_t *input,
                            int8_t *output)
{
    if (!hard_dims_valid(input_dims) || ctx == 0 || ctx->buf == 0 ||
        ctx->size < hard_mean_hw_s8_get_buffer_size(input_dims))
    {
        return HARD_ARG_ERROR;
    }
    const int32_t ch = input_dims->c;
    const int32_t count = input_dims->h * input_dims->w;
    const int32_t offset_sum = mean_params->input_offset * count;
    int32_t *restrict acc = (int32_t *)ctx->buf;

    /* Fold 1/count into the multiplier as the reference does. */
    int32_t mult;
    int32_t shift;
    hard_mean_fold_count(mean_params->quant.multiplier, mean_params->quant.shift, count, &mult, &shift);

    for (int32_t b = 0; b < input_dims->n; ++b)
    {
        const int8_t *restrict px = input + b * count * ch;
        memset(acc, 0, (size_t)ch * sizeof(int32_t));
        for (int32_t i = 0; i < count; ++i)
        {
            for (int32_t c = 0; c < ch; ++c)
            {
                acc[c] += px[c];
            }
            px += ch;
        }
        for (int32_t c = 0; c < ch; ++c)
        {
            const int32_t v = hard_requantize(acc[c] + offset_sum, mult, shift) + mean_params->output_offset;
            output[b * ch + c] = (int8_t)hard_clamp_i32(v, HARD_INT8_MIN, HARD_INT8_MAX);
        }
    }
    return HARD_OK;
}
