/*
 * MLPerf Tiny / EEMBC ULP-MLPerf device-under-test firmware for a generated model (model.h).
 *
 * Speaks the text protocol of the MLPerf Tiny benchmark runner (mlcommons/tiny, benchmark/runner;
 * the DUT side is benchmark/api): commands end with '%', every reply ends with "m-ready".
 *   name            -> m-name-dut-[hardtool]
 *   profile         -> m-profile-[ULPMark for tinyML Firmware V0.0.1], m-model-[MODEL]
 *                      (MODEL: the benchmark's name, kws01 vww01 ic01 ad01 sww01, that the runner
 *                      looks up in its tests files)
 *   timestamp       -> m-lap-us-N
 *   db load N       -> m-[Expecting N bytes]          (N = the model's input, see MLPERF_INPUT)
 *   db HEXHEX...    -> bytes appended; m-load-done once N bytes arrived
 *   db print        -> m-buffer-xx-xx-... (8 bytes a line)
 *   infer N W       -> m-warmup-start-W, W runs, m-warmup-done, m-infer-start-N, m-lap-us-T0,
 *                      exactly N runs (m-infer-progress-K about once a second of a long
 *                      window), m-lap-us-T1, m-infer-done, m-results-[...]
 *   results         -> m-results-[...] as the benchmark's reference firmware prints them:
 *                      classifiers every output value dequantised ("%0.3f", comma-separated);
 *                      AD (MLPERF_RESULTS_MSE) one anomaly score, the mean squared error of the
 *                      dequantised output against the float input
 *   anything else   -> e-[Unknown command: WORD]
 * Every timestamp line is followed by m-lap-UNIT-COUNT with the raw timer count (cycles on the
 * board, instructions on the emulated board, whose m-lap-us is QEMU's virtual time under
 * -icount shift=0: 1 ns per instruction, not a real board's microseconds).
 * Each run copies the loaded input into the model's input buffers first (the run may overwrite
 * them), so the N timed runs include one copy of the input each.
 */
#include <string.h>

#include "bsp.h"
#include "model.h"

#define MLPERF_INPUT_RAW     0 /* the input tensors' bytes, in order */
#define MLPERF_INPUT_UINT8   1 /* uint8 pixels of an int8 input: each byte minus 128 (IC, VWW) */
#define MLPERF_INPUT_FLOAT32 2 /* float32 values of an int8 input, quantised here (AD) */
#ifndef MLPERF_INPUT
#define MLPERF_INPUT MLPERF_INPUT_RAW
#endif
#ifndef MLPERF_MODEL_NAME
#define MLPERF_MODEL_NAME "model"
#endif
#define MLPERF_RESULTS_SCORES 0 /* every output value, dequantised (the classifiers) */
#define MLPERF_RESULTS_MSE    1 /* one anomaly score (AD) */
#ifndef MLPERF_RESULTS
#define MLPERF_RESULTS MLPERF_RESULTS_SCORES
#endif
#if MLPERF_RESULTS == MLPERF_RESULTS_MSE && MLPERF_INPUT != MLPERF_INPUT_FLOAT32
#error "the anomaly score needs the float32 input (MLPERF_INPUT_FLOAT32)"
#endif
#define MLPERF_FW_VERSION "ULPMark for tinyML Firmware V0.0.1"
#define MLPERF_CMD_SIZE   80u
#define MLPERF_DB_BYTES   (MLPERF_INPUT == MLPERF_INPUT_FLOAT32 ? 4u * HARD_INPUT_BYTES : HARD_INPUT_BYTES)

typedef struct
{
    char cmd[MLPERF_CMD_SIZE + 1u];
    uint32_t cmd_len;
    uint32_t db_size; /* bytes announced by "db load" */
    uint32_t db_pos;  /* bytes received */
    int have_run;
    uint8_t db[MLPERF_DB_BYTES] __attribute__((aligned(4)));
} dut_t;

static dut_t dut; /* the firmware's whole state */

/* ---------------------------------------------------------------- output */

static void put(const char *s)
{
    bsp_uart_write((const uint8_t *)s, strlen(s));
}

