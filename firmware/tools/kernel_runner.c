/*
 * kernel_runner.c - runs a batch of kernel calls described by a byte program, so one build
 * (host shared library, or firmware on the emulated board) serves every test and benchmark.
 *
 * Program: little-endian int32 words, one record per call:
 *     name_len, name (padded to 4 bytes), then the arguments in the kernel's own order:
 *       dims   4 words (n, h, w, c)            ptr    1 word: arena offset, -1 = NULL
 *       params the struct's int32 words        ctx    2 words: arena offset (-1 = NULL), size
 *       quant  2 words: multiplier and shift array offsets
 *       int    1 word
 *       fused  8 words (hard_fused_add): residual and table offsets, output multiplier, shift,
 *              offset, activation min and max, the separate sum output's offset (-1: in place)
 * A convolution named with the suffix "+add" takes its fused residual ADD: the fused words follow
 * its params words; hard_elementwise_add_table_s8 takes (fused, input1, output, int).
 * The arena holds every tensor, weight array and scratch buffer at offsets the caller chose.
 * hkr_execute() runs the calls in order; each is bracketed by instruction-count marks
 * (bsp_mark.h) and its status is stored.  An unknown name stops the run after that call.  hardtool/kernels/runner.py writes programs.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "bsp_mark.h"
#include "hard_kernels.h"
#include "kernel_runner.h"

typedef struct
{
    const int32_t *w;
    const int32_t *end;
    uint8_t *arena;
    int bad;
} hkr_cursor;

static int32_t hkr_word(hkr_cursor *c)
{
    if (c->w >= c->end)
    {
        c->bad = 1;
        return 0;
    }
    return *c->w++;
}

static void *hkr_ptr(hkr_cursor *c)
{
    const int32_t off = hkr_word(c);
    return off < 0 ? 0 : c->arena + off;
}

static hard_dims hkr_dims(hkr_cursor *c)
{
    hard_dims d;
    d.n = hkr_word(c);
    d.h = hkr_word(c);
    d.w = hkr_word(c);
    d.c = hkr_word(c);
    return d;
}

static void hkr_struct(hkr_cursor *c, void *dst, size_t bytes)
{
    int32_t *out = (int32_t *)dst;
    for (size_t i = 0; i < bytes / sizeof(int32_t); ++i)
    {
        out[i] = hkr_word(c);
    }
}

static hard_context hkr_ctx(hkr_cursor *c)
{
    hard_context ctx;
    ctx.buf = hkr_ptr(c);
    ctx.size = hkr_word(c);
    return ctx;
}

static hard_fused_add hkr_fused(hkr_cursor *c)
{
    hard_fused_add fa;
    fa.residual = (const int8_t *)hkr_ptr(c);
    fa.table = (const int32_t *)hkr_ptr(c);
    fa.output_multiplier = hkr_word(c);
    fa.output_shift = hkr_word(c);
    fa.output_offset = hkr_word(c);
    fa.activation.min = hkr_word(c);
    fa.activation.max = hkr_word(c);
    fa.output = (int8_t *)hkr_ptr(c);
    return fa;
}

static hard_per_channel_quant hkr_quant(hkr_cursor *c)
{
    hard_per_channel_quant q;
    q.multiplier = (const int32_t *)hkr_ptr(c);
    q.shift = (const int32_t *)hkr_ptr(c);
    return q;
}

/* Convolution-shaped calls: (ctx, params, quant, in dims, in, filter dims, filter, bias, out dims, out). */
typedef hard_status (*hkr_conv_fn)(const hard_context *,
                                   const hard_conv_params *,
                                   const hard_per_channel_quant *,
                                   const hard_dims *,
                                   const int8_t *,
                                   const hard_dims *,
                                   const int8_t *,
                                   const int32_t *,
                                   const hard_dims *,
                                   int8_t *);
typedef hard_status (*hkr_dw_fn)(const hard_context *,
                                 const hard_dw_conv_params *,
                                 const hard_per_channel_quant *,
                                 const hard_dims *,
                                 const int8_t *,
                                 const hard_dims *,
                                 const int8_t *,
                                 const int32_t *,
                                 const hard_dims *,
                                 int8_t *);

