/*
 * bsp_mark.h - instruction-count marks for the emulated board's counting plugin.
 *
 * BSP_MARK(kind) executes `ldrt rT, [sp, #kind]`: a harmless unprivileged load that compilers
 * never emit, which firmware/tools/icount_plugin.c recognises and logs with the exact number
 * of instructions executed so far (kind is a number 0..255 or a macro that expands to one).  On a real board it is one
 * load and costs a cycle; there the same places read DWT->CYCCNT (bsp_timer_read()).
 * On a host build it does nothing.
 */
#ifndef BSP_MARK_H
#define BSP_MARK_H

#include <stdint.h>

#define BSP_MARK_LAYER_BEGIN  1
#define BSP_MARK_LAYER_END    2
#define BSP_MARK_RUN_BEGIN    3
#define BSP_MARK_RUN_END      4
#define BSP_MARK_REGION_BEGIN 5
#define BSP_MARK_REGION_END   6

/* Two levels, so that BSP_MARK(BSP_MARK_LAYER_BEGIN) stringifies the number. */
#define BSP_MARK(kind) BSP_MARK_INSN_(kind)

#if defined(__arm__) && defined(__thumb2__)
#define BSP_MARK_INSN_(kind)                                                                                           \
    do                                                                                                                 \
    {                                                                                                                  \
        uint32_t bsp_mark_tmp_;                                                                                        \
        __asm volatile("ldrt %0, [sp, #" #kind "]" : "=r"(bsp_mark_tmp_) : : "memory");                                \
        (void)bsp_mark_tmp_;                                                                                           \
    } while (0)
#else
#define BSP_MARK_INSN_(kind)                                                                                           \
    do                                                                                                                 \
    {                                                                                                                  \
    } while (0)
#endif

#endif /* BSP_MARK_H */
