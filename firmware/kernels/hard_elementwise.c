/*
 * hard_elementwise.c - ADD, MUL, QUANTIZE (int8 -> int8 requantise), CONCATENATION
 * along channels and PAD.
 *
 * ADD follows TFLite's int8 path: both inputs are shifted left by left_shift (20),
 * scaled to a common scale with multipliers below one, summed and rescaled.
 */
#include <string.h>

#include "hard_dsp.h"
#include "hard_elementwise_fast.h"
#include "hard_kernels.h"
#include "hard_support.h"

int32_t hard_elementwise_add_s8_get_buffer_size(void)
{
    return 0;
}

hard_status hard_elementwise_add_s8(
    const hard_add_params *add_params, const int8_t *input1, const int8_t *input2, int8_t *output, int32_t block_size)
{
    if (block_size < 0 || add_params->left_shift < 0 || add_params->left_shift > 23)
    {
        return HARD_ARG_ERROR;
    }
#if HARD_DSP
    if (hard_add_fast_ok(add_params))
    {
        hard_add_fast(add_params, input1, input2, output, block_size);
        return HARD_OK;
    }
#endif
    const int32_t off1 = add_params->input1_offset;
    const int32_t mult1 = add_params->input1_multiplier;
    const int32_t shift1 = add_params->input1_shift;
    const int32_t off2 = add_params->input2_offset;
    const int32_t mult2 = add_params->input2_multiplier;
    const int32_t shift2 = add_params->input2_shift;
    const int32_t left_shift = add_params->left_shift;
    const int32_t out_off = add_params->output_offset;
    const int32_t out_mult = add_params->output_multiplier;
    const int32_t out_shift = add_params->output_shift;
    const int32_t act_min = add_params->activation.min;
    const int32_t act_max = add_params->activation.max;

    for (int32_t i = 0; i < block_size; ++i)
    {
        const int32_t a = hard_requantize_le1((input1[i] + off1) * (1 << left_shift), mult1, shift1);
        const int32_t b = hard_requantize_le1((input2[i] + off2) * (1 << left_shift), mult2, shift2);
        int32_t sum = hard_requantize_le1(a + b, out_mult, out_shift) + out_off;
        output[i] = (int8_t)hard_clamp_i32(sum, act_min, act_max);
    }
    return HARD_OK;
}

int32_t hard_elementwise_mul_s8_get_buffer_size(void)
{
    return 0;
}

hard_status hard_elementwise_mul_s8(
    const hard_mul_params *mul_params, const int8_t *input1, const int8_t *input2, int8_t *output, int32_t block_size)
{
    if (block_size < 0)
    {
        return HARD_ARG_ERROR;
    }
#if HARD_DSP
    if (hard_mul_fast_ok(mul_params))
    {
        hard_mul_fast(mul_params, input1, input2, output, block_size);
        return HARD_OK;
    }
#endif
    const int32_t off1 = mul_params->input1_offset;
    const int32_t off2 = mul_params->input2_offset;
    const int32_t out_off = mul_params->output_offset;
    const int32_t mult = mul_params->quant.multiplier;
    const int32_t shift = mul_params->quant.shift;
    const int32_t act_min = mul_params->activation.min;
    const int32_t act_max = mul_params->activation.max;

    for (int32_t i = 0; i < block_size; ++i)
    {
        const int32_t prod = (input1[i] + off1) * (input2[i] + off2);
        const int32_t v = hard_requantize(prod, mult, shift) + out_off;
        output[i] = (int8_t)hard_clamp_i32(v, act_min, act_max);
    }
    return HARD_OK;
}

static int hard_requant_is_identity(const hard_requant_params *p)
{
    return p->quant.multiplier == (1 << 30) && p->quant.shift == 1 && p->input_offset + p->output_offset == 0;
}

/* One run of TFLite's Requantize: clamp to the int8 range. */
static void hard_requantize_run(const hard_requant_params *p, const int8_t *input, int8_t *output, int32_t n)
{
    const int32_t in_off = p->input_offset;
    const int32_t out_off = p->output_offset;
    const int32_t mult = p->quant.multiplier;
    const int32_t shift = p->quant.shift;
    for (int32_t i = 0; i < n; ++i)
    {
        const int32_t v = hard_requantize(input[i] + in_off, mult, shift) + out_off;
        output[i] = (int8_t)hard_clamp_i32(v, HARD_INT8_MIN, HARD_INT8_MAX);
    }
}

