/*
 * tw_propagate.c — libtracewire's propagators as a command, so that a
 * foreign implementation (interop.test.mjs drives the OpenTelemetry
 * JavaScript SDK) can hand it headers and read back what it understood.
 *
 *   tw_propagate extract PROPAGATOR < headers
 *       Reads header lines, extracts a context from them with PROPAGATOR,
 *       prints that context as one JSON line, then the header lines that
 *       injecting the same context with the same propagator produces.
 *
 *   tw_propagate inject PROPAGATOR [--trace-id HEX] [--span-id HEX]
 *                [--flags N] [--tracestate VALUE] [--baggage KEY VALUE META]...
 *       Builds a context from the arguments (tracestate in its header form;
 *       baggage values raw, not percent-encoded, META "" for none) and
 *       prints the header lines that injecting it produces.
 *
 * PROPAGATOR is tracecontext, baggage, b3 (single header), b3multi, or a
 * comma list of them (a composite, in that order).
 *
 * Header lines are "name: value". The first ": " (or ":") ends the name and
 * the rest of the line is the value byte for byte, so "traceparent:  00-..."
 * carries a value with one leading space. A line ends at "\n" only; several
 * lines of one name stay separate header lines, as HTTP allows.
 *
 * The JSON line: {"valid":bool,"trace_id":hex,"span_id":hex,"flags":int,
 * "is_remote":bool,"tracestate":str,"tracestate_members":int,
 * "baggage":[{"key":str,"value":str,"metadata":str},...]}; tracestate is
 * serialised without the 512-character truncation that injection applies.
 *
 * Exit status: 0 done, 1 the library failed (memory), 2 usage or bad input.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tracewire/tracewire.h>

#define MAX_INPUT (4u << 20) /* more header text than any case needs */
#define MAX_MEMBERS 8        /* names in a composite */

static int usage(void) {
    fputs("usage: tw_propagate extract PROPAGATOR < headers\n"
          "       tw_propagate inject PROPAGATOR [--trace-id HEX] [--span-id HEX] [--flags N]\n"
          "                    [--tracestate VALUE] [--baggage KEY VALUE METADATA]...\n"
          "PROPAGATOR: tracecontext, baggage, b3, b3multi, or a comma list of them\n",
          stderr);
    return 2;
}

/* ---- propagator by name ------------------------------------------------- */

static tw_propagator *leaf(const char *name, size_t len) {
    static const struct {
        const char *name;
        tw_propagator *(*make)(void);
    } known[] = {
        {"tracecontext", tw_propagator_tracecontext},
        {"baggage", tw_propagator_baggage},
        {"b3", tw_propagator_b3},
        {"b3multi", tw_propagator_b3multi},
    };
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (strlen(known[i].name) == len && memcmp(known[i].name, name, len) == 0) return known[i].make();
    return NULL;
}

/* The propagator a name list describes; NULL (and a message) when a name is
 * unknown. Leaves are static; the caller destroys what it gets either way. */
static tw_propagator *propagator_named(const char *list) {
    tw_propagator *members[MAX_MEMBERS];
    size_t n = 0;
    for (const char *s = list;;) {
        const char *comma = strchr(s, ',');
        size_t len = comma ? (size_t)(comma - s) : strlen(s);
        tw_propagator *p = leaf(s, len);
        if (!p || n == MAX_MEMBERS) {
            fprintf(stderr, "tw_propagate: unknown propagator \"%.*s\"\n", (int)len, s);
            return NULL;
        }
        members[n++] = p;
        if (!comma) break;
        s = comma + 1;
    }
    if (n == 1) return members[0];
    tw_propagator *c = tw_propagator_composite(members, n);
    if (!c) fputs("tw_propagate: out of memory\n", stderr);
    return c;
}

/* ---- output ------------------------------------------------------------- */

/* A JSON string: quotes, backslashes and control bytes escaped; other bytes
 * (UTF-8 included) written as they are. */
static void json_str(const char *s, size_t n) {
    putchar('"');
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') printf("\\%c", c);
        else if (c < 0x20 || c == 0x7f) printf("\\u%04x", c);
        else putchar(c);
    }
    putchar('"');
}

