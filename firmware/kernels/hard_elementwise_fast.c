/*
 * hard_elementwise_fast.c - ADD and MUL with single-multiply requantisation.
 *
 * TFLite's int8 ADD rescales each input ((x + offset) << 20, then MultiplyByQuantizedMultiplier
 * with a multiplier below one), adds, and rescales the sum: three double-rounding
 * requantisations per element.  Each is one SMMLAR here (hard_dsp.h): with
 * v = input << 1, SMMLAR(v, m, 2^(e-1)) is the rounded high product plus the second rounding's
 * constant; a right shift by e, with a -1 for negative inputs when e >= 1, completes it.
 * The ranges are bounded (|(x + offset) << 20| < 2^28), so the form is exact whenever the
 * parameters are TFLite's (hard_add_fast_ok); otherwise the callers keep the portable loop.
 * hard_elementwise_add_s8 / _mul_s8 dispatch here on ARMv7E-M.
 */
#include "hard_dsp.h"
#include "hard_elementwise_fast.h"

/* One requantisation with e = -shift in [0, 31]; |x| < 2^30. */
typedef struct
{
    int32_t mult;
    int32_t rshift;
    int32_t round_hi; /* 2^(e-1), 0 when e == 0 */
    int32_t neg_mask; /* -1 when e >= 1 (the [x < 0] correction applies), else 0 */
} hard_rq_any;

static hard_rq_any hard_rq_any_make(int32_t mult, int32_t shift)
{
    hard_rq_any q;
    q.mult = mult;
    q.rshift = -shift;
    q.round_hi = (int32_t)(((uint32_t)1 << (-shift)) >> 1);
    q.neg_mask = shift < 0 ? -1 : 0;
    return q;
}

HARD_HOT int32_t hard_rq_any_run(int32_t x, const hard_rq_any *q)
{
    const int32_t t = hard_smmlar((int32_t)((uint32_t)x << 1), q->mult, q->round_hi);
    return (t + ((x >> 31) & q->neg_mask)) >> q->rshift;
}

static int hard_shift_ok(int32_t mult, int32_t shift)
{
    return mult >= 0 && shift <= 0 && shift >= -31;
}

int hard_add_fast_ok(const hard_add_params *p)
{
    return p->left_shift >= 0 && p->left_shift <= 20 && hard_shift_ok(p->input1_multiplier, p->input1_shift) &&
           hard_shift_ok(p->input2_multiplier, p->input2_shift) &&
           hard_shift_ok(p->output_multiplier, p->output_shift) && hard_act_int8(&p->activation) &&
           p->input1_offset >= -255 && p->input1_offset <= 255 && p->input2_offset >= -255 && p->input2_offset <= 255;
}

/* An input whose multiplier is exactly one half (2^30, shift 0: the larger-scale input of
 * every TFLite ADD) rescales as (v + 1) >> 1: SRDHM(v, 2^30) = floor((v + 1) / 2). */
static int hard_is_half(int32_t mult, int32_t shift)
{
    return mult == (1 << 30) && shift == 0;
}

typedef struct
{
    hard_rq_any q1;
    hard_rq_any q2;
    hard_rq_any qo;
    int32_t off1; /* input offset << left shift (+1 for a one-half input) */
    int32_t off2;
    int32_t ls;
} hard_add_consts;

HARD_HOT int32_t hard_add_input(int32_t x, int32_t off, int32_t ls, const hard_rq_any *q, const int half)
{
    const int32_t v = off + (int32_t)((uint32_t)x << ls);
    return half ? v >> 1 : hard_rq_any_run(v, q);
}

/* Pass 1 over a chunk: the rescaled sum of both inputs (few live constants: no spills). */
HARD_HOT void hard_add_sums(const hard_add_consts *k,
                            const int8_t *in1,
                            const int8_t *in2,
                            int32_t *sum,
                            int32_t n,
                            const int half1,
                            const int half2)
{
    const hard_add_consts c = *k;
    for (int32_t i = 0; i < n; ++i)
    {
        sum[i] =
            hard_add_input(in1[i], c.off1, c.ls, &c.q1, half1) + hard_add_input(in2[i], c.off2, c.ls, &c.q2, half2);
    }
}

