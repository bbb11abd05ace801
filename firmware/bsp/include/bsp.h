/*
 * bsp.h — the small board interface the bench application needs. One implementation per
 * board in firmware/bsp/<board>/: startup + linker script + UART + timer + exit + stack.
 */
#ifndef BSP_H
#define BSP_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#ifndef BSP_UART_BAUD
#define BSP_UART_BAUD 115200u
#endif
_Static_assert(BSP_UART_BAUD > 0u, "BSP_UART_BAUD must be a positive baud rate");

/* timer units (same values as the protocol's HP_UNIT_*) */
#define BSP_UNIT_CYCLES       0u
#define BSP_UNIT_INSTRUCTIONS 1u
#define BSP_UNIT_NANOSECONDS  2u

#define BSP_STACK_PATTERN 0xA5A5A5A5u

/* Clocks, caches, UART at BSP_UART_BAUD, timer. Call first. */
void bsp_init(void);
const char *bsp_board_name(void);
uint32_t bsp_core_clock_hz(void);

/* Blocking write of n bytes. */
void bsp_uart_write(const uint8_t *data, size_t n);
/* One received byte (0..255), or -1 when nothing arrived within timeout_ms (0 = just poll). */
int bsp_uart_getc(uint32_t timeout_ms);

/* The board's CRC unit, where it has one and the build sets HP_CRC32_BSP (board.json cflags):
 * *crc = the protocol's CRC-32 (zlib's crc32(*crc, data, n)) and 0, or -1 when the unit is not
 * there or failed its self-test at bsp_init (the protocol then uses its tables). */
int bsp_crc32(uint32_t *crc, const void *data, size_t n);

/* Monotonic 64-bit counter in bsp_timer_unit() units. */
uint64_t bsp_timer_read(void);
/* Re-anchor the counter so the next measurements do not depend on earlier timing
 * (on the emulator this makes instruction counts exactly repeatable). */
void bsp_timer_restart(void);
uint32_t bsp_timer_unit(void);         /* BSP_UNIT_* */
const char *bsp_timer_unit_name(void); /* "cycles", "instructions" or "ns" */
uint32_t bsp_timer_hz(void);           /* counts per second, 0 when not a time (instructions) */

/* Fill the unused stack with BSP_STACK_PATTERN (below the caller's frame). */
void bsp_stack_paint(void);
/* Deepest stack use in bytes since the last paint. */
uint32_t bsp_stack_high_water(void);
uint32_t bsp_stack_size(void);

/* Stop: the emulator exits with code; the board resets (code != 0) or idles. */
void bsp_exit(int code) __attribute__((noreturn));
/* Reboot the firmware (system reset). */
void bsp_reset(void) __attribute__((noreturn));

#ifdef __cplusplus
}
#endif
#endif /* BSP_H */
