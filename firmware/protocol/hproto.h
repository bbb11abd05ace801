/*
 * hproto — the bench wire protocol shared by the firmware and the host.
 *
 * Raw frame (all integers little-endian):
 *   offset 0   u8   version      HP_VERSION
 *   offset 1   u8   type         HP_MSG_*
 *   offset 2   u16  seq          sender's frame counter (starts at 0 after boot)
 *   offset 4   u16  len          payload length
 *   offset 6   u8   payload[len]
 *   offset 6+len u32 crc32       IEEE CRC-32 (zlib.crc32) of bytes [0, 6+len)
 * On the wire each raw frame is COBS-encoded and followed by one 0x00 delimiter; the sender
 * also puts a 0x00 before each frame so a receiver resynchronises after any noise.
 *
 * C99, no globals: the parser and the writer keep all their state in explicit structs.
 */
#ifndef HPROTO_H
#define HPROTO_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define HP_VERSION     3u
#define HP_HEADER_SIZE 6u
#define HP_CRC_SIZE    4u
#define HP_OVERHEAD    (HP_HEADER_SIZE + HP_CRC_SIZE)
/* bytes on the wire for a raw frame of n bytes: COBS codes, final code, two delimiters */
#define HP_WIRE_SIZE(n) ((n) + (n) / 254u + 1u + 2u)

/* ---- message types: host -> device 0x01..0x7F, device -> host 0x81..0xFF ---- */
#define HP_MSG_HELLO_REQ  0x01u /* empty */
#define HP_MSG_TILE       0x02u /* u32 image, u32 byte offset in the input, u8 data[] (any length) */
#define HP_MSG_RUN        0x03u /* u32 image, u32 input_crc32, u16 max output payload, u16 0 */
#define HP_MSG_RESULT_REQ 0x04u /* u32 image, u16 max output payload, u16 0: the last result again */
#define HP_MSG_RESET      0x05u /* empty: reboot the firmware */
#define HP_MSG_HELLO      0x81u
#define HP_MSG_ACK        0x82u
#define HP_MSG_LABELS     0x83u
#define HP_MSG_PROFILE    0x84u
#define HP_MSG_RESULT     0x85u
#define HP_MSG_ERROR      0x86u
#define HP_MSG_TENSOR     0x87u

/* ---- error codes carried by HP_MSG_ERROR ---- */
#define HP_E_BAD_FRAME        1u /* COBS error, short frame or length mismatch */
#define HP_E_BAD_CRC          2u
#define HP_E_BAD_VERSION      3u
#define HP_E_OVERFLOW         4u /* frame longer than the receive buffer */
#define HP_E_UNKNOWN_TYPE     5u
#define HP_E_BAD_PAYLOAD      6u  /* payload size wrong for its type */
#define HP_E_BAD_TILE         7u  /* bytes out of the input's range */
#define HP_E_INCOMPLETE_INPUT 8u  /* RUN before every byte of the image arrived */
#define HP_E_INPUT_CRC        9u  /* RUN's CRC differs from the received input */
#define HP_E_MODEL_FAILED     10u /* hard_model_run returned non-zero (detail = code) */
#define HP_E_NO_RESULT        11u /* RESULT_REQ for an image without a stored result */
#define HP_E_TILE_GAP         12u /* TILE past the bytes received so far (detail = their count) */

/* ---- output kinds reported in HELLO ---- */
#define HP_OUTPUT_LABELS  0u /* a uint8 label map, run-length coded, in LABELS frames */
#define HP_OUTPUT_TENSORS 1u /* every output tensor's raw bytes, as TENSOR frames */

/* ---- timer units reported in HELLO ---- */
#define HP_UNIT_CYCLES       0u
#define HP_UNIT_INSTRUCTIONS 1u
#define HP_UNIT_NANOSECONDS  2u

/* ---- parser results ---- */
#define HP_NONE         0    /* byte consumed, no frame yet */
#define HP_FRAME        1    /* a valid frame is in the parser's frame */
#define HP_ERR_COBS     (-1) /* malformed COBS block */
#define HP_ERR_SHORT    (-2) /* shorter than header + CRC */
#define HP_ERR_LENGTH   (-3) /* len field disagrees with the frame size */
#define HP_ERR_CRC      (-4)
#define HP_ERR_VERSION  (-5)
#define HP_ERR_OVERFLOW (-6) /* did not fit the buffer; skipped up to the delimiter */

