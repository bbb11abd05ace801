/* hard_resize_fast.h - the eight-pixel fused resize -> argmax path (internal, hard_resize_fast.c). */
#ifndef HARD_RESIZE_FAST_H
#define HARD_RESIZE_FAST_H

#include <stdint.h>

#include "hard_kernels.h"

/* Scratch bytes: one interpolated row plus the table of column runs (2 * in_w entries). */
int32_t hard_resize_argmax_fast_scratch(int32_t in_w, int32_t channels);

/* Rows [row_begin, row_end) of labels; arguments already checked by the caller, except the
 * class count (<= 32) and the scratch size: HARD_ARG_ERROR (nothing written) when they fail. */
hard_status hard_resize_argmax_fast(const hard_context *ctx,
                                    const hard_resize_params *p,
                                    const hard_dims *input_dims,
                                    const int8_t *input,
                                    const hard_dims *output_dims,
                                    int32_t row_begin,
                                    int32_t row_end,
                                    uint8_t *labels);

/* RESIZE_BILINEAR, arguments already checked by hard_resize_bilinear_s8. */
void hard_resize_bilinear_fast(const hard_resize_params *p,
                               const hard_dims *input_dims,
                               const int8_t *input,
                               const hard_dims *output_dims,
                               int8_t *output);

#endif /* HARD_RESIZE_FAST_H */
