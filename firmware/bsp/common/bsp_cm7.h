/* Cortex-M7 core registers shared by the MCU BSPs (register-level, no vendor headers).
 * A host test may define CM7_REG (registers mapped to a model) and CM7_HOST_MODEL (barriers and
 * interrupt masking become compiler barriers) before including this file. */
#ifndef BSP_CM7_H
#define BSP_CM7_H

#include <stdint.h>

#ifndef CM7_REG
#define CM7_REG(addr) (*(volatile uint32_t *)(addr))
#endif

#define SCB_ICSR     CM7_REG(0xE000ED04u)
#define SCB_VTOR     CM7_REG(0xE000ED08u)
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
#define NVIC_ICER(n) CM7_REG(0xE000E180u + 4u * (n))
#define NVIC_ICPR(n) CM7_REG(0xE000E280u + 4u * (n))
#define NVIC_REGS    8u /* ICER/ICPR words: 240 interrupt lines at most on ARMv7-M */
#define NVIC_IPR8(n) (*(volatile uint8_t *)(0xE000E400u + (n)))
#define DEMCR        CM7_REG(0xE000EDFCu)
#define DWT_CTRL     CM7_REG(0xE0001000u)
#define DWT_CYCCNT   CM7_REG(0xE0001004u)
#define DWT_LAR      CM7_REG(0xE0001FB0u)

#ifdef CM7_HOST_MODEL
#define CM7_INSN(insn) __asm volatile("" ::: "memory")
#else
#define CM7_INSN(insn) __asm volatile(insn ::: "memory")
#endif

static inline void cm7_dsb(void)
{
    CM7_INSN("dsb 0xF");
}
static inline void cm7_isb(void)
{
    CM7_INSN("isb 0xF");
}
static inline void cm7_enable_irq(void)
{
    CM7_INSN("cpsie i");
}
static inline void cm7_disable_irq(void)
{
    CM7_INSN("cpsid i");
}
static inline uint32_t cm7_sp(void)
{
    uint32_t sp;
    __asm volatile("mov %0, sp" : "=r"(sp));
    return sp;
}

/* Whatever ran before us (a bootloader, a debugger's load-and-run without reset, an earlier
 * firmware) may have left interrupts enabled and pending, SysTick running and the vector table
 * elsewhere: mask, disable and clear all of it, and point VTOR at our own table. */
static inline void cm7_reset_state(uint32_t vector_table)
{
    uint32_t i;
    cm7_disable_irq();
    SYST_CSR = 0u;
    for (i = 0u; i < NVIC_REGS; i++)
    {
        NVIC_ICER(i) = 0xFFFFFFFFu;
        NVIC_ICPR(i) = 0xFFFFFFFFu;
    }
    SCB_ICSR = (1u << 27) | (1u << 25); /* PENDSVCLR, PENDSTCLR */
    SCB_VTOR = vector_table;
    cm7_dsb();
    cm7_isb();
}

/* L1 instruction and data caches on (CMSIS SCB_EnableICache / SCB_EnableDCache). A cache that is
 * already on is left alone: invalidating a live D-cache would drop data written since reset. */
static inline void cm7_caches_enable(void)
{
    uint32_t ccsidr, sets, ways;
    if (!(SCB_CCR & (1u << 17)))
    {
        cm7_dsb();
        cm7_isb();
        SCB_ICIALLU = 0u;
        cm7_dsb();
        cm7_isb();
        SCB_CCR |= (1u << 17); /* IC */
        cm7_dsb();
        cm7_isb();
    }
    if (SCB_CCR & (1u << 16))
    {
        return;
    }
    SCB_CSSELR = 0u; /* level 1 data cache */
    cm7_dsb();
    ccsidr = SCB_CCSIDR;
    sets = (ccsidr >> 13) & 0x7FFFu;
    do
    {
        ways = (ccsidr >> 3) & 0x3FFu;
        do
        {
            SCB_DCISW = ((sets & 0x1FFu) << 5) | ((ways & 3u) << 30);
        } while (ways-- != 0u);
    } while (sets-- != 0u);
    cm7_dsb();
    SCB_CCR |= (1u << 16); /* DC */
    cm7_dsb();
    cm7_isb();
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

/* Linker-script symbols (firmware/bsp/common/link.ld.in). */
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
