/*
 * hard_fused_add.h - the fused residual ADD of the convolutions' output stage (internal; the
 * public struct is hard_fused_add in hard_kernels.h).
 *
 * The convolution writes its int8 outputs of a pixel (a pixel pair, an output row, or
 * HARD_FA_CHUNK pixels for the four-pixel GEMMs) as without the ADD; the epilogue then turns
 * them, in place or into a separate sum output, into TFLite's ADD of them and the residual: two
 * table loads (the rescaled inputs), one requantisation (one SMMLAR where the parameters allow,
 * the output offset riding in its accumulator), saturation and the clamp.
 */
#ifndef HARD_FUSED_ADD_H
#define HARD_FUSED_ADD_H

#include <stdint.h>

#include "hard_kernels.h"

/* Output pixels a GEMM kernel writes before it runs their fused ADD in one go: fewer calls per
 * value, the pixels' bytes still recent. */
#define HARD_FA_CHUNK 32

/* Per-call constants of the epilogue (hard_fa_prepare). */
typedef struct
{
    const int8_t *residual;
    int8_t *sum;             /* NULL: the sums replace the convolution's outputs; else written here */
    const int32_t *conv_tab; /* table + 128: indexed by the convolution's int8 value */
    const int32_t *res_tab;  /* table + 384: indexed by the residual's int8 value */
    const int8_t *out_base;  /* the output of batch 0: pixel index from an output pointer */
    int32_t out_c;
    int32_t ostride;
    int32_t mult;
    int32_t shift;
    int32_t rshift;
    int32_t round; /* fast form: 2^(e-1) + (output offset << e) */
    int32_t offset;
    int32_t lo;
    int32_t hi;
    int32_t mode; /* 0: exact; fast: 1 full int8 range, 2 a lower bound only, 3 both bounds */
} hard_fa_stage;

/* Nonzero when fa is NULL or its fields are usable (activation inside int8, shift <= 0). */
int hard_fused_add_valid(const hard_fused_add *fa);

/* Constants for an output of out_c channels, pixels ostride elements apart from output. */
void hard_fa_prepare(hard_fa_stage *st, const hard_fused_add *fa, const int8_t *output, int32_t out_c, int32_t ostride);

/* The ADD over every channel of the output pixel(s) at out_a and out_b (out_b NULL or equal to
 * out_a: one pixel), in place or into the separate sum output (hard_fused_add.output). */
void hard_fa_pair(const hard_fa_stage *st, int8_t *out_a, int8_t *out_b);

/* The same over the given number of consecutive output pixels (ostride apart) from out. */
void hard_fa_row(const hard_fa_stage *st, int8_t *out, int32_t pixels);

#endif /* HARD_FUSED_ADD_H */