static int print_context(const tw_context *ctx) {
    char tid[TW_TRACE_ID_HEX_LEN + 1], sid[TW_SPAN_ID_HEX_LEN + 1];
    /* 32 members of at most 513 characters, 31 commas and a NUL. */
    static char ts[TW_TRACESTATE_MAX_MEMBERS * 514];
    tw_trace_id_to_hex(&ctx->span.trace_id, tid);
    tw_span_id_to_hex(&ctx->span.span_id, sid);
    int ts_len = tw_tracestate_format(ctx->span.state, 0, ts, sizeof ts);
    if (ts_len < 0) {
        fprintf(stderr, "tw_propagate: tw_tracestate_format: %s\n", tw_strerror(ts_len));
        return 1;
    }
    printf("{\"valid\":%s,\"trace_id\":\"%s\",\"span_id\":\"%s\",\"flags\":%u,\"is_remote\":%s,",
           tw_span_context_is_valid(&ctx->span) ? "true" : "false", tid, sid, (unsigned)ctx->span.flags,
           ctx->span.is_remote ? "true" : "false");
    fputs("\"tracestate\":", stdout);
    json_str(ts, (size_t)ts_len);
    printf(",\"tracestate_members\":%zu,\"baggage\":[", tw_tracestate_count(ctx->span.state));
    for (size_t i = 0; i < tw_baggage_count(ctx->baggage); i++) {
        tw_str k, v, m;
        tw_baggage_at(ctx->baggage, i, &k, &v, &m);
        fputs(i ? ",{\"key\":" : "{\"key\":", stdout);
        json_str(k.ptr, k.len);
        fputs(",\"value\":", stdout);
        json_str(v.ptr, v.len);
        fputs(",\"metadata\":", stdout);
        json_str(m.ptr, m.len);
        putchar('}');
    }
    puts("]}");
    return 0;
}

/* Inject ctx into an empty header list and print its lines. */
static int inject_and_print(const tw_propagator *p, const tw_context *ctx) {
    tw_http_headers out;
    tw_http_headers_init(&out);
    tw_carrier c = tw_http_headers_carrier(&out);
    int rc = tw_propagator_inject(p, ctx, &c);
    if (rc != TW_OK) {
        fprintf(stderr, "tw_propagate: inject: %s\n", tw_strerror(rc));
        tw_http_headers_free(&out);
        return 1;
    }
    for (size_t i = 0; i < out.count; i++) {
        printf("%s: ", out.items[i].name);
        fwrite(out.items[i].value, 1, out.items[i].value_len, stdout);
        putchar('\n');
    }
    tw_http_headers_free(&out);
    return 0;
}

/* ---- extract ------------------------------------------------------------ */

/* All of stdin in one heap buffer (NUL-terminated); NULL on failure. */
static char *read_all(size_t *len) {
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        if (n + 1 == cap) {
            char *bigger = cap < MAX_INPUT ? realloc(buf, cap * 2) : NULL;
            if (!bigger) {
                fputs("tw_propagate: input too large\n", stderr);
                free(buf);
                return NULL;
            }
            buf = bigger;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - 1 - n, stdin);
        n += got;
        if (got == 0) break;
    }
    if (!buf || ferror(stdin)) {
        fprintf(stderr, "tw_propagate: reading stdin: %s\n", buf ? strerror(errno) : "out of memory");
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

/* Split "name: value" lines of `buf` (modified in place) into `h`. */
static int parse_headers(char *buf, size_t len, tw_http_headers *h) {
    for (char *line = buf, *end = buf + len; line < end;) {
        char *nl = memchr(line, '\n', (size_t)(end - line));
        char *eol = nl ? nl : end;
        if (eol > line) {
            char *colon = memchr(line, ':', (size_t)(eol - line));
            if (!colon || colon == line) {
                fprintf(stderr, "tw_propagate: not a header line: \"%.*s\"\n", (int)(eol - line), line);
                return 2;
            }
            *colon = '\0';
            char *value = colon + 1;
            if (value < eol && *value == ' ') value++;
            int rc = tw_http_headers_add(h, line, value, (size_t)(eol - value));
            if (rc != TW_OK) {
                fprintf(stderr, "tw_propagate: %s\n", tw_strerror(rc));
                return 1;
            }
        }
        line = eol + 1;
    }
    return 0;
}

static int cmd_extract(const tw_propagator *p) {
    tw_http_headers in;
    tw_context ctx = TW_CONTEXT_INIT;
    size_t len = 0;
    int rc = 2;
    tw_http_headers_init(&in);
    char *buf = read_all(&len);
    if (!buf) goto out;
    if ((rc = parse_headers(buf, len, &in))) goto out;
    tw_carrier c = tw_http_headers_carrier(&in);
    int err = tw_propagator_extract(p, &c, &ctx);
    if (err != TW_OK) {
        fprintf(stderr, "tw_propagate: extract: %s\n", tw_strerror(err));
        rc = 1;
        goto out;
    }
    if ((rc = print_context(&ctx))) goto out;
    rc = inject_and_print(p, &ctx);
out:
    tw_context_release(&ctx);
    tw_http_headers_free(&in);
    free(buf);
    return rc;
}

/* ---- inject ------------------------------------------------------------- */

static int parse_flags(const char *s, uint8_t *out) {
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 0);
    if (errno || end == s || *end || v > 0xff) return -1;
    *out = (uint8_t)v;
    return 0;
}

