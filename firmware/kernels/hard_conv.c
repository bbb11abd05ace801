/*
 * hard_conv.c - CONV_2D and DEPTHWISE_CONV_2D, int8 with per-channel requantisation.
 *
 * Reference semantics (TFLite ConvPerChannel / DepthwiseConvPerChannel):
 *   acc = bias[oc] + sum over in-bounds taps of filter * (input + input_offset)
 *   out = clamp(MultiplyByQuantizedMultiplier(acc, mult[oc], shift[oc]) + output_offset)
 * Out-of-bounds taps (the padding) contribute nothing, i.e. pad with the input zero point.
 */
#include "hard_kernels.h"
#include "hard_support.h"

static int hard_conv_geometry_valid(const hard_tile *stride, const hard_tile *dilation, const hard_padding *pad)
{
    return stride->h > 0 && stride->w > 0 && dilation->h > 0 && dilation->w > 0 && pad->top >= 0 && pad->left >= 0 &&
           pad->bottom >= 0 && pad->right >= 0;
}

int32_t hard_convolve_s8_get_buffer_size(const hard_dims *input_dims,
                                         const hard_dims *filter_dims,
                                         const hard_dims *output_dims)
{
    (void)input_dims;
    (void)filter_dims;
    (void)output_dims;
    return 0;
}

