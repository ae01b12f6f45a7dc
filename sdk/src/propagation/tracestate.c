/*
 * tracestate.c — the W3C `tracestate` header as an immutable, shared value.
 *
 * Grammar (Trace Context level 2, with the multi-tenant key of level 1):
 *   list        = list-member 0*31( OWS "," OWS list-member )
 *   list-member = key "=" value / OWS
 *   key         = simple-key / multi-tenant-key
 *   simple-key  = lcalpha 0*255( lcalpha / DIGIT / "_" / "-" / "*" / "/" )
 *   multi-tenant-key = tenant-id "@" system-id
 *   tenant-id   = ( lcalpha / DIGIT ) 0*240( lcalpha / DIGIT / "_" / "-" / "*" / "/" )
 *   system-id   = lcalpha 0*13( lcalpha / DIGIT / "_" / "-" / "*" / "/" )
 *   value       = 0*255( chr ) nblk-chr
 *   chr         = %x20 / nblk-chr
 *   nblk-chr    = %x21-2B / %x2D-3C / %x3E-7E
 * Spaces after "=" belong to the value; spaces and tabs at a member's ends
 * are OWS. The 32-member limit counts non-empty members only: empty members
 * exist because header lines get joined, so they carry nothing to count.
 *
 * Layout: one allocation holds the header, an entry table and the text. The
 * text is the canonical serialisation "k1=v1,k2=v2" (no OWS), so formatting
 * without truncation is one memcpy, and each entry is three 16-bit numbers
 * (offset of the key in the text, key length, value length): a lookup for a
 * short key such as the samplers' "ot" compares a length and at most a few
 * bytes per member, with everything on one or two cache lines.
 *
 * Sizes: a member is at most 256 + 1 + 256 = 513 characters, the text at most
 * 32 * 513 + 31 = 16447, so uint16_t holds every offset and length.
 *
 * Empty results: parse of an empty header gives NULL; removing the last
 * member gives a static, immortal empty object (never NULL), so a caller can
 * tell "nothing changed" (which it would otherwise report as NULL) from
 * "now empty". ref/unref leave the immortal object alone.
 */
#include <stdatomic.h>
#include <stdlib.h>

#include "propagation/propagation_int.h"

#define MAX_MEMBERS TW_TRACESTATE_MAX_MEMBERS
#define MAX_KEY 256
#define MAX_TENANT 241
#define MAX_SYSTEM 14
#define MAX_VALUE 256
#define LONG_ENTRY 128 /* entries longer than this go first when truncating */

typedef struct ts_entry {
    uint16_t off;  /* key starts at text + off; "=" and the value follow */
    uint16_t klen;
    uint16_t vlen;
} ts_entry;

struct tw_tracestate {
    _Atomic uint32_t refs; /* IMMORTAL for the static empty object */
    uint16_t n;
    uint16_t len; /* length of text, without the NUL */
    const char *text;
    ts_entry e[];
};

#define IMMORTAL UINT32_MAX

static struct tw_tracestate empty_state = {IMMORTAL, 0, 0, ""};

/* A member as slices of someone else's text, before it is copied. */
typedef struct ts_member {
    const char *k, *v;
    size_t kl, vl;
} ts_member;

static const char R_TOO_MANY[] = "tracestate: more than 32 list members";
static const char R_DUP[] = "tracestate: duplicate key";
static const char R_NO_EQ[] = "tracestate: list member without '='";
static const char R_KEY_EMPTY[] = "tracestate: empty key";
static const char R_KEY_LONG[] = "tracestate: key longer than 256 characters";
static const char R_KEY_FIRST[] = "tracestate: key does not start with a lowercase letter";
static const char R_KEY_CHAR[] = "tracestate: invalid character in key";
static const char R_TENANT_EMPTY[] = "tracestate: empty tenant id before '@'";
static const char R_TENANT_FIRST[] = "tracestate: tenant id does not start with a lowercase letter or digit";
static const char R_TENANT_LONG[] = "tracestate: tenant id longer than 241 characters";
static const char R_SYSTEM_EMPTY[] = "tracestate: empty system id after '@'";
static const char R_SYSTEM_FIRST[] = "tracestate: system id does not start with a lowercase letter";
static const char R_SYSTEM_LONG[] = "tracestate: system id longer than 14 characters";
static const char R_VALUE_EMPTY[] = "tracestate: empty value";
static const char R_VALUE_LONG[] = "tracestate: value longer than 256 characters";
static const char R_VALUE_CHAR[] = "tracestate: invalid character in value";
static const char R_VALUE_SPACE[] = "tracestate: value ends with a space";
static const char R_NOMEM[] = "tracestate: out of memory";

static inline bool is_lcalpha(unsigned char c) { return c >= 'a' && c <= 'z'; }
static inline bool is_digit(unsigned char c) { return c >= '0' && c <= '9'; }
static inline bool is_keychar(unsigned char c) {
    return is_lcalpha(c) || is_digit(c) || c == '_' || c == '-' || c == '*' || c == '/';
}