/* fixed payload sizes */
#define HP_TILE_HEADER     8u
#define HP_RUN_SIZE        12u
#define HP_RESULT_REQ_SIZE 8u
#define HP_ACK_SIZE        16u
#define HP_MIN_OUT_PAYLOAD 32u /* the smallest output payload a host may ask for */
#define HP_LABELS_HEADER   12u
#define HP_PROFILE_HEADER  12u
#define HP_TENSOR_HEADER   16u
#define HP_RESULT_SIZE     44u
#define HP_ERROR_HEADER    16u
#define HP_ERROR_TEXT_MAX  64u
#define HP_HELLO_FIXED     108u
#define HP_HELLO_STR_MAX   32u
#define HP_HELLO_MAX       (HP_HELLO_FIXED + 2u * (1u + HP_HELLO_STR_MAX))

typedef struct
{
    uint8_t version;
    uint8_t type;
    uint16_t seq;
    uint16_t len;
    const uint8_t *payload; /* points into the parser's buffer; valid until the next feed */
    const uint8_t *ext;     /* payload bytes [len - ext_len, len) are here, not in payload */
    size_t ext_len;         /* 0: the whole payload is at payload */
} hp_frame_t;

typedef struct
{
    uint8_t *buf;      /* raw frame bytes (header + payload + crc) */
    size_t cap;        /* capacity of buf: HP_OVERHEAD + largest accepted payload */
    size_t len;        /* decoded bytes so far */
    uint8_t code;      /* current COBS block code (0 = no block yet in this frame) */
    uint8_t remaining; /* data bytes left in the current block */
    uint8_t overflow;  /* 1 while skipping an oversized frame */
    uint8_t bad;       /* 1 while skipping a malformed frame */
    /* A sink (hp_parser_set_sink): decoded bytes [ext_at, ext_at + ext_len) of this frame go to
     * ext, not buf (an input tile straight into the model's input buffer); the rest to buf. */
    uint8_t *ext;
    size_t ext_at, ext_len;
} hp_parser_t;

void hp_parser_init(hp_parser_t *p, uint8_t *buf, size_t cap);
void hp_parser_reset(hp_parser_t *p);
/* Put the frame's decoded bytes [at, at + n) at dst (those decoded already are moved there): the
 * frame's CRC still covers them; a frame that fails it leaves them written and is reported as
 * before. dst NULL: none (ext_at != 0 then says the frame's sink was decided). Returns 0, or -1
 * (nothing changed) when a sink is set already, at is out of [HP_HEADER_SIZE, p->len] or more
 * than n bytes are past at. Forgotten at the frame's end. */
int hp_parser_set_sink(hp_parser_t *p, size_t at, uint8_t *dst, size_t n);
/* Where the next decoded byte goes and how many may follow it there (0: buf is full). */
static inline uint8_t *hp_parser_dst(const hp_parser_t *p, size_t *room)
{
    size_t i = p->len;
    if (i - p->ext_at < p->ext_len)
    {
        *room = p->ext_len - (i - p->ext_at);
        return p->ext + (i - p->ext_at);
    }
    i = i < p->ext_at ? i : i - p->ext_len;
    *room = i < p->cap ? p->cap - i : 0u;
    return p->buf + i;
}
/* Feed one received byte. Returns HP_NONE, HP_FRAME (then *out is filled) or an HP_ERR_*. */
int hp_parser_feed(hp_parser_t *p, uint8_t byte, hp_frame_t *out);

/* The CRC-32 of some bytes (whose CRC-32 is crc; 0 for none) followed by payload[skip:len) of a
 * frame the parser returned, from the frame's checked CRC without a pass over the payload;
 * shift_const = hp_crc32_shift_const(len - skip); skip <= len - ext_len. */
uint32_t hp_frame_payload_crc(const hp_frame_t *f, size_t skip, uint32_t crc, uint32_t shift_const);

/* The same, with the common case (a data byte inside a COBS block of a frame that fits) inline:
 * a call per received byte costs more than storing it. */
