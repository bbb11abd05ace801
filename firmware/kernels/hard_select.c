/*
 * hard_select.c - EQUAL (int8 in, bool out) and SELECT_V2 (bool condition,
 * int8 values) with 4-D broadcasting, bit-exact with TFLite's reference
 * kernels.  With MAX_POOL_2D they un-pool with a max-pool's maxima
 * (hardtool.quantize.export_modules).
 */
#include "hard_kernels.h"
#include "hard_support.h"

static inline int32_t
hard_compare_scaled(int32_t value, int32_t offset, int32_t left_shift, int32_t multiplier, int32_t shift)
{
    return hard_requantize_le1((value + offset) * (1 << left_shift), multiplier, shift);
}

int32_t hard_equal_s8_get_buffer_size(void)
{
    return 0;
}

hard_status hard_equal_s8(const hard_compare_params *compare_params,
                          const hard_dims *input1_dims,
                          const int8_t *input1,
                          const hard_dims *input2_dims,
                          const int8_t *input2,
                          const hard_dims *output_dims,
                          uint8_t *output)
{
    hard_dims s1;
    hard_dims s2;
    const hard_compare_params *p = compare_params;
    if (p == 0 || p->left_shift < 0 || p->left_shift > 23 || !hard_dims_valid(output_dims) ||
        !hard_bcast_strides(input1_dims, output_dims, &s1) || !hard_bcast_strides(input2_dims, output_dims, &s2))
    {
        return HARD_ARG_ERROR;
    }
    uint8_t *out = output;
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
                    const int32_t x = hard_compare_scaled(a[c * s1.c], p->input1_offset, p->left_shift,
                                                          p->input1_multiplier, p->input1_shift);
                    const int32_t y = hard_compare_scaled(b[c * s2.c], p->input2_offset, p->left_shift,
                                                          p->input2_multiplier, p->input2_shift);
                    *out++ = (uint8_t)(x == y);
                }
            }
        }
    }
    return HARD_OK;
}

int32_t hard_select_v2_s8_get_buffer_size(void)
{
    return 0;
}

hard_status hard_select_v2_s8(const hard_dims *condition_dims,
                              const uint8_t *condition,
                              const hard_dims *x_dims,
                              const int8_t *x,
                              const hard_dims *y_dims,
                              const int8_t *y,
                              const hard_dims *output_dims,
                              int8_t *output)
{
    hard_dims sc;
    hard_dims sx;
    hard_dims sy;
    if (!hard_dims_valid(output_dims) || !hard_bcast_strides(condition_dims, output_dims, &sc) ||
        !hard_bcast_strides(x_dims, output_dims, &sx) || !hard_bcast_strides(y_dims, output_dims, &sy))
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
                const uint8_t *k = condition + n * sc.n + h * sc.h + w * sc.w;
                const int8_t *a = x + n * sx.n + h * sx.h + w * sx.w;
                const int8_t *b = y + n * sy.n + h * sy.h + w * sy.w;
                for (int32_t c = 0; c < output_dims->c; ++c)
                {
                    *out++ = k[c * sc.c] ? a[c * sx.c] : b[c * sy.c];
                }
            }
        }
    }
    return HARD_OK;
}
