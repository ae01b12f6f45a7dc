/*
 * decode_json.c — an OTLP/JSON trace request (or logs request) into a
 * tws_batch (model.h).
 *
 * Logs (tws_otlp_decode_logs_json) share every level above the record:
 * {"resourceLogs": [{"resource", "scopeLogs": [{"scope", "logRecords"}]}]}
 * (and instrumentationLibraryLogs). A record's ids are optional: missing,
 * empty or all zero is "none"; anything else that is not a 16/8-byte id
 * rejects the record (not the request); severityNumber is an integer or
 * its name; the body is never cut.
 *
 * What is accepted: the union of what OTLP/JSON senders and Tempo write.
 *  - Top level: ExportTraceServiceRequest / TracesData {"resourceSpans": [..]},
 *    Tempo's /api/traces {"batches": [..]}, and {"trace": {..}} around either
 *    (Tempo's /api/v2/traces).
 *  - Member names in lowerCamelCase or as spelled in the .proto files
 *    (snake_case), as every protobuf JSON parser accepts although OTLP/JSON
 *    senders must write the former; the names of OTLP before 0.15,
 *    instrumentationLibrarySpans / instrumentationLibrary, for scopeSpans /
 *    scope (Tempo 1.x and old SDKs still write them).
 *  - Trace and span ids as hex (OTLP/JSON, either case) or base64 (the plain
 *    protobuf mapping, Tempo's output), told apart by length: 32 hex or 24
 *    base64 characters for a trace id, 16 or 12 for a span id; base64 may
 *    also be unpadded (22 / 11) or use the URL-safe alphabet.
 *  - Enums as integers or as their names ("SPAN_KIND_SERVER"); an integer
 *    outside the enum is read as 0 (unspecified / unset).
 *  - Integers (fixed64 times, uint32 counts, fixed32 flags, int64 values) as
 *    JSON numbers or decimal strings, also in exponent or fraction form when
 *    the value is integral ("1e3", "2.0"); doubles as numbers, numeric
 *    strings or "NaN" / "Infinity" / "-Infinity"; bytesValue in base64.
 *  - null for a known member means "not set"; unknown members are skipped.
 *  - A UTF-8 byte order mark before the text.
 *
 * Refused (TW_EPARSE, the batch left empty, err->msg saying why):
 *  - text that is not JSON: "invalid JSON at byte 17: expected ':'";
 *  - a known member of the wrong JSON type or out of range, named by its
 *    path: "resourceSpans[0].scopeSpans[0].spans[2].startTimeUnixNano:
 *    expected an integer or a decimal string";
 *  - a member given twice in one object (in either spelling; protobuf's
 *    binary merge rule has no JSON counterpart, and Go's protojson refuses
 *    it too), an AnyValue with two of its oneof members set, an unknown
 *    enum name, AnyValue nesting deeper than max_depth, JSON nesting deeper
 *    than MAX_NESTING (256 containers, known or skipped: it bounds the
 *    recursion, and caps AnyValue nesting near 80 whatever max_depth says),
 *    a number longer than 63 characters where a double is expected.
 *
 * Marked, not refused: a span whose trace or span id is missing, empty, of
 * another length, not hex / base64, or all zero gets `reject` (so does a
 * parent span id that is present but not 8 bytes; an empty or all-zero
 * parent id means "no parent", as Grafana writes for roots). The first
 * such reason is left in err->msg even when the call succeeds, for the
 * partial_success reply. A link keeps unusable ids as zero bytes (as the
 * protobuf decoder does).
 *
 * Strings: escapes decoded, invalid UTF-8 (and lone surrogate escapes)
 * replaced by U+FFFD and counted once per string in utf8_repairs; string
 * attribute values (at every depth) longer than max_value_len cut on a
 * character boundary and counted in truncations; keys and names are never
 * cut. With borrow_input, strings without escapes or repairs point into
 * the input; bytesValue is always decoded into the arena.
 *
 * Memory: about 55 bytes of batch per byte of input at worst (an empty
 * span "{}," is 3 bytes of text and a 160-byte tws_span), twice that while
 * the span vector is copied into the arena; as with the protobuf decoder,
 * the caller caps the request size.
 *
 * One pass, no document tree: the elements of an array being read are
 * collected on a scratch stack and copied into the batch arena when the
 * array closes (nested arrays push and pop above them); resources, scopes
 * and spans grow in vectors copied into the arena at the end.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>

#include "common/json.h"
#include "otlp/model.h"

/* Containers of any kind open at once, known or skipped. It bounds the
 * recursion of this parser whatever max_depth says. */
#define MAX_NESTING 256
#define DEFAULT_MAX_DEPTH 32

typedef struct vec {
    uint8_t *data;
    size_t len, cap;
} vec;

typedef struct dec {
    const char *buf, *p, *end;
    tws_batch *b;
    tws_decode_error *err;
    uint32_t max_value_len, max_depth;
    bool borrow;
    bool noted;          /* err->msg holds a span rejection */
    uint32_t nesting;    /* JSON containers open */
    uint32_t any_depth;  /* AnyValue arrays / kvlists open */
    size_t nframes;      /* where the reader is: frames[0..nframes) */
    struct frame {
        const char *name; /* a member name, or NULL for an array index */
        uint32_t idx;
    } frames[MAX_NESTING + 1];
    vec stack;           /* elements of the arrays being read */
    vec resources, scopes, spans; /* spans: tws_log when `logs` */
    bool logs;           /* an ExportLogsServiceRequest */
    tw__buf tmp;         /* unescaped text */
} dec;

typedef struct field {
    const char *camel, *snake;
    uint8_t camel_len, snake_len;
} field;
#define F(camel, snake) {camel, snake, sizeof camel - 1, sizeof snake - 1}

/* ---- errors and the path --------------------------------------------------------- */

static int fail_syntax(dec *d, const char *at, const char *what) {
    if (at >= d->end) at = d->end, what = "unexpected end of input";
    snprintf(d->err->msg, sizeof d->err->msg, "invalid JSON at byte %zu: %s", (size_t)(at - d->buf), what);
    return TW_EPARSE;
}

/* err->msg = a + sep + b, cut to fit. */
static void set_msg(dec *d, const char *a, const char *sep, const char *b) {
    const char *parts[3] = {a, sep, b};
    size_t n = 0, cap = sizeof d->err->msg - 1;
    for (int i = 0; i < 3; i++) {
        size_t k = TW_MIN(strlen(parts[i]), cap - n);
        memcpy(d->err->msg + n, parts[i], k);
        n += k;
    }
    d->err->msg[n] = '\0';
}

/* The path of the reader, "resourceSpans[0].scopeSpans[1]...", cut to
 * fit (the path is kept as frames and written out only for a message). */
static const char *path_text(const dec *d, char *out, size_t cap) {
    size_t n = 0, nf = TW_MIN(d->nframes, TW_ARRAY_LEN(d->frames));
    out[0] = '\0';
    for (size_t i = 0; i < nf && n < cap - 1; i++) {
        const struct frame *f = &d->frames[i];
        int k = f->name ? snprintf(out + n, cap - n, "%s%s", n ? "." : "", f->name)
                        : snprintf(out + n, cap - n, "[%u]", f->idx);
        n = k < 0 ? n : TW_MIN(n + (size_t)k, cap - 1);
    }
    return out;
}

