/* Stack painting and high-water measurement for the MCU boards (stack = [_sstack, _estack)). */
#include "bsp.h"
#include "bsp_cm7.h"

void bsp_stack_paint(void)
{
    uint32_t *p = &_sstack;
    uint32_t *limit = (uint32_t *)((cm7_sp() - 64u) & ~3u); /* keep clear of our own frame */
    while (p < limit)
    {
        *p++ = BSP_STACK_PATTERN;
    }
}

uint32_t bsp_stack_high_water(void)
{
    const uint32_t *p = &_sstack;
    while (p < &_estack && *p == BSP_STACK_PATTERN)
    {
        p++;
    }
    return (uint32_t)((uintptr_t)&_estack - (uintptr_t)p);
}

uint32_t bsp_stack_size(void)
{
    return (uint32_t)((uintptr_t)&_estack - (uintptr_t)&_sstack);
}
