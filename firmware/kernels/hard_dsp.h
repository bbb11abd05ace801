/*
 * hard_dsp.h - SIMD primitives and fast requantisation for the optimised kernels (internal).
 *
 * On ARMv7E-M (Cortex-M4/M7, __ARM_FEATURE_DSP) the primitives are the DSP instructions
 * (SXTB16, SXTAB16, SMLAD, SMLABB, SMLATT, SSAT) through the compiler's own <arm_acle.h>.
 * Everywhere else, or with -DHARD_NO_DSP, they are exact C emulations, so the optimised
 * kernels also build and run on the host (where the tests compare them with TFLite).
 *
 * Lane conventions: sxtb16(x) = {x.b0, x.b2}, sxtb16_ror8(x) = {x.b1, x.b3} (int16 lanes,
 * low lane first).  A q15 "pair" word holds two int16 values, low half first.
 */
#ifndef HARD_DSP_H
#define HARD_DSP_H

#include <stdint.h>
#include <string.h>

#include "hard_support.h"

#if defined(__ARM_FEATURE_DSP) && !defined(HARD_NO_DSP)
#define HARD_DSP 1
#include <arm_acle.h>
#else
#define HARD_DSP 0
#endif

/* Hot helpers that must stay inlined (GCC stops inlining a helper called from two places), and
 * loop bodies that must not be (inlined into a large caller they lose their registers). */
#if defined(__GNUC__)
#define HARD_HOT      static inline __attribute__((always_inline))
#define HARD_NOINLINE static __attribute__((noinline))
#else
#define HARD_HOT      static inline
#define HARD_NOINLINE static
#endif

