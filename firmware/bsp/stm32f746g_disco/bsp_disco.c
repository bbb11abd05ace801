/* STM32F7 Discovery board support (STM32F746G-DISCO, STM32F769I-DISCO), register level (no HAL):
 * - SYSCLK 216 MHz from the 25 MHz HSE via the main PLL (M=25, N=432, P=2, Q=9), over-drive on,
 *   7 flash wait states, ART accelerator + prefetch (disco_clock.c); L1 I/D caches on; AHB 216,
 *   APB1 54, APB2 108. Safe from any reset state (warm start, bootloader jump).
 * - USART1 (AF7, on the board's pins: disco_board.h) = the ST-LINK virtual COM port; RX is
 *   interrupt driven into a ring buffer so no byte is lost while the application is busy.
 * - Timer: DWT->CYCCNT core cycles, extended to 64 bits in software. */
#include "bsp.h"
#include "bsp_cm7.h"
#include "disco_board.h"
#include "disco_clock.h"

#define SYSCLK_HZ DISCO_SYSCLK_HZ
#define APB2_HZ   DISCO_APB2_HZ

#define GPIO_BASE(port) (0x40020000u + 0x400u * (port))
#define GPIO_MODER(b)   CM7_REG((b) + 0x00u)
#define GPIO_OSPEEDR(b) CM7_REG((b) + 0x08u)
#define GPIO_PUPDR(b)   CM7_REG((b) + 0x0Cu)
#define GPIO_AFR(b, i)  CM7_REG((b) + 0x20u + 4u * (i)) /* i = 0: pins 0-7 (AFRL), 1: 8-15 */
#define USART1_BASE     0x40011000u
#define USART_CR1       CM7_REG(USART1_BASE + 0x00u)
#define USART_CR3       CM7_REG(USART1_BASE + 0x08u)
#define USART_BRR       CM7_REG(USART1_BASE + 0x0Cu)
#define USART_ISR       CM7_REG(USART1_BASE + 0x1Cu)
#define USART_ICR       CM7_REG(USART1_BASE + 0x20u)
#define USART_RDR       CM7_REG(USART1_BASE + 0x24u)
#define USART_TDR       CM7_REG(USART1_BASE + 0x28u)
#define USART_ISR_FE    (1u << 1)
#define USART_ISR_NE    (1u << 2)
#define USART_ISR_ORE   (1u << 3)
#define USART_ISR_RXNE  (1u << 5)
#define USART_ISR_TC    (1u << 6)
#define USART_ISR_TXE   (1u << 7)
#define USART1_IRQn     37u

#define RX_RING_SIZE 512u /* power of two */

/* Interrupt-shared state: the RX ring and the 64-bit extension of CYCCNT. */
typedef struct
{
    volatile uint8_t buf[RX_RING_SIZE];
    volatile uint32_t head; /* written by the ISR */
    volatile uint32_t tail; /* written by the reader */
    volatile uint32_t overruns;
} rx_ring_t;

static rx_ring_t rx_ring;
static uint32_t cyc_last, cyc_high;

void USART1_IRQHandler(void)
{
    uint32_t isr = USART_ISR;
    if (isr & (USART_ISR_ORE | USART_ISR_FE | USART_ISR_NE))
    {
        USART_ICR = USART_ISR_ORE | USART_ISR_FE | USART_ISR_NE;
        rx_ring.overruns++;
    }
    while (USART_ISR & USART_ISR_RXNE)
    {
        uint8_t b = (uint8_t)USART_RDR;
        uint32_t next = (rx_ring.head + 1u) & (RX_RING_SIZE - 1u);
        if (next != rx_ring.tail)
        {
            rx_ring.buf[rx_ring.head] = b;
            rx_ring.head = next;
        }
        else
        {
            rx_ring.overruns++; /* dropped: the frame CRC will reject it and the host resends */
        }
    }
}

/* One pin to alternate function 7 (USART1); TX at high speed, RX pulled up. */
static void pin_af7(disco_pin_t p, int is_rx)
{
    uint32_t base = GPIO_BASE(p.port), two = 2u * p.pin, four = 4u * (p.pin & 7u);
    RCC_AHB1ENR |= 1u << p.port; /* the port's clock */
    (void)RCC_AHB1ENR;
    GPIO_MODER(base) = (GPIO_MODER(base) & ~(3u << two)) | (2u << two);
    if (is_rx)
    {
        GPIO_PUPDR(base) = (GPIO_PUPDR(base) & ~(3u << two)) | (1u << two);
    }
    else
    {
        GPIO_OSPEEDR(base) |= (3u << two);
    }
    GPIO_AFR(base, p.pin >> 3) = (GPIO_AFR(base, p.pin >> 3) & ~(0xFu << four)) | (7u << four);
}

static void uart_init(void)
{
    RCC_APB2ENR |= (1u << 4); /* USART1 */
    (void)RCC_APB2ENR;
    RCC_DCKCFGR2 &= ~3u; /* USART1 clock = APB2 */
    pin_af7(disco_board.uart_tx, 0);
    pin_af7(disco_board.uart_rx, 1);

    USART_CR1 = 0u;
    USART_BRR = (APB2_HZ + BSP_UART_BAUD / 2u) / BSP_UART_BAUD; /* oversampling by 16 */
    USART_CR3 = 0u;
    USART_CR1 = (1u << 5) /* RXNEIE */ | (1u << 3) /* TE */ | (1u << 2) /* RE */ | 1u /* UE */;
    NVIC_IPR8(USART1_IRQn) = 0x40u;
    NVIC_ISER(USART1_IRQn / 32u) = 1u << (USART1_IRQn % 32u);
}

