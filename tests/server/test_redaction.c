/*
 * test_redaction.c — the redaction processor (pipeline/redaction.c) over
 * batches decoded from OTLP JSON: PII fixtures (emails, JWTs, bearer
 * tokens, card numbers, as strings and as an int) in span, event, link,
 * resource, scope and log attributes and in a log body are found nowhere
 * afterwards; allowed/ignored keys; blocked key patterns; allowed values;
 * the Luhn check; stable SHA-256 and HMAC-SHA256 digests; summary
 * attributes; invalid configurations with their messages.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

#include "batch_attrs.h"
#include "otlp/model.h"
#include "pipeline/redaction.h"

#define EMAIL "alice@example.com"
#define JWT "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.c2lnbmF0dXJl"
#define BEARER "Bearer s3cr3tT0k3n"
#define CARD "4111 1111 1111 1111"
#define CARD_INT "4111111111111111"

static const char *const FIXTURES[] = {EMAIL, JWT, "s3cr3tT0k3n", CARD, CARD_INT, "5500-0000-0000-0004"};

static const char TRACE[] =
    "{\"resourceSpans\":[{\"resource\":{\"attributes\":["
    "{\"key\":\"service.name\",\"value\":{\"stringValue\":\"checkout\"}},"
    "{\"key\":\"owner\",\"value\":{\"stringValue\":\"team lead " EMAIL "\"}}]},"
    "\"scopeSpans\":[{\"scope\":{\"name\":\"s\",\"attributes\":[{\"key\":\"contact\",\"value\":{\"stringValue\":\"" EMAIL "\"}}]},"
    "\"spans\":[{\"traceId\":\"4bf92f3577b34da6a3ce929d0e0e4736\",\"spanId\":\"00f067aa0ba902b7\",\"name\":\"POST /pay\","
    "\"startTimeUnixNano\":\"1\",\"endTimeUnixNano\":\"2\",\"attributes\":["
    "{\"key\":\"http.request.header.authorization\",\"value\":{\"stringValue\":\"" BEARER "\"}},"
    "{\"key\":\"user.email\",\"value\":{\"stringValue\":\"" EMAIL "\"}},"
    "{\"key\":\"card\",\"value\":{\"stringValue\":\"paid with " CARD " today\"}},"
    "{\"key\":\"card.int\",\"value\":{\"intValue\":\"" CARD_INT "\"}},"
    "{\"key\":\"order.id\",\"value\":{\"stringValue\":\"order 1234567890123\"}},"
    "{\"key\":\"cards\",\"value\":{\"arrayValue\":{\"values\":[{\"stringValue\":\"5500-0000-0000-0004\"}]}}},"
    "{\"key\":\"sender\",\"value\":{\"stringValue\":\"noreply@tracewire.dev\"}}],"
    "\"events\":[{\"name\":\"login\",\"timeUnixNano\":\"1\",\"attributes\":[{\"key\":\"token\",\"value\":{\"stringValue\":\"" JWT "\"}}]}],"
    "\"links\":[{\"traceId\":\"5bf92f3577b34da6a3ce929d0e0e4736\",\"spanId\":\"10f067aa0ba902b7\","
    "\"attributes\":[{\"key\":\"peer\",\"value\":{\"stringValue\":\"" EMAIL "\"}}]}]}]}]}]}";

static const char LOGS[] =
    "{\"resourceLogs\":[{\"resource\":{},\"scopeLogs\":[{\"logRecords\":[{\"timeUnixNano\":\"1\","
    "\"body\":{\"stringValue\":\"login by " EMAIL " with " JWT "\"},"
    "\"attributes\":[{\"key\":\"auth\",\"value\":{\"kvlistValue\":{\"values\":[{\"key\":\"h\",\"value\":{\"stringValue\":\"" BEARER "\"}}]}}}]}]}]}]}";

static void decode(tws_batch *b, const char *json, bool logs) {
    tws_decode_error err;
    tws_batch_init(b);
    int rc = logs ? tws_otlp_decode_logs_json(json, strlen(json), NULL, b, &err)
                  : tws_otlp_decode_json(json, strlen(json), NULL, b, &err);
    if (rc) fail_msg("decode: %s", err.msg);
}

static tws_redaction *make(tws_redaction_config c) {
    tws_redaction *r;
    char err[256];
    int rc = tws_redaction_new(&c, &r, err, sizeof err);
    if (rc) fail_msg("tws_redaction_new: %s", err);
    return r;
}

static bool contains(tw_str s, const char *needle) {
    size_t n = strlen(needle);
    for (size_t i = 0; s.len >= n && i <= s.len - n; i++)
        if (memcmp(s.ptr + i, needle, n) == 0) return true;
    return false;
}

/* Does any string (or int, as text) of the value hold `needle`? */
static bool value_has(const tws_value *v, const char *needle) {
    char tmp[32];
    switch (v->type) {
    case TWS_STRING: return contains(v->u.s, needle);
    case TWS_INT: snprintf(tmp, sizeof tmp, "%lld", (long long)v->u.i); return contains((tw_str){tmp, strlen(tmp)}, needle);
    case TWS_ARRAY:
        for (uint32_t i = 0; i < v->n; i++)
            if (value_has(&v->u.arr[i], needle)) return true;
        return false;
    case TWS_KVLIST:
        for (uint32_t i = 0; i < v->n; i++)
            if (value_has(&v->u.kv[i].val, needle)) return true;
        return false;
    default: return false;
    }
}

