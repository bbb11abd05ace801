/*
 * hard_fused_add.c - the residual ADD fused into the convolutions' output stage (see
 * hard_fused_add.h and hard_fused_add in hard_kernels.h).
 *
 * TFLite's int8 ADD rescales each input to (x + offset) << 20 times a multiplier below one: a
 * function of the int8 value alone, so codegen tabulates both inputs (512 int32 in flash) and
 * only the output requantisation runs per element.  The tables hold the values doubled (the
 * single-multiply form's 2x, hard_dsp.h).  With multiplier >= 0, -31 <= shift <= -1,
 * |table| < 2^30 and the output offset folded into SMMLAR's accumulator without overflow, that
 * requantisation is the single-multiply form (exact); otherwise the two-step one.
 */
#include "hard_dsp.h"
#include "hard_fused_add.h"

int hard_fused_add_valid(const hard_fused_add *fa)
{
    return fa == 0 || (fa->residual != 0 && fa->table != 0 && fa->output_shift <= 0 && fa->output_shift >= -31 &&
                       hard_act_int8(&fa->activation));
}

/* Every (doubled) table entry below 2^30 in magnitude: the sum of two halved stays below 2^30. */
static int hard_fa_table_ok(const int32_t *table)
{
    const int32_t limit = (int32_t)1 << 30;
    for (int32_t i = 0; i < 512; ++i)
    {
        if (table[i] >= limit || table[i] <= -limit)
        {
            return 0;
        }
    }
    return 1;
}

void hard_fa_prepare(hard_fa_stage *st, const hard_fused_add *fa, const int8_t *output, int32_t out_c, int32_t ostride)
{
    const int32_t e = -fa->output_shift;
    st->residual = fa->residual;
    st->conv_tab = fa->table + 128;
    st->res_tab = fa->table + 384;
    st->out_base = output;
    st->out_c = out_c;
    st->ostride = ostride;
    st->mult = fa->output_multiplier;
    st->shift = fa->output_shift;
    st->rshift = e;
    st->offset = fa->output_offset;
    st->lo = fa->activation.min;
    st->hi = fa->activation.max;
    st->round = 0;
    st->mode = 0;
    /* |hi(2s * m)| < 2^29: the folded accumulator stays inside int32 */
    const int64_t reach = e >= 1 ? ((int64_t)(fa->output_offset < 0 ? -fa->output_offset : fa->output_offset) << e) +
                                       ((int64_t)1 << (e - 1)) + ((int64_t)1 << 29)
                                 : INT64_MAX;
    if (e >= 1 && fa->output_multiplier >= 0 && reach < ((int64_t)1 << 31) && hard_fa_table_ok(fa->table))
    {
        st->round = (int32_t)(((int64_t)1 << (e - 1)) + ((int64_t)fa->output_offset << e));
        st->mode = st->lo <= HARD_INT8_MIN ? (st->hi >= HARD_INT8_MAX ? 1 : 3) : (st->hi >= HARD_INT8_MAX ? 2 : 3);
    }
}

/* One element: the sum of both rescaled inputs to the int8 output.  mode 0: exact; 1: full
 * int8 range; 2: a lower bound only (RELU: the upper one is int8's); 3: both bounds. */
HARD_HOT int32_t hard_fa_one(const hard_fa_stage *k, int32_t v, int32_t r, const int mode)
{
    int32_t y;
    if (mode == 0)
    {
        const int32_t s = (int32_t)(((int64_t)k->conv_tab[v] + k->res_tab[r]) >> 1);
        return hard_clamp_i32(hard_requantize_le1(s, k->mult, k->shift) + k->offset, k->lo, k->hi);
    }
    const int32_t s2 = k->conv_tab[v] + k->res_tab[r];
    y = hard_ssat8((hard_smmlar(s2, k->mult, k->round) + (s2 >> 31)) >> k->rshift);
    if (mode >= 2)
    {
        y = y < k->lo ? k->lo : y;
    }
    if (mode == 3)
    {
        y = y > k->hi ? k->hi : y;
    }
    return y;
}

/* Every channel of one pixel, two at a time, specialised per mode. */
HARD_HOT void hard_fa_run(const hard_fa_stage *st, int8_t *a, const int8_t *ra, const int mode)
{
    const hard_fa_stage k = *st;
    const int32_t n = k.out_c;
    int32_t c = 0;
    for (; c + 1 < n; c += 2)
    {
        const int32_t y0 = hard_fa_one(&k, a[c], ra[c], mode);
        const int32_t y1 = hard_fa_one(&k, a[c + 1], ra[c + 1], mode);
        a[c] = (int8_t)y0;
        a[c + 1] = (int8_t)y1;
    }
    if (c < n)
    {
        a[c] = (int8_t)hard_fa_one(&k, a[c], ra[c], mode);
    }
}

/* One pixel in the layer's mode. */
static void hard_fa_pixel(const hard_fa_stage *st, int8_t *out, const int8_t *res)
{
    switch (st->mode)
    {
        case 1:
            hard_fa_run(st, out, res, 1);
            break;
        case 2:
            hard_fa_run(st, out, res, 2);
            break;
        case 3:
            hard_fa_run(st, out, res, 3);
            break;
        default:
            hard_fa_run(st, out, res, 0);
            break;
    }
}

/* The residual pixel of an output pointer. */
static inline const int8_t *hard_fa_residual(const hard_fa_stage *st, const int8_t *out)
{
    const int32_t off = (int32_t)(out - st->out_base);
    return st->residual + (st->ostride == st->out_c ? off : off / st->ostride * st->out_c);
}

void hard_fa_pair(const hard_fa_stage *st, int8_t *out_a, int8_t *out_b)
{
    hard_fa_pixel(st, out_a, hard_fa_residual(st, out_a));
    if (out_b != 0 && out_b != out_a)
    {
        hard_fa_pixel(st, out_b, hard_fa_residual(st, out_b));
    }
}
