// metrics.test.mjs — TraceQL metrics over HTTP (/api/metrics/query_range and
// /api/metrics/query) in Tempo's response shapes, over spans the
// OpenTelemetry JS SDK sent:
//
//  1. Values per interval as Tempo computes them: the range aligned to the
//     step with a leading interval, intervals (t - step, t] stamped t (ms, as
//     a string), zero samples without "value", by() labels typed, promLabels,
//     durations in seconds, quantiles with a `p` label.
//  2. Exemplars carry the SDK's trace ids (hex, no leading zeros), one per
//     trace, at most `exemplars=`.
//  3. Grafana's step forms (30s and 30) and the other time forms (RFC 3339,
//     nanoseconds, float seconds) give the same answer; query= works as q=.
//  4. The instant query: one value per series.
//  5. The same answers once the spans moved into a block.
//  6. 400s with Tempo's messages; tenants do not see each other's spans.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OTLPTraceExporter as ProtoExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { trace, context, SpanKind, SpanStatusCode } from '@opentelemetry/api';

import { Server, sleep, provider } from './tw_server_lib.mjs';

const dirs = [];
after(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });

async function startServer(tag) {
  const dir = mkdtempSync(join(tmpdir(), `tracewire-${tag}-`));
  dirs.push(dir);
  const cfg = join(dir, 'tracewire.yaml');
  writeFileSync(cfg, 'head:\n  flush_interval: 60s\n');
  const srv = new Server(join(dir, 'data'), ['--config', cfg]);
  await srv.start();
  return srv;
}

async function get(srv, path, params, headers = {}) {
  const u = new URL(srv.url(path));
  for (const [k, v] of Object.entries(params)) u.searchParams.set(k, v);
  const r = await fetch(u, { headers });
  const body = await r.text();
  return { status: r.status, body, type: r.headers.get('content-type'), json: r.status === 200 ? JSON.parse(body) : null };
}

const stripZeros = (id) => id.replace(/^0+/, '') || '0';

// The window: BASE (a minute boundary ten minutes ago) to BASE + 60 s.
//   trace  service            start      duration  status
//   A      shop / payments    +5 s       100 ms / 50 ms (child at +5.01 s)
//   B      shop               +12 s      300 ms
//   D      shop               +30 s      20 ms     (exactly at an interval's end)
//   C      shop / payments    +31 s      2 s / 1 s (child at +31.5 s, error)
//   E      shop               +75 s      10 ms     (after the window)
const BASE = Math.floor(Date.now() / 60000) * 60 - 600;
const at = (s, ms = 0) => [BASE + s, ms * 1000000];

async function sendSpans(srv) {
  const shop = provider('shop', new ProtoExporter({ url: srv.otlpUrl() }));
  const pay = provider('payments', new ProtoExporter({ url: srv.otlpUrl() }));
  const ids = {};
  const root = (name, id, s, ms, durMs, attrs = {}) => {
    const span = shop.getTracer('shop').startSpan(name, { kind: SpanKind.SERVER, startTime: at(s, ms), attributes: attrs });
    ids[id] = span.spanContext().traceId;
    return { span, end: () => span.end(at(s + Math.floor((ms + durMs) / 1000), (ms + durMs) % 1000)) };
  };
  const child = (parent, name, s, ms, durMs, error) => {
    const ctx = trace.setSpan(context.active(), parent.span);
    const c = pay.getTracer('payments').startSpan('charge ' + name, { kind: SpanKind.SERVER, startTime: at(s, ms) }, ctx);
    if (error) c.setStatus({ code: SpanStatusCode.ERROR });
    c.end(at(s + Math.floor((ms + durMs) / 1000), (ms + durMs) % 1000));
  };
  const a = root('GET /cart', 'A', 5, 0, 100, { 'http.route': '/cart' });
  child(a, 'A', 5, 10, 50, false);
  a.end();
  root('GET /cart', 'B', 12, 0, 300, { 'http.route': '/cart' }).end();
  root('GET /health', 'D', 30, 0, 20, { 'http.route': '/health' }).end();
  const c = root('POST /checkout', 'C', 31, 0, 2000, { 'http.route': '/checkout' });
  child(c, 'C', 31, 500, 1000, true);
  c.end();
  root('GET /cart', 'E', 75, 0, 10).end();
  for (const p of [shop, pay]) { await p.forceFlush(); await p.shutdown(); }
  return ids;
}

const RANGE = { start: String(BASE), end: String(BASE + 60), step: '30s' };
const TS = [BASE, BASE + 30, BASE + 60].map((s) => String(s * 1000));

