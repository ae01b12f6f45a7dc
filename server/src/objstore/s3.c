/*
 * s3.c — objstore.h over an S3-compatible bucket (see s3.h): PutObject,
 * GetObject (whole or a byte range), ListObjectsV2 with continuation
 * tokens, DeleteObject, each signed with libcurl's AWS SigV4.
 */
#include "objstore/s3.h"

#include "pipeline/digest.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define POOL_MAX 8
#define ATTEMPTS 5

typedef struct s3_store {
    tws_objstore base;
    char *endpoint; /* scheme://host[:port], no trailing '/' */
    char *bucket_enc;
    char *prefix;   /* raw, "" or ending in '/' */
    char *userpwd;  /* access:secret */
    char sigv4[160];
    struct curl_slist *token_hdr; /* x-amz-security-token, or NULL */
    uint32_t page, timeout_ms;
    pthread_mutex_t mu;
    CURL *pool[POOL_MAX];
    int n_pool;
} s3_store;

/* ---- small helpers ------------------------------------------------------------------------ */

typedef struct buf {
    char *p;
    size_t n, cap;
    /* get_range: write into a fixed caller buffer instead */
    uint8_t *fixed;
    size_t fixed_len;
    bool overflow;
} buf;

static size_t on_body(char *d, size_t sz, size_t nm, void *user) {
    buf *b = user;
    size_t n = sz * nm;
    if (b->fixed) {
        if (b->n + n > b->fixed_len) {
            b->overflow = true;
            return 0;
        }
        memcpy(b->fixed + b->n, d, n);
        b->n += n;
        return n;
    }
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->n + n + 1) cap *= 2;
        char *p = tw__realloc(b->p, cap);
        if (!p) return 0;
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, d, n);
    b->n += n;
    b->p[b->n] = 0;
    return n;
}

/* SigV4's URI encoding: unreserved bytes kept, '/' kept when `slash`,
 * everything else %XX in upper case. Appends to b; false on ENOMEM. */
static bool enc(buf *b, const char *s, bool slash) {
    static const char hex[] = "0123456789ABCDEF";
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        bool keep = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
                    c == '_' || c == '.' || c == '~' || (slash && c == '/');
        char e[3] = {(char)c, 0, 0};
        if (!keep) e[0] = '%', e[1] = hex[c >> 4], e[2] = hex[c & 15];
        if (on_body(e, 1, keep ? 1 : 3, b) != (keep ? 1u : 3u)) return false;
    }
    return true;
}

static bool add(buf *b, const char *s) { return on_body((char *)s, 1, strlen(s), b) == strlen(s); }

