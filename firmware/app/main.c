/*
 * Bench application: runs a generated model (model.h, docs/contracts.md §3) on request from
 * the host, over the hproto serial protocol (firmware/protocol/hproto.h).
 *
 *   boot            -> HELLO(reason=boot)
 *   HELLO_REQ       -> HELLO(reason=reply)
 *   TILE bytes      -> the input's bytes at an offset (the inputs as one byte stream), in order,
 *                      any size up to max_payload, into the input buffers; ACK, or ERROR (host
 *                      resends, with shorter frames on a noisy line)
 *   RUN image crc   -> ACK, run, then LABELS* (label map) or TENSOR* (every output tensor's
 *                      bytes), PROFILE*, RESULT   (or ERROR); frames of at most the payload the
 *                      host asks for
 *   RESULT_REQ      -> the same frames of the last run again (or ERROR NO_RESULT)
 *   RESET           -> reboot (HELLO(reason=boot) follows)
 * Garbage never stalls the loop: the parser resynchronises on the next 0x00 delimiter, and a
 * partial frame is dropped after APP_IDLE_MS of silence.
 */
#include <string.h>

#include "bsp.h"
#include "bsp_mark.h"
#include "hproto.h"
#include "hproto_msg.h"
#include "model.h"

#define APP_FW_VERSION 0x0200u
#ifndef APP_BUILD_ID
#define APP_BUILD_ID "dev"
#endif
#ifndef APP_TILE_BYTES
#define APP_TILE_BYTES 1024u /* input bytes per TILE frame the receive buffer is sized for */
#endif
#ifndef APP_DIRECT_BYTES
#define APP_DIRECT_BYTES 16384u /* input bytes per TILE frame decoded straight into the input */
#endif
#ifndef APP_TX_PAYLOAD_MIN
#define APP_TX_PAYLOAD_MIN 1024u
#endif
#ifndef APP_IDLE_MS
#define APP_IDLE_MS 2000u
#endif
#ifdef APP_PROTOCOL_MARKS /* bench builds: every received byte's handling between region marks */
#define APP_WORK_BEGIN() BSP_MARK(BSP_MARK_REGION_BEGIN)
#define APP_WORK_END()   BSP_MARK(BSP_MARK_REGION_END)
#else
#define APP_WORK_BEGIN() ((void)0)
#define APP_WORK_END()   ((void)0)
#endif

#define APP_ROW_BYTES ((uint32_t)HARD_INPUT_ROW_BYTES)
#define APP_IN_ROWS   ((uint32_t)HARD_INPUT_ROWS)
#ifdef HARD_STREAMED /* rows go to the model from the receive buffer */
#define APP_MAX_PAYLOAD (HP_TILE_HEADER + APP_TILE_BYTES)
#else /* tiles that extend the input are decoded straight into it: no buffer limits them */
#define APP_MAX_PAYLOAD (HP_TILE_HEADER + (APP_DIRECT_BYTES > APP_TILE_BYTES ? APP_DIRECT_BYTES : APP_TILE_BYTES))
#endif
#define APP_RX_CAP  (HP_OVERHEAD + HP_TILE_HEADER + APP_TILE_BYTES)
#define APP_SINK_AT (HP_HEADER_SIZE + HP_TILE_HEADER) /* a tile's data starts here in its frame */
#ifdef HARD_NUM_CLASSES /* the graph ends in ARG_MAX: the output is a label map, sent as RLE rows */
#define APP_OUTPUT_KIND HP_OUTPUT_LABELS
#define APP_LABELS_H    ((uint32_t)HARD_LABELS_H)
#define APP_LABELS_W    ((uint32_t)HARD_LABELS_W)
#define APP_NUM_CLASSES HARD_NUM_CLASSES
#else /* every output tensor's raw bytes */
#define APP_OUTPUT_KIND HP_OUTPUT_TENSORS
#define APP_LABELS_H    0u
#define APP_LABELS_W    1u
#define APP_NUM_CLASSES 0
#endif
#define APP_TX_PAYLOAD APP_TX_PAYLOAD_MIN /* the largest output payload */
#define APP_IN_BYTES   ((uint32_t)HARD_INPUT_BYTES)