/* "<path>: <what>" */
__attribute__((format(printf, 2, 3))) static int fail_at(dec *d, const char *fmt, ...) {
    char what[128], path[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    set_msg(d, d->nframes ? path_text(d, path, sizeof path) : "top level", ": ", what);
    return TW_EPARSE;
}

static int fail_nomem(dec *d) {
    snprintf(d->err->msg, sizeof d->err->msg, "out of memory");
    return TW_ENOMEM;
}

/* Frames beyond the array (not reached: one per open container) are
 * counted, not kept. */
static void path_push(dec *d, const char *name, uint32_t idx) {
    if (d->nframes < TW_ARRAY_LEN(d->frames)) d->frames[d->nframes] = (struct frame){name, idx};
    d->nframes++;
}

static void path_cut(dec *d, size_t n) { d->nframes = n; }

/* Up to 40 bytes of `s` for a message, other than printable ASCII as '?'. */
static const char *excerpt(const char *s, size_t n, char out[48]) {
    size_t k = n > 40 ? 40 : n;
    for (size_t i = 0; i < k; i++) {
        unsigned char c = (unsigned char)s[i];
        out[i] = c >= 0x20 && c < 0x7f && c != '"' && c != '\\' ? (char)c : '?';
    }
    if (k < n) memcpy(out + k, "...", 3), k += 3;
    out[k] = '\0';
    return out;
}

/* ---- growable vectors -------------------------------------------------------------- */

/* `sz` zeroed bytes at the end of `v` (moved by later pushes), or NULL. */
static void *vec_push(vec *v, size_t sz) {
    if (sz > v->cap - v->len) {
        size_t cap = v->cap ? v->cap : 1024;
        while (cap - v->len < sz) {
            if (cap > SIZE_MAX / 2) return NULL;
            cap *= 2;
        }
        uint8_t *n = tw__realloc(v->data, cap);
        if (!n) return NULL;
        v->data = n;
        v->cap = cap;
    }
    void *p = v->data + v->len;
    memset(p, 0, sz);
    v->len += sz;
    return p;
}

/* Copy the `n` items of size `sz` from stack offset `base` into the arena
 * and pop them. */
static int stack_take(dec *d, size_t base, uint32_t n, size_t sz, void **out) {
    *out = NULL;
    if (n) {
        void *a = tws_batch_alloc(d->b, (size_t)n * sz);
        if (!a) return fail_nomem(d);
        memcpy(a, d->stack.data + base, (size_t)n * sz);
        *out = a;
    }
    d->stack.len = base;
    return 0;
}

/* ---- tokens --------------------------------------------------------------------------- */

static void ws(dec *d) { d->p = tw__json_ws(d->p, d->end); }

static bool is_digit(char c) { return c >= '0' && c <= '9'; }

/* The string literal at d->p: its contents between the quotes (escapes
 * validated, not decoded) and whether it has escapes. */
static int scan_string(dec *d, tw_str *s, bool *esc) {
    const char *p = d->p + 1, *end = d->end;
    bool e = false;
    for (;;) {
        while (p < end && *p != '"' && *p != '\\' && (unsigned char)*p >= 0x20) p++;
        if (p >= end) return fail_syntax(d, end, "");
        if (*p == '"') break;
        if ((unsigned char)*p < 0x20) return fail_syntax(d, p, "control character in a string");
        e = true;
        if (p + 1 >= end) return fail_syntax(d, end, "");
        char c = p[1];
        if (c == 'u') {
            for (int i = 2; i < 6; i++) {
                if (p + i >= end) return fail_syntax(d, end, "");
                if (tw__hexval((unsigned char)p[i]) < 0) return fail_syntax(d, p, "invalid \\u escape");
            }
            p += 6;
        } else if (c == '"' || c == '\\' || c == '/' || c == 'b' || c == 'f' || c == 'n' || c == 'r' ||
                   c == 't') {
            p += 2;
        } else {
            return fail_syntax(d, p, "invalid escape");
        }
    }
    *s = (tw_str){d->p + 1, (size_t)(p - (d->p + 1))};
    *esc = e;
    d->p = p + 1;
    return 0;
}

static const char *scan_digits(const char *p, const char *end) {
    while (p < end && is_digit(*p)) p++;
    return p;
}

/* The number at d->p, by the JSON grammar. */
static int scan_number(dec *d, tw_str *tok) {
    const char *p = d->p, *end = d->end, *q;
    if (p < end && *p == '-') p++;
    if (p >= end) return fail_syntax(d, end, "");
    if (*p == '0') {
        p++;
    } else if (is_digit(*p)) {
        p = scan_digits(p, end);
    } else {
        return fail_syntax(d, p, "invalid number");
    }
    if (p < end && *p == '.') {
        q = scan_digits(p + 1, end);
        if (q == p + 1) return fail_syntax(d, q, "invalid number");
        p = q;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < end && (*p == '+' || *p == '-')) p++;
        q = scan_digits(p, end);
        if (q == p) return fail_syntax(d, q, "invalid number");
        p = q;
    }
    *tok = (tw_str){d->p, (size_t)(p - d->p)};
    d->p = p;
    return 0;
}

static int scan_literal(dec *d, const char *lit) {
    size_t n = strlen(lit), have = (size_t)(d->end - d->p);
    if (have < n) {
        if (memcmp(d->p, lit, have) == 0) return fail_syntax(d, d->end, "");
        return fail_syntax(d, d->p, "invalid literal");
    }
    if (memcmp(d->p, lit, n)) return fail_syntax(d, d->p, "invalid literal");
    d->p += n;
    return 0;
}

static int open_container(dec *d) {
    if (++d->nesting > MAX_NESTING) return fail_syntax(d, d->p, "nesting deeper than 256");
    d->p++;
    return 0;
}

/* Past the value at d->p, whatever it is. */
static int skip_value(dec *d) {
    ws(d);
    if (d->p >= d->end) return fail_syntax(d, d->end, "");
    tw_str s;
    bool esc;
    int rc;
    switch (*d->p) {
    case '"': return scan_string(d, &s, &esc);
    case 't': return scan_literal(d, "true");
    case 'f': return scan_literal(d, "false");
    case 'n': return scan_literal(d, "null");
    case '{':
    case '[': {
        bool obj = *d->p == '{';
        char close = obj ? '}' : ']';
        if ((rc = open_container(d))) return rc;
        ws(d);
        if (d->p < d->end && *d->p == close) {
            d->p++;
            d->nesting--;
            return 0;
        }
        for (;;) {
            if (obj) {
                ws(d);
                if (d->p >= d->end) return fail_syntax(d, d->end, "");
                if (*d->p != '"') return fail_syntax(d, d->p, "expected a member name");
                if ((rc = scan_string(d, &s, &esc))) return rc;
                ws(d);
                if (d->p >= d->end || *d->p != ':') return fail_syntax(d, d->p, "expected ':'");
                d->p++;
            }
            if ((rc = skip_value(d))) return rc;
            ws(d);
            if (d->p >= d->end) return fail_syntax(d, d->end, "");
            if (*d->p == close) break;
            if (*d->p != ',') return fail_syntax(d, d->p, obj ? "expected ',' or '}'" : "expected ',' or ']'");
            d->p++;
        }
        d->p++;
        d->nesting--;
        return 0;
    }
    default:
        if (*d->p == '-' || is_digit(*d->p)) return scan_number(d, &s);
        return fail_syntax(d, d->p, "expected a value");
    }
}

/* The value at d->p is not of the type wanted: a syntax error if it is not
 * a JSON value at all, else `what` at the current path. */
static int wrong_type(dec *d, const char *what) {
    int rc = skip_value(d);
    return rc ? rc : fail_at(d, "%s", what);
}

/* ---- objects and arrays ------------------------------------------------------------- */

typedef struct obj {
    bool first;
    size_t path;   /* path length of the object itself */
    uint64_t seen; /* bit f: member f was read */
} obj;

static int obj_begin(dec *d, obj *o) {
    ws(d);
    if (d->p >= d->end || *d->p != '{') return wrong_type(d, "expected an object");
    o->first = true;
    o->path = d->nframes;
    o->seen = 0;
    return open_container(d);
}

