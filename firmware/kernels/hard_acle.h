/*
 * hard_acle.h - the ARMv7E-M DSP intrinsics the kernels use (internal).
 *
 * On a core with the DSP extension (__ARM_FEATURE_DSP, e.g. Cortex-M4/M7) these
 * are the ACLE intrinsics of <arm_acle.h>, one instruction each.  Defining
 * HARD_EMULATE_DSP instead gives portable C with the same semantics, so the DSP
 * code paths can be built and tested bit for bit on the host.  HARD_HAVE_DSP is
 * 1 when one of the two is available.
 *
 *   hard_sxtb16(x):     sign-extend bytes 0 and 2 of x into two 16-bit lanes
 *   hard_sxtab16(a, x): a + hard_sxtb16(x), lane by lane (16-bit wrap)
 *   hard_smlad(a, b, acc): acc + a.lo * b.lo + a.hi * b.hi (32-bit wrap)
 *   hard_ror8(x):       rotate right by 8 bits (bytes 1 and 3 into lanes 0 and 2)
 *   hard_sxtab16_ror8(a, x): hard_sxtab16(a, hard_ror8(x)), one instruction on the core
 */
#ifndef HARD_ACLE_H
#define HARD_ACLE_H

#include <stdint.h>
#include <string.h>

static inline uint32_t hard_ror8(uint32_t x)
{
    return (x >> 8) | (x << 24);
}

/* Four consecutive bytes as one word (unaligned access is fine on Cortex-M4/M7). */
static inline uint32_t hard_read_u32(const int8_t *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof(v));
    return v;
}

#if defined(HARD_EMULATE_DSP)

#define HARD_HAVE_DSP 1

static inline uint32_t hard_lanes(int32_t lo, int32_t hi)
{
    return ((uint32_t)lo & 0xFFFFu) | ((uint32_t)hi << 16);
}

static inline int32_t hard_lane_lo(uint32_t x)
{
    return (int32_t)(int16_t)(uint16_t)(x & 0xFFFFu);
}

static inline int32_t hard_lane_hi(uint32_t x)
{
    return (int32_t)(int16_t)(uint16_t)(x >> 16);
}

static inline uint32_t hard_sxtb16(uint32_t x)
{
    return hard_lanes((int8_t)(uint8_t)(x & 0xFFu), (int8_t)(uint8_t)((x >> 16) & 0xFFu));
}

static inline uint32_t hard_sxtab16(uint32_t a, uint32_t x)
{
    const uint32_t b = hard_sxtb16(x);
    return hard_lanes(hard_lane_lo(a) + hard_lane_lo(b), hard_lane_hi(a) + hard_lane_hi(b));
}

static inline uint32_t hard_sxtab16_ror8(uint32_t a, uint32_t x)
{
    return hard_sxtab16(a, hard_ror8(x));
}

static inline int32_t hard_smlad(uint32_t a, uint32_t b, int32_t acc)
{
    const uint32_t lo = (uint32_t)(hard_lane_lo(a) * hard_lane_lo(b));
    const uint32_t hi = (uint32_t)(hard_lane_hi(a) * hard_lane_hi(b));
    return (int32_t)((uint32_t)acc + lo + hi);
}

#elif defined(__ARM_FEATURE_DSP)

#include <arm_acle.h>

#define HARD_HAVE_DSP 1

static inline uint32_t hard_sxtb16(uint32_t x)
{
    return (uint32_t)__sxtb16((int32_t)x);
}

static inline uint32_t hard_sxtab16(uint32_t a, uint32_t x)
{
    return (uint32_t)__sxtab16((int32_t)a, (int32_t)x);
}

/* SXTAB16 with its rotate operand (GCC does not fold a separate rotate into it). */
static inline uint32_t hard_sxtab16_ror8(uint32_t a, uint32_t x)
{
    uint32_t r;
    __asm__("sxtab16 %0, %1, %2, ror #8" : "=r"(r) : "r"(a), "r"(x));
    return r;
}

static inline int32_t hard_smlad(uint32_t a, uint32_t b, int32_t acc)
{
    return __smlad((int32_t)a, (int32_t)b, acc);
}

#else

#define HARD_HAVE_DSP 0

#endif

#endif /* HARD_ACLE_H */
