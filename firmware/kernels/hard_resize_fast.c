/*
 * hard_resize_fast.c - the fused RESIZE_BILINEAR -> ARG_MAX epilogue, eight output pixels at a
 * time (hard_resize_bilinear_argmax_s8_rows dispatches here on ARMv7E-M).
 *
 * Output columns sharing their two source columns (lo, hi) form a run; inside a run the
 * horizontal weight grows by the scale at each pixel, so a class's value at the next pixel
 * is the previous one plus (v[hi] - v[lo]) * scale (v: the two source columns interpolated
 * vertically): the bilinear weights are not recomputed per class.  Each rounded value becomes
 * a 16-bit key
 *     round(v) * 32 + (31 - class)
 * whose maximum is the largest value with ties to the lowest class (ARG_MAX's first
 * maximum); two pixels' keys share a word and SSUB16/SEL keep the lane-wise maximum.
 * Rounding is TFLite's half away from zero: floor((v - [v < 0] + 2^19) / 2^20).
 * Up to 32 classes; runs shorter than eight take the scalar loop.
 *
 * Most blocks of output pixels sharing their four source pixels (one column run times the rows
 * sharing their two source rows) have a single label, found without visiting the pixels: a
 * value is bilinear in the two weights, and so is the difference of two classes' values, which
 * is therefore extreme at the block's corners.  Class k labels the whole block when at its four
 * corners every higher class is not above k and every lower class is at least 2^20 (one unit
 * after rounding) below it: rounding is monotone and ties go to the lower class.  Otherwise each
 * of the block's rows keeps the classes that can win somewhere along it (its values are linear
 * in the weight: a class whose larger end value is a unit below the largest smaller end value
 * of any class never wins), fills the run when one is left and else runs the eight-pixel path
 * over those only.
 *
 * hard_resize_bilinear_s8 dispatches to hard_resize_bilinear_fast: four channels per step, the
 * two horizontal weights packed in one word for SMLAxy, the vertical pass in 32 bits.
 */
#include "hard_bilinear.h"
#include "hard_dsp.h"
#include "hard_resize_fast.h"

typedef struct
{
    int16_t x0;    /* first output column of the run */
    int16_t count; /* columns in the run */
    int16_t lo;    /* source columns */
    int16_t hi;
    int16_t w_hi0; /* weight of hi at x0, in 1/1024 */
    int16_t label; /* the class winning the run in the current band of rows, or -1 */
} hard_xrun;

#define HARD_KEY_HALF            0x00100010 /* 2^19 >> 15 in both lanes */
#define HARD_KEY_CLASS           0x001F001Fu
#define HARD_KEY_LOWEST          ((int32_t)0x80008000u)
#define HARD_ARGMAX_FAST_CLASSES 32

int32_t hard_resize_argmax_fast_scratch(int32_t in_w, int32_t channels)
{
    return in_w * channels * (int32_t)sizeof(int32_t) + 2 * in_w * (int32_t)sizeof(hard_xrun);
}

static int32_t hard_xruns(int32_t out_w, int32_t in_w, int32_t scale_x, int32_t half, hard_xrun *runs, int32_t max_runs)
{
    int32_t n = 0;
    for (int32_t x = 0; x < out_w; ++x)
    {
        const hard_bilinear_tap t = hard_bilinear_coord(x, scale_x, half, in_w);
        if (n > 0 && runs[n - 1].lo == t.lo && runs[n - 1].hi == t.hi)
        {
            runs[n - 1].count++;
            continue;
        }
        if (n == max_runs)
        {
            return -1;
        }
        runs[n].x0 = (int16_t)x;
        runs[n].count = 1;
        runs[n].lo = (int16_t)t.lo;
        runs[n].hi = (int16_t)t.hi;
        runs[n].w_hi0 = (int16_t)t.w_hi;
        runs[n].label = -1;
        ++n;
    }
    return n;
}

/* Keys of two pixels' values for class key k2 (31 - class in both lanes). */
HARD_HOT int32_t hard_key_pair(int32_t va, int32_t vb, int32_t k2)
{
    const int32_t ta = va + (va >> 31);
    const int32_t tb = vb + (vb >> 31);
    const int32_t p = hard_sadd16(hard_pkhbt_lsl1(ta >> 15, tb), HARD_KEY_HALF);
    return (int32_t)(((uint32_t)p & ~HARD_KEY_CLASS) | (uint32_t)k2);
}

