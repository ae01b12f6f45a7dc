/*
 * pb.h — a minimal protobuf wire-format writer into a tw__buf, and a
 * bounds-checked reader.
 *
 * Wire format (https://protobuf.dev/programming-guides/encoding/): a message
 * is a sequence of fields, each a varint tag (field_number << 3 | wire_type)
 * followed by the value:
 *
 *   wire type  name    value
 *   0          VARINT  base-128 varint, low 7-bit groups first, <= 10 bytes
 *   1          I64     8 bytes little-endian (fixed64, sfixed64, double)
 *   2          LEN     varint length, then that many bytes (string, bytes,
 *                      nested message, packed repeated)
 *   5          I32     4 bytes little-endian (fixed32, sfixed32, float)
 *
 * Writer. Every write goes through the buffer's sticky error (see buf.h):
 * encode a whole message, then check `b->failed` once. Scalars whose size is
 * known are written with one bounds check each. A nested message of unknown
 * size is written between tw__pb_begin() and tw__pb_end(): begin reserves a
 * length prefix of a guessed width (1 byte for small messages such as a
 * KeyValue, 2 for a span, 3 for a batch-level list); end writes the real
 * length there, and only when the guess was wrong moves the body by the
 * difference. The output is canonical (minimal varints) either way.
 *
 * Reader. tw__pb_next() walks the fields of one message without allocating
 * and never reads outside [p, end): a truncated varint, a length past the
 * end, field number 0 or a group wire type (3, 4: unused by the messages we
 * read) make it return TW_EPARSE. Nested messages are read by starting a
 * new reader over the LEN field's bytes.
 */
#ifndef TW_PB_H
#define TW_PB_H

#include "common/buf.h"

enum { TW_PB_VARINT = 0, TW_PB_I64 = 1, TW_PB_LEN = 2, TW_PB_I32 = 5 };

#define TW_PB_MAX_VARINT 10

/* ---- writer ---------------------------------------------------------------- */

static inline size_t tw__pb_varint_size(uint64_t v) {
    size_t n = 1;
    while (v >= 0x80) v >>= 7, n++;
    return n;
}

/* Unchecked: `p` must have room for tw__pb_varint_size(v) bytes. */
static inline uint8_t *tw__pb_put_varint(uint8_t *p, uint64_t v) {
    while (v >= 0x80) {
        *p++ = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    *p++ = (uint8_t)v;
    return p;
}

static inline uint8_t *tw__pb_put_le64(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
    return p + 8;
}

static inline uint8_t *tw__pb_put_le32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
    return p + 4;
}

static inline uint64_t tw__pb_tag(uint32_t field, unsigned wire) { return ((uint64_t)field << 3) | wire; }

/* Room for `worst` more bytes, or failing that for the `exact` size of the
 * write (computed only then, so that a buffer near its cap takes exactly
 * what fits); false once the buffer has failed. */
#define TW__PB_ROOM(b, worst, exact) \
    (TW_LIKELY((b)->cap - (b)->len >= (worst) && !(b)->failed) || tw__buf_reserve((b), (exact)) == 0)

static inline void tw__pb_varint(tw__buf *b, uint64_t v) {
    if (!TW__PB_ROOM(b, TW_PB_MAX_VARINT, tw__pb_varint_size(v))) return;
    b->len = (size_t)(tw__pb_put_varint(b->data + b->len, v) - b->data);
}

/* uint32/uint64/enum/bool field; int32 and int64 pass their two's
 * complement as uint64 (ten bytes for a negative value, as protobuf does). */
static inline void tw__pb_uint64(tw__buf *b, uint32_t field, uint64_t v) {
    uint64_t tag = tw__pb_tag(field, TW_PB_VARINT);
    if (!TW__PB_ROOM(b, 2 * TW_PB_MAX_VARINT, tw__pb_varint_size(tag) + tw__pb_varint_size(v))) return;
    uint8_t *p = tw__pb_put_varint(b->data + b->len, tag);
    b->len = (size_t)(tw__pb_put_varint(p, v) - b->data);
}

static inline void tw__pb_fixed64(tw__buf *b, uint32_t field, uint64_t v) {
    uint64_t tag = tw__pb_tag(field, TW_PB_I64);
    if (!TW__PB_ROOM(b, TW_PB_MAX_VARINT + 8, tw__pb_varint_size(tag) + 8)) return;
    uint8_t *p = tw__pb_put_varint(b->data + b->len, tag);
    b->len = (size_t)(tw__pb_put_le64(p, v) - b->data);
}

