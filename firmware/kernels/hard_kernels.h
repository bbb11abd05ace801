/*
 * hard_kernels.h - int8 kernel library of hardtool (C99).
 *
 * Every kernel is bit-exact with the TensorFlow Lite reference kernels
 * (reference_ops / reference_integer_ops, double-rounding fixed point) for the
 * op it implements.  Conventions:
 *   - layout NHWC; conv filters OHWI; depthwise filters 1HWC with
 *     C = input channels * channel multiplier; int32 bias (may be NULL);
 *   - quantisation parameters are precomputed on the host
 *     (hardtool/kernels/quant.py): the kernels do integer arithmetic only;
 *   - offsets follow TFLite: input_offset = -input zero point,
 *     output_offset = +output zero point;
 *   - a kernel that needs scratch memory takes a hard_context whose buffer
 *     is at least *_get_buffer_size() bytes, 4-byte aligned.  Kernels that
 *     need none return 0 from *_get_buffer_size();
 *   - output_stride (conv, depthwise, pooling, resize): elements from one
 *     output pixel to the next, 0 for dense (= output channels).  A larger
 *     stride writes a channel slice of a wider tensor (a concatenation's
 *     input produced in place); the bytes between slices are not touched;
 *   - in place: the convolution, depthwise and pooling kernels compute output
 *     pixels in raster order, every channel of a pixel before the next, at
 *     most two pixels written together, and read no input byte before the
 *     first tap of the pixel they compute, so an output may start below its
 *     input by the gap hardtool/kernels/memory.py computes and overwrite it;
 *     elementwise kernels read element i before writing it (output == input);
 *   - no globals, no allocation, no floating point.
 */
#ifndef HARD_KERNELS_H
#define HARD_KERNELS_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum
{
    HARD_OK = 0,
    HARD_ARG_ERROR = -1
} hard_status;

/* Scratch buffer handed to a kernel (may be {NULL, 0} when the size is 0). */
typedef struct
{
    void *buf;
    int32_t size;
} hard_context;

/* Tensor dimensions, NHWC.  For conv filters: n = output channels, c = input channels. */
typedef struct
{
    int32_t n;
    int32_t h;
    int32_t w;
    int32_t c;
} hard_dims;

typedef struct
{
    int32_t h;
    int32_t w;
} hard_tile;

/* Explicit four-sided padding.  Only top/left move the window; bottom/right are
 * implied by the output dims and are kept for checking and documentation. */
typedef struct
{
    int32_t top;
    int32_t bottom;
    int32_t left;
    int32_t right;
} hard_padding;

/* Fused activation as a clamp in the output's quantised domain. */
typedef struct
{
    int32_t min;
    int32_t max;
} hard_activation;

typedef struct
{
    int32_t multiplier;
    int32_t shift; /* > 0: left shift, < 0: right shift (TFLite convention) */
} hard_per_tensor_quant;

typedef struct
{
    const int32_t *multiplier; /* one per output channel */
    const int32_t *shift;
} hard_per_channel_quant;

/* ---------------------------------------------------------------- CONV_2D */
/* A residual ADD fused into a convolution's output stage: each int8 output value v of the
 * convolution (exactly as without it) becomes TFLite's int8 ADD of v and the residual value r at
 * the same position,
 *     clamp(MultiplyByQuantizedMultiplierSmallerThanOneExp((table[v + 128] + table[r + 384]) / 2,
 *           output_multiplier, output_shift) + output_offset, activation),
 * where table holds twice the ADD's rescaled inputs (2 x ((x + input offset) << left shift, times
 * the input's multiplier)) for every int8 value: the convolution's side (256 entries), then the
 * residual's (hardtool.kernels.quant.fused_add_table).  The residual is dense, the output's
 * shape, and must not overlap the output (it may be the convolution's input, the output then not
 * overlapping that either).  With output NULL the sums
 * replace the convolution's outputs; else the convolution's output is written as without the ADD
 * (for its other readers) and the sums go to output, dense like the residual (it may be the
 * residual itself, not the convolution's input or output). */
typedef struct
{
    const int8_t *residual;
    const int32_t *table; /* 512 entries */
    int32_t output_multiplier;
    int32_t output_shift; /* <= 0 */
    int32_t output_offset;
    hard_activation activation;
    int8_t *output; /* NULL: in place of the convolution's output; else where the sums go */
} hard_fused_add;