static void put_u64(uint64_t v)
{
    char buf[21];
    int i = 20;
    buf[i] = 0;
    do
    {
        buf[--i] = (char)('0' + (int)(v % 10u));
        v /= 10u;
    } while (v != 0u);
    put(buf + i);
}

static void put_hex2(uint8_t v)
{
    static const char digits[] = "0123456789abcdef";
    char buf[3] = {digits[v >> 4], digits[v & 15u], 0};
    put(buf);
}

/* f as printf's "%0.3f" does (exact ties to even), without a printf. */
static void put_fixed3(float f)
{
    double a = f < 0.0f ? -(double)f : (double)f;
    double d, r;
    uint64_t v;
    if (f != f)
    {
        put("nan");
        return;
    }
    if (a > 1e15)
    {
        put(f < 0.0f ? "-inf" : "inf");
        return;
    }
    d = a * 1000.0;
    v = (uint64_t)d;
    r = d - (double)v;
    if (r > 0.5 || (r == 0.5 && (v & 1u) != 0u))
    {
        v++;
    }
    if (f < 0.0f && v != 0u)
    {
        put("-");
    }
    put_u64(v / 1000u);
    {
        char frac[5] = {'.', (char)('0' + (int)(v / 100u % 10u)), (char)('0' + (int)(v / 10u % 10u)),
                        (char)('0' + (int)(v % 10u)), 0};
        put(frac);
    }
}

static void timestamp(void)
{
    uint64_t t = bsp_timer_read();
    uint32_t hz = bsp_timer_hz();
    /* no clock (the emulator counts instructions): virtual time at 1 ns per instruction */
    uint64_t us = hz != 0u ? t * 1000000u / hz : t / 1000u;
    put("m-lap-us-");
    put_u64(us);
    put("\r\nm-lap-");
    put(bsp_timer_unit_name());
    put("-");
    put_u64(t);
    put("\r\n");
}

/* ---------------------------------------------------------------- model */

/* One output value as a real number (float32 as is; quantised: scale * (q - zero point)). */
static float output_value(const hard_tensor_info *t, const void *data, uint32_t i)
{
    switch (t->type)
    {
        case HARD_TYPE_FLOAT32:
            return ((const float *)data)[i];
        case HARD_TYPE_INT32:
            return (float)((const int32_t *)data)[i];
        case HARD_TYPE_UINT8:
            return t->scale == 0.0f ? (float)((const uint8_t *)data)[i]
                                    : t->scale * (float)((int32_t)((const uint8_t *)data)[i] - t->zero_point);
        default:
            return t->scale * (float)((int32_t)((const int8_t *)data)[i] - t->zero_point);
    }
}

static uint32_t element_size(const hard_tensor_info *t)
{
    return (t->type == HARD_TYPE_FLOAT32 || t->type == HARD_TYPE_INT32) ? 4u : 1u;
}

#if MLPERF_RESULTS == MLPERF_RESULTS_MSE
/* The reference AD firmware's anomaly score: mean of (dequantised output - float input)^2,
 * summed in float in element order. */
static float anomaly_score(void)
{
    const hard_tensor_info *t = &hard_outputs[0];
    const void *data = hard_model_output(0);
    uint32_t n = t->bytes / element_size(t);
    float sum = 0.0f;
    for (uint32_t i = 0; i < n; i++)
    {
        float x, d;
        memcpy(&x, dut.db + 4u * i, sizeof x);
        d = output_value(t, data, i) - x;
        sum += d * d;
    }
    return sum / (float)n;
}

static void results(void)
{
    put("m-results-[");
    put_fixed3(dut.have_run ? anomaly_score() : 0.0f);
    put("]\r\n");
}
#else
static void results(void)
{
    int first = 1;
    put("m-results-[");
    for (int k = 0; k < HARD_NUM_OUTPUTS; k++)
    {
        const hard_tensor_info *t = &hard_outputs[k];
        const void *data = hard_model_output(k);
        for (uint32_t i = 0; i < t->bytes / element_size(t); i++)
        {
            if (!first)
            {
                put(",");
            }
            first = 0;
            put_fixed3(dut.have_run ? output_value(t, data, i) : 0.0f);
        }
    }
    put("]\r\n");
}
#endif