static inline void tw__pb_fixed32(tw__buf *b, uint32_t field, uint32_t v) {
    uint64_t tag = tw__pb_tag(field, TW_PB_I32);
    if (!TW__PB_ROOM(b, TW_PB_MAX_VARINT + 4, tw__pb_varint_size(tag) + 4)) return;
    uint8_t *p = tw__pb_put_varint(b->data + b->len, tag);
    b->len = (size_t)(tw__pb_put_le32(p, v) - b->data);
}

static inline void tw__pb_double(tw__buf *b, uint32_t field, double d) {
    uint64_t v;
    memcpy(&v, &d, sizeof v);
    tw__pb_fixed64(b, field, v);
}

/* string or bytes field (written even when empty: callers omit defaults). */
static inline void tw__pb_bytes(tw__buf *b, uint32_t field, const void *data, size_t n) {
    uint64_t tag = tw__pb_tag(field, TW_PB_LEN);
    if (!TW__PB_ROOM(b, 2 * TW_PB_MAX_VARINT + n, tw__pb_varint_size(tag) + tw__pb_varint_size(n) + n)) return;
    uint8_t *p = tw__pb_put_varint(b->data + b->len, tag);
    p = tw__pb_put_varint(p, n);
    if (n) memcpy(p, data, n);
    b->len = (size_t)(p - b->data) + n;
}

/* A LEN field whose payload size `n` is known in advance: writes tag and
 * length, the caller writes exactly `n` bytes of payload next. */
static inline void tw__pb_len_header(tw__buf *b, uint32_t field, size_t n) {
    uint64_t tag = tw__pb_tag(field, TW_PB_LEN);
    if (!TW__PB_ROOM(b, 2 * TW_PB_MAX_VARINT, tw__pb_varint_size(tag) + tw__pb_varint_size(n))) return;
    uint8_t *p = tw__pb_put_varint(b->data + b->len, tag);
    b->len = (size_t)(tw__pb_put_varint(p, n) - b->data);
}

/* An open nested message: where its body starts and how wide the reserved
 * length prefix in front of it is. */
typedef struct tw__pb_mark {
    size_t start;
    unsigned width;
} tw__pb_mark;

/* Open a nested message field with a `width`-byte (1..5) length guess. */
static inline tw__pb_mark tw__pb_begin(tw__buf *b, uint32_t field, unsigned width) {
    tw__pb_mark m = {0, width};
    uint64_t tag = tw__pb_tag(field, TW_PB_LEN);
    if (!TW__PB_ROOM(b, TW_PB_MAX_VARINT + width, tw__pb_varint_size(tag) + width)) return m;
    uint8_t *p = tw__pb_put_varint(b->data + b->len, tag);
    m.start = (size_t)(p - b->data) + width;
    b->len = m.start;
    return m;
}

/* Slow path of tw__pb_end: the body must move. */
TW_HIDDEN void tw__pb_end_resize(tw__buf *b, tw__pb_mark m, size_t need);

/* Close the message opened by `m`: writes its length. */
static inline void tw__pb_end(tw__buf *b, tw__pb_mark m) {
    if (b->failed) return;
    size_t len = b->len - m.start, need = tw__pb_varint_size(len);
    if (TW_LIKELY(need == m.width)) {
        tw__pb_put_varint(b->data + m.start - m.width, len);
        return;
    }
    tw__pb_end_resize(b, m, need);
}

/* ---- reader ---------------------------------------------------------------- */

typedef struct tw__pb_reader {
    const uint8_t *p, *end;
} tw__pb_reader;

/* One field as read. For VARINT, I64 and I32 the value is in `u` (I32
 * zero-extended); for LEN `data`/`len` point into the input. */
typedef struct tw__pb_field {
    uint32_t num;
    unsigned wire;
    uint64_t u;
    const uint8_t *data;
    size_t len;
} tw__pb_field;

static inline void tw__pb_reader_init(tw__pb_reader *r, const void *data, size_t n) {
    r->p = data;
    r->end = data ? r->p + n : r->p;
}

/* Read a varint at *p (< end), advancing *p. 0 or TW_EPARSE (truncated, or
 * longer than 10 bytes / beyond 64 bits). */
TW_HIDDEN int tw__pb_read_varint(const uint8_t **p, const uint8_t *end, uint64_t *out);
/* The next field: 1 when `f` was filled, 0 at the end of the message,
 * TW_EPARSE when the bytes are malformed (the reader then stays put). */
TW_HIDDEN int tw__pb_next(tw__pb_reader *r, tw__pb_field *f);

static inline double tw__pb_field_double(const tw__pb_field *f) {
    double d;
    memcpy(&d, &f->u, sizeof d);
    return d;
}

#endif