hard_status hard_convolve_s8(const hard_context *ctx,
                             const hard_conv_params *conv_params,
                             const hard_per_channel_quant *quant_params,
                             const hard_dims *input_dims,
                             const int8_t *input,
                             const hard_dims *filter_dims,
                             const int8_t *filter,
                             const int32_t *bias,
                             const hard_dims *output_dims,
                             int8_t *output)
{
    (void)ctx;
    if (!hard_dims_valid(input_dims) || !hard_dims_valid(filter_dims) || !hard_dims_valid(output_dims) ||
        input_dims->c != filter_dims->c || output_dims->c != filter_dims->n || output_dims->n != input_dims->n ||
        !hard_conv_geometry_valid(&conv_params->stride, &conv_params->dilation, &conv_params->padding))
    {
        return HARD_ARG_ERROR;
    }

    const int32_t in_h = input_dims->h;
    const int32_t in_w = input_dims->w;
    const int32_t in_c = input_dims->c;
    const int32_t k_h = filter_dims->h;
    const int32_t k_w = filter_dims->w;
    const int32_t out_h = output_dims->h;
    const int32_t out_w = output_dims->w;
    const int32_t out_c = output_dims->c;
    const int32_t stride_h = conv_params->stride.h;
    const int32_t stride_w = conv_params->stride.w;
    const int32_t dil_h = conv_params->dilation.h;
    const int32_t dil_w = conv_params->dilation.w;
    const int32_t pad_top = conv_params->padding.top;
    const int32_t pad_left = conv_params->padding.left;
    const int32_t input_offset = conv_params->input_offset;
    const int32_t output_offset = conv_params->output_offset;
    const int32_t act_min = conv_params->activation.min;
    const int32_t act_max = conv_params->activation.max;
    const int32_t filter_size = k_h * k_w * in_c;
    const int32_t in_row_stride = in_w * in_c;

    for (int32_t b = 0; b < input_dims->n; ++b)
    {
        const int8_t *in_batch = input + b * in_h * in_row_stride;
        int8_t *out_batch = output + b * out_h * out_w * out_c;

        /* Output channel outermost: one filter stays hot while the input streams. */
        for (int32_t oc = 0; oc < out_c; ++oc)
        {
            const int8_t *restrict filt = filter + oc * filter_size;
            const int32_t bias_val = bias != 0 ? bias[oc] : 0;
            /* Full-window pixels: the offset term is input_offset * sum(filter). */
            const int32_t full_bias = bias_val + input_offset * hard_sum_s8(filt, filter_size);
            const int32_t mult = quant_params->multiplier[oc];
            const int32_t shift = quant_params->shift[oc];
            int8_t *restrict out_ptr = out_batch + oc;

            for (int32_t oy = 0; oy < out_h; ++oy)
            {
                const int32_t iy0 = oy * stride_h - pad_top;
                int32_t ky_lo;
                int32_t ky_hi;
                hard_window_range(iy0, k_h, dil_h, in_h, &ky_lo, &ky_hi);
                const int full_y = ky_lo == 0 && ky_hi == k_h;

                for (int32_t ox = 0; ox < out_w; ++ox)
                {
                    const int32_t ix0 = ox * stride_w - pad_left;
                    int32_t kx_lo;
                    int32_t kx_hi;
                    hard_window_range(ix0, k_w, dil_w, in_w, &kx_lo, &kx_hi);
                    const int32_t kx_n = kx_hi - kx_lo;
                    const int32_t ky_end = kx_n > 0 ? ky_hi : ky_lo;
                    int32_t acc = 0;
                    int32_t tap_sum = 0;

                    for (int32_t ky = ky_lo; ky < ky_end; ++ky)
                    {
                        /* First valid tap of this filter row. */
                        const int8_t *in_row =
                            in_batch + (iy0 + ky * dil_h) * in_row_stride + (ix0 + kx_lo * dil_w) * in_c;
                        const int8_t *f_row = filt + ky * k_w * in_c;
                        if (dil_w == 1)
                        {
                            /* The valid taps of one filter row are contiguous in memory. */
                            acc += hard_dot_s8(f_row + kx_lo * in_c, in_row, kx_n * in_c);
                            if (!full_y || kx_n != k_w)
                            {
                                tap_sum += hard_sum_s8(f_row + kx_lo * in_c, kx_n * in_c);
                            }
                        }
                        else
                        {
                            for (int32_t kx = kx_lo; kx < kx_hi; ++kx)
                            {
                                acc += hard_dot_s8(f_row + kx * in_c, in_row + (kx - kx_lo) * dil_w * in_c, in_c);
                                if (!full_y || kx_n != k_w)
                                {
                                    tap_sum += hard_sum_s8(f_row + kx * in_c, in_c);
                                }
                            }
                        }
                    }

                    if (full_y && kx_n == k_w)
                    {
                        acc += full_bias;
                    }
                    else
                    {
                        acc += bias_val + input_offset * tap_sum;
                    }
                    acc = hard_requantize(acc, mult, shift) + output_offset;
                    acc = hard_clamp_i32(acc, act_min, act_max);
                    *out_ptr = (int8_t)acc;
                    out_ptr += out_c;
                }
            }
        }
    }
    return HARD_OK;
}

int32_t hard_depthwise_conv_s8_get_buffer_size(const hard_dims *input_dims,
                                               const hard_dims *filter_dims,
                                               const hard_dims *output_dims)
{
    (void)input_dims;
    (void)filter_dims;
    (void)output_dims;
    return 0;
}

