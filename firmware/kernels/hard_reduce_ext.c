/*
 * hard_reduce_ext.c - SUM and REDUCE_MAX over any set of axes of a 4-D int8 tensor.
 *
 * SUM: TFLite 2.19's reference QuantizedMeanOrSum with compute_sum (taken when
 * the output's scale or zero point differ from the input's, which the
 * converter always makes so):
 *   out = clamp(MultiplyByQuantizedMultiplier(sum - zp_in * count, mult, shift) + zp_out)
 * with mult/shift = QuantizeMultiplier(input scale / output scale).
 * REDUCE_MAX: TFLite's reference ReduceGeneric with max on the raw values
 * (Eval requires equal input and output quantisation).
 * Each output element walks its reduced window; no scratch.
 */
#include "hard_kernels.h"
#include "hard_support.h"

typedef int32_t (*hard_fold_fn)(int32_t acc, int32_t v);

static int32_t hard_fold_add(int32_t acc, int32_t v)
{
    return acc + v;
}

static int32_t hard_fold_max(int32_t acc, int32_t v)
{
    return v > acc ? v : acc;
}

static int32_t
hard_fold_window(hard_fold_fn fold, int32_t init, const int8_t *base, const hard_dims *extent, const hard_dims *stride)
{
    int32_t acc = init;
    for (int32_t n = 0; n < extent->n; ++n)
    {
        for (int32_t h = 0; h < extent->h; ++h)
        {
            for (int32_t w = 0; w < extent->w; ++w)
            {
                const int8_t *px = base + n * stride->n + h * stride->h + w * stride->w;
                for (int32_t c = 0; c < extent->c; ++c)
                {
                    acc = fold(acc, px[c * stride->c]);
                }
            }
        }
    }
    return acc;
}

static int32_t hard_axis_extent(int32_t reduce_axes, int32_t axis, int32_t dim)
{
    return (reduce_axes & axis) != 0 ? dim : 1;
}

/* Folds every reduced window; post maps the folded value to the output byte. */
typedef int8_t (*hard_post_fn)(const void *ctx, int32_t acc, int32_t count);

static hard_status hard_reduce_run(const hard_dims *d,
                                   int32_t reduce_axes,
                                   hard_fold_fn fold,
                                   int32_t init,
                                   hard_post_fn post,
                                   const void *ctx,
                                   const int8_t *input,
                                   int8_t *output)
{
    if (!hard_dims_valid(d) || reduce_axes <= 0 || reduce_axes > 15 || input == 0 || output == 0)
    {
        return HARD_ARG_ERROR;
    }
    const hard_dims stride = {d->h * d->w * d->c, d->w * d->c, d->c, 1};
    const hard_dims window = {
        hard_axis_extent(reduce_axes, HARD_AXIS_N, d->n), hard_axis_extent(reduce_axes, HARD_AXIS_H, d->h),
        hard_axis_extent(reduce_axes, HARD_AXIS_W, d->w), hard_axis_extent(reduce_axes, HARD_AXIS_C, d->c)};
    const hard_dims kept = {d->n / window.n, d->h / window.h, d->w / window.w, d->c / window.c};
    const int32_t count = window.n * window.h * window.w * window.c;
    for (int32_t n = 0; n < kept.n; ++n)
    {
        for (int32_t h = 0; h < kept.h; ++h)
        {
            for (int32_t w = 0; w < kept.w; ++w)
            {
                for (int32_t c = 0; c < kept.c; ++c)
                {
                    const int8_t *base = input + n * stride.n + h * stride.h + w * stride.w + c;
                    *output++ = post(ctx, hard_fold_window(fold, init, base, &window, &stride), count);
                }
            }
        }
    }
    return HARD_OK;
}

static int8_t hard_sum_post(const void *ctx, int32_t acc, int32_t count)
{
    const hard_requant_params *p = (const hard_requant_params *)ctx;
    const int32_t v = hard_requantize(acc + p->input_offset * count, p->quant.multiplier, p->quant.shift);
    return (int8_t)hard_clamp_i32(v + p->output_offset, HARD_INT8_MIN, HARD_INT8_MAX);
}

static int8_t hard_max_post(const void *ctx, int32_t acc, int32_t count)
{
    (void)ctx;
    (void)count;
    return (int8_t)acc;
}

int32_t hard_reduce_sum_s8_get_buffer_size(void)
{
    return 0;
}

hard_status hard_reduce_sum_s8(const hard_requant_params *sum_params,
                               const hard_dims *input_dims,
                               int32_t reduce_axes,
                               const int8_t *input,
                               int8_t *output)
{
    if (sum_params == 0)
    {
        return HARD_ARG_ERROR;
    }
    return hard_reduce_run(input_dims, reduce_axes, hard_fold_add, 0, hard_sum_post, sum_params, input, output);
}

int32_t hard_reduce_max_s8_get_buffer_size(void)
{
    return 0;
}

hard_status hard_reduce_max_s8(const hard_dims *input_dims, int32_t reduce_axes, const int8_t *input, int8_t *output)
{
    return hard_reduce_run(input_dims, reduce_axes, hard_fold_max, HARD_INT8_MIN, hard_max_post, 0, input, output);
}
