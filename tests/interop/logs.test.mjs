// logs.test.mjs — logs correlated with traces, end to end.
//
//  1. The OpenTelemetry JavaScript logs SDK (@opentelemetry/sdk-logs) emits
//     logs inside the spans of a trace that the JS trace SDK exports, through
//     exporter-logs-otlp-proto, -http (JSON) and -grpc. The logs of the trace
//     and of each span come back from /api/traces/<id>/logs, LogQL finds them
//     with Loki's labels (service_name, level, trace_id, span_id), and each
//     log's trace resolves through /api/traces/<id>.
//     libtracewire (examples/hello with OTEL_LOGS_EXPORTER=otlp) does the
//     same from C: its records carry the active span's ids.
//  2. Loki push: JSON, and protobuf compressed with snappy (snappyjs), with
//     structured metadata; the article's JSON line sent as a plain line
//     correlates by its trace_id field.
//  3. Loki's read API: labels, label values, query_range (streams and
//     matrix), query, in Loki's JSON shape; bad queries get 400 and the
//     parser's message.
//  4. Bad input: malformed pushes and OTLP logs requests are refused with a
//     message and nothing stored changes.
//  5. Acknowledged means durable: while clients send logs, the server is
//     killed with SIGKILL; every record answered 200/204 is there after
//     each restart.
//
// The server binary comes from TW_SERVER. Only loopback addresses are used.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { LoggerProvider, SimpleLogRecordProcessor } from '@opentelemetry/sdk-logs';
import { SeverityNumber } from '@opentelemetry/api-logs';
import { OTLPLogExporter as ProtoLogs } from '@opentelemetry/exporter-logs-otlp-proto';
import { OTLPLogExporter as JsonLogs } from '@opentelemetry/exporter-logs-otlp-http';
import { OTLPLogExporter as GrpcLogs } from '@opentelemetry/exporter-logs-otlp-grpc';
import { OTLPTraceExporter as ProtoTraces } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { trace, context, SpanKind } from '@opentelemetry/api';
import snappy from 'snappyjs';

import { Server, sleep, hex, provider } from './tw_server_lib.mjs';

let srv, dir;
before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tracewire-logs-'));
  srv = new Server(dir);
  await srv.start();
});
after(async () => {
  await srv.stop();
  rmSync(dir, { recursive: true, force: true });
});

const logsUrl = () => `http://127.0.0.1:${srv.otlp}/v1/logs`;
const get = async (path, headers = {}) => {
  const r = await fetch(srv.url(path), { headers });
  const text = await r.text();
  return { status: r.status, text, json: r.headers.get('content-type')?.startsWith('application/json') ? JSON.parse(text) : null };
};
const q = (params) => new URLSearchParams(params).toString();
// Every entry of a Loki streams answer: { labels, ts, line }.
const entries = (body) => {
  assert.equal(body.status, 'success');
  assert.equal(body.data.resultType, 'streams');
  const out = [];
  for (const s of body.data.result) for (const [ts, line] of s.values) out.push({ labels: s.stream, ts, line });
  return out;
};

// A trace of two spans (a server span and its client child), with logs
// emitted inside each through the JS logs SDK and the given exporter.
async function traceWithLogs(service, makeLogExporter) {
  const tp = provider(service, new ProtoTraces({ url: srv.otlpUrl() }));
  const lp = new LoggerProvider({
    resource: resourceFromAttributes({ 'service.name': service, 'deployment.environment': 'test' }),
    processors: [new SimpleLogRecordProcessor({ exporter: makeLogExporter() })],
  });
  const tracer = tp.getTracer('shop', '1.0.0');
  const logger = lp.getLogger('shop.logger', '1.0.0');
  const root = tracer.startSpan('GET /checkout', { kind: SpanKind.SERVER });
  const rootCtx = trace.setSpan(context.active(), root);
  const child = tracer.startSpan('POST inventory.Reserve', { kind: SpanKind.CLIENT }, rootCtx);
  const childCtx = trace.setSpan(context.active(), child);
  logger.emit({ severityNumber: SeverityNumber.INFO, severityText: 'INFO', body: 'checkout started',
    attributes: { 'http.route': '/checkout', 'cart.items': 3 }, context: rootCtx });
  logger.emit({ severityNumber: SeverityNumber.ERROR, severityText: 'ERROR',
    body: JSON.stringify({ level: 'error', msg: 'inventory reserve failed', status: 503 }), context: childCtx });
  logger.emit({ severityNumber: SeverityNumber.WARN, body: 'responding with 503', context: rootCtx });
  // outside any span: no trace id, not part of the trace
  logger.emit({ severityNumber: SeverityNumber.DEBUG, body: `no span here ${service}` });
  await sleep(5);
  child.end();
  root.end();
  await tp.forceFlush(); await tp.shutdown();
  await lp.forceFlush(); await lp.shutdown();
  return { traceId: root.spanContext().traceId, rootId: root.spanContext().spanId, childId: child.spanContext().spanId };
}