typedef struct
{
    int32_t input_offset;
    int32_t output_offset;
    hard_tile stride;
    hard_tile dilation;
    hard_padding padding;
    hard_activation activation;
    int32_t output_stride;           /* elements between output pixels; 0: dense */
    int32_t tile_pixels;             /* the q15-filter GEMMs' output pixels per tile: 4 (0) or 2 */
    const hard_fused_add *fused_add; /* NULL: none (grouped convolutions take none) */
} hard_conv_params;

int32_t hard_convolve_s8_get_buffer_size(const hard_dims *input_dims,
                                         const hard_dims *filter_dims,
                                         const hard_dims *output_dims);

hard_status hard_convolve_s8(const hard_context *ctx,
                             const hard_conv_params *conv_params,
                             const hard_per_channel_quant *quant_params,
                             const hard_dims *input_dims,
                             const int8_t *input,
                             const hard_dims *filter_dims,
                             const int8_t *filter,
                             const int32_t *bias,
                             const hard_dims *output_dims,
                             int8_t *output);

/* ------------------------------------------------------ DEPTHWISE_CONV_2D */
typedef struct
{
    int32_t input_offset;
    int32_t output_offset;
    int32_t ch_mult;
    hard_tile stride;
    hard_tile dilation;
    hard_padding padding;
    hard_activation activation;
    int32_t output_stride; /* elements between output pixels; 0: dense */
} hard_dw_conv_params;

int32_t hard_depthwise_conv_s8_get_buffer_size(const hard_dims *input_dims,
                                               const hard_dims *filter_dims,
                                               const hard_dims *output_dims);

/* filter_dims: n = 1, h/w = kernel size, c = output channels. */
hard_status hard_depthwise_conv_s8(const hard_context *ctx,
                                   const hard_dw_conv_params *dw_conv_params,
                                   const hard_per_channel_quant *quant_params,
                                   const hard_dims *input_dims,
                                   const int8_t *input,
                                   const hard_dims *filter_dims,
                                   const int8_t *filter,
                                   const int32_t *bias,
                                   const hard_dims *output_dims,
                                   int8_t *output);

/* ------------------------------------------ AVERAGE_POOL_2D / MAX_POOL_2D */
/* Input and output share scale and zero point (as TFLite requires). */
typedef struct
{
    hard_tile stride;
    hard_padding padding;
    hard_activation activation;
    int32_t output_stride; /* elements between output pixels; 0: dense */
} hard_pool_params;

int32_t hard_avgpool_s8_get_buffer_size(const hard_dims *input_dims, const hard_dims *output_dims);

/* filter_dims: h/w = window size.  Divides by the number of in-bounds elements. */
hard_status hard_avgpool_s8(const hard_context *ctx,
                            const hard_pool_params *pool_params,
                            const hard_dims *input_dims,
                            const int8_t *input,
                            const hard_dims *filter_dims,
                            const hard_dims *output_dims,
                            int8_t *output);

int32_t hard_max_pool_s8_get_buffer_size(const hard_dims *input_dims, const hard_dims *output_dims);

hard_status hard_max_pool_s8(const hard_context *ctx,
                             const hard_pool_params *pool_params,
                             const hard_dims *input_dims,
                             const int8_t *input,
                             const hard_dims *filter_dims,
                             const hard_dims *output_dims,
                             int8_t *output);

/* ------------------------------------------- MEAN over H and W, keep_dims */
/* As TFLite's quantised mean: 1/(h*w) is folded into the multiplier inside the
 * kernel (shifted up by floor(log2(h*w)) bits, then one integer division). */
typedef struct
{
    int32_t input_offset;
    int32_t output_offset;
    hard_per_tensor_quant quant; /* input scale / output scale */
} hard_mean_params;

int32_t hard_mean_hw_s8_get_buffer_size(const hard_dims *input_dims);

/* output: n x 1 x 1 x c */
hard_status hard_mean_hw_s8(const hard_context *ctx,
                            const hard_mean_params *mean_params,
                            const hard_dims *input_dims,
                            const int8_t *input,
                            int8_t *output);