typedef char app_check_payload[(APP_MAX_PAYLOAD <= 0xFFFFu && APP_TX_PAYLOAD <= 0xFFFFu) ? 1 : -1];
typedef char app_check_rows[(APP_IN_ROWS <= 0xFFFFu && APP_LABELS_H <= 0xFFFFu && APP_LABELS_W <= 0xFFFFu) ? 1 : -1];
typedef char app_check_bytes[(APP_IN_ROWS * APP_ROW_BYTES == (uint32_t)HARD_INPUT_BYTES) ? 1 : -1];
typedef char app_check_out[(APP_TX_PAYLOAD >= HP_MIN_OUT_PAYLOAD) ? 1 : -1];

typedef struct
{
    hp_parser_t parser;
    hp_writer_t writer;
    uint16_t tx_seq;
    /* input being received */
    uint32_t image;
    uint32_t in_bytes;    /* the input's bytes [0, in_bytes) arrived (in order) */
    uint32_t in_crc;      /* their CRC-32, grown from each frame's CRC */
    size_t shift_len;     /* the tile data size shift_const is for */
    uint32_t shift_const; /* hp_crc32_shift_const(shift_len) */
    size_t out_shift_len; /* the same for the label code pieces sent */
    uint32_t out_shift_const;
    uint32_t out_max; /* payload of the output frames now (the host's RUN / RESULT_REQ) */
    /* last result (the outputs stay in place until the next TILE) */
    int have_result;
    uint32_t run_id;
    hp_result_t result;
    uint64_t layer_counts[HARD_NUM_LAYERS];
    uint64_t layer_start;
#ifdef HARD_STREAMED
    uint64_t feed_count; /* time spent running the first layers while rows were fed */
    uint32_t row_fill;   /* bytes of a row begun in row (frames need not end on a row) */
    uint8_t row[HARD_INPUT_ROW_BYTES];
#endif
    union
    { /* a received frame; while results are sent (the request decoded), a LABELS payload */
        uint8_t rx[APP_RX_CAP];
#ifdef HARD_NUM_CLASSES
        uint8_t out[APP_TX_PAYLOAD];
#endif
    } io;
    uint8_t tx[HP_HELLO_MAX > HP_ERROR_HEADER + HP_ERROR_TEXT_MAX ? HP_HELLO_MAX : HP_ERROR_HEADER + HP_ERROR_TEXT_MAX];
} app_t;

static app_t app; /* the application's whole state */

static void app_put(void *ctx, const uint8_t *data, size_t n)
{
    (void)ctx;
    bsp_uart_write(data, n);
}

static inline void app_send(app_t *a, uint8_t type, const uint8_t *payload, size_t len)
{
    (void)hp_write_frame(&a->writer, type, a->tx_seq++, payload, (uint16_t)len);
}

static void app_send_hello(app_t *a, uint8_t reason)
{
    hp_hello_t h;
    size_t n;
    memset(&h, 0, sizeof h);
    h.reason = reason;
    h.timer_unit = (uint8_t)bsp_timer_unit();
    h.fw_version = APP_FW_VERSION;
    h.max_payload = (uint16_t)APP_MAX_PAYLOAD;
    h.output_kind = (uint8_t)APP_OUTPUT_KIND;
    h.in_rows = (uint16_t)APP_IN_ROWS;
    h.in_row_bytes = (uint16_t)APP_ROW_BYTES;
    h.labels_h = (uint16_t)APP_LABELS_H;
    h.labels_w = (uint16_t)(APP_OUTPUT_KIND == HP_OUTPUT_LABELS ? APP_LABELS_W : 0u);
    h.num_classes = (uint16_t)APP_NUM_CLASSES;
    h.num_layers = HARD_NUM_LAYERS;
    h.num_inputs = HARD_NUM_INPUTS;
    h.num_outputs = HARD_NUM_OUTPUTS;
    h.arena_size = (uint32_t)HARD_ARENA_SIZE;
    h.core_clock_hz = bsp_core_clock_hz();
    h.timer_hz = bsp_timer_hz();
    h.stack_size = bsp_stack_size();
    h.output_bytes = (uint32_t)HARD_OUTPUT_BYTES;
    h.model_hash = hard_model_hash;
    h.board = bsp_board_name();
    h.build_id = APP_BUILD_ID;
    n = hp_hello_encode(&h, a->tx, sizeof a->tx);
    app_send(a, HP_MSG_HELLO, a->tx, n);
}

static void app_send_error(
    app_t *a, uint16_t code, uint16_t req_seq, uint8_t req_type, uint32_t image, uint32_t detail, const char *text)
{
    hp_error_t e;
    size_t n;
    e.code = code;
    e.req_seq = req_seq;
    e.req_type = req_type;
    e.image = image;
    e.detail = detail;
    e.text = text;
    n = hp_error_encode(&e, a->tx, sizeof a->tx);
    app_send(a, HP_MSG_ERROR, a->tx, n);
}