static char *dup(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = tw__malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

/* The text of <tag>...</tag> at or after p (before end), entity-decoded
 * into out; the position after the closing tag, or NULL when absent,
 * malformed or longer than out_len - 1. */
static const char *xml_text(const char *p, const char *end, const char *tag, char *out, size_t out_len) {
    char open[40], close[40];
    snprintf(open, sizeof open, "<%s>", tag);
    snprintf(close, sizeof close, "</%s>", tag);
    size_t ol = strlen(open), cl = strlen(close);
    const char *s = NULL, *e = NULL;
    for (const char *q = p; q + ol <= end; q++)
        if (memcmp(q, open, ol) == 0) {
            s = q + ol;
            break;
        }
    if (!s) return NULL;
    for (const char *q = s; q + cl <= end; q++)
        if (memcmp(q, close, cl) == 0) {
            e = q;
            break;
        }
    if (!e) return NULL;
    size_t n = 0;
    for (const char *q = s; q < e;) {
        char c = *q;
        if (c == '&') {
            const char *semi = memchr(q, ';', (size_t)(e - q));
            if (!semi) return NULL;
            size_t el = (size_t)(semi - q - 1);
            const char *ent = q + 1;
            unsigned long cp;
            if (el == 3 && memcmp(ent, "amp", 3) == 0) cp = '&';
            else if (el == 2 && memcmp(ent, "lt", 2) == 0) cp = '<';
            else if (el == 2 && memcmp(ent, "gt", 2) == 0) cp = '>';
            else if (el == 4 && memcmp(ent, "quot", 4) == 0) cp = '"';
            else if (el == 4 && memcmp(ent, "apos", 4) == 0) cp = '\'';
            else if (el >= 2 && el <= 8 && ent[0] == '#') {
                char num[10];
                memcpy(num, ent + 1, el - 1);
                num[el - 1] = 0;
                char *stop;
                bool hexnum = num[0] == 'x' || num[0] == 'X';
                cp = strtoul(num + hexnum, &stop, hexnum ? 16 : 10);
                if (*stop || stop == num + hexnum || cp == 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
                    return NULL;
            } else {
                return NULL;
            }
            /* UTF-8 of the code point */
            char u[4];
            size_t ul;
            if (cp < 0x80) u[0] = (char)cp, ul = 1;
            else if (cp < 0x800) u[0] = (char)(0xC0 | (cp >> 6)), u[1] = (char)(0x80 | (cp & 63)), ul = 2;
            else if (cp < 0x10000)
                u[0] = (char)(0xE0 | (cp >> 12)), u[1] = (char)(0x80 | ((cp >> 6) & 63)), u[2] = (char)(0x80 | (cp & 63)),
                ul = 3;
            else
                u[0] = (char)(0xF0 | (cp >> 18)), u[1] = (char)(0x80 | ((cp >> 12) & 63)),
                u[2] = (char)(0x80 | ((cp >> 6) & 63)), u[3] = (char)(0x80 | (cp & 63)), ul = 4;
            if (n + ul >= out_len) return NULL;
            memcpy(out + n, u, ul);
            n += ul;
            q = semi + 1;
            continue;
        }
        if (n + 1 >= out_len) return NULL;
        out[n++] = c;
        q++;
    }
    out[n] = 0;
    return e + cl;
}

static const char *find(const char *p, const char *end, const char *s) {
    size_t n = strlen(s);
    for (; p + n <= end; p++)
        if (memcmp(p, s, n) == 0) return p;
    return NULL;
}

int tws_s3_parse_list(const char *xml, size_t len, tws_objstore_list_fn fn, void *user, bool *truncated,
                      char *next_token, size_t token_len, tws_objstore_err *err) {
    const char *p = xml, *end = xml + len;
    *truncated = false;
    if (token_len) next_token[0] = 0;
    if (!find(p, end, "<ListBucketResult")) {
        if (err) snprintf(err->msg, sizeof err->msg, "the answer to a listing is not a ListBucketResult");
        return TW_EINVAL;
    }
    char v[1100];
    for (;;) {
        const char *c = find(p, end, "<Contents>");
        if (!c) break;
        const char *ce = find(c, end, "</Contents>");
        if (!ce) {
            if (err) snprintf(err->msg, sizeof err->msg, "a listing's <Contents> is not closed");
            return TW_EINVAL;
        }
        char key[1100];
        char *stop;
        if (!xml_text(c, ce, "Key", key, sizeof key) || !xml_text(c, ce, "Size", v, sizeof v)) {
            if (err) snprintf(err->msg, sizeof err->msg, "a listing's <Contents> lacks a readable <Key> or <Size>");
            return TW_EINVAL;
        }
        errno = 0;
        unsigned long long size = strtoull(v, &stop, 10);
        if (*stop || stop == v || v[0] == '-' || errno == ERANGE) {
            if (err) snprintf(err->msg, sizeof err->msg, "a listing's <Size> is not a number: \"%.60s\"", v);
            return TW_EINVAL;
        }
        int rc = fn(user, key, size);
        if (rc) return rc;
        p = ce + 11;
    }
    const char *t = xml_text(xml, end, "IsTruncated", v, sizeof v);
    *truncated = t && strcmp(v, "true") == 0;
    if (*truncated && (!xml_text(xml, end, "NextContinuationToken", next_token, token_len) || !next_token[0])) {
        if (err) snprintf(err->msg, sizeof err->msg, "a truncated listing has no usable <NextContinuationToken>");
        return TW_EINVAL;
    }
    return TW_OK;
}

/* ---- requests ----------------------------------------------------------------------------- */

static CURL *take(s3_store *s) {
    pthread_mutex_lock(&s->mu);
    CURL *c = s->n_pool ? s->pool[--s->n_pool] : NULL;
    pthread_mutex_unlock(&s->mu);
    return c ? c : curl_easy_init();
}

static void give(s3_store *s, CURL *c) {
    pthread_mutex_lock(&s->mu);
    if (s->n_pool < POOL_MAX) {
        s->pool[s->n_pool++] = c;
        c = NULL;
    }
    pthread_mutex_unlock(&s->mu);
    if (c) curl_easy_cleanup(c);
}

/* The S3 error of an answer body ("NoSuchKey: The specified key does not
 * exist."), or the body's start when it is not an S3 error. */
static void s3_error(const buf *b, long status, const char *what, const char *key, tws_objstore_err *err) {
    if (!err) return;
    char code[64] = "", msg[160] = "";
    if (b->p) {
        xml_text(b->p, b->p + b->n, "Code", code, sizeof code);
        xml_text(b->p, b->p + b->n, "Message", msg, sizeof msg);
    }
    snprintf(err->msg, sizeof err->msg, "S3 %s of \"%.80s\": HTTP %ld%s%s%s%s", what, key, status, code[0] ? " " : "",
             code, msg[0] ? ": " : "", msg);
}

typedef struct req {
    const char *method; /* GET PUT DELETE */
    const char *key;    /* relative key; NULL for a listing */
    const char *query;  /* already encoded and sorted, or NULL */
    const void *body;
    size_t body_len;
    const char *range; /* "bytes=a-b" or NULL */
    buf *out;
    curl_off_t length; /* out: the answer's Content-Length (-1 unknown) */
} req;

/* One request with retries. The final HTTP status in *status, or a
 * transport error as TW_EIO with err filled. */
static int perform(s3_store *s, req *r, long *status, tws_objstore_err *err) {
    buf url = {0};
    bool ok = add(&url, s->endpoint) && add(&url, "/") && add(&url, s->bucket_enc) && add(&url, "/");
    if (ok && r->key) ok = enc(&url, s->prefix, true) && enc(&url, r->key, true);
    if (ok && r->query) ok = add(&url, "?") && add(&url, r->query);
    CURL *c = ok ? take(s) : NULL;
    if (!c) {
        tw__free(url.p);
        return TW_ENOMEM;
    }
    /* S3 wants the payload's SHA-256 in a header, and SigV4 signs it. */
    char sha_hdr[40 + TWS_SHA256_HEX] = "x-amz-content-sha256: ";
    if (!tws_sha256_hex(r->body ? r->body : "", r->body_len, NULL, 0, sha_hdr + strlen(sha_hdr))) {
        give(s, c);
        tw__free(url.p);
        return TW_ENOMEM;
    }
    int rc = TW_EIO;
    char range_hdr[80];
    for (int attempt = 0; attempt < ATTEMPTS; attempt++) {
        if (attempt) {
            struct timespec ts = {0, (long)(50L << attempt) * 1000000L};
            nanosleep(&ts, NULL);
        }
        if (r->out) {
            r->out->n = 0;
            r->out->overflow = false;
        }
        curl_easy_reset(c);
        struct curl_slist *h = NULL, *h2;
        /* No "Expect: 100-continue" round trip and no form content type on PUT. */
        h2 = curl_slist_append(h, "Expect:");
        if (h2) h = h2;
        h2 = curl_slist_append(h, sha_hdr);
        if (h2) h = h2;
        if (r->body) {
            h2 = curl_slist_append(h, "Content-Type: application/octet-stream");
            if (h2) h = h2;
        }
        if (r->range) {
            snprintf(range_hdr, sizeof range_hdr, "Range: %s", r->range);
            h2 = curl_slist_append(h, range_hdr);
            if (h2) h = h2;
        }
        for (struct curl_slist *t = s->token_hdr; t; t = t->next) {
            h2 = curl_slist_append(h, t->data);
            if (h2) h = h2;
        }
        buf sink = {0};
        curl_easy_setopt(c, CURLOPT_URL, url.p);
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)s->timeout_ms);
        curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
        curl_easy_setopt(c, CURLOPT_AWS_SIGV4, s->sigv4);
        curl_easy_setopt(c, CURLOPT_USERPWD, s->userpwd);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, r->out ? r->out : &sink);
        if (strcmp(r->method, "PUT") == 0) {
            curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "PUT");
            curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body_len);
            curl_easy_setopt(c, CURLOPT_POSTFIELDS, r->body_len ? r->body : "");
        } else if (strcmp(r->method, "DELETE") == 0) {
            curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "DELETE");
        }
        CURLcode cc = curl_easy_perform(c);
        curl_slist_free_all(h);
        tw__free(sink.p);
        r->length = -1;
        curl_easy_getinfo(c, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &r->length);
        if (cc == CURLE_WRITE_ERROR && r->out && r->out->overflow) {
            curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status); /* more bytes than asked: the caller sees it */
            rc = TW_OK;
            break;
        }
        if (cc != CURLE_OK) {
            if (err)
                snprintf(err->msg, sizeof err->msg, "S3 %s of \"%.80s\" at %.80s: %s", r->method, r->key ? r->key : "(list)",
                         s->endpoint, curl_easy_strerror(cc));
            rc = cc == CURLE_OUT_OF_MEMORY ? TW_ENOMEM : TW_EIO;
            if (cc == CURLE_OUT_OF_MEMORY || cc == CURLE_WRITE_ERROR) break;
            continue;
        }
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
        rc = TW_OK;
        if (*status == 500 || *status == 502 || *status == 503 || *status == 504) {
            if (err) s3_error(r->out ? r->out : &sink, *status, r->method, r->key ? r->key : "(list)", err);
            rc = TW_EIO;
            continue;
        }
        break;
    }
    give(s, c);
    tw__free(url.p);
    return rc;
}

