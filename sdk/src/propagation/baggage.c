/*
 * baggage.c — the W3C `baggage` header as an immutable, shared value.
 *
 * Grammar (W3C Baggage):
 *   baggage-string = list-member *( OWS "," OWS list-member )
 *   list-member    = key OWS "=" OWS value *( OWS ";" OWS property )
 *   property       = key OWS "=" OWS value / key OWS
 *   key            = token                          ; RFC 7230 tchar
 *   value          = *baggage-octet
 *   baggage-octet  = %x21 / %x23-2B / %x2D-3A / %x3C-5B / %x5D-7E
 *
 * Rules chosen where the spec leaves room:
 *  - A value is percent-decoded; a '%' not followed by two hex digits makes
 *    the member malformed (skipped). Decoded bytes that are not well-formed
 *    UTF-8 become U+FFFD, one per maximal ill-formed subpart (the spec's MUST,
 *    done the way the WHATWG decoder does it).
 *  - Properties are checked against the grammar and kept verbatim (without
 *    the leading ";" and outer OWS) as the entry's metadata.
 *  - Empty and whitespace-only members (from joined header lines) are ignored
 *    and not counted as skipped.
 *  - A repeated key: the later member wins, in the place of the first.
 *  - Limits: a member is kept only while the baggage, serialised the way
 *    tw_baggage_format writes it, stays within 64 members and 8192 bytes;
 *    a member that does not fit is dropped whole and later, smaller ones may
 *    still fit. *skipped counts malformed and dropped members alike.
 *  - Formatting percent-encodes every byte outside baggage-octet and '%'
 *    itself (uppercase hex), nothing else.
 *
 * Layout: one allocation with the header, an entry table and a text block in
 * which each key, decoded value and metadata is followed by a NUL.
 * Removing the last entry yields a static, immortal empty object (see
 * tracestate.c for why it is not NULL).
 */
#include <assert.h>
#include <stdatomic.h>

#include "propagation/propagation_int.h"

#define MAX_MEMBERS TW_BAGGAGE_MAX_MEMBERS
#define MAX_BYTES TW_BAGGAGE_MAX_BYTES

typedef struct bg_entry {
    uint32_t koff, klen, voff, vlen, moff, mlen;
} bg_entry;

struct tw_baggage {
    _Atomic uint32_t refs; /* IMMORTAL for the static empty object */
    uint32_t n;
    const char *text;
    bg_entry e[];
};

#define IMMORTAL UINT32_MAX
static struct tw_baggage empty_baggage = {IMMORTAL, 0, ""};

/* How a member's value is held before it is copied into an entry. */
enum {
    V_PLAIN, /* header text without '%': copied as is, already valid UTF-8 */
    V_PCT,   /* header text with %XX sequences: decoded, then repaired */
    V_BYTES, /* bytes from the program or an entry: repaired if need be */
};

/* A member as slices of someone else's text, before it is copied. */
typedef struct bg_member {
    const char *k, *v, *m;
    size_t kl, vl, ml;
    size_t dl;  /* length of the decoded value */
    size_t enc; /* length of the member as tw_baggage_format writes it */
    uint8_t form; /* what v holds: one of V_* */
    uint32_t sig; /* key length and end bytes: most lookups fail on it */
} bg_member;

/* Character classes, one byte per character. */
enum { C_TCHAR = 1, C_OCTET = 2, C_PLAIN = 4 };
/* C_TCHAR: RFC 7230 tchar. C_OCTET: baggage-octet. C_PLAIN: a baggage-octet
 * other than '%', written as is by the formatter; all else becomes %XX. */
static const uint8_t CLS[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 7, 0, 7, 7, 3, 7, 7, 6, 6, 7, 7, 0, 7, 7, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 6, 0, 6, 6, 6, 6,
    6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 6, 0, 6, 7, 7,
    7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 6, 7, 6, 7, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
};

static inline bool is_plain(unsigned char c) { return CLS[c] & C_PLAIN; }

static size_t skip_ows(const char *p, size_t i, size_t n) {
    while (i < n && tw__is_ows(p[i])) i++;
    return i;
}