/* The index of `key` in `t`, or -1. */
static int find_field(dec *d, tw_str key, bool esc, const field *t, int n, const char **name) {
    const char *k = key.ptr;
    size_t kl = key.len;
    if (esc) {
        if (kl > 64) return -1; /* longer than any name */
        tw__buf_reset(&d->tmp);
        if (tw__json_unquote((tw_str){key.ptr - 1, key.len + 2}, &d->tmp)) return -1;
        k = (const char *)d->tmp.data, kl = d->tmp.len;
    }
    for (int i = 0; i < n; i++) {
        if (t[i].camel_len == kl && memcmp(t[i].camel, k, kl) == 0) return *name = t[i].camel, i;
        if (t[i].snake_len == kl && memcmp(t[i].snake, k, kl) == 0) return *name = t[i].snake, i;
    }
    return -1;
}

/*
 * The next member of `o` that is in `t` and not null: 1 with *f its index,
 * d->p at its value and the path extended by its name; 0 at the end of the
 * object. Unknown members and null values are skipped; a member met twice
 * is refused.
 */
static int obj_next(dec *d, obj *o, const field *t, int n, int *f) {
    int rc;
    path_cut(d, o->path);
    for (;;) {
        ws(d);
        if (d->p >= d->end) return fail_syntax(d, d->end, "");
        if (*d->p == '}') {
            d->p++;
            d->nesting--;
            return 0;
        }
        if (!o->first) {
            if (*d->p != ',') return fail_syntax(d, d->p, "expected ',' or '}'");
            d->p++;
            ws(d);
            if (d->p >= d->end) return fail_syntax(d, d->end, "");
        }
        o->first = false;
        if (*d->p != '"') return fail_syntax(d, d->p, "expected a member name");
        tw_str key;
        bool esc;
        if ((rc = scan_string(d, &key, &esc))) return rc;
        ws(d);
        if (d->p >= d->end || *d->p != ':') return fail_syntax(d, d->p, "expected ':'");
        d->p++;
        const char *name = NULL;
        int i = find_field(d, key, esc, t, n, &name);
        if (i < 0) {
            if ((rc = skip_value(d))) return rc;
            continue;
        }
        path_push(d, name, 0);
        if (o->seen & (uint64_t)1 << i) return fail_at(d, "member given twice");
        o->seen |= (uint64_t)1 << i;
        ws(d);
        if (d->p < d->end && *d->p == 'n') { /* null: not set */
            if ((rc = scan_literal(d, "null"))) return rc;
            path_cut(d, o->path);
            continue;
        }
        *f = i;
        return 1;
    }
}

typedef struct arr {
    bool first;
    size_t path;
    uint32_t n; /* elements so far */
} arr;

static int arr_begin(dec *d, arr *a) {
    ws(d);
    if (d->p >= d->end || *d->p != '[') return wrong_type(d, "expected an array");
    a->first = true;
    a->path = d->nframes;
    a->n = 0;
    return open_container(d);
}

/* 1: an element follows (d->p at it, the path extended by its index);
 * 0: the end of the array. */
static int arr_next(dec *d, arr *a) {
    path_cut(d, a->path);
    ws(d);
    if (d->p >= d->end) return fail_syntax(d, d->end, "");
    if (*d->p == ']') {
        d->p++;
        d->nesting--;
        return 0;
    }
    if (!a->first) {
        if (*d->p != ',') return fail_syntax(d, d->p, "expected ',' or ']'");
        d->p++;
    }
    a->first = false;
    if (a->n == UINT32_MAX) return fail_at(d, "too many elements");
    path_push(d, NULL, a->n++);
    return 1;
}

/* ---- scalars ---------------------------------------------------------------------------- */

/* Decode the escapes of s (validated by scan_string) into d->tmp; a lone
 * surrogate becomes U+FFFD and sets *repaired. */
static int unescape(dec *d, tw_str s, bool *repaired) {
    tw__buf_reset(&d->tmp);
    if (tw__json_unquote((tw_str){s.ptr - 1, s.len + 2}, &d->tmp)) return fail_nomem(d);
    /* tw__json_unquote turns a lone surrogate into U+FFFD: count it as a
     * repair when the text had a \uD800-\uDFFF escape that was not paired. */
    const char *p = s.ptr, *e = s.ptr + s.len;
    while ((p = memchr(p, '\\', (size_t)(e - p)))) {
        if (p[1] != 'u') {
            p += 2;
            continue;
        }
        unsigned hi = (unsigned)(tw__hexval((unsigned char)p[2]) << 12 | tw__hexval((unsigned char)p[3]) << 8 |
                                 tw__hexval((unsigned char)p[4]) << 4 | tw__hexval((unsigned char)p[5]));
        p += 6;
        if (hi < 0xD800 || hi > 0xDFFF) continue;
        if (hi <= 0xDBFF && e - p >= 6 && p[0] == '\\' && p[1] == 'u') {
            unsigned lo = (unsigned)(tw__hexval((unsigned char)p[2]) << 12 |
                                     tw__hexval((unsigned char)p[3]) << 8 |
                                     tw__hexval((unsigned char)p[4]) << 4 | tw__hexval((unsigned char)p[5]));
            if (lo >= 0xDC00 && lo <= 0xDFFF) {
                p += 6;
                continue;
            }
        }
        *repaired = true;
    }
    return 0;
}

/* The text of string contents `s`: escapes decoded (into d->tmp) when there
 * are any. */
static int string_text(dec *d, tw_str s, bool esc, tw_str *text, bool *repaired) {
    *text = s;
    if (!esc) return 0;
    int rc = unescape(d, s, repaired);
    if (rc) return rc;
    *text = (tw_str){(const char *)d->tmp.data, d->tmp.len};
    return 0;
}

/* Keep at most `limit` bytes of valid UTF-8 s[0..n), ending on a character. */
static size_t cut_utf8(const char *s, size_t n, uint32_t limit) {
    if (!limit || n <= limit) return n;
    size_t k = limit;
    while (k > 0 && ((unsigned char)s[k] & 0xC0) == 0x80) k--;
    return k;
}

/* String contents `s` as a batch string: decoded, repaired, cut to `limit`. */
static int store_string(dec *d, tw_str s, bool esc, uint32_t limit, tw_str *out) {
    bool repaired = false, valid = true;
    tw_str t;
    int rc = string_text(d, s, esc, &t, &repaired);
    if (rc) return rc;
    size_t rn = tw__is_ascii(t.ptr, t.len) ? t.len : tw__utf8_repaired_len(t.ptr, t.len, &valid);
    if (!valid) repaired = true;
    /* valid text is cut before it is copied, so a long value costs only
     * what is kept; repaired text is cut after the repair */
    size_t keep = valid ? cut_utf8(t.ptr, rn, limit) : rn;
    const char *text;
    if (!esc && valid && d->borrow) {
        text = t.ptr;
    } else if (keep == 0) {
        text = "";
    } else {
        char *m = tws_batch_alloc(d->b, keep);
        if (!m) return fail_nomem(d);
        if (valid)
            memcpy(m, t.ptr, keep);
        else
            tw__utf8_repair((uint8_t *)m, t.ptr, t.len);
        text = m;
        if (!valid) keep = cut_utf8(text, rn, limit);
    }
    if (keep < rn) d->b->truncations++;
    if (repaired) d->b->utf8_repairs++;
    *out = (tw_str){text, keep};
    return 0;
}

static int read_string(dec *d, uint32_t limit, tw_str *out) {
    ws(d);
    if (d->p >= d->end || *d->p != '"') return wrong_type(d, "expected a string");
    tw_str s;
    bool esc;
    int rc = scan_string(d, &s, &esc);
    return rc ? rc : store_string(d, s, esc, limit, out);
}

/*
 * The integer written as the JSON number `t` (the text of a number token or
 * of a string): 0, TW_EPARSE when it is not a number or not integral,
 * TW_ERANGE when its magnitude passes UINT64_MAX.
 */