int32_t hard_requantize_s8_get_buffer_size(void)
{
    return 0;
}

hard_status
hard_requantize_s8(const hard_requant_params *requant_params, const int8_t *input, int8_t *output, int32_t block_size)
{
    if (block_size < 0)
    {
        return HARD_ARG_ERROR;
    }
    if (hard_requant_is_identity(requant_params))
    {
        if (output != input)
        {
            memmove(output, input, (size_t)block_size);
        }
        return HARD_OK;
    }
    hard_requantize_run(requant_params, input, output, block_size);
    return HARD_OK;
}

int32_t hard_concatenation_c_s8_get_buffer_size(void)
{
    return 0;
}

hard_status hard_concatenation_c_s8(const hard_concat_input *inputs, int32_t num_inputs, int32_t rows, int8_t *output)
{
    if (num_inputs <= 0 || rows < 0)
    {
        return HARD_ARG_ERROR;
    }
    int32_t out_c = 0;
    for (int32_t k = 0; k < num_inputs; ++k)
    {
        if (inputs[k].channels <= 0)
        {
            return HARD_ARG_ERROR;
        }
        out_c += inputs[k].channels;
    }
    /* Input by input: each one is a strided copy (or requantisation) into its slice, in ascending
     * order: an input the plan placed at the top of the output's bytes (relocated) is never
     * overwritten before it is read, as every write lands at or below the bytes it reads. */
    int32_t c_begin = 0;
    for (int32_t k = 0; k < num_inputs; ++k)
    {
        const hard_concat_input *in = &inputs[k];
        const int32_t ch = in->channels;
        const int8_t *src = in->data;
        int8_t *dst = output + c_begin;
        if (src == 0)
        {
            /* produced in its slice already */
        }
        else if (hard_requant_is_identity(&in->requant))
        {
            for (int32_t r = 0; r < rows; ++r)
            {
                memmove(dst, src, (size_t)ch);
                src += ch;
                dst += out_c;
            }
        }
        else
        {
            for (int32_t r = 0; r < rows; ++r)
            {
                hard_requantize_run(&in->requant, src, dst, ch);
                src += ch;
                dst += out_c;
            }
        }
        c_begin += ch;
    }
    return HARD_OK;
}

int32_t hard_pad_s8_get_buffer_size(void)
{
    return 0;
}

hard_status hard_pad_s8(const hard_pad_params *pad_params,
                        const hard_dims *input_dims,
                        const int8_t *input,
                        const hard_dims *output_dims,
                        int8_t *output)
{
    const hard_padding *pad = &pad_params->padding;
    if (!hard_dims_valid(input_dims) || !hard_dims_valid(output_dims) || pad->top < 0 || pad->bottom < 0 ||
        pad->left < 0 || pad->right < 0 || output_dims->n != input_dims->n || output_dims->c != input_dims->c ||
        output_dims->h != input_dims->h + pad->top + pad->bottom ||
        output_dims->w != input_dims->w + pad->left + pad->right)
    {
        return HARD_ARG_ERROR;
    }
    const int32_t ch = input_dims->c;
    const int32_t in_row = input_dims->w * ch;
    const int32_t out_row = output_dims->w * ch;
    const int value = (int)(int8_t)pad_params->pad_value;
    const size_t left = (size_t)(pad->left * ch);
    const size_t right = (size_t)(pad->right * ch);

    for (int32_t b = 0; b < input_dims->n; ++b)
    {
        const int8_t *src = input + b * input_dims->h * in_row;
        int8_t *dst = output + b * output_dims->h * out_row;
        memset(dst, value, (size_t)(pad->top * out_row));
        dst += pad->top * out_row;
        for (int32_t y = 0; y < input_dims->h; ++y)
        {
            memset(dst, value, left);
            memcpy(dst + left, src, (size_t)in_row);
            memset(dst + left + in_row, value, right);
            src += in_row;
            dst += out_row;
        }
        memset(dst, value, (size_t)(pad->bottom * out_row));
    }
    return HARD_OK;
}
