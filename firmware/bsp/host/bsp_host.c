/* Host (POSIX) board: the UART is stdin/stdout, the timer is CLOCK_MONOTONIC in ns.
 * Used to run the bench application on a PC for protocol tests and fuzzing. */
#define _POSIX_C_SOURCE 200809L
#include <poll.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "bsp.h"

void bsp_init(void)
{
}
const char *bsp_board_name(void)
{
    return "host";
}
uint32_t bsp_core_clock_hz(void)
{
    return 0u;
}

void bsp_uart_write(const uint8_t *data, size_t n)
{
    while (n > 0)
    {
        ssize_t k = write(1, data, n);
        if (k <= 0)
        {
            exit(3); /* host side closed the pipe */
        }
        data += k;
        n -= (size_t)k;
    }
}

/* Read-ahead buffer: a pipe delivers many bytes per read() call. */
static uint8_t rx_buf[4096];
static size_t rx_pos, rx_len;

int bsp_uart_getc(uint32_t timeout_ms)
{
    struct pollfd pfd;
    ssize_t k;
    if (rx_pos < rx_len)
    {
        return rx_buf[rx_pos++];
    }
    pfd.fd = 0;
    pfd.events = POLLIN;
    pfd.revents = 0;
    if (poll(&pfd, 1, (int)timeout_ms) <= 0)
    {
        return -1;
    }
    k = read(0, rx_buf, sizeof rx_buf);
    if (k <= 0)
    {
        exit(0); /* end of input: the host is done */
    }
    rx_len = (size_t)k;
    rx_pos = 1;
    return rx_buf[0];
}

uint64_t bsp_timer_read(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void bsp_timer_restart(void)
{
}
uint32_t bsp_timer_unit(void)
{
    return BSP_UNIT_NANOSECONDS;
}
const char *bsp_timer_unit_name(void)
{
    return "ns";
}
uint32_t bsp_timer_hz(void)
{
    return 1000000000u;
}
void bsp_stack_paint(void)
{
}
uint32_t bsp_stack_high_water(void)
{
    return 0u;
}
uint32_t bsp_stack_size(void)
{
    return 0u;
}
void bsp_exit(int code)
{
    exit(code);
}
void bsp_reset(void)
{
    exit(99);
}