static void app_send_ack(app_t *a, const hp_frame_t *f, uint32_t image, uint32_t offset, uint32_t length)
{
    hp_ack_t k;
    uint8_t buf[HP_ACK_SIZE];
    k.req_seq = f->seq;
    k.req_type = f->type;
    k.status = 0;
    k.image = image;
    k.offset = offset;
    k.length = length;
    app_send(a, HP_MSG_ACK, buf, hp_ack_encode(&k, buf, sizeof buf));
}

#ifndef HARD_STREAMED
/* The inputs as one byte stream: write n bytes at offset, across input tensors. */
static void app_input_write(uint32_t offset, const uint8_t *data, size_t n)
{
    uint32_t base = 0;
    int i;
    for (i = 0; i < HARD_NUM_INPUTS && n > 0; i++)
    {
        uint32_t size = hard_inputs[i].bytes;
        if (offset < base + size)
        {
            size_t k = (size_t)(base + size - offset) < n ? (size_t)(base + size - offset) : n;
            memcpy((uint8_t *)hard_model_input(i) + (offset - base), data, k);
            data += k;
            offset += (uint32_t)k;
            n -= k;
        }
        base += size;
    }
}
#endif

#ifndef HARD_NUM_CLASSES
/* CRC-32 of every output tensor's bytes, in order. */
static uint32_t app_tensors_crc(void)
{
    uint32_t crc = 0;
    int i;
    for (i = 0; i < HARD_NUM_OUTPUTS; i++)
    {
        crc = hp_crc32(crc, hard_model_output(i), hard_outputs[i].bytes);
    }
    return crc;
}
#endif

#ifdef HARD_NUM_CLASSES
/* The CRC-32 of the label map's code so far (crc) and the n code bytes of the LABELS frame just
 * sent, from that frame's CRC (the writer's) and its 18 header bytes: no pass over the code. For
 * full frames (one size: the GF(2) shift constant is computed once). */
static uint32_t app_code_crc(app_t *a, uint32_t crc, size_t n)
{
    uint8_t hdr[HP_HEADER_SIZE];
    uint32_t head;
    hdr[0] = (uint8_t)HP_VERSION;
    hdr[1] = HP_MSG_LABELS;
    hp_put_u16(hdr + 2, (uint16_t)(a->tx_seq - 1u));
    hp_put_u16(hdr + 4, (uint16_t)(HP_LABELS_HEADER + n));
    head = hp_crc32(hp_crc32(0, hdr, sizeof hdr), a->io.out, HP_LABELS_HEADER);
    if (a->out_shift_len != n)
    {
        a->out_shift_len = n;
        a->out_shift_const = hp_crc32_shift_const(n);
    }
    return hp_crc32_combine(crc ^ head, a->writer.frame_crc, a->out_shift_const);
}

/* LABELS frames: the label map's run-length code (over the whole map, coded once, in place) cut
 * into payloads of out_max: every sending of a run, whatever its frame size, cuts the same byte
 * stream, so the host puts the pieces of several sendings together. A pair that does not fit a
 * frame's last byte straddles two frames. Returns the frame count; output_size and output_crc32 =
 * the code's bytes and CRC-32 (no pass over the map: the encoder is the host's, tested so). */
