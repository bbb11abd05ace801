/* STM32F746NG reset and clock control, power and flash interface registers (RM0385), and the
 * clock setup of the STM32F746G-DISCO: 216 MHz from the 25 MHz HSE through the main PLL. */
#ifndef DISCO_CLOCK_H
#define DISCO_CLOCK_H

#include "bsp_cm7.h"

#define DISCO_HSE_HZ    25000000u
#define DISCO_SYSCLK_HZ 216000000u
#define DISCO_APB1_HZ   (DISCO_SYSCLK_HZ / 4u)
#define DISCO_APB2_HZ   (DISCO_SYSCLK_HZ / 2u)

#define RCC_BASE     0x40023800u
#define RCC_CR       CM7_REG(RCC_BASE + 0x00u)
#define RCC_PLLCFGR  CM7_REG(RCC_BASE + 0x04u)
#define RCC_CFGR     CM7_REG(RCC_BASE + 0x08u)
#define RCC_AHB1ENR  CM7_REG(RCC_BASE + 0x30u)
#define RCC_APB1ENR  CM7_REG(RCC_BASE + 0x40u)
#define RCC_APB2ENR  CM7_REG(RCC_BASE + 0x44u)
#define RCC_DCKCFGR2 CM7_REG(RCC_BASE + 0x90u)
#define PWR_CR1      CM7_REG(0x40007000u)
#define PWR_CSR1     CM7_REG(0x40007004u)
#define FLASH_ACR    CM7_REG(0x40023C00u)

#define RCC_CR_HSION      (1u << 0)
#define RCC_CR_HSIRDY     (1u << 1)
#define RCC_CR_HSEON      (1u << 16)
#define RCC_CR_HSERDY     (1u << 17)
#define RCC_CR_PLLON      (1u << 24)
#define RCC_CR_PLLRDY     (1u << 25)
#define RCC_CFGR_SW       (3u << 0)
#define RCC_CFGR_SWS      (3u << 2)
#define RCC_CFGR_SWS_PLL  (2u << 2)
#define RCC_CFGR_HPRE     (0xFu << 4)
#define RCC_CFGR_PPRE1    (7u << 10)
#define RCC_CFGR_PPRE2    (7u << 13)
#define RCC_APB1ENR_PWREN (1u << 28)
#define PWR_CR1_VOS       (3u << 14)
#define PWR_CR1_ODEN      (1u << 16)
#define PWR_CR1_ODSWEN    (1u << 17)
#define PWR_CSR1_ODRDY    (1u << 16)
#define PWR_CSR1_ODSWRDY  (1u << 17)
#define FLASH_ACR_LATENCY (0xFu << 0)
#define FLASH_ACR_PRFTEN  (1u << 8)
#define FLASH_ACR_ARTEN   (1u << 9)

/* PLLCFGR fields we set (M[5:0], N[14:6], P[17:16], PLLSRC[22], Q[27:24]); every other bit is
 * reserved and keeps its value (bit 29 reads 1 after reset: reset value 0x24003010). */
#define RCC_PLLCFGR_FIELDS (0x3Fu | (0x1FFu << 6) | (3u << 16) | (1u << 22) | (0xFu << 24))
/* M = 25, N = 432, P = 2 (field 0), source HSE, Q = 9: VCO 432 MHz, SYSCLK 216 MHz, 48 MHz clock */
#define DISCO_PLLCFGR (25u | (432u << 6) | (0u << 16) | (1u << 22) | (9u << 24))

/* Run from any state the core may be in (cold reset, warm start with the PLL as SYSCLK): switch
 * SYSCLK to HSI first, then reconfigure the PLL, over-drive, wait states and prescalers, and
 * switch to the PLL. Returns with SYSCLK = 216 MHz, AHB 216, APB1 54, APB2 108 MHz. */
void disco_clock_init(void);

#endif /* DISCO_CLOCK_H */
