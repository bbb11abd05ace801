/*
 * hard_pool_fast.c - AVERAGE_POOL_2D four channels at a time (hard_avgpool_s8 dispatches here on
 * ARMv7E-M): SXTAB16 adds four int8 channels into two int16-pair sums per tap, so a window of
 * up to 255 taps cannot overflow; then the rounded division (half away from zero, as the
 * portable kernel and TFLite) per output.
 */
#include "hard_dsp.h"
#include "hard_pool_fast.h"

typedef struct
{
    int32_t in_h;
    int32_t in_w;
    int32_t c;
    int32_t k_h;
    int32_t k_w;
    int32_t act_min;
    int32_t act_max;
} hard_pool_geom;

static inline int8_t hard_avg_out(int32_t sum, int32_t count, int32_t lo, int32_t hi)
{
    return (int8_t)hard_clamp_i32(hard_div_round_away(sum, count), lo, hi);
}

/* One output pixel: the window [ky_lo, ky_hi) x [kx_lo, kx_hi) starting at row pointer win. */
static void hard_avg_pixel(const hard_pool_geom *g, const int8_t *win, int32_t rows, int32_t cols, int8_t *out)
{
    const int32_t count = rows * cols;
    const int32_t row_stride = g->in_w * g->c;
    int32_t c = 0;
    for (; c + 4 <= g->c; c += 4)
    {
        int32_t s02 = 0;
        int32_t s13 = 0;
        const int8_t *row = win + c;
        for (int32_t ky = 0; ky < rows; ++ky, row += row_stride)
        {
            const int8_t *px = row;
            for (int32_t kx = 0; kx < cols; ++kx, px += g->c)
            {
                const int32_t x = hard_read_s8x4(px);
                s02 = hard_sxtab16(s02, x);
                s13 = hard_sxtab16_ror8(s13, x);
            }
        }
        out[c] = hard_avg_out((int32_t)(int16_t)s02, count, g->act_min, g->act_max);
        out[c + 1] = hard_avg_out((int32_t)(int16_t)s13, count, g->act_min, g->act_max);
        out[c + 2] = hard_avg_out(s02 >> 16, count, g->act_min, g->act_max);
        out[c + 3] = hard_avg_out(s13 >> 16, count, g->act_min, g->act_max);
    }
    for (; c < g->c; ++c)
    {
        int32_t sum = 0;
        for (int32_t ky = 0; ky < rows; ++ky)
        {
            for (int32_t kx = 0; kx < cols; ++kx)
            {
                sum += win[ky * row_stride + kx * g->c + c];
            }
        }
        out[c] = hard_avg_out(sum, count, g->act_min, g->act_max);
    }
}

hard_status hard_avgpool_fast(const hard_pool_params *p,
                              const hard_dims *input_dims,
                              const int8_t *input,
                              const hard_dims *filter_dims,
                              const hard_dims *output_dims,
                              int8_t *output)
{
    const hard_pool_geom g = {input_dims->h,  input_dims->w,     input_dims->c,    filter_dims->h,
                              filter_dims->w, p->activation.min, p->activation.max};
    if (g.k_h * g.k_w > 255 || !hard_act_int8(&p->activation))
    {
        return HARD_ARG_ERROR;
    }
    const int32_t ostride = hard_out_stride(p->output_stride, g.c);
    for (int32_t b = 0; b < input_dims->n; ++b)
    {
        const int8_t *in = input + b * g.in_h * g.in_w * g.c;
        int8_t *out = output + b * output_dims->h * output_dims->w * ostride;
        for (int32_t oy = 0; oy < output_dims->h; ++oy)
        {
            const int32_t iy0 = oy * p->stride.h - p->padding.top;
            int32_t ky_lo;
            int32_t ky_hi;
            hard_window_range(iy0, g.k_h, 1, g.in_h, &ky_lo, &ky_hi);
            for (int32_t ox = 0; ox < output_dims->w; ++ox, out += ostride)
            {
                const int32_t ix0 = ox * p->stride.w - p->padding.left;
                int32_t kx_lo;
                int32_t kx_hi;
                hard_window_range(ix0, g.k_w, 1, g.in_w, &kx_lo, &kx_hi);
                if (ky_hi <= ky_lo || kx_hi <= kx_lo)
                {
                    return HARD_ARG_ERROR; /* the reference rejects an all-padding window */
                }
                hard_avg_pixel(&g, in + ((iy0 + ky_lo) * g.in_w + ix0 + kx_lo) * g.c, ky_hi - ky_lo, kx_hi - kx_lo,
                               out);
            }
        }
    }
    return HARD_OK;
}
