/*
 * model_semihost.c - a generated host-template project (main_host.c, compiled with
 * -Dmain=hard_host_main) run on an emulated core: its stdin and stdout are input.bin and
 * output.bin in QEMU's working directory, through newlib's semihosting library (rdimon).
 * Static stdio buffers: the C library's heap is not used. Exits QEMU with main's code.
 */
#include <stddef.h>
#include <stdio.h>

#include "bsp.h"

extern void initialise_monitor_handles(void);
int hard_host_main(void);

/* A small heap of our own for the C library (its semihosting _sbrk refuses a heap above the stack,
 * and the runner's linker script puts the stack at the bottom of RAM). */
static char heap[16384] __attribute__((aligned(8)));
static size_t heap_used;

void *_sbrk(ptrdiff_t incr)
{
    if (incr < 0 || heap_used + (size_t)incr > sizeof heap)
    {
        return (void *)-1;
    }
    void *p = &heap[heap_used];
    heap_used += (size_t)incr;
    return p;
}

static char in_buf[4096];
static char out_buf[4096];

int main(void)
{
    initialise_monitor_handles();
    if (freopen("input.bin", "rb", stdin) == NULL || freopen("output.bin", "wb", stdout) == NULL)
    {
        bsp_exit(5);
    }
    (void)setvbuf(stdin, in_buf, _IOFBF, sizeof in_buf);
    (void)setvbuf(stdout, out_buf, _IOFBF, sizeof out_buf);
    const int rc = hard_host_main();
    (void)fflush(stdout);
    (void)fclose(stdout);
    bsp_exit(rc);
    return rc;
}
