/*
 * hard_conv_ext.h - PRELU, TRANSPOSE_CONV and grouped CONV_2D (included by hard_kernels.h).
 *
 * Same conventions as hard_kernels.h: NHWC, OHWI filters, TFLite's offsets and double-rounding
 * requantisation, scratch through hard_context and *_get_buffer_size(), no globals.
 */
#ifndef HARD_CONV_EXT_H
#define HARD_CONV_EXT_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ PRELU */
/* TFLite's reference_ops::BroadcastPrelu4DSlow: x' = x + input_offset; x' >= 0 is requantised
 * with `identity` (s_in / s_out), x' < 0 multiplied by (alpha + alpha_offset) and requantised
 * with `alpha` (s_in * s_alpha / s_out); then + output_offset, clamped to int8. */
typedef struct
{
    int32_t input_offset;
    int32_t alpha_offset;
    int32_t output_offset;
    hard_per_tensor_quant identity;
    hard_per_tensor_quant alpha;
} hard_prelu_params;

int32_t hard_prelu_s8_get_buffer_size(void);

/* alpha_dims: each dimension 1 (broadcast) or equal to the input's.  The output has the
 * input's dims and may alias the input (element i is read before it is written). */
hard_status hard_prelu_s8(const hard_prelu_params *prelu_params,
                          const hard_dims *input_dims,
                          const int8_t *input,
                          const hard_dims *alpha_dims,
                          const int8_t *alpha,
                          int8_t *output);

/* --------------------------------------------------------- TRANSPOSE_CONV */
/* Input pixel (iy, ix) meets filter tap (ky, kx) at output pixel
 * (iy * stride.h - padding.top + ky, ix * stride.w - padding.left + kx), as in TFLite's
 * reference_integer_ops::TransposeConv (padding.bottom / right are documentation only).
 * Filter OHWI [out_c, kh, kw, in_c], per-output-channel requantisation, int32 bias or NULL. */
typedef struct
{
    int32_t input_offset;
    int32_t output_offset;
    hard_tile stride;
    hard_padding padding;
    hard_activation activation;
} hard_transpose_conv_params;

/* Portable gather form: each output pixel sums the taps that reach it; no scratch (0). */
int32_t hard_transpose_conv_s8_get_buffer_size(const hard_dims *input_dims,
                                               const hard_dims *filter_dims,
                                               const hard_dims *output_dims);

hard_status hard_transpose_conv_s8(const hard_context *ctx,
                                   const hard_transpose_conv_params *params,
                                   const hard_per_channel_quant *quant_params,
                                   const hard_dims *input_dims,
                                   const int8_t *input,
                                   const hard_dims *filter_dims,
                                   const int8_t *filter,
                                   const int32_t *bias,
                                   const hard_dims *output_dims,
                                   int8_t *output);

/* SIMD gather form: two output pixels of the same stride phase share one q15 column of the
 * taps that reach them; each tap's filter row segment is multiplied with SMLAD (2x2 blocks).
 * Scratch: that column plus accumulators and the requantisation table (a few hundred bytes,
 * independent of the image size; TFLite's reference needs an int32 per output element). */
int32_t hard_transpose_conv_gemm_s8_get_buffer_size(const hard_dims *input_dims,
                                                    const hard_dims *filter_dims,
                                                    const hard_dims *output_dims,
                                                    const hard_tile *stride);

hard_status hard_transpose_conv_gemm_s8(const hard_context *ctx,
                                        const hard_transpose_conv_params *params,
                                        const hard_per_channel_quant *quant_params,
                                        const hard_dims *input_dims,
                                        const int8_t *input,
                                        const hard_dims *filter_dims,
                                        const int8_t *filter,
                                        const int32_t *bias,
                                        const hard_dims *output_dims,
                                        int8_t *output);

/* ------------------------------------------------------- grouped CONV_2D */
/* groups = input_dims->c / filter_dims->c; output channel o reads input channels
 * [g * filter_dims->c, (g + 1) * filter_dims->c) with g = o / (out_c / groups), as TFLite's
 * reference_integer_ops::ConvPerChannel.  hard_conv_params as CONV_2D (output_stride too). */
int32_t hard_convolve_grouped_s8_get_buffer_size(const hard_dims *input_dims,
                                                 const hard_dims *filter_dims,
                                                 const hard_dims *output_dims);

hard_status hard_convolve_grouped_s8(const hard_context *ctx,
                                     const hard_conv_params *conv_params,
                                     const hard_per_channel_quant *quant_params,
                                     const hard_dims *input_dims,
                                     const int8_t *input,
                                     const hard_dims *filter_dims,
                                     const int8_t *filter,
                                     const int32_t *bias,
                                     const hard_dims *output_dims,
                                     int8_t *output);

/* im2col per group over q15 column pairs and the SMLAD GEMM core; output pixels in raster
 * order, every channel of a pixel pair before the next pair (in place as CONV_2D). */
int32_t hard_convolve_grouped_gemm_s8_get_buffer_size(const hard_dims *input_dims,
                                                      const hard_dims *filter_dims,
                                                      const hard_dims *output_dims);

hard_status hard_convolve_grouped_gemm_s8(const hard_context *ctx,
                                          const hard_conv_params *conv_params,
                                          const hard_per_channel_quant *quant_params,
                                          const hard_dims *input_dims,
                                          const int8_t *input,
                                          const hard_dims *filter_dims,
                                          const int8_t *filter,
                                          const int32_t *bias,
                                          const hard_dims *output_dims,
                                          int8_t *output);

#ifdef __cplusplus
}
#endif

#endif /* HARD_CONV_EXT_H */