/* The end of the run of `cls` characters from i: four at a time (one branch
 * per four), then one by one. */
static inline size_t span_class(const char *p, size_t i, size_t n, uint8_t cls) {
    const unsigned char *u = (const unsigned char *)p;
    while (n - i >= 4 && (CLS[u[i]] & CLS[u[i + 1]] & CLS[u[i + 2]] & CLS[u[i + 3]] & cls)) i += 4;
    while (i < n && (CLS[u[i]] & cls)) i++;
    return i;
}

static size_t span_token(const char *p, size_t i, size_t n) { return span_class(p, i, n, C_TCHAR); }
static size_t span_octets(const char *p, size_t i, size_t n) { return span_class(p, i, n, C_OCTET); }

/* `p1;p2=v;...` (outer OWS already trimmed): every property well-formed. */
static bool props_valid(const char *p, size_t n) {
    size_t i = 0;
    for (;;) {
        i = skip_ows(p, i, n);
        size_t k = span_token(p, i, n);
        if (k == i) return false; /* empty property or a bad key */
        i = skip_ows(p, k, n);
        if (i < n && p[i] == '=') i = skip_ows(p, span_octets(p, skip_ows(p, i + 1, n), n), n);
        if (i == n) return true;
        if (p[i] != ';') return false;
        i++;
    }
}

/* Every '%' followed by two hex digits (either case, as RFC 3986 allows). */
static bool pct_valid(const char *v, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (v[i] != '%') continue;
        if (n - i < 3 || tw__hexval((unsigned char)v[i + 1]) < 0 || tw__hexval((unsigned char)v[i + 2]) < 0)
            return false;
        i += 2;
    }
    return true;
}

/* The next decoded byte of a validated value, or -1 at the end. */
static int next_byte(const char *s, size_t n, size_t *i) {
    if (*i >= n) return -1;
    unsigned char c = (unsigned char)s[*i];
    if (c != '%') {
        *i += 1;
        return c;
    }
    c = (unsigned char)(tw__hexval((unsigned char)s[*i + 1]) << 4 | tw__hexval((unsigned char)s[*i + 2]));
    *i += 3;
    return c;
}

typedef struct sink {
    char *out; /* NULL: only count */
    size_t len, enc;
} sink;

static void put(sink *k, unsigned char c) {
    if (k->out) k->out[k->len] = (char)c;
    k->len++;
    k->enc += is_plain(c) ? 1 : 3;
}

/*
 * Percent-decode a validated value (raw) or copy decoded bytes (!raw),
 * repairing ill-formed UTF-8 with U+FFFD in both cases, so whatever reaches
 * an entry is valid UTF-8. Counts the decoded and the re-encoded length.
 */
static void decode(const char *s, size_t n, bool raw, sink *k) {
    size_t i = 0;
    while (i < n) {
        /* Fast path: a run of bytes written as they are, copied at once. */
        size_t j = span_class(s, i, n, C_PLAIN);
        if (j > i) {
            if (k->out) memcpy(k->out + k->len, s + i, j - i);
            k->len += j - i, k->enc += j - i;
            i = j;
            continue;
        }
        int c = raw ? next_byte(s, n, &i) : (unsigned char)s[i++];
        if (c < 0x80) {
            put(k, (unsigned char)c);
            continue;
        }
        int need;
        int lo = 0x80, hi = 0xbf;
        if (c >= 0xc2 && c <= 0xdf) {
            need = 1;
        } else if (c >= 0xe0 && c <= 0xef) {
            need = 2;
            if (c == 0xe0) lo = 0xa0;
            if (c == 0xed) hi = 0x9f; /* no surrogates */
        } else if (c >= 0xf0 && c <= 0xf4) {
            need = 3;
            if (c == 0xf0) lo = 0x90;
            if (c == 0xf4) hi = 0x8f; /* nothing past U+10FFFF */
        } else {
            need = -1;
        }
        unsigned char seq[4] = {(unsigned char)c};
        int got = 0;
        while (got < need) {
            size_t save = i;
            int d = raw ? next_byte(s, n, &i) : (i < n ? (unsigned char)s[i++] : -1);
            if (d < lo || d > hi) { /* not consumed: it may start the next sequence */
                i = save;
                break;
            }
            seq[++got] = (unsigned char)d;
            lo = 0x80, hi = 0xbf;
        }
        if (got == need) {
            for (int q = 0; q <= need; q++) put(k, seq[q]);
        } else {
            put(k, 0xef), put(k, 0xbf), put(k, 0xbd);
        }
    }
}

