/*
 * loki_push.h — Loki's push API (POST /loki/api/v1/push) into the log model
 * (otlp/model.h): the JSON body, the protobuf body after snappy, and the
 * Prometheus label set a protobuf stream names itself by.
 *
 * Both decoders give the same batch for the same streams:
 *  - each stream is one resource whose attributes are its labels, string values, sorted by name, labels with an empty
 *    value left out (Loki drops them too), with one empty scope;
 *  - each entry is one tws_log of that scope: time_ns from the entry,
 *    observed_ns 0, no ids (tws_log_ids_from_content() finds them later),
 *    body the line as a string, attrs its structured metadata (string
 *    values, in the order sent);
 *  - strings are valid UTF-8 (invalid sequences replaced by U+FFFD, counted
 *    once per string in utf8_repairs); lines and metadata values longer than
 *    o->max_value_len are cut on a character boundary (counted in
 *    truncations); label names and values and metadata names are never cut;
 *  - with o->borrow_input, strings that need no decoding point into `buf`
 *    (which must then outlive the batch); without it, into one copy of the
 *    input in the batch arena.
 *
 * Refused with TW_EPARSE (the batch left empty, err->msg naming the place
 * as `streams[2].values[5][0]: timestamp is not an integer string`) is what
 * Loki refuses: a stream without labels ("at least one label pair is
 * required per stream"), a label name outside the Prometheus grammar
 * [a-zA-Z_][a-zA-Z0-9_]*, a label name given twice, a label, line or
 * metadata value that is not a string, a timestamp that is not a decimal
 * integer of nanoseconds since the epoch within int64, malformed JSON or
 * protobuf. TW_ENOMEM: memory (err->msg "out of memory"). `err` may be NULL.
 *
 * Memory: arrays are exact for protobuf (counted first); for JSON the
 * records grow in a vector copied into the arena at the end. A record is
 * ~170 bytes of batch for as little as 9 bytes of input (`["0",""],`), so
 * the caller caps the request size, as for OTLP.
 */
#ifndef TWS_LOGS_LOKI_PUSH_H
#define TWS_LOGS_LOKI_PUSH_H

#include "otlp/model.h"

/*
 * Loki's push JSON:
 *   {"streams": [{"stream": {"label": "value", ...},
 *                 "values": [["<unix ns>", "<line>"],
 *                            ["<unix ns>", "<line>", {"name": "value", ...}]]}]}
 * Timestamps are strings of decimal digits (Loki reads them with
 * ParseInt; JSON numbers are refused, as Loki refuses them). Unknown
 * members are skipped; null stands for an absent member; a member given
 * twice is refused; a stream without "values" has no entries.
 */
int tws_loki_decode_json(const char *buf, size_t len, const tws_decode_options *o, tws_batch *out,
                         tws_decode_error *err);

/*
 * Loki's push protobuf, already uncompressed (see tws_snappy_uncompress_capped):
 *   PushRequest      1 streams (repeated StreamAdapter), 2 format (skipped)
 *   StreamAdapter    1 labels (string, a label set: tws_loki_parse_labels),
 *                    2 entries (repeated EntryAdapter), 3 hash (skipped)
 *   EntryAdapter     1 timestamp (google.protobuf.Timestamp: 1 int64 seconds,
 *                    2 int32 nanos), 2 line, 3 structuredMetadata (repeated
 *                    LabelPairAdapter: 1 name, 2 value), 4 parsed (skipped)
 * A known field number with another wire type is skipped as unknown, as
 * protobuf runtimes do; groups are refused (common/pb.h's reader). A
 * missing timestamp is 0; nanos outside [0, 1e9), a time before 1970 or
 * past int64 nanoseconds (year 2262) are refused. Errors name the path and
 * the byte: `streams[0].entries[3].timestamp: nanos out of range at byte 91`,
 * `streams[0].labels: expected '=' after label name at offset 7`.
 */
int tws_loki_decode_pb(const uint8_t *buf, size_t len, const tws_decode_options *o, tws_batch *out,
                       tws_decode_error *err);

/*
 * A Prometheus label set as Loki writes a stream's labels, `{a="b", c="d"}`,
 * into `out` (items in b's arena, sorted by name, empty values dropped):
 * names [a-zA-Z_][a-zA-Z0-9_]*, values in double or single quotes with Go's
 * escapes (\a \b \f \n \r \t \v \\ \" or \' \xHH \OOO \uHHHH \UHHHHHHHH) or in
 * backquotes (raw), pairs separated by ',' with optional blanks (space, tab,
 * newline) around every token. Values are repaired to valid UTF-8 (counted
 * in b->utf8_repairs) and never cut. `s` must outlive the batch (values
 * without escapes point into it).
 * 0; TW_EPARSE with `msg` (at most msg_cap bytes, NUL-terminated) saying
 * what and where, e.g. "expected '=' after label name at offset 7",
 * "duplicate label name \"a\"", "at least one label pair is required per
 * stream"; TW_ENOMEM.
 */
int tws_loki_parse_labels(const char *s, size_t n, tws_batch *b, tws_attrs *out, char *msg, size_t msg_cap);

/*
 * Uncompress a snappy block (the raw format, not the framed one: what
 * promtail, Grafana Alloy and the Loki Docker driver send with
 * Content-Type application/x-protobuf) and append it to `out`.
 * TW_ERANGE when the length the block declares is above `max_out`, found
 * before anything is allocated (or when out's own cap is passed);
 * TW_EPARSE when the data is not valid snappy; TW_ENOMEM. On error out->len
 * is unchanged (a failed reserve leaves out->failed set, as buf.h does).
 */
int tws_snappy_uncompress_capped(const uint8_t *in, size_t len, size_t max_out, tw__buf *out);

#endif
