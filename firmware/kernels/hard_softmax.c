/*
 * hard_softmax.c - SOFTMAX, int8 -> int8.
 *
 * Bit-exact with TFLite's reference quantised softmax (reference_ops::Softmax
 * <int8_t, int8_t>, the kernel BUILTIN_REF runs; the LUT-based SoftmaxInt8LUT is
 * only an optimised-kernel variant).  gemmlowp fixed point throughout:
 *   diff = x - max(row); skipped (output -128) when diff < diff_min
 *   e = exp_on_negative_values(Q5.26 diff * beta * input scale)   (Q0.31)
 *   sum = sum of Rescale<12>(e)                                     (Q12.19)
 *   out = RoundingDivideByPOT(1/sum * e, num_bits_over_unit + 23) - 128
 * The exponentials are computed twice (no scratch), as in the reference.
 */
#include "hard_kernels.h"
#include "hard_support.h"
#include "hard_support_ext.h"

#define HARD_SOFTMAX_DIFF_INTEGER_BITS  5
#define HARD_SOFTMAX_ACCUM_INTEGER_BITS 12

/* gemmlowp exp_on_interval_between_negative_one_quarter_and_0_excl (Q0.31 in, Q0.31 out). */
static int32_t hard_exp_on_quarter_interval(int32_t a)
{
    const int32_t constant_term = 1895147668;    /* exp(-1/8) */
    const int32_t constant_1_over_3 = 715827883; /* 1/3 */
    const int32_t x = hard_wrap_add(a, 1 << 28); /* a + 1/8 */
    const int32_t x2 = hard_sat_rounding_doubling_high_mul(x, x);
    const int32_t x3 = hard_sat_rounding_doubling_high_mul(x2, x);
    const int32_t x4 = hard_sat_rounding_doubling_high_mul(x2, x2);
    const int32_t x4_over_4 = hard_rounding_divide_by_pot(x4, 2);
    const int32_t poly =
        hard_wrap_add(hard_sat_rounding_doubling_high_mul(hard_wrap_add(x4_over_4, x3), constant_1_over_3), x2);
    const int32_t x4_over_24_plus_x3_over_6_plus_x2_over_2 = hard_rounding_divide_by_pot(poly, 1);
    return hard_wrap_add(constant_term, hard_sat_rounding_doubling_high_mul(
                                            constant_term, hard_wrap_add(x, x4_over_24_plus_x3_over_6_plus_x2_over_2)));
}

/* gemmlowp exp_on_negative_values for a Q5.26 input a <= 0; Q0.31 result. */
static int32_t hard_exp_on_negative_values(int32_t a)
{
    static const int32_t barrel[7] = {1672461947, 1302514674, 790015084, 290630308, 39332535, 720401, 242};
    const int32_t frac_bits = 31 - HARD_SOFTMAX_DIFF_INTEGER_BITS;
    const int32_t one_quarter = 1 << (frac_bits - 2);
    const int32_t mask = one_quarter - 1;
    const int32_t a_mod_quarter_minus_one_quarter = (a & mask) - one_quarter;
    /* Rescale<0> of a Q5.26 value in [-1/4, 0): a saturating shift left by 5. */
    int32_t result = hard_exp_on_quarter_interval(hard_sat_shl(a_mod_quarter_minus_one_quarter, 5));
    const int32_t remainder = a_mod_quarter_minus_one_quarter - a;
    for (int32_t k = 0; k < 7; ++k)
    {
        /* exponent k - 2: multiply by exp(-2^(k-2)) when that bit of -a is set */
        if ((remainder & (1 << (frac_bits - 2 + k))) != 0)
        {
            result = hard_sat_rounding_doubling_high_mul(result, barrel[k]);
        }
    }
    return a == 0 ? INT32_MAX : result;
}

