/*
 * hard_resize.c - RESIZE_BILINEAR, RESIZE_NEAREST_NEIGHBOR, ARG_MAX over channels and
 * the fused RESIZE_BILINEAR -> ARG_MAX epilogue (int8).
 *
 * Bilinear follows TFLite's ResizeBilinearInteger: source coordinates in 10-bit
 * fixed point, four taps weighted in 20-bit fixed point, rounded half away from zero.
 * With |input| <= 128 and |weights| <= 2048 per axis the products fit in int32, so
 * the weights are applied separably (exact, the reference uses int64).
 *
 * Nearest neighbour follows TFLite's GetNearestNeighbor, which computes in float32;
 * the float32 operations are emulated here with integers, rounding exactly like IEEE
 * single precision, so no FPU or libm is needed and the indices match bit for bit.
 */
#include <string.h>

#include "hard_bilinear.h"
#include "hard_dsp.h"
#include "hard_resize_fast.h"
#include "hard_kernels.h"
#include "hard_support.h"

static int
hard_resize_args_valid(const hard_resize_params *p, const hard_dims *input_dims, const hard_dims *output_dims)
{
    return hard_dims_valid(input_dims) && hard_dims_valid(output_dims) && input_dims->n == output_dims->n &&
           input_dims->c == output_dims->c && !(p->align_corners && p->half_pixel_centers) &&
           hard_out_stride_valid(p->output_stride, output_dims->c);
}

int32_t hard_resize_bilinear_s8_get_buffer_size(void)
{
    return 0;
}

hard_status hard_resize_bilinear_s8(const hard_resize_params *resize_params,
                                    const hard_dims *input_dims,
                                    const int8_t *input,
                                    const hard_dims *output_dims,
                                    int8_t *output)
{
    if (!hard_resize_args_valid(resize_params, input_dims, output_dims))
    {
        return HARD_ARG_ERROR;
    }
#if HARD_DSP
    hard_resize_bilinear_fast(resize_params, input_dims, input, output_dims, output);
#else
    const int32_t in_h = input_dims->h;
    const int32_t in_w = input_dims->w;
    const int32_t ch = input_dims->c;
    const int32_t out_h = output_dims->h;
    const int32_t out_w = output_dims->w;
    const int32_t half = resize_params->half_pixel_centers;
    const int32_t scale_y = hard_bilinear_scale_10(in_h, out_h, resize_params->align_corners);
    const int32_t scale_x = hard_bilinear_scale_10(in_w, out_w, resize_params->align_corners);
    const int32_t ostride = hard_out_stride(resize_params->output_stride, ch);

    for (int32_t b = 0; b < input_dims->n; ++b)
    {
        const int8_t *in_batch = input + b * in_h * in_w * ch;
        int8_t *restrict out_ptr = output + b * out_h * out_w * ostride;
        for (int32_t y = 0; y < out_h; ++y)
        {
            const hard_bilinear_tap ty = hard_bilinear_coord(y, scale_y, half, in_h);
            const int8_t *row0 = in_batch + ty.lo * in_w * ch;
            const int8_t *row1 = in_batch + ty.hi * in_w * ch;
            for (int32_t x = 0; x < out_w; ++x)
            {
                const hard_bilinear_tap tx = hard_bilinear_coord(x, scale_x, half, in_w);
                const int8_t *restrict p00 = row0 + tx.lo * ch;
                const int8_t *restrict p01 = row0 + tx.hi * ch;
                const int8_t *restrict p10 = row1 + tx.lo * ch;
                const int8_t *restrict p11 = row1 + tx.hi * ch;
                for (int32_t c = 0; c < ch; ++c)
                {
                    const int32_t top = p00[c] * tx.w_lo + p01[c] * tx.w_hi;
                    const int32_t bottom = p10[c] * tx.w_lo + p11[c] * tx.w_hi;
                    out_ptr[c] = (int8_t)hard_round_shift20(top * ty.w_lo + bottom * ty.w_hi);
                }
                out_ptr += ostride;
            }
        }
    }
#endif
    return HARD_OK;
}

/* ---------------------------------------------------------------- nearest */

/* A non-negative float32 value m * 2^-e, with 2^23 <= m < 2^24 (or m == 0). */
typedef struct
{
    uint64_t m;
    int32_t e;
} hard_f32;

/* Round the exact value q * 2^-e (q > 0) to float32 precision, to nearest even.
 * sticky != 0 tells that the exact value is slightly above q * 2^-e. */