/* ---- operations --------------------------------------------------------------------------- */

static int s3_put(tws_objstore *base, const char *key, const void *data, size_t len, tws_objstore_err *err) {
    s3_store *s = (s3_store *)base;
    if (!tws_objstore_key_valid(key)) return TW_EINVAL;
    buf out = {0};
    long st = 0;
    req r = {.method = "PUT", .key = key, .body = data ? data : "", .body_len = len, .out = &out};
    int rc = perform(s, &r, &st, err);
    if (rc == TW_OK && st != 200) {
        s3_error(&out, st, "PUT", key, err);
        rc = TW_EIO;
    }
    tw__free(out.p);
    return rc;
}

static int s3_get(tws_objstore *base, const char *key, uint8_t **data, size_t *len, tws_objstore_err *err) {
    s3_store *s = (s3_store *)base;
    if (!tws_objstore_key_valid(key)) return TW_EINVAL;
    buf out = {0};
    long st = 0;
    req r = {.method = "GET", .key = key, .out = &out};
    int rc = perform(s, &r, &st, err);
    if (rc == TW_OK && st == 404) {
        rc = TW_ENOTFOUND;
    } else if (rc == TW_OK && st != 200) {
        s3_error(&out, st, "GET", key, err);
        rc = TW_EIO;
    }
    if (rc == TW_OK && !out.p && !(out.p = tw__malloc(1))) rc = TW_ENOMEM;
    if (rc) {
        tw__free(out.p);
        return rc;
    }
    *data = (uint8_t *)out.p;
    *len = out.n;
    return TW_OK;
}

