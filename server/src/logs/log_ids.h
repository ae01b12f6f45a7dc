/*
 * log_ids.h — trace and span ids that log records carry in their content
 * rather than in their id fields (Loki pushes, and OTLP records written by
 * loggers that only print the ids).
 */
#ifndef TWS_LOGS_LOG_IDS_H
#define TWS_LOGS_LOG_IDS_H

#include "otlp/model.h"

/*
 * For each record of `b` without has_trace_id (and not rejected), the ids
 * from the first of these sources that has a well-formed trace id:
 *  (a) its attributes (Loki: structured metadata);
 *  (b) a body that is a JSON object in a string, or a kvlist body: its
 *      top-level members;
 *  (c) a string body that is not a JSON object: logfmt pairs `trace_id=<hex>`
 *      (the value may be in double quotes), at the start of the line or
 *      after a blank.
 * A trace id is named trace_id, traceid, traceId (any case of the letters,
 * `_` optional: traceID, Trace_Id...) and a span id span_id, spanid, spanId
 * likewise; the value is a string of exactly 32 / 16 hex digits of either
 * case, not all zero. The span id is taken from the source the trace id
 * came from, and only when the record has none. Anything else is ignored:
 * the call never fails and never allocates. A line without "race" in it
 * costs one memmem.
 */
void tws_log_ids_from_content(tws_batch *b);

#endif