function checkShape(res) {
  assert.equal(res.status, 200, res.body);
  assert.equal(res.type, 'application/json');
  for (const s of res.json.series || []) {
    assert.deepEqual(Object.keys(s).filter((k) => k !== 'exemplars'), ['labels', 'samples', 'promLabels']);
    assert.equal(typeof s.promLabels, 'string');
    for (const l of s.labels) assert.deepEqual(Object.keys(l), ['key', 'value']);
    let last = -1;
    for (const x of s.samples) {
      assert.equal(typeof x.timestampMs, 'string');
      assert.ok(Number(x.timestampMs) > last);
      last = Number(x.timestampMs);
      if ('value' in x) assert.notEqual(x.value, 0);
    }
    for (const e of s.exemplars || []) {
      assert.equal(typeof e.timestampMs, 'string');
      assert.equal(e.labels[0].key, 'trace:id');
    }
  }
  assert.equal(typeof res.json.metrics, 'object');
  const proms = (res.json.series || []).map((s) => s.promLabels);
  assert.deepEqual(proms, [...proms].sort(), 'series sorted by promLabels');
}

async function checkValues(srv, ids) {
  // count by service: the leading interval is empty; D at +30 s is in (BASE, BASE+30]; E is out
  let r = await get(srv, '/api/metrics/query_range', { q: '{ } | count_over_time() by (resource.service.name)', ...RANGE });
  checkShape(r);
  assert.deepEqual(r.json.series.map((s) => ({ labels: s.labels, promLabels: s.promLabels, samples: s.samples })), [
    { labels: [{ key: 'resource.service.name', value: { stringValue: 'payments' } }],
      promLabels: '{"resource.service.name"="payments"}',
      samples: [{ timestampMs: TS[0] }, { timestampMs: TS[1], value: 1 }, { timestampMs: TS[2], value: 1 }] },
    { labels: [{ key: 'resource.service.name', value: { stringValue: 'shop' } }],
      promLabels: '{"resource.service.name"="shop"}',
      samples: [{ timestampMs: TS[0] }, { timestampMs: TS[1], value: 3 }, { timestampMs: TS[2], value: 1 }] },
  ]);
  // rate, ungrouped: __name__; spans per second of step
  r = await get(srv, '/api/metrics/query_range', { q: '{ } | rate()', ...RANGE });
  checkShape(r);
  assert.equal(r.json.series.length, 1);
  assert.deepEqual(r.json.series[0].labels, [{ key: '__name__', value: { stringValue: 'rate' } }]);
  assert.equal(r.json.series[0].promLabels, '{__name__="rate"}');
  assert.deepEqual(r.json.series[0].samples, [{ timestampMs: TS[0] }, { timestampMs: TS[1], value: 4 / 30 },
    { timestampMs: TS[2], value: 2 / 30 }]);
  // durations in seconds; an interval without a value has no sample
  r = await get(srv, '/api/metrics/query_range', { q: '{ } | max_over_time(duration) by (resource.service.name)', ...RANGE });
  checkShape(r);
  assert.deepEqual(r.json.series.map((s) => s.samples), [
    [{ timestampMs: TS[1], value: 0.05 }, { timestampMs: TS[2], value: 1 }],
    [{ timestampMs: TS[1], value: 0.3 }, { timestampMs: TS[2], value: 2 }],
  ]);
  // a filter, and a by() over a span attribute
  r = await get(srv, '/api/metrics/query_range', { q: '{ status = error } | count_over_time() by (span.http.route)', ...RANGE });
  checkShape(r);
  assert.deepEqual(r.json.series.map((s) => s.promLabels), ['{"span.http.route"="<nil>"}']);
  assert.deepEqual(r.json.series[0].labels, [{ key: 'span.http.route', value: { stringValue: 'nil' } }]);
  // quantiles: a p label (a double), buckets of powers of two nanoseconds
  r = await get(srv, '/api/metrics/query_range',
    { q: '{ resource.service.name = "shop" } | quantile_over_time(duration, .5, 1)', ...RANGE });
  checkShape(r);
  assert.deepEqual(r.json.series.map((s) => s.promLabels), ['{p="0.5"}', '{p="1.0"}']);
  assert.deepEqual(r.json.series[1].labels, [{ key: 'p', value: { doubleValue: 1 } }]);
  // (BASE+30, BASE+60]: only C's 2 s root: 2^31 ns; (BASE, BASE+30]: 20 ms, 100 ms, 300 ms -> p1 = 2^29 ns
  assert.deepEqual(r.json.series[1].samples, [{ timestampMs: TS[0] }, { timestampMs: TS[1], value: 0.536870912 },
    { timestampMs: TS[2], value: 2.147483648 }]);
  // histogram: the __bucket label
  r = await get(srv, '/api/metrics/query_range', { q: '{ } | histogram_over_time(duration)', ...RANGE });
  checkShape(r);
  assert.ok(r.json.series.some((s) => s.promLabels === '{__bucket="2.147483648"}'), r.body);
  assert.ok(r.json.series.every((s) => s.labels[0].key === '__bucket' && 'doubleValue' in s.labels[0].value));
  // topk
  r = await get(srv, '/api/metrics/query_range', { q: '{ } | max_over_time(duration) by (resource.service.name) | topk(1)', ...RANGE });
  checkShape(r);
  assert.deepEqual(r.json.series.map((s) => s.promLabels), ['{"resource.service.name"="shop"}']);
  r = await get(srv, '/api/metrics/query_range', { q: '{ } | max_over_time(duration) by (resource.service.name) | bottomk(1)', ...RANGE });
  assert.deepEqual(r.json.series.map((s) => s.promLabels), ['{"resource.service.name"="payments"}']);

  // exemplars: the SDK's trace ids, one per trace, the sample's value for counts
  const sent = new Set(['A', 'B', 'C', 'D'].map((k) => stripZeros(ids[k])));
  r = await get(srv, '/api/metrics/query_range', { q: '{ } | count_over_time() by (resource.service.name)', ...RANGE, exemplars: '100' });
  checkShape(r);
  const seen = new Set();
  for (const s of r.json.series) {
    for (const e of s.exemplars || []) {
      const id = e.labels[0].value.stringValue;
      assert.ok(sent.has(id), `exemplar trace ${id} was not sent`);
      assert.ok(!seen.has(id), `two exemplars of ${id}`);
      seen.add(id);
      assert.deepEqual(e.labels.slice(1), s.labels);
      const ts = Number(e.timestampMs);
      assert.ok(ts > BASE * 1000 && ts <= (BASE + 60) * 1000);
      const sample = s.samples.find((x) => Number(x.timestampMs) >= ts && Number(x.timestampMs) - 30000 < ts);
      assert.equal(e.value, sample.value);
    }
  }
  assert.deepEqual([...seen].sort(), [...sent].sort());
  r = await get(srv, '/api/metrics/query_range', { q: '{ } | count_over_time()', ...RANGE, exemplars: '2' });
  assert.equal(r.json.series[0].exemplars.length, 2);
  // for durations the exemplar's value is the span's
  r = await get(srv, '/api/metrics/query_range', { q: '{ resource.service.name = "payments" } | max_over_time(duration)', ...RANGE });
  assert.deepEqual(r.json.series[0].exemplars.map((e) => e.value).sort(), [0.05, 1]);
  assert.deepEqual(r.json.series[0].exemplars.map((e) => e.labels[0].value.stringValue).sort(),
    [stripZeros(ids.A), stripZeros(ids.C)].sort());

  // Grafana's step forms and the other time forms: the same series
  const base = await get(srv, '/api/metrics/query_range', { q: '{ } | count_over_time() by (resource.service.name)', ...RANGE });
  const iso = (s) => new Date(s * 1000).toISOString();
  for (const params of [{ ...RANGE, step: '30' }, { ...RANGE, step: '30.0' },
    { start: iso(BASE), end: iso(BASE + 60), step: '30s' },
    { start: `${BASE}000000000`, end: `${BASE + 60}000000000`, step: '0.5m' },
    { start: `${BASE}.0`, end: `${BASE + 60}.0`, step: '30s' }]) {
    const other = await get(srv, '/api/metrics/query_range', { q: '{ } | count_over_time() by (resource.service.name)', ...params });
    assert.equal(other.status, 200, `${JSON.stringify(params)}: ${other.body}`);
    assert.deepEqual(other.json.series, base.json.series, JSON.stringify(params));
  }
  const viaQuery = await get(srv, '/api/metrics/query_range', { query: '{ } | count_over_time() by (resource.service.name)', ...RANGE });
  assert.deepEqual(viaQuery.json.series, base.json.series);

  // the instant query: one value per series over (start, end]
  r = await get(srv, '/api/metrics/query', { q: '{ } | count_over_time() by (resource.service.name)', start: String(BASE), end: String(BASE + 60) });
  assert.equal(r.status, 200, r.body);
  assert.deepEqual(r.json.series, [
    { labels: [{ key: 'resource.service.name', value: { stringValue: 'payments' } }], value: 2,
      promLabels: '{"resource.service.name"="payments"}' },
    { labels: [{ key: 'resource.service.name', value: { stringValue: 'shop' } }], value: 4,
      promLabels: '{"resource.service.name"="shop"}' },
  ]);
  r = await get(srv, '/api/metrics/query', { query: '{ } | rate()', start: String(BASE), end: String(BASE + 60) });
  assert.deepEqual(r.json.series, [{ labels: [{ key: '__name__', value: { stringValue: 'rate' } }], value: 6 / 60,
    promLabels: '{__name__="rate"}' }]);
  r = await get(srv, '/api/metrics/query', { q: '{ } | max_over_time(duration)', start: String(BASE + 40), end: String(BASE + 60) });
  assert.equal(r.json.series, undefined, r.body); // no span in the window: no value, no series
}