static int s3_get_range(tws_objstore *base, const char *key, uint64_t off, size_t len, void *dst,
                        tws_objstore_err *err) {
    s3_store *s = (s3_store *)base;
    if (!tws_objstore_key_valid(key)) return TW_EINVAL;
    if (len == 0) { /* a zero-length range cannot be asked for: the object must merely be long enough */
        uint8_t *d;
        size_t n;
        int rc = s3_get(base, key, &d, &n, err);
        if (rc == TW_OK) {
            rc = off <= n ? TW_OK : TW_ENOTFOUND;
            tw__free(d);
        }
        return rc;
    }
    char range[64];
    snprintf(range, sizeof range, "bytes=%llu-%llu", (unsigned long long)off, (unsigned long long)(off + len - 1));
    buf out = {.fixed = dst, .fixed_len = len};
    long st = 0;
    req r = {.method = "GET", .key = key, .range = range, .out = &out};
    int rc = perform(s, &r, &st, err);
    if (rc) return rc;
    if (st == 404 || st == 416) return TW_ENOTFOUND;
    if (st == 206 && !out.overflow) return out.n == len ? TW_OK : TW_ENOTFOUND; /* short: the object ends first */
    /* Some servers (s3rver) answer an unsatisfiable range with the whole
     * object instead of 416: its length says the range was past the end. */
    if (st == 200 && r.length >= 0 && (uint64_t)r.length < off + len) return TW_ENOTFOUND;
    if (err) snprintf(err->msg, sizeof err->msg, "S3 GET of bytes %llu+%zu of \"%.80s\": HTTP %ld%s",
                      (unsigned long long)off, len, key, st, st == 200 || out.overflow ? " (the server ignored the range)" : "");
    return TW_EIO;
}