static int parse_integer(tw_str t, bool *neg, uint64_t *mag) {
    const char *p = t.ptr, *end = t.ptr + t.len, *ip, *ie, *fp, *fe;
    *neg = p < end && *p == '-';
    if (*neg) p++;
    ip = p;
    if (p < end && *p == '0')
        p++;
    else
        p = scan_digits(p, end);
    ie = p;
    if (ie == ip) return TW_EPARSE;
    fp = fe = p;
    if (p < end && *p == '.') {
        fp = p + 1;
        fe = p = scan_digits(fp, end);
        if (fe == fp) return TW_EPARSE;
    }
    long exp = 0;
    if (p < end && (*p == 'e' || *p == 'E')) {
        bool eneg = false;
        p++;
        if (p < end && (*p == '+' || *p == '-')) eneg = *p++ == '-';
        const char *es = p;
        for (; p < end && is_digit(*p); p++)
            if (exp < 100000) exp = exp * 10 + (*p - '0');
        if (p == es) return TW_EPARSE;
        if (eneg) exp = -exp;
    }
    if (p != end) return TW_EPARSE;
    /* digits = int part then fraction; value = digits * 10^(exp - fraction length) */
    size_t ni = (size_t)(ie - ip), nf = (size_t)(fe - fp), nd = ni + nf;
    long scale = exp - (long)nf;
#define DIGIT(i) ((i) < ni ? ip[(i)] : fp[(i) - ni])
    size_t keep = nd;
    if (scale < 0) {
        size_t drop = (size_t)-scale < nd ? (size_t)-scale : nd;
        for (size_t i = nd - drop; i < nd; i++)
            if (DIGIT(i) != '0') return TW_EPARSE;
        keep = nd - drop;
        scale = 0;
    }
    uint64_t v = 0;
    for (size_t i = 0; i < keep; i++) {
        unsigned dg = (unsigned)(DIGIT(i) - '0');
        if (v > (UINT64_MAX - dg) / 10) return TW_ERANGE;
        v = v * 10 + dg;
    }
#undef DIGIT
    for (long i = 0; v && i < scale; i++) {
        if (v > UINT64_MAX / 10) return TW_ERANGE;
        v *= 10;
    }
    *mag = v;
    return 0;
}

static const char int_wanted[] = "expected an integer or a decimal string";

/* An integer member: a number or a decimal string. */
static int read_integer(dec *d, bool *neg, uint64_t *mag, const char *type) {
    ws(d);
    tw_str tok;
    int rc;
    if (d->p < d->end && *d->p == '"') {
        bool esc, rep = false;
        if ((rc = scan_string(d, &tok, &esc))) return rc;
        if ((rc = string_text(d, tok, esc, &tok, &rep))) return rc;
    } else if (d->p < d->end && (*d->p == '-' || is_digit(*d->p))) {
        if ((rc = scan_number(d, &tok))) return rc;
    } else {
        return wrong_type(d, int_wanted);
    }
    rc = parse_integer(tok, neg, mag);
    if (rc == TW_EPARSE) return fail_at(d, "%s", int_wanted);
    if (rc == TW_ERANGE) return fail_at(d, "out of range for %s", type);
    return 0;
}

static int read_u64(dec *d, uint64_t *out) {
    bool neg;
    uint64_t v;
    int rc = read_integer(d, &neg, &v, "uint64");
    if (rc) return rc;
    if (neg && v) return fail_at(d, "out of range for uint64");
    *out = v;
    return 0;
}

static int read_u32(dec *d, uint32_t *out) {
    bool neg;
    uint64_t v;
    int rc = read_integer(d, &neg, &v, "uint32");
    if (rc) return rc;
    if ((neg && v) || v > UINT32_MAX) return fail_at(d, "out of range for uint32");
    *out = (uint32_t)v;
    return 0;
}

static int read_i64(dec *d, int64_t *out) {
    bool neg;
    uint64_t v;
    int rc = read_integer(d, &neg, &v, "int64");
    if (rc) return rc;
    if (neg ? v > (uint64_t)INT64_MAX + 1 : v > (uint64_t)INT64_MAX) return fail_at(d, "out of range for int64");
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return 0;
}

static const char double_wanted[] = "expected a number or \"NaN\", \"Infinity\", \"-Infinity\"";

static int read_double(dec *d, double *out) {
    ws(d);
    tw_str tok;
    int rc;
    if (d->p < d->end && *d->p == '"') {
        bool esc, rep = false;
        if ((rc = scan_string(d, &tok, &esc))) return rc;
        if ((rc = string_text(d, tok, esc, &tok, &rep))) return rc;
        static const char *const special[3] = {"NaN", "Infinity", "-Infinity"};
        static const double value[3] = {NAN, INFINITY, -INFINITY};
        for (int i = 0; i < 3; i++) {
            if (tok.len == strlen(special[i]) && memcmp(tok.ptr, special[i], tok.len) == 0) {
                *out = value[i];
                return 0;
            }
        }
        if (!tok.len || tok.ptr[0] == '"') return fail_at(d, "%s", double_wanted);
    } else if (d->p < d->end && (*d->p == '-' || is_digit(*d->p))) {
        if ((rc = scan_number(d, &tok))) return rc;
    } else {
        return wrong_type(d, double_wanted);
    }
    if (tok.len >= 64) return fail_at(d, "number longer than 63 characters");
    if (tw__json_to_double(tok, out)) return fail_at(d, "%s", double_wanted);
    return 0;
}

static int read_bool(dec *d, bool *out) {
    ws(d);
    int rc;
    if (d->p < d->end && *d->p == 't') {
        if ((rc = scan_literal(d, "true"))) return rc;
        *out = true;
        return 0;
    }
    if (d->p < d->end && *d->p == 'f') {
        if ((rc = scan_literal(d, "false"))) return rc;
        *out = false;
        return 0;
    }
    return wrong_type(d, "expected true or false");
}

/* An enum member: its integer (outside 0..n-1 read as 0) or its name. */
static int read_enum(dec *d, const char *const *names, unsigned n, const char *type, uint8_t *out) {
    ws(d);
    int rc;
    if (d->p < d->end && *d->p == '"') {
        tw_str s;
        bool esc, rep = false;
        if ((rc = scan_string(d, &s, &esc))) return rc;
        if ((rc = string_text(d, s, esc, &s, &rep))) return rc;
        for (unsigned i = 0; i < n; i++) {
            if (strlen(names[i]) == s.len && memcmp(names[i], s.ptr, s.len) == 0) {
                *out = (uint8_t)i;
                return 0;
            }
        }
        char ex[48];
        return fail_at(d, "unknown %s \"%s\"", type, excerpt(s.ptr, s.len, ex));
    }
    if (d->p < d->end && (*d->p == '-' || is_digit(*d->p))) {
        tw_str tok;
        bool neg;
        uint64_t v;
        if ((rc = scan_number(d, &tok))) return rc;
        rc = parse_integer(tok, &neg, &v);
        if (rc == TW_EPARSE) return fail_at(d, "expected an enum integer or name");
        if (rc || v > (neg ? (uint64_t)INT32_MAX + 1 : (uint64_t)INT32_MAX))
            return fail_at(d, "out of range for an enum");
        *out = !neg && v < n ? (uint8_t)v : 0;
        return 0;
    }
    return wrong_type(d, "expected an enum integer or name");
}

/* ---- ids and bytes ---------------------------------------------------------------------- */

/* Why an id was not taken. */
enum { ID_OK, ID_MISSING, ID_EMPTY, ID_LENGTH, ID_NOT_HEX, ID_NOT_BASE64, ID_B64_LENGTH, ID_ZERO };

typedef struct id_result {
    uint8_t why;
    size_t chars; /* the length of the string */
    long bytes;   /* ID_B64_LENGTH: what the base64 decoded to */
} id_result;

