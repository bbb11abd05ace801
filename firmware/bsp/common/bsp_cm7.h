/* Cortex-M7 core registers shared by the MCU BSPs (register-level, no vendor headers). */
#ifndef BSP_CM7_H
#define BSP_CM7_H

#include <stdint.h>

#define CM7_REG(addr) (*(volatile uint32_t *)(addr))

#define SCB_CPACR    CM7_REG(0xE000ED88u)
#define SCB_AIRCR    CM7_REG(0xE000ED0Cu)
#define SCB_CCR      CM7_REG(0xE000ED14u)
#define SCB_CCSIDR   CM7_REG(0xE000ED80u)
#define SCB_CSSELR   CM7_REG(0xE000ED84u)
#define SCB_ICIALLU  CM7_REG(0xE000EF50u)
#define SCB_DCISW    CM7_REG(0xE000EF60u)
#define SYST_CSR     CM7_REG(0xE000E010u)
#define SYST_RVR     CM7_REG(0xE000E014u)
#define SYST_CVR     CM7_REG(0xE000E018u)
#define NVIC_ISER(n) CM7_REG(0xE000E100u + 4u * (n))
#define NVIC_IPR8(n) (*(volatile uint8_t *)(0xE000E400u + (n)))
#define DEMCR        CM7_REG(0xE000EDFCu)
#define DWT_CTRL     CM7_REG(0xE0001000u)
#define DWT_CYCCNT   CM7_REG(0xE0001004u)
#define DWT_LAR      CM7_REG(0xE0001FB0u)

static inline void cm7_dsb(void)
{
    __asm volatile("dsb 0xF" ::: "memory");
}
static inline void cm7_isb(void)
{
    __asm volatile("isb 0xF" ::: "memory");
}
static inline void cm7_enable_irq(void)
{
    __asm volatile("cpsie i" ::: "memory");
}
static inline uint32_t cm7_sp(void)
{
    uint32_t sp;
    __asm volatile("mov %0, sp" : "=r"(sp));
    return sp;
}

/* Grant full access to CP10/CP11 (the FPU): needed before any float instruction. */
static inline void cm7_fpu_enable(void)
{
    SCB_CPACR |= (0xFu << 20);
    cm7_dsb();
    cm7_isb();
}

static inline __attribute__((noreturn)) void cm7_system_reset(void)
{
    cm7_dsb();
    SCB_AIRCR = (0x5FAu << 16) | (1u << 2); /* VECTKEY | SYSRESETREQ */
    cm7_dsb();
    for (;;)
    {
    }
}

/* Linker-script symbols (firmware/bsp/<board>/link.ld). */
extern uint32_t _sidata, _sdata, _edata, _sbss, _ebss, _sstack, _estack;

/* Copy .data from flash, zero .bss. Runs before main, with no stack use beyond its frame. */
static inline void cm7_init_sections(void)
{
    uint32_t *src = &_sidata, *dst = &_sdata;
    while (dst < &_edata)
    {
        *dst++ = *src++;
    }
    for (dst = &_sbss; dst < &_ebss;)
    {
        *dst++ = 0u;
    }
}

#endif /* BSP_CM7_H */
