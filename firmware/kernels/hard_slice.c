/*
 * hard_slice.c - STRIDED_SLICE / SLICE and PAD / PADV2 over all four dims (any 1-byte type).
 *
 * STRIDED_SLICE (TFLite reference_ops::StridedSlice) with positive strides, once
 * the host has resolved begin/end masks, negative indices, ellipsis and
 * shrink/new axes into a 4-D begin, stride and output size; SLICE is the same
 * with unit strides.  PAD/PADV2 (TFLite reference_ops::Pad) write the constant
 * everywhere outside the copied input; int8 PAD pads with the output zero point,
 * PADV2 with its constant.
 */
#include <string.h>

#include "hard_kernels.h"
#include "hard_support.h"

/* begin + (size - 1) * stride inside [0, in) for a size >= 1 and stride >= 1. */
static int hard_slice_axis_ok(int32_t in, int32_t begin, int32_t stride, int32_t size)
{
    return stride > 0 && begin >= 0 && size > 0 && begin + (int64_t)(size - 1) * stride < in;
}

int32_t hard_strided_slice_s8_get_buffer_size(void)
{
    return 0;
}

hard_status hard_strided_slice_s8(const hard_slice_params *slice_params,
                                  const hard_dims *input_dims,
                                  const int8_t *input,
                                  const hard_dims *output_dims,
                                  int8_t *output)
{
    if (slice_params == 0 || !hard_dims_valid(input_dims) || !hard_dims_valid(output_dims))
    {
        return HARD_ARG_ERROR;
    }
    const hard_dims *b = &slice_params->begin;
    const hard_dims *s = &slice_params->stride;
    const hard_dims *in = input_dims;
    const hard_dims *out = output_dims;
    if (!hard_slice_axis_ok(in->n, b->n, s->n, out->n) || !hard_slice_axis_ok(in->h, b->h, s->h, out->h) ||
        !hard_slice_axis_ok(in->w, b->w, s->w, out->w) || !hard_slice_axis_ok(in->c, b->c, s->c, out->c))
    {
        return HARD_ARG_ERROR;
    }
    int8_t *dst = output;
    for (int32_t n = 0; n < out->n; ++n)
    {
        for (int32_t h = 0; h < out->h; ++h)
        {
            const int8_t *row = input + (((b->n + n * s->n) * in->h + b->h + h * s->h) * in->w + b->w) * in->c + b->c;
            for (int32_t w = 0; w < out->w; ++w)
            {
                const int8_t *src = row + w * s->w * in->c;
                if (s->c == 1)
                {
                    memcpy(dst, src, (size_t)out->c);
                }
                else
                {
                    for (int32_t c = 0; c < out->c; ++c)
                    {
                        dst[c] = src[c * s->c];
                    }
                }
                dst += out->c;
            }
        }
    }
    return HARD_OK;
}

static int hard_pad_axis_ok(int32_t in, int32_t before, int32_t after, int32_t out)
{
    return before >= 0 && after >= 0 && in + before + after == out;
}

int32_t hard_pad4d_s8_get_buffer_size(void)
{
    return 0;
}

hard_status hard_pad4d_s8(const hard_pad4d_params *pad_params,
                          const hard_dims *input_dims,
                          const int8_t *input,
                          const hard_dims *output_dims,
                          int8_t *output)
{
    if (pad_params == 0 || !hard_dims_valid(input_dims) || !hard_dims_valid(output_dims))
    {
        return HARD_ARG_ERROR;
    }
    const hard_dims *lo = &pad_params->before;
    const hard_dims *in = input_dims;
    const hard_dims *out = output_dims;
    if (!hard_pad_axis_ok(in->n, lo->n, pad_params->after.n, out->n) ||
        !hard_pad_axis_ok(in->h, lo->h, pad_params->after.h, out->h) ||
        !hard_pad_axis_ok(in->w, lo->w, pad_params->after.w, out->w) ||
        !hard_pad_axis_ok(in->c, lo->c, pad_params->after.c, out->c))
    {
        return HARD_ARG_ERROR;
    }
    const size_t total = (size_t)out->n * (size_t)out->h * (size_t)out->w * (size_t)out->c;
    memset(output, (int)(int8_t)pad_params->pad_value, total);
    const int8_t *src = input;
    for (int32_t n = 0; n < in->n; ++n)
    {
        for (int32_t h = 0; h < in->h; ++h)
        {
            int8_t *dst = output + (((lo->n + n) * out->h + lo->h + h) * out->w + lo->w) * out->c + lo->c;
            for (int32_t w = 0; w < in->w; ++w)
            {
                memcpy(dst, src, (size_t)in->c);
                dst += out->c;
                src += in->c;
            }
        }
    }
    return HARD_OK;
}