static void measure(bg_member *m) {
    size_t dl = m->vl, enc = m->vl;
    if (m->form != V_PLAIN) {
        sink k = {NULL, 0, 0};
        decode(m->v, m->vl, m->form == V_PCT, &k);
        dl = k.len, enc = k.enc;
    }
    m->dl = dl;
    m->enc = m->kl + 1 + enc + (m->ml ? m->ml + 1 : 0);
}

static uint32_t key_sig(const char *k, size_t kl) {
    return kl ? (uint32_t)kl << 16 ^ (uint32_t)(unsigned char)k[0] << 8 ^ (unsigned char)k[kl - 1] : 0;
}

/* A trimmed, non-empty member; false when malformed. */
static bool parse_member(const char *p, size_t n, bg_member *m) {
    size_t i = span_token(p, 0, n);
    if (i == 0) return false;
    m->k = p, m->kl = i;
    m->sig = key_sig(p, i);
    i = skip_ows(p, i, n);
    if (i == n || p[i] != '=') return false;
    size_t vs = skip_ows(p, i + 1, n);
    i = span_octets(p, vs, n);
    m->v = p + vs, m->vl = i - vs;
    m->form = memchr(m->v, '%', m->vl) ? V_PCT : V_PLAIN;
    if (m->form == V_PCT && !pct_valid(m->v, m->vl)) return false;
    i = skip_ows(p, i, n);
    m->m = "", m->ml = 0;
    if (i < n) {
        if (p[i] != ';') return false;
        i = skip_ows(p, i + 1, n);
        if (!props_valid(p + i, n - i)) return false;
        m->m = p + i, m->ml = n - i;
    }
    measure(m);
    return true;
}

static tw_baggage *build(const bg_member *m, size_t n) {
    size_t len = 0;
    for (size_t i = 0; i < n; i++) len += m[i].kl + m[i].dl + m[i].ml + 3;
    tw_baggage *bg = tw__malloc(sizeof *bg + n * sizeof(bg_entry) + len);
    if (!bg) return NULL;
    char *text = (char *)&bg->e[n], *p = text;
    for (size_t i = 0; i < n; i++) {
        bg_entry *e = &bg->e[i];
        e->koff = (uint32_t)(p - text), e->klen = (uint32_t)m[i].kl;
        memcpy(p, m[i].k, m[i].kl), p += m[i].kl, *p++ = '\0';
        e->voff = (uint32_t)(p - text), e->vlen = (uint32_t)m[i].dl;
        if (m[i].form == V_PLAIN) {
            memcpy(p, m[i].v, m[i].vl);
        } else {
            sink k = {p, 0, 0};
            decode(m[i].v, m[i].vl, m[i].form == V_PCT, &k);
            assert(k.len == m[i].dl);
        }
        p += m[i].dl, *p++ = '\0';
        e->moff = (uint32_t)(p - text), e->mlen = (uint32_t)m[i].ml;
        memcpy(p, m[i].m, m[i].ml), p += m[i].ml, *p++ = '\0';
    }
    atomic_init(&bg->refs, 1);
    bg->n = (uint32_t)n;
    bg->text = text;
    return bg;
}

static size_t find(const bg_member *m, size_t n, const char *k, size_t kl) {
    uint32_t sig = key_sig(k, kl);
    for (size_t i = 0; i < n; i++)
        if (m[i].sig == sig && m[i].kl == kl && memcmp(m[i].k, k, kl) == 0) return i;
    return n;
}

