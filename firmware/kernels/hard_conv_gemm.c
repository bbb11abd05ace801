/*
 * hard_conv_gemm.c - CONV_2D as GEMMs over q15 columns: the pointwise 1x1 kernel and the
 * k x k kernel with im2col (any stride, dilation and padding; also the 3-channel stem).
 *
 * Both take filters OHWI as TFLite stores them and a scratch buffer from the caller
 * (*_get_buffer_size()).  Output pixels are processed in tiles: their input values are
 * expanded once to q15 (with the input offset added), then every output channel pair is a
 * SMLAD block: 2 pixels x 2 channels on the int8 filter (hard_gemm.c), 4 x 2 or 2 x 2 (the
 * params' tile_pixels, chosen at codegen) on the filter pre-widened to q15.  Padding taps are
 * zero columns (the input zero point).
 */
#include <string.h>

#include "hard_gemm.h"
#include "hard_gemm_rows.h"
#include "hard_kernels.h"

static int hard_gemm_conv_valid(const hard_conv_params *p,
                                const hard_dims *input_dims,
                                const hard_dims *filter_dims,
                                const hard_dims *output_dims)
{
    const hard_padding *pad = &p->padding;
    return hard_dims_valid(input_dims) && hard_dims_valid(filter_dims) && hard_dims_valid(output_dims) &&
           input_dims->c == filter_dims->c && output_dims->c == filter_dims->n && output_dims->n == input_dims->n &&
           p->stride.h > 0 && p->stride.w > 0 && p->dilation.h > 0 && p->dilation.w > 0 && pad->top >= 0 &&
           pad->left >= 0 && pad->bottom >= 0 && pad->right >= 0 && hard_act_int8(&p->activation) &&
           hard_out_stride_valid(p->output_stride, output_dims->c) && hard_fused_add_valid(p->fused_add) &&
           (p->tile_pixels == 0 || p->tile_pixels == 2 || p->tile_pixels == 4);
}

static void hard_gemm_args_init(hard_gemm_args *a,
                                const hard_conv_params *p,
                                const hard_per_channel_quant *quant,
                                const int8_t *filter,
                                const int32_t *bias,
                                int32_t k,
                                int32_t out_c,
                                void *scratch)
{
    a->filter = filter;
    a->bias = bias;
    a->k = k;
    a->row_stride = k;
    a->out_c = out_c;
    a->out.offset = p->output_offset;
    a->out.act_min = p->activation.min;
    a->out.act_max = p->activation.max;
    a->fa = 0;
    hard_gemm_prepare(a, quant, scratch);
}

/* The fused residual ADD's constants in fa, when the layer has one. */
static void hard_gemm_args_fuse(hard_gemm_args *a, hard_fa_stage *fa, const hard_conv_params *p, const int8_t *output)
{
    if (p->fused_add != 0)
    {
        hard_fa_prepare(fa, p->fused_add, output, a->out_c, hard_out_stride(p->output_stride, a->out_c));
        a->fa = fa;
    }
}

/* ------------------------------------------------------------------- 1x1 */

int32_t hard_convolve_1x1_s8_get_buffer_size(const hard_dims *input_dims, const hard_dims *filter_dims)
{
    return hard_col_pair_bytes(input_dims->c) + hard_gemm_out_bytes(filter_dims->n);
}

/* A 1x1 kernel reads input pixel (oy * stride, ox * stride): no padding, every read in bounds. */
static int hard_1x1_valid(const hard_conv_params *p, const hard_dims *in, const hard_dims *f, const hard_dims *out)
{
    return hard_gemm_conv_valid(p, in, f, out) && f->h == 1 && f->w == 1 && p->padding.top == 0 &&
           p->padding.left == 0 && (out->h - 1) * p->stride.h < in->h && (out->w - 1) * p->stride.w < in->w;
}

static const int8_t *
hard_1x1_pixel(const int8_t *in, const hard_dims *in_dims, const hard_conv_params *p, int32_t out_w, int32_t pixel)
{
    const int32_t oy = pixel / out_w;
    const int32_t ox = pixel - oy * out_w;
    return in + ((oy * p->stride.h) * in_dims->w + ox * p->stride.w) * in_dims->c;
}

