/*
 * hard_float_io.c - QUANTIZE float32 -> int8 and DEQUANTIZE int8 -> float32.
 *
 * The only floating point of the library, for models whose graph input or
 * output is float32.  Compiled to nothing unless HARD_FLOAT_IO is defined, so a
 * firmware that does not need it carries no float code.
 *   QUANTIZE (TFLite AffineQuantize): q = roundf(x / scale) + zero point, clamped;
 *     float32 division and roundf (halves away from zero), as the reference.
 *   DEQUANTIZE (TFLite Dequantize): scale * (q - zero point).  The reference
 *     multiplies in double and rounds to float; that product is exact in double
 *     (24-bit significand times a 9-bit integer), so the one float32 multiply
 *     here rounds to the same value.
 * Do not build with -ffast-math (it may turn x / scale into x * (1 / scale)).
 */
#include "hard_kernels.h"

#if defined(HARD_FLOAT_IO)

#include <math.h>

int32_t hard_quantize_f32_s8_get_buffer_size(void)
{
    return 0;
}

hard_status
hard_quantize_f32_s8(const hard_affine_params *affine_params, const float *input, int8_t *output, int32_t block_size)
{
    if (affine_params == 0 || block_size < 0 || !(affine_params->scale > 0.0f))
    {
        return HARD_ARG_ERROR;
    }
    const float scale = affine_params->scale;
    const int32_t zp = affine_params->zero_point;
    for (int32_t i = 0; i < block_size; ++i)
    {
        const float r = roundf(input[i] / scale);
        /* Beyond +-1024 the int8 clamp decides; NaN (undefined in the reference) maps to the zero point. */
        const float bounded = r > 1024.0f ? 1024.0f : (r < -1024.0f ? -1024.0f : r);
        const int32_t q = (r == r) ? (int32_t)bounded + zp : zp;
        output[i] = (int8_t)(q < -128 ? -128 : (q > 127 ? 127 : q));
    }
    return HARD_OK;
}

int32_t hard_dequantize_s8_f32_get_buffer_size(void)
{
    return 0;
}

hard_status
hard_dequantize_s8_f32(const hard_affine_params *affine_params, const int8_t *input, float *output, int32_t block_size)
{
    if (affine_params == 0 || block_size < 0)
    {
        return HARD_ARG_ERROR;
    }
    const float scale = affine_params->scale;
    const int32_t zp = affine_params->zero_point;
    for (int32_t i = 0; i < block_size; ++i)
    {
        output[i] = scale * (float)(input[i] - zp);
    }
    return HARD_OK;
}

#else

/* ISO C forbids an empty translation unit. */
typedef int hard_float_io_disabled;

#endif