/* -------------------------------------------------------------- ADD / MUL */
typedef struct
{
    int32_t input1_offset;
    int32_t input1_multiplier;
    int32_t input1_shift; /* <= 0 */
    int32_t input2_offset;
    int32_t input2_multiplier;
    int32_t input2_shift; /* <= 0 */
    int32_t left_shift;   /* 20 for int8 */
    int32_t output_offset;
    int32_t output_multiplier;
    int32_t output_shift; /* <= 0 */
    hard_activation activation;
} hard_add_params;

int32_t hard_elementwise_add_s8_get_buffer_size(void);

/* Same shape on both inputs; output may alias an input. */
hard_status hard_elementwise_add_s8(
    const hard_add_params *add_params, const int8_t *input1, const int8_t *input2, int8_t *output, int32_t block_size);

typedef struct
{
    int32_t input1_offset;
    int32_t input2_offset;
    int32_t output_offset;
    hard_per_tensor_quant quant; /* s1 * s2 / s_out */
    hard_activation activation;
} hard_mul_params;

/* The same ADD from its inputs' tables (hard_fused_add: residual = input 2, table: input 1's side
 * first): one requantisation per element instead of three; output may alias an input. */
int32_t hard_elementwise_add_table_s8_get_buffer_size(void);

hard_status
hard_elementwise_add_table_s8(const hard_fused_add *add, const int8_t *input1, int8_t *output, int32_t block_size);

int32_t hard_elementwise_mul_s8_get_buffer_size(void);

hard_status hard_elementwise_mul_s8(
    const hard_mul_params *mul_params, const int8_t *input1, const int8_t *input2, int8_t *output, int32_t block_size);

/* ------------------------------------------------ QUANTIZE (int8 -> int8) */
typedef struct
{
    int32_t input_offset;
    int32_t output_offset;
    hard_per_tensor_quant quant; /* input scale / output scale */
} hard_requant_params;

int32_t hard_requantize_s8_get_buffer_size(void);

/* Output may alias the input. */
hard_status
hard_requantize_s8(const hard_requant_params *requant_params, const int8_t *input, int8_t *output, int32_t block_size);

/* ------------------------------------------- CONCATENATION along channels */
typedef struct
{
    const int8_t *data; /* n*h*w x channels; NULL: already in its slice of the output (skipped) */
    int32_t channels;
    hard_requant_params requant; /* identity: multiplier 1<<30, shift 1, equal zero points */
} hard_concat_input;

int32_t hard_concatenation_c_s8_get_buffer_size(void);

/* rows = n*h*w, shared by every input and the output. */
hard_status hard_concatenation_c_s8(const hard_concat_input *inputs, int32_t num_inputs, int32_t rows, int8_t *output);

/* -------------------------------------------------------------------- PAD */
typedef struct
{
    hard_padding padding;
    int32_t pad_value; /* the zero point */
} hard_pad_params;

int32_t hard_pad_s8_get_buffer_size(void);

hard_status hard_pad_s8(const hard_pad_params *pad_params,
                        const hard_dims *input_dims,
                        const int8_t *input,
                        const hard_dims *output_dims,
                        int8_t *output);

/* ----------------------------- RESIZE_BILINEAR / RESIZE_NEAREST_NEIGHBOR */
/* Input and output share scale and zero point (as TFLite requires). */
typedef struct
{
    int32_t align_corners;
    int32_t half_pixel_centers;
    int32_t output_stride; /* elements between output pixels; 0: dense (not used by the argmax epilogue) */
} hard_resize_params;

int32_t hard_resize_bilinear_s8_get_buffer_size(void);

hard_status hard_resize_bilinear_s8(const hard_resize_params *resize_params,
                                    const hard_dims *input_dims,
                                    const int8_t *input,
                                    const hard_dims *output_dims,
                                    int8_t *output);

int32_t hard_resize_nearest_s8_get_buffer_size(void);

hard_status hard_resize_nearest_s8(const hard_resize_params *resize_params,
                                   const hard_dims *input_dims,
                                   const int8_t *input,
                                   const hard_dims *output_dims,
                                   int8_t *output);

/* ------------------------------------------------- ARG_MAX over channels */
int32_t hard_argmax_c_s8_get_buffer_size(void);

/* labels: n*h*w, the first maximum wins; c <= 256. */
hard_status hard_argmax_c_s8(const hard_dims *input_dims, const int8_t *input, uint8_t *labels);

/* ------------------ fused RESIZE_BILINEAR -> ARG_MAX, row-streaming epilogue */
/* Bit-exact with hard_resize_bilinear_s8 followed by hard_argmax_c_s8, without
 * materialising the resized logits: the scratch holds one vertically
 * interpolated row of the low-resolution input (input w * c int32). */