/* NULL when `k` is a valid key, else why not. */
static const char *key_error(const char *k, size_t n) {
    if (n == 0) return R_KEY_EMPTY;
    const char *at = memchr(k, '@', n);
    if (!at) {
        if (n > MAX_KEY) return R_KEY_LONG;
        if (!is_lcalpha((unsigned char)k[0])) return R_KEY_FIRST;
        for (size_t i = 1; i < n; i++)
            if (!is_keychar((unsigned char)k[i])) return R_KEY_CHAR;
        return NULL;
    }
    size_t tl = (size_t)(at - k), sl = n - tl - 1;
    const char *sys = at + 1;
    if (tl == 0) return R_TENANT_EMPTY;
    if (tl > MAX_TENANT) return R_TENANT_LONG;
    if (sl == 0) return R_SYSTEM_EMPTY;
    if (sl > MAX_SYSTEM) return R_SYSTEM_LONG;
    if (!is_lcalpha((unsigned char)k[0]) && !is_digit((unsigned char)k[0])) return R_TENANT_FIRST;
    for (size_t i = 1; i < tl; i++)
        if (!is_keychar((unsigned char)k[i])) return R_KEY_CHAR;
    if (!is_lcalpha((unsigned char)sys[0])) return R_SYSTEM_FIRST;
    for (size_t i = 1; i < sl; i++) /* a second '@' lands here */
        if (!is_keychar((unsigned char)sys[i])) return R_KEY_CHAR;
    return NULL;
}

static const char *value_error(const char *v, size_t n) {
    if (n == 0) return R_VALUE_EMPTY;
    if (n > MAX_VALUE) return R_VALUE_LONG;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)v[i];
        if (c < 0x20 || c > 0x7e || c == ',' || c == '=') return R_VALUE_CHAR;
    }
    if (v[n - 1] == ' ') return R_VALUE_SPACE;
    return NULL;
}

static bool key_eq(const ts_member *m, const char *k, size_t kl) {
    return m->kl == kl && memcmp(m->k, k, kl) == 0;
}

/* One allocation from member slices; NULL when the heap fails. n >= 1. */
static tw_tracestate *build(const ts_member *m, size_t n) {
    size_t len = n - 1;
    for (size_t i = 0; i < n; i++) len += m[i].kl + 1 + m[i].vl;
    tw_tracestate *ts = tw__malloc(sizeof *ts + n * sizeof(ts_entry) + len + 1);
    if (!ts) return NULL;
    char *text = (char *)&ts->e[n], *p = text;
    for (size_t i = 0; i < n; i++) {
        if (i) *p++ = ',';
        ts->e[i] = (ts_entry){(uint16_t)(p - text), (uint16_t)m[i].kl, (uint16_t)m[i].vl};
        memcpy(p, m[i].k, m[i].kl);
        p += m[i].kl;
        *p++ = '=';
        memcpy(p, m[i].v, m[i].vl);
        p += m[i].vl;
    }
    *p = '\0';
    atomic_init(&ts->refs, 1);
    ts->n = (uint16_t)n;
    ts->len = (uint16_t)len;
    ts->text = text;
    return ts;
}

/* The members of an existing state as slices into its text. */
static size_t members_of(const tw_tracestate *ts, ts_member *m) {
    size_t n = ts ? ts->n : 0;
    for (size_t i = 0; i < n; i++) {
        const char *k = ts->text + ts->e[i].off;
        m[i] = (ts_member){k, k + ts->e[i].klen + 1, ts->e[i].klen, ts->e[i].vlen};
    }
    return n;
}

int tw__tracestate_parse_parts(const tw_str *parts, size_t nparts, tw_tracestate **out, const char **why) {
    ts_member m[MAX_MEMBERS];
    size_t n = 0;
    const char *reason = NULL;

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
            if (n == MAX_MEMBERS) {
                reason = R_TOO_MANY;
                goto bad;
            }
            const char *eq = memchr(ms, '=', ml);
            if (!eq) {
                reason = R_NO_EQ;
                goto bad;
            }
            ts_member *cur = &m[n];
            *cur = (ts_member){ms, eq + 1, (size_t)(eq - ms), ml - (size_t)(eq - ms) - 1};
            if ((reason = key_error(cur->k, cur->kl)) || (reason = value_error(cur->v, cur->vl))) goto bad;
            for (size_t j = 0; j < n; j++) {
                if (key_eq(&m[j], cur->k, cur->kl)) {
                    reason = R_DUP;
                    goto bad;
                }
            }
            n++;
        }
    }
    if (n == 0) return TW_OK;
    if (!(*out = build(m, n))) {
        if (why) *why = R_NOMEM;
        return TW_ENOMEM;
    }
    return TW_OK;

bad:
    if (why) *why = reason;
    return TW_EPARSE;
}

int tw_tracestate_parse(const char *s, size_t len, tw_tracestate **out, const char **why) {
    tw_str part = {s, len};
    return tw__tracestate_parse_parts(&part, 1, out, why);
}

tw_tracestate *tw_tracestate_ref(tw_tracestate *ts) {
    if (ts && ts != &empty_state) tw__ref_take(&ts->refs);
    return ts;
}