/* The CRC calculation unit (RM0385 §7), set up for the protocol's CRC-32 (zlib's): polynomial
 * 0x04C11DB7, input bit-reversed (by word for word writes, by byte for the tail), output
 * bit-reversed; the start value is the previous CRC, complemented and bit-reversed. */
#define CRC_BASE         0x40023000u
#define CRC_DR           CM7_REG(CRC_BASE + 0x00u)
#define CRC_DR8          (*(volatile uint8_t *)&CRC_DR)
#define CRC_CR           CM7_REG(CRC_BASE + 0x08u)
#define CRC_INIT         CM7_REG(CRC_BASE + 0x10u)
#define CRC_POL          CM7_REG(CRC_BASE + 0x14u)
#define CRC_CR_RESET     1u
#define CRC_CR_REV_BYTE  (1u << 5)
#define CRC_CR_REV_WORD  (3u << 5)
#define CRC_CR_REV_OUT   (1u << 7)
#define CRC_CHECK_STRING "123456789"
#define CRC_CHECK_VALUE  0xCBF43926u /* CRC-32 of CRC_CHECK_STRING */

static int crc_unit_ok; /* set by crc_init's self-test; otherwise hproto uses its tables */

static inline uint32_t rbit32(uint32_t v)
{
    __asm volatile("rbit %0, %1" : "=r"(v) : "r"(v));
    return v;
}

static uint32_t crc_unit_run(uint32_t crc, const uint8_t *p, size_t n)
{
    CRC_INIT = rbit32(~crc);
    CRC_CR = CRC_CR_REV_WORD | CRC_CR_REV_OUT | CRC_CR_RESET;
    for (; n >= 4u; n -= 4u, p += 4u)
    {
        uint32_t w;
        __builtin_memcpy(&w, p, 4u); /* one unaligned load */
        CRC_DR = w;
    }
    CRC_CR = CRC_CR_REV_BYTE | CRC_CR_REV_OUT; /* no reset: the tail continues the value */
    while (n--)
    {
        CRC_DR8 = *p++;
    }
    return ~CRC_DR;
}

static void crc_init(void)
{
    RCC_AHB1ENR |= (1u << 12); /* CRCEN */
    (void)RCC_AHB1ENR;
    CRC_POL = 0x04C11DB7u;
    crc_unit_ok = 1;
    crc_unit_ok = crc_unit_run(0u, (const uint8_t *)CRC_CHECK_STRING, 9u) == CRC_CHECK_VALUE;
}

int bsp_crc32(uint32_t *crc, const void *data, size_t n)
{
    if (!crc_unit_ok)
    {
        return -1;
    }
    *crc = crc_unit_run(*crc, (const uint8_t *)data, n);
    return 0;
}

static void cycle_counter_init(void)
{
    DEMCR |= (1u << 24);   /* TRCENA */
    DWT_LAR = 0xC5ACCE55u; /* unlock (Cortex-M7) */
    DWT_CYCCNT = 0u;
    DWT_CTRL |= 1u;
    cyc_last = 0u;
    cyc_high = 0u;
}

void bsp_init(void)
{
    disco_clock_init();
    cm7_caches_enable();
    cycle_counter_init();
    uart_init();
    crc_init();
    cm7_enable_irq();
}

const char *bsp_board_name(void)
{
    return disco_board.name;
}
uint32_t bsp_core_clock_hz(void)
{
    return SYSCLK_HZ;
}

void bsp_uart_write(const uint8_t *data, size_t n)
{
    while (n--)
    {
        while (!(USART_ISR & USART_ISR_TXE))
        {
        }
        USART_TDR = *data++;
    }
    while (!(USART_ISR & USART_ISR_TC))
    {
    }
}

int bsp_uart_getc(uint32_t timeout_ms)
{
    uint64_t start = bsp_timer_read();
    uint64_t limit = (uint64_t)timeout_ms * (SYSCLK_HZ / 1000u);
    for (;;)
    {
        uint32_t tail = rx_ring.tail;
        if (tail != rx_ring.head)
        {
            int b = rx_ring.buf[tail];
            rx_ring.tail = (tail + 1u) & (RX_RING_SIZE - 1u);
            return b;
        }
        if (bsp_timer_read() - start >= limit)
        {
            return -1;
        }
    }
}

/* Call at least once per 2^32 cycles (19.9 s) so no wrap is missed. */
uint64_t bsp_timer_read(void)
{
    uint32_t now = DWT_CYCCNT;
    if (now < cyc_last)
    {
        cyc_high++;
    }
    cyc_last = now;
    return ((uint64_t)cyc_high << 32) | now;
}

void bsp_timer_restart(void)
{
    (void)bsp_timer_read();
}
uint32_t bsp_timer_unit(void)
{
    return BSP_UNIT_CYCLES;
}
const char *bsp_timer_unit_name(void)
{
    return "cycles";
}
uint32_t bsp_timer_hz(void)
{
    return SYSCLK_HZ;
}

void bsp_exit(int code)
{
    if (code != 0)
    {
        cm7_system_reset();
    }
    for (;;)
    {
        __asm volatile("wfi");
    }
}

void bsp_reset(void)
{
    bsp_uart_write((const uint8_t *)"", 0); /* waits for the last byte to leave */
    cm7_system_reset();
}
