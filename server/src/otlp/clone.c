/*
 * clone.c — a deep copy of a batch, made by encoding it to OTLP protobuf
 * and decoding that again: the copy is exactly what a receiver would have
 * decoded from the same records, with no second copy routine to keep in
 * step with the model. Used where a pipeline hands one batch to several
 * consumers that each take ownership.
 */
#include "otlp/model.h"

int tws_batch_clone(const tws_batch *src, tws_batch *dst) {
    tws_batch_init(dst);
    tw__buf pb;
    tw__buf_init(&pb, (size_t)1 << 31);
    bool logs = src->n_logs > 0;
    int rc = logs ? tws_otlp_encode_logs_pb(src, 1, &pb) : tws_otlp_encode_pb(&(tws_selection){src, NULL, 0}, 1, 1, &pb);
    tws_decode_error err;
    tws_decode_options o = {0};
    if (rc == TW_OK)
        rc = logs ? tws_otlp_decode_logs_pb(pb.data ? pb.data : (const uint8_t *)"", pb.len, &o, dst, &err)
                  : tws_otlp_decode_pb(pb.data ? pb.data : (const uint8_t *)"", pb.len, &o, dst, &err);
    tw__buf_free(&pb);
    if (rc != TW_OK) {
        tws_batch_free(dst);
        return rc == TW_EPARSE ? TW_EINVAL : rc; /* our own encoding always decodes: only memory can fail */
    }
    /* a Loki push batch names its streams verbatim (model.h): every resource alike */
    if (src->n_resources && src->resources[0].labels_verbatim)
        for (uint32_t i = 0; i < dst->n_resources; i++) dst->resources[i].labels_verbatim = true;
    return TW_OK;
}
