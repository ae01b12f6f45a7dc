/*
 * httputil.c — small helpers over libevent's evhttp used by the receiver
 * and the query API: replies, media types, gzip, tenant ids.
 */
#include <ctype.h>
#include <event2/buffer.h>
#include <event2/http.h>
#include <zlib.h>

#include "serve/server_int.h"

void tws_reply_text(struct evhttp_request *req, int code, const char *reason, const char *content_type,
                    const char *body, size_t len) {
    struct evbuffer *b = evbuffer_new();
    if (b && len) evbuffer_add(b, body, len);
    if (content_type) evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", content_type);
    evhttp_send_reply(req, code, reason, b);
    if (b) evbuffer_free(b);
}

bool tws_media_type_is(const char *ct, const char *media) {
    if (!ct) return false;
    while (*ct == ' ' || *ct == '\t') ct++;
    size_t n = strlen(media);
    if (strncasecmp(ct, media, n) != 0) return false;
    ct += n;
    while (*ct == ' ' || *ct == '\t') ct++;
    return *ct == '\0' || *ct == ';';
}

int tws_gunzip(const uint8_t *in, size_t len, tw__buf *out) {
    z_stream z;
    memset(&z, 0, sizeof z);
    if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK) return TW_ENOMEM;
    z.next_in = (Bytef *)in;
    z.avail_in = (uInt)len;
    int rc = TW_OK, zr = Z_OK;
    while (zr != Z_STREAM_END) {
        size_t want = TW_MIN((size_t)64 * 1024, out->max - out->len);
        if (want == 0) { /* over the cap with input left: a bomb, or just too big */
            rc = TW_ERANGE;
            break;
        }
        if (tw__buf_reserve(out, want) != 0) {
            rc = out->failed;
            break;
        }
        z.next_out = out->data + out->len;
        z.avail_out = (uInt)TW_MIN(out->cap - out->len, (size_t)UINT32_MAX);
        size_t before = z.avail_out;
        zr = inflate(&z, Z_NO_FLUSH);
        out->len += before - z.avail_out;
        if (zr == Z_STREAM_END) break;
        if ((zr != Z_OK && zr != Z_BUF_ERROR) || (zr == Z_BUF_ERROR && z.avail_in == 0)) {
            rc = TW_EPARSE; /* corrupt, or truncated */
            break;
        }
    }
    inflateEnd(&z);
    return rc;
}

bool tws_tenant_valid(const char *t) {
    size_t n = strlen(t);
    if (n == 0 || n > 150 || strcmp(t, ".") == 0 || strcmp(t, "..") == 0) return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)t[i];
        if (!(isalnum(c) || strchr("!-_.*'()", c))) return false;
    }
    return true;
}
