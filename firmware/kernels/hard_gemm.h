/*
 * hard_gemm.h - the int8 x q15 GEMM core shared by the convolution kernels (internal).
 *
 * A "column pair" holds the k input values of two output pixels (A, B) expanded to q15 with
 * the input offset added, interleaved per group of four k-values in SXTB16 order:
 *     col[4g + 0] = {A[4g], A[4g+2]}   col[4g + 1] = {A[4g+1], A[4g+3]}
 *     col[4g + 2] = {B[4g], B[4g+2]}   col[4g + 3] = {B[4g+1], B[4g+3]}
 * Filters are int8 rows of k values per output channel (OHWI as TFLite stores them, or a
 * re-laid-out copy: see README "Weight layouts").  Each output pixel pair is multiplied with
 * two filter rows at a time (2x2 register block, SMLAD); requantisation happens once per
 * output, with the fast single-multiply form when the layer allows it (hard_dsp.h).
 */
#ifndef HARD_GEMM_H
#define HARD_GEMM_H

#include <stdint.h>

#include "hard_dsp.h"
#include "hard_fused_add.h"

typedef struct
{
    const int8_t *filter; /* out_c rows of row_stride bytes */
    const int32_t *bias;  /* may be NULL */
    int32_t k;            /* MACs per output */
    int32_t row_stride;   /* bytes between filter rows (>= k) */
    int32_t out_c;
    int32_t *acc;            /* scratch: 2 * out_c raw accumulators */
    const hard_rq *rq;       /* scratch: the per-channel table (hard_rq_prepare) */
    hard_out_stage out;      /* offset, clamp, which requantisation */
    const hard_fa_stage *fa; /* NULL, or the fused residual ADD run after each pixel pair (the
                              * quad kernels run it per HARD_FA_CHUNK pixels themselves) */
} hard_gemm_args;

/* Bytes of one column pair for k values. */
static inline int32_t hard_col_pair_bytes(int32_t k)
{
    return ((k + 3) / 4) * 4 * (int32_t)sizeof(int32_t);
}

/* Scratch of a GEMM kernel besides its columns: accumulators and the requantisation table. */
static inline int32_t hard_gemm_out_bytes(int32_t out_c)
{
    return 2 * out_c * (int32_t)sizeof(int32_t) + hard_rq_table_bytes(out_c);
}

/* Pixel `lane` (0 = A, 1 = B) of a column pair from n int8 values, plus the offset.  A last
 * partial group is read as the word ending at src + n, shifted (zeros above; n >= 4). */
static inline void hard_col_expand(const int8_t *src, int32_t n, int32_t offset2, int32_t *col, int32_t lane)
{
    int32_t *dst = col + 2 * lane;
    const int32_t full = n >> 2;
    for (int32_t g = 0; g < full; ++g)
    {
        const int32_t x = hard_read_s8x4(src + 4 * g);
        dst[4 * g] = hard_sxtab16(offset2, x);
        dst[4 * g + 1] = hard_sxtab16_ror8(offset2, x);
    }
    const int32_t tail = n & 3;
    if (tail != 0)
    {
        uint32_t x = 0;
        if (n >= 4)
        {
            x = (uint32_t)hard_read_s8x4(src + n - 4) >> (8 * (4 - tail));
        }
        else
        {
            for (int32_t i = 0; i < tail; ++i)
            {
                x |= (uint32_t)(uint8_t)src[i] << (8 * i);
            }
        }
        dst[4 * full] = hard_sxtab16(offset2, (int32_t)x);
        dst[4 * full + 1] = hard_sxtab16_ror8(offset2, (int32_t)x);
    }
}

/* Every output channel of the pixel pair in col; out_b may equal out_a (a lone pixel). */
void hard_gemm_pair(const hard_gemm_args *args, const int32_t *col, int8_t *out_a, int8_t *out_b);

/* Per call: places the accumulators and table in `scratch` (hard_gemm_out_bytes), fills them. */
void hard_gemm_prepare(hard_gemm_args *args, const hard_per_channel_quant *quant, void *scratch);

#endif /* HARD_GEMM_H */
