/*
 * runner_qemu.c - kernel runner firmware for the emulated board (QEMU mps2-an500).
 *
 * Reads calls.bin from QEMU's working directory through semihosting, runs it with
 * hkr_execute() and writes results.bin, then exits QEMU with 0 (or 1 on an I/O error).
 *   calls.bin:   magic, program words, arena bytes, number of calls; program; arena
 *   results.bin: magic, calls run, status per call; arena after the calls
 * Program and arena live in the machine's 16 MB bulk RAM at RUN_PROG_BASE (set per core from
 * firmware/cores/<core>.json; tests are not bound by a chip's SRAM, the model firmware is).
 */
#include <stdint.h>

#include "bsp.h"
#include "kernel_runner.h"

#ifndef RUN_PROG_BASE
#define RUN_PROG_BASE 0x60000000u /* mps2-an500 */
#endif
#define RUN_PROG_MAX   0x00100000u
#define RUN_ARENA_BASE (RUN_PROG_BASE + RUN_PROG_MAX)
#define RUN_ARENA_MAX  0x00F00000u
#define RUN_MAX_CALLS  4096

#define SH_OPEN  0x01
#define SH_CLOSE 0x02
#define SH_WRITE 0x05
#define SH_READ  0x06

static int32_t run_status[RUN_MAX_CALLS];

static inline int32_t semihost(int32_t op, const void *arg)
{
    register int32_t r0 __asm("r0") = op;
    register const void *r1 __asm("r1") = arg;
    __asm volatile("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

static int32_t sh_open(const char *name, int32_t len, int32_t mode)
{
    const uint32_t a[3] = {(uint32_t)(uintptr_t)name, (uint32_t)mode, (uint32_t)len};
    return semihost(SH_OPEN, a);
}

/* Reads exactly n bytes; 0 on success. */
static int32_t sh_read(int32_t fd, void *buf, uint32_t n)
{
    const uint32_t a[3] = {(uint32_t)fd, (uint32_t)(uintptr_t)buf, n};
    return semihost(SH_READ, a);
}

static int32_t sh_write(int32_t fd, const void *buf, uint32_t n)
{
    const uint32_t a[3] = {(uint32_t)fd, (uint32_t)(uintptr_t)buf, n};
    return semihost(SH_WRITE, a);
}

static void sh_close(int32_t fd)
{
    const uint32_t a[1] = {(uint32_t)fd};
    (void)semihost(SH_CLOSE, a);
}

int main(void)
{
    uint32_t head[4];
    int32_t *prog = (int32_t *)RUN_PROG_BASE;
    uint8_t *arena = (uint8_t *)RUN_ARENA_BASE;
    int32_t fd = sh_open("calls.bin", 9, 1 /* rb */);
    if (fd < 0 || sh_read(fd, head, sizeof head) != 0 || head[0] != HKR_MAGIC || head[1] * 4u > RUN_PROG_MAX ||
        head[2] > RUN_ARENA_MAX || head[3] > RUN_MAX_CALLS || sh_read(fd, prog, head[1] * 4u) != 0 ||
        sh_read(fd, arena, head[2]) != 0)
    {
        bsp_exit(1);
    }
    sh_close(fd);
    const int32_t n = hkr_execute(prog, (int32_t)head[1], arena, run_status, (int32_t)head[3]);
    const uint32_t out_head[2] = {HKR_MAGIC, (uint32_t)n};
    fd = sh_open("results.bin", 11, 5 /* wb */);
    if (fd < 0 || sh_write(fd, out_head, sizeof out_head) != 0 || sh_write(fd, run_status, head[3] * 4u) != 0 ||
        sh_write(fd, arena, head[2]) != 0)
    {
        bsp_exit(1);
    }
    sh_close(fd);
    bsp_exit(n < 0 ? 2 : 0);
}