void tw_tracestate_unref(tw_tracestate *ts) {
    if (ts && ts != &empty_state && tw__ref_release(&ts->refs)) tw__free(ts);
}

size_t tw_tracestate_count(const tw_tracestate *ts) { return ts ? ts->n : 0; }

int tw_tracestate_get(const tw_tracestate *ts, const char *key, tw_str *value) {
    if (!ts || !key) return TW_ENOTFOUND;
    size_t kl = strlen(key);
    for (size_t i = 0; i < ts->n; i++) {
        const ts_entry *e = &ts->e[i];
        const char *k = ts->text + e->off;
        if (e->klen == kl && k[0] == key[0] && memcmp(k, key, kl) == 0) {
            if (value) *value = (tw_str){k + kl + 1, e->vlen};
            return TW_OK;
        }
    }
    return TW_ENOTFOUND;
}

int tw_tracestate_at(const tw_tracestate *ts, size_t index, tw_str *key, tw_str *value) {
    if (!ts || index >= ts->n) return TW_ENOTFOUND;
    const ts_entry *e = &ts->e[index];
    const char *k = ts->text + e->off;
    if (key) *key = (tw_str){k, e->klen};
    if (value) *value = (tw_str){k + e->klen + 1, e->vlen};
    return TW_OK;
}

int tw_tracestate_set(const tw_tracestate *ts, const char *key, const char *value, size_t value_len,
                      tw_tracestate **out) {
    ts_member old[MAX_MEMBERS], m[MAX_MEMBERS];
    if (!out) return TW_EINVAL;
    *out = NULL;
    if (!key || !value) return TW_EINVAL;
    if (value_len == TW_NTS) value_len = strlen(value);
    size_t kl = strlen(key);
    if (key_error(key, kl) || value_error(value, value_len)) return TW_EINVAL;

    /* Mutation moves left: the new member first, the others in their order,
     * the rightmost dropped beyond 32. */
    size_t nold = members_of(ts, old), n = 0;
    m[n++] = (ts_member){key, value, kl, value_len};
    for (size_t i = 0; i < nold && n < MAX_MEMBERS; i++)
        if (!key_eq(&old[i], key, kl)) m[n++] = old[i];
    return (*out = build(m, n)) ? TW_OK : TW_ENOMEM;
}

int tw_tracestate_remove(const tw_tracestate *ts, const char *key, tw_tracestate **out) {
    ts_member old[MAX_MEMBERS];
    if (!out) return TW_EINVAL;
    *out = NULL;
    size_t nold = members_of(ts, old), kl = key ? strlen(key) : 0, at = nold;
    for (size_t i = 0; key && i < nold; i++)
        if (key_eq(&old[i], key, kl)) at = i;
    if (at == nold) { /* absent: the same value */
        *out = tw_tracestate_ref((tw_tracestate *)ts);
        return TW_OK;
    }
    if (nold == 1) {
        *out = &empty_state;
        return TW_OK;
    }
    memmove(&old[at], &old[at + 1], (nold - at - 1) * sizeof old[0]);
    return (*out = build(old, nold - 1)) ? TW_OK : TW_ENOMEM;
}

static size_t entry_len(const ts_entry *e) { return (size_t)e->klen + 1 + e->vlen; }

int tw_tracestate_format(const tw_tracestate *ts, size_t max_len, char *buf, size_t buf_len) {
    size_t n = ts ? ts->n : 0;
    if (!buf || buf_len == 0) return TW_ERANGE;
    if (n == 0) {
        buf[0] = '\0';
        return 0;
    }
    if (max_len == 0 || ts->len <= max_len) {
        if ((size_t)ts->len + 1 > buf_len) return TW_ERANGE;
        memcpy(buf, ts->text, (size_t)ts->len + 1);
        return ts->len;
    }

    /* Truncate by whole entries: first the long ones from the right, then
     * any from the right, until the rest fits. */
    bool keep[MAX_MEMBERS];
    size_t sum = 0, kept = n;
    for (size_t i = 0; i < n; i++) keep[i] = true, sum += entry_len(&ts->e[i]);
#define CUR_LEN() (sum + (kept ? kept - 1 : 0))
    for (size_t i = n; i-- > 0 && CUR_LEN() > max_len;) {
        if (entry_len(&ts->e[i]) > LONG_ENTRY) keep[i] = false, sum -= entry_len(&ts->e[i]), kept--;
    }
    for (size_t i = n; i-- > 0 && CUR_LEN() > max_len;) {
        if (keep[i]) keep[i] = false, sum -= entry_len(&ts->e[i]), kept--;
    }
    size_t len = CUR_LEN();
#undef CUR_LEN
    if (len + 1 > buf_len) return TW_ERANGE;
    char *p = buf;
    for (size_t i = 0; i < n; i++) {
        if (!keep[i]) continue;
        if (p != buf) *p++ = ',';
        memcpy(p, ts->text + ts->e[i].off, entry_len(&ts->e[i]));
        p += entry_len(&ts->e[i]);
    }
    *p = '\0';
    return (int)len;
}
