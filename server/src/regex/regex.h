/*
 * regex.h — the regular expressions of the query languages (TraceQL,
 * LogQL): PCRE2 standing in for Go's RE2, with a bounded effort.
 *
 * Every match runs under a match limit (100,000) and a depth limit
 * (10,000), so a pattern that would backtrack without end fails to match
 * instead of hanging a query. Patterns are JIT-compiled when the platform
 * allows (the interpreter serves otherwise). A compiled expression is
 * immutable and may be matched from several threads at once (each thread
 * has its own match data).
 */
#ifndef TWS_REGEX_H
#define TWS_REGEX_H

#include <stdbool.h>
#include <stddef.h>

typedef struct tws_regex tws_regex;

enum {
    TWS_RE_ANCHORED = 1,    /* the whole subject, and `.` matches newlines: Prometheus' ^(?s:re)$ */
    TWS_RE_DOLLAR_END = 2,  /* `$` only at the very end (RE2), not before a final newline */
    TWS_RE_INVALID_UTF = 4, /* subjects may hold invalid UTF-8 (it never matches a character) */
};

/* Compile pattern[0..len) (UTF-8) with TWS_RE_* flags. NULL on failure,
 * with PCRE2's message and the offset ("missing closing parenthesis at
 * offset 1"), or "out of memory", in err. Free with tws_regex_free. */
tws_regex *tws_regex_compile(const char *pattern, size_t len, unsigned flags, char *err, size_t err_len);
void tws_regex_free(tws_regex *re);
/* Does s[0..len) match? false also when the effort limit is reached. */
bool tws_regex_match(const tws_regex *re, const char *s, size_t len);
/* The first match in s[0..len) that starts at or after `from`: true with
 * [*mstart, *mend), false when there is none (or the effort limit was
 * reached). An empty match is reported like any other; a caller looping
 * over matches steps past it. */
bool tws_regex_find(const tws_regex *re, const char *s, size_t len, size_t from, size_t *mstart, size_t *mend);

/* Named capture groups: how many, and the i-th name (NUL-terminated,
 * valid as long as `re`) with its group number. */
size_t tws_regex_n_names(const tws_regex *re);
const char *tws_regex_name(const tws_regex *re, size_t i, unsigned *group);
/* Match s[0..len) (from its start, anywhere) and give group `g`'s span;
 * false when there is no match or the group did not take part. */
bool tws_regex_group(const tws_regex *re, const char *s, size_t len, unsigned g, size_t *gstart, size_t *gend);

#endif