static uint16_t app_send_outputs(app_t *a)
{
    const uint8_t *labels = hard_model_labels();
    uint8_t *code = a->io.out + HP_LABELS_HEADER, pair[2];
    uint32_t pos = 0, total = APP_LABELS_H * APP_LABELS_W, sent = 0, cap = a->out_max - HP_LABELS_HEADER, crc = 0;
    size_t fill = 0, used;
    uint16_t frames = 0;
    int straddle = 0;
    while (pos < total || fill != 0u)
    {
        fill += hp_rle_encode_part(labels + pos, total - pos, code + fill, cap - fill, &used);
        pos += (uint32_t)used;
        if (pos < total && fill + 1u == cap)
        {
            (void)hp_rle_encode_part(labels + pos, total - pos, pair, sizeof pair, &used);
            pos += (uint32_t)used;
            code[fill++] = pair[0];
            straddle = 1;
        }
        hp_labels_header(a->io.out, a->result.image, a->result.run_id, sent);
        app_send(a, HP_MSG_LABELS, a->io.out, HP_LABELS_HEADER + fill);
        crc = fill == cap ? app_code_crc(a, crc, fill) : hp_crc32(crc, code, fill); /* the last: short */
        sent += (uint32_t)fill;
        frames++;
        fill = 0;
        if (straddle)
        {
            code[fill++] = pair[1];
            straddle = 0;
        }
    }
    a->result.output_size = sent;
    a->result.output_crc32 = crc; /* the code's: the host checks the pieces it put together */
    return frames;
}
#else
/* TENSOR frames: every output tensor's raw bytes in pieces. Returns the frame count. */
static uint16_t app_send_outputs(app_t *a)
{
    uint8_t buf[HP_TENSOR_HEADER];
    uint16_t frames = 0;
    int i;
    for (i = 0; i < HARD_NUM_OUTPUTS; i++)
    {
        const uint8_t *data = (const uint8_t *)hard_model_output(i);
        uint32_t offset = 0, size = hard_outputs[i].bytes;
        do
        {
            uint32_t n = size - offset < a->out_max - HP_TENSOR_HEADER ? size - offset : a->out_max - HP_TENSOR_HEADER;
            hp_tensor_header(buf, a->result.image, a->result.run_id, (uint16_t)i, offset);
            hp_writer_begin(&a->writer, HP_MSG_TENSOR, a->tx_seq++, (uint16_t)(HP_TENSOR_HEADER + n));
            hp_writer_write(&a->writer, buf, HP_TENSOR_HEADER);
            hp_writer_write(&a->writer, data + offset, n);
            (void)hp_writer_end(&a->writer);
            offset += n;
            frames++;
        } while (offset < size);
    }
    a->result.output_size = (uint32_t)HARD_OUTPUT_BYTES;
    return frames;
}
#endif

/* The outputs (LABELS or TENSOR frames), PROFILE frames, then RESULT. */
static void app_send_result(app_t *a)
{
    uint8_t buf[HP_RESULT_SIZE > HP_PROFILE_HEADER ? HP_RESULT_SIZE : HP_PROFILE_HEADER];
    uint16_t frames = 0;
    uint32_t layer = 0;

    a->result.output_frames = app_send_outputs(a);
    while (layer < (uint32_t)HARD_NUM_LAYERS)
    {
        uint32_t count = (uint32_t)HARD_NUM_LAYERS - layer, i;
        if (count > (a->out_max - HP_PROFILE_HEADER) / 8u)
        {
            count = (a->out_max - HP_PROFILE_HEADER) / 8u;
        }
        hp_profile_header(buf, a->result.image, a->result.run_id, (uint16_t)layer, (uint16_t)count);
        hp_writer_begin(&a->writer, HP_MSG_PROFILE, a->tx_seq++, (uint16_t)(HP_PROFILE_HEADER + 8u * count));
        hp_writer_write(&a->writer, buf, HP_PROFILE_HEADER);
        for (i = layer; i < layer + count; i++)
        {
            uint8_t c[8];
            hp_put_u64(c, a->layer_counts[i]);
            hp_writer_write(&a->writer, c, sizeof c);
        }
        (void)hp_writer_end(&a->writer);
        layer += count;
        frames++;
    }
    a->result.profile_frames = frames;
    app_send(a, HP_MSG_RESULT, buf, hp_result_encode(&a->result, buf, sizeof buf));
}

/* Per-layer timing: the timer (DWT->CYCCNT on the board, SysTick on the emulator) and, for the
 * emulator's instruction-count plugin, marks placed so that the timer reads stay outside. */
static void app_hook(void *ctx, int layer, int end)
{
    app_t *a = (app_t *)ctx;
    if (layer < 0 || layer >= HARD_NUM_LAYERS)
    {
        return;
    }
    if (end)
    {
        BSP_MARK(BSP_MARK_LAYER_END);
        a->layer_counts[layer] += bsp_timer_read() - a->layer_start;
    }
    else
    {
        a->layer_start = bsp_timer_read();
        BSP_MARK(BSP_MARK_LAYER_BEGIN);
    }
}

#ifdef HARD_STREAMED
/* A new input: the streamed model starts again (its first layers run band by band as rows come,
 * counted in the layer times and the run's total). */
static void app_input_begin(app_t *a)
{
    a->feed_count = 0;
    a->row_fill = 0;
    memset(a->layer_counts, 0, sizeof a->layer_counts);
    hard_model_stream_begin();
    bsp_stack_paint();
}