/* The loaded db bytes into the input buffers, converted as MLPERF_INPUT says. */
static void load_tensor(void)
{
    uint32_t at = 0;
    for (int k = 0; k < HARD_NUM_INPUTS; k++)
    {
        const hard_tensor_info *t = &hard_inputs[k];
        uint8_t *dst = (uint8_t *)hard_model_input(k);
        for (uint32_t i = 0; i < t->bytes; i++, at++)
        {
#if MLPERF_INPUT == MLPERF_INPUT_UINT8
            dst[i] = (uint8_t)(dut.db[at] ^ 0x80u); /* p - 128 as int8 */
#elif MLPERF_INPUT == MLPERF_INPUT_FLOAT32
            float x, q;
            int32_t r;
            memcpy(&x, dut.db + 4u * at, sizeof x);
            q = x / t->scale;
            q = q < -1e6f ? -1e6f : (q > 1e6f ? 1e6f : q);
            r = (int32_t)(q < 0.0f ? q - 0.5f : q + 0.5f) + t->zero_point; /* round half away */
            dst[i] = (uint8_t)(int8_t)(r < -128 ? -128 : (r > 127 ? 127 : r));
#else
            dst[i] = dut.db[at];
#endif
        }
    }
}

static int run_once(void)
{
    load_tensor();
    return hard_model_run(NULL);
}

/* ---------------------------------------------------------------- commands */