hard_status hard_convolve_1x1_s8(const hard_context *ctx,
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
    if (!hard_1x1_valid(conv_params, input_dims, filter_dims, output_dims) ||
        !hard_ctx_ok(ctx, hard_convolve_1x1_s8_get_buffer_size(input_dims, filter_dims)))
    {
        return HARD_ARG_ERROR;
    }
    const int32_t in_c = input_dims->c;
    const int32_t out_c = output_dims->c;
    const int32_t ostride = hard_out_stride(conv_params->output_stride, out_c);
    const int32_t pixels = output_dims->h * output_dims->w;
    const int32_t offset2 = hard_dup_lanes(conv_params->input_offset);
    int32_t *col = (int32_t *)ctx->buf;
    hard_gemm_args args;
    hard_gemm_args_init(&args, conv_params, quant_params, filter, bias, in_c, out_c,
                        (int8_t *)ctx->buf + hard_col_pair_bytes(in_c));
    hard_fa_stage fa;
    hard_gemm_args_fuse(&args, &fa, conv_params, output);

    for (int32_t b = 0; b < input_dims->n; ++b)
    {
        const int8_t *in = input + b * input_dims->h * input_dims->w * in_c;
        int8_t *out = output + b * pixels * ostride;
        for (int32_t px = 0; px < pixels; px += 2)
        {
            const int32_t px_b = px + 1 < pixels ? px + 1 : px;
            hard_col_expand(hard_1x1_pixel(in, input_dims, conv_params, output_dims->w, px), in_c, offset2, col, 0);
            hard_col_expand(hard_1x1_pixel(in, input_dims, conv_params, output_dims->w, px_b), in_c, offset2, col, 1);
            hard_gemm_pair(&args, col, out + px * ostride, out + px_b * ostride);
        }
    }
    return HARD_OK;
}

/* --------------------------------------------- the q15 filter ("gemm q15 pairs") */

/* Output pixels in fours ("column quads"): per group of four k-values the eight words
 * {A02, B02, C02, D02, A13, B13, C13, D13} of pixels A..D as q15 plus the offset, so one LDRD
 * loads two pixels' halves and each filter word pair serves four pixels. */
#define HARD_QUAD 4

/* Bytes of one column quad for k values, and one spare word after it (the planned scratch
 * sizes count it). */
static inline int32_t hard_col_quad_bytes(int32_t k)
{
    return 2 * hard_col_pair_bytes(k) + (int32_t)sizeof(int32_t);
}

/* Pixel values as q15 plus the offset, per group of four: dst[step * g] = {v0, v2},
 * dst[step * g + half] = {v1, v3}.  half 1, step 4 with dst = col + 2 * lane is the int8-filter
 * column pair (hard_gemm.h); half 4, step 8 with dst = col + lane the column quad. */
HARD_HOT void
hard_col_expand_any(const int8_t *src, int32_t n, int32_t offset2, int32_t *dst, int32_t half, int32_t step)
{
    const int32_t full = n >> 2;
    for (int32_t g = 0; g < full; ++g)
    {
        const int32_t x = hard_read_s8x4(src + 4 * g);
        dst[step * g] = hard_sxtab16(offset2, x);
        dst[step * g + half] = hard_sxtab16_ror8(offset2, x);
    }
    const int32_t tail = n & 3;
    if (tail != 0)
    {
        uint32_t x = 0;
        if (n >= 4)
        {
            x = (uint32_t)hard_read_s8x4(src + n - 4) >> (8 * (4 - tail));
        }
        else
        {
            for (int32_t i = 0; i < tail; ++i)
            {
                x |= (uint32_t)(uint8_t)src[i] << (8 * i);
            }
        }
        dst[step * full] = hard_sxtab16(offset2, (int32_t)x);
        dst[step * full + half] = hard_sxtab16_ror8(offset2, (int32_t)x);
    }
}

/* Two words at p in one LDRD: GCC 12 splits a 64-bit load into two LDRs for the Cortex-M7. */
HARD_HOT void hard_load_pair(const int32_t *p, int32_t *lo, int32_t *hi)
{
#if HARD_DSP
    int32_t a;
    int32_t b;
    __asm("ldrd %0, %1, %2" : "=r"(a), "=r"(b) : "m"(*(const uint64_t *)(const void *)p));
    *lo = a;
    *hi = b;
#else
    hard_col_load(p, lo, hi);
#endif
}

typedef struct
{
    int32_t c0p0; /* filter channel 0 x pixel A */
    int32_t c0p1;
    int32_t c0p2;
    int32_t c0p3;
    int32_t c1p0; /* filter channel 1 x pixel A */
    int32_t c1p1;
    int32_t c1p2;
    int32_t c1p3;
} hard_acc4x2;

/* Half a group: the two channels' words w0, w1 against the four pixels' words at col. */
HARD_HOT hard_acc4x2 hard_mac_quad_half(const int32_t *col, int32_t w0, int32_t w1, hard_acc4x2 acc)
{
    int32_t a;
    int32_t b;
    hard_load_pair(col, &a, &b);
    acc.c0p0 = hard_smlad(w0, a, acc.c0p0);
    acc.c0p1 = hard_smlad(w0, b, acc.c0p1);
    acc.c1p0 = hard_smlad(w1, a, acc.c1p0);
    acc.c1p1 = hard_smlad(w1, b, acc.c1p1);
    hard_load_pair(col + 2, &a, &b);
    acc.c0p2 = hard_smlad(w0, a, acc.c0p2);
    acc.c0p3 = hard_smlad(w0, b, acc.c0p3);
    acc.c1p2 = hard_smlad(w1, a, acc.c1p2);
    acc.c1p3 = hard_smlad(w1, b, acc.c1p3);
    return acc;
}

