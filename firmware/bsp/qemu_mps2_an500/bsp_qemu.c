/* QEMU mps2-an500 board support: CMSDK UART0, SysTick instruction counter, semihosting exit.
 *
 * Timing: run QEMU with `-icount shift=0` (one instruction = 1 ns of virtual time). SysTick
 * runs from the 25 MHz system clock, so one tick = 40 instructions; bsp_timer_read() returns
 * instructions. Writing SYST_CVR re-anchors the tick phase at that exact instruction, which
 * makes measurements taken after bsp_timer_restart() repeat exactly across runs. */
#include "bsp.h"
#include "bsp_cm7.h"

#define QEMU_SYSCLK_HZ     25000000u
#define QEMU_INSN_PER_TICK 40u
#define QEMU_INSN_PER_MS   1000000u /* virtual time under -icount shift=0 */

#define UART0_DATA        CM7_REG(0x40004000u)
#define UART0_STATE       CM7_REG(0x40004004u)
#define UART0_CTRL        CM7_REG(0x40004008u)
#define UART0_BAUDDIV     CM7_REG(0x40004010u)
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
    uint32_t div = (QEMU_SYSCLK_HZ + BSP_UART_BAUD / 2u) / BSP_UART_BAUD; /* as hardtool.core.uart */
    UART0_BAUDDIV = div < 16u ? 16u : div;                                /* below 16 the model drops TX bytes */
    UART0_CTRL = 0x3u;                                                    /* TX + RX enable */
    cm7_enable_irq();
    bsp_timer_restart();
}

const char *bsp_board_name(void)
{
    return "qemu-mps2-an500";
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
    return (((uint64_t)hi << 24) + (0x00FFFFFFu - val)) * QEMU_INSN_PER_TICK;
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