/* n more bytes of the input into the model, whole rows at a time (a row split between frames
 * waits in a->row). Returns hard_model_feed_rows's code. */
static int app_input_put(app_t *a, const uint8_t *p, uint32_t n)
{
    hard_profile_t prof;
    uint64_t t0 = bsp_timer_read();
    int rc = 0;
    prof.hook = app_hook;
    prof.ctx = a;
    if (a->row_fill != 0u)
    {
        uint32_t k = APP_ROW_BYTES - a->row_fill < n ? APP_ROW_BYTES - a->row_fill : n;
        memcpy(a->row + a->row_fill, p, k);
        a->row_fill += k;
        p += k;
        n -= k;
        if (a->row_fill == APP_ROW_BYTES)
        {
            a->row_fill = 0;
            rc = hard_model_feed_rows(a->row, 1, &prof);
        }
    }
    if (rc == 0 && n >= APP_ROW_BYTES)
    {
        rc = hard_model_feed_rows(p, (int)(n / APP_ROW_BYTES), &prof);
        p += n - n % APP_ROW_BYTES;
        n %= APP_ROW_BYTES;
    }
    if (rc == 0 && n != 0u)
    {
        memcpy(a->row, p, n);
        a->row_fill = n;
    }
    a->feed_count += bsp_timer_read() - t0;
    return rc;
}
#else
static void app_input_begin(app_t *a)
{
    (void)a;
}

static int app_input_put(app_t *a, const uint8_t *p, uint32_t n)
{
    app_input_write(a->in_bytes, p, n);
    return 0;
}
#endif

/* A tile's bytes that extend the input received so far (bytes had already are only acknowledged
 * again: their ACK was lost); a tile past them is refused with their count, the host goes back.
 * Offset 0 of a new image, or of an image whose RUN failed, starts the input again. */
static int app_take_bytes(app_t *a, const hp_frame_t *f, const hp_tile_t *t)
{
    uint32_t skip, n;
    int rc;
    if (t->image != a->image || a->in_bytes == 0u)
    {
        a->image = t->image;
        a->in_bytes = 0;
        a->in_crc = 0;
        app_input_begin(a);
    }
    if (t->offset > a->in_bytes)
    {
        app_send_error(a, HP_E_TILE_GAP, f->seq, f->type, t->image, a->in_bytes, "tile past the bytes received");
        return -1;
    }
    skip = a->in_bytes - t->offset;
    if (skip >= t->data_len)
    {
        return 0;
    }
    n = (uint32_t)t->data_len - skip;
    if (skip == 0u)
    { /* the input's CRC grows from the frame's CRC, without another pass over the bytes */
        if (a->shift_len != t->data_len)
        {
            a->shift_len = t->data_len;
            a->shift_const = hp_crc32_shift_const(t->data_len);
        }
        a->in_crc = hp_frame_payload_crc(f, HP_TILE_HEADER, a->in_crc, a->shift_const);
    }
    else
    {
        a->in_crc = hp_crc32(a->in_crc, t->data + skip, n);
    }
    rc = f->ext_len != 0u ? 0 : app_input_put(a, t->data + skip, n); /* a sink put it in place */
    if (rc != 0)
    {
        a->in_bytes = 0;
        app_send_error(a, HP_E_MODEL_FAILED, f->seq, f->type, t->image, (uint32_t)rc, "model run failed");
        return -1;
    }
    a->in_bytes += n;
    return 0;
}

static void app_on_tile(app_t *a, const hp_frame_t *f)
{
    hp_tile_t t;
    if (hp_tile_decode(f, &t) != 0)
    {
        app_send_error(a, HP_E_BAD_PAYLOAD, f->seq, f->type, 0, f->len, "tile too short");
        return;
    }
    if (t.data_len == 0u || t.offset > APP_IN_BYTES || t.data_len > APP_IN_BYTES - t.offset)
    {
        app_send_error(a, HP_E_BAD_TILE, f->seq, f->type, t.image, t.offset, "tile bytes out of the input");
        return;
    }
    a->have_result = 0; /* the outputs may share memory with the input */
    if (app_take_bytes(a, f, &t) != 0)
    {
        return;
    }
    app_send_ack(a, f, t.image, t.offset, (uint32_t)t.data_len);
}