/* The k loop in asm needs fourteen registers: GCC's optimised builds without a frame pointer
 * (omitted from -O1 on; -O0 keeps r7 for it; Clang and armclang do not free enough registers).
 * -DHARD_QUAD_ASM=0 takes the C loop anyway (for -fno-omit-frame-pointer builds). */
#ifndef HARD_QUAD_ASM
#if HARD_DSP && defined(__OPTIMIZE__) && defined(__GNUC__) && !defined(__clang__)
#define HARD_QUAD_ASM 1
#else
#define HARD_QUAD_ASM 0
#endif
#endif

#if HARD_QUAD_ASM
/* The SMLAD lines of half a group: channel words w0, w1 against two pixels' words x, y. */
#define HARD_QUAD_SMLAD(p, q)                                                                                          \
    "smlad %[c0p" #p "], %[w0], %[x], %[c0p" #p "]\n\t"                                                                \
    "smlad %[c0p" #q "], %[w0], %[y], %[c0p" #q "]\n\t"                                                                \
    "smlad %[c1p" #p "], %[w1], %[x], %[c1p" #p "]\n\t"                                                                \
    "smlad %[c1p" #q "], %[w1], %[y], %[c1p" #q "]\n\t"

/* One group of four k-values: 6 LDRD and 16 SMLAD for 32 MACs. */
#define HARD_QUAD_GROUP                                                                                                \
    "ldrd %[w0], %[w1], [%[w]], #8\n\t"                                                                                \
    "ldrd %[x], %[y], [%[col]], #8\n\t" HARD_QUAD_SMLAD(0, 1) "ldrd %[x], %[y], [%[col]], #8\n\t" HARD_QUAD_SMLAD(     \
        2, 3) "ldrd %[w0], %[w1], [%[w]], #8\n\t"                                                                      \
              "ldrd %[x], %[y], [%[col]], #8\n\t" HARD_QUAD_SMLAD(                                                     \
                  0, 1) "ldrd %[x], %[y], [%[col]], #8\n\t" HARD_QUAD_SMLAD(2, 3)

/* groups >= 1 groups of four k-values, two per turn (an odd count enters at the second).  The
 * loop needs all fourteen registers (8 accumulators, 2 pointers, 4 operands), so it ends when
 * the filter pointer reaches the end pointer kept in a stack slot (never a data word: a column
 * word could equal a filter address where flash starts at 0). */
HARD_HOT hard_acc4x2 hard_mac_quad(const int32_t *col, const int32_t *w, int32_t groups, hard_acc4x2 acc)
{
    const int32_t *volatile end = w + 4 * groups;
    int32_t w0;
    int32_t w1;
    int32_t x = groups;
    int32_t y;
    __asm volatile("tst %[x], #1\n\t"
                   "bne 2f\n"
                   "1:\n\t" HARD_QUAD_GROUP "2:\n\t" HARD_QUAD_GROUP "ldr %[x], %[end]\n\t"
                   "cmp %[w], %[x]\n\t"
                   "bne 1b\n\t"
                   : [c0p0] "+r"(acc.c0p0), [c0p1] "+r"(acc.c0p1), [c0p2] "+r"(acc.c0p2), [c0p3] "+r"(acc.c0p3),
                     [c1p0] "+r"(acc.c1p0), [c1p1] "+r"(acc.c1p1), [c1p2] "+r"(acc.c1p2), [c1p3] "+r"(acc.c1p3),
                     [w] "+r"(w), [col] "+r"(col), [w0] "=&r"(w0), [w1] "=&r"(w1), [x] "+&r"(x), [y] "=&r"(y)
                   : [end] "m"(end)
                   : "cc", "memory");
    return acc;
}
#else
/* groups >= 1 groups of four k-values. */
HARD_HOT hard_acc4x2 hard_mac_quad(const int32_t *restrict col,
                                   const int32_t *restrict w,
                                   int32_t groups,
                                   hard_acc4x2 acc)
{
    do
    {
        int32_t w0;
        int32_t w1;
        hard_load_pair(w, &w0, &w1);
        acc = hard_mac_quad_half(col, w0, w1, acc);
        hard_load_pair(w + 2, &w0, &w1);
        acc = hard_mac_quad_half(col + 4, w0, w1, acc);
        w += 4;
        col += 8;
    } while (--groups > 0);
    return acc;
}
#endif

/* One channel's outputs for two pixels, requantised straight from the registers: the conv
 * kernels' one requantisation epilogue. */
HARD_HOT void hard_rq_out2(const hard_out_stage *st,
                           const hard_rq *q,
                           int32_t a,
                           int32_t b,
                           int8_t *out_a,
                           int8_t *out_b,
                           const int fast,
                           const int full_range)
{
    int32_t va = fast ? hard_rq_apply(a, q->mult, q->rshift, q->round_hi) : hard_requantize(a, q->mult, q->rshift);
    int32_t vb = fast ? hard_rq_apply(b, q->mult, q->rshift, q->round_hi) : hard_requantize(b, q->mult, q->rshift);
    va = hard_ssat8(va + st->offset);
    vb = hard_ssat8(vb + st->offset);
    if (!full_range)
    {
        va = hard_clamp_i32(va, st->act_min, st->act_max);
        vb = hard_clamp_i32(vb, st->act_min, st->act_max);
    }
    *out_a = (int8_t)va;
    *out_b = (int8_t)vb;
}

