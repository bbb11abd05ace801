/*
 * hard_fc.c - FULLY_CONNECTED, int8, per-tensor or per-channel weights.
 *
 * Reference semantics (TFLite reference_integer_ops::FullyConnected and
 * FullyConnectedPerChannel):
 *   acc = bias[o] + sum_d (filter[o][d] + filter_offset) * (input[b][d] + input_offset)
 *   out = clamp(MultiplyByQuantizedMultiplier(acc, mult, shift) + output_offset)
 *
 * DSP path (HARD_FC_SIMD, with hard_dsp.h's primitives): two units share each load of four
 * input bytes; SXTAB16 adds the offsets in 16-bit lanes, SMLAD accumulates two
 * products at a time.  Every product and sum is the same integer as in the
 * portable loop (int32 wrap-around included), so the outputs are identical.
 */
#include "hard_kernels.h"
#include "hard_support.h"
#include "hard_dsp.h"

/* The two-unit SIMD loop: on ARMv7E-M, and on the host with HARD_EMULATE_DSP (tests run it there). */
#if HARD_DSP || defined(HARD_EMULATE_DSP)
#define HARD_FC_SIMD 1
#else
#define HARD_FC_SIMD 0
#endif

static int hard_fc_dims_valid(const hard_dims *input_dims, const hard_dims *filter_dims, const hard_dims *output_dims)
{
    if (!hard_dims_valid(input_dims) || !hard_dims_valid(filter_dims) || !hard_dims_valid(output_dims))
    {
        return 0;
    }
    const int32_t depth = input_dims->h * input_dims->w * input_dims->c;
    return depth == filter_dims->h * filter_dims->w * filter_dims->c && output_dims->c == filter_dims->n &&
           output_dims->n * output_dims->h * output_dims->w == input_dims->n;
}

/* One unit, portable: exactly the reference's accumulation order and types. */
static int32_t
hard_fc_dot(const int8_t *restrict x, const int8_t *restrict w, int32_t depth, int32_t in_off, int32_t filt_off)
{
    int32_t acc = 0;
    for (int32_t d = 0; d < depth; ++d)
    {
        acc += (w[d] + filt_off) * (x[d] + in_off);
    }
    return acc;
}

#if HARD_FC_SIMD
static inline int32_t hard_fc_pair(int32_t v)
{
    return (int32_t)(((uint32_t)v & 0xFFFFu) | ((uint32_t)v << 16));
}

/* Two units (rows w0, w1) against one input row, four bytes per step. */
static void hard_fc_dot2_dsp(const int8_t *x,
                             const int8_t *w0,
                             const int8_t *w1,
                             int32_t depth,
                             int32_t in_off,
                             int32_t filt_off,
                             int32_t *acc0,
                             int32_t *acc1)
{
    const int32_t in_off2 = hard_fc_pair(in_off);
    const int32_t filt_off2 = hard_fc_pair(filt_off);
    int32_t a0 = 0;
    int32_t a1 = 0;
    int32_t d = 0;
    for (; d + 3 < depth; d += 4)
    {
        const int32_t xw = hard_read_s8x4(x + d);
        const int32_t x02 = hard_sxtab16(in_off2, xw);
        const int32_t x13 = hard_sxtab16_ror8(in_off2, xw);
        const int32_t ww0 = hard_read_s8x4(w0 + d);
        const int32_t ww1 = hard_read_s8x4(w1 + d);
        a0 = hard_smlad(x02, hard_sxtab16(filt_off2, ww0), a0);
        a0 = hard_smlad(x13, hard_sxtab16_ror8(filt_off2, ww0), a0);
        a1 = hard_smlad(x02, hard_sxtab16(filt_off2, ww1), a1);
        a1 = hard_smlad(x13, hard_sxtab16_ror8(filt_off2, ww1), a1);
    }
    for (; d < depth; ++d)
    {
        const int32_t xv = x[d] + in_off;
        a0 += (w0[d] + filt_off) * xv;
        a1 += (w1[d] + filt_off) * xv;
    }
    *acc0 = a0;
    *acc1 = a1;
}
#endif

