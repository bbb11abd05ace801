/* hard_elementwise_fast.h - the single-multiply ADD / MUL loops (internal, hard_elementwise_fast.c). */
#ifndef HARD_ELEMENTWISE_FAST_H
#define HARD_ELEMENTWISE_FAST_H

#include <stdint.h>

#include "hard_kernels.h"

/* Whether the parameters keep every intermediate in the exact range of the fast loop. */
int hard_add_fast_ok(const hard_add_params *p);
void hard_add_fast(const hard_add_params *p, const int8_t *in1, const int8_t *in2, int8_t *out, int32_t n);
int hard_mul_fast_ok(const hard_mul_params *p);
void hard_mul_fast(const hard_mul_params *p, const int8_t *in1, const int8_t *in2, int8_t *out, int32_t n);

#endif /* HARD_ELEMENTWISE_FAST_H */
