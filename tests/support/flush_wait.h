/*
 * flush_wait.h — waiting for the block store's worker in unit tests
 * (header-only): a tws_store_flushed_fn that records the answer, and the
 * wait for it.
 */
#ifndef TW_TEST_FLUSH_WAIT_H
#define TW_TEST_FLUSH_WAIT_H

#include <pthread.h>

typedef struct done_wait {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int rc, done;
} done_wait;

#define DONE_WAIT_INIT {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0}

static inline void on_done(void *user, int rc, const char *err) {
    done_wait *d = user;
    (void)err;
    pthread_mutex_lock(&d->mu);
    d->rc = rc;
    d->done = 1;
    pthread_cond_signal(&d->cv);
    pthread_mutex_unlock(&d->mu);
}

/* Until on_done was called; its rc. */
static inline int wait_done(done_wait *d) {
    pthread_mutex_lock(&d->mu);
    while (!d->done) pthread_cond_wait(&d->cv, &d->mu);
    pthread_mutex_unlock(&d->mu);
    return d->rc;
}

#endif