static inline void hard_store_labels(int32_t best, uint8_t *labels)
{
    labels[0] = (uint8_t)(31u - ((uint32_t)best & 31u));
    labels[1] = (uint8_t)(31u - (((uint32_t)best >> 16) & 31u));
}

/* The classes that can label a pixel of a run, in class order: base = value * 1024 and d =
 * difference of the two source columns' vertically interpolated values, key = the class's
 * key bits (31 - class) in both lanes. */
typedef struct
{
    int32_t base[HARD_ARGMAX_FAST_CLASSES];
    int32_t d[HARD_ARGMAX_FAST_CLASSES];
    int32_t key[HARD_ARGMAX_FAST_CLASSES];
    int32_t n;
} hard_cands;

/* Fills k for the run whose source pixels are lo[0..ch) and lo[hoff..hoff + ch) of the rows
 * row0 / row1 (vertical weights ty), horizontal weights w0 .. w1.  Values are linear in the
 * weight, so some class is at least L = max over classes of min(value at w0, value at w1) at
 * every pixel; a class whose largest value is at least one unit (2^20) below L never wins. */
static void hard_run_cands(const int8_t *row0,
                           const int8_t *row1,
                           int32_t hoff,
                           int32_t ch,
                           const hard_bilinear_tap *ty,
                           int32_t w0,
                           int32_t w1,
                           hard_cands *k)
{
    int32_t lower = INT32_MIN;
    for (int32_t c = 0; c < ch; ++c)
    {
        const int32_t l = row0[c] * ty->w_lo + row1[c] * ty->w_hi;
        const int32_t d = row0[c + hoff] * ty->w_lo + row1[c + hoff] * ty->w_hi - l;
        const int32_t v0 = l * HARD_RESIZE_ONE + d * w0;
        const int32_t v1 = l * HARD_RESIZE_ONE + d * w1;
        k->base[c] = l * HARD_RESIZE_ONE;
        k->d[c] = d;
        k->key[c] = hard_max_i32(v0, v1);
        lower = hard_max_i32(lower, hard_min_i32(v0, v1));
    }
    const int32_t limit = lower - (1 << 20);
    int32_t n = 0;
    for (int32_t c = 0; c < ch; ++c)
    {
        if (k->key[c] > limit)
        {
            k->base[n] = k->base[c];
            k->d[n] = k->d[c];
            k->key[n++] = hard_dup_lanes(31 - c);
        }
    }
    k->n = n;
}

/* Eight consecutive pixels of one run: weights w0, w0 + step, ... */
static void hard_argmax_chunk8(const hard_cands *k, int32_t w0, int32_t step, uint8_t *labels)
{
    int32_t b0 = HARD_KEY_LOWEST;
    int32_t b1 = HARD_KEY_LOWEST;
    int32_t b2 = HARD_KEY_LOWEST;
    int32_t b3 = HARD_KEY_LOWEST;
    for (int32_t i = 0; i < k->n; ++i)
    {
        const int32_t d = k->d[i];
        const int32_t k2 = k->key[i];
        const int32_t ds = d * step;
        const int32_t v = k->base[i] + d * w0;
        b0 = hard_max16(b0, hard_key_pair(v, v + ds, k2));
        b1 = hard_max16(b1, hard_key_pair(v + 2 * ds, v + 3 * ds, k2));
        b2 = hard_max16(b2, hard_key_pair(v + 4 * ds, v + 5 * ds, k2));
        b3 = hard_max16(b3, hard_key_pair(v + 6 * ds, v + 7 * ds, k2));
    }
    hard_store_labels(b0, labels);
    hard_store_labels(b1, labels + 2);
    hard_store_labels(b2, labels + 4);
    hard_store_labels(b3, labels + 6);
}

/* One pixel (as the portable kernel): the first candidate with the largest rounded value. */
static uint8_t hard_argmax_pixel(const hard_cands *k, int32_t w_hi)
{
    int32_t best = 0;
    int32_t best_val = hard_round_shift20(k->base[0] + k->d[0] * w_hi);
    for (int32_t i = 1; i < k->n; ++i)
    {
        const int32_t val = hard_round_shift20(k->base[i] + k->d[i] * w_hi);
        if (val > best_val)
        {
            best_val = val;
            best = i;
        }
    }
    return (uint8_t)(31 - (k->key[best] & 31));
}