async function checkTraceLogs(service, ids) {
  const { traceId, rootId, childId } = ids;
  // the whole trace: three records, oldest first... Loki answers newest first
  const all = await get(`/api/traces/${traceId}/logs`);
  assert.equal(all.status, 200, all.text);
  assert.equal(all.json.data.traceFound, true);
  const got = entries(all.json);
  assert.equal(got.length, 3, JSON.stringify(got));
  for (const e of got) {
    assert.equal(e.labels.trace_id, traceId);
    assert.equal(e.labels.service_name, service);
    assert.match(e.labels.span_id, /^[0-9a-f]{16}$/);
  }
  const byLine = Object.fromEntries(got.map((e) => [e.line, e]));
  assert.equal(byLine['checkout started'].labels.span_id, rootId);
  assert.equal(byLine['checkout started'].labels.level, 'info');
  assert.equal(byLine['checkout started'].labels.http_route, '/checkout');
  assert.equal(byLine['checkout started'].labels.cart_items, '3');
  assert.equal(byLine['responding with 503'].labels.level, 'warn'); // from the number alone
  const errLine = got.find((e) => e.labels.span_id === childId);
  assert.equal(JSON.parse(errLine.line).msg, 'inventory reserve failed');
  assert.equal(errLine.labels.level, 'error');
  // the window: the trace's time widened by the default shifts (5m each)
  const start = BigInt(all.json.data.start), end = BigInt(all.json.data.end);
  for (const e of got) assert.ok(BigInt(e.ts) >= start && BigInt(e.ts) <= end);
  assert.ok(end - start >= 600n * 1000000000n);
  // one span
  const one = await get(`/api/traces/${traceId}/logs?${q({ spanID: childId })}`);
  assert.equal(one.status, 200, one.text);
  const onlyChild = entries(one.json);
  assert.equal(onlyChild.length, 1);
  assert.equal(onlyChild[0].labels.span_id, childId);
  const rootOnly = entries((await get(`/api/traces/${traceId}/logs?${q({ spanID: rootId })}`)).json);
  assert.deepEqual(rootOnly.map((e) => e.line).sort(), ['checkout started', 'responding with 503']);
  // LogQL with the trace id (the trace-id index) and with a | json stage
  const lq = await get(`/loki/api/v1/query_range?${q({ query: `{service_name="${service}"} | trace_id="${traceId}"`, limit: '10' })}`);
  assert.equal(lq.status, 200, lq.text);
  assert.equal(entries(lq.json).length, 3);
  const js = await get(`/loki/api/v1/query_range?${q({ query: `{service_name="${service}", level="error"} | json | status >= 500 | __error__=""` })}`);
  const jsGot = entries(js.json);
  assert.equal(jsGot.length, 1);
  assert.equal(jsGot[0].labels.msg, 'inventory reserve failed');
  assert.equal(jsGot[0].labels.level_extracted, 'error');
  // the record outside the span is stored, without ids
  const lone = entries((await get(`/loki/api/v1/query_range?${q({ query: `{service_name="${service}"} |= "no span here"` })}`)).json);
  assert.equal(lone.length, 1);
  assert.equal(lone[0].labels.trace_id, undefined);
  assert.equal(lone[0].labels.level, 'debug');
  // from each log back to its trace
  for (const e of got) {
    const t = await get(`/api/traces/${e.labels.trace_id}`);
    assert.equal(t.status, 200);
    const spanIds = t.json.batches.flatMap((b) => b.scopeSpans.flatMap((s) => s.spans.map((sp) => Buffer.from(sp.spanId, 'base64').toString('hex'))));
    assert.ok(spanIds.includes(e.labels.span_id), `span ${e.labels.span_id} not in trace ${traceId}`);
  }
}

test('OTLP/HTTP protobuf logs from the JS logs SDK correlate with their trace', async () => {
  await checkTraceLogs('shop-proto', await traceWithLogs('shop-proto', () => new ProtoLogs({ url: logsUrl() })));
});

