/*
 * regex.c — PCRE2 behind regex.h: compile with the options asked, JIT,
 * one match context carrying the effort limits, and one match-data block
 * per thread (a "did it match" needs one pair of offsets).
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdio.h>

#include "common/tw_base.h"
#include "regex/regex.h"

struct tws_regex {
    pcre2_code *code;
    pcre2_match_context *mctx;
};

static _Thread_local pcre2_match_data *match_data;

tws_regex *tws_regex_compile(const char *pattern, size_t len, unsigned flags, char *err, size_t err_len) {
    uint32_t opts = PCRE2_UTF;
    if (flags & TWS_RE_ANCHORED) opts |= PCRE2_ANCHORED | PCRE2_ENDANCHORED | PCRE2_DOTALL;
    if (flags & TWS_RE_DOLLAR_END) opts |= PCRE2_DOLLAR_ENDONLY;
#ifdef PCRE2_MATCH_INVALID_UTF
    if (flags & TWS_RE_INVALID_UTF) opts |= PCRE2_MATCH_INVALID_UTF;
#endif
    int ec;
    PCRE2_SIZE eo;
    pcre2_code *code = pcre2_compile((PCRE2_SPTR)(pattern ? pattern : ""), len, opts, &ec, &eo, NULL);
    if (!code) {
        PCRE2_UCHAR msg[120];
        pcre2_get_error_message(ec, msg, sizeof msg);
        snprintf(err, err_len, "%s at offset %zu", (const char *)msg, (size_t)eo);
        return NULL;
    }
    pcre2_jit_compile(code, PCRE2_JIT_COMPLETE); /* the interpreter serves when there is no JIT */
    tws_regex *re = tw__calloc(1, sizeof *re);
    pcre2_match_context *mctx = pcre2_match_context_create(NULL);
    if (!re || !mctx) {
        pcre2_code_free(code);
        pcre2_match_context_free(mctx);
        tw__free(re);
        snprintf(err, err_len, "out of memory");
        return NULL;
    }
    pcre2_set_match_limit(mctx, 100000);
    pcre2_set_depth_limit(mctx, 10000);
    re->code = code;
    re->mctx = mctx;
    return re;
}

void tws_regex_free(tws_regex *re) {
    if (!re) return;
    pcre2_code_free(re->code);
    pcre2_match_context_free(re->mctx);
    tw__free(re);
}

bool tws_regex_match(const tws_regex *re, const char *s, size_t len) {
    if (!match_data && !(match_data = pcre2_match_data_create(1, NULL))) return false;
    return pcre2_match(re->code, (PCRE2_SPTR)(len && s ? s : ""), len, 0, 0, match_data, re->mctx) >= 0;
}

bool tws_regex_find(const tws_regex *re, const char *s, size_t len, size_t from, size_t *mstart, size_t *mend) {
    if (from > len) return false;
    if (!match_data && !(match_data = pcre2_match_data_create(1, NULL))) return false;
    if (pcre2_match(re->code, (PCRE2_SPTR)(len && s ? s : ""), len, from, 0, match_data, re->mctx) < 0) return false;
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(match_data);
    if (ov[0] > ov[1] || ov[1] > len) return false; /* \K tricks: not a usable span */
    *mstart = ov[0];
    *mend = ov[1];
    return true;
}

size_t tws_regex_n_names(const tws_regex *re) {
    uint32_t n = 0;
    pcre2_pattern_info(re->code, PCRE2_INFO_NAMECOUNT, &n);
    return n;
}

const char *tws_regex_name(const tws_regex *re, size_t i, unsigned *group) {
    uint32_t size = 0;
    PCRE2_SPTR table = NULL;
    pcre2_pattern_info(re->code, PCRE2_INFO_NAMEENTRYSIZE, &size);
    pcre2_pattern_info(re->code, PCRE2_INFO_NAMETABLE, &table);
    PCRE2_SPTR e = table + i * size; /* two bytes of group number, then the name */
    *group = (unsigned)(e[0] << 8 | e[1]);
    return (const char *)(e + 2);
}

static _Thread_local pcre2_match_data *group_data;

bool tws_regex_group(const tws_regex *re, const char *s, size_t len, unsigned g, size_t *gstart, size_t *gend) {
    if (!group_data && !(group_data = pcre2_match_data_create(256, NULL))) return false;
    int rc = pcre2_match(re->code, (PCRE2_SPTR)(len && s ? s : ""), len, 0, 0, group_data, re->mctx);
    if (rc < 0 || g >= pcre2_get_ovector_count(group_data)) return false;
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(group_data);
    if (ov[2 * g] == PCRE2_UNSET || ov[2 * g] > ov[2 * g + 1] || ov[2 * g + 1] > len) return false;
    *gstart = ov[2 * g];
    *gend = ov[2 * g + 1];
    return true;
}
