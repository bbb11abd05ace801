/*
 * hard_gemm.c - the int8 x q15 GEMM core (see hard_gemm.h).
 */
#include <string.h>

#include "hard_gemm.h"
#include "hard_gemm_rows.h"

void hard_gemm_prepare(hard_gemm_args *args, const hard_per_channel_quant *quant, void *scratch)
{
    args->acc = (int32_t *)scratch;
    hard_rq *table = (hard_rq *)(void *)(args->acc + 2 * args->out_c);
    hard_rq_prepare(quant, args->bias, args->out_c, args->k, table, &args->out);
    args->rq = table;
}

void hard_gemm_pair(const hard_gemm_args *args, const int32_t *col, int8_t *out_a, int8_t *out_b)
{
    const int8_t *w = args->filter;
    const hard_rq *rq = args->rq;
    const int32_t k = args->k;
    const int32_t rs = args->row_stride;
    const int32_t out_c = args->out_c;
    int32_t *acc_out = args->acc;
    for (int32_t pairs = out_c >> 1; pairs > 0; --pairs)
    {
        hard_acc2x2 acc = {rq[0].bias, rq[0].bias, rq[1].bias, rq[1].bias};
        acc = hard_mac_rows(col, w, w + rs, k, acc);
        acc_out[0] = acc.c0p0;
        acc_out[1] = acc.c0p1;
        acc_out[2] = acc.c1p0;
        acc_out[3] = acc.c1p1;
        acc_out += 4;
        w += 2 * rs;
        rq += 2;
    }
    if (out_c & 1)
    {
        /* The odd last channel: the same row twice. */
        hard_acc2x2 acc = {rq[0].bias, rq[0].bias, rq[0].bias, rq[0].bias};
        acc = hard_mac_rows(col, w, w, k, acc);
        acc_out[0] = acc.c0p0;
        acc_out[1] = acc.c0p1;
    }
    hard_rq_store2(&args->out, args->rq, args->acc, out_c, out_a, out_b);
    if (args->fa != 0)
    {
        hard_fa_pair(args->fa, out_a, out_b);
    }
}
