/*
 * hard_quantize.c - QUANTIZE between int8 and uint8 (graph inputs/outputs in uint8).
 *
 * TFLite's reference Requantize: clamp(MultiplyByQuantizedMultiplier(x - zp_in,
 * s_in / s_out) + zp_out) to the output type.  Its fast path for equal scales and
 * zero points 128 apart (x ^ 0x80) gives the same bytes.
 */
#include "hard_kernels.h"
#include "hard_support.h"

static inline int32_t hard_requant_value(const hard_requant_params *p, int32_t x)
{
    return hard_requantize(x + p->input_offset, p->quant.multiplier, p->quant.shift) + p->output_offset;
}

int32_t hard_requantize_s8_u8_get_buffer_size(void)
{
    return 0;
}

hard_status hard_requantize_s8_u8(const hard_requant_params *requant_params,
                                  const int8_t *input,
                                  uint8_t *output,
                                  int32_t block_size)
{
    if (requant_params == 0 || block_size < 0)
    {
        return HARD_ARG_ERROR;
    }
    for (int32_t i = 0; i < block_size; ++i)
    {
        output[i] = (uint8_t)hard_clamp_i32(hard_requant_value(requant_params, input[i]), 0, 255);
    }
    return HARD_OK;
}

int32_t hard_requantize_u8_s8_get_buffer_size(void)
{
    return 0;
}

hard_status hard_requantize_u8_s8(const hard_requant_params *requant_params,
                                  const uint8_t *input,
                                  int8_t *output,
                                  int32_t block_size)
{
    if (requant_params == 0 || block_size < 0)
    {
        return HARD_ARG_ERROR;
    }
    for (int32_t i = 0; i < block_size; ++i)
    {
        output[i] = (int8_t)hard_clamp_i32(hard_requant_value(requant_params, input[i]), HARD_INT8_MIN, HARD_INT8_MAX);
    }
    return HARD_OK;
}