test('OTLP/HTTP JSON logs from the JS logs SDK correlate with their trace', async () => {
  await checkTraceLogs('shop-json', await traceWithLogs('shop-json', () => new JsonLogs({ url: logsUrl() })));
});

test('OTLP/gRPC logs from the JS logs SDK correlate with their trace', async () => {
  await checkTraceLogs('shop-grpc', await traceWithLogs('shop-grpc', () => new GrpcLogs({ url: srv.grpcUrl() })));
});

test("libtracewire's OTLP logs (examples/hello) correlate with its trace", async () => {
  const hello = process.env.TW_HELLO;
  assert.ok(hello, 'TW_HELLO must name examples/hello');
  const stderr = await new Promise((resolve, reject) => {
    const p = spawn(hello, [], { env: { ...process.env, OTEL_TRACES_EXPORTER: 'otlp', OTEL_LOGS_EXPORTER: 'otlp',
      OTEL_SERVICE_NAME: 'c-logs', OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${srv.otlp}` } });
    let err = '';
    p.stderr.on('data', (d) => { err += d; });
    p.on('exit', (code) => (code === 0 ? resolve(err) : reject(new Error(`hello exited ${code}: ${err}`))));
  });
  // the JSON lines stay on stderr, and name the spans the records belong to
  const lines = stderr.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
  assert.deepEqual(lines.map((l) => l.msg), ['inventory reserve failed', 'responding with 503']);
  const traceId = lines[0].trace_id;
  assert.equal(lines[1].trace_id, traceId);
  assert.notEqual(lines[0].span_id, lines[1].span_id);
  const all = await get(`/api/traces/${traceId}/logs`);
  assert.equal(all.status, 200, all.text);
  assert.equal(all.json.data.traceFound, true);
  const got = entries(all.json);
  const byLine = Object.fromEntries(got.map((e) => [e.line, e]));
  assert.deepEqual(Object.keys(byLine).sort(), ['inventory reserve failed', 'responding with 503']);
  for (const l of lines) {
    const e = byLine[l.msg];
    assert.equal(e.labels.trace_id, traceId);
    assert.equal(e.labels.span_id, l.span_id);
    assert.equal(e.labels.service_name, 'c-logs');
    assert.equal(e.labels.level, l.level);
  }
  assert.equal(byLine['responding with 503'].labels.http_response_status_code, '503');
  // one span's logs
  const one = entries((await get(`/api/traces/${traceId}/logs?${q({ spanID: lines[0].span_id })}`)).json);
  assert.deepEqual(one.map((e) => e.line), ['inventory reserve failed']);
  // and back from a record to its trace, whose spans include the record's span
  const t = await get(`/api/traces/${traceId}`);
  assert.equal(t.status, 200);
  const spanIds = t.json.batches.flatMap((b) => b.scopeSpans.flatMap((s) => s.spans.map((sp) => Buffer.from(sp.spanId, 'base64').toString('hex'))));
  for (const l of lines) assert.ok(spanIds.includes(l.span_id));
});

// ---- Loki push ---------------------------------------------------------------------------

// protobuf, by hand: logproto.PushRequest { streams: [StreamAdapter { labels,
// entries: [EntryAdapter { timestamp { seconds, nanos }, line, structuredMetadata }] }] }
const varint = (n) => { const out = []; let v = BigInt(n); do { let b = Number(v & 0x7fn); v >>= 7n; if (v) b |= 0x80; out.push(b); } while (v); return out; };
const field = (no, bytes) => [...varint((no << 3) | 2), ...varint(bytes.length), ...bytes];
const fieldVarint = (no, n) => [...varint(no << 3), ...varint(n)];
const str = (s) => [...Buffer.from(s, 'utf8')];
function pushProto(streams) {
  const out = [];
  for (const s of streams) {
    const st = [...field(1, str(s.labels))];
    for (const e of s.entries) {
      const ns = BigInt(e.ns);
      const ts = [...fieldVarint(1, ns / 1000000000n), ...fieldVarint(2, ns % 1000000000n)];
      const en = [...field(1, ts), ...field(2, str(e.line))];
      for (const [k, v] of Object.entries(e.meta || {})) en.push(...field(3, [...field(1, str(k)), ...field(2, str(v))]));
      st.push(...field(2, en));
    }
    out.push(...field(1, st));
  }
  return Uint8Array.from(out);
}
const nowNs = () => BigInt(Date.now()) * 1000000n;

test("Loki push JSON: the article's JSON line correlates by its trace_id field", async () => {
  const ids = await traceWithLogs('shop-loki', () => new ProtoLogs({ url: logsUrl() }));
  const line = JSON.stringify({ ts: new Date().toISOString(), level: 'error', service: 'checkout',
    trace_id: ids.traceId, span_id: ids.childId, msg: 'inventory reserve failed' });
  const r = await fetch(srv.url('/loki/api/v1/push'), { method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ streams: [{ stream: { service_name: 'promtail-app', job: 'varlogs' },
      values: [[String(nowNs()), line], [String(nowNs() + 1n), 'unrelated line', { user: 'u-1' }]] }] }) });
  assert.equal(r.status, 204, await r.text());
  // the trace now has its OTLP logs and the pushed line
  const got = entries((await get(`/api/traces/${ids.traceId}/logs`)).json);
  assert.equal(got.length, 4);
  const pushed = got.find((e) => e.labels.job === 'varlogs');
  assert.ok(pushed, JSON.stringify(got));
  assert.equal(pushed.line, line);
  assert.equal(pushed.labels.service_name, 'promtail-app');
  const span = entries((await get(`/api/traces/${ids.traceId}/logs?${q({ spanID: ids.childId })}`)).json);
  assert.equal(span.length, 2);
  // a line filter on the id finds it through the index; structured metadata is a label
  const byLine = entries((await get(`/loki/api/v1/query_range?${q({ query: `{job="varlogs"} |= "${ids.traceId}"` })}`)).json);
  assert.equal(byLine.length, 1);
  const meta = entries((await get(`/loki/api/v1/query_range?${q({ query: '{job="varlogs"} | user="u-1"' })}`)).json);
  assert.deepEqual(meta.map((e) => e.line), ['unrelated line']);
});

test('Loki push protobuf + snappy with structured metadata', async () => {
  const tid = hex(32), sid = hex(16), t0 = nowNs();
  const body = pushProto([
    { labels: '{service_name="snappy-app", env="prod"}', entries: [
      { ns: t0, line: 'level=error msg="card declined" status=502', meta: { trace_id: tid, span_id: sid } },
      { ns: t0 + 1000n, line: 'level=info msg="card accepted" status=200' },
    ] },
    { labels: '{service_name="snappy-app", env="dev"}', entries: [{ ns: t0 + 2000n, line: 'hello from dev' }] },
  ]);
  const r = await fetch(srv.url('/loki/api/v1/push'), { method: 'POST',
    headers: { 'Content-Type': 'application/x-protobuf', 'Content-Encoding': 'snappy' }, body: snappy.compress(body) });
  assert.equal(r.status, 204, await r.text());
  // two streams, each in time order (forward); sorted across them here
  const got = entries((await get(`/loki/api/v1/query_range?${q({ query: '{service_name="snappy-app"}', direction: 'forward' })}`)).json)
    .sort((a, b) => (BigInt(a.ts) < BigInt(b.ts) ? -1 : 1));
  assert.deepEqual(got.map((e) => e.line), ['level=error msg="card declined" status=502', 'level=info msg="card accepted" status=200', 'hello from dev']);
  assert.equal(got[0].ts, String(t0)); // nanoseconds kept
  assert.equal(got[0].labels.trace_id, tid);
  assert.equal(got[0].labels.env, 'prod');
  const logfmt = entries((await get(`/loki/api/v1/query_range?${q({ query: '{service_name="snappy-app"} | logfmt | status >= 500' })}`)).json);
  assert.deepEqual(logfmt.map((e) => e.labels.msg), ['card declined']);
  const traced = entries((await get(`/api/traces/${tid}/logs`)).json);
  assert.equal(traced.length, 1);
  assert.equal(traced[0].labels.span_id, sid);
  assert.equal((await get(`/api/traces/${tid}/logs`)).json.data.traceFound, false); // no spans were sent
});

// ---- the read API ------------------------------------------------------------------------

test("Loki's read API: labels, values, matrix, instant vector, errors", async () => {
  const tenant = { 'X-Scope-OrgID': 'read-api' };
  const t0 = nowNs() - 60n * 1000000000n;
  const values = [];
  for (let i = 0; i < 30; i++) values.push([String(t0 + BigInt(i) * 1000000000n), `request ${i} status=${i % 3 ? 200 : 500}`]);
  const r = await fetch(srv.url('/loki/api/v1/push'), { method: 'POST', headers: { 'Content-Type': 'application/json', ...tenant },
    body: JSON.stringify({ streams: [{ stream: { service_name: 'api', level: 'info' }, values }] }) });
  assert.equal(r.status, 204);
  const labels = await get('/loki/api/v1/labels', tenant);
  assert.deepEqual(labels.json, { status: 'success', data: ['level', 'service_name'] });
  const vals = await get('/loki/api/v1/label/service_name/values', tenant);
  assert.deepEqual(vals.json, { status: 'success', data: ['api'] });
  // another tenant sees none of it
  const other = await get('/loki/api/v1/label/service_name/values', { 'X-Scope-OrgID': 'someone-else' });
  assert.deepEqual(other.json.data, []);
  // limit and direction
  const last5 = entries((await get(`/loki/api/v1/query_range?${q({ query: '{service_name="api"}', limit: '5' })}`, tenant)).json);
  assert.deepEqual(last5.map((e) => e.line.split(' ')[1]), ['29', '28', '27', '26', '25']);
  // a matrix: count of 5xx lines per 10s
  const start = t0, end = t0 + 29n * 1000000000n;
  const m = await get(`/loki/api/v1/query_range?${q({ query: 'sum(count_over_time({service_name="api"} |= "status=500" [10s]))',
    start: String(start), end: String(end), step: '10' })}`, tenant);
  assert.equal(m.status, 200, m.text);
  assert.equal(m.json.data.resultType, 'matrix');
  assert.equal(m.json.data.result.length, 1);
  const pts = m.json.data.result[0].values;
  const total = pts.reduce((a, [, v]) => a + Number(v), 0);
  assert.ok(pts.length >= 3 && total > 0, JSON.stringify(pts));
  for (const [t, v] of pts) { assert.equal(typeof t, 'number'); assert.equal(typeof v, 'string'); }
  // an instant vector
  const v = await get(`/loki/api/v1/query?${q({ query: 'sum by (level) (count_over_time({service_name="api"}[10m]))' })}`, tenant);
  assert.equal(v.status, 200, v.text);
  assert.equal(v.json.data.resultType, 'vector');
  assert.deepEqual(v.json.data.result.map((s) => [s.metric, s.value[1]]), [[{ level: 'info' }, '30']]);
  // errors: 400 with the parser's message
  const bad = await get(`/loki/api/v1/query_range?${q({ query: '{service_name="api"' })}`, tenant);
  assert.equal(bad.status, 400);
  assert.match(bad.text, /parse error at line 1, col 20: syntax error: unexpected \$end, expecting } or ,/);
  const empty = await get(`/loki/api/v1/query_range?${q({ query: '{service_name=~".*"}' })}`, tenant);
  assert.equal(empty.status, 400);
  assert.match(empty.text, /queries require at least one regexp or equality matcher/);
  const badLimit = await get(`/loki/api/v1/query_range?${q({ query: '{service_name="api"}', limit: '-3' })}`, tenant);
  assert.equal(badLimit.status, 400);
  const badId = await get('/api/traces/xyz/logs');
  assert.equal(badId.status, 400);
  assert.match(badId.text, /invalid trace id/);
});

// ---- configured index labels -------------------------------------------------------------

test('logs.index_labels: the configured resource attributes become stream labels, the rest metadata', async () => {
  const d = mkdtempSync(join(tmpdir(), 'tracewire-logs-labels-'));
  const cfg = join(d, 'tracewire.yaml');
  writeFileSync(cfg, 'logs:\n  index_labels: [service.name, k8s.namespace.name, cloud.region]\n');
  const s2 = new Server(join(d, 'data'), ['--config', cfg]);
  await s2.start();
  try {
    const res = [['service.name', 'cart'], ['k8s.namespace.name', 'shop-prod'], ['cloud.region', 'eu-west-1'],
      ['deployment.environment', 'prod'], ['host.name', 'node-7']];
    const r = await fetch(`http://127.0.0.1:${s2.otlp}/v1/logs`, { method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ resourceLogs: [{ resource: { attributes: res.map(([key, v]) => ({ key, value: { stringValue: v } })) },
        scopeLogs: [{ logRecords: [{ timeUnixNano: String(nowNs()), severityText: 'WARN', body: { stringValue: 'cart is slow' } }] }] }] }) });
    assert.equal(r.status, 200);
    const names = await (await fetch(s2.url('/loki/api/v1/labels'))).json();
    assert.deepEqual(names.data, ['cloud_region', 'k8s_namespace_name', 'level', 'service_name']);
    const got = await (await fetch(s2.url(`/loki/api/v1/query_range?${q({ query: '{k8s_namespace_name="shop-prod"}' })}`))).json();
    const e = entries(got);
    assert.equal(e.length, 1);
    assert.equal(e[0].labels.cloud_region, 'eu-west-1');
    assert.equal(e[0].labels.deployment_environment, 'prod'); // not an index label here: structured metadata
    assert.equal(e[0].labels.host_name, 'node-7');
    assert.equal(e[0].labels.level, 'warn');
  } finally {
    await s2.stop();
    rmSync(d, { recursive: true, force: true });
  }
});

