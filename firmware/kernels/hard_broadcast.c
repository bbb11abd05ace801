/*
 * hard_broadcast.c - ADD, SUB, MUL, MAXIMUM, MINIMUM on 4-D shapes with broadcasting.
 *
 * TFLite's Broadcast*4DSlow semantics: output[n][h][w][c] combines
 * input1[n1][h1][w1][c1] and input2[...] where each input index is the output's,
 * or 0 along a dimension of size 1.  Per element the arithmetic is that of
 * TFLite's int8 kernels (reference_integer_ops::AddFunc / MulElementwise); SUB
 * is ADD with input2's multiplier negated, as TFLite's sub kernel does.
 * The loops run over output rows (n, h, w); a row function combines one row
 * of c elements, reading each input with a stride of 1 or 0.
 */
#include "hard_kernels.h"
#include "hard_support.h"

typedef void (*hard_row_fn)(
    const void *params, const int8_t *a, int32_t a_step, const int8_t *b, int32_t b_step, int8_t *out, int32_t count);

static hard_status hard_bcast_run(hard_row_fn row,
                                  const void *params,
                                  const hard_dims *input1_dims,
                                  const int8_t *input1,
                                  const hard_dims *input2_dims,
                                  const int8_t *input2,
                                  const hard_dims *output_dims,
                                  int8_t *output)
{
    hard_dims s1;
    hard_dims s2;
    if (!hard_dims_valid(output_dims) || !hard_bcast_strides(input1_dims, output_dims, &s1) ||
        !hard_bcast_strides(input2_dims, output_dims, &s2))
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
                row(params, a, s1.c, b, s2.c, out, output_dims->c);
                out += output_dims->c;
            }
        }
    }
    return HARD_OK;
}

static void hard_add_row(
    const void *params, const int8_t *a, int32_t a_step, const int8_t *b, int32_t b_step, int8_t *out, int32_t count)
{
    const hard_add_params *p = (const hard_add_params *)params;
    const int32_t scale = 1 << p->left_shift;
    for (int32_t i = 0; i < count; ++i)
    {
        const int32_t x =
            hard_requantize_le1((a[i * a_step] + p->input1_offset) * scale, p->input1_multiplier, p->input1_shift);
        const int32_t y =
            hard_requantize_le1((b[i * b_step] + p->input2_offset) * scale, p->input2_multiplier, p->input2_shift);
        const int32_t sum = hard_requantize_le1(x + y, p->output_multiplier, p->output_shift) + p->output_offset;
        out[i] = (int8_t)hard_clamp_i32(sum, p->activation.min, p->activation.max);
    }
}

static void hard_mul_row(
    const void *params, const int8_t *a, int32_t a_step, const int8_t *b, int32_t b_step, int8_t *out, int32_t count)
{
    const hard_mul_params *p = (const hard_mul_params *)params;
    for (int32_t i = 0; i < count; ++i)
    {
        const int32_t prod = (a[i * a_step] + p->input1_offset) * (b[i * b_step] + p->input2_offset);
        const int32_t v = hard_requantize(prod, p->quant.multiplier, p->quant.shift) + p->output_offset;
        out[i] = (int8_t)hard_clamp_i32(v, p->activation.min, p->activation.max);
    }
}

static void hard_max_row(
    const void *params, const int8_t *a, int32_t a_step, const int8_t *b, int32_t b_step, int8_t *out, int32_t count)
{
    (void)params;
    for (int32_t i = 0; i < count; ++i)
    {
        const int8_t x = a[i * a_step];
        const int8_t y = b[i * b_step];
        out[i] = x > y ? x : y;
    }
}

static void hard_min_row(
    const void *params, const int8_t *a, int32_t a_step, const int8_t *b, int32_t b_step, int8_t *out, int32_t count)
{
    (void)params;
    for (int32_t i = 0; i < count; ++i)
    {
        const int8_t x = a[i * a_step];
        const int8_t y = b[i * b_step];
        out[i] = x < y ? x : y;
    }
}

int32_t hard_broadcast_add_s8_get_buffer_size(void)
{
    return 0;
}

hard_status hard_broadcast_add_s8(const hard_add_params *add_params,
                                  const hard_dims *input1_dims,
                                  const int8_t *input1,
                                  const hard_dims *input2_dims,
                                  const int8_t *input2,
                                  const hard_dims *output_dims,
                                  int8_t *output)
{
    if (add_params == 0 || add_params->left_shift < 0 || add_params->left_shift > 23)
    {
        return HARD_ARG_ERROR;
    }
    return hard_bcast_run(hard_add_row, add_params, input1_dims, input1, input2_dims, input2, output_dims, output);
}

int32_t hard_broadcast_mul_s8_get_buffer_size(void)
{
    return 0;
}

hard_status hard_broadcast_mul_s8(const hard_mul_params *mul_params,
                                  const hard_dims *input1_dims,
                                  const int8_t *input1,
                                  const hard_dims *input2_dims,
                                  const int8_t *input2,
                                  const hard_dims *output_dims,
                                  int8_t *output)
{
    if (mul_params == 0)
    {
        return HARD_ARG_ERROR;
    }
    return hard_bcast_run(hard_mul_row, mul_params, input1_dims, input1, input2_dims, input2, output_dims, output);
}

int32_t hard_maximum_s8_get_buffer_size(void)
{
    return 0;
}

hard_status hard_maximum_s8(const hard_dims *input1_dims,
                            const int8_t *input1,
                            const hard_dims *input2_dims,
                            const int8_t *input2,
                            const hard_dims *output_dims,
                            int8_t *output)
{
    return hard_bcast_run(hard_max_row, 0, input1_dims, input1, input2_dims, input2, output_dims, output);
}

int32_t hard_minimum_s8_get_buffer_size(void)
{
    return 0;
}

hard_status hard_minimum_s8(const hard_dims *input1_dims,
                            const int8_t *input1,
                            const hard_dims *input2_dims,
                            const int8_t *input2,
                            const hard_dims *output_dims,
                            int8_t *output)
{
    return hard_bcast_run(hard_min_row, 0, input1_dims, input1, input2_dims, input2, output_dims, output);
}