/* gemmlowp one_over_one_plus_x_for_x_in_0_1 (Q0.31 in and out), Newton-Raphson in Q2.29. */
static int32_t hard_one_over_one_plus_x(int32_t a)
{
    const int64_t sum = (int64_t)a + INT32_MAX;
    const int32_t half_denominator = (int32_t)((sum + (sum >= 0 ? 1 : -1)) / 2); /* RoundingHalfSum(a, 1) */
    const int32_t constant_48_over_17 = 1515870810;
    const int32_t constant_neg_32_over_17 = -1010580540;
    const int32_t one_q2 = 1 << 29;
    int32_t x = hard_wrap_add(constant_48_over_17,
                              hard_sat_rounding_doubling_high_mul(half_denominator, constant_neg_32_over_17));
    for (int32_t i = 0; i < 3; ++i)
    {
        const int32_t half_denominator_times_x = hard_sat_rounding_doubling_high_mul(half_denominator, x);
        const int32_t one_minus = one_q2 - half_denominator_times_x;
        x = hard_wrap_add(x, hard_sat_shl(hard_sat_rounding_doubling_high_mul(x, one_minus), 2));
    }
    return hard_sat_shl(x, 1); /* Rescale<0>(ExactMulByPot<-1>(x)) */
}

/* TFLite GetReciprocal(x, 12 integer digits): 1/x as Q0.31 and the bits above one. */
static int32_t hard_get_reciprocal(int32_t x, int32_t *num_bits_over_unit)
{
    const int32_t headroom_plus_one = hard_clz_u32((uint32_t)x);
    *num_bits_over_unit = HARD_SOFTMAX_ACCUM_INTEGER_BITS - headroom_plus_one;
    const int32_t shifted_sum_minus_one = (int32_t)(((uint32_t)x << headroom_plus_one) - (1u << 31));
    return hard_one_over_one_plus_x(shifted_sum_minus_one);
}

static inline int32_t hard_softmax_exp(const hard_softmax_params *p, int32_t diff)
{
    const int32_t rescaled =
        hard_sat_rounding_doubling_high_mul(hard_shl_i32(diff, p->input_left_shift), p->input_multiplier);
    return hard_exp_on_negative_values(rescaled);
}

static void hard_softmax_row(const hard_softmax_params *p, int32_t depth, const int8_t *x, int8_t *y)
{
    int32_t max_in_row = HARD_INT8_MIN;
    for (int32_t c = 0; c < depth; ++c)
    {
        max_in_row = hard_max_i32(max_in_row, x[c]);
    }
    int32_t sum_of_exps = 0;
    for (int32_t c = 0; c < depth; ++c)
    {
        const int32_t diff = x[c] - max_in_row;
        if (diff >= p->diff_min)
        {
            const int32_t e = hard_softmax_exp(p, diff);
            sum_of_exps = hard_wrap_add(sum_of_exps, hard_rounding_divide_by_pot(e, HARD_SOFTMAX_ACCUM_INTEGER_BITS));
        }
    }
    int32_t num_bits_over_unit;
    const int32_t shifted_scale = hard_get_reciprocal(sum_of_exps, &num_bits_over_unit);
    const int32_t exponent = num_bits_over_unit + 31 - 8;
    for (int32_t c = 0; c < depth; ++c)
    {
        const int32_t diff = x[c] - max_in_row;
        int32_t out = HARD_INT8_MIN;
        if (diff >= p->diff_min)
        {
            const int32_t e = hard_softmax_exp(p, diff);
            const int32_t scaled = hard_sat_rounding_doubling_high_mul(shifted_scale, e);
            /* The reference checks exponent <= 31 (rows of more than 256 equal values exceed it);
             * a larger divide rounds every int32 to 0. */
            const int32_t unsat = exponent <= 31 ? hard_rounding_divide_by_pot(scaled, exponent) : 0;
            out = hard_clamp_i32(unsat + HARD_INT8_MIN, HARD_INT8_MIN, HARD_INT8_MAX);
        }
        y[c] = (int8_t)out;
    }
}

int32_t hard_softmax_s8_get_buffer_size(void)
{
    return 0;
}

hard_status hard_softmax_s8(
    const hard_softmax_params *softmax_params, int32_t rows, int32_t depth, const int8_t *input, int8_t *output)
{
    if (softmax_params == 0 || rows < 0 || depth <= 0 || softmax_params->input_left_shift < 0 ||
        softmax_params->input_left_shift > 31)
    {
        return HARD_ARG_ERROR;
    }
    for (int32_t r = 0; r < rows; ++r)
    {
        hard_softmax_row(softmax_params, depth, input + r * depth, output + r * depth);
    }
    return HARD_OK;
}