// ---- bad input ---------------------------------------------------------------------------

test('bad pushes and OTLP logs requests are refused with a message; nothing stored changes', async () => {
  const tenant = { 'X-Scope-OrgID': 'bad-input' };
  const count = async () => entries((await get(`/loki/api/v1/query_range?${q({ query: '{service_name=~".+"}', limit: '5000' })}`, tenant)).json).length;
  const ok = await fetch(srv.url('/loki/api/v1/push'), { method: 'POST', headers: { 'Content-Type': 'application/json', ...tenant },
    body: JSON.stringify({ streams: [{ stream: { service_name: 'bad' }, values: [[String(nowNs()), 'kept']] }] }) });
  assert.equal(ok.status, 204);
  const before = await count();
  assert.equal(before, 1);
  const cases = [
    ['application/json', '{"streams":[{"stream":{"service_name":"bad"},"values":[["not-a-time","x"]]}]}', /timestamp/],
    ['application/json', '{"streams":[{"stream":{"0bad":"x"},"values":[["1","x"]]}]}', /label/],
    ['application/json', '{"streams":[', /./],
    ['application/x-protobuf', Buffer.from([0x0a, 0x05, 0x0a]), /./], // not snappy-compressed
  ];
  for (const [type, body, re] of cases) {
    const r = await fetch(srv.url('/loki/api/v1/push'), { method: 'POST', headers: { 'Content-Type': type, ...tenant }, body });
    const text = await r.text();
    assert.equal(r.status, 400, `${body}: ${r.status} ${text}`);
    assert.match(text, re);
  }
  const unsupported = await fetch(srv.url('/loki/api/v1/push'), { method: 'POST', headers: { 'Content-Type': 'text/csv', ...tenant }, body: 'a,b' });
  assert.equal(unsupported.status, 415);
  // OTLP logs: malformed protobuf and JSON
  const pb = await fetch(logsUrl(), { method: 'POST', headers: { 'Content-Type': 'application/x-protobuf', ...tenant }, body: Buffer.from([0x0a, 0x10, 0x12]) });
  assert.equal(pb.status, 400);
  const js = await fetch(logsUrl(), { method: 'POST', headers: { 'Content-Type': 'application/json', ...tenant },
    body: '{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"severityNumber":"LOUD"}]}]}]}' });
  assert.equal(js.status, 400);
  const jsBody = await js.json();
  assert.match(jsBody.message, /severityNumber/);
  // a record with a malformed trace id is refused alone (partial success)
  const partial = await fetch(logsUrl(), { method: 'POST', headers: { 'Content-Type': 'application/json', ...tenant },
    body: JSON.stringify({ resourceLogs: [{ resource: { attributes: [{ key: 'service.name', value: { stringValue: 'bad' } }] },
      scopeLogs: [{ logRecords: [{ body: { stringValue: 'good record' } }, { traceId: 'abc', body: { stringValue: 'bad id' } }] }] }] }) });
  assert.equal(partial.status, 200);
  const pbody = await partial.json();
  assert.equal(Number(pbody.partialSuccess.rejectedLogRecords), 1);
  assert.match(pbody.partialSuccess.errorMessage, /traceId/);
  assert.equal(await count(), before + 1);
  const r = await fetch(srv.url('/ready'));
  assert.equal(r.status, 200);
});

