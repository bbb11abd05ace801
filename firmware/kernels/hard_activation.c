/*
 * hard_activation.c - LOGISTIC and TANH (lookup table), RELU / RELU6 /
 * RELU_N1_TO_1 / RELU_0_TO_1, LEAKY_RELU and HARD_SWISH, int8 -> int8.
 *
 * Reference semantics (TFLite 2.19, BUILTIN_REF):
 *   LOGISTIC, TANH: LookupTable with the LUTPopulate<int8_t> table (float32
 *     transform per input value, computed on the host);
 *   RELU family: ReluX: clamp(zp_out + MultiplyByQuantizedMultiplier(x - zp_in));
 *   LEAKY_RELU: QuantizeLeakyRelu, identity or alpha multiplier by the sign of x - zp_in;
 *   HARD_SWISH: reference_ops::HardSwish, 16-bit gemmlowp fixed point.
 */
#include "hard_kernels.h"
#include "hard_support.h"

int32_t hard_lut_s8_get_buffer_size(void)
{
    return 0;
}

hard_status hard_lut_s8(const int8_t *lut, const int8_t *input, int8_t *output, int32_t block_size)
{
    if (lut == 0 || block_size < 0)
    {
        return HARD_ARG_ERROR;
    }
    for (int32_t i = 0; i < block_size; ++i)
    {
        output[i] = lut[(uint8_t)input[i]];
    }
    return HARD_OK;
}

int32_t hard_relu_s8_get_buffer_size(void)
{
    return 0;
}

hard_status hard_relu_s8(const hard_relu_params *relu_params, const int8_t *input, int8_t *output, int32_t block_size)
{
    if (relu_params == 0 || block_size < 0)
    {
        return HARD_ARG_ERROR;
    }
    const int32_t in_off = relu_params->input_offset;
    const int32_t out_off = relu_params->output_offset;
    const int32_t mult = relu_params->quant.multiplier;
    const int32_t shift = relu_params->quant.shift;
    const int32_t act_min = relu_params->activation.min;
    const int32_t act_max = relu_params->activation.max;
    for (int32_t i = 0; i < block_size; ++i)
    {
        const int32_t v = out_off + hard_requantize(input[i] + in_off, mult, shift);
        output[i] = (int8_t)hard_clamp_i32(v, act_min, act_max);
    }
    return HARD_OK;
}

int32_t hard_leaky_relu_s8_get_buffer_size(void)
{
    return 0;
}

hard_status hard_leaky_relu_s8(const hard_leaky_relu_params *leaky_relu_params,
                               const int8_t *input,
                               int8_t *output,
                               int32_t block_size)
{
    if (leaky_relu_params == 0 || block_size < 0)
    {
        return HARD_ARG_ERROR;
    }
    const hard_leaky_relu_params *p = leaky_relu_params;
    for (int32_t i = 0; i < block_size; ++i)
    {
        const int32_t v = input[i] + p->input_offset;
        const hard_per_tensor_quant *q = v >= 0 ? &p->identity : &p->alpha;
        const int32_t out = p->output_offset + hard_requantize(v, q->multiplier, q->shift);
        output[i] = (int8_t)hard_clamp_i32(out, HARD_INT8_MIN, HARD_INT8_MAX);
    }
    return HARD_OK;
}

/* ---- 16-bit gemmlowp / TFLite helpers of HardSwish (values held in int32, int16 semantics) */

/* Wrap to int16 as an assignment to int16_t does. */
static inline int32_t hard_wrap16(int32_t v)
{
    return (int32_t)(int16_t)(uint16_t)((uint32_t)v & 0xFFFFu);
}

/* gemmlowp SaturatingRoundingDoublingHighMul<int16_t>. */
static inline int32_t hard_srdhm16(int32_t a, int32_t b)
{
    if (a == b && a == INT16_MIN)
    {
        return INT16_MAX;
    }
    const int32_t ab = a * b;
    const int32_t nudge = ab >= 0 ? (1 << 14) : (1 - (1 << 14));
    return hard_wrap16((ab + nudge) / (1 << 15));
}

/* TFLite SaturatingDoublingHighMul (int16, rounds toward zero). */
static inline int32_t hard_sdhm16(int32_t a, int32_t b)
{
    if (a == b && a == INT16_MIN)
    {
        return INT16_MAX;
    }
    return hard_wrap16((a * b) / (1 << 15));
}

/* TFLite SaturatingLeftShift (int16). */
static inline int32_t hard_sat_shl16(int32_t v, int32_t amount)
{
    const int64_t r = (int64_t)v * ((int64_t)1 << hard_min_i32(amount, 31));
    return (int32_t)(r > INT16_MAX ? INT16_MAX : (r < INT16_MIN ? INT16_MIN : r));
}

/* gemmlowp RoundingDivideByPOT<int16_t>: the mask is (1 << exponent) - 1 cut to int16. */
static inline int32_t hard_rdpot16(int32_t x, int32_t exponent)
{
    const int32_t mask = hard_wrap16((int32_t)((((int64_t)1 << exponent) - 1) & 0xFFFF));
    const int32_t remainder = x & mask;
    const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
    return hard_wrap16((x >> exponent) + (remainder > threshold ? 1 : 0));
}

static int8_t hard_hard_swish_one(const hard_hard_swish_params *p, int32_t x)
{
    const int32_t hires = (x - p->input_zero_point) * 128;
    const int32_t preshift_scaled = hard_srdhm16(hires, p->output_multiplier);
    int32_t reluish = hires;
    if (p->reluish_exponent > 0)
    {
        reluish = hard_sat_shl16(reluish, p->reluish_exponent - 1);
    }
    reluish = hard_srdhm16(reluish, p->reluish_multiplier);
    if (p->reluish_exponent > 0)
    {
        reluish = hard_sat_shl16(reluish, 1);
    }
    if (p->reluish_exponent < 0)
    {
        reluish = hard_rdpot16(reluish, -p->reluish_exponent);
    }
    reluish = (reluish + (1 << 15)) >> 1; /* [-1, 1] -> [0, 1] */
    const int32_t preshift_output = hard_sdhm16(reluish, preshift_scaled);
    const int32_t out = hard_wrap16(hard_rdpot16(preshift_output, -p->output_exponent) + p->output_zero_point);
    return (int8_t)hard_clamp_i32(out, HARD_INT8_MIN, HARD_INT8_MAX);
}

int32_t hard_hard_swish_s8_get_buffer_size(void)
{
    return 0;
}

hard_status hard_hard_swish_s8(const hard_hard_swish_params *hard_swish_params,
                               const int8_t *input,
                               int8_t *output,
                               int32_t block_size)
{
    if (hard_swish_params == 0 || block_size < 0 || hard_swish_params->output_exponent > 0 ||
        hard_swish_params->output_exponent < -31 || hard_swish_params->reluish_exponent < -31)
    {
        return HARD_ARG_ERROR;
    }
    for (int32_t i = 0; i < block_size; ++i)
    {
        output[i] = hard_hard_swish_one(hard_swish_params, input[i]);
    }
    return HARD_OK;
}