/* The four corner values of each class (v[4c .. 4c + 3]) and the first class largest at the
 * first corner. */
static int32_t
hard_block_corners(const int8_t *const p[4], int32_t ch, const int32_t wx[2], const int32_t wy[2], int32_t *v)
{
    int32_t best = 0;
    for (int32_t c = 0; c < ch; ++c, v += 4)
    {
        const int32_t a = p[0][c] * HARD_RESIZE_ONE;
        const int32_t b = p[2][c] * HARD_RESIZE_ONE;
        const int32_t da = p[1][c] - p[0][c];
        const int32_t db = p[3][c] - p[2][c];
        const int32_t t0 = a + da * wx[0];
        const int32_t t1 = a + da * wx[1];
        v[0] = t0 * HARD_RESIZE_ONE + (b + db * wx[0] - t0) * wy[0];
        v[1] = t1 * HARD_RESIZE_ONE + (b + db * wx[1] - t1) * wy[0];
        v[2] = t0 * HARD_RESIZE_ONE + (b + db * wx[0] - t0) * wy[1];
        v[3] = t1 * HARD_RESIZE_ONE + (b + db * wx[1] - t1) * wy[1];
        if (v[0] > v[-4 * (c - best)])
        {
            best = c;
        }
    }
    return best;
}

/* The label of every pixel of a block (source pixels p: top lo, top hi, bottom lo, bottom hi;
 * horizontal weights wx[0] .. wx[1], vertical wy[0] .. wy[1]), or -1 when the corners do not
 * prove a single one.  v: 4 * ch scratch values. */
static int32_t
hard_block_label(const int8_t *const p[4], int32_t ch, const int32_t wx[2], const int32_t wy[2], int32_t *v)
{
    const int32_t best = hard_block_corners(p, ch, wx, wy, v);
    const int32_t *vb = v + 4 * best;
    const int32_t unit = 1 << 20;
    int32_t bad = 0;
    for (int32_t c = 0; c < best; ++c)
    {
        const int32_t *vc = v + 4 * c;
        bad |= (vb[0] - unit - vc[0]) | (vb[1] - unit - vc[1]) | (vb[2] - unit - vc[2]) | (vb[3] - unit - vc[3]);
    }
    for (int32_t c = best + 1; c < ch; ++c)
    {
        const int32_t *vc = v + 4 * c;
        bad |= (vb[0] - vc[0]) | (vb[1] - vc[1]) | (vb[2] - vc[2]) | (vb[3] - vc[3]);
    }
    return bad < 0 ? -1 : best;
}

typedef struct
{
    const int8_t *input;
    int32_t in_w;
    int32_t ch;
    int32_t step;    /* horizontal scale: weight step from one output column to the next */
    int32_t *vrow;   /* scratch: the corner values of the block test (4 * ch) */
    hard_xrun *runs; /* the column runs */
    int32_t n_runs;
} hard_argmax_rows;

/* Labels every run of a band of rows (source rows ty0.lo / ty0.hi, weights ty0 .. ty1) can
 * prove from its corners; -1 for the others.  Needs 4 * ch values of scratch in vrow. */
static void hard_band_labels(const hard_argmax_rows *a, const hard_bilinear_tap *ty0, const hard_bilinear_tap *ty1)
{
    const int32_t row = a->in_w * a->ch;
    const int8_t *top = a->input + ty0->lo * row;
    const int8_t *bottom = a->input + ty0->hi * row;
    const int32_t wy[2] = {ty0->w_hi, ty1->w_hi};
    for (int32_t r = 0; r < a->n_runs; ++r)
    {
        hard_xrun *run = &a->runs[r];
        const int32_t wx[2] = {run->w_hi0, run->w_hi0 + (run->count - 1) * a->step};
        const int8_t *p[4] = {top + run->lo * a->ch, top + run->hi * a->ch, bottom + run->lo * a->ch,
                              bottom + run->hi * a->ch};
        run->label = (int16_t)(a->in_w >= 4 ? hard_block_label(p, a->ch, wx, wy, a->vrow) : -1);
    }
}

/* One output row: proven runs filled, the others through the eight-pixel path over the
 * classes that can win there (one such class labels the run at once). */