#ifdef HARD_STREAMED
#define APP_FEED_COUNT(a)     ((a)->feed_count)
#define APP_STREAM_RESTART(a) ((a)->in_bytes = 0) /* the host sends the image again */
#else
#define APP_FEED_COUNT(a)     0u
#define APP_STREAM_RESTART(a) ((void)(a))
#endif

/* The output frames' payload the host asks for: 0 or more than the device's is the device's. */
static inline uint32_t app_out_payload(uint16_t max_out)
{
    if (max_out == 0u || max_out > APP_TX_PAYLOAD)
    {
        return APP_TX_PAYLOAD;
    }
    return max_out < HP_MIN_OUT_PAYLOAD ? HP_MIN_OUT_PAYLOAD : max_out;
}

static void app_on_run(app_t *a, const hp_frame_t *f)
{
    hp_run_t m;
    hard_profile_t prof;
    uint32_t crc;
    uint64_t t0, t1;
    int rc;
    if (hp_run_decode(f, &m) != 0)
    {
        app_send_error(a, HP_E_BAD_PAYLOAD, f->seq, f->type, 0, f->len, "bad RUN size");
        return;
    }
    a->out_max = app_out_payload(m.max_out);
    if (a->have_result && a->result.image == m.image && a->result.input_crc32 == m.input_crc32)
    {
        app_send_ack(a, f, m.image, 0, 0); /* a repeated RUN: same answer, no second run */
        app_send_result(a);
        return;
    }
    if (m.image != a->image || a->in_bytes != APP_IN_BYTES)
    {
        app_send_error(a, HP_E_INCOMPLETE_INPUT, f->seq, f->type, m.image, m.image == a->image ? a->in_bytes : 0u,
                       "input bytes missing");
        APP_STREAM_RESTART(a);
        return;
    }
    crc = a->in_crc;
    if (crc != m.input_crc32)
    {
        app_send_error(a, HP_E_INPUT_CRC, f->seq, f->type, m.image, crc, "input CRC mismatch");
        APP_STREAM_RESTART(a);
        return;
    }
    app_send_ack(a, f, m.image, 0, 0);

    prof.hook = app_hook;
    prof.ctx = a;
    a->in_bytes = 0; /* the run may overwrite the input */
#ifndef HARD_STREAMED
    memset(a->layer_counts, 0, sizeof a->layer_counts);
    bsp_stack_paint();
#endif
    bsp_timer_restart();
    t0 = bsp_timer_read();
    BSP_MARK(BSP_MARK_RUN_BEGIN);
    rc = hard_model_run(&prof);
    BSP_MARK(BSP_MARK_RUN_END);
    t1 = bsp_timer_read();

    a->run_id++;
    if (rc != 0)
    {
        a->have_result = 0;
        app_send_error(a, HP_E_MODEL_FAILED, f->seq, f->type, m.image, (uint32_t)rc, "model run failed");
        return;
    }
    memset(&a->result, 0, sizeof a->result);
    a->result.image = m.image;
    a->result.run_id = a->run_id;
    a->result.status = rc;
    a->result.stack_high_water = bsp_stack_high_water();
    a->result.total = t1 - t0 + APP_FEED_COUNT(a);
    a->result.num_layers = HARD_NUM_LAYERS;
    a->result.rows = (uint16_t)APP_LABELS_H;
#ifndef HARD_NUM_CLASSES /* a label map's: its code's, as it is sent (app_send_outputs) */
    a->result.output_crc32 = app_tensors_crc();
#endif
    a->result.input_crc32 = m.input_crc32;
    a->have_result = 1;
    app_send_result(a);
}

static void app_on_frame(app_t *a, const hp_frame_t *f)
{
    uint32_t image;
    uint16_t max_out;
    switch (f->type)
    {
        case HP_MSG_HELLO_REQ:
            app_send_hello(a, 1);
            break;
        case HP_MSG_TILE:
            app_on_tile(a, f);
            break;
        case HP_MSG_RUN:
            app_on_run(a, f);
            break;
        case HP_MSG_RESULT_REQ:
            if (hp_result_req_decode(f, &image, &max_out) != 0)
            {
                app_send_error(a, HP_E_BAD_PAYLOAD, f->seq, f->type, 0, f->len, "bad RESULT_REQ size");
            }
            else if (!a->have_result || a->result.image != image)
            {
                app_send_error(a, HP_E_NO_RESULT, f->seq, f->type, image, 0, "no stored result");
            }
            else
            {
                a->out_max = app_out_payload(max_out);
                app_send_result(a);
            }
            break;
        case HP_MSG_RESET:
            bsp_reset();
            break;
        default:
            app_send_error(a, HP_E_UNKNOWN_TYPE, f->seq, f->type, 0, f->type, "unknown message type");
            break;
    }
}

