/* hproto message payload encoders / decoders; layouts in hproto_msg.h. */
#include "hproto_msg.h"

#include <string.h>

static inline size_t hp_put_str(uint8_t *out, const char *s, size_t max)
{
    size_t n = 0;
    if (s)
    {
        while (n < max && s[n])
        {
            n++;
        }
        memcpy(out + 1, s, n);
    }
    out[0] = (uint8_t)n;
    return n + 1u;
}

size_t hp_hello_encode(const hp_hello_t *m, uint8_t *out, size_t cap)
{
    size_t n = HP_HELLO_FIXED, i;
    if (cap < HP_HELLO_MAX)
    {
        return 0;
    }
    memset(out, 0, HP_HELLO_FIXED);
    out[0] = (uint8_t)HP_VERSION;
    out[1] = m->reason;
    out[2] = m->timer_unit;
    out[3] = m->output_kind;
    hp_put_u16(out + 4, m->fw_version);
    hp_put_u16(out + 6, m->max_payload);
    hp_put_u16(out + 8, m->in_rows);
    hp_put_u16(out + 10, m->in_row_bytes);
    hp_put_u16(out + 12, m->labels_h);
    hp_put_u16(out + 14, m->labels_w);
    hp_put_u16(out + 16, m->num_classes);
    hp_put_u16(out + 18, m->num_layers);
    hp_put_u16(out + 20, m->num_inputs);
    hp_put_u16(out + 22, m->num_outputs);
    hp_put_u32(out + 24, m->arena_size);
    hp_put_u32(out + 28, m->core_clock_hz);
    hp_put_u32(out + 32, m->timer_hz);
    hp_put_u32(out + 36, m->stack_size);
    hp_put_u32(out + 40, m->output_bytes);
    for (i = 0; m->model_hash && i < 64u && m->model_hash[i]; i++)
    {
        out[44 + i] = (uint8_t)m->model_hash[i];
    }
    n += hp_put_str(out + n, m->board, HP_HELLO_STR_MAX);
    n += hp_put_str(out + n, m->build_id, HP_HELLO_STR_MAX);
    return n;
}

size_t hp_ack_encode(const hp_ack_t *m, uint8_t *out, size_t cap)
{
    if (cap < HP_ACK_SIZE)
    {
        return 0;
    }
    hp_put_u16(out, m->req_seq);
    out[2] = m->req_type;
    out[3] = m->status;
    hp_put_u32(out + 4, m->image);
    hp_put_u32(out + 8, m->offset);
    hp_put_u32(out + 12, m->length);
    return HP_ACK_SIZE;
}

size_t hp_result_encode(const hp_result_t *m, uint8_t *out, size_t cap)
{
    if (cap < HP_RESULT_SIZE)
    {
        return 0;
    }
    hp_put_u32(out, m->image);
    hp_put_u32(out + 4, m->run_id);
    hp_put_u32(out + 8, (uint32_t)m->status);
    hp_put_u32(out + 12, m->stack_high_water);
    hp_put_u64(out + 16, m->total);
    hp_put_u16(out + 24, m->num_layers);
    hp_put_u16(out + 26, m->rows);
    hp_put_u16(out + 28, m->output_frames);
    hp_put_u16(out + 30, m->profile_frames);
    hp_put_u32(out + 32, m->output_crc32);
    hp_put_u32(out + 36, m->input_crc32);
    hp_put_u32(out + 40, m->output_size);
    return HP_RESULT_SIZE;
}

size_t hp_error_encode(const hp_error_t *m, uint8_t *out, size_t cap)
{
    size_t n = 0;
    if (cap < HP_ERROR_HEADER + HP_ERROR_TEXT_MAX)
    {
        return 0;
    }
    memset(out, 0, HP_ERROR_HEADER);
    hp_put_u16(out, m->code);
    hp_put_u16(out + 2, m->req_seq);
    out[4] = m->req_type;
    hp_put_u32(out + 8, m->image);
    hp_put_u32(out + 12, m->detail);
    while (m->text && n < HP_ERROR_TEXT_MAX && m->text[n])
    {
        out[HP_ERROR_HEADER + n] = (uint8_t)m->text[n];
        n++;
    }
    return HP_ERROR_HEADER + n;
}