static void hard_argmax_row(const hard_argmax_rows *a, const hard_bilinear_tap *ty, uint8_t *labels)
{
    const int32_t ch = a->ch;
    const int8_t *row0 = a->input + ty->lo * a->in_w * ch;
    const int8_t *row1 = a->input + ty->hi * a->in_w * ch;
    hard_cands k;
    for (int32_t r = 0; r < a->n_runs; ++r)
    {
        const hard_xrun run = a->runs[r];
        uint8_t *out = labels + run.x0;
        int32_t label = run.label;
        if (label < 0)
        {
            const int32_t w_last = run.w_hi0 + (run.count - 1) * a->step;
            hard_run_cands(row0 + run.lo * ch, row1 + run.lo * ch, (run.hi - run.lo) * ch, ch, ty, run.w_hi0, w_last,
                           &k);
            label = k.n == 1 ? 31 - (k.key[0] & 31) : -1;
        }
        if (label >= 0)
        {
            for (int32_t x = 0; x < run.count; ++x)
            {
                out[x] = (uint8_t)label;
            }
            continue;
        }
        int32_t x = 0;
        for (; x + 8 <= run.count; x += 8)
        {
            hard_argmax_chunk8(&k, run.w_hi0 + x * a->step, a->step, out + x);
        }
        for (; x < run.count; ++x)
        {
            out[x] = hard_argmax_pixel(&k, run.w_hi0 + x * a->step);
        }
    }
}

static int hard_same_rows(hard_bilinear_tap a, hard_bilinear_tap b)
{
    return a.lo == b.lo && a.hi == b.hi;
}

hard_status hard_resize_argmax_fast(const hard_context *ctx,
                                    const hard_resize_params *p,
                                    const hard_dims *input_dims,
                                    const int8_t *input,
                                    const hard_dims *output_dims,
                                    int32_t row_begin,
                                    int32_t row_end,
                                    uint8_t *labels)
{
    const int32_t in_h = input_dims->h;
    const int32_t in_w = input_dims->w;
    const int32_t ch = input_dims->c;
    if (ch > HARD_ARGMAX_FAST_CLASSES || ctx->size < hard_resize_argmax_fast_scratch(in_w, ch) ||
        ((uintptr_t)ctx->buf & 3u) != 0 || output_dims->w > 0x7FFF || in_w > 0x7FFF)
    {
        return HARD_ARG_ERROR;
    }
    const int32_t half = p->half_pixel_centers;
    const int32_t scale_y = hard_bilinear_scale_10(in_h, output_dims->h, p->align_corners);
    hard_argmax_rows a;
    a.input = input;
    a.in_w = in_w;
    a.ch = ch;
    a.step = hard_bilinear_scale_10(in_w, output_dims->w, p->align_corners);
    a.vrow = (int32_t *)ctx->buf;
    a.runs = (hard_xrun *)(void *)(a.vrow + in_w * ch);
    a.n_runs = hard_xruns(output_dims->w, in_w, a.step, half, a.runs, 2 * in_w);
    if (a.n_runs < 0)
    {
        return HARD_ARG_ERROR;
    }
    for (int32_t y = row_begin; y < row_end;)
    {
        /* A band: the rows sharing their two source rows (weights growing from ty0 to ty1). */
        const hard_bilinear_tap ty0 = hard_bilinear_coord(y, scale_y, half, in_h);
        int32_t end = y + 1;
        hard_bilinear_tap ty1 = ty0;
        for (hard_bilinear_tap t;
             end < row_end && hard_same_rows(t = hard_bilinear_coord(end, scale_y, half, in_h), ty0); ++end)
        {
            ty1 = t;
        }
        hard_band_labels(&a, &ty0, &ty1);
        for (; y < end; ++y, labels += output_dims->w)
        {
            const hard_bilinear_tap ty = hard_bilinear_coord(y, scale_y, half, in_h);
            hard_argmax_row(&a, &ty, labels);
        }
    }
    return HARD_OK;
}

/* ------------------------------------------------------- RESIZE_BILINEAR */

typedef struct
{
    int32_t c0;
    int32_t c1;
    int32_t c2;
    int32_t c3;
} hard_four;

