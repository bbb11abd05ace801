/*
 * hard_gemm_rows.h - the 2x2 SMLAD block of the GEMM core (internal): two filter rows against
 * a q15 column pair (hard_gemm.h), shared by every kernel that accumulates over its own
 * column segments (hard_gemm.c, hard_transpose_conv.c).
 */
#ifndef HARD_GEMM_ROWS_H
#define HARD_GEMM_ROWS_H

#include <stdint.h>
#include <string.h>

#include "hard_dsp.h"

typedef struct
{
    int32_t c0p0; /* filter row 0 x pixel A */
    int32_t c0p1; /* filter row 0 x pixel B */
    int32_t c1p0;
    int32_t c1p1;
} hard_acc2x2;

/* The n (1..3) bytes at w as a word, zeros above, without reading past w + n: one load of
 * the word ending there and a shift when the row is at least four long. */
static inline int32_t hard_tail_word(const int8_t *w, int32_t n, int32_t k)
{
    if (k >= 4)
    {
        return (int32_t)((uint32_t)hard_read_s8x4(w + n - 4) >> (8 * (4 - n)));
    }
    uint32_t v = 0;
    for (int32_t i = 0; i < n; ++i)
    {
        v |= (uint32_t)(uint8_t)w[i] << (8 * i);
    }
    return (int32_t)v;
}

/* Two consecutive words of a column (LDRD). */
static inline void hard_col_load(const int32_t *col, int32_t *w0, int32_t *w1)
{
    uint64_t v;
    memcpy(&v, col, sizeof v);
    *w0 = (int32_t)(uint32_t)v;
    *w1 = (int32_t)(uint32_t)(v >> 32);
}

/* One group of four k-values: two filter words against a column group. */
HARD_HOT hard_acc2x2 hard_mac_group(const int32_t *col, int32_t w0, int32_t w1, hard_acc2x2 acc)
{
    int32_t a02;
    int32_t a13;
    int32_t b02;
    int32_t b13;
    hard_col_load(col, &a02, &a13);
    hard_col_load(col + 2, &b02, &b13);
    int32_t lo = hard_sxtb16(w0);
    int32_t hi = hard_sxtb16_ror8(w0);
    acc.c0p0 = hard_smlad(lo, a02, acc.c0p0);
    acc.c0p1 = hard_smlad(lo, b02, acc.c0p1);
    acc.c0p0 = hard_smlad(hi, a13, acc.c0p0);
    acc.c0p1 = hard_smlad(hi, b13, acc.c0p1);
    lo = hard_sxtb16(w1);
    hi = hard_sxtb16_ror8(w1);
    acc.c1p0 = hard_smlad(lo, a02, acc.c1p0);
    acc.c1p1 = hard_smlad(lo, b02, acc.c1p1);
    acc.c1p0 = hard_smlad(hi, a13, acc.c1p0);
    acc.c1p1 = hard_smlad(hi, b13, acc.c1p1);
    return acc;
}

HARD_HOT hard_acc2x2 hard_mac_rows(
    const int32_t *restrict col, const int8_t *restrict w0, const int8_t *restrict w1, int32_t k, hard_acc2x2 acc)
{
    int32_t groups = k >> 2;
    for (; groups >= 2; groups -= 2)
    {
        acc = hard_mac_group(col, hard_read_s8x4(w0), hard_read_s8x4(w1), acc);
        acc = hard_mac_group(col + 4, hard_read_s8x4(w0 + 4), hard_read_s8x4(w1 + 4), acc);
        col += 8;
        w0 += 8;
        w1 += 8;
    }
    if (groups > 0)
    {
        acc = hard_mac_group(col, hard_read_s8x4(w0), hard_read_s8x4(w1), acc);
        col += 4;
        w0 += 4;
        w1 += 4;
    }
    if (k & 3)
    {
        acc = hard_mac_group(col, hard_tail_word(w0, k & 3, k), hard_tail_word(w1, k & 3, k), acc);
    }
    return acc;
}

#endif /* HARD_GEMM_ROWS_H */