static int parse_uint(const char *s, uint32_t *out)
{
    uint32_t v = 0;
    if (s == NULL || *s == 0)
    {
        return -1;
    }
    for (; *s; s++)
    {
        if (*s < '0' || *s > '9' || v > 100000000u)
        {
            return -1;
        }
        v = v * 10u + (uint32_t)(*s - '0');
    }
    *out = v;
    return 0;
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
    {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f')
    {
        return c - 'a' + 10;
    }
    return (c >= 'A' && c <= 'F') ? c - 'A' + 10 : -1;
}

static void db_print(void)
{
    for (uint32_t i = 0; i < dut.db_pos; i++)
    {
        if (i % 8u == 0u)
        {
            put("m-buffer-");
        }
        put_hex2(dut.db[i]);
        put((i + 1u) % 8u == 0u || i + 1u == dut.db_pos ? "\r\n" : "-");
    }
}

static void db_load(const char *arg)
{
    uint32_t n;
    if (parse_uint(arg, &n) != 0 || n == 0u)
    {
        put("e-[Command 'db load' requires the # of bytes]\r\n");
        return;
    }
    if (n != MLPERF_DB_BYTES)
    {
        put("e-[The model's input is ");
        put_u64(MLPERF_DB_BYTES);
        put(" bytes, not ");
        put_u64(n);
        put("]\r\n");
        return;
    }
    dut.db_size = n;
    dut.db_pos = 0;
    put("m-[Expecting ");
    put_u64(n);
    put(" bytes]\r\n");
}

static void db_hex(const char *hex)
{
    size_t n = strlen(hex);
    if (n % 2u != 0u)
    {
        put("e-[Insufficent number of hex digits]\r\n");
        return;
    }
    for (size_t i = 0; i < n && dut.db_pos < dut.db_size; i += 2u)
    {
        int hi = hex_digit(hex[i]), lo = hex_digit(hex[i + 1u]);
        if (hi < 0 || lo < 0)
        {
            put("e-[Invalid hex digit]\r\n");
            return;
        }
        dut.db[dut.db_pos++] = (uint8_t)(hi * 16 + lo);
        if (dut.db_pos == dut.db_size)
        {
            put("m-load-done\r\n");
        }
    }
}

static void db_command(char *arg, char *rest)
{
    if (arg == NULL)
    {
        put("e-[Command 'db' requires a subcommand]\r\n");
    }
    else if (strcmp(arg, "load") == 0)
    {
        db_load(rest);
    }
    else if (strcmp(arg, "print") == 0)
    {
        db_print();
    }
    else
    {
        db_hex(arg);
    }
}

/* The N timed runs between two timestamps. A window longer than a second (of the board's time:
 * cycles at its clock, or instructions at 1 ns on the emulated board) prints m-infer-progress-K
 * about once a second, so a host that waits a fixed time for each line (the runner: 30 s) keeps
 * waiting through a window of many seconds on a slow emulator; the runner ignores these lines. */
static int timed_runs(uint32_t n)
{
    uint32_t hz = bsp_timer_hz();
    uint64_t second = hz != 0u ? hz : 1000000000u, next;
    int rc = 0;
    timestamp();
    next = bsp_timer_read() + second;
    for (uint32_t i = 0; i < n; i++)
    {
        rc |= run_once();
        if (bsp_timer_read() >= next && i + 1u < n)
        {
            put("m-infer-progress-");
            put_u64(i + 1u);
            put("\r\n");
            next += second;
        }
    }
    timestamp();
    return rc;
}

static void infer(const char *n_arg, const char *w_arg)
{
    uint32_t n = 1, w = 10, i;
    if ((n_arg && (parse_uint(n_arg, &n) != 0 || n == 0u)) || (w_arg && parse_uint(w_arg, &w) != 0))
    {
        put("e-[Inference iterations must be >0, warmups >=0]\r\n");
        return;
    }
    if (dut.db_size == 0u || dut.db_pos != dut.db_size)
    {
        put("e-[Load the input with db load / db first]\r\n");
        return;
    }
    put("m-warmup-start-");
    put_u64(w);
    put("\r\n");
    for (i = 0; i < w; i++)
    {
        (void)run_once();
    }
    put("m-warmup-done\r\nm-infer-start-");
    put_u64(n);
    put("\r\n");
    int rc = timed_runs(n);
    dut.have_run = rc == 0;
    put(rc == 0 ? "m-infer-done\r\n" : "e-[hard_model_run failed]\r\n");
    results();
}

/* Splits the command at spaces (at most three words) and runs it. */
static void command(char *line)
{
    char *words[3] = {NULL, NULL, NULL};
    int n = 0;
    for (char *p = line; *p && n < 3;)
    {
        while (*p == ' ')
        {
            *p++ = 0;
        }
        if (*p)
        {
            words[n++] = p;
            while (*p && *p != ' ')
            {
                p++;
            }
        }
    }
    if (words[0] == NULL)
    {
        /* an empty command: just the ready prompt */
    }
    else if (strcmp(words[0], "name") == 0)
    {
        put("m-name-dut-[hardtool]\r\n");
    }
    else if (strcmp(words[0], "profile") == 0)
    {
        put("m-profile-[" MLPERF_FW_VERSION "]\r\nm-model-[" MLPERF_MODEL_NAME "]\r\n");
    }
    else if (strcmp(words[0], "timestamp") == 0)
    {
        timestamp();
    }
    else if (strcmp(words[0], "db") == 0)
    {
        db_command(words[1], words[2]);
    }
    else if (strcmp(words[0], "infer") == 0)
    {
        infer(words[1], words[2]);
    }
    else if (strcmp(words[0], "results") == 0)
    {
        results();
    }
    else if (strcmp(words[0], "help") == 0)
    {
        put(MLPERF_FW_VERSION "\r\nname, profile, timestamp, db load N, db HEX.., db print, infer N [W=10], "
                              "results, help\r\n");
    }
    else
    {
        put("e-[Unknown command: ");
        put(words[0]);
        put("]\r\n");
    }
    put("m-ready\r\n");
}

int main(void)
{
    bsp_init();
    put("m-timestamp-mode-performance\r\n");
    timestamp();
    put("m-init-done\r\nm-ready\r\n");
    for (;;)
    {
        int c = bsp_uart_getc(1000u);
        if (c < 0)
        {
            continue;
        }
        if (c == '%')
        {
            dut.cmd[dut.cmd_len] = 0;
            command(dut.cmd);
            dut.cmd_len = 0;
        }
        else if (c != '\r' && c != '\n' && dut.cmd_len < MLPERF_CMD_SIZE)
        {
            dut.cmd[dut.cmd_len++] = (char)c;
        }
    }
}
