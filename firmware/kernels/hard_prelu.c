/*
 * hard_prelu.c - PRELU int8 (TFLite's reference_ops::BroadcastPrelu4DSlow), alpha broadcast
 * over any dimensions of size 1 (the converter's per-channel alpha is [1, 1, C] or [C]).
 */
#include "hard_kernels.h"
#include "hard_support.h"

int32_t hard_prelu_s8_get_buffer_size(void)
{
    return 0;
}

/* Elements from one alpha index to the next along a dimension: 0 where alpha broadcasts. */
static inline int32_t hard_bstride(int32_t alpha_dim, int32_t stride)
{
    return alpha_dim == 1 ? 0 : stride;
}

static int hard_prelu_valid(const hard_prelu_params *p, const hard_dims *in, const hard_dims *a)
{
    return p != 0 && hard_dims_valid(in) && hard_dims_valid(a) && (a->n == 1 || a->n == in->n) &&
           (a->h == 1 || a->h == in->h) && (a->w == 1 || a->w == in->w) && (a->c == 1 || a->c == in->c);
}

/* One row of `n` channels: alpha[c * step]. */
static inline void
hard_prelu_row(const hard_prelu_params *p, const int8_t *in, const int8_t *alpha, int32_t step, int32_t n, int8_t *out)
{
    const int32_t in_off = p->input_offset;
    const int32_t a_off = p->alpha_offset;
    const int32_t out_off = p->output_offset;
    for (int32_t c = 0; c < n; ++c)
    {
        const int32_t v = in[c] + in_off;
        int32_t r;
        if (v >= 0)
        {
            r = hard_requantize(v, p->identity.multiplier, p->identity.shift);
        }
        else
        {
            r = hard_requantize(v * (alpha[c * step] + a_off), p->alpha.multiplier, p->alpha.shift);
        }
        out[c] = (int8_t)hard_clamp_i32(r + out_off, HARD_INT8_MIN, HARD_INT8_MAX);
    }
}

hard_status hard_prelu_s8(const hard_prelu_params *prelu_params,
                          const hard_dims *input_dims,
                          const int8_t *input,
                          const hard_dims *alpha_dims,
                          const int8_t *alpha,
                          int8_t *output)
{
    if (!hard_prelu_valid(prelu_params, input_dims, alpha_dims) || input == 0 || alpha == 0 || output == 0)
    {
        return HARD_ARG_ERROR;
    }
    const hard_dims d = *input_dims;
    const hard_dims a = *alpha_dims;
    const int32_t sc = hard_bstride(a.c, 1);
    const int32_t sw = hard_bstride(a.w, a.c);
    const int32_t sh = hard_bstride(a.h, a.w * a.c);
    const int32_t sn = hard_bstride(a.n, a.h * a.w * a.c);
    for (int32_t b = 0; b < d.n; ++b)
    {
        for (int32_t y = 0; y < d.h; ++y)
        {
            const int8_t *alpha_row = alpha + b * sn + y * sh;
            for (int32_t x = 0; x < d.w; ++x)
            {
                const int32_t i = ((b * d.h + y) * d.w + x) * d.c;
                hard_prelu_row(prelu_params, input + i, alpha_row + x * sw, sc, d.c, output + i);
            }
        }
    }
    return HARD_OK;
}