// ---- durability --------------------------------------------------------------------------

test('acknowledged log records survive kill -9', async () => {
  const acked = [];
  const tenant = { 'X-Scope-OrgID': 'crash' };
  for (let cycle = 0; cycle < 3; cycle++) {
    let stop = false;
    const senders = [0, 1, 2, 3].map(async (w) => {
      for (let i = 0; !stop; i++) {
        const tid = hex(32), otlp = (w + i) % 2 === 0;
        const line = `crash c${cycle} w${w} i${i}`;
        try {
          let r;
          if (otlp) {
            r = await fetch(logsUrl(), { method: 'POST', headers: { 'Content-Type': 'application/json', ...tenant },
              body: JSON.stringify({ resourceLogs: [{ resource: { attributes: [{ key: 'service.name', value: { stringValue: 'crash' } }] },
                scopeLogs: [{ logRecords: [{ timeUnixNano: String(nowNs()), traceId: tid, body: { stringValue: line } }] }] }] }) });
          } else {
            r = await fetch(srv.url('/loki/api/v1/push'), { method: 'POST', headers: { 'Content-Type': 'application/json', ...tenant },
              body: JSON.stringify({ streams: [{ stream: { service_name: 'crash' }, values: [[String(nowNs()), line, { trace_id: tid }]] }] }) });
          }
          if (r.status === 200 || r.status === 204) acked.push({ tid, line });
        } catch { /* the server died mid-request: not acknowledged */ }
      }
    });
    await sleep(400 + Math.floor(Math.random() * 600));
    const st = await srv.kill9();
    stop = true;
    await Promise.all(senders);
    assert.equal(st.sig, 'SIGKILL');
    await srv.start();
    for (const { tid, line } of acked) {
      const got = await get(`/api/traces/${tid}/logs`, tenant);
      assert.equal(got.status, 200);
      const lines = entries(got.json).map((e) => e.line);
      assert.deepEqual(lines, [line], `acknowledged record "${line}" lost after kill -9 (cycle ${cycle})`);
    }
  }
  assert.ok(acked.length > 50, `only ${acked.length} records were acknowledged`);
});