int tw__baggage_parse_parts(const tw_str *parts, size_t nparts, tw_baggage **out, size_t *skipped) {
    bg_member m[MAX_MEMBERS];
    size_t n = 0, total = 0, skip = 0;

    *out = NULL;
    for (size_t p = 0; p < nparts; p++) {
        const char *s = parts[p].ptr;
        if (!s) continue;
        size_t len = tw__str_len(parts[p]);
        for (size_t i = 0, next; i <= len; i = next) {
            const char *ms = s + i;
            const char *comma = memchr(ms, ',', len - i);
            size_t ml = comma ? (size_t)(comma - ms) : len - i;
            next = i + ml + 1;
            tw__ows_trim(&ms, &ml);
            if (ml == 0) continue;
            bg_member cur;
            if (!parse_member(ms, ml, &cur)) {
                skip++;
                continue;
            }
            size_t j = find(m, n, cur.k, cur.kl);
            if (j < n) { /* the later one wins, if it fits */
                if (total - m[j].enc + cur.enc <= MAX_BYTES) {
                    total = total - m[j].enc + cur.enc;
                    m[j] = cur;
                } else {
                    skip++;
                }
                continue;
            }
            size_t add = cur.enc + (n ? 1 : 0);
            if (n == MAX_MEMBERS || total + add > MAX_BYTES) {
                skip++;
                continue;
            }
            m[n++] = cur;
            total += add;
        }
    }
    if (skipped) *skipped = skip;
    if (n == 0) return TW_OK;
    return (*out = build(m, n)) ? TW_OK : TW_ENOMEM;
}

int tw_baggage_parse(const char *s, size_t len, tw_baggage **out, size_t *skipped) {
    tw_str part = {s, len};
    return tw__baggage_parse_parts(&part, 1, out, skipped);
}

tw_baggage *tw_baggage_ref(tw_baggage *bg) {
    if (bg && bg != &empty_baggage) tw__ref_take(&bg->refs);
    return bg;
}

void tw_baggage_unref(tw_baggage *bg) {
    if (bg && bg != &empty_baggage && tw__ref_release(&bg->refs)) tw__free(bg);
}

size_t tw_baggage_count(const tw_baggage *bg) { return bg ? bg->n : 0; }

static size_t find_entry(const tw_baggage *bg, const char *key, size_t kl) {
    size_t n = bg ? bg->n : 0;
    for (size_t i = 0; i < n; i++)
        if (bg->e[i].klen == kl && memcmp(bg->text + bg->e[i].koff, key, kl) == 0) return i;
    return n;
}

int tw_baggage_get(const tw_baggage *bg, const char *key, tw_str *value) {
    if (!bg || !key) return TW_ENOTFOUND;
    size_t i = find_entry(bg, key, strlen(key));
    if (i == bg->n) return TW_ENOTFOUND;
    if (value) *value = (tw_str){bg->text + bg->e[i].voff, bg->e[i].vlen};
    return TW_OK;
}

int tw_baggage_at(const tw_baggage *bg, size_t index, tw_str *key, tw_str *value, tw_str *metadata) {
    if (!bg || index >= bg->n) return TW_ENOTFOUND;
    const bg_entry *e = &bg->e[index];
    if (key) *key = (tw_str){bg->text + e->koff, e->klen};
    if (value) *value = (tw_str){bg->text + e->voff, e->vlen};
    if (metadata) *metadata = (tw_str){bg->text + e->moff, e->mlen};
    return TW_OK;
}

static bg_member member_of(const tw_baggage *bg, size_t i) {
    const bg_entry *e = &bg->e[i];
    bg_member m = {bg->text + e->koff, bg->text + e->voff, bg->text + e->moff, e->klen, e->vlen, e->mlen,
                   0, 0, V_BYTES, 0};
    m.dl = e->vlen; /* stored values are valid UTF-8 already */
    return m;
}

/*
 * A new baggage from the entries of `bg` with entry `drop` left out (n: none)
 * and `put` (when not NULL) replacing entry `at`, or appended when at == n.
 */