typedef struct list_ctx {
    s3_store *s;
    tws_objstore_list_fn fn;
    void *user;
    size_t skip; /* the store prefix's length */
} list_ctx;

static int on_listed(void *user, const char *key, uint64_t size) {
    list_ctx *l = user;
    if (strncmp(key, l->s->prefix, l->skip) != 0) return TW_OK;
    const char *k = key + l->skip;
    if (!tws_objstore_key_valid(k)) return TW_OK; /* not written by a store (a console's "folder" marker) */
    return l->fn(l->user, k, size);
}

/* Every page of the listing, or only the first when `one_page`. */
static int list_pages(s3_store *s, const char *prefix, tws_objstore_list_fn fn, void *user, bool one_page,
                      tws_objstore_err *err) {
    char token[1100] = "";
    list_ctx l = {s, fn, user, strlen(s->prefix)};
    for (;;) {
        /* Query parameters in SigV4's canonical (sorted) order. */
        buf q = {0}, out = {0};
        char page[48];
        snprintf(page, sizeof page, "list-type=2&max-keys=%u&prefix=", s->page);
        bool ok = true;
        if (token[0]) ok = add(&q, "continuation-token=") && enc(&q, token, false) && add(&q, "&");
        ok = ok && add(&q, page) && enc(&q, s->prefix, false) && enc(&q, prefix, false);
        long st = 0;
        req r = {.method = "GET", .query = q.p, .out = &out};
        int rc = ok ? perform(s, &r, &st, err) : TW_ENOMEM;
        tw__free(q.p);
        if (rc == TW_OK && st != 200) {
            s3_error(&out, st, "listing", prefix[0] ? prefix : "(all)", err);
            rc = TW_EIO;
        }
        bool more = false;
        if (rc == TW_OK) {
            rc = tws_s3_parse_list(out.p ? out.p : "", out.n, on_listed, &l, &more, token, sizeof token, err);
            if (rc == TW_EINVAL) rc = TW_EIO; /* a broken answer is the storage failing, not a bad key */
        }
        tw__free(out.p);
        if (rc || !more || one_page) return rc;
    }
}

static int s3_list(tws_objstore *base, const char *prefix, tws_objstore_list_fn fn, void *user,
                   tws_objstore_err *err) {
    return list_pages((s3_store *)base, prefix, fn, user, false, err);
}

static int s3_del(tws_objstore *base, const char *key, tws_objstore_err *err) {
    s3_store *s = (s3_store *)base;
    if (!tws_objstore_key_valid(key)) return TW_EINVAL;
    buf out = {0};
    long st = 0;
    req r = {.method = "DELETE", .key = key, .out = &out};
    int rc = perform(s, &r, &st, err);
    if (rc == TW_OK && st != 204 && st != 200 && st != 404) {
        s3_error(&out, st, "DELETE", key, err);
        rc = TW_EIO;
    }
    tw__free(out.p);
    return rc;
}

static void s3_close(tws_objstore *base) {
    s3_store *s = (s3_store *)base;
    for (int i = 0; i < s->n_pool; i++) curl_easy_cleanup(s->pool[i]);
    curl_slist_free_all(s->token_hdr);
    pthread_mutex_destroy(&s->mu);
    tw__free(s->endpoint);
    tw__free(s->bucket_enc);
    tw__free(s->prefix);
    tw__free(s->userpwd);
    tw__free(s);
}

static const tws_objstore_ops s3_ops = {s3_put, s3_get, s3_get_range, s3_list, s3_del, s3_close, NULL, NULL}; /* no views */