test('metrics over the JS SDK spans, in the head and in a block', async () => {
  const srv = await startServer('metrics');
  try {
    const ids = await sendSpans(srv);
    await checkValues(srv, ids);
    // another tenant sees nothing (the ungrouped line is all zeros)
    let r = await get(srv, '/api/metrics/query_range', { q: '{ } | count_over_time() by (resource.service.name)', ...RANGE },
      { 'X-Scope-OrgID': 'someone-else' });
    assert.equal(r.json.series, undefined, r.body);
    r = await get(srv, '/api/metrics/query_range', { q: '{ } | rate()', ...RANGE }, { 'X-Scope-OrgID': 'someone-else' });
    assert.ok(r.json.series[0].samples.every((x) => !('value' in x)));
    // defaults: since, now, the default step
    r = await get(srv, '/api/metrics/query_range', { q: '{ } | rate()', since: '15m' });
    checkShape(r);
    // 15 m / 240 = 3.75 s -> 3 s steps; aligned outwards, and a leading interval
    const stamps = r.json.series[0].samples.map((x) => Number(x.timestampMs));
    assert.ok(stamps.length === 301 || stamps.length === 302, `${stamps.length} samples`);
    assert.ok(stamps.every((t, i) => t % 3000 === 0 && (i === 0 || t - stamps[i - 1] === 3000)));

    // restart with a fast flush: the spans move into a block, the answers stay
    await srv.stop();
    writeFileSync(join(srv.dir, '..', 'tracewire.yaml'), 'head:\n  flush_interval: 1s\n');
    await srv.start();
    const until = Date.now() + 15000;
    for (;;) {
      const m = await (await fetch(srv.url('/metrics'))).text();
      if (/^tracewire_head_spans 0$/m.test(m) && /^tracewire_blocks [1-9]/m.test(m)) break;
      assert.ok(Date.now() < until, 'head not flushed');
      await sleep(100);
    }
    await checkValues(srv, ids);
    r = await get(srv, '/api/metrics/query_range', { q: '{ } | rate()', ...RANGE });
    assert.ok(r.json.metrics.totalBlocks >= 1 && Number(r.json.metrics.inspectedBytes) > 0, r.body);
  } finally {
    await srv.stop();
  }
});

