/*
 * hard_bilinear.h - TFLite ResizeBilinearInteger coordinates, shared by the resize kernels
 * (internal): source coordinates in 10-bit fixed point, results in 20-bit fixed point.
 */
#ifndef HARD_BILINEAR_H
#define HARD_BILINEAR_H

#include <stdint.h>

#include "hard_support.h"

#define HARD_RESIZE_ONE (1 << 10)

typedef struct
{
    int32_t lo;   /* first source index */
    int32_t hi;   /* second source index (may equal lo) */
    int32_t w_lo; /* weight of lo, in 1/1024 */
    int32_t w_hi; /* weight of hi, in 1/1024 (may be negative; then hi == lo) */
} hard_bilinear_tap;

static inline int32_t hard_bilinear_scale_10(int32_t in_size, int32_t out_size, int32_t align_corners)
{
    if (align_corners && out_size > 1)
    {
        return (HARD_RESIZE_ONE * (in_size - 1) + (out_size - 1) / 2) / (out_size - 1);
    }
    return (HARD_RESIZE_ONE * in_size + out_size / 2) / out_size;
}

static inline hard_bilinear_tap hard_bilinear_coord(int32_t v, int32_t scale_10, int32_t half_pixel, int32_t in_size)
{
    hard_bilinear_tap t;
    const int32_t scaled = half_pixel ? v * scale_10 + scale_10 / 2 - (1 << 9) : v * scale_10;
    t.lo = hard_max_i32(scaled / HARD_RESIZE_ONE, 0);
    t.hi = hard_min_i32((scaled + HARD_RESIZE_ONE - 1) / HARD_RESIZE_ONE, in_size - 1);
    t.w_hi = scaled - HARD_RESIZE_ONE * t.lo;
    t.w_lo = HARD_RESIZE_ONE - t.w_hi;
    /* The reference never reads past the edge for valid sizes; stay in bounds regardless. */
    t.lo = hard_min_i32(t.lo, in_size - 1);
    return t;
}

/* Divide a 20-bit fixed-point value by 2^20, rounding half away from zero. */
static inline int32_t hard_round_shift20(int32_t v)
{
    return v > 0 ? (v + (1 << 19)) >> 20 : -((-v + (1 << 19)) >> 20);
}

#endif /* HARD_BILINEAR_H */
