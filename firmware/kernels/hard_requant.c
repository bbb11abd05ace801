/*
 * hard_requant.c - the output stage of the optimised kernels: per-channel requantisation,
 * output offset, activation clamp, narrowing (see hard_dsp.h).
 *
 * Four specialisations of one loop (fast or exact requantisation; a full int8 range, which
 * needs only a saturation, or a narrower activation), chosen once per call.
 */
#include "hard_dsp.h"

void hard_rq_prepare(const hard_per_channel_quant *quant,
                     const int32_t *bias,
                     int32_t channels,
                     int32_t taps,
                     hard_rq *table,
                     hard_out_stage *stage)
{
    stage->fast = hard_rq_channels_ok(quant, channels) && hard_rq_bias_ok(bias, channels, taps);
    for (int32_t c = 0; c < channels; ++c)
    {
        if (stage->fast)
        {
            table[c] = hard_rq_make(quant->multiplier[c], quant->shift[c]);
        }
        else
        {
            table[c].mult = quant->multiplier[c];
            table[c].rshift = quant->shift[c];
            table[c].round_hi = 0;
        }
        table[c].bias = bias != 0 ? bias[c] : 0;
    }
}

/* One accumulator to its int8 output: requantise (fast or exact), offset, saturate, clamp. */
HARD_HOT int8_t
hard_rq_one(int32_t acc, hard_rq q, int32_t off, int32_t lo, int32_t hi, const int fast, const int full_range)
{
    int32_t v = fast ? hard_rq_apply(acc, q.mult, q.rshift, q.round_hi) : hard_requantize(acc, q.mult, q.rshift);
    v = hard_ssat8(v + off);
    return (int8_t)(full_range ? v : hard_clamp_i32(v, lo, hi));
}

/* n channels of one pixel (acc_stride apart, out_b NULL) or of two (acc interleaved [c][2]: the
 * table is read once per channel for both). */
HARD_HOT void hard_rq_loop(const hard_out_stage *stage,
                           const hard_rq *restrict table,
                           const int32_t *restrict acc,
                           int32_t acc_stride,
                           int32_t n,
                           int8_t *out_a,
                           int8_t *out_b,
                           const int two,
                           const int fast,
                           const int full_range)
{
    const int32_t off = stage->offset;
    const int32_t lo = stage->act_min;
    const int32_t hi = stage->act_max;
    for (int32_t c = 0; c < n; ++c)
    {
        const hard_rq q = table[c];
        out_a[c] = hard_rq_one(acc[0], q, off, lo, hi, fast, full_range);
        if (two)
        {
            out_b[c] = hard_rq_one(acc[1], q, off, lo, hi, fast, full_range);
        }
        acc += acc_stride;
    }
}

/* The four specialisations (fast or exact, full range or clamped), chosen once per call. */
HARD_HOT void hard_rq_dispatch(const hard_out_stage *stage,
                               const hard_rq *table,
                               const int32_t *acc,
                               int32_t acc_stride,
                               int32_t n,
                               int8_t *out_a,
                               int8_t *out_b,
                               const int two)
{
    const int full_range = stage->act_min <= HARD_INT8_MIN && stage->act_max >= HARD_INT8_MAX;
    if (stage->fast)
    {
        if (full_range)
        {
            hard_rq_loop(stage, table, acc, acc_stride, n, out_a, out_b, two, 1, 1);
        }
        else
        {
            hard_rq_loop(stage, table, acc, acc_stride, n, out_a, out_b, two, 1, 0);
        }
    }
    else if (full_range)
    {
        hard_rq_loop(stage, table, acc, acc_stride, n, out_a, out_b, two, 0, 1);
    }
    else
    {
        hard_rq_loop(stage, table, acc, acc_stride, n, out_a, out_b, two, 0, 0);
    }
}

void hard_rq_store(
    const hard_out_stage *stage, const hard_rq *table, const int32_t *acc, int32_t acc_stride, int32_t n, int8_t *out)
{
    hard_rq_dispatch(stage, table, acc, acc_stride, n, out, 0, 0);
}

void hard_rq_store2(
    const hard_out_stage *stage, const hard_rq *table, const int32_t *acc, int32_t n, int8_t *out_a, int8_t *out_b)
{
    hard_rq_dispatch(stage, table, acc, 2, n, out_a, out_b, 1);
}
