/* QEMU MPS2/MPS3 board support (mps2-an500 by default; the other emulated cores' boards set the
 * macros below from their board.json cflags): CMSDK UART0, SysTick instruction counter,
 * semihosting exit.
 *
 * Timing: run QEMU with `-icount shift=0` (one instruction = 1 ns of virtual time). SysTick
 * runs from the system clock (25 MHz on mps2-an500: one tick = 40 instructions);
 * bsp_timer_read() returns instructions. Writing SYST_CVR re-anchors the tick phase at that
 * exact instruction, which makes measurements taken after bsp_timer_restart() repeat exactly
 * across runs. */
#include "bsp.h"
#include "bsp_cm7.h"

#ifndef QEMU_SYSCLK_HZ
#define QEMU_SYSCLK_HZ 25000000u /* the core's clock: SysTick counts it */
#endif
#ifndef QEMU_UART_CLK_HZ
#define QEMU_UART_CLK_HZ 25000000u /* the peripherals' clock: the UART's BAUDDIV divides it */
#endif
#ifndef QEMU_UART0_BASE
#define QEMU_UART0_BASE 0x40004000u /* the CMSDK UART0 (its Secure alias on the TrustZone boards) */
#endif
#ifndef QEMU_BOARD_NAME
#define QEMU_BOARD_NAME "qemu-mps2-an500"
#endif
#define QEMU_INSN_PER_MS 1000000u /* virtual time under -icount shift=0 */

/* SysTick ticks to instructions (1 ns each): a multiply where the clock divides 1 GHz. */
#if (1000000000u % QEMU_SYSCLK_HZ) == 0u
#define QEMU_TICKS_TO_INSN(t) ((t) * (uint64_t)(1000000000u / QEMU_SYSCLK_HZ))
#else
#define QEMU_TICKS_TO_INSN(t) (((t)*1000000000ull) / QEMU_SYSCLK_HZ)
#endif

#define UART0_DATA        CM7_REG(QEMU_UART0_BASE + 0x0u)
#define UART0_STATE       CM7_REG(QEMU_UART0_BASE + 0x4u)
#define UART0_CTRL        CM7_REG(QEMU_UART0_BASE + 0x8u)
#define UART0_BAUDDIV     CM7_REG(QEMU_UART0_BASE + 0x10u)
#define UART_STATE_TXFULL (1u << 0)
#define UART_STATE_RXFULL (1u << 1)

/* SysTick wrap counter: the one piece of state an interrupt must share with readers. */
static volatile uint32_t systick_wraps;

void SysTick_Handler(void)
{
    systick_wraps++;
}

void bsp_init(void)
{
    uint32_t div = (QEMU_UART_CLK_HZ + BSP_UART_BAUD / 2u) / BSP_UART_BAUD; /* as hardtool.core.uart */
    UART0_BAUDDIV = div < 16u ? 16u : div;                                  /* below 16 the model drops TX bytes */
    UART0_CTRL = 0x3u;                                                      /* TX + RX enable */
    cm7_enable_irq();
    bsp_timer_restart();
}

const char *bsp_board_name(void)
{
    return QEMU_BOARD_NAME;
}
uint32_t bsp_core_clock_hz(void)
{
    return QEMU_SYSCLK_HZ;
}

void bsp_uart_write(const uint8_t *data, size_t n)
{
    while (n--)
    {
        while (UART0_STATE & UART_STATE_TXFULL)
        {
        }
        UART0_DATA = *data++;
    }
}

int bsp_uart_getc(uint32_t timeout_ms)
{
    uint64_t start = bsp_timer_read();
    uint64_t limit = (uint64_t)timeout_ms * QEMU_INSN_PER_MS;
    for (;;)
    {
        uint32_t spin;
        for (spin = 0; spin < 64u; spin++)
        { /* keep timer reads (MMIO) off the fast path */
            if (UART0_STATE & UART_STATE_RXFULL)
            {
                return (int)(UART0_DATA & 0xFFu);
            }
        }
        if (bsp_timer_read() - start >= limit)
        {
            return -1;
        }
    }
}

void bsp_timer_restart(void)
{
    SYST_CSR = 0u;
    SYST_RVR = 0x00FFFFFFu;
    SYST_CVR = 0u;                         /* anchors the tick phase here */
    SYST_CSR = (1u << 2) | (1u << 1) | 1u; /* core clock, interrupt, enable */
    while (SYST_CVR == 0u)
    { /* first reload happens one tick later */
    }
    systick_wraps = 0u;
}

uint64_t bsp_timer_read(void)
{
    uint32_t hi, val;
    do
    {
        hi = systick_wraps;
        val = SYST_CVR;
    } while (hi != systick_wraps);
    return QEMU_TICKS_TO_INSN(((uint64_t)hi << 24) + (0x00FFFFFFu - val));
}

uint32_t bsp_timer_unit(void)
{
    return BSP_UNIT_INSTRUCTIONS;
}
const char *bsp_timer_unit_name(void)
{
    return "instructions";
}
uint32_t bsp_timer_hz(void)
{
    return 0u;
}

static inline int semihost_call(int op, const void *arg)
{
    register int r0 __asm("r0") = op;
    register const void *r1 __asm("r1") = arg;
    __asm volatile("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

void bsp_exit(int code)
{
    /* SYS_EXIT_EXTENDED: QEMU exits with `code` (plain SYS_EXIT only knows 0/1) */
    const uint32_t block[2] = {0x20026u /* ADP_Stopped_ApplicationExit */, (uint32_t)code};
    (void)semihost_call(0x20, block);
    for (;;)
    {
    }
}

void bsp_reset(void)
{
    cm7_system_reset();
}