static int rebuild(const tw_baggage *bg, size_t drop, const bg_member *put, size_t at, tw_baggage **out) {
    size_t nold = bg ? bg->n : 0, n = 0;
    bg_member stack_m[MAX_MEMBERS + 1], *m = stack_m;
    if (nold + 1 > TW_ARRAY_LEN(stack_m) && !(m = tw__malloc((nold + 1) * sizeof *m))) return TW_ENOMEM;
    for (size_t i = 0; i < nold; i++) {
        if (i == drop) continue;
        m[n++] = (put && i == at) ? *put : member_of(bg, i);
    }
    if (put && at == nold) m[n++] = *put;
    int rc = TW_OK;
    if (n == 0) *out = &empty_baggage;
    else if (!(*out = build(m, n))) rc = TW_ENOMEM;
    if (m != stack_m) tw__free(m);
    return rc;
}

int tw_baggage_set(const tw_baggage *bg, const char *key, const char *value, const char *metadata,
                   tw_baggage **out) {
    if (!out) return TW_EINVAL;
    *out = NULL;
    if (!key) return TW_EINVAL;
    size_t kl = strlen(key);
    if (kl == 0 || span_token(key, 0, kl) != kl) return TW_EINVAL;
    bg_member m = {key, value ? value : "", metadata ? metadata : "", kl, 0, 0, 0, 0, V_BYTES, 0};
    m.vl = strlen(m.v);
    m.ml = strlen(m.m);
    tw__ows_trim(&m.m, &m.ml);
    if (m.ml && !props_valid(m.m, m.ml)) return TW_EINVAL;
    if (m.vl > UINT32_MAX / 4 || m.ml > UINT32_MAX / 4 || kl > UINT32_MAX / 4) return TW_EINVAL;
    measure(&m);
    size_t nold = bg ? bg->n : 0;
    return rebuild(bg, nold, &m, find_entry(bg, key, kl), out);
}

int tw_baggage_remove(const tw_baggage *bg, const char *key, tw_baggage **out) {
    if (!out) return TW_EINVAL;
    *out = NULL;
    size_t nold = bg ? bg->n : 0;
    size_t at = key ? find_entry(bg, key, strlen(key)) : nold;
    if (at == nold) { /* absent: the same value */
        *out = tw_baggage_ref((tw_baggage *)bg);
        return TW_OK;
    }
    return rebuild(bg, at, NULL, nold, out);
}

/* Encoded length of entry i as it is written: key=value[;metadata]. */
static size_t entry_enc(const tw_baggage *bg, size_t i) {
    bg_member m = member_of(bg, i);
    measure(&m);
    return m.enc;
}

static char *write_entry(const tw_baggage *bg, size_t i, char *p) {
    const bg_entry *e = &bg->e[i];
    memcpy(p, bg->text + e->koff, e->klen);
    p += e->klen;
    *p++ = '=';
    const unsigned char *v = (const unsigned char *)bg->text + e->voff;
    for (size_t j = 0; j < e->vlen; j++) {
        if (is_plain(v[j])) {
            *p++ = (char)v[j];
        } else {
            *p++ = '%';
            *p++ = "0123456789ABCDEF"[v[j] >> 4];
            *p++ = "0123456789ABCDEF"[v[j] & 15];
        }
    }
    if (e->mlen) {
        *p++ = ';';
        memcpy(p, bg->text + e->moff, e->mlen);
        p += e->mlen;
    }
    return p;
}

int tw_baggage_format(const tw_baggage *bg, char *buf, size_t buf_len) {
    if (!buf || buf_len == 0) return TW_ERANGE;
    size_t n = bg ? bg->n : 0, total = 0, kept = 0;
    /* Decide which entries fit (first come, first kept), then write them;
     * the second pass repeats the same decisions. */
    for (size_t i = 0; i < n && kept < MAX_MEMBERS; i++) {
        size_t add = entry_enc(bg, i) + (kept ? 1 : 0);
        if (total + add <= MAX_BYTES) total += add, kept++;
    }
    if (total + 1 > buf_len) return TW_ERANGE;
    char *p = buf;
    size_t sum = 0;
    kept = 0;
    for (size_t i = 0; i < n && kept < MAX_MEMBERS; i++) {
        size_t add = entry_enc(bg, i) + (kept ? 1 : 0);
        if (sum + add > MAX_BYTES) continue;
        if (kept) *p++ = ',';
        p = write_entry(bg, i, p);
        sum += add, kept++;
    }
    *p = '\0';
    return (int)total;
}