/* An id member of `n` bytes, hex (2n characters) or base64. */
static int read_id(dec *d, uint8_t *out, size_t n, id_result *r) {
    ws(d);
    if (d->p >= d->end || *d->p != '"') return wrong_type(d, "expected a hex or base64 string");
    tw_str s;
    bool esc, rep = false;
    int rc;
    if ((rc = scan_string(d, &s, &esc)) || (rc = string_text(d, s, esc, &s, &rep))) return rc;
    uint8_t tmp[24];
    memset(out, 0, n);
    r->chars = s.len;
    r->why = ID_OK;
    size_t b64_len = (n + 2) / 3 * 4, b64_bare = (n * 4 + 2) / 3;
    if (s.len == 0) {
        r->why = ID_EMPTY;
    } else if (s.len == 2 * n) {
        for (size_t i = 0; i < n; i++) {
            int hi = tw__hexval((unsigned char)s.ptr[2 * i]), lo = tw__hexval((unsigned char)s.ptr[2 * i + 1]);
            if (hi < 0 || lo < 0) {
                r->why = ID_NOT_HEX;
                break;
            }
            tmp[i] = (uint8_t)(hi << 4 | lo);
        }
    } else if (s.len == b64_len || s.len == b64_bare) {
        r->bytes = tw__base64_decode(s.ptr, s.len, tmp, sizeof tmp);
        if (r->bytes < 0)
            r->why = ID_NOT_BASE64;
        else if (r->bytes != (long)n)
            r->why = ID_B64_LENGTH;
    } else {
        r->why = ID_LENGTH;
    }
    if (r->why == ID_OK) {
        uint8_t acc = 0;
        for (size_t i = 0; i < n; i++) acc |= tmp[i];
        if (!acc) r->why = ID_ZERO;
        else memcpy(out, tmp, n);
    }
    return 0;
}

/* Why an id of n bytes was not taken, in words. */
static const char *id_reason(const id_result *r, size_t n, char *buf, size_t cap) {
    switch (r->why) {
    case ID_MISSING: return "missing";
    case ID_EMPTY: return "empty";
    case ID_NOT_HEX: return "not hex";
    case ID_NOT_BASE64: return "not base64";
    case ID_ZERO: return "all zero";
    case ID_B64_LENGTH:
        snprintf(buf, cap, "expected %zu bytes, the base64 holds %ld", n, r->bytes);
        return buf;
    default:
        snprintf(buf, cap, "expected %zu bytes (%zu hex or %zu base64 characters), got %zu characters", n,
                 2 * n, (n + 2) / 3 * 4, r->chars);
        return buf;
    }
}

/* ---- AnyValue and attributes ---------------------------------------------------------- */

static int read_kvs(dec *d, tws_kv **items, uint32_t *n);

enum { V_STRING, V_BOOL, V_INT, V_DOUBLE, V_ARRAY, V_KVLIST, V_BYTES, V__N };
static const field value_fields[V__N] = {
    F("stringValue", "string_value"), F("boolValue", "bool_value"),     F("intValue", "int_value"),
    F("doubleValue", "double_value"), F("arrayValue", "array_value"),   F("kvlistValue", "kvlist_value"),
    F("bytesValue", "bytes_value"),
};
static const field values_field[1] = {F("values", "values")};

static int read_bytes(dec *d, tw_str *out) {
    ws(d);
    if (d->p >= d->end || *d->p != '"') return wrong_type(d, "expected a base64 string");
    tw_str s;
    bool esc, rep = false;
    int rc;
    if ((rc = scan_string(d, &s, &esc)) || (rc = string_text(d, s, esc, &s, &rep))) return rc;
    size_t cap = s.len / 4 * 3 + 3;
    uint8_t *m = tws_batch_alloc(d->b, cap);
    if (!m) return fail_nomem(d);
    long n = tw__base64_decode(s.ptr, s.len, m, cap);
    if (n < 0) return fail_at(d, "expected a base64 string");
    *out = (tw_str){(const char *)m, (size_t)n};
    return 0;
}

static int read_anyvalue(dec *d, tws_value *v);

/* An array whose items decode into `sz`-byte structs: `fn` fills a zeroed
 * local for each item (nested arrays use the stack above it), the item is
 * pushed, and the finished array moves into the batch. */
typedef union item_buf {
    tws_value v;
    tws_kv kv;
    tws_event ev;
    tws_link l;
} item_buf;
typedef int (*item_fn)(dec *d, void *item);

static int read_array_of(dec *d, size_t sz, item_fn fn, void **out, uint32_t *n) {
    arr a;
    int rc;
    size_t base = d->stack.len;
    if ((rc = arr_begin(d, &a))) return rc;
    while ((rc = arr_next(d, &a)) == 1) {
        item_buf item;
        memset(&item, 0, sizeof item);
        if ((rc = fn(d, &item))) return rc;
        void *slot = vec_push(&d->stack, sz);
        if (!slot) return fail_nomem(d);
        memcpy(slot, &item, sz);
    }
    if (rc) return rc;
    if ((rc = stack_take(d, base, a.n, sz, out))) return rc;
    *n = a.n;
    return 0;
}

static int value_item(dec *d, void *item) { return read_anyvalue(d, item); }

/* {"values": [...]} of an ArrayValue or KeyValueList. */
static int read_list(dec *d, tws_value *v, bool kv) {
    int rc, f = -1; /* set by next_member(); gcc -O3 cannot prove it */
    obj o;
    if (++d->any_depth > d->max_depth) return fail_at(d, "AnyValue nesting deeper than %u", d->max_depth);
    if ((rc = obj_begin(d, &o))) return rc;
    v->type = kv ? TWS_KVLIST : TWS_ARRAY;
    while ((rc = obj_next(d, &o, values_field, 1, &f)) == 1) {
        if (kv) {
            if ((rc = read_kvs(d, &v->u.kv, &v->n))) return rc;
            continue;
        }
        void *items;
        if ((rc = read_array_of(d, sizeof(tws_value), value_item, &items, &v->n))) return rc;
        v->u.arr = items;
    }
    d->any_depth--;
    return rc;
}

static int read_anyvalue(dec *d, tws_value *v) {
    int rc, f = -1; /* set by next_member(); gcc -O3 cannot prove it */
    obj o;
    if ((rc = obj_begin(d, &o))) return rc;
    bool set = false;
    while ((rc = obj_next(d, &o, value_fields, V__N, &f)) == 1) {
        if (set) return fail_at(d, "a second member of the AnyValue oneof");
        set = true;
        switch (f) {
        case V_STRING:
            v->type = TWS_STRING;
            rc = read_string(d, d->max_value_len, &v->u.s);
            break;
        case V_BOOL:
            v->type = TWS_BOOL;
            rc = read_bool(d, &v->u.b);
            break;
        case V_INT:
            v->type = TWS_INT;
            rc = read_i64(d, &v->u.i);
            break;
        case V_DOUBLE:
            v->type = TWS_DOUBLE;
            rc = read_double(d, &v->u.d);
            break;
        case V_ARRAY: rc = read_list(d, v, false); break;
        case V_KVLIST: rc = read_list(d, v, true); break;
        default:
            v->type = TWS_BYTES;
            rc = read_bytes(d, &v->u.s);
            break;
        }
        if (rc) return rc;
    }
    return rc;
}

static const field kv_fields[2] = {F("key", "key"), F("value", "value")};

static int kv_item(dec *d, void *item) {
    tws_kv *kv = item;
    int rc, f = -1; /* set by next_member(); gcc -O3 cannot prove it */
    kv->key = (tw_str){"", 0};
    obj o;
    if ((rc = obj_begin(d, &o))) return rc;
    while ((rc = obj_next(d, &o, kv_fields, 2, &f)) == 1) {
        rc = f == 0 ? read_string(d, 0, &kv->key) : read_anyvalue(d, &kv->val);
        if (rc) return rc;
    }
    return rc;
}

/* An array of KeyValue. */
static int read_kvs(dec *d, tws_kv **items, uint32_t *n) {
    void *p;
    int rc = read_array_of(d, sizeof(tws_kv), kv_item, &p, n);
    if (rc == 0) *items = p;
    return rc;
}

/* The members "attributes" (which 0) and "droppedAttributesCount" (1),
 * adjacent in every field table that has them. */
static int read_attrs_member(dec *d, int which, tws_attrs *a) {
    return which == 0 ? read_kvs(d, &a->items, &a->n) : read_u32(d, &a->dropped);
}