static bool attrs_have(const tws_attrs *a, const char *needle) {
    for (uint32_t i = 0; i < a->n; i++)
        if (contains(a->items[i].key, needle) || value_has(&a->items[i].val, needle)) return true;
    return false;
}

static bool batch_has(const tws_batch *b, const char *needle) {
    for (uint32_t i = 0; i < b->n_resources; i++)
        if (attrs_have(&b->resources[i].attrs, needle)) return true;
    for (uint32_t i = 0; i < b->n_scopes; i++)
        if (attrs_have(&b->scopes[i].attrs, needle)) return true;
    for (uint32_t i = 0; i < b->n_spans; i++) {
        const tws_span *s = &b->spans[i];
        if (attrs_have(&s->attrs, needle)) return true;
        for (uint32_t k = 0; k < s->n_events; k++)
            if (attrs_have(&s->events[k].attrs, needle)) return true;
        for (uint32_t k = 0; k < s->n_links; k++)
            if (attrs_have(&s->links[k].attrs, needle)) return true;
    }
    for (uint32_t i = 0; i < b->n_logs; i++)
        if (attrs_have(&b->logs[i].attrs, needle) || value_has(&b->logs[i].body, needle)) return true;
    return false;
}

static const char *const PRESETS[] = {"@email", "@jwt", "@bearer", "@card"};
static const char *const ALLOWED_VALUES[] = {".*@tracewire\\.dev"};

static void test_no_fixture_survives_anywhere(void **state) {
    tws_redaction *r = make((tws_redaction_config){.allow_all_keys = true, .blocked_values = {PRESETS, 4},
                                                   .allowed_values = {ALLOWED_VALUES, 1}});
    tws_batch b, l;
    decode(&b, TRACE, false);
    decode(&l, LOGS, true);
    for (size_t i = 0; i < TW_ARRAY_LEN(FIXTURES); i++) assert_true(batch_has(&b, FIXTURES[i]) || batch_has(&l, FIXTURES[i]));
    tws_redaction_stats st = {0};
    assert_int_equal(tws_redaction_apply(r, &b, &st), TW_OK);
    assert_int_equal(tws_redaction_apply(r, &l, &st), TW_OK);
    for (size_t i = 0; i < TW_ARRAY_LEN(FIXTURES); i++) {
        if (batch_has(&b, FIXTURES[i])) fail_msg("\"%s\" is still in the trace batch", FIXTURES[i]);
        if (batch_has(&l, FIXTURES[i])) fail_msg("\"%s\" is still in the logs batch", FIXTURES[i]);
    }
    const tws_attrs *sa = &b.spans[0].attrs;
    assert_str(attr(sa, "card"), "paid with **** today");
    assert_str(attr(sa, "card.int"), "****");   /* the int became a masked string */
    assert_str(attr(sa, "user.email"), "****");
    assert_str(attr(sa, "http.request.header.authorization"), "****");
    assert_str(attr(sa, "order.id"), "order 1234567890123"); /* 13 digits, not Luhn-valid: kept */
    assert_str(attr(sa, "sender"), "noreply@tracewire.dev");  /* allowed_values */
    assert_str(attr(&b.resources[0].attrs, "owner"), "team lead ****");
    assert_str(&l.logs[0].body, "login by **** with ****");
    /* summary (info): counts on each list that changed */
    const tws_value *mc = attr(sa, "redaction.masked.count");
    assert_non_null(mc);
    assert_int_equal(mc->u.i, 5); /* authorization, email, card, card.int, cards */
    assert_null(attr(sa, "redaction.masked.keys"));
    assert_non_null(attr(&b.spans[0].events[0].attrs, "redaction.masked.count"));
    assert_int_equal(st.keys_redacted, 0);
    assert_int_equal(st.values_masked, 5 + 1 + 1 + 1 + 1 + 1 + 1); /* span 5, resource, scope, event, link, log attr, body */
    tws_batch_free(&b);
    tws_batch_free(&l);
    tws_redaction_free(r);
}