/* Bias, requantisation (per-tensor: index 0 of mult/shift), offset and clamp of one unit. */
static inline int8_t hard_fc_output(int32_t acc,
                                    const hard_fc_params *p,
                                    const int32_t *bias,
                                    const int32_t *mult,
                                    const int32_t *shift,
                                    int32_t per_channel,
                                    int32_t unit)
{
    const int32_t k = per_channel ? unit : 0;
    const int32_t total = acc + (bias != 0 ? bias[unit] : 0);
    const int32_t v = hard_requantize(total, mult[k], shift[k]) + p->output_offset;
    return (int8_t)hard_clamp_i32(v, p->activation.min, p->activation.max);
}

static void hard_fc_run(const hard_fc_params *p,
                        const int32_t *mult,
                        const int32_t *shift,
                        int32_t per_channel,
                        int32_t batches,
                        int32_t depth,
                        int32_t units,
                        const int8_t *input,
                        const int8_t *filter,
                        const int32_t *bias,
                        int8_t *output)
{
    const int32_t in_off = p->input_offset;
    const int32_t filt_off = p->filter_offset;
    for (int32_t b = 0; b < batches; ++b)
    {
        const int8_t *x = input + b * depth;
        int8_t *y = output + b * units;
        int32_t o = 0;
#if HARD_FC_SIMD
        for (; o + 1 < units; o += 2)
        {
            int32_t acc0;
            int32_t acc1;
            hard_fc_dot2_dsp(x, filter + o * depth, filter + (o + 1) * depth, depth, in_off, filt_off, &acc0, &acc1);
            y[o] = hard_fc_output(acc0, p, bias, mult, shift, per_channel, o);
            y[o + 1] = hard_fc_output(acc1, p, bias, mult, shift, per_channel, o + 1);
        }
#endif
        for (; o < units; ++o)
        {
            const int32_t acc = hard_fc_dot(x, filter + o * depth, depth, in_off, filt_off);
            y[o] = hard_fc_output(acc, p, bias, mult, shift, per_channel, o);
        }
    }
}

int32_t hard_fully_connected_s8_get_buffer_size(const hard_dims *filter_dims)
{
    (void)filter_dims;
    return 0;
}

hard_status hard_fully_connected_s8(const hard_context *ctx,
                                    const hard_fc_params *fc_params,
                                    const hard_per_tensor_quant *quant_params,
                                    const hard_dims *input_dims,
                                    const int8_t *input,
                                    const hard_dims *filter_dims,
                                    const int8_t *filter,
                                    const int32_t *bias,
                                    const hard_dims *output_dims,
                                    int8_t *output)
{
    (void)ctx;
    if (quant_params == 0 || !hard_fc_dims_valid(input_dims, filter_dims, output_dims))
    {
        return HARD_ARG_ERROR;
    }
    const int32_t depth = filter_dims->h * filter_dims->w * filter_dims->c;
    hard_fc_run(fc_params, &quant_params->multiplier, &quant_params->shift, 0, input_dims->n, depth, filter_dims->n,
                input, filter, bias, output);
    return HARD_OK;
}

int32_t hard_fully_connected_per_channel_s8_get_buffer_size(const hard_dims *filter_dims)
{
    (void)filter_dims;
    return 0;
}

hard_status hard_fully_connected_per_channel_s8(const hard_context *ctx,
                                                const hard_fc_params *fc_params,
                                                const hard_per_channel_quant *quant_params,
                                                const hard_dims *input_dims,
                                                const int8_t *input,
                                                const hard_dims *filter_dims,
                                                const int8_t *filter,
                                                const int32_t *bias,
                                                const hard_dims *output_dims,
                                                int8_t *output)
{
    (void)ctx;
    if (quant_params == 0 || quant_params->multiplier == 0 || quant_params->shift == 0 ||
        !hard_fc_dims_valid(input_dims, filter_dims, output_dims))
    {
        return HARD_ARG_ERROR;
    }
    const int32_t depth = filter_dims->h * filter_dims->w * filter_dims->c;
    hard_fc_run(fc_params, quant_params->multiplier, quant_params->shift, 1, input_dims->n, depth, filter_dims->n,
                input, filter, bias, output);
    return HARD_OK;
}
