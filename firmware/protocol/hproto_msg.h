/*
 * hproto message payloads (little-endian). Layouts, byte offsets in brackets:
 *
 * HELLO (device -> host, HP_HELLO_FIXED bytes then two length-prefixed strings)
 *   [0] u8 proto_version  [1] u8 reason (0 boot, 1 reply)  [2] u8 timer_unit
 *   [3] u8 output_kind (HP_OUTPUT_LABELS: LABELS frames; HP_OUTPUT_TENSORS: TENSOR frames)
 *   [4] u16 fw_version  [6] u16 max_payload  [8] u16 in_rows  [10] u16 in_row_bytes
 *   [12] u16 labels_h  [14] u16 labels_w  [16] u16 num_classes (labels: 0 otherwise)
 *   [18] u16 num_layers  [20] u16 num_inputs  [22] u16 num_outputs  [24] u32 arena_size
 *   [28] u32 core_clock_hz  [32] u32 timer_hz  [36] u32 stack_size  [40] u32 output_bytes
 *   [44] char model_hash[64]
 *   [108] u8 n, char board[n]   then u8 m, char build_id[m]
 *   The input (every input tensor's bytes in order: in_rows rows of in_row_bytes) travels as
 *   TILE frames of any size up to max_payload, each at a byte offset, in order.
 * ACK     [0] u16 req_seq [2] u8 req_type [3] u8 status [4] u32 image [8] u32 offset
 *         [12] u32 length (a TILE's bytes; 0, 0 for RUN)
 * LABELS  [0] u32 image [4] u32 run_id [8] u32 offset [12] bytes [offset, offset + n) of the
 *         label map's run-length code (pairs (count 1..255, value) over the whole map, row after
 *         row; a pair may straddle two frames): any frame size, the pieces of every sending of
 *         one run fit together
 * TENSOR  [0] u32 image [4] u32 run_id [8] u16 tensor [10] u16 0 [12] u32 byte offset [16] data:
 *         a piece of output tensor `tensor`'s raw bytes
 * PROFILE [0] u32 image [4] u32 run_id [8] u16 first_layer [10] u16 count [12] u64 counts[count]
 * RESULT  [0] u32 image [4] u32 run_id [8] i32 status [12] u32 stack_high_water [16] u64 total
 *         [24] u16 num_layers [26] u16 rows (label rows; 0 for tensors) [28] u16 output_frames
 *         [30] u16 profile_frames [32] u32 output_crc32 (of the label map's run-length code, or of
 *         every output tensor's bytes in order) [36] u32 input_crc32 [40] u32 output_size (bytes of the
 *         label map's run-length code, or of the output tensors)
 * ERROR   [0] u16 code [2] u16 req_seq [4] u8 req_type [5] u8 0 [6] u16 0 [8] u32 image
 *         [12] u32 detail [16] char text[] (not NUL-terminated, <= HP_ERROR_TEXT_MAX)
 * TILE    [0] u32 image [4] u32 offset [8] data: the input's bytes [offset, offset + n); the
 *         device takes them at or before the bytes it has (a gap: ERROR TILE_GAP). The data may
 *         have been put straight into the input buffer (a parser sink): then it is at ext.
 * RUN     [0] u32 image [4] u32 input_crc32 (CRC-32 of the whole input) [8] u16 max_out
 *         [10] u16 0: the largest payload of the output frames (0: the device's own;
 *         at least HP_MIN_OUT_PAYLOAD) — short frames survive a noisy line
 * RESULT_REQ [0] u32 image [4] u16 max_out [6] u16 0
 */
#ifndef HPROTO_MSG_H
#define HPROTO_MSG_H

#include "hproto.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct
{
    uint8_t reason;
    uint8_t timer_unit;
    uint8_t output_kind;
    uint16_t fw_version;
    uint16_t max_payload;
    uint16_t in_rows, in_row_bytes;
    uint16_t labels_h, labels_w;
    uint16_t num_classes, num_layers;
    uint16_t num_inputs, num_outputs;
    uint32_t arena_size;
    uint32_t core_clock_hz;
    uint32_t timer_hz;
    uint32_t stack_size;
    uint32_t output_bytes;
    const char *model_hash; /* 64 hex chars (shorter is zero-padded) */
    const char *board;      /* <= HP_HELLO_STR_MAX chars */
    const char *build_id;   /* <= HP_HELLO_STR_MAX chars */
} hp_hello_t;

typedef struct
{
    uint16_t req_seq;
    uint8_t req_type;
    uint8_t status;
    uint32_t image;
    uint32_t offset, length;
} hp_ack_t;

typedef struct
{
    uint32_t image, run_id;
    int32_t status;
    uint32_t stack_high_water;
    uint64_t total;
    uint16_t num_layers, rows, output_frames, profile_frames;
    uint32_t output_crc32, input_crc32;
    uint32_t output_size;
} hp_result_t;

typedef struct
{
    uint16_t code;
    uint16_t req_seq;
    uint8_t req_type;
    uint32_t image;
    uint32_t detail;
    const char *text;
} hp_error_t;

typedef struct
{
    uint32_t image;
    uint32_t offset;
    const uint8_t *data;
    size_t data_len;
} hp_tile_t;

typedef struct
{
    uint32_t image;
    uint32_t input_crc32;
    uint16_t max_out; /* largest output payload the host asks for (0: the device's own) */
} hp_run_t;

/* Encoders return the payload size written to out (cap >= the message's maximum). */
size_t hp_hello_encode(const hp_hello_t *m, uint8_t *out, size_t cap);
size_t hp_ack_encode(const hp_ack_t *m, uint8_t *out, size_t cap);
size_t hp_result_encode(const hp_result_t *m, uint8_t *out, size_t cap);
size_t hp_error_encode(const hp_error_t *m, uint8_t *out, size_t cap);
size_t hp_tile_encode_header(const hp_tile_t *m, uint8_t *out, size_t cap);
size_t hp_run_encode(const hp_run_t *m, uint8_t *out, size_t cap);
/* Stream headers for LABELS / TENSOR / PROFILE (the body follows through hp_writer_write). */
void hp_labels_header(uint8_t out[HP_LABELS_HEADER], uint32_t image, uint32_t run_id, uint32_t offset);
void hp_tensor_header(uint8_t out[HP_TENSOR_HEADER], uint32_t image, uint32_t run_id, uint16_t tensor, uint32_t offset);
void hp_profile_header(
    uint8_t out[HP_PROFILE_HEADER], uint32_t image, uint32_t run_id, uint16_t first_layer, uint16_t count);

/* Decoders return 0, or -1 when the payload size is wrong for the type. */
int hp_tile_decode(const hp_frame_t *f, hp_tile_t *m);
int hp_run_decode(const hp_frame_t *f, hp_run_t *m);
int hp_result_req_decode(const hp_frame_t *f, uint32_t *image, uint16_t *max_out);
int hp_ack_decode(const hp_frame_t *f, hp_ack_t *m);
int hp_result_decode(const hp_frame_t *f, hp_result_t *m);

#ifdef __cplusplus
}
#endif
#endif /* HPROTO_MSG_H */