/* ---- spans ------------------------------------------------------------------------------ */

enum { E_TIME, E_NAME, E_ATTRS, E_DROPPED, E__N };
static const field event_fields[E__N] = {
    F("timeUnixNano", "time_unix_nano"),
    F("name", "name"),
    F("attributes", "attributes"),
    F("droppedAttributesCount", "dropped_attributes_count"),
};

enum { L_TRACE_ID, L_SPAN_ID, L_TRACE_STATE, L_ATTRS, L_DROPPED, L_FLAGS, L__N };
static const field link_fields[L__N] = {
    F("traceId", "trace_id"),       F("spanId", "span_id"),
    F("traceState", "trace_state"), F("attributes", "attributes"),
    F("droppedAttributesCount", "dropped_attributes_count"),
    F("flags", "flags"),
};

enum { ST_MESSAGE, ST_CODE, ST__N };
static const field status_fields[ST__N] = {F("message", "message"), F("code", "code")};
static const char *const status_names[3] = {"STATUS_CODE_UNSET", "STATUS_CODE_OK", "STATUS_CODE_ERROR"};

enum {
    S_TRACE_ID,
    S_SPAN_ID,
    S_TRACE_STATE,
    S_PARENT,
    S_FLAGS,
    S_NAME,
    S_KIND,
    S_START,
    S_END,
    S_ATTRS,
    S_DROPPED_ATTRS,
    S_EVENTS,
    S_DROPPED_EVENTS,
    S_LINKS,
    S_DROPPED_LINKS,
    S_STATUS,
    S__N
};
static const field span_fields[S__N] = {
    F("traceId", "trace_id"),
    F("spanId", "span_id"),
    F("traceState", "trace_state"),
    F("parentSpanId", "parent_span_id"),
    F("flags", "flags"),
    F("name", "name"),
    F("kind", "kind"),
    F("startTimeUnixNano", "start_time_unix_nano"),
    F("endTimeUnixNano", "end_time_unix_nano"),
    F("attributes", "attributes"),
    F("droppedAttributesCount", "dropped_attributes_count"),
    F("events", "events"),
    F("droppedEventsCount", "dropped_events_count"),
    F("links", "links"),
    F("droppedLinksCount", "dropped_links_count"),
    F("status", "status"),
};
static const char *const kind_names[6] = {"SPAN_KIND_UNSPECIFIED", "SPAN_KIND_INTERNAL", "SPAN_KIND_SERVER",
                                          "SPAN_KIND_CLIENT",      "SPAN_KIND_PRODUCER", "SPAN_KIND_CONSUMER"};

static int event_item(dec *d, void *item) {
    tws_event *ev = item;
    int rc, f = -1; /* set by next_member(); gcc -O3 cannot prove it */
    ev->name = (tw_str){"", 0};
    obj o;
    if ((rc = obj_begin(d, &o))) return rc;
    while ((rc = obj_next(d, &o, event_fields, E__N, &f)) == 1) {
        switch (f) {
        case E_TIME: rc = read_u64(d, &ev->time_ns); break;
        case E_NAME: rc = read_string(d, 0, &ev->name); break;
        default: rc = read_attrs_member(d, f - E_ATTRS, &ev->attrs); break;
        }
        if (rc) return rc;
    }
    return rc;
}

static int link_item(dec *d, void *item) {
    tws_link *l = item;
    int rc, f = -1; /* set by next_member(); gcc -O3 cannot prove it */
    l->trace_state = (tw_str){"", 0};
    id_result tid = {ID_MISSING, 0, 0}, sid = {ID_MISSING, 0, 0};
    obj o;
    if ((rc = obj_begin(d, &o))) return rc;
    while ((rc = obj_next(d, &o, link_fields, L__N, &f)) == 1) {
        switch (f) {
        case L_TRACE_ID: rc = read_id(d, l->trace_id, 16, &tid); break;
        case L_SPAN_ID: rc = read_id(d, l->span_id, 8, &sid); break;
        case L_TRACE_STATE: rc = read_string(d, 0, &l->trace_state); break;
        case L_FLAGS: rc = read_u32(d, &l->flags); break;
        default: rc = read_attrs_member(d, f - L_ATTRS, &l->attrs); break;
        }
        if (rc) return rc;
    }
    return rc;
}

static int read_events(dec *d, tws_span *s) {
    void *p;
    int rc = read_array_of(d, sizeof(tws_event), event_item, &p, &s->n_events);
    if (rc == 0) s->events = p;
    return rc;
}

static int read_links(dec *d, tws_span *s) {
    void *p;
    int rc = read_array_of(d, sizeof(tws_link), link_item, &p, &s->n_links);
    if (rc == 0) s->links = p;
    return rc;
}

static int read_status(dec *d, tws_span *s) {
    obj o;
    int rc, f = -1; /* set by next_member(); gcc -O3 cannot prove it */
    if ((rc = obj_begin(d, &o))) return rc;
    while ((rc = obj_next(d, &o, status_fields, ST__N, &f)) == 1) {
        rc = f == ST_MESSAGE ? read_string(d, 0, &s->status_message)
                             : read_enum(d, status_names, 3, "StatusCode", &s->status_code);
        if (rc) return rc;
    }
    return rc;
}

/* Mark the span rejected for the id `what` (the first reason goes to err). */
static void reject(dec *d, tws_span *s, uint8_t code, const char *what, const id_result *r, size_t n) {
    if (s->reject) return;
    s->reject = code;
    if (d->noted) return;
    d->noted = true;
    char buf[96], why[128], path[200];
    snprintf(why, sizeof why, "%s: %s", what, id_reason(r, n, buf, sizeof buf));
    set_msg(d, path_text(d, path, sizeof path), ".", why);
}

static int read_span(dec *d, uint32_t scope) {
    tws_span s;
    memset(&s, 0, sizeof s);
    s.scope_idx = scope;
    s.trace_state = s.name = s.status_message = (tw_str){"", 0};
    id_result tid = {ID_MISSING, 0, 0}, sid = {ID_MISSING, 0, 0}, pid = {ID_MISSING, 0, 0};
    obj o;
    int rc, f = -1; /* set by next_member(); gcc -O3 cannot prove it */
    if ((rc = obj_begin(d, &o))) return rc;
    while ((rc = obj_next(d, &o, span_fields, S__N, &f)) == 1) {
        switch (f) {
        case S_TRACE_ID: rc = read_id(d, s.trace_id, 16, &tid); break;
        case S_SPAN_ID: rc = read_id(d, s.span_id, 8, &sid); break;
        case S_PARENT: rc = read_id(d, s.parent_span_id, 8, &pid); break;
        case S_TRACE_STATE: rc = read_string(d, 0, &s.trace_state); break;
        case S_FLAGS: rc = read_u32(d, &s.flags); break;
        case S_NAME: rc = read_string(d, 0, &s.name); break;
        case S_KIND: rc = read_enum(d, kind_names, 6, "SpanKind", &s.kind); break;
        case S_START: rc = read_u64(d, &s.start_ns); break;
        case S_END: rc = read_u64(d, &s.end_ns); break;
        case S_ATTRS:
        case S_DROPPED_ATTRS: rc = read_attrs_member(d, f - S_ATTRS, &s.attrs); break;
        case S_EVENTS: rc = read_events(d, &s); break;
        case S_DROPPED_EVENTS: rc = read_u32(d, &s.dropped_events); break;
        case S_LINKS: rc = read_links(d, &s); break;
        case S_DROPPED_LINKS: rc = read_u32(d, &s.dropped_links); break;
        default: rc = read_status(d, &s); break;
        }
        if (rc) return rc;
    }
    if (rc) return rc;
    /* path: the span itself */
    if (tid.why != ID_OK) reject(d, &s, TWS_REJECT_TRACE_ID, "traceId", &tid, 16);
    if (sid.why != ID_OK) reject(d, &s, TWS_REJECT_SPAN_ID, "spanId", &sid, 8);
    s.has_parent = pid.why == ID_OK;
    if (pid.why != ID_OK && pid.why != ID_MISSING && pid.why != ID_EMPTY && pid.why != ID_ZERO)
        reject(d, &s, TWS_REJECT_PARENT_ID, "parentSpanId", &pid, 8);
    if (s.reject) d->b->n_rejected++;
    tws_span *slot = vec_push(&d->spans, sizeof s);
    if (!slot) return fail_nomem(d);
    *slot = s;
    return 0;
}