/* Four channels of the two horizontal taps p0, p1 (int8 words), weights w = {w_lo, w_hi}. */
HARD_HOT hard_four hard_hpass4(int32_t p0, int32_t p1, int32_t w)
{
    const int32_t a02 = hard_sxtb16(p0);
    const int32_t a13 = hard_sxtb16_ror8(p0);
    const int32_t b02 = hard_sxtb16(p1);
    const int32_t b13 = hard_sxtb16_ror8(p1);
    hard_four r;
    r.c0 = hard_smlabt(b02, w, hard_smlabb(a02, w, 0));
    r.c1 = hard_smlabt(b13, w, hard_smlabb(a13, w, 0));
    r.c2 = hard_smlatt(b02, w, hard_smlatb(a02, w, 0));
    r.c3 = hard_smlatt(b13, w, hard_smlatb(a13, w, 0));
    return r;
}

/* round(v / 2^20), halves away from zero, as the portable kernel. */
HARD_HOT int8_t hard_round20_s8(int32_t v)
{
    return (int8_t)((v + (v >> 31) + (1 << 19)) >> 20);
}

/* One output pixel: channels in fours, then one at a time. */
static void hard_bilinear_pixel(const int8_t *p00,
                                const int8_t *p01,
                                const int8_t *p10,
                                const int8_t *p11,
                                int32_t ch,
                                const hard_bilinear_tap *tx,
                                const hard_bilinear_tap *ty,
                                int8_t *out)
{
    const int32_t w = (int32_t)(((uint32_t)tx->w_lo & 0xFFFFu) | ((uint32_t)tx->w_hi << 16));
    const int32_t wy_lo = ty->w_lo;
    const int32_t wy_hi = ty->w_hi;
    int32_t c = 0;
    for (; c + 4 <= ch; c += 4)
    {
        const hard_four t = hard_hpass4(hard_read_s8x4(p00 + c), hard_read_s8x4(p01 + c), w);
        const hard_four b = hard_hpass4(hard_read_s8x4(p10 + c), hard_read_s8x4(p11 + c), w);
        out[c] = hard_round20_s8(t.c0 * wy_lo + b.c0 * wy_hi);
        out[c + 1] = hard_round20_s8(t.c1 * wy_lo + b.c1 * wy_hi);
        out[c + 2] = hard_round20_s8(t.c2 * wy_lo + b.c2 * wy_hi);
        out[c + 3] = hard_round20_s8(t.c3 * wy_lo + b.c3 * wy_hi);
    }
    for (; c < ch; ++c)
    {
        const int32_t top = p00[c] * tx->w_lo + p01[c] * tx->w_hi;
        const int32_t bottom = p10[c] * tx->w_lo + p11[c] * tx->w_hi;
        out[c] = hard_round20_s8(top * wy_lo + bottom * wy_hi);
    }
}

void hard_resize_bilinear_fast(const hard_resize_params *p,
                               const hard_dims *input_dims,
                               const int8_t *input,
                               const hard_dims *output_dims,
                               int8_t *output)
{
    const int32_t in_h = input_dims->h;
    const int32_t in_w = input_dims->w;
    const int32_t ch = input_dims->c;
    const int32_t half = p->half_pixel_centers;
    const int32_t scale_y = hard_bilinear_scale_10(in_h, output_dims->h, p->align_corners);
    const int32_t scale_x = hard_bilinear_scale_10(in_w, output_dims->w, p->align_corners);
    const int32_t ostride = hard_out_stride(p->output_stride, ch);
    for (int32_t b = 0; b < input_dims->n; ++b)
    {
        const int8_t *in = input + b * in_h * in_w * ch;
        int8_t *out = output + b * output_dims->h * output_dims->w * ostride;
        for (int32_t y = 0; y < output_dims->h; ++y)
        {
            const hard_bilinear_tap ty = hard_bilinear_coord(y, scale_y, half, in_h);
            const int8_t *row0 = in + ty.lo * in_w * ch;
            const int8_t *row1 = in + ty.hi * in_w * ch;
            for (int32_t x = 0; x < output_dims->w; ++x, out += ostride)
            {
                const hard_bilinear_tap tx = hard_bilinear_coord(x, scale_x, half, in_w);
                hard_bilinear_pixel(row0 + tx.lo * ch, row0 + tx.hi * ch, row1 + tx.lo * ch, row1 + tx.hi * ch, ch, &tx,
                                    &ty, out);
            }
        }
    }
}