static void app_on_parse_error(app_t *a, int rc)
{
    static const uint16_t codes[] = {
        0, HP_E_BAD_FRAME, HP_E_BAD_FRAME, HP_E_BAD_FRAME, HP_E_BAD_CRC, HP_E_BAD_VERSION, HP_E_OVERFLOW};
    static const char *const texts[] = {
        "", "bad COBS", "short frame", "length mismatch", "bad CRC", "unsupported protocol version", "frame too long"};
    int i = -rc;
    if (i > 0 && i < (int)(sizeof codes / sizeof codes[0]))
    {
        app_send_error(a, codes[i], 0xFFFFu, 0, 0, (uint32_t)APP_MAX_PAYLOAD, texts[i]);
    }
}

/* The next received byte, or -1 after APP_IDLE_MS of silence. The wait and the UART driver's
 * read stand outside the work regions of APP_PROTOCOL_MARKS builds, as in the main loop. */
static inline int app_getc(void)
{
    int c;
    APP_WORK_END();
    c = bsp_uart_getc(APP_IDLE_MS);
    APP_WORK_BEGIN();
    return c;
}

/* One received byte into *p++, or out of the loop at a 0x00 (a delimiter) or silence. */
#define APP_READ_ONE(p, c)                                                                                             \
    if (((c) = app_getc()) <= 0)                                                                                       \
    {                                                                                                                  \
        break;                                                                                                         \
    }                                                                                                                  \
    *(p)++ = (uint8_t)(c)

/* Up to n data bytes into p, stopping at a 0x00 (a delimiter) or silence. Returns the end of the
 * bytes stored; *last = the last getc result. Sixteen bytes a loop turn: fewer branches a byte. */
static inline uint8_t *app_read_data(uint8_t *p, size_t n, int *last)
{
    uint8_t *end = p + n, *end16 = p + (n & ~(size_t)15u);
    int c = 1;
    while (p != end16)
    {
        APP_READ_ONE(p, c);
        APP_READ_ONE(p, c);
        APP_READ_ONE(p, c);
        APP_READ_ONE(p, c);
        APP_READ_ONE(p, c);
        APP_READ_ONE(p, c);
        APP_READ_ONE(p, c);
        APP_READ_ONE(p, c);
        APP_READ_ONE(p, c);
        APP_READ_ONE(p, c);
        APP_READ_ONE(p, c);
        APP_READ_ONE(p, c);
        APP_READ_ONE(p, c);
        APP_READ_ONE(p, c);
        APP_READ_ONE(p, c);
        APP_READ_ONE(p, c);
    }
    while (c > 0 && p != end)
    {
        if ((c = app_getc()) > 0)
        {
            *p++ = (uint8_t)c;
        }
    }
    *last = c;
    return p;
}

#ifndef HARD_STREAMED
/* Once a tile's header is in, its data goes straight into the input buffer when it extends the
 * bytes received (or starts an input: offset 0) within one input tensor: no copy follows, and
 * the tile's size is not bound by the receive buffer. A damaged frame written there costs
 * nothing: those bytes were not received yet (offset 0 forgets the input so far first). Other
 * frames go to the receive buffer. */
static void app_choose_sink(app_t *a)
{
    hp_parser_t *p = &a->parser;
    const uint8_t *h = p->buf;
    uint32_t image, offset, n, base = 0;
    int i;
    if (h[0] != HP_VERSION || h[1] != HP_MSG_TILE || hp_get_u16(h + 4) <= HP_TILE_HEADER)
    {
        (void)hp_parser_set_sink(p, APP_SINK_AT, NULL, 0);
        return;
    }
    image = hp_get_u32(h + HP_HEADER_SIZE);
    offset = hp_get_u32(h + HP_HEADER_SIZE + 4);
    n = hp_get_u16(h + 4) - HP_TILE_HEADER;
    for (i = 0; i < HARD_NUM_INPUTS && (offset == 0u || (image == a->image && offset == a->in_bytes)); i++)
    {
        uint32_t size = hard_inputs[i].bytes;
        if (offset - base < size && n <= size - (offset - base))
        {
            uint8_t *dst = (uint8_t *)hard_model_input(i) + (offset - base);
            if (hp_parser_set_sink(p, APP_SINK_AT, dst, n) == 0 && offset == 0u)
            {
                a->image = image;
                a->in_bytes = 0;
            }
            a->have_result = 0; /* the outputs may share memory with the input */
            return;
        }
        base += size;
    }
    (void)hp_parser_set_sink(p, APP_SINK_AT, NULL, 0);
}
#define APP_CHOOSE_SINK(a)                                                                                             \
    do                                                                                                                 \
    {                                                                                                                  \
        if ((a)->parser.ext_at == 0u && (a)->parser.len >= APP_SINK_AT)                                                \
        {                                                                                                              \
            app_choose_sink(a);                                                                                        \
        }                                                                                                              \
    } while (0)
