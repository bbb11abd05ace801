/* STM32F746G-DISCO clock tree, register level, following RM0385 and ST's SystemInit /
 * HAL_RCC_OscConfig order: the PLL is never touched while it drives SYSCLK, PLLCFGR is written
 * only with the PLL off and read-modify-write, VOS only with the PLL off. */
#include "disco_clock.h"

/* SYSCLK back on the 16 MHz HSI (ST's SystemInit does the same): after a warm start the PLL may
 * still be SYSCLK, and PLLON cannot be cleared then (the write is ignored and PLLRDY never drops). */
static void clock_to_hsi(void)
{
    RCC_CR |= RCC_CR_HSION;
    while (!(RCC_CR & RCC_CR_HSIRDY))
    {
    }
    RCC_CFGR &= ~RCC_CFGR_SW; /* SW = HSI */
    while (RCC_CFGR & RCC_CFGR_SWS)
    {
    }
}

static void pll_stop(void)
{
    RCC_CR &= ~RCC_CR_PLLON;
    while (RCC_CR & RCC_CR_PLLRDY)
    {
    }
}

static void pll_start(void)
{
    RCC_PLLCFGR = (RCC_PLLCFGR & ~RCC_PLLCFGR_FIELDS) | DISCO_PLLCFGR;
    RCC_CR |= RCC_CR_PLLON;
    while (!(RCC_CR & RCC_CR_PLLRDY))
    {
    }
}

/* Over-drive: required above 180 MHz; entered with HSI/HSE as SYSCLK and the PLL running. */
static void over_drive_on(void)
{
    PWR_CR1 |= PWR_CR1_ODEN;
    while (!(PWR_CSR1 & PWR_CSR1_ODRDY))
    {
    }
    PWR_CR1 |= PWR_CR1_ODSWEN;
    while (!(PWR_CSR1 & PWR_CSR1_ODSWRDY))
    {
    }
}

void disco_clock_init(void)
{
    clock_to_hsi();
    RCC_APB1ENR |= RCC_APB1ENR_PWREN;
    (void)RCC_APB1ENR; /* the clock is on once the write has completed */

    RCC_CR |= RCC_CR_HSEON; /* 25 MHz crystal */
    while (!(RCC_CR & RCC_CR_HSERDY))
    {
    }
    pll_stop();
    PWR_CR1 |= PWR_CR1_VOS; /* scale 1: VOS can change only while the PLL is off */
    pll_start();
    over_drive_on();

    /* 7 wait states before the clock goes up (216 MHz at 2.7-3.6 V), ART accelerator + prefetch */
    FLASH_ACR = (FLASH_ACR & ~FLASH_ACR_LATENCY) | 7u | FLASH_ACR_PRFTEN | FLASH_ACR_ARTEN;
    while ((FLASH_ACR & FLASH_ACR_LATENCY) != 7u)
    {
    }
    RCC_CFGR = (RCC_CFGR & ~(RCC_CFGR_HPRE | RCC_CFGR_PPRE1 | RCC_CFGR_PPRE2)) | (0u << 4) /* AHB /1 */ |
               (5u << 10) /* APB1 /4 */ | (4u << 13) /* APB2 /2 */;
    RCC_CFGR = (RCC_CFGR & ~RCC_CFGR_SW) | 2u; /* SYSCLK = PLL */
    while ((RCC_CFGR & RCC_CFGR_SWS) != RCC_CFGR_SWS_PLL)
    {
    }
}