static hard_f32 hard_f32_round(uint64_t q, int32_t e, int sticky)
{
    hard_f32 r;
    int32_t bits = 0;
    while ((q >> bits) != 0)
    {
        ++bits;
    }
    if (bits <= 24)
    {
        r.m = q << (24 - bits);
        r.e = e + (24 - bits);
        return r; /* exact; sticky is only passed with bits > 24 */
    }
    const int32_t drop = bits - 24;
    const uint64_t low = q & ((((uint64_t)1) << drop) - 1);
    const uint64_t halfway = ((uint64_t)1) << (drop - 1);
    uint64_t m = q >> drop;
    if (low > halfway || (low == halfway && (sticky || (m & 1))))
    {
        ++m;
    }
    e -= drop;
    if (m == ((uint64_t)1 << 24))
    {
        m >>= 1;
        --e;
    }
    r.m = m;
    r.e = e;
    return r;
}

/* float32(num / den) for 0 < num, den < 2^15. */
static hard_f32 hard_f32_div(int32_t num, int32_t den)
{
    const uint64_t scaled = (uint64_t)num << 40; /* >= 2^40 / 2^15: always more than 24 bits */
    return hard_f32_round(scaled / (uint64_t)den, 40, (scaled % (uint64_t)den) != 0);
}

/* TFLite GetNearestNeighbor, float32 arithmetic emulated exactly. */
static int32_t hard_nearest_index(int32_t v, int32_t in_size, int32_t out_size, int32_t align_corners, int32_t half)
{
    int32_t result = 0;
    const int use_aligned = align_corners && out_size > 1;
    const int32_t num = use_aligned ? in_size - 1 : in_size;
    const int32_t den = use_aligned ? out_size - 1 : out_size;
    const uint64_t t2 = (uint64_t)(2 * v + (half ? 1 : 0)); /* (v + offset) = t2 / 2, exact */
    if (num > 0 && t2 > 0)
    {
        const hard_f32 scale = hard_f32_div(num, den);
        const hard_f32 prod = hard_f32_round(t2 * scale.m, scale.e + 1, 0); /* float32 product */
        if (prod.e <= 0)
        {
            result = (int32_t)(prod.m << -prod.e);
        }
        else if (prod.e > 40)
        {
            result = 0; /* below 2^-16: floors and rounds to zero */
        }
        else if (align_corners)
        {
            result = (int32_t)((prod.m + ((uint64_t)1 << (prod.e - 1))) >> prod.e); /* round half away */
        }
        else
        {
            result = (int32_t)(prod.m >> prod.e); /* floor */
        }
    }
    return hard_min_i32(result, in_size - 1);
}

int32_t hard_resize_nearest_s8_get_buffer_size(void)
{
    return 0;
}

hard_status hard_resize_nearest_s8(const hard_resize_params *resize_params,
                                   const hard_dims *input_dims,
                                   const int8_t *input,
                                   const hard_dims *output_dims,
                                   int8_t *output)
{
    if (!hard_resize_args_valid(resize_params, input_dims, output_dims) || input_dims->h >= (1 << 15) ||
        input_dims->w >= (1 << 15) || output_dims->h >= (1 << 15) || output_dims->w >= (1 << 15))
    {
        return HARD_ARG_ERROR;
    }
    const int32_t in_h = input_dims->h;
    const int32_t in_w = input_dims->w;
    const int32_t ch = input_dims->c;
    const int32_t out_h = output_dims->h;
    const int32_t out_w = output_dims->w;
    const int32_t align = resize_params->align_corners;
    const int32_t half = resize_params->half_pixel_centers;
    const int32_t ostride = hard_out_stride(resize_params->output_stride, ch);
    const int32_t out_row = out_w * ostride;

    for (int32_t b = 0; b < input_dims->n; ++b)
    {
        const int8_t *in_batch = input + b * in_h * in_w * ch;
        int8_t *out_batch = output + b * out_h * out_row;
        int32_t prev_iy = -1;
        for (int32_t y = 0; y < out_h; ++y)
        {
            const int32_t iy = hard_nearest_index(y, in_h, out_h, align, half);
            int8_t *out = out_batch + y * out_row;
            if (iy == prev_iy)
            {
                /* same source row: copy the previous output row (pixel by pixel when strided) */
                const int32_t n = ostride == ch ? 1 : out_w;
                const size_t bytes = (size_t)(ostride == ch ? out_row : ch);
                for (int32_t x = 0; x < n; ++x)
                {
                    memcpy(out + x * ostride, out - out_row + x * ostride, bytes);
                }
                continue;
            }
            const int8_t *in_row = in_batch + iy * in_w * ch;
            for (int32_t x = 0; x < out_w; ++x)
            {
                memcpy(out + x * ostride, in_row + hard_nearest_index(x, in_w, out_w, align, half) * ch, (size_t)ch);
            }
            prev_iy = iy;
        }
    }
    return HARD_OK;
}

/* ------------------------------------------------------------------ argmax */

