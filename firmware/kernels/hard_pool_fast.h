/* hard_pool_fast.h - the four-channel AVERAGE_POOL_2D loop (internal, hard_pool_fast.c). */
#ifndef HARD_POOL_FAST_H
#define HARD_POOL_FAST_H

#include <stdint.h>

#include "hard_kernels.h"

/* Arguments already checked by hard_avgpool_s8.  HARD_ARG_ERROR when a window is larger than
 * 255 taps or the activation leaves the int8 range (nothing written then), or on an
 * all-padding window (as the portable path). */
hard_status hard_avgpool_fast(const hard_pool_params *p,
                              const hard_dims *input_dims,
                              const int8_t *input,
                              const hard_dims *filter_dims,
                              const hard_dims *output_dims,
                              int8_t *output);

#endif /* HARD_POOL_FAST_H */