static void test_allowed_ignored_and_blocked_keys(void **state) {
    static const char *const allowed[] = {"service.name", "card", "user.email", "order.id"};
    static const char *const ignored[] = {"sender"};
    static const char *const blocked_keys[] = {"user\\..*"};
    tws_redaction *r = make((tws_redaction_config){.allowed_keys = {allowed, 4}, .ignored_keys = {ignored, 1},
                                                   .blocked_key_patterns = {blocked_keys, 1}, .blocked_values = {PRESETS + 3, 1},
                                                   .summary = TWS_REDACT_SUMMARY_DEBUG});
    tws_batch b;
    decode(&b, TRACE, false);
    tws_redaction_stats st = {0};
    assert_int_equal(tws_redaction_apply(r, &b, &st), TW_OK);
    const tws_attrs *sa = &b.spans[0].attrs;
    assert_null(attr(sa, "card.int"));
    assert_null(attr(sa, "http.request.header.authorization"));
    assert_str(attr(sa, "sender"), "noreply@tracewire.dev"); /* ignored: untouched */
    assert_str(attr(sa, "user.email"), "****");               /* blocked key pattern: whole value */
    assert_str(attr(sa, "card"), "paid with **** today");
    assert_str(attr(sa, "redaction.redacted.keys"), "card.int,cards,http.request.header.authorization");
    assert_int_equal(attr(sa, "redaction.redacted.count")->u.i, 3);
    assert_str(attr(sa, "redaction.masked.keys"), "card,user.email");
    /* an empty allow list fails closed: the event and link lose every key */
    assert_int_equal(b.spans[0].events[0].attrs.n, 2); /* redaction.redacted.keys and .count only */
    assert_str(attr(&b.spans[0].events[0].attrs, "redaction.redacted.keys"), "token");
    assert_str(attr(&b.resources[0].attrs, "service.name"), "checkout");
    assert_null(attr(&b.resources[0].attrs, "owner"));
    tws_batch_free(&b);
    tws_redaction_free(r);
}

static void test_hashes_are_stable(void **state) {
    static const char *const email[] = {"@email"};
    tws_redaction *sha = make((tws_redaction_config){.allow_all_keys = true, .blocked_values = {email, 1},
                                                     .hash_function = TWS_REDACT_HASH_SHA256,
                                                     .summary = TWS_REDACT_SUMMARY_SILENT});
    tws_redaction *hmac = make((tws_redaction_config){.allow_all_keys = true, .blocked_values = {email, 1},
                                                      .hash_function = TWS_REDACT_HASH_HMAC_SHA256, .hmac_key = "k3y"});
    tws_batch b;
    decode(&b, TRACE, false);
    assert_int_equal(tws_redaction_apply(sha, &b, NULL), TW_OK);
    /* printf 'alice@example.com' | sha256sum */
    assert_str(attr(&b.spans[0].attrs, "user.email"), "ff8d9819fc0e12bf0d24892e45987e249a28dce836a85cad60e28eaaa8c6d976");
    assert_str(attr(&b.spans[0].links[0].attrs, "peer"), "ff8d9819fc0e12bf0d24892e45987e249a28dce836a85cad60e28eaaa8c6d976");
    assert_null(attr(&b.spans[0].attrs, "redaction.masked.count")); /* silent */
    tws_batch_free(&b);
    decode(&b, TRACE, false);
    assert_int_equal(tws_redaction_apply(hmac, &b, NULL), TW_OK);
    /* printf 'alice@example.com' | openssl dgst -sha256 -hmac k3y */
    assert_str(attr(&b.spans[0].attrs, "user.email"), "b299497d6ef24967fa74e4207bfeb6d180bf89051529c9d616bfd6bf4d401fc6");
    tws_batch_free(&b);
    tws_redaction_free(sha);
    tws_redaction_free(hmac);
}

static void test_invalid_configurations(void **state) {
    static const char *const bad_re[] = {"ok", "(unclosed"};
    static const char *const bad_preset[] = {"@phone"};
    struct {
        tws_redaction_config c;
        const char *msg;
    } cases[] = {
        {{.blocked_values = {bad_re, 2}}, "blocked_values[1]: missing closing parenthesis"},
        {{.blocked_values = {bad_preset, 1}}, "blocked_values[0]: unknown preset \"@phone\""},
        {{.blocked_key_patterns = {bad_re + 1, 1}}, "blocked_key_patterns[0]: missing closing parenthesis"},
        {{.allowed_values = {bad_re + 1, 1}}, "allowed_values[0]: missing closing parenthesis"},
        {{.hash_function = TWS_REDACT_HASH_HMAC_SHA256}, "hash_function hmac-sha256 needs a non-empty hmac_key"},
    };
    for (size_t i = 0; i < TW_ARRAY_LEN(cases); i++) {
        tws_redaction *r = (tws_redaction *)1;
        char err[256];
        assert_int_equal(tws_redaction_new(&cases[i].c, &r, err, sizeof err), TW_EINVAL);
        assert_null(r);
        if (!strstr(err, cases[i].msg)) fail_msg("case %zu: \"%s\" lacks \"%s\"", i, err, cases[i].msg);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_fixture_survives_anywhere),
        cmocka_unit_test(test_allowed_ignored_and_blocked_keys),
        cmocka_unit_test(test_hashes_are_stable),
        cmocka_unit_test(test_invalid_configurations),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
