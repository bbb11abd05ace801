/*
 * hard_dw_simd.h - the four-channels-at-a-time depthwise core (internal, see hard_dw_simd.c).
 */
#ifndef HARD_DW_SIMD_H
#define HARD_DW_SIMD_H

#include <stdint.h>

#include "hard_dsp.h"
#include "hard_kernels.h"

#define HARD_DW_MAX_TAPS 64 /* larger kernels take the portable path */

typedef struct
{
    int32_t in_h;
    int32_t in_w;
    int32_t c;
    int32_t k_h;
    int32_t k_w;
    int32_t stride_h;
    int32_t stride_w;
    int32_t dil_h;
    int32_t dil_w;
    int32_t pad_top;
    int32_t pad_left;
    int32_t input_offset;
    const int32_t *bias;
    const int8_t *pad;  /* scratch: c input zero points */
    int32_t *acc;       /* scratch: c raw accumulators of one pixel */
    const hard_rq *rq;  /* scratch: the per-channel table */
    hard_out_stage out; /* offset, clamp, which requantisation */
} hard_dw_geom;

/* Scratch of the SIMD depthwise kernels for c channels. */
static inline int32_t hard_dw_scratch_bytes(int32_t c)
{
    return (c + 3) / 4 * 4 + c * (int32_t)sizeof(int32_t) + hard_rq_table_bytes(c);
}

void hard_dw_taps(const hard_dw_geom *g, const int8_t *in, int32_t oy, int32_t ox, const int8_t **taps);
void hard_dw_pixel_1hwc(const hard_dw_geom *g, const int8_t *const *taps, const int8_t *filter, int8_t *out);

/* hard_depthwise_conv_s8 on ARMv7E-M: HARD_OK, or HARD_ARG_ERROR when the shape is not for
 * this path (then nothing was written). */
hard_status hard_dw_simd_1hwc(const hard_context *ctx,
                              const hard_dw_conv_params *params,
                              const hard_per_channel_quant *quant,
                              const hard_dims *input_dims,
                              const int8_t *input,
                              const hard_dims *filter_dims,
                              const int8_t *filter,
                              const int32_t *bias,
                              const hard_dims *output_dims,
                              int8_t *output);

#endif /* HARD_DW_SIMD_H */
