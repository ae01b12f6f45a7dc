/*
 * pb.c — the out-of-line parts of the protobuf writer (moving a nested
 * message whose length prefix was guessed wrong) and the reader.
 */
#include "common/pb.h"

void tw__pb_end_resize(tw__buf *b, tw__pb_mark m, size_t need) {
    size_t len = b->len - m.start;
    size_t prefix = m.start - m.width; /* where the length varint goes */
    if (need > m.width && tw__buf_reserve(b, need - m.width)) return;
    memmove(b->data + prefix + need, b->data + m.start, len);
    tw__pb_put_varint(b->data + prefix, len);
    b->len = prefix + need + len;
}

int tw__pb_read_varint(const uint8_t **p, const uint8_t *end, uint64_t *out) {
    const uint8_t *q = *p;
    uint64_t v = 0;
    for (unsigned shift = 0; shift < 64; shift += 7) {
        if (q >= end) return TW_EPARSE;
        uint8_t c = *q++;
        /* The tenth byte holds bit 63 only. */
        if (shift == 63 && c > 1) return TW_EPARSE;
        v |= (uint64_t)(c & 0x7f) << shift;
        if (!(c & 0x80)) {
            *p = q;
            *out = v;
            return 0;
        }
    }
    return TW_EPARSE;
}

int tw__pb_next(tw__pb_reader *r, tw__pb_field *f) {
    if (r->p >= r->end) return 0;
    const uint8_t *q = r->p;
    uint64_t tag;
    if (tw__pb_read_varint(&q, r->end, &tag)) return TW_EPARSE;
    uint64_t num = tag >> 3;
    if (num == 0 || num > 0x1fffffff) return TW_EPARSE; /* field numbers are 1..2^29-1 */
    f->num = (uint32_t)num;
    f->wire = (unsigned)(tag & 7);
    f->u = 0;
    f->data = NULL;
    f->len = 0;
    switch (f->wire) {
    case TW_PB_VARINT:
        if (tw__pb_read_varint(&q, r->end, &f->u)) return TW_EPARSE;
        break;
    case TW_PB_I64:
        if (r->end - q < 8) return TW_EPARSE;
        for (int i = 0; i < 8; i++) f->u |= (uint64_t)q[i] << (8 * i);
        q += 8;
        break;
    case TW_PB_I32:
        if (r->end - q < 4) return TW_EPARSE;
        for (int i = 0; i < 4; i++) f->u |= (uint64_t)q[i] << (8 * i);
        q += 4;
        break;
    case TW_PB_LEN: {
        uint64_t n;
        if (tw__pb_read_varint(&q, r->end, &n)) return TW_EPARSE;
        if (n > (uint64_t)(r->end - q)) return TW_EPARSE;
        f->data = q;
        f->len = (size_t)n;
        q += n;
        break;
    }
    default: /* groups (3, 4) and the unassigned 6, 7 */
        return TW_EPARSE;
    }
    r->p = q;
    return 1;
}