#else
#define APP_CHOOSE_SINK(a) ((void)(a))
#endif

/* The frame's COBS blocks straight to where the parser puts them (the frame buffer, or a tile's
 * sink), the parser's state kept in registers, one block after another without a turn of the
 * main loop (a tile's header is read first on its own, to choose its sink). Returns the last
 * getc result: 0 at the frame's delimiter (not fed yet), -1 after silence, > 0 when the main
 * loop is to take the next byte (the frame buffer is full: fed, it marks the frame too long). */
static int app_read_block(app_t *a)
{
    hp_parser_t *p = &a->parser;
    hp_frame_t unused;
    int c = 1;
    for (;;)
    {
        size_t room, n = p->remaining;
        uint8_t *dst;
        APP_CHOOSE_SINK(a);
        if (p->len < APP_SINK_AT && p->len + n > APP_SINK_AT)
        {
            n = APP_SINK_AT - p->len;
        }
        dst = hp_parser_dst(p, &room);
        if (room == 0u)
        {
            return 1;
        }
        n = (size_t)(app_read_data(dst, n < room ? n : room, &c) - dst);
        p->len += n;
        p->remaining = (uint8_t)(p->remaining - n);
        if (c > 0 && p->remaining == 0u)
        {
            c = app_getc(); /* the next block's code byte, or the frame's delimiter */
            if (c <= 0)
            {
                return c;
            }
            if (p->code != 0xFFu)
            { /* the finished block (shorter than 254 bytes) implies a zero */
                dst = hp_parser_dst(p, &room);
                if (room == 0u)
                {
                    (void)hp_parser_feed(p, (uint8_t)c, &unused); /* marks the frame too long */
                    return c;
                }
                *dst = 0x00u;
                p->len++;
            }
            p->code = (uint8_t)c;
            p->remaining = (uint8_t)(c - 1);
        }
        if (c <= 0 || (p->overflow | p->bad) != 0u)
        {
            return c;
        }
    }
}

int main(void)
{
    app_t *a = &app;
    bsp_init();
    bsp_stack_paint();
    hp_parser_init(&a->parser, a->io.rx, sizeof a->io.rx);
    hp_writer_init(&a->writer, app_put, a);
    a->out_max = APP_TX_PAYLOAD;
    /* the GF(2) shift constants of the largest tile and of a full label frame, once */
    a->shift_len = APP_MAX_PAYLOAD - HP_TILE_HEADER;
    a->shift_const = hp_crc32_shift_const(a->shift_len);
    a->out_shift_len = APP_TX_PAYLOAD - HP_LABELS_HEADER;
    a->out_shift_const = hp_crc32_shift_const(a->out_shift_len);
    app_send_hello(a, 0);
    for (;;)
    {
        hp_frame_t f;
        int rc;
        int c = bsp_uart_getc(APP_IDLE_MS);
        if (c < 0)
        {
            hp_parser_reset(&a->parser); /* silence: forget any partial frame */
            continue;
        }
        APP_WORK_BEGIN();
        rc = hp_parser_feed_inline(&a->parser, (uint8_t)c, &f);
        if (rc == HP_NONE && a->parser.remaining != 0u && (a->parser.overflow | a->parser.bad) == 0u)
        {
            c = app_read_block(a);
            if (c < 0)
            {
                hp_parser_reset(&a->parser); /* silence: forget the partial frame */
            }
            else if (c == 0)
            {
                rc = hp_parser_feed(&a->parser, 0x00u, &f); /* a delimiter inside the block */
            }
        }
        if (rc == HP_FRAME)
        {
            app_on_frame(a, &f);
        }
        else if (rc < 0)
        {
            app_on_parse_error(a, rc);
        }
        APP_WORK_END();
    }
}
