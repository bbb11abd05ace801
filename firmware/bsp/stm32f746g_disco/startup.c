/* STM32F7 startup: vector table (16 core + the chip's IRQs: 98 on the STM32F746NG, 110 on the
 * STM32F769NI, set by its board.json), reset handler, default handlers. */
#include <stdint.h>

#include "bsp_cm7.h"

#ifndef STM32F7_NUM_IRQ
#define STM32F7_NUM_IRQ 98u
#endif
#define USART1_IRQn 37u

extern int main(void);
void Reset_Handler(void);
void Default_Handler(void);
void HardFault_Handler(void);
void SysTick_Handler(void);
void USART1_IRQHandler(void);

typedef void (*vector_t)(void);
static const vector_t vectors[16 + STM32F7_NUM_IRQ];

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
void SysTick_Handler(void) __attribute__((weak, alias("Default_Handler")));

__attribute__((section(".isr_vector"), used)) static const vector_t vectors[16 + STM32F7_NUM_IRQ] = {
    [0] = (vector_t)(uintptr_t)&_estack,
    [1] = Reset_Handler,
    [2] = Default_Handler, /* NMI */
    [3] = HardFault_Handler,
    [4] = Default_Handler,  /* MemManage */
    [5] = Default_Handler,  /* BusFault */
    [6] = Default_Handler,  /* UsageFault */
    [11] = Default_Handler, /* SVC */
    [12] = Default_Handler, /* DebugMon */
    [14] = Default_Handler, /* PendSV */
    [15] = SysTick_Handler,
    [16 + USART1_IRQn] = USART1_IRQHandler,
};