/* fused: the call carries a hard_fused_add after the params words (its name's "+add"). */
static hard_status hkr_conv(hkr_cursor *c, hkr_conv_fn fn, int fused)
{
    hard_conv_params p;
    const hard_context ctx = hkr_ctx(c);
    /* the int32 words before the pointer (the same count on every ABI) */
    hkr_struct(c, &p, offsetof(hard_conv_params, tile_pixels) + sizeof(int32_t));
    const hard_fused_add fa = fused ? hkr_fused(c) : (hard_fused_add){0};
    p.fused_add = fused ? &fa : 0;
    const hard_per_channel_quant q = hkr_quant(c);
    const hard_dims in = hkr_dims(c);
    const int8_t *x = (const int8_t *)hkr_ptr(c);
    const hard_dims f = hkr_dims(c);
    const int8_t *w = (const int8_t *)hkr_ptr(c);
    const int32_t *bias = (const int32_t *)hkr_ptr(c);
    const hard_dims out = hkr_dims(c);
    int8_t *y = (int8_t *)hkr_ptr(c);
    if (c->bad)
    {
        return HARD_ARG_ERROR;
    }
    BSP_MARK(BSP_MARK_REGION_BEGIN);
    const hard_status st = fn(&ctx, &p, &q, &in, x, &f, w, bias, &out, y);
    BSP_MARK(BSP_MARK_REGION_END);
    return st;
}

static hard_status hkr_dw(hkr_cursor *c, hkr_dw_fn fn)
{
    hard_dw_conv_params p;
    const hard_context ctx = hkr_ctx(c);
    hkr_struct(c, &p, sizeof p);
    const hard_per_channel_quant q = hkr_quant(c);
    const hard_dims in = hkr_dims(c);
    const int8_t *x = (const int8_t *)hkr_ptr(c);
    const hard_dims f = hkr_dims(c);
    const int8_t *w = (const int8_t *)hkr_ptr(c);
    const int32_t *bias = (const int32_t *)hkr_ptr(c);
    const hard_dims out = hkr_dims(c);
    int8_t *y = (int8_t *)hkr_ptr(c);
    if (c->bad)
    {
        return HARD_ARG_ERROR;
    }
    BSP_MARK(BSP_MARK_REGION_BEGIN);
    const hard_status st = fn(&ctx, &p, &q, &in, x, &f, w, bias, &out, y);
    BSP_MARK(BSP_MARK_REGION_END);
    return st;
}

static hard_status hkr_add(hkr_cursor *c)
{
    hard_add_params p;
    hkr_struct(c, &p, sizeof p);
    const int8_t *a = (const int8_t *)hkr_ptr(c);
    const int8_t *b = (const int8_t *)hkr_ptr(c);
    int8_t *y = (int8_t *)hkr_ptr(c);
    const int32_t n = hkr_word(c);
    if (c->bad)
    {
        return HARD_ARG_ERROR;
    }
    BSP_MARK(BSP_MARK_REGION_BEGIN);
    const hard_status st = hard_elementwise_add_s8(&p, a, b, y, n);
    BSP_MARK(BSP_MARK_REGION_END);
    return st;
}

static hard_status hkr_add_table(hkr_cursor *c)
{
    const hard_fused_add fa = hkr_fused(c);
    const int8_t *a = (const int8_t *)hkr_ptr(c);
    int8_t *y = (int8_t *)hkr_ptr(c);
    const int32_t n = hkr_word(c);
    if (c->bad)
    {
        return HARD_ARG_ERROR;
    }
    BSP_MARK(BSP_MARK_REGION_BEGIN);
    const hard_status st = hard_elementwise_add_table_s8(&fa, a, y, n);
    BSP_MARK(BSP_MARK_REGION_END);
    return st;
}

static hard_status hkr_mul(hkr_cursor *c)
{
    hard_mul_params p;
    hkr_struct(c, &p, sizeof p);
    const int8_t *a = (const int8_t *)hkr_ptr(c);
    const int8_t *b = (const int8_t *)hkr_ptr(c);
    int8_t *y = (int8_t *)hkr_ptr(c);
    const int32_t n = hkr_word(c);
    if (c->bad)
    {
        return HARD_ARG_ERROR;
    }
    BSP_MARK(BSP_MARK_REGION_BEGIN);
    const hard_status st = hard_elementwise_mul_s8(&p, a, b, y, n);
    BSP_MARK(BSP_MARK_REGION_END);
    return st;
}