int32_t hard_resize_bilinear_argmax_s8_get_buffer_size(const hard_dims *input_dims);

/* Writes output_dims->h * output_dims->w labels (batch 1). */
hard_status hard_resize_bilinear_argmax_s8(const hard_context *ctx,
                                           const hard_resize_params *resize_params,
                                           const hard_dims *input_dims,
                                           const int8_t *input,
                                           const hard_dims *output_dims,
                                           uint8_t *labels);

/* Writes the label rows [row_begin, row_end) to labels ((row_end - row_begin) * w
 * bytes), so a caller can stream label rows out with a small buffer. */
hard_status hard_resize_bilinear_argmax_s8_rows(const hard_context *ctx,
                                                const hard_resize_params *resize_params,
                                                const hard_dims *input_dims,
                                                const int8_t *input,
                                                const hard_dims *output_dims,
                                                int32_t row_begin,
                                                int32_t row_end,
                                                uint8_t *labels);

/* =====================================================================
 * Kernels for generic TFLite models (classification, keyword spotting,
 * anomaly detection, ...).  Same conventions as above.
 * ===================================================================== */

/* ------------------------------------------------------- FULLY_CONNECTED */
/* TFLite's reference FullyConnected / FullyConnectedPerChannel (int8):
 *   acc = bias[o] + sum_d (filter[o][d] + filter_offset) * (input[b][d] + input_offset)
 *   out = clamp(MultiplyByQuantizedMultiplier(acc, mult, shift) + output_offset)
 * The input is read as [batches][accum depth] (keep_num_dims only changes the
 * output's shape, not its bytes).  With the DSP extension (__ARM_FEATURE_DSP)
 * the dot products use SMLAD, two output units at a time; the result is the same. */
typedef struct
{
    int32_t input_offset;  /* -input zero point */
    int32_t filter_offset; /* -filter zero point (0 for TFLite's symmetric int8 weights) */
    int32_t output_offset;
    hard_activation activation;
} hard_fc_params;

int32_t hard_fully_connected_s8_get_buffer_size(const hard_dims *filter_dims);

/* input_dims: n = batches, h * w * c = accum depth.  filter_dims: n = units,
 * h * w * c = accum depth (row-major [units][accum depth]).  output_dims:
 * n * h * w = batches, c = units.  bias: int32[units] or NULL.
 * quant_params: one multiplier/shift (per-tensor weights).  The output must not
 * overlap the input. */
hard_status hard_fully_connected_s8(const hard_context *ctx,
                                    const hard_fc_params *fc_params,
                                    const hard_per_tensor_quant *quant_params,
                                    const hard_dims *input_dims,
                                    const int8_t *input,
                                    const hard_dims *filter_dims,
                                    const int8_t *filter,
                                    const int32_t *bias,
                                    const hard_dims *output_dims,
                                    int8_t *output);

int32_t hard_fully_connected_per_channel_s8_get_buffer_size(const hard_dims *filter_dims);

/* As hard_fully_connected_s8 with one multiplier/shift per unit (per-channel weights). */
hard_status hard_fully_connected_per_channel_s8(const hard_context *ctx,
                                                const hard_fc_params *fc_params,
                                                const hard_per_channel_quant *quant_params,
                                                const hard_dims *input_dims,
                                                const int8_t *input,
                                                const hard_dims *filter_dims,
                                                const int8_t *filter,
                                                const int32_t *bias,
                                                const hard_dims *output_dims,
                                                int8_t *output);

/* ---------------------------------------------------------------- SOFTMAX */
/* TFLite's reference quantised Softmax (reference_ops::Softmax<int8_t, int8_t>,
 * gemmlowp fixed point: exp_on_negative_values on Q5.26 differences, Q12.19 sum,
 * GetReciprocal).  The output has scale 1/256 and zero point -128. */
typedef struct
{
    int32_t input_multiplier; /* PreprocessSoftmaxScaling(beta, input scale, 5) */
    int32_t input_left_shift;
    int32_t diff_min; /* -CalculateInputRadius(5, input_left_shift) */
} hard_softmax_params;

int32_t hard_softmax_s8_get_buffer_size(void);