/* ---- log records ------------------------------------------------------------------------ */

enum { LR_TIME, LR_OBSERVED, LR_SEV, LR_SEV_TEXT, LR_BODY, LR_ATTRS, LR_DROPPED, LR_FLAGS, LR_TRACE_ID, LR_SPAN_ID,
       LR_EVENT_NAME, LR__N };
static const field log_fields[LR__N] = {
    F("timeUnixNano", "time_unix_nano"),
    F("observedTimeUnixNano", "observed_time_unix_nano"),
    F("severityNumber", "severity_number"),
    F("severityText", "severity_text"),
    F("body", "body"),
    F("attributes", "attributes"),
    F("droppedAttributesCount", "dropped_attributes_count"),
    F("flags", "flags"),
    F("traceId", "trace_id"),
    F("spanId", "span_id"),
    F("eventName", "event_name"),
};
static const char *const severity_names[25] = {
    "SEVERITY_NUMBER_UNSPECIFIED", "SEVERITY_NUMBER_TRACE",  "SEVERITY_NUMBER_TRACE2", "SEVERITY_NUMBER_TRACE3",
    "SEVERITY_NUMBER_TRACE4",      "SEVERITY_NUMBER_DEBUG",  "SEVERITY_NUMBER_DEBUG2", "SEVERITY_NUMBER_DEBUG3",
    "SEVERITY_NUMBER_DEBUG4",      "SEVERITY_NUMBER_INFO",   "SEVERITY_NUMBER_INFO2",  "SEVERITY_NUMBER_INFO3",
    "SEVERITY_NUMBER_INFO4",       "SEVERITY_NUMBER_WARN",   "SEVERITY_NUMBER_WARN2",  "SEVERITY_NUMBER_WARN3",
    "SEVERITY_NUMBER_WARN4",       "SEVERITY_NUMBER_ERROR",  "SEVERITY_NUMBER_ERROR2", "SEVERITY_NUMBER_ERROR3",
    "SEVERITY_NUMBER_ERROR4",      "SEVERITY_NUMBER_FATAL",  "SEVERITY_NUMBER_FATAL2", "SEVERITY_NUMBER_FATAL3",
    "SEVERITY_NUMBER_FATAL4",
};

/* An optional id: missing, empty or all zero is none; anything else that
 * is not an id rejects the record. */
static bool opt_id_bad(const id_result *r) {
    return r->why != ID_OK && r->why != ID_MISSING && r->why != ID_EMPTY && r->why != ID_ZERO;
}

static void reject_log(dec *d, tws_log *l, uint8_t code, const char *what, const id_result *r, size_t n) {
    if (l->reject) return;
    l->reject = code;
    if (d->noted) return;
    d->noted = true;
    char buf[96], why[128], path[200];
    snprintf(why, sizeof why, "%s: %s", what, id_reason(r, n, buf, sizeof buf));
    set_msg(d, path_text(d, path, sizeof path), ".", why);
}

static int read_log(dec *d, uint32_t scope) {
    tws_log l;
    memset(&l, 0, sizeof l);
    l.scope_idx = scope;
    l.severity_text = l.event_name = (tw_str){"", 0};
    id_result tid = {ID_MISSING, 0, 0}, sid = {ID_MISSING, 0, 0};
    obj o;
    int rc, f = -1; /* set by next_member(); gcc -O3 cannot prove it */
    if ((rc = obj_begin(d, &o))) return rc;
    while ((rc = obj_next(d, &o, log_fields, LR__N, &f)) == 1) {
        switch (f) {
        case LR_TIME: rc = read_u64(d, &l.time_ns); break;
        case LR_OBSERVED: rc = read_u64(d, &l.observed_ns); break;
        case LR_SEV: rc = read_enum(d, severity_names, 25, "SeverityNumber", &l.severity); break;
        case LR_SEV_TEXT: rc = read_string(d, 0, &l.severity_text); break;
        case LR_EVENT_NAME: rc = read_string(d, 0, &l.event_name); break;
        case LR_BODY: {
            uint32_t limit = d->max_value_len; /* a line is not an attribute value: never cut */
            d->max_value_len = 0;
            rc = read_anyvalue(d, &l.body);
            d->max_value_len = limit;
            break;
        }
        case LR_ATTRS:
        case LR_DROPPED: rc = read_attrs_member(d, f - LR_ATTRS, &l.attrs); break;
        case LR_FLAGS: rc = read_u32(d, &l.flags); break;
        case LR_TRACE_ID: rc = read_id(d, l.trace_id, 16, &tid); break;
        default: rc = read_id(d, l.span_id, 8, &sid); break;
        }
        if (rc) return rc;
    }
    if (rc) return rc;
    l.has_trace_id = tid.why == ID_OK;
    l.has_span_id = sid.why == ID_OK;
    if (opt_id_bad(&tid)) reject_log(d, &l, TWS_REJECT_TRACE_ID, "traceId", &tid, 16);
    if (opt_id_bad(&sid)) reject_log(d, &l, TWS_REJECT_SPAN_ID, "spanId", &sid, 8);
    if (l.reject) d->b->n_rejected++;
    tws_log *slot = vec_push(&d->spans, sizeof l);
    if (!slot) return fail_nomem(d);
    *slot = l;
    return 0;
}

/* ---- resources and scopes --------------------------------------------------------------- */

enum { SC_NAME, SC_VERSION, SC_ATTRS, SC_DROPPED, SC__N };
static const field scope_fields[SC__N] = {
    F("name", "name"),
    F("version", "version"),
    F("attributes", "attributes"),
    F("droppedAttributesCount", "dropped_attributes_count"),
};

enum { SS_SCOPE, SS_LIBRARY, SS_SPANS, SS_SCHEMA, SS__N };
static const field scope_spans_fields[SS__N] = {
    F("scope", "scope"),
    F("instrumentationLibrary", "instrumentation_library"),
    F("spans", "spans"),
    F("schemaUrl", "schema_url"),
};
static const field scope_logs_fields[SS__N] = {
    F("scope", "scope"),
    F("instrumentationLibrary", "instrumentation_library"),
    F("logRecords", "log_records"),
    F("schemaUrl", "schema_url"),
};

enum { R_ATTRS, R_DROPPED, R__N };
static const field resource_fields[R__N] = {
    F("attributes", "attributes"),
    F("droppedAttributesCount", "dropped_attributes_count"),
};

enum { RS_RESOURCE, RS_SCOPE_SPANS, RS_LIBRARY_SPANS, RS_SCHEMA, RS__N };
static const field resource_spans_fields[RS__N] = {
    F("resource", "resource"),
    F("scopeSpans", "scope_spans"),
    F("instrumentationLibrarySpans", "instrumentation_library_spans"),
    F("schemaUrl", "schema_url"),
};
static const field resource_logs_fields[RS__N] = {
    F("resource", "resource"),
    F("scopeLogs", "scope_logs"),
    F("instrumentationLibraryLogs", "instrumentation_library_logs"),
    F("schemaUrl", "schema_url"),
};

enum { T_RESOURCE_SPANS, T_BATCHES, T_TRACE, T__N };
static const field top_fields[T__N] = {
    F("resourceSpans", "resource_spans"),
    F("batches", "batches"),
    F("trace", "trace"),
};
static const field top_logs_fields[1] = {F("resourceLogs", "resource_logs")};

