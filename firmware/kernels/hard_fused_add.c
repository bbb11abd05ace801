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
    st->sum = fa->output;
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
    const int64_t off = fa->output_offset;
    const int64_t reach =
        e >= 1 ? ((off < 0 ? -off : off) << e) + ((int64_t)1 << (e - 1)) + ((int64_t)1 << 29) : INT64_MAX;
    if (e >= 1 && fa->output_multiplier >= 0 && reach < ((int64_t)1 << 31) && hard_fa_table_ok(fa->table))
    {
        st->round = (int32_t)(((int64_t)1 << (e - 1)) + off * ((int64_t)1 << e));
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

/* dst[c] = ADD(src[c], res[c]) for c < n, four at a time, specialised per mode; every value of a
 * step is read before any is written (dst may be src or res). */
HARD_HOT void
hard_fa_run(const hard_fa_stage *st, const int8_t *src, const int8_t *res, int8_t *dst, int32_t n, const int mode)
{
    const hard_fa_stage k = *st;
    int32_t c = 0;
    /* fast forms: four saturated values in one word, then the clamps on all four (SSUB8 + SEL) */
    const int32_t lo4 = (int32_t)(0x01010101u * (uint8_t)k.lo);
    const int32_t hi4 = (int32_t)(0x01010101u * (uint8_t)k.hi);
    for (; mode != 0 && c + 3 < n; c += 4)
    {
        const int32_t y0 = hard_fa_one(&k, src[c], res[c], 1);
        const int32_t y1 = hard_fa_one(&k, src[c + 1], res[c + 1], 1);
        const int32_t y2 = hard_fa_one(&k, src[c + 2], res[c + 2], 1);
        const int32_t y3 = hard_fa_one(&k, src[c + 3], res[c + 3], 1);
        int32_t w = hard_pack8x4(y0, y1, y2, y3);
        w = mode >= 2 ? hard_max8(w, lo4) : w;
        w = mode == 3 ? hard_min8(w, hi4) : w;
        hard_write_s8x4(dst + c, w);
    }
    for (; c + 3 < n; c += 4)
    {
        const int32_t y0 = hard_fa_one(&k, src[c], res[c], mode);
        const int32_t y1 = hard_fa_one(&k, src[c + 1], res[c + 1], mode);
        const int32_t y2 = hard_fa_one(&k, src[c + 2], res[c + 2], mode);
        const int32_t y3 = hard_fa_one(&k, src[c + 3], res[c + 3], mode);
        dst[c] = (int8_t)y0;
        dst[c + 1] = (int8_t)y1;
        dst[c + 2] = (int8_t)y2;
        dst[c + 3] = (int8_t)y3;
    }
    for (; c < n; ++c)
    {
        dst[c] = (int8_t)hard_fa_one(&k, src[c], res[c], mode);
    }
}

/* n values in the layer's mode. */
static void hard_fa_values(const hard_fa_stage *st, const int8_t *src, const int8_t *res, int8_t *dst, int32_t n)
{
    if (st->mode == 1)
    {
        hard_fa_run(st, src, res, dst, n, 1);
    }
    else if (st->mode == 2)
    {
        hard_fa_run(st, src, res, dst, n, 2);
    }
    else if (st->mode == 3)
    {
        hard_fa_run(st, src, res, dst, n, 3);
    }
    else
    {
        hard_fa_run(st, src, res, dst, n, 0);
    }
}

/* The ADD over n values from the output pointer out: the residual (and a separate sum output)
 * at the same dense position. */
static void hard_fa_pixels(const hard_fa_stage *st, int8_t *out, int32_t n)
{
    const int32_t off = (int32_t)(out - st->out_base);
    const int32_t at = st->ostride == st->out_c ? off : off / st->ostride * st->out_c;
    hard_fa_values(st, out, st->residual + at, st->sum == 0 ? out : st->sum + at, n);
}

void hard_fa_pair(const hard_fa_stage *st, int8_t *out_a, int8_t *out_b)
{
    const int32_t n = st->out_c;
    if (out_b == out_a + n && st->ostride == n)
    {
        /* consecutive pixels of a dense output: one run over both */
        hard_fa_pixels(st, out_a, 2 * n);
        return;
    }
    hard_fa_pixels(st, out_a, n);
    if (out_b != 0 && out_b != out_a)
    {
        hard_fa_pixels(st, out_b, n);
    }
}

void hard_fa_row(const hard_fa_stage *st, int8_t *out, int32_t pixels)
{
    if (st->ostride == st->out_c)
    {
        hard_fa_pixels(st, out, pixels * st->out_c);
        return;
    }
    for (int32_t i = 0; i < pixels; ++i)
    {
        hard_fa_pixels(st, out + i * st->ostride, st->out_c);
    }
}

int32_t hard_elementwise_add_table_s8_get_buffer_size(void)
{
    return 0;
}

hard_status
hard_elementwise_add_table_s8(const hard_fused_add *add, const int8_t *input1, int8_t *output, int32_t block_size)
{
    if (add == 0 || block_size < 0 || !hard_fused_add_valid(add))
    {
        return HARD_ARG_ERROR;
    }
    hard_fa_stage st;
    hard_fa_prepare(&st, add, output, block_size, block_size);
    hard_fa_values(&st, input1, add->residual, output, block_size);
    return HARD_OK;
}
