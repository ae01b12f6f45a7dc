/*
 * attributes.h — the Collector's attributes processor: an ordered list of
 * actions applied to the attributes of every span and every log record of
 * a batch.
 *
 *   insert   set `key` when it is absent
 *   update   set `key` when it is present
 *   upsert   set `key` either way
 *     (the value: `value`, or a copy of attribute `from_attribute`'s value;
 *      nothing happens when from_attribute is absent)
 *   delete   remove `key`, or every key fully matching `pattern`
 *   hash     replace `key`'s value (or that of every key matching `pattern`)
 *            by the hex SHA-256 of its text
 *   extract  match `pattern` against `key`'s string value; each named group
 *            (?P<name>...) that took part becomes attribute `name` (upsert)
 *   convert  turn `key`'s value into `converted_type` int, double or string;
 *            a value that does not parse is left as it is
 *
 * Invariants: a compiled processor is immutable (shareable between
 * threads); new strings and lists are allocated in the batch's arena.
 */
#ifndef TWS_ATTRIBUTES_H
#define TWS_ATTRIBUTES_H

#include "otlp/model.h"

typedef enum tws_attr_action_kind {
    TWS_ATTR_INSERT,
    TWS_ATTR_UPDATE,
    TWS_ATTR_UPSERT,
    TWS_ATTR_DELETE,
    TWS_ATTR_HASH,
    TWS_ATTR_EXTRACT,
    TWS_ATTR_CONVERT,
} tws_attr_action_kind;

typedef struct tws_attr_action {
    tws_attr_action_kind action;
    const char *key;            /* may be NULL for delete/hash with a pattern */
    tws_value value;            /* insert/update/upsert; its strings are copied */
    const char *from_attribute; /* instead of value */
    const char *pattern;        /* delete/hash (keys), extract (the value) */
    tws_type converted_type;    /* convert: TWS_INT, TWS_DOUBLE or TWS_STRING */
} tws_attr_action;

typedef struct tws_attributes tws_attributes;

/* TW_OK, or TW_EINVAL with "actions[1] (extract): pattern has no named
 * group" style messages in err, or TW_ENOMEM. */
int tws_attributes_new(const tws_attr_action *actions, size_t n, tws_attributes **out, char *err, size_t err_len);
void tws_attributes_free(tws_attributes *p);
/* Apply to every span's and log record's attributes. TW_OK or TW_ENOMEM. */
int tws_attributes_apply(const tws_attributes *p, tws_batch *b);

#endif
