// interop.test.mjs — libtracewire's propagators against the OpenTelemetry
// JavaScript SDK (@opentelemetry/core and @opentelemetry/propagator-b3).
//
// Run by ctest (label `interop`) as `node --test`, with TW_PROPAGATE naming
// the tw_propagate binary (tests/interop/tw_propagate.c).
//
// For every header case and every propagator it applies to:
//   1. C and JS each extract a context from the headers; each result is
//      checked against what the specification says (`want`), so agreement is
//      never agreement on a shared mistake. When the two legitimately differ,
//      the case says so with `c` and `js` and a `why` citing the text.
//   2. (a) what JS injects from its context, C extracts exactly as JS does;
//   3. (b) what C injects from its context, JS extracts back to C's context,
//      less what the wire format cannot carry (wireView).
//   4. Where both write the same wire format (traceparent, tracestate, b3),
//      the two injections are byte-identical unless the case says otherwise.
// Context cases go the other way: a context is given to both injectors and
// each side must read the other's headers back to that context.
//
// Header values travel to tw_propagate as "name: value" lines: the value is
// everything after ": ", so leading and trailing whitespace survive.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as api from '@opentelemetry/api';
import * as core from '@opentelemetry/core';
import * as b3 from '@opentelemetry/propagator-b3';

const BIN = process.env.TW_PROPAGATE;
if (!BIN) throw new Error('TW_PROPAGATE must name the tw_propagate binary (ctest sets it)');

// ---- the C side -------------------------------------------------------------