/* Every output channel of the four pixels in the column quad: channel pairs against the q15
 * filter, each requantised as soon as its accumulators are done.  Output pointers may repeat
 * (a last, partial quad repeats its last pixel). */
HARD_HOT void hard_quad_channels(
    const hard_gemm_args *args, const int32_t *col, int8_t *const *out, const int fast, const int full_range)
{
    const int32_t *w = (const int32_t *)(const void *)args->filter;
    const int32_t groups = (args->k + 3) >> 2;
    const int32_t out_c = args->out_c;
    const hard_out_stage st = args->out;
    const hard_rq *rq = args->rq;
    int8_t *o0 = out[0];
    int8_t *o1 = out[1];
    int8_t *o2 = out[2];
    int8_t *o3 = out[3];
    for (int32_t c = 0; c < out_c; c += 2, rq += 2)
    {
        const int32_t bias1 = c + 1 < out_c ? rq[1].bias : 0; /* the odd last channel's partner is zeros */
        hard_acc4x2 acc = {rq[0].bias, rq[0].bias, rq[0].bias, rq[0].bias, bias1, bias1, bias1, bias1};
        acc = hard_mac_quad(col, w, groups, acc);
        const hard_rq q0 = rq[0]; /* copied: the int8 stores may not alias it */
        hard_rq_out2(&st, &q0, acc.c0p0, acc.c0p1, o0 + c, o1 + c, fast, full_range);
        hard_rq_out2(&st, &q0, acc.c0p2, acc.c0p3, o2 + c, o3 + c, fast, full_range);
        if (c + 1 < out_c)
        {
            const hard_rq q1 = rq[1];
            hard_rq_out2(&st, &q1, acc.c1p0, acc.c1p1, o0 + c + 1, o1 + c + 1, fast, full_range);
            hard_rq_out2(&st, &q1, acc.c1p2, acc.c1p3, o2 + c + 1, o3 + c + 1, fast, full_range);
        }
        w += 4 * groups;
    }
}

static void hard_gemm_quad_q15(const hard_gemm_args *args, const int32_t *col, int8_t *const *out)
{
    const int full_range = args->out.act_min <= HARD_INT8_MIN && args->out.act_max >= HARD_INT8_MAX;
    if (args->out.fast)
    {
        if (full_range)
        {
            hard_quad_channels(args, col, out, 1, 1);
        }
        else
        {
            hard_quad_channels(args, col, out, 1, 0);
        }
    }
    else
    {
        hard_quad_channels(args, col, out, 0, full_range);
    }
}

/* The two-pixel tile on the q15 filter: per group of four k-values the four words
 * {A02, B02, A13, B13} of pixels A, B (a column quad's layout with half 2, step 4), into the
 * 2x2 accumulator block of hard_gemm_rows.h. */
/* groups >= 1 groups of four k-values: 4 LDRD and 8 SMLAD for 16 MACs. */
HARD_HOT hard_acc2x2 hard_mac_pair_q15(const int32_t *restrict col,
                                       const int32_t *restrict w,
                                       int32_t groups,
                                       hard_acc2x2 acc)
{
    do
    {
        int32_t w0;
        int32_t w1;
        int32_t a;
        int32_t b;
        hard_load_pair(w, &w0, &w1);
        hard_load_pair(col, &a, &b);
        acc.c0p0 = hard_smlad(w0, a, acc.c0p0);
        acc.c0p1 = hard_smlad(w0, b, acc.c0p1);
        acc.c1p0 = hard_smlad(w1, a, acc.c1p0);
        acc.c1p1 = hard_smlad(w1, b, acc.c1p1);
        hard_load_pair(w + 2, &w0, &w1);
        hard_load_pair(col + 2, &a, &b);
        acc.c0p0 = hard_smlad(w0, a, acc.c0p0);
        acc.c0p1 = hard_smlad(w0, b, acc.c0p1);
        acc.c1p0 = hard_smlad(w1, a, acc.c1p0);
        acc.c1p1 = hard_smlad(w1, b, acc.c1p1);
        w += 4;
        col += 4;
    } while (--groups > 0);
    return acc;
}

/* Every output channel of the two pixels in the column: channel pairs against the q15 filter.
 * out[1] may equal out[0] (a lone last pixel). */
