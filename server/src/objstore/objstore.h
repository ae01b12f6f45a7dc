/*
 * objstore.h — the small object-store interface every block is written
 * through: put, get, get a byte range, list, delete. The local-directory
 * implementation is the default; an S3-compatible one sits behind the same
 * operations.
 *
 * Keys are relative paths of '/'-separated segments ("tenant/block/data").
 * A valid key is 1..1024 bytes, has no empty segment, no segment "." or
 * "..", no segment starting with ".tmp." (reserved for unfinished puts), no
 * leading or trailing '/', and no byte below 0x20 or 0x7f; every operation
 * refuses other keys with TW_EINVAL. Producers never make a key that is
 * also another key's directory ("a" and "a/b"): the local store cannot
 * hold both (TW_EIO), and segments longer than 255 bytes do not fit it. Tenants and block ids are
 * checked by their producers, so a key never escapes the store's root.
 *
 * Invariants:
 *  - put is atomic: a reader sees the whole new object or none of it (the
 *    local store writes a temporary file, syncs it, renames it into place
 *    and syncs the directory), and once put returns TW_OK the object
 *    survives a crash of the process or the machine.
 *  - Objects are immutable once written: put over an existing key replaces
 *    it atomically (blocks never do; meta objects may).
 *  - list never shows a temporary file of an unfinished put.
 *  - Thread-safe: operations may run concurrently from several threads.
 *
 * Errors: TW_ENOTFOUND (no such key, or a range past the end of the
 * object), TW_EINVAL (bad key), TW_EIO (the storage failed; `err` names
 * the key and the system's reason), TW_ENOMEM.
 */
#ifndef TWS_OBJSTORE_H
#define TWS_OBJSTORE_H

#include <stddef.h>
#include <stdint.h>

#include "common/tw_base.h"

typedef struct tws_objstore tws_objstore;

/* What went wrong, filled by a failing operation (may be NULL). */
typedef struct tws_objstore_err {
    char msg[256];
} tws_objstore_err;

/* Called once per key under the prefix, in no particular order; `size` is
 * the object's length; `key` is valid only during the call. Return 0 to go on, or a TW_E* code to stop (list
 * then returns it). */
typedef int (*tws_objstore_list_fn)(void *user, const char *key, uint64_t size);

typedef struct tws_objstore_ops {
    int (*put)(tws_objstore *s, const char *key, const void *data, size_t len, tws_objstore_err *err);
    /* The whole object into a tw__malloc'd buffer the caller frees (never
     * NULL on success, also for an empty object). */
    int (*get)(tws_objstore *s, const char *key, uint8_t **data, size_t *len, tws_objstore_err *err);
    /* Exactly `len` bytes at `off` into `out`; TW_ENOTFOUND when the object
     * is shorter than off + len. */
    int (*get_range)(tws_objstore *s, const char *key, uint64_t off, size_t len, void *out, tws_objstore_err *err);
    /* Every key starting with `prefix` ("" for all; a prefix normally ends in '/'). */
    int (*list)(tws_objstore *s, const char *prefix, tws_objstore_list_fn fn, void *user, tws_objstore_err *err);
    /* Deleting a missing key is TW_OK (delete is idempotent); a delete that
     * returned TW_OK survives a crash. */
    int (*del)(tws_objstore *s, const char *key, tws_objstore_err *err);
    void (*close)(tws_objstore *s);
    /* Optional (NULL: get_range only). A read-only view of the whole object
     * in *data (NULL when it is empty), valid until unmap, even after the
     * object is deleted or replaced: objects are never changed in place. */
    int (*map)(tws_objstore *s, const char *key, const uint8_t **data, size_t *len, tws_objstore_err *err);
    void (*unmap)(tws_objstore *s, const uint8_t *data, size_t len);
} tws_objstore_ops;

struct tws_objstore {
    const tws_objstore_ops *ops;
    const char *kind; /* "local", "s3" */
};

/* Open a store rooted at directory `root` (created, with parents, if
 * missing). Leftover temporary files of puts that a crash interrupted are
 * removed. TW_EIO with *err when the directory cannot be made or opened. */
int tws_objstore_local_open(const char *root, tws_objstore **out, tws_objstore_err *err);

/* True when `key` is a valid key (see above). */
bool tws_objstore_key_valid(const char *key);

static inline int tws_obj_put(tws_objstore *s, const char *k, const void *d, size_t n, tws_objstore_err *e) {
    return s->ops->put(s, k, d, n, e);
}
static inline int tws_obj_get(tws_objstore *s, const char *k, uint8_t **d, size_t *n, tws_objstore_err *e) {
    return s->ops->get(s, k, d, n, e);
}
static inline int tws_obj_get_range(tws_objstore *s, const char *k, uint64_t off, size_t n, void *out,
                                    tws_objstore_err *e) {
    return s->ops->get_range(s, k, off, n, out, e);
}
static inline int tws_obj_list(tws_objstore *s, const char *prefix, tws_objstore_list_fn fn, void *user,
                               tws_objstore_err *e) {
    return s->ops->list(s, prefix, fn, user, e);
}
static inline int tws_obj_del(tws_objstore *s, const char *k, tws_objstore_err *e) { return s->ops->del(s, k, e); }
/* TW_ENOTSUP when the store has no views. */
static inline int tws_obj_map(tws_objstore *s, const char *k, const uint8_t **d, size_t *n, tws_objstore_err *e) {
    return s->ops->map ? s->ops->map(s, k, d, n, e) : TW_ENOTSUP;
}
static inline void tws_obj_unmap(tws_objstore *s, const uint8_t *d, size_t n) {
    if (d) s->ops->unmap(s, d, n);
}
static inline void tws_obj_close(tws_objstore *s) {
    if (s) s->ops->close(s);
}

#endif
