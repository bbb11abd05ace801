/*
 * hard_math.c - SQUARED_DIFFERENCE (4-D broadcast) and ABS, int8.
 *
 * SQUARED_DIFFERENCE: TFLite's squared_difference.cc (int8): each input plus
 * its offset, shifted left by 7, rescaled by MultiplyByQuantizedMultiplier-
 * SmallerThanOneExp; the difference squared (at most 255^2 * 2^14, no int32
 * overflow) and rescaled to the output, plus its zero point, clamped.  The
 * broadcast follows BroadcastBinaryFunction4DSlow: an input index is the
 * output's, or 0 along a dimension of size 1.
 * ABS: TFLite's elementwise.cc AbsEvalQuantized (int8).
 */
#include <stdlib.h>

#include "hard_kernels.h"
#include "hard_support.h"

static inline int8_t hard_sqd_one(const hard_add_params *p, int32_t x, int32_t y)
{
    const int32_t a =
        hard_requantize_le1((x + p->input1_offset) * (1 << p->left_shift), p->input1_multiplier, p->input1_shift);
    const int32_t b =
        hard_requantize_le1((y + p->input2_offset) * (1 << p->left_shift), p->input2_multiplier, p->input2_shift);
    const int32_t d = a - b;
    const int32_t v = hard_requantize_le1(d * d, p->output_multiplier, p->output_shift) + p->output_offset;
    return (int8_t)hard_clamp_i32(v, p->activation.min, p->activation.max);
}

int32_t hard_squared_difference_s8_get_buffer_size(void)
{
    return 0;
}

hard_status hard_squared_difference_s8(const hard_add_params *params,
                                       const hard_dims *input1_dims,
                                       const int8_t *input1,
                                       const hard_dims *input2_dims,
                                       const int8_t *input2,
                                       const hard_dims *output_dims,
                                       int8_t *output)
{
    hard_dims s1;
    hard_dims s2;
    if (params == 0 || params->left_shift < 0 || params->left_shift > 7 || !hard_dims_valid(output_dims) ||
        !hard_bcast_strides(input1_dims, output_dims, &s1) || !hard_bcast_strides(input2_dims, output_dims, &s2))
    {
        return HARD_ARG_ERROR;
    }
    int8_t *out = output;
    for (int32_t n = 0; n < output_dims->n; ++n)
    {
        for (int32_t h = 0; h < output_dims->h; ++h)
        {
            for (int32_t w = 0; w < output_dims->w; ++w)
            {
                const int8_t *a = input1 + n * s1.n + h * s1.h + w * s1.w;
                const int8_t *b = input2 + n * s2.n + h * s2.h + w * s2.w;
                for (int32_t c = 0; c < output_dims->c; ++c)
                {
                    out[c] = hard_sqd_one(params, a[c * s1.c], b[c * s2.c]);
                }
                out += output_dims->c;
            }
        }
    }
    return HARD_OK;
}

int32_t hard_abs_s8_get_buffer_size(void)
{
    return 0;
}

hard_status hard_abs_s8(const hard_abs_params *abs_params, const int8_t *input, int8_t *output, int32_t block_size)
{
    if (abs_params == 0 || input == 0 || output == 0 || block_size < 0)
    {
        return HARD_ARG_ERROR;
    }
    const hard_abs_params *p = abs_params;
    for (int32_t i = 0; i < block_size; ++i)
    {
        int32_t v = abs(input[i] + p->input_offset);
        if (p->rescale != 0)
        {
            v = hard_requantize(v, p->quant.multiplier, p->quant.shift);
        }
        output[i] = (int8_t)hard_clamp_i32(v + p->output_offset, HARD_INT8_MIN, HARD_INT8_MAX);
    }
    return HARD_OK;
}
