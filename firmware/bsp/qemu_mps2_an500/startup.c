/* QEMU mps2-an500 (Cortex-M7) startup: vector table, reset handler, default handlers. */
#include <stdint.h>

#include "bsp_cm7.h"

extern int main(void);
void Reset_Handler(void);
void Default_Handler(void);
void SysTick_Handler(void);
void HardFault_Handler(void);

typedef void (*vector_t)(void);
static const vector_t vectors[16 + 32];

void Reset_Handler(void)
{
    cm7_reset_state((uint32_t)(uintptr_t)vectors); /* VTOR: never rely on BOOT_ADD0 or a bootloader */
    cm7_init_sections();
    cm7_fpu_enable();
    (void)main();
    for (;;)
    {
    }
}

void Default_Handler(void)
{
    for (;;)
    {
    }
}

void HardFault_Handler(void) __attribute__((weak, alias("Default_Handler")));

__attribute__((section(".isr_vector"), used)) static const vector_t vectors[16 + 32] = {
    (vector_t)(uintptr_t)&_estack, /* initial SP */
    Reset_Handler,
    Default_Handler,   /* NMI */
    HardFault_Handler, /* HardFault */
    Default_Handler,   /* MemManage */
    Default_Handler,   /* BusFault */
    Default_Handler,   /* UsageFault */
    0,
    0,
    0,
    0,
    Default_Handler, /* SVC */
    Default_Handler, /* DebugMon */
    0,
    Default_Handler, /* PendSV */
    SysTick_Handler,
};
