/*
 * hard_transpose.c - TRANSPOSE (up to 6-D), the row copies of SPLIT / SPLIT_V /
 * PACK / UNPACK and GATHER with constant indices (any 1-byte type).
 *
 * Pure data movement: TFLite's reference Transpose, Split, Pack, Unpack and
 * Gather copy bytes without requantising (their int8 Prepare functions keep
 * input and output quantisation equal), so these are exact by construction.
 */
#include <string.h>

#include "hard_kernels.h"
#include "hard_support.h"

int32_t hard_transpose_s8_get_buffer_size(void)
{
    return 0;
}

/* Output extents and the input stride of each output axis; 0 if perm is not a permutation. */
static int hard_transpose_plan(const hard_transpose_params *p, int32_t *out_dim, int32_t *step, int32_t *total)
{
    int32_t in_stride[HARD_TRANSPOSE_MAX_DIMS];
    int32_t size = 1;
    uint32_t seen = 0u;
    for (int32_t a = p->rank - 1; a >= 0; --a)
    {
        if (p->input_shape[a] <= 0)
        {
            return 0;
        }
        in_stride[a] = size;
        size *= p->input_shape[a];
    }
    for (int32_t i = 0; i < p->rank; ++i)
    {
        const int32_t a = p->perm[i];
        if (a < 0 || a >= p->rank || (seen & (1u << a)) != 0u)
        {
            return 0;
        }
        seen |= 1u << a;
        out_dim[i] = p->input_shape[a];
        step[i] = in_stride[a];
    }
    *total = size;
    return 1;
}

hard_status hard_transpose_s8(const hard_transpose_params *transpose_params, const int8_t *input, int8_t *output)
{
    int32_t out_dim[HARD_TRANSPOSE_MAX_DIMS];
    int32_t step[HARD_TRANSPOSE_MAX_DIMS];
    int32_t idx[HARD_TRANSPOSE_MAX_DIMS] = {0};
    int32_t total = 0;
    if (transpose_params == 0 || input == 0 || output == 0 || transpose_params->rank < 1 ||
        transpose_params->rank > HARD_TRANSPOSE_MAX_DIMS ||
        !hard_transpose_plan(transpose_params, out_dim, step, &total))
    {
        return HARD_ARG_ERROR;
    }
    const int32_t last = transpose_params->rank - 1;
    const int32_t run = out_dim[last];
    const int32_t run_step = step[last];
    int32_t offset = 0;
    for (int32_t row = 0; row < total / run; ++row)
    {
        if (run_step == 1)
        {
            memcpy(output, input + offset, (size_t)run);
        }
        else
        {
            for (int32_t k = 0; k < run; ++k)
            {
                output[k] = input[offset + k * run_step];
            }
        }
        output += run;
        /* Odometer over the outer output axes, innermost first. */
        for (int32_t i = last - 1; i >= 0; --i)
        {
            offset += step[i];
            if (++idx[i] < out_dim[i])
            {
                break;
            }
            offset -= step[i] * out_dim[i];
            idx[i] = 0;
        }
    }
    return HARD_OK;
}

int32_t hard_copy_rows_s8_get_buffer_size(void)
{
    return 0;
}

hard_status hard_copy_rows_s8(const hard_copy_rows_params *copy_params, const int8_t *input, int8_t *output)
{
    if (copy_params == 0 || input == 0 || output == 0 || copy_params->rows <= 0 || copy_params->row_size <= 0 ||
        copy_params->input_stride < copy_params->row_size || copy_params->output_stride < copy_params->row_size)
    {
        return HARD_ARG_ERROR;
    }
    for (int32_t r = 0; r < copy_params->rows; ++r)
    {
        memcpy(output + r * copy_params->output_stride, input + r * copy_params->input_stride,
               (size_t)copy_params->row_size);
    }
    return HARD_OK;
}

int32_t hard_gather_s8_get_buffer_size(void)
{
    return 0;
}

hard_status hard_gather_s8(const hard_gather_params *gather_params,
                           const int32_t *indices,
                           int32_t num_indices,
                           const int8_t *input,
                           int8_t *output)
{
    if (gather_params == 0 || indices == 0 || input == 0 || output == 0 || num_indices <= 0 ||
        gather_params->outer <= 0 || gather_params->axis_size <= 0 || gather_params->inner <= 0)
    {
        return HARD_ARG_ERROR;
    }
    for (int32_t i = 0; i < num_indices; ++i)
    {
        if (indices[i] < 0 || indices[i] >= gather_params->axis_size)
        {
            return HARD_ARG_ERROR;
        }
    }
    const int32_t inner = gather_params->inner;
    for (int32_t o = 0; o < gather_params->outer; ++o)
    {
        const int8_t *block = input + o * gather_params->axis_size * inner;
        for (int32_t i = 0; i < num_indices; ++i)
        {
            memcpy(output, block + indices[i] * inner, (size_t)inner);
            output += inner;
        }
    }
    return HARD_OK;
}