HARD_HOT void hard_pair_channels_q15(
    const hard_gemm_args *args, const int32_t *col, int8_t *const *out, const int fast, const int full_range)
{
    const int32_t *w = (const int32_t *)(const void *)args->filter;
    const int32_t groups = (args->k + 3) >> 2;
    const int32_t out_c = args->out_c;
    const hard_out_stage st = args->out;
    const hard_rq *rq = args->rq;
    int8_t *o0 = out[0];
    int8_t *o1 = out[1];
    for (int32_t c = 0; c < out_c; c += 2, rq += 2)
    {
        const int32_t bias1 = c + 1 < out_c ? rq[1].bias : 0; /* the odd last channel's partner is zeros */
        hard_acc2x2 acc = {rq[0].bias, rq[0].bias, bias1, bias1};
        acc = hard_mac_pair_q15(col, w, groups, acc);
        const hard_rq q0 = rq[0]; /* copied: the int8 stores may not alias it */
        hard_rq_out2(&st, &q0, acc.c0p0, acc.c0p1, o0 + c, o1 + c, fast, full_range);
        if (c + 1 < out_c)
        {
            const hard_rq q1 = rq[1];
            hard_rq_out2(&st, &q1, acc.c1p0, acc.c1p1, o0 + c + 1, o1 + c + 1, fast, full_range);
        }
        w += 4 * groups;
    }
}

HARD_NOINLINE void hard_gemm_pair_q15(const hard_gemm_args *args, const int32_t *col, int8_t *const *out)
{
    const int full_range = args->out.act_min <= HARD_INT8_MIN && args->out.act_max >= HARD_INT8_MAX;
    if (args->out.fast)
    {
        if (full_range)
        {
            hard_pair_channels_q15(args, col, out, 1, 1);
        }
        else
        {
            hard_pair_channels_q15(args, col, out, 1, 0);
        }
    }
    else
    {
        hard_pair_channels_q15(args, col, out, 0, full_range);
    }
}

/* Output pixels per tile of the q15-filter GEMMs: the params' tile_pixels (2 or 4), 0 = 4. */
static inline int32_t hard_q15_tile(const hard_conv_params *p)
{
    return p->tile_pixels == 2 ? 2 : HARD_QUAD;
}

/* One tile of `lanes` pixels (hard_q15_tile) through the q15 GEMM. */
HARD_HOT void hard_gemm_q15(const hard_gemm_args *args, const int32_t *col, int8_t *const *out, int32_t lanes)
{
    if (lanes == HARD_QUAD)
    {
        hard_gemm_quad_q15(args, col, out);
    }
    else
    {
        hard_gemm_pair_q15(args, col, out);
    }
}

/* ----------------------------------------------------------------- im2col */

/* Geometry as plain values (read into locals: the int8 stores cannot alias them). */
typedef struct
{
    int32_t in_h;
    int32_t in_w;
    int32_t c;
    int32_t k_h;
    int32_t k_w;
    int32_t dil_h;
    int32_t dil_w;
    int32_t k;
    int32_t offset2;
    int8_t zero_point;
    int32_t lanes; /* pixels per tile: 2 (int8 filter, column pairs), 2 or 4 (q15 filter) */
    int32_t half;  /* words between a group's {v0, v2} and {v1, v3}: 1 int8 filter, lanes q15 */
    int32_t step;  /* words per group of four k-values */
} hard_im2col;

static inline void hard_gemm_any(const hard_im2col *m, const hard_gemm_args *args, const int32_t *col, int8_t **out)
{
    if (m->lanes == HARD_QUAD)
    {
        hard_gemm_quad_q15(args, col, out);
    }
    else if (m->half == 1)
    {
        hard_gemm_pair(args, col, out[0], out[1]);
    }
    else
    {
        hard_gemm_pair_q15(args, col, out);
    }
}

/* Where lane `lane` of a column starts: int8-filter pixel pairs interleave two words per lane,
 * q15-filter tiles one. */
static inline int32_t *hard_lane(const hard_im2col *m, int32_t *col, int32_t lane)
{
    return m->half == 1 ? col + 2 * lane : col + lane;
}

static int32_t hard_im2col_k(const hard_dims *filter_dims)
{
    return filter_dims->h * filter_dims->w * filter_dims->c;
}

int32_t hard_convolve_im2col_s8_get_buffer_size(const hard_dims *input_dims,
                                                const hard_dims *filter_dims,
                                                const hard_dims *output_dims)
{
    (void)input_dims;
    (void)output_dims;
    const int32_t k = hard_im2col_k(filter_dims);
    return hard_col_pair_bytes(k) + hard_gemm_out_bytes(filter_dims->n) + ((k + 3) / 4) * 4;
}

/* Input pixel (iy, ix) of one tap, or NULL in the padding. */
static inline const int8_t *hard_tap(const hard_im2col *m, const int8_t *in, int32_t iy, int32_t ix)
{
    if (iy < 0 || iy >= m->in_h || ix < 0 || ix >= m->in_w)
    {
        return 0;
    }
    return in + (iy * m->in_w + ix) * m->c;
}

