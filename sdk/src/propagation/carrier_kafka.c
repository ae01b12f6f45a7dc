/*
 * carrier_kafka.c — a carrier over librdkafka message headers.
 *
 * librdkafka matches header names exactly; this carrier matches them ASCII
 * case-insensitively, like the HTTP one, so a producer that wrote
 * "X-B3-TraceId" and a consumer that reads "x-b3-traceid" still meet. get
 * walks every header (rd_kafka_header_get_all) and returns each matching
 * value; set removes every spelling of the name (rd_kafka_header_remove is
 * exact) and adds one header (rd_kafka_header_add copies name and value).
 */
#ifdef TW_HAVE_RDKAFKA

#include <limits.h>

#include <librdkafka/rdkafka.h>

#include "propagation/propagation_int.h"

static size_t kafka_get(void *self, const char *key, tw_str *out, size_t max) {
    const rd_kafka_headers_t *hdrs = self;
    const char *name;
    const void *value;
    size_t size, found = 0;
    for (size_t i = 0; found < max && rd_kafka_header_get_all(hdrs, i, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR;
         i++) {
        if (!tw__name_eq(name, key)) continue;
        out[found++] = value ? (tw_str){value, size} : (tw_str){"", 0};
    }
    return found;
}

static int map_err(rd_kafka_resp_err_t err) {
    switch (err) {
    case RD_KAFKA_RESP_ERR_NO_ERROR:
    case RD_KAFKA_RESP_ERR__NOENT: return TW_OK;
    case RD_KAFKA_RESP_ERR__READ_ONLY: return TW_ENOTSUP;
    default: return TW_EIO;
    }
}

/* Remove every header whose name equals `key` in any case. */
static int remove_all(rd_kafka_headers_t *hdrs, const char *key) {
    int rc = map_err(rd_kafka_header_remove(hdrs, key));
    const char *name;
    const void *value;
    size_t size;
    for (size_t i = 0; rc == TW_OK && rd_kafka_header_get_all(hdrs, i, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR;
         i++) {
        if (!tw__name_eq(name, key)) continue;
        /* Another spelling: removing it frees `name`, so copy it first, and
         * start over, since the indexes moved. */
        char *copy = tw__strndup(name, strlen(name));
        if (!copy) return TW_ENOMEM;
        rc = map_err(rd_kafka_header_remove(hdrs, copy));
        tw__free(copy);
        i = (size_t)-1;
    }
    return rc;
}

static int kafka_set(void *self, const char *key, const char *value, size_t value_len) {
    rd_kafka_headers_t *hdrs = self;
    if (!key) return TW_EINVAL;
    if (!value) value = "", value_len = 0;
    else if (value_len == TW_NTS) value_len = strlen(value);
    if (value_len > (size_t)SSIZE_MAX) return TW_EINVAL;
    int rc = remove_all(hdrs, key);
    if (rc != TW_OK) return rc;
    return map_err(rd_kafka_header_add(hdrs, key, -1, value, (ssize_t)value_len));
}

tw_carrier tw_kafka_headers_carrier(struct rd_kafka_headers_s *hdrs) {
    return (tw_carrier){hdrs, kafka_get, kafka_set};
}

#endif /* TW_HAVE_RDKAFKA */