static hard_status hkr_avgpool(hkr_cursor *c)
{
    hard_pool_params p;
    const hard_context ctx = hkr_ctx(c);
    hkr_struct(c, &p, sizeof p);
    const hard_dims in = hkr_dims(c);
    const int8_t *x = (const int8_t *)hkr_ptr(c);
    const hard_dims f = hkr_dims(c);
    const hard_dims out = hkr_dims(c);
    int8_t *y = (int8_t *)hkr_ptr(c);
    if (c->bad)
    {
        return HARD_ARG_ERROR;
    }
    BSP_MARK(BSP_MARK_REGION_BEGIN);
    const hard_status st = hard_avgpool_s8(&ctx, &p, &in, x, &f, &out, y);
    BSP_MARK(BSP_MARK_REGION_END);
    return st;
}

static hard_status hkr_resize(hkr_cursor *c)
{
    hard_resize_params p;
    hkr_struct(c, &p, sizeof p);
    const hard_dims in = hkr_dims(c);
    const int8_t *x = (const int8_t *)hkr_ptr(c);
    const hard_dims out = hkr_dims(c);
    int8_t *y = (int8_t *)hkr_ptr(c);
    if (c->bad)
    {
        return HARD_ARG_ERROR;
    }
    BSP_MARK(BSP_MARK_REGION_BEGIN);
    const hard_status st = hard_resize_bilinear_s8(&p, &in, x, &out, y);
    BSP_MARK(BSP_MARK_REGION_END);
    return st;
}

/* rows: 0 = the whole map (hard_resize_bilinear_argmax_s8), 1 = two more words, a row range (_rows). */
static hard_status hkr_resize_argmax(hkr_cursor *c, int rows)
{
    hard_resize_params p;
    const hard_context ctx = hkr_ctx(c);
    hkr_struct(c, &p, sizeof p);
    const hard_dims in = hkr_dims(c);
    const int8_t *x = (const int8_t *)hkr_ptr(c);
    const hard_dims out = hkr_dims(c);
    uint8_t *y = (uint8_t *)hkr_ptr(c);
    const int32_t begin = rows ? hkr_word(c) : 0;
    const int32_t end = rows ? hkr_word(c) : 0;
    if (c->bad)
    {
        return HARD_ARG_ERROR;
    }
    BSP_MARK(BSP_MARK_REGION_BEGIN);
    const hard_status st = rows ? hard_resize_bilinear_argmax_s8_rows(&ctx, &p, &in, x, &out, begin, end, y)
                                : hard_resize_bilinear_argmax_s8(&ctx, &p, &in, x, &out, y);
    BSP_MARK(BSP_MARK_REGION_END);
    return st;
}

typedef hard_status (*hkr_tconv_fn)(const hard_context *,
                                    const hard_transpose_conv_params *,
                                    const hard_per_channel_quant *,
                                    const hard_dims *,
                                    const int8_t *,
                                    const hard_dims *,
                                    const int8_t *,
                                    const int32_t *,
                                    const hard_dims *,
                                    int8_t *);

/* TRANSPOSE_CONV: the convolution's argument order with its own params struct. */
static hard_status hkr_transpose_conv(hkr_cursor *c, hkr_tconv_fn fn)
{
    hard_transpose_conv_params p;
    const hard_context ctx = hkr_ctx(c);
    hkr_struct(c, &p, sizeof p);
    const hard_per_channel_quant q = hkr_quant(c);
    const hard_dims in = hkr_dims(c);
    const int8_t *x = (const int8_t *)hkr_ptr(c);
    const hard_dims f = hkr_dims(c);
    const int8_t *w = (const int8_t *)hkr_ptr(c);
    const int32_t *bias = (const int32_t *)hkr_ptr(c);
    const hard_dims out = hkr_dims(c);
    int8_t *y = (int8_t *)hkr_ptr(c);
    if (c->bad)
    {
        return HARD_ARG_ERROR;
    }
    BSP_MARK(BSP_MARK_REGION_BEGIN);
    const hard_status st = fn(&ctx, &p, &q, &in, x, &f, w, bias, &out, y);
    BSP_MARK(BSP_MARK_REGION_END);
    return st;
}