/* C % 4 == 0: each tap is whole groups; expand straight from the input, zeros for padding. */
static void
hard_im2col_direct(const hard_im2col *geom, const int8_t *in, int32_t iy0, int32_t ix0, int32_t *col, int32_t lane)
{
    const hard_im2col m = *geom;
    const int32_t groups = m.c >> 2;
    col = hard_lane(&m, col, lane);
    for (int32_t ky = 0; ky < m.k_h; ++ky)
    {
        for (int32_t kx = 0; kx < m.k_w; ++kx)
        {
            const int8_t *src = hard_tap(&m, in, iy0 + ky * m.dil_h, ix0 + kx * m.dil_w);
            if (src != 0)
            {
                hard_col_expand_any(src, m.c, m.offset2, col, m.half, m.step);
            }
            else
            {
                for (int32_t g = 0; g < groups; ++g)
                {
                    col[m.step * g] = 0;
                    col[m.step * g + m.half] = 0;
                }
            }
            col += groups * m.step;
        }
    }
}

/* n bytes from src, or the zero point when src is NULL (word copies where possible). */
static inline int8_t *hard_stage(int8_t *dst, const int8_t *src, int32_t n, int8_t zero_point)
{
    if (src == 0)
    {
        memset(dst, zero_point, (size_t)n);
        return dst + n;
    }
    int32_t i = 0;
    for (; i + 4 <= n; i += 4)
    {
        memcpy(dst + i, src + i, 4);
    }
    if (i < n && n >= 4)
    {
        memcpy(dst + n - 4, src + n - 4, 4); /* the word ending the run (rewrites bytes already there) */
        return dst + n;
    }
    for (; i < n; ++i)
    {
        dst[i] = src[i];
    }
    return dst + n;
}

/* Any C: gather the k bytes (the zero point in the padding). */
static void hard_im2col_stage(const hard_im2col *geom, int8_t *stage, const int8_t *in, int32_t iy0, int32_t ix0)
{
    const hard_im2col m = *geom;
    const int32_t row_bytes = m.k_w * m.c;
    if (m.dil_w == 1 && ix0 >= 0 && ix0 + m.k_w <= m.in_w)
    {
        /* The taps of a kernel row are contiguous and inside: one copy per row. */
        const int8_t *src = in + (iy0 * m.in_w + ix0) * m.c;
        const int32_t src_step = m.dil_h * m.in_w * m.c;
        for (int32_t ky = 0, iy = iy0; ky < m.k_h; ++ky, iy += m.dil_h, src += src_step)
        {
            stage = hard_stage(stage, iy >= 0 && iy < m.in_h ? src : 0, row_bytes, m.zero_point);
        }
        return;
    }
    for (int32_t ky = 0, iy = iy0; ky < m.k_h; ++ky, iy += m.dil_h)
    {
        for (int32_t kx = 0; kx < m.k_w; ++kx)
        {
            stage = hard_stage(stage, hard_tap(&m, in, iy, ix0 + kx * m.dil_w), m.c, m.zero_point);
        }
    }
}

/* The window inside the input with contiguous kernel rows (dilation 1 across): each row is
 * expanded straight from the input when it is whole groups (C % 4 == 0), else the rows are
 * copied a word at a time into `stage` and expanded from there (the 3-channel stem). */
static void
hard_im2col_rows(const hard_im2col *m, int8_t *stage, const int8_t *in, int32_t iy0, int32_t ix0, int32_t *dst)
{
    const int32_t row = m->k_w * m->c;
    const int32_t src_step = m->dil_h * m->in_w * m->c;
    const int8_t *src = in + (iy0 * m->in_w + ix0) * m->c;
    if ((m->c & 3) == 0)
    {
        const int32_t dst_step = (row >> 2) * m->step;
        for (int32_t ky = 0; ky < m->k_h; ++ky, src += src_step, dst += dst_step)
        {
            hard_col_expand_any(src, row, m->offset2, dst, m->half, m->step);
        }
        return;
    }
    int8_t *s = stage;
    for (int32_t ky = 0; ky < m->k_h; ++ky, src += src_step)
    {
        s = hard_stage(s, src, row, 0);
    }
    hard_col_expand_any(stage, m->k, m->offset2, dst, m->half, m->step);
}

/* Lane `lane` of the column for the output pixel whose window starts at (iy0, ix0). */
static inline void hard_im2col_pixel(
    const hard_im2col *m, int8_t *stage, const int8_t *in, int32_t iy0, int32_t ix0, int32_t *col, int32_t lane)
{
    if (m->dil_w == 1 && iy0 >= 0 && ix0 >= 0 && iy0 + (m->k_h - 1) * m->dil_h < m->in_h && ix0 + m->k_w <= m->in_w)
    {
        hard_im2col_rows(m, stage, in, iy0, ix0, hard_lane(m, col, lane));
    }
    else if ((m->c & 3) == 0)
    {
        hard_im2col_direct(m, in, iy0, ix0, col, lane);
    }
    else
    {
        hard_im2col_stage(m, stage, in, iy0, ix0);
        hard_col_expand_any(stage, m->k, m->offset2, hard_lane(m, col, lane), m->half, m->step);
    }
}

