/* libFuzzer target for the firmware-side parser and decoders:
 *   clang -fsanitize=fuzzer,address,undefined -I. fuzz_parser.c hproto.c hproto_msg.c -o fuzz_parser
 * Checks: no crash / UB on any input; every accepted frame re-encodes to a stream the parser
 * accepts again with identical content; RLE decode(encode(x)) == x. */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hproto.h"
#include "hproto_msg.h"

#define FUZZ_CAP 300u /* small on purpose: exercises the overflow path */

typedef struct
{
    uint8_t buf[2 * (FUZZ_CAP + 16u)];
    size_t len;
} sink_t;

static void sink_put(void *ctx, const uint8_t *data, size_t n)
{
    sink_t *s = (sink_t *)ctx;
    assert(s->len + n <= sizeof s->buf);
    memcpy(s->buf + s->len, data, n);
    s->len += n;
}

static void check_reencode(const hp_frame_t *f)
{
    sink_t sink;
    hp_writer_t w;
    hp_parser_t p;
    uint8_t buf[FUZZ_CAP];
    hp_frame_t g;
    size_t i;
    int got = 0;
    sink.len = 0;
    hp_writer_init(&w, sink_put, &sink);
    assert(hp_write_frame(&w, f->type, f->seq, f->payload, f->len) == 0);
    hp_parser_init(&p, buf, sizeof buf);
    for (i = 0; i < sink.len; i++)
    {
        int rc = hp_parser_feed(&p, sink.buf[i], &g);
        assert(rc >= 0);
        if (rc == HP_FRAME)
        {
            assert(g.type == f->type && g.seq == f->seq && g.len == f->len);
            assert(memcmp(g.payload, f->payload, f->len) == 0);
            got++;
        }
    }
    assert(got == 1);
}

static void check_decoders(const hp_frame_t *f)
{
    hp_tile_t t;
    hp_run_t r;
    hp_ack_t a;
    hp_result_t res;
    uint32_t image;
    uint16_t max_out;
    uint8_t out[FUZZ_CAP * 255u / 2u + 1u];
    (void)hp_tile_decode(f, &t);
    (void)hp_run_decode(f, &r);
    (void)hp_ack_decode(f, &a);
    (void)hp_result_decode(f, &res);
    (void)hp_result_req_decode(f, &image, &max_out);
    (void)hp_rle_decode(f->payload, f->len, out, sizeof out);
}

static void check_rle(const uint8_t *data, size_t n)
{
    uint8_t enc[512], dec[256];
    size_t m;
    long k;
    if (n > sizeof dec)
    {
        n = sizeof dec;
    }
    m = hp_rle_encode(data, n, enc, sizeof enc);
    assert(n == 0 || m > 0);
    k = hp_rle_decode(enc, m, dec, sizeof dec);
    assert(k == (long)n);
    assert(memcmp(dec, data, n) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t buf[FUZZ_CAP];
    hp_parser_t p;
    hp_frame_t f;
    size_t i;
    hp_parser_init(&p, buf, sizeof buf);
    for (i = 0; i < size; i++)
    {
        int rc = hp_parser_feed(&p, data[i], &f);
        assert(rc >= HP_ERR_OVERFLOW && rc <= HP_FRAME);
        assert(p.len <= p.cap);
        if (rc == HP_FRAME)
        {
            assert(f.len + HP_OVERHEAD <= FUZZ_CAP);
            check_reencode(&f);
            check_decoders(&f);
        }
    }
    check_rle(data, size);
    return 0;
}