static int no_key(void *user, const char *key, uint64_t size) {
    (void)user, (void)key, (void)size;
    return TW_OK;
}

static bool valid_text(const char *s, size_t max) {
    if (!s || !*s || strlen(s) > max) return false;
    for (; *s; s++)
        if ((unsigned char)*s <= 0x20 || *s == 0x7f) return false;
    return true;
}

/* curl_global_init is not thread-safe: once per process, before any handle. */
static void global_init(void) { curl_global_init(CURL_GLOBAL_DEFAULT); }

bool tws_s3_prefix_valid(const char *prefix) {
    size_t n = strlen(prefix);
    if (!n) return true;
    if (prefix[n - 1] != '/' || n > 512) return false;
    char dir[512];
    snprintf(dir, sizeof dir, "%.*s", (int)n - 1, prefix);
    return tws_objstore_key_valid(dir);
}

int tws_objstore_s3_open(const tws_s3_options *o, tws_objstore **out, tws_objstore_err *err) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    const char *ak = o->access_key ? o->access_key : getenv("AWS_ACCESS_KEY_ID");
    const char *sk = o->secret_key ? o->secret_key : getenv("AWS_SECRET_ACCESS_KEY");
    const char *tok = o->session_token ? o->session_token : getenv("AWS_SESSION_TOKEN");
    const char *region = o->region && o->region[0] ? o->region : "us-east-1";
    const char *prefix = o->prefix ? o->prefix : "";
    const char *why = NULL;
    if (!valid_text(o->endpoint, 400)) why = "storage.s3.endpoint is missing or has spaces";
    else if (!valid_text(o->bucket, 63)) why = "storage.s3.bucket is missing, has spaces or is longer than 63 bytes";
    else if (!valid_text(region, 64) || strchr(region, ':')) why = "storage.s3.region is not a region name";
    else if (!ak || !*ak || !sk || !*sk || strchr(ak, ':'))
        why = "no S3 credentials: set storage.s3.access_key and secret_key, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY";
    else if (!tws_s3_prefix_valid(prefix))
        why = "storage.s3.prefix must end in '/', be at most 512 bytes and a valid key path (no empty segment, \".\" "
              "or \"..\")";
    if (why) {
        if (err) snprintf(err->msg, sizeof err->msg, "%s", why);
        return TW_EINVAL;
    }
    pthread_once(&once, global_init);
    s3_store *s = tw__calloc(1, sizeof *s);
    if (!s) return TW_ENOMEM;
    s->base.ops = &s3_ops;
    s->base.kind = "s3";
    pthread_mutex_init(&s->mu, NULL);
    s->page = o->list_page_size ? o->list_page_size : 1000;
    s->timeout_ms = o->timeout_ms ? o->timeout_ms : 30000;
    snprintf(s->sigv4, sizeof s->sigv4, "aws:amz:%s:s3", region);
    buf ep = {0}, bk = {0}, up = {0};
    bool ok = (strstr(o->endpoint, "://") ? true : add(&ep, "https://")) && add(&ep, o->endpoint);
    while (ok && ep.n && ep.p[ep.n - 1] == '/') ep.p[--ep.n] = 0;
    ok = ok && enc(&bk, o->bucket, false) && add(&up, ak) && add(&up, ":") && add(&up, sk);
    s->endpoint = ep.p, s->bucket_enc = bk.p, s->userpwd = up.p;
    s->prefix = ok ? dup(prefix) : NULL;
    if (ok && tok && *tok) {
        buf th = {0};
        ok = add(&th, "x-amz-security-token: ") && add(&th, tok) && (s->token_hdr = curl_slist_append(NULL, th.p));
        tw__free(th.p);
    }
    if (!ok || !s->prefix) {
        s3_close(&s->base);
        return TW_ENOMEM;
    }
    /* One page of at most one key: the endpoint, bucket and key pair work. */
    uint32_t page = s->page;
    s->page = 1;
    int rc = list_pages(s, "", no_key, NULL, true, err);
    s->page = page;
    if (rc) {
        s3_close(&s->base);
        return rc;
    }
    *out = &s->base;
    return TW_OK;
}