/* Output pixels in raster order, m->lanes at a time (they may span rows); a last partial
 * group repeats its last pixel in the lanes left. */
static void hard_im2col_batch(const hard_im2col *m,
                              const hard_conv_params *p,
                              const hard_gemm_args *args,
                              int32_t *col,
                              int8_t *stage,
                              const int8_t *in,
                              const hard_dims *out_dims,
                              int8_t *out)
{
    const int32_t ostride = hard_out_stride(p->output_stride, out_dims->c);
    /* the fused ADD runs per HARD_FA_CHUNK written pixels (fewer calls), not per lane group */
    hard_gemm_args a = *args;
    a.fa = 0;
    int8_t *const base = out;
    int32_t px = 0;             /* pixels written from base */
    int32_t done = 0;           /* of which have their ADD */
    int8_t *pending[HARD_QUAD]; /* outputs of the pixels waiting in the lanes */
    int32_t n = 0;
    for (int32_t oy = 0; oy < out_dims->h; ++oy)
    {
        const int32_t iy0 = oy * p->stride.h - p->padding.top;
        for (int32_t ox = 0, ix0 = -p->padding.left; ox < out_dims->w; ++ox, ix0 += p->stride.w)
        {
            hard_im2col_pixel(m, stage, in, iy0, ix0, col, n);
            pending[n++] = out;
            out += ostride;
            ++px;
            if (n == m->lanes)
            {
                hard_gemm_any(m, &a, col, pending);
                n = 0;
                if (args->fa != 0 && px - done >= HARD_FA_CHUNK)
                {
                    hard_fa_row(args->fa, base + done * ostride, px - done);
                    done = px;
                }
            }
        }
    }
    if (n != 0)
    {
        for (; n < m->lanes; ++n)
        {
            hard_im2col_pixel(m, stage, in, (out_dims->h - 1) * p->stride.h - p->padding.top,
                              (out_dims->w - 1) * p->stride.w - p->padding.left, col, n);
            pending[n] = pending[n - 1];
        }
        hard_gemm_any(m, &a, col, pending);
    }
    if (args->fa != 0 && done < px)
    {
        hard_fa_row(args->fa, base + done * ostride, px - done);
    }
}

/* q15: 0 for the int8 filter, else the q15 filter's tile (2 or 4 pixels). */
static hard_status hard_im2col_run(const hard_context *ctx,
                                   const hard_conv_params *conv_params,
                                   const hard_per_channel_quant *quant_params,
                                   const hard_dims *input_dims,
                                   const int8_t *input,
                                   const hard_dims *filter_dims,
                                   const int8_t *filter,
                                   const int32_t *bias,
                                   const hard_dims *output_dims,
                                   int8_t *output,
                                   int32_t q15)
{
    const int32_t k = hard_im2col_k(filter_dims);
    const int32_t col_bytes = q15 ? hard_col_quad_bytes(k) : hard_col_pair_bytes(k);
    if (!hard_gemm_conv_valid(conv_params, input_dims, filter_dims, output_dims) ||
        !hard_ctx_ok(ctx, col_bytes - hard_col_pair_bytes(k) +
                              hard_convolve_im2col_s8_get_buffer_size(input_dims, filter_dims, output_dims)))
    {
        return HARD_ARG_ERROR;
    }
    const int32_t out_c = output_dims->c;
    const int32_t pixels = output_dims->h * output_dims->w;
    int32_t *col = (int32_t *)ctx->buf;
    int8_t *out_scratch = (int8_t *)ctx->buf + col_bytes;
    const hard_im2col m = {input_dims->h,
                           input_dims->w,
                           input_dims->c,
                           filter_dims->h,
                           filter_dims->w,
                           conv_params->dilation.h,
                           conv_params->dilation.w,
                           k,
                           hard_dup_lanes(conv_params->input_offset),
                           (int8_t)(-conv_params->input_offset),
                           q15 ? q15 : 2,
                           q15 ? q15 : 1,
                           q15 ? 2 * q15 : 4};
    int8_t *stage = out_scratch + hard_gemm_out_bytes(out_c);
    hard_gemm_args args;
    hard_gemm_args_init(&args, conv_params, quant_params, filter, bias, k, out_c, out_scratch);
    hard_fa_stage fa;
    hard_gemm_args_fuse(&args, &fa, conv_params, output);
    for (int32_t b = 0; b < input_dims->n; ++b)
    {
        hard_im2col_batch(&m, conv_params, &args, col, stage, input + b * input_dims->h * input_dims->w * input_dims->c,
                          output_dims, output + b * pixels * hard_out_stride(conv_params->output_stride, out_c));
    }
    return HARD_OK;
}

hard_status hard_convolve_im2col_s8(const hard_context *ctx,
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
    return hard_im2col_run(ctx, conv_params, quant_params, input_dims, input, filter_dims, filter, bias, output_dims,
                           output, 0);
}