// ---- log blocks --------------------------------------------------------------------------

test('log records move into log blocks: the same answers from the head, from blocks, after compaction and kill -9; the logs WAL is released', async () => {
  const d = mkdtempSync(join(tmpdir(), 'tracewire-logblocks-'));
  const cfg = join(d, 'tracewire.yaml');
  writeFileSync(cfg, 'logs:\n  flush_interval: 1s\nwal:\n  segment_bytes: 65536\nblocks:\n  compaction_interval: 1s\n');
  const s3 = new Server(join(d, 'data'), ['--config', cfg]);
  await s3.start();
  const tenant = { 'X-Scope-OrgID': 'acme-logs' };
  const traces = Array.from({ length: 12 }, () => hex(32));
  const gauge = async (name) => {
    const text = await (await fetch(s3.url('/metrics'))).text();
    const m = text.match(new RegExp(`^${name} (\\d+)$`, 'm'));
    return m ? Number(m[1]) : NaN;
  };
  const waitFor = async (what, ok) => {
    for (let i = 0; i < 200; i++) { if (await ok()) return; await sleep(100); }
    throw new Error(`timed out waiting for ${what}\n${s3.log}`);
  };
  let sent = 0;
  const base = nowNs() - 600n * 1000000000n;
  const send = async (batch) => { // 300 OTLP records over 3 services and 2 levels, and 100 Loki lines
    const records = (svc) => Array.from({ length: 100 }, (_, i) => {
      const n = sent++;
      return { timeUnixNano: String(base + BigInt(n) * 1000000n), severityText: n % 7 ? 'INFO' : 'ERROR',
        traceId: traces[n % traces.length], spanId: hex(16),
        body: { stringValue: JSON.stringify({ msg: `order ${n} of batch ${batch}`, svc, pad: 'x'.repeat(200) }) },
        attributes: [{ key: 'order.id', value: { intValue: String(n) } }] };
    });
    const r = await fetch(`http://127.0.0.1:${s3.otlp}/v1/logs`, { method: 'POST', headers: { 'Content-Type': 'application/json', ...tenant },
      body: JSON.stringify({ resourceLogs: ['cart', 'pay', 'ship'].map((svc) => ({
        resource: { attributes: [{ key: 'service.name', value: { stringValue: svc } }] },
        scopeLogs: [{ logRecords: records(svc) }] })) }) });
    assert.equal(r.status, 200);
    const values = Array.from({ length: 100 }, (_, i) => {
      const n = sent++;
      return [String(base + BigInt(n) * 1000000n), `{"trace_id":"${traces[n % traces.length]}","msg":"loki line ${n}"}`];
    });
    const p = await fetch(s3.url('/loki/api/v1/push'), { method: 'POST', headers: { 'Content-Type': 'application/json', ...tenant },
      body: JSON.stringify({ streams: [{ stream: { service_name: 'edge', level: 'info' }, values }] }) });
    assert.equal(p.status, 204);
  };
  const ask = async (path) => {
    const r = await fetch(s3.url(path), { headers: tenant });
    assert.equal(r.status, 200, `${path}: ${r.status}`);
    const body = await r.json();
    if (body.data?.stats) delete body.data.stats; // timings differ
    return body;
  };
  const answers = async () => {
    const a = {
      all: await ask(`/loki/api/v1/query_range?${q({ query: '{service_name=~".+"}', limit: '5000', direction: 'forward' })}`),
      newest: await ask(`/loki/api/v1/query_range?${q({ query: '{service_name=~"cart|pay"} |= "batch"', limit: '25' })}`),
      errors: await ask(`/loki/api/v1/query_range?${q({ query: '{service_name="pay", level="error"} | json | svc="pay"', limit: '5000' })}`),
      byTrace: await ask(`/loki/api/v1/query_range?${q({ query: `{service_name=~".+"} |= "${traces[3]}"`, limit: '5000' })}`),
      volume: await ask(`/loki/api/v1/query_range?${q({ query: 'sum by (service_name) (count_over_time({service_name=~".+"}[1h]))',
        start: String(base / 1000000000n), end: String(base / 1000000000n + 3600n), step: '600' })}`),
      labels: await ask('/loki/api/v1/labels'),
      services: await ask('/loki/api/v1/label/service_name/values'),
    };
    for (const t of traces.slice(0, 4)) a[`trace ${t}`] = await ask(`/api/traces/${t}/logs`);
    return a;
  };
  try {
    await send(1);
    const fromHead = await answers();
    assert.equal(entries(fromHead.all).length, 400);
    assert.equal(entries(fromHead[`trace ${traces[0]}`]).length, Math.ceil(400 / 12)); // records n with n % 12 == 0
    const segmentsBefore = await gauge('tracewire_log_wal_segments');
    assert.ok(segmentsBefore >= 2, `the logs WAL should span segments (${segmentsBefore})`);
    await waitFor('the log head to be written to blocks', async () => await gauge('tracewire_log_head_records') === 0 &&
      await gauge('tracewire_log_block_records') === 400);
    assert.deepEqual(await answers(), fromHead, 'answers from log blocks differ from the log head\'s');
    await waitFor('the logs WAL to be released', async () => await gauge('tracewire_log_wal_segments') < segmentsBefore);
    // released segment files are kept to be overwritten by new segments (wal.free_segments)
    assert.ok(await gauge('tracewire_wal_free_segments') >= 1, 'no released WAL segment kept for reuse');
    assert.ok(readdirSync(join(d, 'data', 'wal-logs')).some((f) => /^[0-9a-f]{16}\.free$/.test(f)));
    // a second flush, then compaction of the two blocks
    await send(2);
    const both = await answers();
    assert.equal(entries(both.all).length, 800);
    assert.ok(await gauge('tracewire_wal_reused_segments_total') >= 1, 'the second batch should start a segment in a reused file');
    await waitFor('a log compaction', async () => {
      const text = await (await fetch(s3.url('/metrics'))).text();
      return /^tracewire_log_compactions_total\{result="ok"\} [1-9]/m.test(text) && await gauge('tracewire_log_block_records') === 800;
    });
    assert.deepEqual(await answers(), both, 'answers after compaction differ');
    const metas = readdirSync(join(d, 'data', 'log-blocks', 'acme-logs'));
    assert.ok(metas.length >= 1);
    const meta = JSON.parse(readFileSync(join(d, 'data', 'log-blocks', 'acme-logs', metas[0], 'meta.json'), 'utf8'));
    assert.equal(meta.kind, 'logs');
    // a third batch stays in the head; kill -9: the blocks and the WAL's tail give the same answers
    await send(3);
    const all3 = await answers();
    assert.equal(entries(all3.all).length, 1200);
    const st = await s3.kill9();
    assert.equal(st.sig, 'SIGKILL');
    await s3.start();
    assert.deepEqual(await answers(), all3, 'answers after kill -9 differ');
  } finally {
    await s3.stop();
    rmSync(d, { recursive: true, force: true });
  }
});