static inline int hp_parser_feed_inline(hp_parser_t *p, uint8_t byte, hp_frame_t *out)
{
    if (byte != 0u && p->remaining != 0u && p->len < p->cap && (p->overflow | p->bad) == 0u && p->ext_len == 0u)
    {
        p->buf[p->len++] = byte;
        p->remaining--;
        return HP_NONE;
    }
    return hp_parser_feed(p, byte, out);
}

/* ---- streaming frame writer: COBS-encodes while the frame is produced ---- */
typedef void (*hp_put_fn)(void *ctx, const uint8_t *data, size_t n);

typedef struct
{
    hp_put_fn put;
    void *ctx;
    uint32_t crc;
    uint16_t left;      /* payload bytes still expected */
    uint16_t code;      /* index in buf of the open block's code byte */
    uint16_t len;       /* bytes in buf: finished blocks, then the open one */
    uint8_t buf[256];   /* wire bytes not yet put (once full or at the frame's end); an open block
                       * (< 255 bytes) always fits */
    uint32_t frame_crc; /* the CRC-32 of the last frame ended (hp_writer_end) */
} hp_writer_t;

void hp_writer_init(hp_writer_t *w, hp_put_fn put, void *ctx);
void hp_writer_begin(hp_writer_t *w, uint8_t type, uint16_t seq, uint16_t len);
void hp_writer_write(hp_writer_t *w, const void *data, size_t n);
/* Returns 0, or -1 if the payload written differs from len (the frame then fails its CRC). */
int hp_writer_end(hp_writer_t *w);
/* A whole frame in one call. */
int hp_write_frame(hp_writer_t *w, uint8_t type, uint16_t seq, const void *payload, uint16_t len);

/* ---- CRC-32 (IEEE 802.3, reflected, = zlib.crc32): crc = hp_crc32(0, data, n) ----
 * Tables sliced by 8 (hp_crc32_table), or the board's CRC unit when built with HP_CRC32_BSP
 * (bsp_crc32: the STM32F7's, on the DISCO), which falls back to the tables if it is absent. */
uint32_t hp_crc32(uint32_t crc, const void *data, size_t n);
uint32_t hp_crc32_table(uint32_t crc, const void *data, size_t n);
/* x^(8n) mod P, the constant that moves a CRC over n more bytes (zlib's x2nmodp(n, 3)). */
uint32_t hp_crc32_shift_const(size_t n);
/* The CRC of A followed by B from crc1 = CRC(A), crc2 = CRC(B) and hp_crc32_shift_const(len(B))
 * (zlib's crc32_combine); the relation is linear, so it also gives CRC(B) from CRC(A + B). */
uint32_t hp_crc32_combine(uint32_t crc1, uint32_t crc2, uint32_t shift_const);

/* ---- run-length code for label maps: pairs (count 1..255, value) ----
 * Returns bytes written, or 0 when dst is too small (n > 0). Worst case: 2 * n bytes. */
size_t hp_rle_encode(const uint8_t *src, size_t n, uint8_t *dst, size_t cap);
/* As many values of src as fit dst in whole pairs: returns the bytes written, *used = the values
 * they code (a payload-sized piece of a label map). */
size_t hp_rle_encode_part(const uint8_t *src, size_t n, uint8_t *dst, size_t cap, size_t *used);
/* Returns decoded bytes, or -1 on a malformed code or when it exceeds cap. */
long hp_rle_decode(const uint8_t *src, size_t n, uint8_t *dst, size_t cap);

/* ---- little-endian helpers ---- */
static inline void hp_put_u16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}
static inline void hp_put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}
static inline void hp_put_u64(uint8_t *p, uint64_t v)
{
    hp_put_u32(p, (uint32_t)v);
    hp_put_u32(p + 4, (uint32_t)(v >> 32));
}
static inline uint16_t hp_get_u16(const uint8_t *p)
{
    return (uint16_t)(p[0] | ((uint16_t)p[1] << 8));
}
static inline uint32_t hp_get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static inline uint64_t hp_get_u64(const uint8_t *p)
{
    return (uint64_t)hp_get_u32(p) | ((uint64_t)hp_get_u32(p + 4) << 32);
}

#ifdef __cplusplus
}
#endif
#endif /* HPROTO_H */