static hard_status hkr_dispatch(const char *name, hkr_cursor *c)
{
    static const struct
    {
        const char *name;
        hkr_conv_fn conv;
        hkr_dw_fn dw;
    } conv_like[] = {
        {"hard_convolve_s8", hard_convolve_s8, 0},
        {"hard_convolve_1x1_s8", hard_convolve_1x1_s8, 0},
        {"hard_convolve_1x1_q15_s8", hard_convolve_1x1_q15_s8, 0},
        {"hard_convolve_im2col_s8", hard_convolve_im2col_s8, 0},
        {"hard_convolve_im2col_q15_s8", hard_convolve_im2col_q15_s8, 0},
        {"hard_depthwise_conv_s8", 0, hard_depthwise_conv_s8},
        {"hard_depthwise_conv_3x3_s8", 0, hard_depthwise_conv_3x3_s8},
        {"hard_convolve_grouped_s8", hard_convolve_grouped_s8, 0},
        {"hard_convolve_grouped_gemm_s8", hard_convolve_grouped_gemm_s8, 0},
    };
    const size_t len = strlen(name);
    const int fused = len > 4 && strcmp(name + len - 4, "+add") == 0;
    for (size_t i = 0; i < sizeof conv_like / sizeof conv_like[0]; ++i)
    {
        const size_t n = strlen(conv_like[i].name);
        if (n == len - (fused ? 4u : 0u) && strncmp(name, conv_like[i].name, n) == 0)
        {
            if (conv_like[i].conv == 0 && fused)
            {
                return HKR_UNKNOWN_FUNCTION; /* depthwise kernels take no fused ADD */
            }
            return conv_like[i].conv != 0 ? hkr_conv(c, conv_like[i].conv, fused) : hkr_dw(c, conv_like[i].dw);
        }
    }
    if (strcmp(name, "hard_transpose_conv_s8") == 0)
    {
        return hkr_transpose_conv(c, hard_transpose_conv_s8);
    }
    if (strcmp(name, "hard_transpose_conv_gemm_s8") == 0)
    {
        return hkr_transpose_conv(c, hard_transpose_conv_gemm_s8);
    }
    if (strcmp(name, "hard_elementwise_add_s8") == 0)
    {
        return hkr_add(c);
    }
    if (strcmp(name, "hard_elementwise_add_table_s8") == 0)
    {
        return hkr_add_table(c);
    }
    if (strcmp(name, "hard_elementwise_mul_s8") == 0)
    {
        return hkr_mul(c);
    }
    if (strcmp(name, "hard_avgpool_s8") == 0)
    {
        return hkr_avgpool(c);
    }
    if (strcmp(name, "hard_resize_bilinear_s8") == 0)
    {
        return hkr_resize(c);
    }
    if (strcmp(name, "hard_resize_bilinear_argmax_s8") == 0)
    {
        return hkr_resize_argmax(c, 0);
    }
    if (strcmp(name, "hard_resize_bilinear_argmax_s8_rows") == 0)
    {
        return hkr_resize_argmax(c, 1);
    }
    return HKR_UNKNOWN_FUNCTION;
}

int32_t hkr_execute(const int32_t *prog, int32_t prog_words, uint8_t *arena, int32_t *status, int32_t max_calls)
{
    hkr_cursor c = {prog, prog + prog_words, arena, 0};
    int32_t n = 0;
    while (c.w < c.end && n < max_calls)
    {
        char name[HKR_NAME_MAX + 1];
        const int32_t len = hkr_word(&c);
        const int32_t words = (len + 3) / 4;
        if (len <= 0 || len > HKR_NAME_MAX || c.end - c.w < words)
        {
            return -1;
        }
        memcpy(name, c.w, (size_t)len);
        name[len] = '\0';
        c.w += words;
        status[n] = hkr_dispatch(name, &c);
        if (status[n++] == HKR_UNKNOWN_FUNCTION)
        {
            return n; /* its arguments cannot be skipped: stop here */
        }
        if (c.bad)
        {
            return -1;
        }
    }
    return n;
}
