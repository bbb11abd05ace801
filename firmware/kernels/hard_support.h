/*
 * hard_support.h - fixed-point helpers shared by the kernels (internal).
 *
 * The arithmetic is TFLite's double-rounding variant: a saturating rounding
 * doubling high multiply followed by a rounding (half away from zero) divide by
 * a power of two.  Keep these bit-exact: every kernel's result depends on them.
 */
#ifndef HARD_SUPPORT_H
#define HARD_SUPPORT_H

#include <stdint.h>

#include "hard_kernels.h"

#define HARD_INT8_MIN (-128)
#define HARD_INT8_MAX 127

static inline int32_t hard_max_i32(int32_t a, int32_t b)
{
    return a > b ? a : b;
}

static inline int32_t hard_min_i32(int32_t a, int32_t b)
{
    return a < b ? a : b;
}

static inline int32_t hard_clamp_i32(int32_t v, int32_t lo, int32_t hi)
{
    return v < lo ? lo : (v > hi ? hi : v);
}

/* round(a * b / 2^31), halves away from zero; saturates the one overflow case. */
static inline int32_t hard_sat_rounding_doubling_high_mul(int32_t a, int32_t b)
{
    if (a == b && a == INT32_MIN)
    {
        return INT32_MAX;
    }
    const int64_t ab = (int64_t)a * (int64_t)b;
    const int64_t nudge = ab >= 0 ? ((int64_t)1 << 30) : (1 - ((int64_t)1 << 30));
    return (int32_t)((ab + nudge) / ((int64_t)1 << 31));
}

/* x / 2^exponent rounded to nearest, halves away from zero; 0 <= exponent <= 31. */
static inline int32_t hard_rounding_divide_by_pot(int32_t x, int32_t exponent)
{
    const int32_t mask = (int32_t)(((int64_t)1 << exponent) - 1);
    const int32_t remainder = x & mask;
    const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
    return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

/* x * 2^shift without signed-overflow UB (wraps like the reference build). */
static inline int32_t hard_shl_i32(int32_t x, int32_t shift)
{
    return (int32_t)((uint32_t)x << shift);
}

/* TFLite MultiplyByQuantizedMultiplier (non single-rounding). */
static inline int32_t hard_requantize(int32_t x, int32_t multiplier, int32_t shift)
{
    const int32_t left_shift = shift > 0 ? shift : 0;
    const int32_t right_shift = shift > 0 ? 0 : -shift;
    return hard_rounding_divide_by_pot(hard_sat_rounding_doubling_high_mul(hard_shl_i32(x, left_shift), multiplier),
                                       right_shift);
}

/* TFLite MultiplyByQuantizedMultiplierSmallerThanOneExp: shift <= 0. */
static inline int32_t hard_requantize_le1(int32_t x, int32_t multiplier, int32_t shift)
{
    return hard_rounding_divide_by_pot(hard_sat_rounding_doubling_high_mul(x, multiplier), -shift);
}

/* Integer division rounded half away from zero, as TFLite's pooling and mean do. */
static inline int32_t hard_div_round_away(int32_t acc, int32_t count)
{
    return acc > 0 ? (acc + count / 2) / count : (acc - count / 2) / count;
}

/* Kernel taps [k_lo, k_hi) whose input index origin + k * dilation lies in [0, in_size). */
static inline void
hard_window_range(int32_t origin, int32_t kernel, int32_t dilation, int32_t in_size, int32_t *k_lo, int32_t *k_hi)
{
    int32_t lo = origin < 0 ? (dilation - 1 - origin) / dilation : 0;
    int32_t hi = in_size - origin <= 0 ? 0 : (in_size - origin + dilation - 1) / dilation;
    hi = hard_min_i32(hi, kernel);
    lo = hard_min_i32(lo, hi);
    *k_lo = lo;
    *k_hi = hi;
}

static inline int32_t hard_dot_s8(const int8_t *restrict a, const int8_t *restrict b, int32_t n)
{
    int32_t acc0 = 0;
    int32_t acc1 = 0;
    int32_t i = 0;
    for (; i + 3 < n; i += 4)
    {
        acc0 += a[i] * b[i] + a[i + 1] * b[i + 1];
        acc1 += a[i + 2] * b[i + 2] + a[i + 3] * b[i + 3];
    }
    for (; i < n; ++i)
    {
        acc0 += a[i] * b[i];
    }
    return acc0 + acc1;
}

static inline int32_t hard_sum_s8(const int8_t *restrict a, int32_t n)
{
    int32_t acc = 0;
    for (int32_t i = 0; i < n; ++i)
    {
        acc += a[i];
    }
    return acc;
}

/* Elements between output pixels: output_stride, or the channel count when it is 0 (dense). */
static inline int32_t hard_out_stride(int32_t output_stride, int32_t channels)
{
    return output_stride > 0 ? output_stride : channels;
}

/* A usable output_stride for `channels` channels: 0, or at least the channel count. */
static inline int hard_out_stride_valid(int32_t output_stride, int32_t channels)
{
    return output_stride == 0 || output_stride >= channels;
}

/* A scratch buffer of at least `need` bytes, word-aligned (the kernels keep int32 in it). */
static inline int hard_ctx_ok(const hard_context *ctx, int32_t need)
{
    return ctx != 0 && ctx->buf != 0 && ctx->size >= need && ((uintptr_t)ctx->buf & 3u) == 0;
}

static inline int hard_dims_valid(const hard_dims *d)
{
    return d != 0 && d->n > 0 && d->h > 0 && d->w > 0 && d->c > 0;
}

static inline int hard_bcast_dim_ok(int32_t in, int32_t out)
{
    return in == out || in == 1;
}

/* Element strides (as a hard_dims: n, h, w, c) of an input broadcast to the output, 0 along its
 * broadcast dims; 0 when it does not broadcast to it (TFLite's rule: each dim equal or 1). */
static inline int hard_bcast_strides(const hard_dims *in, const hard_dims *out, hard_dims *s)
{
    if (!hard_dims_valid(in) || !hard_bcast_dim_ok(in->n, out->n) || !hard_bcast_dim_ok(in->h, out->h) ||
        !hard_bcast_dim_ok(in->w, out->w) || !hard_bcast_dim_ok(in->c, out->c))
    {
        return 0;
    }
    s->c = in->c == out->c ? 1 : 0;
    s->w = in->w == out->w ? in->c : 0;
    s->h = in->h == out->h ? in->w * in->c : 0;
    s->n = in->n == out->n ? in->h * in->w * in->c : 0;
    return 1;
}

#endif /* HARD_SUPPORT_H */
