/*
 * hard_support_ext.h - helpers shared by the generic-model kernels (internal).
 *
 * Bit-exact pieces of TFLite's and gemmlowp's integer arithmetic that more than
 * one kernel needs: leading-zero count, saturating multiply by a power of two,
 * and the fold of 1/count into a requantisation multiplier (quantised MEAN).
 */
#ifndef HARD_SUPPORT_EXT_H
#define HARD_SUPPORT_EXT_H

#include <stdint.h>

#include "hard_support.h"

/* Leading zeros of a 32-bit value (32 for 0), like TFLite's CountLeadingZeros. */
static inline int32_t hard_clz_u32(uint32_t x)
{
#if defined(__GNUC__)
    return x == 0u ? 32 : (int32_t)__builtin_clz(x);
#else
    int32_t n = 0;
    if (x == 0u)
    {
        return 32;
    }
    while ((x & 0x80000000u) == 0u)
    {
        x <<= 1;
        ++n;
    }
    return n;
#endif
}

/* gemmlowp SaturatingRoundingMultiplyByPOT<exponent> for exponent >= 0:
 * x * 2^exponent, saturated to the int32 range. */
static inline int32_t hard_sat_shl(int32_t x, int32_t exponent)
{
    if (exponent == 0)
    {
        return x;
    }
    const int32_t threshold = (int32_t)((1u << (31 - exponent)) - 1u);
    if (x > threshold)
    {
        return INT32_MAX;
    }
    if (x < -threshold)
    {
        return INT32_MIN;
    }
    return hard_shl_i32(x, exponent);
}

/* Two's complement wrap-around add (gemmlowp's FixedPoint operator+ on int32). */
static inline int32_t hard_wrap_add(int32_t a, int32_t b)
{
    return (int32_t)((uint32_t)a + (uint32_t)b);
}

/* TFLite's quantised MEAN folds 1/count into the multiplier: shift it up by
 * floor(log2(count)) bits (at most 32, keeping shift >= -31), divide once. */
static inline void
hard_mean_fold_count(int32_t multiplier, int32_t shift, int32_t count, int32_t *out_mult, int32_t *out_shift)
{
    int32_t count_bits = 31 - hard_clz_u32((uint32_t)count);
    count_bits = hard_min_i32(count_bits, 32);
    count_bits = hard_min_i32(count_bits, 31 + shift);
    *out_mult = (int32_t)(((int64_t)multiplier << count_bits) / count);
    *out_shift = shift - count_bits;
}

#endif /* HARD_SUPPORT_EXT_H */