hard_status hard_depthwise_conv_s8(const hard_context *ctx,
                                   const hard_dw_conv_params *dw_conv_params,
                                   const hard_per_channel_quant *quant_params,
                                   const hard_dims *input_dims,
                                   const int8_t *input,
                                   const hard_dims *filter_dims,
                                   const int8_t *filter,
                                   const int32_t *bias,
                                   const hard_dims *output_dims,
                                   int8_t *output)
{
    (void)ctx;
    const int32_t ch_mult = dw_conv_params->ch_mult;
    if (!hard_dims_valid(input_dims) || !hard_dims_valid(filter_dims) || !hard_dims_valid(output_dims) ||
        ch_mult <= 0 || output_dims->c != input_dims->c * ch_mult || filter_dims->c != output_dims->c ||
        output_dims->n != input_dims->n ||
        !hard_conv_geometry_valid(&dw_conv_params->stride, &dw_conv_params->dilation, &dw_conv_params->padding))
    {
        return HARD_ARG_ERROR;
    }

    const int32_t in_h = input_dims->h;
    const int32_t in_w = input_dims->w;
    const int32_t in_c = input_dims->c;
    const int32_t k_h = filter_dims->h;
    const int32_t k_w = filter_dims->w;
    const int32_t out_h = output_dims->h;
    const int32_t out_w = output_dims->w;
    const int32_t out_c = output_dims->c;
    const int32_t stride_h = dw_conv_params->stride.h;
    const int32_t stride_w = dw_conv_params->stride.w;
    const int32_t dil_h = dw_conv_params->dilation.h;
    const int32_t dil_w = dw_conv_params->dilation.w;
    const int32_t pad_top = dw_conv_params->padding.top;
    const int32_t pad_left = dw_conv_params->padding.left;
    const int32_t input_offset = dw_conv_params->input_offset;
    const int32_t output_offset = dw_conv_params->output_offset;
    const int32_t act_min = dw_conv_params->activation.min;
    const int32_t act_max = dw_conv_params->activation.max;
    const int32_t in_row_stride = in_w * in_c;
    const int32_t tap_y_in = dil_h * in_row_stride;
    const int32_t tap_x_in = dil_w * in_c;
    const int32_t tap_y_f = k_w * out_c;

    for (int32_t b = 0; b < input_dims->n; ++b)
    {
        const int8_t *in_batch = input + b * in_h * in_row_stride;
        int8_t *restrict out_ptr = output + b * out_h * out_w * out_c;

        for (int32_t oy = 0; oy < out_h; ++oy)
        {
            const int32_t iy0 = oy * stride_h - pad_top;
            int32_t ky_lo;
            int32_t ky_hi;
            hard_window_range(iy0, k_h, dil_h, in_h, &ky_lo, &ky_hi);

            for (int32_t ox = 0; ox < out_w; ++ox)
            {
                const int32_t ix0 = ox * stride_w - pad_left;
                int32_t kx_lo;
                int32_t kx_hi;
                hard_window_range(ix0, k_w, dil_w, in_w, &kx_lo, &kx_hi);
                /* A window fully in the padding leaves the bias only. */
                const int empty = ky_lo == ky_hi || kx_lo == kx_hi;
                const int32_t ky_end = empty ? ky_lo : ky_hi;
                /* First valid tap of the window; the loops below only walk valid taps. */
                const int8_t *in_win =
                    empty ? in_batch : in_batch + (iy0 + ky_lo * dil_h) * in_row_stride + (ix0 + kx_lo * dil_w) * in_c;
                const int8_t *f_win = filter + (ky_lo * k_w + kx_lo) * out_c;

                int32_t oc = 0;
                for (int32_t ic = 0; ic < in_c; ++ic)
                {
                    for (int32_t m = 0; m < ch_mult; ++m, ++oc)
                    {
                        int32_t acc = bias != 0 ? bias[oc] : 0;
                        const int8_t *restrict in_tap_row = in_win + ic;
                        const int8_t *restrict f_tap_row = f_win + oc;
                        for (int32_t ky = ky_lo; ky < ky_end; ++ky)
                        {
                            const int8_t *in_tap = in_tap_row;
                            const int8_t *f_tap = f_tap_row;
                            for (int32_t kx = kx_lo; kx < kx_hi; ++kx)
                            {
                                acc += *f_tap * (*in_tap + input_offset);
                                in_tap += tap_x_in;
                                f_tap += out_c;
                            }
                            in_tap_row += tap_y_in;
                            f_tap_row += tap_y_f;
                        }
                        acc = hard_requantize(acc, quant_params->multiplier[oc], quant_params->shift[oc]);
                        acc = hard_clamp_i32(acc + output_offset, act_min, act_max);
                        out_ptr[oc] = (int8_t)acc;
                    }
                }
                out_ptr += out_c;
            }
        }
    }
    return HARD_OK;
}
