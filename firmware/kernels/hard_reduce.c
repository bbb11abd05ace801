/*
 * hard_reduce.c - MEAN over any set of axes of a 4-D int8 tensor.
 *
 * TFLite 2.19's reference QuantizedMeanOrSum (int8, compute_sum = false):
 *   sum  = int32 sum of the raw int8 values over the reduced axes
 *   out  = clamp(MultiplyByQuantizedMultiplier(sum - zp_in * count, mult', shift') + zp_out)
 * where mult'/shift' fold 1/count into the input/output rescale (the same fold as
 * hard_mean_hw_s8).  No scratch: each output element sums its reduced window with
 * four nested loops (reduced extents, kept dims of extent 1).
 */
#include "hard_kernels.h"
#include "hard_support.h"
#include "hard_support_ext.h"

static int32_t hard_sum_window(const int8_t *base, const hard_dims *extent, const hard_dims *stride)
{
    int32_t acc = 0;
    for (int32_t n = 0; n < extent->n; ++n)
    {
        for (int32_t h = 0; h < extent->h; ++h)
        {
            const int8_t *row = base + n * stride->n + h * stride->h;
            for (int32_t w = 0; w < extent->w; ++w)
            {
                for (int32_t c = 0; c < extent->c; ++c)
                {
                    acc += row[w * stride->w + c * stride->c];
                }
            }
        }
    }
    return acc;
}

static int32_t hard_pick(int32_t reduce_axes, int32_t axis, int32_t if_reduced, int32_t if_kept)
{
    return (reduce_axes & axis) != 0 ? if_reduced : if_kept;
}

int32_t hard_mean_s8_get_buffer_size(void)
{
    return 0;
}

hard_status hard_mean_s8(const hard_mean_params *mean_params,
                         const hard_dims *input_dims,
                         int32_t reduce_axes,
                         const int8_t *input,
                         int8_t *output)
{
    if (mean_params == 0 || !hard_dims_valid(input_dims) || reduce_axes <= 0 || reduce_axes > 15)
    {
        return HARD_ARG_ERROR;
    }
    const hard_dims *d = input_dims;
    const hard_dims stride = {d->h * d->w * d->c, d->w * d->c, d->c, 1};
    /* Reduced window per output element, and the kept (output) extents. */
    const hard_dims window = {
        hard_pick(reduce_axes, HARD_AXIS_N, d->n, 1), hard_pick(reduce_axes, HARD_AXIS_H, d->h, 1),
        hard_pick(reduce_axes, HARD_AXIS_W, d->w, 1), hard_pick(reduce_axes, HARD_AXIS_C, d->c, 1)};
    const hard_dims kept = {d->n / window.n, d->h / window.h, d->w / window.w, d->c / window.c};
    const int32_t count = window.n * window.h * window.w * window.c;
    int32_t mult;
    int32_t shift;
    hard_mean_fold_count(mean_params->quant.multiplier, mean_params->quant.shift, count, &mult, &shift);
    const int32_t offset_sum = mean_params->input_offset * count;

    int8_t *out = output;
    for (int32_t n = 0; n < kept.n; ++n)
    {
        for (int32_t h = 0; h < kept.h; ++h)
        {
            for (int32_t w = 0; w < kept.w; ++w)
            {
                for (int32_t c = 0; c < kept.c; ++c)
                {
                    const int8_t *base = input + n * stride.n + h * stride.h + w * stride.w + c;
                    const int32_t sum = hard_sum_window(base, &window, &stride) + offset_sum;
                    const int32_t v = hard_requantize(sum, mult, shift) + mean_params->output_offset;
                    *out++ = (int8_t)hard_clamp_i32(v, HARD_INT8_MIN, HARD_INT8_MAX);
                }
            }
        }
    }
    return HARD_OK;
}