int32_t hard_convolve_im2col_q15_s8_get_buffer_size(const hard_dims *input_dims,
                                                    const hard_dims *filter_dims,
                                                    const hard_dims *output_dims)
{
    const int32_t k = hard_im2col_k(filter_dims);
    return hard_col_quad_bytes(k) - hard_col_pair_bytes(k) +
           hard_convolve_im2col_s8_get_buffer_size(input_dims, filter_dims, output_dims);
}

hard_status hard_convolve_im2col_q15_s8(const hard_context *ctx,
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
    if (((uintptr_t)filter & 3u) != 0)
    {
        return HARD_ARG_ERROR;
    }
    return hard_im2col_run(ctx, conv_params, quant_params, input_dims, input, filter_dims, filter, bias, output_dims,
                           output, hard_q15_tile(conv_params));
}

/* One image of a pointwise convolution: where its pixels are read and written. */
typedef struct
{
    const int8_t *in;
    const hard_dims *in_dims;
    const hard_conv_params *p;
    const hard_fa_stage *fused; /* the fused ADD, run per HARD_FA_CHUNK written pixels, or NULL */
    int32_t out_w;
    int32_t pixels;
    int32_t ostride;
    int32_t offset2;
} hard_1x1_image;

/* The image's output pixels `tile` (2 or 4, a constant at each call) at a time through the q15
 * GEMM; a last partial tile repeats its last pixel. */
HARD_HOT void
hard_1x1_q15_tiles(const hard_gemm_args *args, const hard_1x1_image *img, int32_t *col, int8_t *out, const int32_t tile)
{
    const hard_1x1_image m = *img; /* locals: the int8 stores cannot alias them */
    const int32_t in_c = m.in_dims->c;
    int32_t done = 0; /* pixels before this have their ADD */
    for (int32_t px = 0; px < m.pixels; px += tile)
    {
        int8_t *pending[HARD_QUAD];
        for (int32_t lane = 0; lane < tile; ++lane)
        {
            const int32_t p = px + lane < m.pixels ? px + lane : m.pixels - 1; /* a partial tile repeats */
            const int8_t *src = hard_1x1_pixel(m.in, m.in_dims, m.p, m.out_w, p);
            hard_col_expand_any(src, in_c, m.offset2, col + lane, tile, 2 * tile);
            pending[lane] = out + p * m.ostride;
        }
        hard_gemm_q15(args, col, pending, tile);
        const int32_t written = px + tile < m.pixels ? px + tile : m.pixels;
        if (m.fused != 0 && (written - done >= HARD_FA_CHUNK || written == m.pixels))
        {
            hard_fa_row(m.fused, out + done * m.ostride, written - done);
            done = written;
        }
    }
}

int32_t hard_convolve_1x1_q15_s8_get_buffer_size(const hard_dims *input_dims, const hard_dims *filter_dims)
{
    return hard_col_quad_bytes(input_dims->c) + hard_gemm_out_bytes(filter_dims->n);
}

hard_status hard_convolve_1x1_q15_s8(const hard_context *ctx,
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
    if (!hard_1x1_valid(conv_params, input_dims, filter_dims, output_dims) || ((uintptr_t)filter & 3u) != 0 ||
        !hard_ctx_ok(ctx, hard_convolve_1x1_q15_s8_get_buffer_size(input_dims, filter_dims)))
    {
        return HARD_ARG_ERROR;
    }
    const int32_t in_c = input_dims->c;
    const int32_t ostride = hard_out_stride(conv_params->output_stride, output_dims->c);
    const int32_t pixels = output_dims->h * output_dims->w;
    const int32_t offset2 = hard_dup_lanes(conv_params->input_offset);
    const int32_t tile = hard_q15_tile(conv_params);
    int32_t *col = (int32_t *)ctx->buf;
    hard_gemm_args args;
    hard_gemm_args_init(&args, conv_params, quant_params, filter, bias, in_c, output_dims->c,
                        (int8_t *)ctx->buf + hard_col_quad_bytes(in_c));
    hard_fa_stage fa;
    hard_gemm_args_fuse(&args, &fa, conv_params, output);
    /* the fused ADD runs per HARD_FA_CHUNK written pixels (fewer calls), not per quad */
    const hard_fa_stage *fused = args.fa;
    args.fa = 0;
    for (int32_t b = 0; b < input_dims->n; ++b)
    {
        const int8_t *in = input + b * input_dims->h * input_dims->w * in_c;
        int8_t *out = output + b * pixels * ostride;
        const hard_1x1_image img = {in, input_dims, conv_params, fused, output_dims->w, pixels, ostride, offset2};
        if (tile == HARD_QUAD)
        {
            hard_1x1_q15_tiles(&args, &img, col, out, HARD_QUAD); /* constant tiles: specialised loops */
        }
        else
        {
            hard_1x1_q15_tiles(&args, &img, col, out, 2);
        }
    }
    return HARD_OK;
}