/* Pass 2: output requantisation, offset, clamp. */
static void hard_add_out(const hard_rq_any *qo, const hard_add_params *p, const int32_t *sum, int8_t *out, int32_t n)
{
    const hard_rq_any q = *qo;
    const int32_t off = p->output_offset;
    const int32_t lo = p->activation.min;
    const int32_t hi = p->activation.max;
    if (lo == HARD_INT8_MIN && hi == HARD_INT8_MAX)
    {
        for (int32_t i = 0; i < n; ++i)
        {
            out[i] = (int8_t)hard_ssat8(hard_rq_any_run(sum[i], &q) + off);
        }
        return;
    }
    for (int32_t i = 0; i < n; ++i)
    {
        out[i] = (int8_t)hard_clamp_i32(hard_ssat8(hard_rq_any_run(sum[i], &q) + off), lo, hi);
    }
}

#define HARD_ADD_CHUNK 64

void hard_add_fast(const hard_add_params *p, const int8_t *in1, const int8_t *in2, int8_t *out, int32_t n)
{
    hard_add_consts k;
    const int half1 = hard_is_half(p->input1_multiplier, p->input1_shift);
    const int half2 = hard_is_half(p->input2_multiplier, p->input2_shift);
    k.q1 = hard_rq_any_make(p->input1_multiplier, p->input1_shift);
    k.q2 = hard_rq_any_make(p->input2_multiplier, p->input2_shift);
    k.qo = hard_rq_any_make(p->output_multiplier, p->output_shift);
    k.ls = p->left_shift;
    k.off1 = (int32_t)((uint32_t)p->input1_offset << k.ls) + (half1 ? 1 : 0);
    k.off2 = (int32_t)((uint32_t)p->input2_offset << k.ls) + (half2 ? 1 : 0);
    int32_t sum[HARD_ADD_CHUNK];
    for (int32_t i = 0; i < n; i += HARD_ADD_CHUNK)
    {
        const int32_t m = n - i < HARD_ADD_CHUNK ? n - i : HARD_ADD_CHUNK;
        if (half1 && !half2)
        {
            hard_add_sums(&k, in1 + i, in2 + i, sum, m, 1, 0);
        }
        else if (half2 && !half1)
        {
            hard_add_sums(&k, in1 + i, in2 + i, sum, m, 0, 1);
        }
        else if (half1)
        {
            hard_add_sums(&k, in1 + i, in2 + i, sum, m, 1, 1);
        }
        else
        {
            hard_add_sums(&k, in1 + i, in2 + i, sum, m, 0, 0);
        }
        hard_add_out(&k.qo, p, sum, out + i, m);
    }
}

int hard_mul_fast_ok(const hard_mul_params *p)
{
    /* |(x1 + o1) * (x2 + o2)| <= 382 * 382 < 2^18, so a left shift up to 11 keeps |x| < 2^30. */
    return p->quant.multiplier >= 0 && p->quant.shift >= -31 && p->quant.shift <= 11 && hard_act_int8(&p->activation) &&
           p->input1_offset >= -255 && p->input1_offset <= 255 && p->input2_offset >= -255 && p->input2_offset <= 255;
}

void hard_mul_fast(const hard_mul_params *p, const int8_t *in1, const int8_t *in2, int8_t *out, int32_t n)
{
    const int32_t ls = p->quant.shift > 0 ? p->quant.shift : 0;
    const hard_rq_any q = hard_rq_any_make(p->quant.multiplier, p->quant.shift > 0 ? 0 : p->quant.shift);
    const int32_t off1 = p->input1_offset;
    const int32_t off2 = p->input2_offset;
    const int32_t out_off = p->output_offset;
    const int32_t lo = p->activation.min;
    const int32_t hi = p->activation.max;
    for (int32_t i = 0; i < n; ++i)
    {
        const int32_t prod = (in1[i] + off1) * (in2[i] + off2);
        const int32_t v = hard_ssat8(hard_rq_any_run((int32_t)((uint32_t)prod << ls), &q) + out_off);
        out[i] = (int8_t)hard_clamp_i32(v, lo, hi);
    }
}