/* Unaligned little-endian word access (one LDR/STR on Cortex-M7). */
static inline int32_t hard_read_s8x4(const int8_t *p)
{
    int32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline int32_t hard_read_q15x2(const int16_t *p)
{
    int32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* Two aligned words at p in one LDRD (GCC 12 splits a 64-bit load into two LDRs). */
static inline void hard_read_word_pair(const int32_t *p, int32_t *lo, int32_t *hi)
{
#if defined(__ARM_FEATURE_DSP) && !defined(HARD_NO_DSP)
    int32_t a;
    int32_t b;
    __asm("ldrd %0, %1, %2" : "=r"(a), "=r"(b) : "m"(*(const uint64_t *)(const void *)p));
    *lo = a;
    *hi = b;
#else
    *lo = p[0];
    *hi = p[1];
#endif
}

static inline void hard_write_s8x4(int8_t *p, int32_t v)
{
    memcpy(p, &v, sizeof v);
}

static inline void hard_write_q15x2(int16_t *p, int32_t v)
{
    memcpy(p, &v, sizeof v);
}

#if HARD_DSP
static inline int32_t hard_sxtb16(int32_t x)
{
    return __sxtb16(x);
}

/* GCC 12 does not fold a C rotate into SXTB16's ROR operand, hence the one-line asm. */
static inline int32_t hard_sxtb16_ror8(int32_t x)
{
    int32_t r;
    __asm("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(x));
    return r;
}

static inline int32_t hard_sxtab16(int32_t a, int32_t x)
{
    return __sxtab16(a, x);
}

static inline int32_t hard_sxtab16_ror8(int32_t a, int32_t x)
{
    int32_t r;
    __asm("sxtab16 %0, %1, %2, ror #8" : "=r"(r) : "r"(a), "r"(x));
    return r;
}

static inline int32_t hard_smlad(int32_t a, int32_t b, int32_t acc)
{
    return __smlad(a, b, acc);
}

static inline int32_t hard_smlabb(int32_t a, int32_t b, int32_t acc)
{
    return __smlabb(a, b, acc);
}

static inline int32_t hard_smlatt(int32_t a, int32_t b, int32_t acc)
{
    return __smlatt(a, b, acc);
}

static inline int32_t hard_smlabt(int32_t a, int32_t b, int32_t acc)
{
    return __smlabt(a, b, acc);
}

static inline int32_t hard_smlatb(int32_t a, int32_t b, int32_t acc)
{
    return __smlatb(a, b, acc);
}

static inline int32_t hard_ssat8(int32_t x)
{
    return __ssat(x, 8);
}

/* {lo16(a), lo16(b << 1) as the high half}: PKHBT with LSL #1 (not in GCC 12's ACLE). */
static inline int32_t hard_pkhbt_lsl1(int32_t a, int32_t b)
{
    int32_t r;
    __asm("pkhbt %0, %1, %2, lsl #1" : "=r"(r) : "r"(a), "r"(b));
    return r;
}

static inline int32_t hard_sadd16(int32_t a, int32_t b)
{
    return __sadd16(a, b);
}

/* Four int8 values (in int32) as the bytes of one word, low first: three BFI. */
static inline int32_t hard_pack8x4(int32_t y0, int32_t y1, int32_t y2, int32_t y3)
{
    int32_t w = y0;
    __asm("bfi %0, %1, #8, #8" : "+r"(w) : "r"(y1));
    __asm("bfi %0, %1, #16, #8" : "+r"(w) : "r"(y2));
    __asm("bfi %0, %1, #24, #8" : "+r"(w) : "r"(y3));
    return w;
}

/* Byte-lane signed maximum / minimum of four int8 (SSUB8 sets the GE flags SEL reads). */
static inline int32_t hard_max8(int32_t a, int32_t b)
{
    (void)__ssub8(a, b);
    return (int32_t)__sel((uint32_t)a, (uint32_t)b);
}

static inline int32_t hard_min8(int32_t a, int32_t b)
{
    (void)__ssub8(a, b);
    return (int32_t)__sel((uint32_t)b, (uint32_t)a);
}

/* Lane-wise signed maximum of two int16 pairs (SSUB16 sets the GE flags SEL reads). */
static inline int32_t hard_max16(int32_t a, int32_t b)
{
    (void)__ssub16(a, b);
    return (int32_t)__sel((uint32_t)a, (uint32_t)b);
}

/* lo16(a) as the low half, lo16(b) as the high half: PKHBT with LSL #16. */
static inline int32_t hard_pkhbt_lsl16(int32_t a, int32_t b)
{
    int32_t r;
    __asm("pkhbt %0, %1, %2, lsl #16" : "=r"(r) : "r"(a), "r"(b));
    return r;
}

/* hi16(b) as the low half, hi16(a) as the high half: PKHTB with ASR #16. */
static inline int32_t hard_pkhtb_asr16(int32_t a, int32_t b)
{
    int32_t r;
    __asm("pkhtb %0, %1, %2, asr #16" : "=r"(r) : "r"(a), "r"(b));
    return r;
}

/* SMMLAR: (acc * 2^32 + a * b + 2^31) >> 32.  ACLE has no intrinsic and GCC 12 does not
 * match the 64-bit C expression to it (it emits SMLAL plus moves), hence the one-line asm. */
static inline int32_t hard_smmlar(int32_t a, int32_t b, int32_t acc)
{
    int32_t r;
    __asm("smmlar %0, %1, %2, %3" : "=r"(r) : "r"(a), "r"(b), "r"(acc));
    return r;
}
#else
static inline int32_t hard_lane_lo(int32_t x)
{
    return (int32_t)(int16_t)(uint16_t)((uint32_t)x & 0xFFFFu);
}

static inline int32_t hard_lane_hi(int32_t x)
{
    return (int32_t)(int16_t)(uint16_t)((uint32_t)x >> 16);
}

static inline int32_t hard_pack_lanes(int32_t lo, int32_t hi)
{
    return (int32_t)(((uint32_t)lo & 0xFFFFu) | ((uint32_t)hi << 16));
}

static inline int32_t hard_byte(int32_t x, int32_t n)
{
    return (int32_t)(int8_t)(uint8_t)((uint32_t)x >> (8 * n));
}

static inline int32_t hard_sxtb16(int32_t x)
{
    return hard_pack_lanes(hard_byte(x, 0), hard_byte(x, 2));
}

static inline int32_t hard_sxtb16_ror8(int32_t x)
{
    return hard_pack_lanes(hard_byte(x, 1), hard_byte(x, 3));
}

static inline int32_t hard_sxtab16(int32_t a, int32_t x)
{
    return hard_pack_lanes(hard_lane_lo(a) + hard_byte(x, 0), hard_lane_hi(a) + hard_byte(x, 2));
}

static inline int32_t hard_sxtab16_ror8(int32_t a, int32_t x)
{
    return hard_pack_lanes(hard_lane_lo(a) + hard_byte(x, 1), hard_lane_hi(a) + hard_byte(x, 3));
}

/* The sums wrap modulo 2^32 like the instruction (which only sets the Q flag). */
static inline int32_t hard_smlad(int32_t a, int32_t b, int32_t acc)
{
    const uint32_t p0 = (uint32_t)(hard_lane_lo(a) * hard_lane_lo(b));
    const uint32_t p1 = (uint32_t)(hard_lane_hi(a) * hard_lane_hi(b));
    return (int32_t)((uint32_t)acc + p0 + p1);
}

static inline int32_t hard_smlabb(int32_t a, int32_t b, int32_t acc)
{
    return (int32_t)((uint32_t)acc + (uint32_t)(hard_lane_lo(a) * hard_lane_lo(b)));
}

static inline int32_t hard_smlatt(int32_t a, int32_t b, int32_t acc)
{
    return (int32_t)((uint32_t)acc + (uint32_t)(hard_lane_hi(a) * hard_lane_hi(b)));
}

static inline int32_t hard_smlabt(int32_t a, int32_t b, int32_t acc)
{
    return (int32_t)((uint32_t)acc + (uint32_t)(hard_lane_lo(a) * hard_lane_hi(b)));
}

static inline int32_t hard_smlatb(int32_t a, int32_t b, int32_t acc)
{
    return (int32_t)((uint32_t)acc + (uint32_t)(hard_lane_hi(a) * hard_lane_lo(b)));
}

static inline int32_t hard_ssat8(int32_t x)
{
    return hard_clamp_i32(x, HARD_INT8_MIN, HARD_INT8_MAX);
}

static inline int32_t hard_pkhbt_lsl1(int32_t a, int32_t b)
{
    return (int32_t)(((uint32_t)a & 0xFFFFu) | (((uint32_t)b << 1) & 0xFFFF0000u));
}

static inline int32_t hard_sadd16(int32_t a, int32_t b)
{
    return hard_pack_lanes(hard_lane_lo(a) + hard_lane_lo(b), hard_lane_hi(a) + hard_lane_hi(b));
}

static inline int32_t hard_max16(int32_t a, int32_t b)
{
    return hard_pack_lanes(hard_max_i32(hard_lane_lo(a), hard_lane_lo(b)),
                           hard_max_i32(hard_lane_hi(a), hard_lane_hi(b)));
}

static inline int32_t hard_pack8x4(int32_t y0, int32_t y1, int32_t y2, int32_t y3)
{
    return (int32_t)(((uint32_t)y0 & 0xFFu) | (((uint32_t)y1 & 0xFFu) << 8) | (((uint32_t)y2 & 0xFFu) << 16) |
                     ((uint32_t)y3 << 24));
}

static inline int32_t hard_max8(int32_t a, int32_t b)
{
    return hard_pack8x4(hard_max_i32(hard_byte(a, 0), hard_byte(b, 0)), hard_max_i32(hard_byte(a, 1), hard_byte(b, 1)),
                        hard_max_i32(hard_byte(a, 2), hard_byte(b, 2)), hard_max_i32(hard_byte(a, 3), hard_byte(b, 3)));
}

static inline int32_t hard_min8(int32_t a, int32_t b)
{
    return hard_pack8x4(hard_min_i32(hard_byte(a, 0), hard_byte(b, 0)), hard_min_i32(hard_byte(a, 1), hard_byte(b, 1)),
                        hard_min_i32(hard_byte(a, 2), hard_byte(b, 2)), hard_min_i32(hard_byte(a, 3), hard_byte(b, 3)));
}

static inline int32_t hard_pkhbt_lsl16(int32_t a, int32_t b)
{
    return (int32_t)(((uint32_t)a & 0xFFFFu) | ((uint32_t)b << 16));
}

static inline int32_t hard_pkhtb_asr16(int32_t a, int32_t b)
{
    return (int32_t)(((uint32_t)a & 0xFFFF0000u) | ((uint32_t)b >> 16));
}

/* Callers keep |acc * 2^32 + a * b| < 2^63 (hard_rq_apply does). */
static inline int32_t hard_smmlar(int32_t a, int32_t b, int32_t acc)
{
    const int64_t s = (int64_t)((uint64_t)(int64_t)acc << 32) + (int64_t)a * b + ((int64_t)1 << 31);
    return (int32_t)(s >> 32);
}
#endif

/* Both int16 lanes set to v (for SXTAB16 offsets). */
static inline int32_t hard_dup_lanes(int32_t v)
{
    return (int32_t)(((uint32_t)v & 0xFFFFu) | ((uint32_t)v << 16));
}

/* ------------------------------------------------- fast requantisation */
/*
 * TFLite's MultiplyByQuantizedMultiplier (double rounding) for shift <= -1, multiplier >= 0
 * and |acc| < 2^30, with one 32x32->64 multiply-accumulate and no branch:
 *   SRDHM(x, m)      = (x*m + 2^30) >> 31                  (floor; exact for m != INT32_MIN)
 *   RDBPOT(r, e)     = (r + 2^(e-1) - [r < 0]) >> e        (e = -shift >= 1)
 * Folding both: out = (hi(2x*m + 2^31 + 2^(31+e)) - [x < 0]) >> e, where [r < 0] may be
 * replaced by [x < 0] because both forms give 0 when -2^30 <= x*m < 0.
 * hard_rq_layer_ok() tells whether a whole layer meets the conditions; otherwise the
 * kernels use hard_requantize().
 */
typedef struct
{
    int32_t mult;
    int32_t rshift;   /* e = -shift >= 1 */
    int32_t round_hi; /* 2^(e-1) */
    int32_t bias;     /* the channel's bias (0 without one): where its accumulator starts */
} hard_rq;

static inline hard_rq hard_rq_make(int32_t mult, int32_t shift)
{
    hard_rq q;
    q.mult = mult;
    q.rshift = -shift;
    q.round_hi = (int32_t)(((uint32_t)1 << (-shift)) >> 1);
    q.bias = 0;
    return q;
}

static inline int32_t hard_rq_apply(int32_t acc, int32_t mult, int32_t rshift, int32_t round_hi)
{
    /* hi(2x*m + 2^31 + 2^(31+e)) = SMMLAR(2x, m, 2^(e-1)) */
    const int32_t x2 = (int32_t)((uint32_t)acc << 1);
    return (hard_smmlar(x2, mult, round_hi) + (acc >> 31)) >> rshift;
}

static inline int32_t hard_rq_run(int32_t acc, const hard_rq *q)
{
    return hard_rq_apply(acc, q->mult, q->rshift, q->round_hi);
}

/* The optimised kernels take activations inside the int8 range (as codegen emits them). */
static inline int hard_act_int8(const hard_activation *act)
{
    return act->min >= HARD_INT8_MIN && act->max <= HARD_INT8_MAX && act->min <= act->max;
}

/* The fast form applies to every channel: -31 <= shift <= -1 and multiplier >= 0. */
static inline int hard_rq_channels_ok(const hard_per_channel_quant *quant, int32_t channels)
{
    for (int32_t c = 0; c < channels; ++c)
    {
        if (quant->shift[c] > -1 || quant->shift[c] < -31 || quant->multiplier[c] < 0)
        {
            return 0;
        }
    }
    return 1;
}

/* |bias| + taps * 255 * 128 < 2^30 for every channel, so the doubled accumulator fits. */
static inline int hard_rq_bias_ok(const int32_t *bias, int32_t channels, int32_t taps)
{
    const int32_t limit = (int32_t)1 << 29;
    if (taps > (limit / (255 * 128)))
    {
        return 0;
    }
    for (int32_t c = 0; bias != 0 && c < channels; ++c)
    {
        if (bias[c] >= limit || bias[c] <= -limit)
        {
            return 0;
        }
    }
    return 1;
}

/* --------------------------------------------- per-call output stage */
/* The optimised kernels accumulate first and requantise in a second, register-light loop
 * (hard_requant.c) from a per-channel table prepared once per call. */
typedef struct
{
    int32_t fast; /* table holds hard_rq constants; else {multiplier, shift, unused, bias} */
    int32_t offset;
    int32_t act_min;
    int32_t act_max;
} hard_out_stage;

/* Bytes of the table for n channels (the kernels' scratch includes it). */
static inline int32_t hard_rq_table_bytes(int32_t n)
{
    return n * (int32_t)sizeof(hard_rq);
}

/* Fills table and stage->fast for a layer with `taps` MACs per output. */
void hard_rq_prepare(const hard_per_channel_quant *quant,
                     const int32_t *bias,
                     int32_t channels,
                     int32_t taps,
                     hard_rq *table,
                     hard_out_stage *stage);

/* out_a[c] and out_b[c] for c < n from acc[2c] and acc[2c + 1]; out_b may equal out_a. */
void hard_rq_store2(
    const hard_out_stage *stage, const hard_rq *table, const int32_t *acc, int32_t n, int8_t *out_a, int8_t *out_b);

/* out[c] for c < n from acc[c * acc_stride]. */
void hard_rq_store(
    const hard_out_stage *stage, const hard_rq *table, const int32_t *acc, int32_t acc_stride, int32_t n, int8_t *out);

#endif /* HARD_DSP_H */