static inline uint8_t hard_argmax_s8(const int8_t *restrict v, int32_t n)
{
    int32_t best = 0;
    int32_t best_val = v[0];
    for (int32_t c = 1; c < n; ++c)
    {
        if (v[c] > best_val) /* strict: the first maximum wins */
        {
            best_val = v[c];
            best = c;
        }
    }
    return (uint8_t)best;
}

int32_t hard_argmax_c_s8_get_buffer_size(void)
{
    return 0;
}

hard_status hard_argmax_c_s8(const hard_dims *input_dims, const int8_t *input, uint8_t *labels)
{
    if (!hard_dims_valid(input_dims) || input_dims->c > 256)
    {
        return HARD_ARG_ERROR;
    }
    const int32_t ch = input_dims->c;
    const int32_t pixels = input_dims->n * input_dims->h * input_dims->w;
    for (int32_t i = 0; i < pixels; ++i)
    {
        labels[i] = hard_argmax_s8(input + i * ch, ch);
    }
    return HARD_OK;
}

/* ------------------------------------------------ fused resize + argmax */

int32_t hard_resize_bilinear_argmax_s8_get_buffer_size(const hard_dims *input_dims)
{
    /* One interpolated row; plus, for the ARMv7E-M path, the table of column runs. */
    return hard_resize_argmax_fast_scratch(input_dims->w, input_dims->c);
}

hard_status hard_resize_bilinear_argmax_s8_rows(const hard_context *ctx,
                                                const hard_resize_params *resize_params,
                                                const hard_dims *input_dims,
                                                const int8_t *input,
                                                const hard_dims *output_dims,
                                                int32_t row_begin,
                                                int32_t row_end,
                                                uint8_t *labels)
{
    if (!hard_resize_args_valid(resize_params, input_dims, output_dims) || input_dims->n != 1 || input_dims->c > 256 ||
        row_begin < 0 || row_end > output_dims->h || row_begin > row_end || ctx == 0 || ctx->buf == 0 ||
        ctx->size < input_dims->w * input_dims->c * (int32_t)sizeof(int32_t))
    {
        return HARD_ARG_ERROR;
    }
#if HARD_DSP
    if (hard_resize_argmax_fast(ctx, resize_params, input_dims, input, output_dims, row_begin, row_end, labels) ==
        HARD_OK)
    {
        return HARD_OK;
    }
#endif
    const int32_t in_h = input_dims->h;
    const int32_t in_w = input_dims->w;
    const int32_t ch = input_dims->c;
    const int32_t out_w = output_dims->w;
    const int32_t half = resize_params->half_pixel_centers;
    const int32_t scale_y = hard_bilinear_scale_10(in_h, output_dims->h, resize_params->align_corners);
    const int32_t scale_x = hard_bilinear_scale_10(in_w, out_w, resize_params->align_corners);
    int32_t *restrict vrow = (int32_t *)ctx->buf;

    for (int32_t y = row_begin; y < row_end; ++y)
    {
        /* Vertical pass once per output row: in_w * ch values in 10-bit fixed point. */
        const hard_bilinear_tap ty = hard_bilinear_coord(y, scale_y, half, in_h);
        const int8_t *restrict row0 = input + ty.lo * in_w * ch;
        const int8_t *restrict row1 = input + ty.hi * in_w * ch;
        for (int32_t i = 0; i < in_w * ch; ++i)
        {
            vrow[i] = row0[i] * ty.w_lo + row1[i] * ty.w_hi;
        }
        /* Horizontal pass, rounding each logit exactly as the reference, then argmax. */
        for (int32_t x = 0; x < out_w; ++x)
        {
            const hard_bilinear_tap tx = hard_bilinear_coord(x, scale_x, half, in_w);
            const int32_t *restrict v0 = vrow + tx.lo * ch;
            const int32_t *restrict v1 = vrow + tx.hi * ch;
            int32_t best = 0;
            int32_t best_val = hard_round_shift20(v0[0] * tx.w_lo + v1[0] * tx.w_hi);
            for (int32_t c = 1; c < ch; ++c)
            {
                const int32_t val = hard_round_shift20(v0[c] * tx.w_lo + v1[c] * tx.w_hi);
                if (val > best_val)
                {
                    best_val = val;
                    best = c;
                }
            }
            *labels++ = (uint8_t)best;
        }
    }
    return HARD_OK;
}

hard_status hard_resize_bilinear_argmax_s8(const hard_context *ctx,
                                           const hard_resize_params *resize_params,
                                           const hard_dims *input_dims,
                                           const int8_t *input,
                                           const hard_dims *output_dims,
                                           uint8_t *labels)
{
    if (output_dims == 0)
    {
        return HARD_ARG_ERROR;
    }
    return hard_resize_bilinear_argmax_s8_rows(ctx, resize_params, input_dims, input, output_dims, 0, output_dims->h,
                                               labels);
}