static tws_scope *scope_at(dec *d, uint32_t i) { return (tws_scope *)d->scopes.data + i; }
static tws_resource *resource_at(dec *d, uint32_t i) { return (tws_resource *)d->resources.data + i; }

static int read_scope(dec *d, uint32_t si) {
    tws_scope sc = *scope_at(d, si);
    obj o;
    int rc, f = -1; /* set by next_member(); gcc -O3 cannot prove it */
    if ((rc = obj_begin(d, &o))) return rc;
    while ((rc = obj_next(d, &o, scope_fields, SC__N, &f)) == 1) {
        switch (f) {
        case SC_NAME: rc = read_string(d, 0, &sc.name); break;
        case SC_VERSION: rc = read_string(d, 0, &sc.version); break;
        default: rc = read_attrs_member(d, f - SC_ATTRS, &sc.attrs); break;
        }
        if (rc) return rc;
    }
    *scope_at(d, si) = sc; /* the vector does not move while a scope is read */
    return rc;
}

static int read_scope_spans(dec *d, uint32_t ri) {
    if (d->scopes.len / sizeof(tws_scope) >= UINT32_MAX) return fail_at(d, "too many scopes");
    uint32_t si = (uint32_t)(d->scopes.len / sizeof(tws_scope));
    tws_scope *sc = vec_push(&d->scopes, sizeof *sc);
    if (!sc) return fail_nomem(d);
    sc->resource_idx = ri;
    sc->name = sc->version = sc->schema_url = (tw_str){"", 0};
    obj o;
    int rc, f = -1; /* set by next_member(); gcc -O3 cannot prove it */
    if ((rc = obj_begin(d, &o))) return rc;
    while ((rc = obj_next(d, &o, d->logs ? scope_logs_fields : scope_spans_fields, SS__N, &f)) == 1) {
        switch (f) {
        case SS_SCOPE:
        case SS_LIBRARY: rc = read_scope(d, si); break;
        case SS_SPANS: { /* or logRecords */
            arr a;
            size_t item = d->logs ? sizeof(tws_log) : sizeof(tws_span);
            if ((rc = arr_begin(d, &a))) return rc;
            while ((rc = arr_next(d, &a)) == 1) {
                if (d->spans.len / item >= UINT32_MAX) return fail_at(d, d->logs ? "too many log records" : "too many spans");
                if ((rc = d->logs ? read_log(d, si) : read_span(d, si))) return rc;
            }
            break;
        }
        default: {
            tw_str url;
            if ((rc = read_string(d, 0, &url))) return rc;
            scope_at(d, si)->schema_url = url;
            break;
        }
        }
        if (rc) return rc;
    }
    return rc;
}

static int read_resource(dec *d, uint32_t ri) {
    tws_attrs at = resource_at(d, ri)->attrs;
    obj o;
    int rc, f = -1; /* set by next_member(); gcc -O3 cannot prove it */
    if ((rc = obj_begin(d, &o))) return rc;
    while ((rc = obj_next(d, &o, resource_fields, R__N, &f)) == 1)
        if ((rc = read_attrs_member(d, f - R_ATTRS, &at))) return rc;
    resource_at(d, ri)->attrs = at;
    return rc;
}

static int read_resource_spans(dec *d) {
    if (d->resources.len / sizeof(tws_resource) >= UINT32_MAX) return fail_at(d, "too many resources");
    uint32_t ri = (uint32_t)(d->resources.len / sizeof(tws_resource));
    tws_resource *r = vec_push(&d->resources, sizeof *r);
    if (!r) return fail_nomem(d);
    r->schema_url = (tw_str){"", 0};
    obj o;
    int rc, f = -1; /* set by next_member(); gcc -O3 cannot prove it */
    if ((rc = obj_begin(d, &o))) return rc;
    while ((rc = obj_next(d, &o, d->logs ? resource_logs_fields : resource_spans_fields, RS__N, &f)) == 1) {
        switch (f) {
        case RS_RESOURCE: rc = read_resource(d, ri); break;
        case RS_SCOPE_SPANS:
        case RS_LIBRARY_SPANS: {
            arr a;
            if ((rc = arr_begin(d, &a))) return rc;
            while ((rc = arr_next(d, &a)) == 1)
                if ((rc = read_scope_spans(d, ri))) return rc;
            break;
        }
        default: {
            tw_str url;
            if ((rc = read_string(d, 0, &url))) return rc;
            resource_at(d, ri)->schema_url = url;
            break;
        }
        }
        if (rc) return rc;
    }
    return rc;
}

static int read_request(dec *d) {
    obj o;
    int rc, f = -1; /* set by next_member(); gcc -O3 cannot prove it */
    if ((rc = obj_begin(d, &o))) return rc;
    while ((rc = d->logs ? obj_next(d, &o, top_logs_fields, 1, &f) : obj_next(d, &o, top_fields, T__N, &f)) == 1) {
        if (f == T_TRACE) {
            if ((rc = read_request(d))) return rc;
            continue;
        }
        arr a;
        if ((rc = arr_begin(d, &a))) return rc;
        while ((rc = arr_next(d, &a)) == 1)
            if ((rc = read_resource_spans(d))) return rc;
        if (rc) return rc;
    }
    return rc;
}

/* Move a vector into the arena. */
static int settle(dec *d, vec *v, size_t sz, void **out, uint32_t *n) {
    *n = (uint32_t)(v->len / sz);
    *out = NULL;
    if (!v->len) return 0;
    void *a = tws_batch_alloc(d->b, v->len);
    if (!a) return fail_nomem(d);
    memcpy(a, v->data, v->len);
    *out = a;
    return 0;
}

static int decode(const char *buf, size_t len, const tws_decode_options *o, tws_batch *out, tws_decode_error *err,
                  bool logs) {
    tws_decode_error spare;
    dec d;
    memset(&d, 0, sizeof d);
    d.logs = logs;
    d.buf = d.p = buf;
    d.end = buf + len;
    d.b = out;
    d.err = err ? err : &spare;
    d.err->msg[0] = '\0';
    if (o) {
        d.max_value_len = o->max_value_len;
        d.max_depth = o->max_depth;
        d.borrow = o->borrow_input;
    }
    if (!d.max_depth) d.max_depth = DEFAULT_MAX_DEPTH;
    tw__buf_init(&d.tmp, 0);
    tws_batch_init(out);

    int rc;
    if (len >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0) d.p += 3;
    if ((rc = read_request(&d))) goto out;
    ws(&d);
    if (d.p < d.end) {
        rc = fail_syntax(&d, d.p, "data after the top-level object");
        goto out;
    }
    void *p;
    if ((rc = settle(&d, &d.resources, sizeof(tws_resource), &p, &out->n_resources))) goto out;
    out->resources = p;
    if ((rc = settle(&d, &d.scopes, sizeof(tws_scope), &p, &out->n_scopes))) goto out;
    out->scopes = p;
    if (logs) {
        if ((rc = settle(&d, &d.spans, sizeof(tws_log), &p, &out->n_logs))) goto out;
        out->logs = p;
    } else {
        if ((rc = settle(&d, &d.spans, sizeof(tws_span), &p, &out->n_spans))) goto out;
        out->spans = p;
    }
out:
    tw__free(d.stack.data);
    tw__free(d.resources.data);
    tw__free(d.scopes.data);
    tw__free(d.spans.data);
    tw__buf_free(&d.tmp);
    if (rc) {
        tws_batch_free(out);
        if (!d.err->msg[0]) snprintf(d.err->msg, sizeof d.err->msg, "%s", tw_strerror(rc));
    }
    return rc;
}

int tws_otlp_decode_json(const char *buf, size_t len, const tws_decode_options *o, tws_batch *out,
                         tws_decode_error *err) {
    return decode(buf, len, o, out, err, false);
}

int tws_otlp_decode_logs_json(const char *buf, size_t len, const tws_decode_options *o, tws_batch *out,
                              tws_decode_error *err) {
    return decode(buf, len, o, out, err, true);
}
