/* kernel_runner.h - batch runner of kernel calls (see kernel_runner.c). */
#ifndef KERNEL_RUNNER_H
#define KERNEL_RUNNER_H

#include <stdint.h>

#define HKR_NAME_MAX         63
#define HKR_UNKNOWN_FUNCTION (-100)
#define HKR_MAGIC            0x31524B48u /* "HKR1" */

/* Runs the program's calls in order; returns the number run, or -1 on a malformed program.
 * status[i] is the i-th call's hard_status (HKR_UNKNOWN_FUNCTION for an unknown name). */
int32_t hkr_execute(const int32_t *prog, int32_t prog_words, uint8_t *arena, int32_t *status, int32_t max_calls);

#endif /* KERNEL_RUNNER_H */