/* Softmax along the last axis of a rows x depth tensor.  Output may alias the input. */
hard_status hard_softmax_s8(
    const hard_softmax_params *softmax_params, int32_t rows, int32_t depth, const int8_t *input, int8_t *output);

/* ---------------------------------------------------- LOGISTIC and TANH */
/* out[i] = lut[(uint8_t)input[i]].  TFLite's reference LOGISTIC and TANH (int8)
 * are exactly such a table, filled in float by LUTPopulate; hardtool/kernels/quant.py builds it. */
int32_t hard_lut_s8_get_buffer_size(void);

/* Output may alias the input. */
hard_status hard_lut_s8(const int8_t *lut, const int8_t *input, int8_t *output, int32_t block_size);

/* ------------------------- RELU / RELU6 / RELU_N1_TO_1 / RELU_0_TO_1 */
/* TFLite's quantised ReluX: requantise to the output scale, then clamp. */
typedef struct
{
    int32_t input_offset; /* -input zero point */
    int32_t output_offset;
    hard_per_tensor_quant quant; /* input scale / output scale (float32 division) */
    hard_activation activation;  /* the clamp, in the output's quantised domain */
} hard_relu_params;

int32_t hard_relu_s8_get_buffer_size(void);

/* Output may alias the input. */
hard_status hard_relu_s8(const hard_relu_params *relu_params, const int8_t *input, int8_t *output, int32_t block_size);

/* ------------------------------------------------------------ LEAKY_RELU */
/* TFLite's QuantizeLeakyRelu: x - zp >= 0 is rescaled by s_in / s_out, the
 * rest by s_in * alpha / s_out (both float32 products, as its Prepare). */
typedef struct
{
    int32_t input_offset; /* -input zero point */
    int32_t output_offset;
    hard_per_tensor_quant identity;
    hard_per_tensor_quant alpha;
} hard_leaky_relu_params;

int32_t hard_leaky_relu_s8_get_buffer_size(void);

/* Output may alias the input. */
hard_status hard_leaky_relu_s8(const hard_leaky_relu_params *leaky_relu_params,
                               const int8_t *input,
                               int8_t *output,
                               int32_t block_size);

/* ------------------------------------------------------------ HARD_SWISH */
/* TFLite's reference quantised HardSwish (16-bit fixed point). */
typedef struct
{
    int32_t input_zero_point;
    int32_t output_zero_point;
    int32_t reluish_multiplier; /* int16 fixed point */
    int32_t reluish_exponent;
    int32_t output_multiplier; /* int16 fixed point */
    int32_t output_exponent;   /* <= 0 */
} hard_hard_swish_params;

int32_t hard_hard_swish_s8_get_buffer_size(void);

/* Output may alias the input. */
hard_status hard_hard_swish_s8(const hard_hard_swish_params *hard_swish_params,
                               const int8_t *input,
                               int8_t *output,
                               int32_t block_size);

/* ----------------------------- ADD / SUB / MUL / MAXIMUM / MINIMUM, 4-D broadcast */
/* Shapes are 4-D (lower ranks right-aligned, padded with 1s); every input dim
 * equals the output's or is 1, as in TFLite's Broadcast*4DSlow kernels.  The
 * output may alias an input of the output's shape. */
int32_t hard_broadcast_add_s8_get_buffer_size(void);

/* ADD, and SUB with input2_multiplier negated (TFLite's sub kernel reuses its
 * add kernels that way). */
hard_status hard_broadcast_add_s8(const hard_add_params *add_params,
                                  const hard_dims *input1_dims,
                                  const int8_t *input1,
                                  const hard_dims *input2_dims,
                                  const int8_t *input2,
                                  const hard_dims *output_dims,
                                  int8_t *output);

int32_t hard_broadcast_mul_s8_get_buffer_size(void);

hard_status hard_broadcast_mul_s8(const hard_mul_params *mul_params,
                                  const hard_dims *input1_dims,
                                  const int8_t *input1,
                                  const hard_dims *input2_dims,
                                  const int8_t *input2,
                                  const hard_dims *output_dims,
                                  int8_t *output);

/* MAXIMUM / MINIMUM: inputs and output share scale and zero point (TFLite
 * compares the raw int8 values). */
int32_t hard_maximum_s8_get_buffer_size(void);

hard_status hard_maximum_s8(const hard_dims *input1_dims,
                            const int8_t *input1,
                            const hard_dims *input2_dims,
                            const int8_t *input2,
                            const hard_dims *output_dims,
                            int8_t *output);