static int cmd_inject(const tw_propagator *p, int argc, char **argv) {
    tw_context ctx = TW_CONTEXT_INIT;
    int rc = 2;
    for (int i = 0; i < argc; i++) {
        const char *opt = argv[i];
        int need = strcmp(opt, "--baggage") == 0 ? 3 : 1;
        if (i + need >= argc) {
            fprintf(stderr, "tw_propagate: %s needs %d argument(s)\n", opt, need);
            goto out;
        }
        const char *arg = argv[i + 1];
        if (strcmp(opt, "--trace-id") == 0) {
            if (tw_trace_id_from_hex(arg, strlen(arg), &ctx.span.trace_id) != TW_OK) goto bad;
        } else if (strcmp(opt, "--span-id") == 0) {
            if (tw_span_id_from_hex(arg, strlen(arg), &ctx.span.span_id) != TW_OK) goto bad;
        } else if (strcmp(opt, "--flags") == 0) {
            if (parse_flags(arg, &ctx.span.flags)) goto bad;
        } else if (strcmp(opt, "--tracestate") == 0) {
            const char *why = NULL;
            tw_tracestate *ts = NULL;
            if (tw_tracestate_parse(arg, strlen(arg), &ts, &why) != TW_OK) {
                fprintf(stderr, "tw_propagate: --tracestate: %s\n", why ? why : "invalid");
                goto out;
            }
            tw_tracestate_unref(ctx.span.state);
            ctx.span.state = ts;
        } else if (strcmp(opt, "--baggage") == 0) {
            tw_baggage *bg = NULL;
            const char *meta = argv[i + 3];
            int err = tw_baggage_set(ctx.baggage, arg, argv[i + 2], *meta ? meta : NULL, &bg);
            if (err != TW_OK) {
                fprintf(stderr, "tw_propagate: --baggage %s: %s\n", arg, tw_strerror(err));
                goto out;
            }
            tw_baggage_unref(ctx.baggage);
            ctx.baggage = bg;
        } else {
            fprintf(stderr, "tw_propagate: unknown option %s\n", opt);
            goto out;
        }
        i += need;
        continue;
    bad:
        fprintf(stderr, "tw_propagate: bad value for %s: \"%s\"\n", opt, arg);
        goto out;
    }
    rc = inject_and_print(p, &ctx);
out:
    tw_context_release(&ctx);
    return rc;
}

int main(int argc, char **argv) {
    if (argc < 3) return usage();
    tw_propagator *p = propagator_named(argv[2]);
    if (!p) return 2;
    int rc;
    if (strcmp(argv[1], "extract") == 0 && argc == 3) rc = cmd_extract(p);
    else if (strcmp(argv[1], "inject") == 0) rc = cmd_inject(p, argc - 3, argv + 3);
    else rc = usage();
    tw_propagator_destroy(p);
    if (fflush(stdout) != 0 && rc == 0) rc = 1;
    return rc;
}