test('400s with Tempo\'s messages', async () => {
  const srv = await startServer('metrics-errors');
  try {
    const now = Math.floor(Date.now() / 1000);
    for (const [path, params, want] of [
      ['/api/metrics/query_range', { q: '{ . a}', ...RANGE }, /^compiling query: parse error at line 1, col \d+: /],
      ['/api/metrics/query_range', { q: '{ }', ...RANGE }, /^not a metrics query$/],
      ['/api/metrics/query_range', { q: '', ...RANGE }, /^compiling query: parse error/],
      ['/api/metrics/query_range', { q: '{ } | rate()', start: String(now), end: String(now - 10) }, /^end must be greater than start$/],
      ['/api/metrics/query_range', { q: '{ } | rate()', start: String(now - 150000), end: String(now), step: '1s' },
        /^step of 1s is too small, minimum step for given range is 15s$/],
      ['/api/metrics/query_range', { q: '{ } | rate()', start: String(now - 3600), end: String(now), step: '0' },
        /^step of 0s is too small, minimum step for given range is 360ms$/],
      ['/api/metrics/query_range', { q: '{ } | rate()', step: 'soon' }, /^cannot parse "soon" to a valid duration$/],
      ['/api/metrics/query_range', { q: '{ } | rate()', start: 'yesterday' }, /^could not parse 'start' parameter/],
      ['/api/metrics/query', { q: '{ } | rate()', start: String(now), end: String(now) }, /^end must be greater than start$/],
      ['/api/metrics/query', { q: '{ status = error }' }, /^not a metrics query$/],
    ]) {
      const r = await get(srv, path, params);
      assert.equal(r.status, 400, `${JSON.stringify(params)}: ${r.body}`);
      assert.equal(r.type, 'text/plain');
      assert.match(r.body.trim(), want);
    }
  } finally {
    await srv.stop();
  }
});
