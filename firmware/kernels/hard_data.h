/*
 * hard_data.h - data-movement, reduction and elementwise-math kernels for
 * generic TFLite models: TRANSPOSE (and DEPTH_TO_SPACE / SPACE_TO_DEPTH as
 * transposes), SPLIT / SPLIT_V / PACK / UNPACK as row copies, GATHER with
 * constant indices, SUM and REDUCE_MAX over any axes, SQUARED_DIFFERENCE and
 * ABS.  Included by hard_kernels.h; same conventions (bit-exact with TFLite's
 * reference kernels, parameters precomputed on the host, no globals).
 */
#ifndef HARD_DATA_H
#define HARD_DATA_H

#include <stdint.h>

#include "hard_kernels.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------- TRANSPOSE */
/* output[i0]..[ik] = input[...] with output axis a = input axis perm[a]
 * (TFLite's reference Transpose).  Works on any 1-byte type.  The host drops
 * size-1 axes and merges axes that stay adjacent, so a channel shuffle
 * (reshape -> 5-D transpose -> reshape) or DEPTH_TO_SPACE / SPACE_TO_DEPTH
 * arrive as small-rank transposes with a contiguous innermost run. */
#define HARD_TRANSPOSE_MAX_DIMS 6

typedef struct
{
    int32_t rank;                                 /* 1 .. HARD_TRANSPOSE_MAX_DIMS */
    int32_t input_shape[HARD_TRANSPOSE_MAX_DIMS]; /* outermost first */
    int32_t perm[HARD_TRANSPOSE_MAX_DIMS];        /* a permutation of 0 .. rank-1 */
} hard_transpose_params;

int32_t hard_transpose_s8_get_buffer_size(void);

/* The output must not overlap the input. */
hard_status hard_transpose_s8(const hard_transpose_params *transpose_params, const int8_t *input, int8_t *output);

/* ------------------------------------ SPLIT / SPLIT_V / PACK / UNPACK */
/* rows x row_size bytes: row r is read at input + r * input_stride and written
 * at output + r * output_stride.  One call per output of SPLIT / SPLIT_V /
 * UNPACK (input advanced to the output's first row) and per input of PACK
 * (output advanced likewise); the host computes the strides.  Any 1-byte type. */
typedef struct
{
    int32_t rows;
    int32_t row_size;
    int32_t input_stride;  /* >= row_size */
    int32_t output_stride; /* >= row_size */
} hard_copy_rows_params;

int32_t hard_copy_rows_s8_get_buffer_size(void);

hard_status hard_copy_rows_s8(const hard_copy_rows_params *copy_params, const int8_t *input, int8_t *output);

/* ------------------------------------------------ GATHER (constant indices) */
/* The input seen as [outer][axis_size][inner]: output[o][i][:] =
 * input[o][indices[i]][:] (TFLite's reference Gather, batch_dims 0).  An index
 * outside [0, axis_size) is an error, as in TFLite.  Any 1-byte type. */
typedef struct
{
    int32_t outer;
    int32_t axis_size;
    int32_t inner;
} hard_gather_params;

int32_t hard_gather_s8_get_buffer_size(void);

hard_status hard_gather_s8(const hard_gather_params *gather_params,
                           const int32_t *indices,
                           int32_t num_indices,
                           const int8_t *input,
                           int8_t *output);

/* ------------------------------------------------ SUM / REDUCE_MAX, any axes */
/* reduce_axes: HARD_AXIS_* bits of the 4-D input (at least one); the output
 * holds the kept dims in order and must not overlap the input.
 * SUM (TFLite 2.19's reference QuantizedMeanOrSum, compute_sum): the int32 sum
 * of the raw values minus zero point * count, rescaled by input scale / output
 * scale, plus the output zero point, clamped.  REDUCE_MAX: the largest raw
 * value (input and output share scale and zero point, as TFLite requires). */
int32_t hard_reduce_sum_s8_get_buffer_size(void);

hard_status hard_reduce_sum_s8(const hard_requant_params *sum_params,
                               const hard_dims *input_dims,
                               int32_t reduce_axes,
                               const int8_t *input,
                               int8_t *output);

int32_t hard_reduce_max_s8_get_buffer_size(void);

hard_status hard_reduce_max_s8(const hard_dims *input_dims, int32_t reduce_axes, const int8_t *input, int8_t *output);

/* ---------------------------------------- SQUARED_DIFFERENCE, 4-D broadcast */
/* TFLite's int8 SquaredDifference: both inputs shifted left by 7 and rescaled
 * to twice the larger input scale, the difference squared, rescaled to the
 * output (hard_add_params with left_shift 7; quant.squared_difference_params).
 * Shapes as hard_broadcast_add_s8; the output may alias an input of its shape. */
int32_t hard_squared_difference_s8_get_buffer_size(void);

hard_status hard_squared_difference_s8(const hard_add_params *params,
                                       const hard_dims *input1_dims,
                                       const int8_t *input1,
                                       const hard_dims *input2_dims,
                                       const int8_t *input2,
                                       const hard_dims *output_dims,
                                       int8_t *output);

/* ------------------------------------------------------------------ ABS */
/* TFLite's int8 Abs: |x - input zero point|, rescaled by input scale / output
 * scale when the scales differ (rescale != 0), plus the output zero point. */
typedef struct
{
    int32_t input_offset; /* -input zero point */
    int32_t output_offset;
    int32_t rescale; /* 0: the scales are equal, quant is not used */
    hard_per_tensor_quant quant;
} hard_abs_params;

int32_t hard_abs_s8_get_buffer_size(void);

/* Output may alias the input. */
hard_status hard_abs_s8(const hard_abs_params *abs_params, const int8_t *input, int8_t *output, int32_t block_size);

/* RSQRT (int8) is a 256-entry table run by hard_lut_s8 (quant.rsqrt_lut_s8). */

/* ---------------------------------------------------- EQUAL / SELECT_V2 */
/* EQUAL of two int8 tensors into a bool one (one byte each, 0 or 1), with
 * 4-D broadcasting: TFLite's reference ComparisonWithScaling, i.e. each value
 * (plus its offset, shifted left by left_shift) rescaled by its own
 * multiplier below one, and the two results compared, so values that round
 * to the same rescaled number are equal. */
typedef struct
{
    int32_t left_shift; /* 8 */
    int32_t input1_offset;
    int32_t input1_multiplier;
    int32_t input1_shift; /* <= 0 */
    int32_t input2_offset;
    int32_t input2_multiplier;
    int32_t input2_shift; /* <= 0 */
} hard_compare_params;

int32_t hard_equal_s8_get_buffer_size(void);

hard_status hard_equal_s8(const hard_compare_params *compare_params,
                          const hard_dims *input1_dims,
                          const int8_t *input1,
                          const hard_dims *input2_dims,
                          const int8_t *input2,
                          const hard_dims *output_dims,
                          uint8_t *output);

/* SELECT_V2: output = condition ? x : y, the three broadcast to the output
 * (TFLite's BroadcastSelect5DSlow on 4-D shapes). The int8 values are copied
 * as they are: TFLite gives x, y and the output one scale and zero point. */
int32_t hard_select_v2_s8_get_buffer_size(void);

hard_status hard_select_v2_s8(const hard_dims *condition_dims,
                              const uint8_t *condition,
                              const hard_dims *x_dims,
                              const int8_t *x,
                              const hard_dims *y_dims,
                              const int8_t *y,
                              const hard_dims *output_dims,
                              int8_t *output);

#ifdef __cplusplus
}
#endif

#endif /* HARD_DATA_H */