int32_t hard_minimum_s8_get_buffer_size(void);

hard_status hard_minimum_s8(const hard_dims *input1_dims,
                            const int8_t *input1,
                            const hard_dims *input2_dims,
                            const int8_t *input2,
                            const hard_dims *output_dims,
                            int8_t *output);

/* ------------------------------------------------------ MEAN over any axes */
/* TFLite 2.19's reference QuantizedMeanOrSum (int8): the int32 sum of the raw
 * values minus zero point * count, rescaled by input scale / output scale with
 * 1/count folded into the multiplier (as hard_mean_hw_s8). */
#define HARD_AXIS_N 1
#define HARD_AXIS_H 2
#define HARD_AXIS_W 4
#define HARD_AXIS_C 8

int32_t hard_mean_s8_get_buffer_size(void);

/* reduce_axes: HARD_AXIS_* bits of the 4-D input, at least one.  The output
 * holds the kept dims in order (keep_dims does not change its bytes) and must
 * not overlap the input. */
hard_status hard_mean_s8(const hard_mean_params *mean_params,
                         const hard_dims *input_dims,
                         int32_t reduce_axes,
                         const int8_t *input,
                         int8_t *output);

/* --------------------------------------------- STRIDED_SLICE and SLICE */
/* out[n][h][w][c] = in[begin.n + n * stride.n][...]...: begin/end masks,
 * negative indices and shrink/new axes are resolved on the host; strides > 0.
 * Works on any 1-byte type. */
typedef struct
{
    hard_dims begin;
    hard_dims stride;
} hard_slice_params;

int32_t hard_strided_slice_s8_get_buffer_size(void);

hard_status hard_strided_slice_s8(const hard_slice_params *slice_params,
                                  const hard_dims *input_dims,
                                  const int8_t *input,
                                  const hard_dims *output_dims,
                                  int8_t *output);

/* -------------------------------------------- PAD / PADV2 over all four dims */
typedef struct
{
    hard_dims before;  /* elements added before, per dim (>= 0) */
    hard_dims after;   /* elements added after, per dim (>= 0) */
    int32_t pad_value; /* PAD: the output zero point; PADV2: its constant */
} hard_pad4d_params;

int32_t hard_pad4d_s8_get_buffer_size(void);

hard_status hard_pad4d_s8(const hard_pad4d_params *pad_params,
                          const hard_dims *input_dims,
                          const int8_t *input,
                          const hard_dims *output_dims,
                          int8_t *output);

/* ------------------------------------------ QUANTIZE int8 <-> uint8 */
/* TFLite's reference Requantize (effective scale s_in / s_out, double). */
int32_t hard_requantize_s8_u8_get_buffer_size(void);

hard_status hard_requantize_s8_u8(const hard_requant_params *requant_params,
                                  const int8_t *input,
                                  uint8_t *output,
                                  int32_t block_size);

int32_t hard_requantize_u8_s8_get_buffer_size(void);

hard_status hard_requantize_u8_s8(const hard_requant_params *requant_params,
                                  const uint8_t *input,
                                  int8_t *output,
                                  int32_t block_size);

/* --------------------- QUANTIZE float32 -> int8, DEQUANTIZE int8 -> float32 */
/* The only float code of the library, for models with float inputs/outputs:
 * hard_float_io.c, compiled to nothing unless HARD_FLOAT_IO is defined.
 * QUANTIZE: round(x / scale) + zero point in float32, halves away from zero
 * (TFLite's AffineQuantize).  DEQUANTIZE: scale * (q - zero point) (TFLite's
 * Dequantize; the float32 product equals its double product rounded to float).
 * Do not build with -ffast-math. */
typedef struct
{
    float scale;
    int32_t zero_point;
} hard_affine_params;

int32_t hard_quantize_f32_s8_get_buffer_size(void);

hard_status
hard_quantize_f32_s8(const hard_affine_params *affine_params, const float *input, int8_t *output, int32_t block_size);

int32_t hard_dequantize_s8_f32_get_buffer_size(void);

hard_status
hard_dequantize_s8_f32(const hard_affine_params *affine_params, const int8_t *input, float *output, int32_t block_size);