size_t hp_tile_encode_header(const hp_tile_t *m, uint8_t *out, size_t cap)
{
    if (cap < HP_TILE_HEADER)
    {
        return 0;
    }
    hp_put_u32(out, m->image);
    hp_put_u32(out + 4, m->offset);
    return HP_TILE_HEADER;
}

size_t hp_run_encode(const hp_run_t *m, uint8_t *out, size_t cap)
{
    if (cap < HP_RUN_SIZE)
    {
        return 0;
    }
    hp_put_u32(out, m->image);
    hp_put_u32(out + 4, m->input_crc32);
    hp_put_u16(out + 8, m->max_out);
    hp_put_u16(out + 10, 0u);
    return HP_RUN_SIZE;
}

void hp_labels_header(uint8_t out[HP_LABELS_HEADER], uint32_t image, uint32_t run_id, uint32_t offset)
{
    hp_put_u32(out, image);
    hp_put_u32(out + 4, run_id);
    hp_put_u32(out + 8, offset);
}

void hp_tensor_header(uint8_t out[HP_TENSOR_HEADER], uint32_t image, uint32_t run_id, uint16_t tensor, uint32_t offset)
{
    hp_put_u32(out, image);
    hp_put_u32(out + 4, run_id);
    hp_put_u16(out + 8, tensor);
    hp_put_u16(out + 10, 0u);
    hp_put_u32(out + 12, offset);
}

void hp_profile_header(
    uint8_t out[HP_PROFILE_HEADER], uint32_t image, uint32_t run_id, uint16_t first_layer, uint16_t count)
{
    hp_put_u32(out, image);
    hp_put_u32(out + 4, run_id);
    hp_put_u16(out + 8, first_layer);
    hp_put_u16(out + 10, count);
}

int hp_tile_decode(const hp_frame_t *f, hp_tile_t *m)
{
    if (f->len < HP_TILE_HEADER || (f->ext_len != 0u && f->len - f->ext_len != HP_TILE_HEADER))
    {
        return -1;
    }
    m->image = hp_get_u32(f->payload);
    m->offset = hp_get_u32(f->payload + 4);
    m->data = f->ext_len != 0u ? f->ext : f->payload + HP_TILE_HEADER;
    m->data_len = (size_t)f->len - HP_TILE_HEADER;
    return 0;
}

int hp_run_decode(const hp_frame_t *f, hp_run_t *m)
{
    if (f->len != HP_RUN_SIZE)
    {
        return -1;
    }
    m->image = hp_get_u32(f->payload);
    m->input_crc32 = hp_get_u32(f->payload + 4);
    m->max_out = hp_get_u16(f->payload + 8);
    return 0;
}

int hp_result_req_decode(const hp_frame_t *f, uint32_t *image, uint16_t *max_out)
{
    if (f->len != HP_RESULT_REQ_SIZE)
    {
        return -1;
    }
    *image = hp_get_u32(f->payload);
    *max_out = hp_get_u16(f->payload + 4);
    return 0;
}

int hp_ack_decode(const hp_frame_t *f, hp_ack_t *m)
{
    if (f->len != HP_ACK_SIZE)
    {
        return -1;
    }
    m->req_seq = hp_get_u16(f->payload);
    m->req_type = f->payload[2];
    m->status = f->payload[3];
    m->image = hp_get_u32(f->payload + 4);
    m->offset = hp_get_u32(f->payload + 8);
    m->length = hp_get_u32(f->payload + 12);
    return 0;
}

int hp_result_decode(const hp_frame_t *f, hp_result_t *m)
{
    const uint8_t *p = f->payload;
    if (f->len != HP_RESULT_SIZE)
    {
        return -1;
    }
    m->image = hp_get_u32(p);
    m->run_id = hp_get_u32(p + 4);
    m->status = (int32_t)hp_get_u32(p + 8);
    m->stack_high_water = hp_get_u32(p + 12);
    m->total = hp_get_u64(p + 16);
    m->num_layers = hp_get_u16(p + 24);
    m->rows = hp_get_u16(p + 26);
    m->output_frames = hp_get_u16(p + 28);
    m->profile_frames = hp_get_u16(p + 30);
    m->output_crc32 = hp_get_u32(p + 32);
    m->input_crc32 = hp_get_u32(p + 36);
    m->output_size = hp_get_u32(p + 40);
    return 0;
}