function runC(args, input = '') {
  const r = spawnSync(BIN, args, { input, encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.error) throw r.error;
  if (r.status !== 0 || /Sanitizer|runtime error/.test(r.stderr)) {
    assert.fail(`tw_propagate ${args.slice(0, 2).join(' ')} exited ${r.status}:\n${r.stderr}`);
  }
  return r.stdout;
}

function parseLines(text) {
  return text.split('\n').filter(Boolean).map((l) => {
    const i = l.indexOf(': ');
    return [l.slice(0, i), l.slice(i + 2)];
  });
}

/* { ctx: C's extracted context (normalised), injected: what C injects from it } */
function cExtract(prop, headers) {
  for (const [n, v] of headers) assert.ok(!/\n/.test(n + v), 'a header line cannot carry a newline');
  const out = runC(['extract', prop], headers.map(([n, v]) => `${n}: ${v}\n`).join(''));
  const nl = out.indexOf('\n');
  return { ctx: fromC(JSON.parse(out.slice(0, nl))), injected: parseLines(out.slice(nl + 1)) };
}

function cInject(prop, ctx) {
  const args = ['inject', prop];
  if (ctx.span) {
    args.push('--trace-id', ctx.span.traceId, '--span-id', ctx.span.spanId, '--flags', String(ctx.span.flags));
    if (ctx.span.tracestate) args.push('--tracestate', ctx.span.tracestate);
  }
  for (const [k, v, m] of ctx.baggage) args.push('--baggage', k, v, m);
  return parseLines(runC(args));
}

// ---- the JS side --------------------------------------------------------------

const JS = {
  tracecontext: new core.W3CTraceContextPropagator(),
  baggage: new core.W3CBaggagePropagator(),
  b3: new b3.B3Propagator({ injectEncoding: b3.B3InjectEncoding.SINGLE_HEADER }),
  b3multi: new b3.B3Propagator({ injectEncoding: b3.B3InjectEncoding.MULTI_HEADER }),
};

function jsPropagator(name) {
  const parts = name.split(',').map((n) => JS[n]);
  return parts.length === 1 ? parts[0] : new core.CompositePropagator({ propagators: parts });
}

// Headers as node's http module presents them with duplicates kept apart
// (IncomingMessage.headersDistinct): lowercase names, and an array of values
// when a name repeats. Both OpenTelemetry JS propagators accept that shape.
function carrierOf(headers) {
  const c = {};
  for (const [n, v] of headers) {
    const k = n.toLowerCase();
    c[k] = k in c ? [].concat(c[k], v) : v;
  }
  return c;
}
const getter = { keys: (c) => Object.keys(c), get: (c, k) => c[k.toLowerCase()] };
const setter = { set: (c, k, v) => { c[k] = v; } };

const jsExtractCtx = (prop, headers) => jsPropagator(prop).extract(api.ROOT_CONTEXT, carrierOf(headers), getter);

function jsInjectCtx(prop, ctx) {
  const c = {};
  jsPropagator(prop).inject(ctx, c, setter);
  return Object.entries(c);
}

function jsContext(n) {
  let ctx = api.ROOT_CONTEXT;
  if (n.span) {
    ctx = api.trace.setSpanContext(ctx, {
      traceId: n.span.traceId,
      spanId: n.span.spanId,
      traceFlags: n.span.flags,
      isRemote: false,
      traceState: n.span.tracestate ? new core.TraceState(n.span.tracestate) : undefined,
    });
  }
  if (n.baggage.length) {
    const entries = n.baggage.map(([k, v, m]) =>
      [k, m ? { value: v, metadata: api.baggageEntryMetadataFromString(m) } : { value: v }]);
    ctx = api.propagation.setBaggage(ctx, api.propagation.createBaggage(Object.fromEntries(entries)));
  }
  return ctx;
}

// ---- one description of a context for both ----------------------------------

const byKey = (a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0);
const norm = (span, baggage) => ({ span, baggage: [...baggage].sort(byKey) });
const trimOws = (s) => s.replace(/^[ \t]+|[ \t]+$/g, '');

function fromC(j) {
  const span = j.valid
    ? { traceId: j.trace_id, spanId: j.span_id, flags: j.flags, isRemote: j.is_remote, tracestate: j.tracestate }
    : null;
  return norm(span, j.baggage.map((e) => [e.key, e.value, e.metadata]));
}

function fromJs(ctx) {
  const sc = api.trace.getSpanContext(ctx);
  const span = sc && api.isSpanContextValid(sc)
    ? {
      traceId: sc.traceId,
      spanId: sc.spanId,
      flags: sc.traceFlags,
      isRemote: Boolean(sc.isRemote),
      tracestate: sc.traceState ? sc.traceState.serialize() : '',
    }
    : null;
  const bag = api.propagation.getBaggage(ctx);
  // JS keeps a property list verbatim from after the first ';', leading OWS
  // included; C trims it, as W3C Baggage §property says ("Leading and
  // trailing OWS is allowed but MUST be trimmed when converting the header
  // into a data structure"). Compared trimmed here; the raw difference is
  // asserted on its own in "JS keeps OWS before a property".
  const entries = bag
    ? bag.getAllEntries().map(([k, e]) => [k, e.value, e.metadata ? trimOws(e.metadata.toString()) : ''])
    : [];
  return norm(span, entries);
}

/* A case's shorthand for an expected context: null (nothing extracted) or
 * { traceId, spanId, flags, tracestate, baggage }. */
function expand(w) {
  if (w === null) return norm(null, []);
  const span = w.traceId
    ? { traceId: w.traceId, spanId: w.spanId, flags: w.flags ?? 0, isRemote: true, tracestate: w.tracestate ?? '' }
    : null;
  return norm(span, w.baggage ?? []);
}

// The W3C truncation rule for a propagated tracestate (Trace Context
// §tracestate Limits): whole entries; entries longer than 128 characters
// first, from the right; then entries from the right.
function truncateTracestate(ts, max = 512) {
  const e = ts ? ts.split(',') : [];
  const keep = e.map(() => true);
  const len = () => e.reduce((n, s, i) => n + (keep[i] ? s.length : 0), 0) + Math.max(0, keep.filter(Boolean).length - 1);
  for (let i = e.length - 1; i >= 0 && len() > max; i--) if (e[i].length > 128) keep[i] = false;
  for (let i = e.length - 1; i >= 0 && len() > max; i--) keep[i] = false;
  return e.filter((_, i) => keep[i]).join(',');
}

// What a context looks like after a trip through `prop`'s headers.
const zero = (hex) => /^0*$/.test(hex);

function wireView(prop, ctx) {
  const names = prop.split(',');
  let span = null;
  if (ctx.span && (zero(ctx.span.traceId) || zero(ctx.span.spanId))) {
    span = null; // an invalid span context is not sent
  } else if (ctx.span && names.includes('tracecontext')) {
    // C writes only the trace-flags bits Trace Context level 2 defines
    // (sampled 0x01, random 0x02): "Vendors MUST set those [other bits] to
    // zero" (traceparent.c). The tracestate is truncated as the spec says.
    span = { ...ctx.span, isRemote: true, flags: ctx.span.flags & 0x03, tracestate: truncateTracestate(ctx.span.tracestate) };
  } else if (ctx.span && (names.includes('b3') || names.includes('b3multi'))) {
    // B3 carries one sampling bit and no tracestate.
    span = { ...ctx.span, isRemote: true, flags: ctx.span.flags & 0x01, tracestate: '' };
  }
  if (span) {
    span = { traceId: span.traceId, spanId: span.spanId, flags: span.flags, isRemote: true, tracestate: span.tracestate };
  }
  return norm(span, names.includes('baggage') ? ctx.baggage : []);
}

const sortHeaders = (h) => [...h].map(([n, v]) => [n.toLowerCase(), v]).sort(byKey);
// traceparent, tracestate and b3 have one spelling for one context, so the two
// injections must match byte for byte; baggage values have several (C
// percent-encodes fewer characters than encodeURIComponent), so not baggage.
const sameWire = (prop) => !prop.split(',').includes('baggage');

// ---- the checks ---------------------------------------------------------------

function checkHeaders(prop, k) {
  const jsCtx = jsExtractCtx(prop, k.headers);
  const js = fromJs(jsCtx);
  const c = cExtract(prop, k.headers);
  const differ = 'c' in k || 'js' in k;

  // 1. each side against the specification, and against each other
  if (differ) {
    assert.ok(k.why, 'a case where C and JS differ must say why');
    assert.deepEqual(c.ctx, expand(k.c), 'C extraction');
    assert.deepEqual(js, expand(k.js), 'JS extraction');
    assert.notDeepEqual(c.ctx, js, 'the case says C and JS differ, but they agree: update it');
  } else {
    if (k.want !== undefined) assert.deepEqual(c.ctx, expand(k.want), 'C extraction');
    assert.deepEqual(js, c.ctx, 'JS extracts what C extracts');
  }

  // 2. (a) C reads what JS injects as JS itself reads it
  const hJs = jsInjectCtx(prop, jsCtx);
  const aC = cExtract(prop, hJs).ctx;
  const aJs = fromJs(jsExtractCtx(prop, hJs));
  if (k.a) {
    assert.ok(k.why, 'a case where C and JS differ must say why');
    assert.deepEqual(aC, expand(k.a.c), `(a) C reads JS's ${JSON.stringify(hJs)}`);
    assert.deepEqual(aJs, expand(k.a.js), `(a) JS reads its own ${JSON.stringify(hJs)}`);
  } else {
    assert.deepEqual(aC, aJs, `(a) C reads JS's ${JSON.stringify(hJs)} as JS does`);
  }

  // 3. (b) JS reads what C injects back to C's context
  const bJs = fromJs(jsExtractCtx(prop, c.injected));
  if (k.b !== undefined) {
    assert.ok(k.why, 'a case where C and JS differ must say why');
    assert.deepEqual(bJs, expand(k.b), `(b) JS reads C's ${JSON.stringify(c.injected)}`);
    assert.notDeepEqual(bJs, wireView(prop, c.ctx), 'the case says (b) differs, but it agrees: update it');
  } else {
    assert.deepEqual(bJs, wireView(prop, c.ctx), `(b) JS reads C's ${JSON.stringify(c.injected)} back to C's context`);
  }

  // 4. the same bytes on the wire
  if (k.injected) {
    assert.deepEqual(sortHeaders(c.injected), sortHeaders(k.injected.c), 'C injection');
    assert.deepEqual(sortHeaders(hJs), sortHeaders(k.injected.js), 'JS injection');
  } else if (!differ && sameWire(prop)) {
    assert.deepEqual(sortHeaders(c.injected), sortHeaders(hJs), 'C and JS inject the same headers');
  }
  return { c, js, hJs };
}

function checkContext(prop, k) {
  const ctx = norm(k.span ?? null, k.baggage ?? []);
  const hC = cInject(prop, ctx);
  const hJs = jsInjectCtx(prop, jsContext(ctx));
  const want = wireView(prop, ctx);
  const jsReadsC = fromJs(jsExtractCtx(prop, hC));
  const cReadsJs = cExtract(prop, hJs).ctx;
  if (k.differ) {
    assert.ok(k.why, 'a case where C and JS differ must say why');
    assert.deepEqual(jsReadsC, expand(k.differ.jsReadsC), `JS reads C's ${JSON.stringify(hC)}`);
    assert.deepEqual(cReadsJs, expand(k.differ.cReadsJs), `C reads JS's ${JSON.stringify(hJs)}`);
  } else {
    assert.deepEqual(jsReadsC, want, `JS reads C's ${JSON.stringify(hC)} back to the context`);
    assert.deepEqual(cReadsJs, want, `C reads JS's ${JSON.stringify(hJs)} back to the context`);
  }
  if (k.headers) assert.deepEqual(sortHeaders(hC), sortHeaders(k.headers), 'C injection');
  if (sameWire(prop) && !k.differ) assert.deepEqual(sortHeaders(hC), sortHeaders(hJs), 'C and JS inject the same headers');
}

function run(prop, cases) {
  for (const k of cases) {
    test(`${prop}: ${k.name}${k.why ? ' [differs: see why]' : ''}`, () => { checkHeaders(prop, k); });
  }
}

// ---- W3C Trace Context ----------------------------------------------------------

const T = '12345678901234567890123456789012';
const S = '1234567890123456';
const T2 = '4bf92f3577b34da6a3ce929d0e0e4736'; // the spec's example
const S2 = '00f067aa0ba902b7';
const TP = (flags = '01', t = T, s = S) => `00-${t}-${s}-${flags}`;
const tp = (v) => [['traceparent', v]];
const ctxOf = (flags, extra = {}) => ({ traceId: T, spanId: S, flags, ...extra });

const OWS_WHY = 'RFC 9110 §5.5: a field value excludes leading and trailing OWS (*( SP / HTAB )), and the W3C '
  + 'suite (test_traceparent_ows_handling) sends "\\t 00-...-01 \\t" expecting the trace id kept; the JS '
  + 'regex allows at most one \\s at each end.';

const traceparentCases = [
  { name: 'valid, sampled', headers: tp(TP('01')), want: ctxOf(1) },
  { name: 'valid, not sampled', headers: tp(TP('00')), want: ctxOf(0) },
  { name: 'the spec example', headers: tp(TP('01', T2, S2)), want: { traceId: T2, spanId: S2, flags: 1 } },
  { name: 'random flag (level 2) 03', headers: tp(TP('03')), want: ctxOf(3) },
  {
    name: 'unknown flag bits 09', headers: tp(TP('09')), want: ctxOf(9),
    why: 'Trace Context level 2 §trace-flags: bits other than sampled and random "Vendors MUST set those to zero" '
      + 'when sending; C masks them, JS copies the byte.',
    injected: { c: tp(TP('01')), js: tp(TP('09')) },
  },
  {
    name: 'flags ff', headers: tp(TP('ff')), want: ctxOf(255),
    why: 'C sends only the defined bits (03). JS formats flags as "0" + hex, three digits for flags >= 0x10, an '
      + 'invalid traceparent (trace-flags = 2HEXDIGLC) that neither side accepts back: (a) still agrees.',
    injected: { c: tp(TP('03')), js: tp(`00-${T}-${S}-0ff`) },
  },
  { name: 'future version cc', headers: tp(`cc-${T}-${S}-01`), want: ctxOf(1) },
  { name: 'future version with extra fields', headers: tp(`cc-${T}-${S}-01-what-the-future-will-be-like`), want: ctxOf(1) },
  { name: 'future version with a trailing dash', headers: tp(`cc-${T}-${S}-01-`), want: ctxOf(1) },
  { name: 'future version, extra without dash', headers: tp(`cc-${T}-${S}-01.what-the-future-will-be-like`), want: null },
  { name: 'version 00 with an extra field', headers: tp(`${TP()}-what-the-future-will-be-like`), want: null },
  { name: 'version 00 with a trailing dot', headers: tp(`${TP()}.`), want: null },
  { name: 'version ff', headers: tp(`ff-${T}-${S}-01`), want: null },
  { name: 'uppercase version', headers: tp(`CC-${T}-${S}-01`), want: null },
  { name: 'uppercase trace id', headers: tp(TP('01', T2.toUpperCase(), S2)), want: null },
  { name: 'uppercase parent id', headers: tp(TP('01', T2, 'ABCDEF0123456789')), want: null },
  { name: 'uppercase flags', headers: tp(TP('0A')), want: null },
  { name: 'all-zero trace id', headers: tp(TP('01', '0'.repeat(32))), want: null },
  { name: 'all-zero parent id', headers: tp(TP('01', T, '0'.repeat(16))), want: null },
  { name: 'version illegal character 1', headers: tp(`.0-${T}-${S}-01`), want: null },
  { name: 'version illegal character 2', headers: tp(`0.-${T}-${S}-01`), want: null },
  { name: 'version too long', headers: tp(`000-${T}-${S}-01`), want: null },
  { name: 'version much too long', headers: tp(`0000-${T}-${S}-01`), want: null },
  { name: 'version too short', headers: tp(`0-${T}-${S}-01`), want: null },
  { name: 'trace id illegal character first', headers: tp(TP('01', `.${T.slice(1)}`)), want: null },
  { name: 'trace id illegal character last', headers: tp(TP('01', `${T.slice(0, 31)}.`)), want: null },
  { name: 'trace id too long', headers: tp(TP('01', `${T}3`)), want: null },
  { name: 'trace id too short', headers: tp(TP('01', T.slice(0, 31))), want: null },
  { name: 'parent id illegal character first', headers: tp(TP('01', T, `.${S.slice(1)}`)), want: null },
  { name: 'parent id illegal character last', headers: tp(TP('01', T, `${S.slice(0, 15)}.`)), want: null },
  { name: 'parent id too long', headers: tp(TP('01', T, `${S}7`)), want: null },
  { name: 'parent id too short', headers: tp(TP('01', T, S.slice(0, 15))), want: null },
  { name: 'flags illegal character 1', headers: tp(TP('.0')), want: null },
  { name: 'flags illegal character 2', headers: tp(TP('0.')), want: null },
  { name: 'flags too long', headers: tp(TP('001')), want: null },
  { name: 'flags too short', headers: tp(TP('1')), want: null },
  { name: 'empty value', headers: tp(''), want: null },
  { name: 'garbage', headers: tp('hello, world'), want: null },
  { name: 'leading space', headers: tp(` ${TP()}`), want: ctxOf(1) },
  { name: 'leading tab', headers: tp(`\t${TP()}`), want: ctxOf(1) },
  { name: 'trailing space', headers: tp(`${TP()} `), want: ctxOf(1) },
  { name: 'trailing tab', headers: tp(`${TP()}\t`), want: ctxOf(1) },
  { name: 'two OWS characters at each end', headers: tp(`\t ${TP()} \t`), c: ctxOf(1), js: null, why: OWS_WHY },
  { name: 'header name TraceParent', headers: [['TraceParent', TP()]], want: ctxOf(1) },
  { name: 'header name TRACEPARENT', headers: [['TRACEPARENT', TP()]], want: ctxOf(1) },
  { name: 'wrong header name trace-parent', headers: [['trace-parent', TP()]], want: null },
  { name: 'wrong header name trace.parent', headers: [['trace.parent', TP()]], want: null },
  {
    name: 'duplicated traceparent, different values',
    headers: [['traceparent', TP('01', `${T.slice(0, 30)}11`)], ['traceparent', TP()]],
    c: null, js: { traceId: `${T.slice(0, 30)}11`, spanId: S, flags: 1 },
    why: 'traceparent is not a list, so two field lines are malformed (RFC 9110 §5.3: a sender MUST NOT send '
      + 'several lines of a non-list field) and the W3C suite (test_traceparent_duplicated) expects a new trace; '
      + 'C ignores both, JS takes the first array element.',
  },
  {
    name: 'duplicated traceparent, same value', headers: [['traceparent', TP()], ['traceparent', TP()]],
    c: null, js: ctxOf(1), why: 'as above: two lines of a non-list field; JS takes the first.',
  },
];

const TP00 = TP('00');
const ts = (...values) => [['traceparent', TP00], ...values.map((v) => ['tracestate', v])];
const withTs = (tracestate) => ctxOf(0, { tracestate });
const members = (from, to) => Array.from({ length: to - from + 1 }, (_, i) => {
  const n = String(from + i).padStart(2, '0');
  return `bar${n}=${n}`;
});
const KEY_CHARS = 'abcdefghijklmnopqrstuvwxyz0123456789_-*/';
const VALUE_CHARS = [[0x20, 0x2b], [0x2d, 0x3c], [0x3e, 0x7e]]
  .map(([a, b]) => String.fromCharCode(...Array.from({ length: b - a + 1 }, (_, i) => a + i))).join('');
const STRICT_WHY = 'Trace Context §tracestate: keys and values have a grammar and "Only one entry per key is allowed"; '
  + 'the W3C suite (STRICT_LEVEL 2: test_tracestate_key_illegal_*, _duplicated_keys, _value_illegal_characters, '
  + '_key_length_limit) expects an invalid header discarded whole, which C does; JS drops only the bad members.';
const long = (k, n) => `${k}=${'x'.repeat(n - k.length - 1)}`; // a member of n characters
// When no member of a tracestate is valid, JS keeps an empty TraceState and
// sends an empty `tracestate:` line; C sends none. Trace Context
// §tracestate: "Vendors MUST accept empty tracestate headers but SHOULD avoid
// sending them".
const allInvalid = (name, value) => ({
  name, headers: ts(value), want: withTs(''),
  why: 'Trace Context §tracestate: vendors "SHOULD avoid sending" empty tracestate headers; JS sends one.',
  injected: { c: [['traceparent', TP00]], js: [['traceparent', TP00], ['tracestate', '']] },
});

const tracestateCases = [
  { name: 'two members', headers: ts('foo=1,bar=2'), want: withTs('foo=1,bar=2') },
  { name: 'OWS around members', headers: ts('foo=1 \t , \t bar=2, \t baz=3'), want: withTs('foo=1,bar=2,baz=3') },
  { name: 'tabs and spaces around commas', headers: ts('foo=1\t \t,\t \tbar=2,\t \tbaz=3'), want: withTs('foo=1,bar=2,baz=3') },
  { name: 'leading space', headers: ts(' foo=1'), want: withTs('foo=1') },
  { name: 'leading tab', headers: ts('\tfoo=1'), want: withTs('foo=1') },
  { name: 'trailing space', headers: ts('foo=1 '), want: withTs('foo=1') },
  { name: 'trailing tab', headers: ts('foo=1\t'), want: withTs('foo=1') },
  { name: 'OWS at both ends', headers: ts('\t foo=1 \t'), want: withTs('foo=1') },
  { name: 'three header lines combined in order', headers: ts('foo=1,bar=2', 'rojo=1,congo=2', 'baz=3'), want: withTs('foo=1,bar=2,rojo=1,congo=2,baz=3') },
  { name: 'empty header', headers: ts(''), want: withTs('') },
  { name: 'empty line after', headers: ts('foo=1', ''), want: withTs('foo=1') },
  { name: 'empty line before', headers: ts('', 'foo=1'), want: withTs('foo=1') },
  { name: 'empty members', headers: ts('foo=1,, ,bar=2,'), want: withTs('foo=1,bar=2') },
  { name: 'header name TraceState', headers: [['traceparent', TP00], ['TraceState', 'foo=1']], want: withTs('foo=1') },
  { name: 'header name TRACESTATE', headers: [['traceparent', TP00], ['TRACESTATE', 'foo=1']], want: withTs('foo=1') },
  { name: 'wrong header name trace-state', headers: [['traceparent', TP00], ['trace-state', 'foo=1']], want: withTs('') },
  { name: 'without traceparent', headers: [['tracestate', 'foo=1']], want: null },
  { name: 'with an invalid traceparent', headers: [['traceparent', TP('01', '0'.repeat(32))], ['tracestate', 'foo=1']], want: null },
  { name: 'the spec example', headers: ts('rojo=00f067aa0ba902b7,congo=t61rcWkgMzE'), want: withTs('rojo=00f067aa0ba902b7,congo=t61rcWkgMzE') },
  {
    name: '65 header lines, one member',
    headers: ts(...Array.from({ length: 64 }, () => ''), 'foo=1'),
    c: withTs(''), js: withTs('foo=1'),
    why: 'Trace Context §tracestate: several lines "MUST be combined" (RFC 9110 §5.3), and empty members are '
      + 'allowed, so this is "foo=1"; tracewire reads at most 64 tracestate lines and treats more as invalid '
      + '(propagator.c, a bound on work per request).',
  },
  { name: 'multi-tenant key', headers: ts('fw529a3039@dt=ZmY,1@x=2'), want: withTs('fw529a3039@dt=ZmY,1@x=2') },
  { name: 'value with inner and leading spaces', headers: ts('foo= a b'), want: withTs('foo= a b') },
  { name: 'all allowed characters', headers: ts(`${KEY_CHARS}=${VALUE_CHARS}`), want: withTs(`${KEY_CHARS}=${VALUE_CHARS}`) },
  {
    name: 'all allowed characters, vendor key', headers: ts(`${KEY_CHARS}@a-z0-9_-*/=${VALUE_CHARS}`),
    want: withTs(`${KEY_CHARS}@a-z0-9_-*/=${VALUE_CHARS}`),
  },
  {
    name: '32 members over four lines',
    headers: ts(members(1, 10).join(','), members(11, 20).join(','), members(21, 30).join(','), members(31, 32).join(',')),
    want: withTs(members(1, 32).join(',')),
  },
  {
    name: '33 members over four lines',
    headers: ts(members(1, 10).join(','), members(11, 20).join(','), members(21, 30).join(','), members(31, 33).join(',')),
    c: withTs(''), js: withTs(members(1, 32).join(',')),
    why: 'Trace Context §tracestate: "There can be a maximum of 32 list-members in a list"; the W3C suite '
      + '(test_tracestate_member_count_limit) expects a 33-member header discarded, which C does; JS keeps the first 32.',
  },
  { name: 'duplicate keys, same value', headers: ts('foo=1,foo=1'), c: withTs(''), js: withTs('foo=1'), why: STRICT_WHY },
  { name: 'duplicate keys, different values', headers: ts('foo=1,foo=2'), c: withTs(''), js: withTs('foo=2'), why: STRICT_WHY },
  { name: 'duplicate keys over two lines', headers: ts('foo=1', 'foo=2'), c: withTs(''), js: withTs('foo=2'), why: STRICT_WHY },
  allInvalid('key with a space', 'foo =1'),
  allInvalid('uppercase key', 'FOO=1'),
  allInvalid('key with a dot', 'foo.bar=1'),
  { name: 'uppercase key beside a good one', headers: ts('foo=1,FOO=2'), c: withTs(''), js: withTs('foo=1'), why: STRICT_WHY },
  { name: 'empty system id', headers: ts('foo@=1,bar=2'), c: withTs(''), js: withTs('bar=2'), why: STRICT_WHY },
  { name: 'empty tenant id', headers: ts('@foo=1,bar=2'), c: withTs(''), js: withTs('bar=2'), why: STRICT_WHY },
  { name: 'two @ together', headers: ts('foo@@bar=1,bar=2'), c: withTs(''), js: withTs('bar=2'), why: STRICT_WHY },
  { name: 'two @ apart', headers: ts('foo@bar@baz=1,bar=2'), c: withTs(''), js: withTs('bar=2'), why: STRICT_WHY },
  { name: 'key of 256 characters', headers: ts('foo=1', `${'z'.repeat(256)}=1`), want: withTs(`foo=1,${'z'.repeat(256)}=1`) },
  { name: 'key of 257 characters', headers: ts('foo=1', `${'z'.repeat(257)}=1`), c: withTs(''), js: withTs('foo=1'), why: STRICT_WHY },
  {
    name: 'tenant 241 and system 14 characters', headers: ts('foo=1', `${'t'.repeat(241)}@${'v'.repeat(14)}=1`),
    want: withTs(`foo=1,${'t'.repeat(241)}@${'v'.repeat(14)}=1`),
  },
  { name: 'tenant of 242 characters', headers: ts('foo=1', `${'t'.repeat(242)}@v=1`), c: withTs(''), js: withTs('foo=1'), why: STRICT_WHY },
  { name: 'system of 15 characters', headers: ts('foo=1', `t@${'v'.repeat(15)}=1`), c: withTs(''), js: withTs('foo=1'), why: STRICT_WHY },
  allInvalid('value with =', 'foo=bar=baz'),
  { name: 'empty value beside a good one', headers: ts('foo=,bar=3'), c: withTs(''), js: withTs('bar=3'), why: STRICT_WHY },
  { name: 'value of 256 characters', headers: ts(`foo=${'v'.repeat(256)}`), want: withTs(`foo=${'v'.repeat(256)}`) },
  { name: 'value of 257 characters', headers: ts('foo=1', `bar=${'v'.repeat(257)}`), c: withTs(''), js: withTs('foo=1'), why: STRICT_WHY },
  { name: 'value with a control character', headers: ts('foo=1', 'bar=a\u0001b'), c: withTs(''), js: withTs('foo=1'), why: STRICT_WHY },
  {
    // 8 members of 104 characters: 839 in all. Both send the first four (419):
    // C by the spec's truncation when injecting, JS by skipping on parse.
    name: 'longer than 512 characters',
    headers: ts(Array.from({ length: 8 }, (_, i) => long(`k${i}`, 104)).join(',')),
    c: withTs(Array.from({ length: 8 }, (_, i) => long(`k${i}`, 104)).join(',')),
    js: withTs(Array.from({ length: 4 }, (_, i) => long(`k${i}`, 104)).join(',')),
    why: 'Trace Context §tracestate Limits: "Vendors SHOULD propagate at least 512 characters" and truncate '
      + 'whole entries when they must; C keeps everything it received and truncates when sending, JS drops members '
      + 'past 512 while parsing. Both send the same four entries.',
    injected: {
      c: [['traceparent', TP00], ['tracestate', Array.from({ length: 4 }, (_, i) => long(`k${i}`, 104)).join(',')]],
      js: [['traceparent', TP00], ['tracestate', Array.from({ length: 4 }, (_, i) => long(`k${i}`, 104)).join(',')]],
    },
  },
  {
    // A 202-character entry first, then five of 104: 727 in all.
    name: 'longer than 512 with a long entry',
    headers: ts([long('big', 202), ...Array.from({ length: 5 }, (_, i) => long(`k${i}`, 104))].join(',')),
    c: withTs([long('big', 202), ...Array.from({ length: 5 }, (_, i) => long(`k${i}`, 104))].join(',')),
    js: withTs([long('big', 202), ...Array.from({ length: 2 }, (_, i) => long(`k${i}`, 104))].join(',')),
    why: 'Trace Context §tracestate Limits: "Entries larger than 128 characters long SHOULD be removed first. '
      + 'Then entries SHOULD be removed starting from the end"; C sends the four short entries (419), JS keeps the '
      + 'entries that fit in parse order, the long one first.',
    injected: {
      c: [['traceparent', TP00], ['tracestate', Array.from({ length: 4 }, (_, i) => long(`k${i}`, 104)).join(',')]],
      js: [['traceparent', TP00], ['tracestate', [long('big', 202), ...Array.from({ length: 2 }, (_, i) => long(`k${i}`, 104))].join(',')]],
    },
  },
];


// ---- W3C Baggage -----------------------------------------------------------------

const bg = (...values) => values.map((v) => ['baggage', v]);
const bag = (...entries) => ({ baggage: entries.map(([k, v, m = '']) => [k, v, m]) });
const many = (n) => Array.from({ length: n }, (_, i) => `k${i}=v${i}`).join(',');
const manyEntries = (n) => Array.from({ length: n }, (_, i) => [`k${i}`, `v${i}`]);
const OCTET_WHY = 'W3C Baggage §Definition: value = *baggage-octet, which excludes SP, DQUOTE, comma, semicolon and '
  + 'backslash; C skips such a member (the spec: an entry "not in the format ... MAY" be removed), JS keeps it.';

const baggageCases = [
  { name: 'one member', headers: bg('k=v'), want: bag(['k', 'v']) },
  { name: 'three members', headers: bg('k1=v1,k2=v2,k3=v3'), want: bag(['k1', 'v1'], ['k2', 'v2'], ['k3', 'v3']) },
  { name: 'OWS around keys, values and commas', headers: bg(' k1 = v1 , k2=v2\t,\tk3 =v3 '), want: bag(['k1', 'v1'], ['k2', 'v2'], ['k3', 'v3']) },
  {
    name: 'the spec example with properties',
    headers: bg('key1=value1;property1;property2, key2 = value2, key3=value3; propertyKey=propertyValue'),
    want: bag(['key1', 'value1', 'property1;property2'], ['key2', 'value2'], ['key3', 'value3', 'propertyKey=propertyValue']),
  },
  { name: 'the spec example with percent-encoding', headers: bg('userId=alice,serverNode=DF%2028,isProduction=false'), want: bag(['userId', 'alice'], ['serverNode', 'DF 28'], ['isProduction', 'false']) },
  { name: 'two header lines', headers: bg('userId=alice', 'serverNode=DF%2028,isProduction=false'), want: bag(['userId', 'alice'], ['serverNode', 'DF 28'], ['isProduction', 'false']) },
  { name: 'UTF-8, uppercase hex', headers: bg('k=%E2%9C%93%20ok'), want: bag(['k', '✓ ok']) },
  { name: 'UTF-8, lowercase hex', headers: bg('k=%e2%9c%93'), want: bag(['k', '✓']) },
  { name: 'encoded delimiters', headers: bg('k=a%2Cb%3Bc%3Dd%25e%22f%5Cg'), want: bag(['k', 'a,b;c=d%e"f\\g']) },
  { name: 'plus is not a space', headers: bg('k=a+b'), want: bag(['k', 'a+b']) },
  { name: 'value with =', headers: bg('k=a=b'), want: bag(['k', 'a=b']) },
  { name: 'token characters in a key', headers: bg("a!b.c_d-e~f*g'h=1"), want: bag(["a!b.c_d-e~f*g'h", '1']) },
  { name: 'malformed member skipped', headers: bg('k1=v1,junk,k2=v2'), want: bag(['k1', 'v1'], ['k2', 'v2']) },
  { name: 'empty members', headers: bg('k1=v1,, ,k2=v2,'), want: bag(['k1', 'v1'], ['k2', 'v2']) },
  { name: 'duplicate key, the later wins', headers: bg('k=1,k=2'), want: bag(['k', '2']) },
  { name: 'bad percent-encoding', headers: bg('k=%zz,ok=1'), want: bag(['ok', '1']) },
  { name: 'truncated percent-encoding', headers: bg('k=%4,ok=1'), want: bag(['ok', '1']) },
  { name: 'nothing valid', headers: bg('junk,=1'), want: null },
  { name: 'empty header', headers: bg(''), want: null },
  {
    name: 'percent-encoded byte that is not UTF-8', headers: bg('k=%FF,ok=1'),
    c: bag(['k', '\uFFFD'], ['ok', '1']), js: bag(['ok', '1']),
    why: 'W3C Baggage §value: "percent-encoded octet sequences that do not match the UTF-8 encoding scheme MUST be '
      + 'replaced with the replacement code point (U+FFFD)"; JS decodeURIComponent throws and the member is lost.',
  },
  {
    name: 'truncated UTF-8 sequence', headers: bg('k=caf%C3,ok=1'),
    c: bag(['k', 'caf\uFFFD'], ['ok', '1']), js: bag(['ok', '1']),
    why: 'as above: U+FFFD for an ill-formed sequence (W3C Baggage §value); JS drops the member.',
  },
  {
    name: 'empty value', headers: bg('k=,ok=1'), c: bag(['k', ''], ['ok', '1']), js: bag(['ok', '1']),
    b: bag(['ok', '1']),
    why: 'W3C Baggage §Definition: value = *baggage-octet, so an empty value is well-formed; JS skips it, also '
      + 'when C sends it on ("k=,ok=1").',
  },
  { name: 'space in a value', headers: bg('k=a b,ok=1'), c: bag(['ok', '1']), js: bag(['k', 'a b'], ['ok', '1']), why: OCTET_WHY },
  { name: 'DQUOTE in a value', headers: bg('k=a"b,ok=1'), c: bag(['ok', '1']), js: bag(['k', 'a"b'], ['ok', '1']), why: OCTET_WHY },
  { name: 'backslash in a value', headers: bg('k=a\\b,ok=1'), c: bag(['ok', '1']), js: bag(['k', 'a\\b'], ['ok', '1']), why: OCTET_WHY },
  {
    name: 'space in a key', headers: bg('a b=1,ok=1'), c: bag(['ok', '1']), js: bag(['a b', '1'], ['ok', '1']),
    a: { c: bag(['a%20b', '1'], ['ok', '1']), js: bag(['a b', '1'], ['ok', '1']) },
    why: 'W3C Baggage §key: a key is an RFC 7230 token, which has no space; JS accepts any text before "=", sends '
      + 'it percent-encoded ("a%20b") and decodes it back, while C reads a key literally.',
  },
  {
    name: 'percent-encoding in a key', headers: bg('a%41=1'), c: bag(['a%41', '1']), js: bag(['aA', '1']),
    b: bag(['aA', '1']),
    why: 'W3C Baggage §key: a key is a token and only values are percent-encoded ("A value contains a URL '
      + 'encoded UTF-8 string"); JS decodes keys too, also when C sends "a%41" on. (a) agrees: JS sends "aA".',
  },
  {
    name: 'token character that JS percent-encodes', headers: bg('a#b=1'), want: bag(['a#b', '1']),
    a: { c: bag(['a%23b', '1']), js: bag(['a#b', '1']) },
    why: 'W3C Baggage §key: keys are tokens, sent as they are; JS sends encodeURIComponent(key) ("a%23b") and '
      + 'decodes it back, C (like the spec) reads the key literally.',
  },
  {
    name: 'semicolon without a property', headers: bg('k=v;,ok=1'), c: bag(['ok', '1']), js: bag(['k', 'v'], ['ok', '1']),
    why: 'W3C Baggage §Definition: list-member = key OWS "=" OWS value *( OWS ";" OWS property ): a ";" must be '
      + 'followed by a property; C skips the member, JS keeps it without metadata.',
  },
  {
    name: 'property that is not a token', headers: bg('k=v;p 1,ok=1'), c: bag(['ok', '1']), js: bag(['k', 'v', 'p 1'], ['ok', '1']),
    a: { c: bag(['ok', '1']), js: bag(['k', 'v', 'p 1'], ['ok', '1']) },
    why: 'W3C Baggage §Definition: property = key OWS "=" OWS value / key OWS; "p 1" is neither, so C skips the '
      + 'member; JS keeps properties as opaque text.',
  },
  { name: 'properties with OWS', headers: bg('k=v ; p1 ; p2 = x'), want: bag(['k', 'v', 'p1 ; p2 = x']) },
  { name: '64 members', headers: bg(many(64)), want: bag(...manyEntries(64)) },
  {
    name: '65 members', headers: bg(many(65)), c: bag(...manyEntries(64)), js: bag(...manyEntries(65)),
    a: { c: bag(...manyEntries(64)), js: bag(...manyEntries(65)) },
    why: 'W3C Baggage §Limits: "A platform MUST propagate at least 64 list-members"; C propagates that minimum '
      + '(TW_BAGGAGE_MAX_MEMBERS), JS up to 180 (the grammar\'s 0*179).',
  },
  {
    // 4002 + 1 + 4002 = 8005 bytes; c (202) does not fit, d (3) does.
    name: '8192 bytes, a small member after one that does not fit',
    headers: bg([long('a', 4002), long('b', 4002), long('c', 202), 'd=1'].join(',')),
    c: bag(long('a', 4002).split('='), long('b', 4002).split('='), ['d', '1']),
    js: bag(long('a', 4002).split('='), long('b', 4002).split('=')),
    why: 'W3C Baggage §Limits and §Mutating baggage: at least 8192 bytes must be propagated and, past a limit, an '
      + 'implementation "MAY drop or truncate certain baggage entries in any order"; C skips only the members that '
      + 'do not fit, JS stops at the first one.',
  },
  {
    name: 'one member of 5000 bytes', headers: bg(long('big', 5000)), c: bag(long('big', 5000).split('=')), js: null,
    b: null,
    why: 'W3C Baggage §Limits has no per-member limit (only the 8192-byte list); JS still applies the 4096-byte '
      + 'member limit of an earlier draft and drops the member, also when C sends it on.',
  },
];

// JS's raw property text (the normalised comparison above trims it).
test('baggage: JS keeps OWS before a property, C trims it [differs: see why]', () => {
  // W3C Baggage §property: "Leading and trailing OWS is allowed but MUST be
  // trimmed when converting the header into a data structure".
  const headers = bg('key3=value3; propertyKey=propertyValue ');
  const jsEntry = api.propagation.getBaggage(jsExtractCtx('baggage', headers)).getEntry('key3');
  assert.equal(jsEntry.metadata.toString(), ' propertyKey=propertyValue ');
  assert.deepEqual(cExtract('baggage', headers).ctx.baggage, [['key3', 'value3', 'propertyKey=propertyValue']]);
});

// ---- B3 -----------------------------------------------------------------------------

const BT = '463ac35c9f6413ad48485a3953bb6124';
const BS = 'a2fb4a1d1a96d312';
const BP = '0020000000000001';
const BT16 = '48485a3953bb6124';
const PAD = '0'.repeat(16);
const b3s = (v) => [['b3', v]];
const multi = (o) => Object.entries(o).map(([k, v]) => [`X-B3-${k}`, v]);
const b3ctx = (flags, traceId = BT) => ({ traceId, spanId: BS, flags });
const SAMPLING_WHY = 'B3 single header: SamplingState is "0", "1" or "d", or absent; C refuses anything else, the JS '
  + 'regex is not anchored and matches the ids alone (unsampled).';

// Injected headers for both B3 encodings: [single, multi].
const b3out = (flags, traceId = BT) => ({
  b3: b3s(`${traceId}-${BS}-${flags}`),
  b3multi: [['x-b3-traceid', traceId], ['x-b3-spanid', BS], ['x-b3-sampled', String(flags)]],
});
const DEBUG_WHY = 'tracewire\'s span context has no debug bit, so debug degrades to accept when sent on (B3: "Debug '
  + 'implies an accept decision"); JS keeps debug in its context and sends it on in the encoding it came in ("d", '
  + 'or X-B3-Flags: 1), and as plain accept in the other one, where it agrees with C.';
// A debug case: the injections differ only when JS re-sends in the encoding it read.
function debugCase(prop, name, headers, fromSingle) {
  const k = { name, headers, want: b3ctx(1) };
  if (prop === 'b3' && fromSingle) {
    Object.assign(k, { why: DEBUG_WHY, injected: { c: b3out(1).b3, js: b3s(`${BT}-${BS}-d`) } });
  } else if (prop === 'b3multi' && !fromSingle) {
    Object.assign(k, {
      why: DEBUG_WHY,
      injected: { c: b3out(1).b3multi, js: [['x-b3-traceid', BT], ['x-b3-spanid', BS], ['x-b3-flags', '1']] },
    });
  }
  return k;
}

const b3Cases = (prop) => [
  { name: 'single: sampled', headers: b3s(`${BT}-${BS}-1`), want: b3ctx(1) },
  { name: 'single: not sampled', headers: b3s(`${BT}-${BS}-0`), want: b3ctx(0) },
  debugCase(prop, 'single: debug', b3s(`${BT}-${BS}-d`), true),
  { name: 'single: deferred', headers: b3s(`${BT}-${BS}`), want: b3ctx(0) },
  { name: 'single: 64-bit trace id', headers: b3s(`${BT16}-${BS}-1`), want: b3ctx(1, PAD + BT16) },
  { name: 'single: with parent', headers: b3s(`${BT}-${BS}-1-${BP}`), want: b3ctx(1) },
  { name: 'single: OWS', headers: b3s(` ${BT}-${BS}-1\t`), want: b3ctx(1) },
  { name: 'single: sampling only 0', headers: b3s('0'), want: null },
  { name: 'single: sampling only 1', headers: b3s('1'), want: null },
  { name: 'single: sampling only d', headers: b3s('d'), want: null },
  { name: 'single: empty', headers: b3s(''), want: null },
  { name: 'single: uppercase trace id', headers: b3s(`${BT.toUpperCase()}-${BS}-1`), want: null },
  { name: 'single: all-zero trace id', headers: b3s(`${'0'.repeat(32)}-${BS}-1`), want: null },
  { name: 'single: all-zero span id', headers: b3s(`${BT}-${'0'.repeat(16)}-1`), want: null },
  { name: 'single: span id too short', headers: b3s(`${BT}-${BS.slice(1)}-1`), want: null },
  { name: 'single: bad sampling state', headers: b3s(`${BT}-${BS}-x`), c: null, js: b3ctx(0), why: SAMPLING_WHY },
  {
    name: 'single: 24-hex trace id', headers: b3s(`${BT.slice(0, 24)}-${BS}-1`), c: null, js: b3ctx(1, PAD + BT.slice(8, 24)),
    why: 'B3: TraceId is 16 or 32 lower-hex characters; the unanchored JS regex takes the last 16 of the 24.',
  },
  {
    name: 'single: parent without sampling state', headers: b3s(`${BT}-${BS}-${BP}`), c: null, js: b3ctx(0),
    why: 'B3 single header: {TraceId}-{SpanId}-{SamplingState}-{ParentSpanId}, the parent only after a sampling '
      + 'state; JS reads the third field as a parent.',
  },
  {
    name: 'single: trailing garbage', headers: b3s(`${BT}-${BS}-1-${BP}-junk`), c: null, js: b3ctx(1),
    why: 'B3 single header grammar has four fields at most; the unanchored JS regex ignores what follows.',
  },
  {
    name: 'single: all-zero parent id', headers: b3s(`${BT}-${BS}-1-${'0'.repeat(16)}`), c: null, js: b3ctx(1),
    why: 'tracewire refuses an all-zero id in any position (b3.c, as for W3C ids); JS ignores the parent id.',
  },
  { name: 'multi: sampled', headers: multi({ TraceId: BT, SpanId: BS, Sampled: '1' }), want: b3ctx(1) },
  { name: 'multi: not sampled', headers: multi({ TraceId: BT, SpanId: BS, Sampled: '0' }), want: b3ctx(0) },
  { name: 'multi: deferred', headers: multi({ TraceId: BT, SpanId: BS }), want: b3ctx(0) },
  { name: 'multi: with parent', headers: multi({ TraceId: BT, SpanId: BS, ParentSpanId: BP, Sampled: '1' }), want: b3ctx(1) },
  { name: 'multi: 64-bit trace id', headers: multi({ TraceId: BT16, SpanId: BS, Sampled: '1' }), want: b3ctx(1, PAD + BT16) },
  debugCase(prop, 'multi: debug', multi({ TraceId: BT, SpanId: BS, Flags: '1' }), false),
  debugCase(prop, 'multi: debug beats Sampled 0', multi({ TraceId: BT, SpanId: BS, Sampled: '0', Flags: '1' }), false),
  { name: 'multi: Flags 0', headers: multi({ TraceId: BT, SpanId: BS, Sampled: '1', Flags: '0' }), want: b3ctx(1) },
  { name: 'multi: Sampled true', headers: multi({ TraceId: BT, SpanId: BS, Sampled: 'true' }), want: b3ctx(1) },
  { name: 'multi: Sampled false', headers: multi({ TraceId: BT, SpanId: BS, Sampled: 'false' }), want: b3ctx(0) },
  { name: 'multi: Sampled True', headers: multi({ TraceId: BT, SpanId: BS, Sampled: 'True' }), want: b3ctx(1) },
  {
    name: 'multi: Sampled TRUE', headers: multi({ TraceId: BT, SpanId: BS, Sampled: 'TRUE' }), c: b3ctx(1), js: null,
    why: 'B3 defines X-B3-Sampled "1"/"0" and the legacy "true"/"false" without saying how case is treated; C '
      + 'compares them case-insensitively, JS knows true/True only and then refuses the whole set.',
  },
  { name: 'multi: Sampled yes', headers: multi({ TraceId: BT, SpanId: BS, Sampled: 'yes' }), want: null },
  { name: 'multi: no span id', headers: multi({ TraceId: BT, Sampled: '1' }), want: null },
  { name: 'multi: no trace id', headers: multi({ SpanId: BS, Sampled: '1' }), want: null },
  { name: 'multi: all-zero trace id', headers: multi({ TraceId: '0'.repeat(32), SpanId: BS }), want: null },
  {
    name: 'multi: bad parent id', headers: multi({ TraceId: BT, SpanId: BS, ParentSpanId: 'xyz', Sampled: '1' }), c: null, js: b3ctx(1),
    why: 'B3: X-B3-ParentSpanId is 16 lower-hex; C refuses a set with a malformed one (as OpenTelemetry Go does, '
      + 'b3.c), JS never reads the parent.',
  },
  {
    name: 'multi: Flags 2', headers: multi({ TraceId: BT, SpanId: BS, Sampled: '1', Flags: '2' }), c: null, js: b3ctx(1),
    why: 'B3: X-B3-Flags is "1" (debug) or absent; C refuses another value, JS treats it as absent.',
  },
  {
    name: 'multi: uppercase trace id', headers: multi({ TraceId: BT.toUpperCase(), SpanId: BS, Sampled: '1' }),
    c: null, js: b3ctx(1, BT.toUpperCase()),
    // JS sends the id on uppercase; only its multi-header reader accepts that.
    a: prop === 'b3multi' ? { c: null, js: b3ctx(1, BT.toUpperCase()) } : undefined,
    why: 'B3: ids are lower-hex; JS validates multi-header ids case-insensitively (isValidTraceId) and sends '
      + 'them on uppercase.',
  },
  {
    name: 'multi: short trace id', headers: multi({ TraceId: '1234', SpanId: BS, Sampled: '1' }),
    c: null, js: b3ctx(1, `${'0'.repeat(28)}1234`),
    why: 'B3: TraceId is 16 or 32 lower-hex characters; JS left-pads any shorter string to 32.',
  },
  {
    name: 'single wins over multi', headers: [...b3s(`${BT}-${BS}-1`), ...multi({ TraceId: T, SpanId: S, Sampled: '0' })],
    want: b3ctx(1),
  },
  { name: 'sampling-only single hides valid multi', headers: [...b3s('1'), ...multi({ TraceId: BT, SpanId: BS })], want: null },
  { name: 'invalid single hides valid multi', headers: [...b3s('garbage'), ...multi({ TraceId: BT, SpanId: BS })], want: null },
];

// ---- registration ---------------------------------------------------------------------

describe('tw_propagate', () => {
  test('refuses an unknown propagator', () => {
    const r = spawnSync(BIN, ['extract', 'jaeger'], { input: '', encoding: 'utf8' });
    assert.equal(r.status, 2);
  });
  test('refuses a line that is not a header', () => {
    const r = spawnSync(BIN, ['extract', 'tracecontext'], { input: 'no colon here\n', encoding: 'utf8' });
    assert.equal(r.status, 2);
  });
});

describe('header cases', () => {
  run('tracecontext', traceparentCases);
  run('tracecontext', tracestateCases);
  run('baggage', baggageCases);
  run('b3', b3Cases('b3'));
  run('b3multi', b3Cases('b3multi'));
  run('tracecontext,baggage', [
    {
      name: 'traceparent, tracestate and baggage together',
      headers: [['traceparent', TP('01')], ['tracestate', 'rojo=1'], ['baggage', 'userId=alice,serverNode=DF%2028']],
      want: { ...ctxOf(1, { tracestate: 'rojo=1' }), ...bag(['userId', 'alice'], ['serverNode', 'DF 28']) },
    },
    {
      name: 'baggage survives an invalid traceparent',
      headers: [['traceparent', TP('01', '0'.repeat(32))], ['baggage', 'k=v']],
      want: bag(['k', 'v']),
    },
  ]);
});

// ---- context cases: inject on one side, extract on the other --------------------------

const contextCases = [
  ['tracecontext', { name: 'sampled, no tracestate', span: { traceId: T2, spanId: S2, flags: 1, tracestate: '' } }],
  ['tracecontext', { name: 'not sampled, two members', span: { traceId: T2, spanId: S2, flags: 0, tracestate: 'rojo=00f067aa0ba902b7,congo=t61rcWkgMzE' } }],
  ['tracecontext', { name: 'random flag', span: { traceId: T, spanId: S, flags: 3, tracestate: 'a=1' } }],
  ['tracecontext', { name: 'vendor keys and spaces in values', span: { traceId: T, spanId: S, flags: 1, tracestate: 'tenant@sys=v 1,x@y=2,k=  z' } }],
  ['tracecontext', { name: '32 members', span: { traceId: T, spanId: S, flags: 1, tracestate: members(1, 32).join(',') } }],
  [
    'tracecontext',
    { name: 'invalid context injects nothing', span: { traceId: '0'.repeat(32), spanId: S, flags: 1, tracestate: '' }, headers: [] },
  ],
  ['baggage', { name: 'plain', baggage: [['user.id', 'alice', '']] }],
  ['baggage', { name: 'delimiters and percent signs', baggage: [['k', 'a b,c;d=e%f"g\\h', '']] }],
  ['baggage', { name: 'non-ASCII', baggage: [['emoji', '🎉 ünïcødé 中文', '']] }],
  ['baggage', { name: 'properties', baggage: [['k', 'v', 'p1;p2=x'], ['k2', 'v2', '']] }],
  ['baggage', { name: '64 members', baggage: manyEntries(64).map(([k, v]) => [k, v, '']) }],
  [
    'baggage',
    {
      name: 'empty value', baggage: [['k', '', ''], ['ok', '1', '']],
      differ: { jsReadsC: bag(['ok', '1']), cReadsJs: bag(['k', ''], ['ok', '1']) },
      why: 'W3C Baggage §Definition: value = *baggage-octet allows an empty value; both send "k=", JS then skips it.',
    },
  ],
  [
    'baggage',
    {
      name: 'key with a token character JS encodes', baggage: [['a$b', '1', '']],
      differ: { jsReadsC: bag(['a$b', '1']), cReadsJs: bag(['a%24b', '1']) },
      why: 'W3C Baggage §key: keys are tokens sent as they are; JS sends encodeURIComponent(key) = "a%24b", which C '
        + 'reads literally.',
    },
  ],
  ['b3', { name: 'sampled', span: { traceId: BT, spanId: BS, flags: 1, tracestate: '' } }],
  ['b3', { name: 'not sampled', span: { traceId: BT, spanId: BS, flags: 0, tracestate: '' } }],
  ['b3', { name: 'padded 64-bit trace id', span: { traceId: PAD + BT16, spanId: BS, flags: 1, tracestate: '' } }],
  ['b3multi', { name: 'sampled', span: { traceId: BT, spanId: BS, flags: 1, tracestate: '' } }],
  ['b3multi', { name: 'not sampled', span: { traceId: BT, spanId: BS, flags: 0, tracestate: '' } }],
  ['b3multi', { name: 'padded 64-bit trace id', span: { traceId: PAD + BT16, spanId: BS, flags: 1, tracestate: '' } }],
  [
    'tracecontext,baggage',
    { name: 'span and baggage', span: { traceId: T, spanId: S, flags: 1, tracestate: 'a=1' }, baggage: [['k', 'v w', '']] },
  ],
];

describe('context cases', () => {
  for (const [prop, k] of contextCases) {
    test(`${prop}: ${k.name}${k.differ ? ' [differs: see why]' : ''}`, () => {
      checkContext(prop, k);
    });
  }
});
