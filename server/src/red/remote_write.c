/*
 * remote_write.c — the Prometheus remote-write sender (remote_write.h).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <curl/curl.h>
#include <snappy-c.h>

#include "common/clock.h"
#include "forward/http_reply.h"
#include "red/remote_write.h"

typedef struct item {
    struct item *next;
    char *body;
    size_t len;
} item;

struct tws_remote_write {
    tws_remote_write_options o;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t th;
    item *head, *tail;
    uint32_t queued;
    bool stop;
    uint64_t stop_deadline_ms;
    tws_remote_write_stats stats;
    CURL *curl;
    struct curl_slist *headers;
    long retry_after_s;
};


/* One POST: 1 delivered, 0 retry later, -1 refused (drop). */
static int post(tws_remote_write *rw, const item *it) {
    CURL *c = rw->curl;
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, it->body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)it->len);
    rw->retry_after_s = 0;
    CURLcode rc = curl_easy_perform(c);
    if (rc != CURLE_OK) return 0;
    long code = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    if (code >= 200 && code < 300) return 1;
    if (code == 429 || code >= 500) return 0;
    fprintf(stderr, "tracewire: remote_write to %s refused with HTTP %ld: request dropped\n", rw->o.url, code);
    return -1;
}

static void *sender(void *arg) {
    tws_remote_write *rw = arg;
    uint64_t backoff = 100;
    pthread_mutex_lock(&rw->mu);
    for (;;) {
        while (!rw->head && !rw->stop) pthread_cond_wait(&rw->cv, &rw->mu);
        if (!rw->head || (rw->stop && tw__mono_ms() >= rw->stop_deadline_ms)) break;
        item *it = rw->head;
        pthread_mutex_unlock(&rw->mu);
        int r = post(rw, it);
        pthread_mutex_lock(&rw->mu);
        if (r == 0) { /* retry the same request after a pause */
            rw->stats.retries++;
            uint64_t wait = rw->retry_after_s > 0 ? (uint64_t)rw->retry_after_s * 1000 : backoff;
            if (wait > 30000) wait = 30000;
            backoff = backoff * 2 > 30000 ? 30000 : backoff * 2;
            struct timespec until;
            clock_gettime(CLOCK_REALTIME, &until);
            until.tv_sec += (time_t)(wait / 1000);
            until.tv_nsec += (long)(wait % 1000) * 1000000;
            if (until.tv_nsec >= 1000000000) until.tv_sec++, until.tv_nsec -= 1000000000;
            if (!rw->stop) pthread_cond_timedwait(&rw->cv, &rw->mu, &until);
            continue;
        }
        backoff = 100;
        if (r > 0) rw->stats.sent++;
        else rw->stats.refused++;
        rw->head = it->next;
        if (!rw->head) rw->tail = NULL;
        rw->queued--;
        tw__free(it->body);
        tw__free(it);
    }
    /* stopping: what is left is dropped */
    while (rw->head) {
        item *it = rw->head;
        rw->head = it->next;
        rw->stats.dropped++;
        tw__free(it->body);
        tw__free(it);
    }
    rw->tail = NULL;
    rw->queued = 0;
    pthread_mutex_unlock(&rw->mu);
    return NULL;
}

int tws_remote_write_new(const tws_remote_write_options *o, tws_remote_write **out) {
    tws_remote_write *rw = tw__calloc(1, sizeof *rw);
    if (!rw) return TW_ENOMEM;
    rw->o = *o;
    if (!rw->o.max_queue) rw->o.max_queue = 64;
    if (!rw->o.drain_ms) rw->o.drain_ms = 2000;
    pthread_mutex_init(&rw->mu, NULL);
    pthread_cond_init(&rw->cv, NULL);
    rw->curl = curl_easy_init();
    if (rw->curl) {
        rw->headers = curl_slist_append(NULL, "Content-Type: application/x-protobuf");
        rw->headers = curl_slist_append(rw->headers, "Content-Encoding: snappy");
        rw->headers = curl_slist_append(rw->headers, "X-Prometheus-Remote-Write-Version: 0.1.0");
        rw->headers = curl_slist_append(rw->headers, "User-Agent: tracewire/" TW_VERSION_STRING);
        curl_easy_setopt(rw->curl, CURLOPT_URL, rw->o.url);
        curl_easy_setopt(rw->curl, CURLOPT_HTTPHEADER, rw->headers);
        curl_easy_setopt(rw->curl, CURLOPT_WRITEFUNCTION, tws_http_discard);
        curl_easy_setopt(rw->curl, CURLOPT_HEADERFUNCTION, tws_http_on_header);
        curl_easy_setopt(rw->curl, CURLOPT_HEADERDATA, &rw->retry_after_s);
        curl_easy_setopt(rw->curl, CURLOPT_TIMEOUT_MS, 10000L);
        curl_easy_setopt(rw->curl, CURLOPT_CONNECTTIMEOUT_MS, 3000L);
        curl_easy_setopt(rw->curl, CURLOPT_NOSIGNAL, 1L);
    }
    if (!rw->curl || !rw->headers || pthread_create(&rw->th, NULL, sender, rw) != 0) {
        curl_slist_free_all(rw->headers);
        if (rw->curl) curl_easy_cleanup(rw->curl);
        tw__free(rw);
        return TW_ENOMEM;
    }
    *out = rw;
    return TW_OK;
}

void tws_remote_write_free(tws_remote_write *rw) {
    if (!rw) return;
    pthread_mutex_lock(&rw->mu);
    rw->stop = true;
    rw->stop_deadline_ms = tw__mono_ms() + rw->o.drain_ms;
    pthread_cond_broadcast(&rw->cv);
    pthread_mutex_unlock(&rw->mu);
    pthread_join(rw->th, NULL);
    curl_slist_free_all(rw->headers);
    curl_easy_cleanup(rw->curl);
    pthread_mutex_destroy(&rw->mu);
    pthread_cond_destroy(&rw->cv);
    tw__free(rw);
}

int tws_remote_write_push(tws_remote_write *rw, const uint8_t *wr, size_t len) {
    item *it = tw__calloc(1, sizeof *it);
    size_t cap = snappy_max_compressed_length(len);
    if (it) it->body = tw__malloc(cap);
    if (!it || !it->body) {
        if (it) tw__free(it);
        return TW_ENOMEM;
    }
    it->len = cap;
    if (snappy_compress((const char *)wr, len, it->body, &it->len) != SNAPPY_OK) {
        tw__free(it->body);
        tw__free(it);
        return TW_ENOMEM;
    }
    pthread_mutex_lock(&rw->mu);
    int rc = TW_OK;
    if (rw->queued >= rw->o.max_queue || rw->stop) {
        rw->stats.dropped++;
        rc = TW_EFULL;
    } else {
        if (rw->tail) rw->tail->next = it;
        else rw->head = it;
        rw->tail = it;
        rw->queued++;
        pthread_cond_signal(&rw->cv);
    }
    pthread_mutex_unlock(&rw->mu);
    if (rc) {
        tw__free(it->body);
        tw__free(it);
    }
    return rc;
}

void tws_remote_write_get_stats(tws_remote_write *rw, tws_remote_write_stats *out) {
    pthread_mutex_lock(&rw->mu);
    *out = rw->stats;
    pthread_mutex_unlock(&rw->mu);
}