/* ======================================================================
 * Specialised kernels (chosen per layer at codegen time; README "Specialised kernels").
 * On ARMv7E-M they use the DSP instructions; elsewhere the same code runs with exact C
 * emulations of them.  Each refuses (HARD_ARG_ERROR) a shape it cannot take.
 * ====================================================================== */

/* ------------------------------------------------ CONV_2D, 1x1 pointwise */
/* Filter OHWI (o x 1 x 1 x i), padding 0, any stride; scratch: one q15 column pair. */
int32_t hard_convolve_1x1_s8_get_buffer_size(const hard_dims *input_dims, const hard_dims *filter_dims);

hard_status hard_convolve_1x1_s8(const hard_context *ctx,
                                 const hard_conv_params *conv_params,
                                 const hard_per_channel_quant *quant_params,
                                 const hard_dims *input_dims,
                                 const int8_t *input,
                                 const hard_dims *filter_dims,
                                 const int8_t *filter,
                                 const int32_t *bias,
                                 const hard_dims *output_dims,
                                 int8_t *output);

/* ------------------------------------ CONV_2D, 1x1 pointwise, q15 filter */
/* As hard_convolve_1x1_s8 with the filter in the "gemm q15 pairs" layout (README "Weight
 * layouts"), 4-byte aligned; scratch: as hard_convolve_1x1_s8. */
int32_t hard_convolve_1x1_q15_s8_get_buffer_size(const hard_dims *input_dims, const hard_dims *filter_dims);

hard_status hard_convolve_1x1_q15_s8(const hard_context *ctx,
                                     const hard_conv_params *conv_params,
                                     const hard_per_channel_quant *quant_params,
                                     const hard_dims *input_dims,
                                     const int8_t *input,
                                     const hard_dims *filter_dims,
                                     const int8_t *filter,
                                     const int32_t *bias,
                                     const hard_dims *output_dims,
                                     int8_t *output);

/* ---------------------------------------------- CONV_2D, k x k via im2col */
/* Filter OHWI; any kernel size, stride, dilation, padding, channel count (the 3-channel
 * stem included).  Scratch: a q15 column pair of k = kh*kw*c values plus k bytes. */
int32_t hard_convolve_im2col_s8_get_buffer_size(const hard_dims *input_dims,
                                                const hard_dims *filter_dims,
                                                const hard_dims *output_dims);

hard_status hard_convolve_im2col_s8(const hard_context *ctx,
                                    const hard_conv_params *conv_params,
                                    const hard_per_channel_quant *quant_params,
                                    const hard_dims *input_dims,
                                    const int8_t *input,
                                    const hard_dims *filter_dims,
                                    const int8_t *filter,
                                    const int32_t *bias,
                                    const hard_dims *output_dims,
                                    int8_t *output);

/* As hard_convolve_im2col_s8 with the filter in the "gemm q15 pairs" layout (README "Weight
 * layouts", k = kh*kw*c values a row), 4-byte aligned; scratch: as hard_convolve_im2col_s8. */
int32_t hard_convolve_im2col_q15_s8_get_buffer_size(const hard_dims *input_dims,
                                                    const hard_dims *filter_dims,
                                                    const hard_dims *output_dims);

hard_status hard_convolve_im2col_q15_s8(const hard_context *ctx,
                                        const hard_conv_params *conv_params,
                                        const hard_per_channel_quant *quant_params,
                                        const hard_dims *input_dims,
                                        const int8_t *input,
                                        const hard_dims *filter_dims,
                                        const int8_t *filter,
                                        const int32_t *bias,
                                        const hard_dims *output_dims,
                                        int8_t *output);

/* ------------------------------------- DEPTHWISE_CONV_2D 3x3, any dilation */
/* Channel multiplier 1, any stride, dilation and padding.  Filter in the "dw q15" layout
 * (README "Weight layouts"; hardtool/kernels/weights.py), 4-byte aligned.  Scratch: the
 * channel count rounded up to 4 bytes (a row of input zero points for padding taps). */
int32_t hard_depthwise_conv_3x3_s8_get_buffer_size(const hard_dims *input_dims);

hard_status hard_depthwise_conv_3x3_s8(const hard_context *ctx,
                                       const hard_dw_conv_params *dw_conv_params,
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

#include "hard_conv_ext.h" /* PRELU, TRANSPOSE_CONV, grouped CONV_2D */
#include "hard_data.h"     /* data movement, reductions, elementwise math */

#endif /* HARD_KERNELS_H */
