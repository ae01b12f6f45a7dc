// red.test.mjs — RED metrics from spans, proven against a real Prometheus
// (Debian's `prometheus`, started here on a loopback port with exemplar
// storage): the article's Verify steps 3 and 4.
//
//  1. Spans from the OpenTelemetry JavaScript SDK with known durations;
//     after scrapes, traces_span_metrics_calls_total has the expected series
//     and counts, and the p99 from histogram_quantile over the duration
//     buckets lands in the bucket of the slow spans.
//  2. /api/v1/query_exemplars returns trace ids, and each resolves through
//     /api/traces/<id> to a trace holding that span.
//  3. Head-sampled spans count as their adjusted count (ot=th).
//  6. The same loop with libtracewire's exporter (examples/hello).
//  5. The service graph of the article's checkout trace (sent by the JS
//     SDK) and of a producer/consumer pair, queried from Prometheus.
//  4. The same metrics pushed with remote_write (snappy protobuf) instead
//     of scraped, exemplars included.
// The server runs with the article's spanmetrics settings (buckets and
// dimensions) in its YAML.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BasicTracerProvider, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { OTLPTraceExporter as ProtoExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { SpanKind } from '@opentelemetry/api';

import { Server, freePort, sleep, hex, jsonRequest, span, sendCheckout } from './tw_server_lib.mjs';

const PROMETHEUS = process.env.TW_PROMETHEUS || 'prometheus';

let dir, srv, prom, promPort, bothPort, promLog = '';
before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tracewire-red-'));
  // the article's connector settings, as written there
  writeFileSync(join(dir, 'tracewire.yaml'), 'spanmetrics:\n  buckets: [5ms, 10ms, 25ms, 50ms, 100ms, 250ms, 500ms, 1s, 2s, 5s]\n' +
    '  dimensions:\n    - name: http.route\n    - name: http.response.status_code\nservice_graph:\n  wait: 1s\n');
  srv = new Server(join(dir, 'data'), ['--config', join(dir, 'tracewire.yaml')]);
  await srv.start();
  promPort = await freePort();
  bothPort = await freePort(); // scraped too: a server pushing from here would double its counts
  writeFileSync(join(dir, 'prometheus.yml'), `global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: tracewire\n` +
    `    static_configs:\n      - targets: ['127.0.0.1:${srv.api}']\n  - job_name: tracewire-both\n` +
    `    static_configs:\n      - targets: ['localhost:${bothPort}']\n`);
  prom = spawn(PROMETHEUS, [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'tsdb')}`,
    `--web.listen-address=127.0.0.1:${promPort}`, '--enable-feature=exemplar-storage', '--web.enable-remote-write-receiver'], { stdio: ['ignore', 'pipe', 'pipe'] });
  prom.stderr.on('data', (d) => { promLog += d; });
  await waitFor('prometheus to be ready', async () => {
    try { return (await fetch(`http://127.0.0.1:${promPort}/-/ready`)).ok; } catch { return false; }
  });
});
after(async () => {
  if (prom && prom.exitCode === null) { prom.kill('SIGTERM'); await new Promise((r) => prom.once('exit', r)); }
  if (srv) await srv.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function waitFor(what, fn, ms = 30000) {
  const until = Date.now() + ms;
  for (;;) {
    if (await fn()) return;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}\n${promLog.slice(-2000)}`);
    await sleep(200);
  }
}

async function promQuery(q) {
  const r = await fetch(`http://127.0.0.1:${promPort}/api/v1/query?query=${encodeURIComponent(q)}`);
  const body = await r.json();
  assert.equal(body.status, 'success', JSON.stringify(body));
  return body.data.result;
}

const value = (results, name) => Number((results.find((x) => x.metric.span_name === name) || { value: [0, 'NaN'] }).value[1]);

// `n` spans named `name` lasting `ms` milliseconds, through the JS SDK's protobuf exporter.
async function sendSpans(name, n, ms, to = srv, service = 'red-checkout') {
  const p = new BasicTracerProvider({ resource: resourceFromAttributes({ 'service.name': service }),
    spanProcessors: [new SimpleSpanProcessor(new ProtoExporter({ url: to.otlpUrl() }))] });
  const t = p.getTracer('red-test');
  const spans = [];
  for (let i = 0; i < n; i++) {
    const start = Date.now() - 1000;
    const s = t.startSpan(name, { kind: SpanKind.SERVER, startTime: start,
      attributes: { 'http.route': name.split(' ')[1], 'http.response.status_code': 200 } });
    s.end(start + ms);
    spans.push(s.spanContext());
  }
  await p.forceFlush();
  await p.shutdown();
  return spans;
}

test('RED metrics with exemplars reach a real Prometheus, and exemplars open their traces', async () => {
  // two waves, so that rate() sees the counters grow between scrapes
  for (let wave = 1; wave <= 2; wave++) {
    await sendSpans('GET /fast', 20, 3);
    await sendSpans('GET /slow', 5, 300);
    await waitFor(`wave ${wave} in Prometheus`, async () => {
      const r = await promQuery('traces_span_metrics_calls_total{service_name="red-checkout"}');
      return value(r, 'GET /fast') === 20 * wave && value(r, 'GET /slow') === 5 * wave;
    });
  }
  const calls = await promQuery('traces_span_metrics_calls_total{service_name="red-checkout"}');
  assert.equal(calls.length, 2);
  for (const c of calls) {
    assert.equal(c.metric.span_kind, 'SPAN_KIND_SERVER');
    assert.equal(c.metric.status_code, 'STATUS_CODE_UNSET');
    assert.equal(c.metric.http_route, c.metric.span_name.split(' ')[1]); // configured dimensions
    assert.equal(c.metric.http_response_status_code, '200');
  }
  // p99 by span name lands in the right bucket: fast (3 ms) in (0, 5], slow (300 ms) in (250, 500]
  const q = await promQuery('histogram_quantile(0.99, sum by (le, span_name) ' +
    '(rate(traces_span_metrics_duration_milliseconds_bucket{service_name="red-checkout"}[5m])))');
  const fast = value(q, 'GET /fast'), slow = value(q, 'GET /slow');
  assert.ok(fast > 0 && fast <= 5, `p99 of GET /fast is ${fast}`);
  assert.ok(slow > 250 && slow <= 500, `p99 of GET /slow is ${slow}`);

  // exemplars: trace ids that resolve to traces holding that span
  const now = Math.floor(Date.now() / 1000);
  let ex = [];
  await waitFor('exemplars', async () => {
    const r = await fetch(`http://127.0.0.1:${promPort}/api/v1/query_exemplars?query=` +
      encodeURIComponent('traces_span_metrics_duration_milliseconds_bucket{service_name="red-checkout"}') +
      `&start=${now - 3600}&end=${now + 60}`);
    const body = await r.json();
    ex = (body.data || []).flatMap((s) => s.exemplars.map((e) => ({ ...e.labels, value: Number(e.value), le: s.seriesLabels.le })));
    return ex.length > 0;
  });
  for (const e of ex) {
    assert.match(e.trace_id, /^[0-9a-f]{32}$/);
    assert.ok(e.value <= Number(e.le === '+Inf' ? Infinity : e.le), 'an exemplar sits in its own bucket');
    const r = await fetch(srv.url(`/api/traces/${e.trace_id}`));
    assert.equal(r.status, 200, `exemplar trace ${e.trace_id} does not resolve`);
    const body = await r.json();
    const ids = body.batches.flatMap((b) => b.scopeSpans.flatMap((s) => s.spans.map((x) => Buffer.from(x.spanId, 'base64').toString('hex'))));
    assert.ok(ids.includes(e.span_id), `trace ${e.trace_id} lacks span ${e.span_id}`);
  }
});

test('head-sampled spans count as their adjusted count', async () => {
  // 10 spans sampled at 1/8 (ot=th:e) stand for 80 calls
  const spans = [];
  for (let i = 0; i < 10; i++) spans.push({ ...span(hex(32), hex(16), 'GET /sampled'), traceState: 'ot=th:e' });
  const body = jsonRequest(spans, 'red-sampled');
  const r = await fetch(srv.otlpUrl(), { method: 'POST', body: JSON.stringify(body), headers: { 'Content-Type': 'application/json' } });
  assert.equal(r.status, 200);
  await waitFor('the adjusted count in Prometheus', async () =>
    value(await promQuery('traces_span_metrics_calls_total{service_name="red-sampled"}'), 'GET /sampled') === 80);
});

test("traffic head-sampled at 10% by libtracewire's probability sampler counts within 5% of the truth", async () => {
  // 100,000 root spans, ~10,000 sampled and exported, each with ot=th for 1/10: the calls counted in
  // Prometheus are the adjusted counts. The binomial spread of the sampled share is ~1% (σ), so 5% is 5σ.
  const total = 100000;
  const out = await new Promise((resolve, reject) => {
    const p = spawn(process.env.TW_TRAFFIC, [String(total), 'GET /sampled-traffic'], { env: { ...process.env,
      OTEL_SERVICE_NAME: 'red-head-sampled', OTEL_TRACES_SAMPLER: 'probability', OTEL_TRACES_SAMPLER_ARG: '0.1',
      OTEL_BSP_MAX_QUEUE_SIZE: '200000', OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${srv.otlp}` } });
    let so = '', se = '';
    p.stdout.on('data', (d) => { so += d; });
    p.stderr.on('data', (d) => { se += d; });
    p.on('exit', (code) => (code === 0 ? resolve(JSON.parse(so)) : reject(new Error(`tw_traffic exited ${code}: ${se}`))));
  });
  assert.equal(out.spans, total);
  assert.ok(out.sampled > 8000 && out.sampled < 12000, `sampled ${out.sampled} of ${total}`); // it did sample
  const q = 'traces_span_metrics_calls_total{service_name="red-head-sampled"}';
  let counted = 0;
  await waitFor('every sampled span counted', async () => {
    counted = value(await promQuery(q), 'GET /sampled-traffic');
    return counted >= out.sampled * 10 * 0.999; // all exported spans arrived (adjusted count 10 each)
  });
  assert.ok(Math.abs(counted - total) <= total * 0.05, `adjusted calls ${counted}, truth ${total}`);
});

test('the same through remote_write: counts and exemplars pushed into Prometheus', async () => {
  // a second server, not scraped, pushing to Prometheus's remote-write receiver every second
  const cfg = join(dir, 'rw.yaml');
  writeFileSync(cfg, `spanmetrics:\n  remote_write_url: http://127.0.0.1:${promPort}/api/v1/write\n  remote_write_interval: 1s\n`);
  const pusher = new Server(join(dir, 'data-rw'), ['--config', cfg]);
  await pusher.start();
  try {
    const sent = await sendSpans('GET /pushed', 12, 40, pusher, 'red-rw');
    // and a client/server pair, for the service graph's pushed series
    const tid = hex(32), call = hex(16), now0 = BigInt(Date.now()) * 1000000n;
    const side = (svc, id, parent, kind) => ({ resource: { attributes: [{ key: 'service.name', value: { stringValue: svc } }] },
      scopeSpans: [{ scope: { name: 'rw' }, spans: [{ traceId: tid, spanId: id, parentSpanId: parent, name: 'call', kind,
        startTimeUnixNano: String(now0), endTimeUnixNano: String(now0 + 5000000n) }] }] });
    const pr = await fetch(pusher.otlpUrl(), { method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ resourceSpans: [side('rw-a', call, hex(16), 3), side('rw-b', hex(16), call, 2)] }) });
    assert.equal(pr.status, 200);
    await waitFor('pushed counts in Prometheus', async () =>
      value(await promQuery('traces_span_metrics_calls_total{service_name="red-rw"}'), 'GET /pushed') === 12);
    await waitFor('the pushed service graph', async () =>
      (await promQuery('traces_service_graph_request_total{client="rw-a",server="rw-b"}')).length === 1);
    const b = await promQuery('traces_span_metrics_duration_milliseconds_bucket{service_name="red-rw",le="50"}');
    assert.equal(value(b, 'GET /pushed'), 12); // 40 ms spans: all at or below the 50 ms bucket
    const now = Math.floor(Date.now() / 1000);
    await waitFor('pushed exemplars', async () => {
      const r = await fetch(`http://127.0.0.1:${promPort}/api/v1/query_exemplars?query=` +
        encodeURIComponent('traces_span_metrics_duration_milliseconds_bucket{service_name="red-rw"}') +
        `&start=${now - 3600}&end=${now + 60}`);
      const ex = ((await r.json()).data || []).flatMap((x) => x.exemplars);
      return ex.length > 0 && ex.every((e) => sent.some((c) => c.traceId === e.labels.trace_id && c.spanId === e.labels.span_id));
    });
  } finally {
    await pusher.stop();
  }
});

test('one path: a pushing server leaves its RED series off /metrics, and export: both into a Prometheus that scrapes it is refused', async () => {
  const cfg = join(dir, 'both.yaml');
  writeFileSync(cfg, `spanmetrics:\n  export: both\n  remote_write_url: http://127.0.0.1:${promPort}/api/v1/write\n`);
  // Prometheus lists the tracewire-both target once its discovery has run
  await waitFor('the tracewire-both target', async () => {
    const t = await (await fetch(`http://127.0.0.1:${promPort}/api/v1/targets?state=active`)).json();
    return t.data.activeTargets.some((x) => x.scrapePool === 'tracewire-both');
  });
  const p = spawn(process.env.TW_SERVER, ['serve', '--data-dir', join(dir, 'data-both'), '--config', cfg,
    '--otlp-http-listen', `127.0.0.1:${await freePort()}`, '--otlp-grpc-listen', `127.0.0.1:${await freePort()}`,
    '--http-listen', `127.0.0.1:${bothPort}`], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  p.stderr.on('data', (d) => { err += d; });
  const timer = setTimeout(() => p.kill('SIGKILL'), 15000); // a server that started instead of refusing
  const code = await new Promise((r) => p.once('exit', (c) => r(c)));
  clearTimeout(timer);
  assert.equal(code, 1, `expected a refusal to start, got exit ${code}: ${err}`);
  assert.match(err, /spanmetrics\.export is both, but the Prometheus at http:\/\/127\.0\.0\.1:\d+\/api\/v1\/write also scrapes this server's \/metrics \(its scrape job "tracewire-both" scrapes http:\/\/localhost:\d+\/metrics\): it would count every span twice/);

  // the same settings on a listener that Prometheus does not scrape: two destinations, allowed
  const ok = new Server(join(dir, 'data-both2'), ['--config', cfg]);
  await ok.start();
  try {
    await sendSpans('GET /both', 3, 10, ok, 'red-both');
    const text = await (await fetch(ok.url('/metrics'))).text();
    assert.match(text, /traces_span_metrics_calls_total\{service_name="red-both",span_name="GET \/both"[^}]*\} 3/);
  } finally {
    await ok.stop();
  }
  // and a server with a remote_write_url alone pushes, and does not also expose the series to scrapers
  const rw = join(dir, 'push-only.yaml');
  writeFileSync(rw, `spanmetrics:\n  remote_write_url: http://127.0.0.1:${promPort}/api/v1/write\n`);
  const pushOnly = new Server(join(dir, 'data-push'), ['--config', rw]);
  await pushOnly.start();
  try {
    await sendSpans('GET /push-only', 2, 10, pushOnly, 'red-push-only');
    const text = await (await fetch(pushOnly.url('/metrics'))).text();
    assert.match(text, /tracewire_receiver_spans_accepted_total/); // the server's own counters stay
    assert.doesNotMatch(text, /traces_span_metrics|traces_service_graph/);
  } finally {
    await pushOnly.stop();
  }
});

test('the service graph of the checkout trace and a Kafka pair, in Prometheus', async () => {
  await sendCheckout(() => new ProtoExporter({ url: srv.otlpUrl() }));
  const tid = hex(32), producer = hex(16), now = BigInt(Date.now()) * 1000000n;
  const msg = (svc, id, parent, kind, ms) => ({ resource: { attributes: [{ key: 'service.name', value: { stringValue: svc } }] },
    scopeSpans: [{ scope: { name: 'kafka' }, spans: [{ traceId: tid, spanId: id, ...(parent ? { parentSpanId: parent } : {}),
      name: 'order.placed', kind, startTimeUnixNano: String(now), endTimeUnixNano: String(now + BigInt(ms) * 1000000n) }] }] });
  const body = { resourceSpans: [msg('orders-api', producer, hex(16), 4, 2), msg('settlement', hex(16), producer, 5, 900)] };
  const r = await fetch(srv.otlpUrl(), { method: 'POST', body: JSON.stringify(body), headers: { 'Content-Type': 'application/json' } });
  assert.equal(r.status, 200);
  const edge = async (client, server, extra = '') =>
    Number(((await promQuery(`traces_service_graph_request_total{client="${client}",server="${server}"${extra}}`))[0] || { value: [0, '0'] }).value[1]);
  await waitFor('the service graph in Prometheus', async () =>
    (await edge('checkout', 'inventory')) === 1 && (await edge('user', 'checkout', ',connection_type="virtual_node"')) >= 1 &&
    (await edge('inventory-db', 'postgresql', ',connection_type="database"')) === 1 &&
    (await edge('orders-api', 'settlement', ',connection_type="messaging_system"')) === 1);
  const failed = await promQuery('traces_service_graph_request_failed_total{client="checkout",server="inventory"}');
  assert.equal(Number(failed[0].value[1]), 1); // the inventory call failed (status Error on the client side)
  const consumerSide = await promQuery('traces_service_graph_request_server_seconds_bucket{client="orders-api",server="settlement",le="0.8"}');
  assert.equal(Number(consumerSide[0].value[1]), 0); // the consumer's 900 ms is past 0.8 s
});

test("libtracewire's spans (examples/hello) become RED metrics whose exemplars open their trace", async () => {
  const hello = process.env.TW_HELLO;
  assert.ok(hello, 'TW_HELLO must name examples/hello');
  const out = await new Promise((resolve, reject) => {
    const p = spawn(hello, [], { env: { ...process.env, OTEL_TRACES_EXPORTER: 'otlp', OTEL_SERVICE_NAME: 'red-c-sdk',
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${srv.otlp}` } });
    let err = '';
    p.stderr.on('data', (d) => { err += d; });
    p.on('exit', (code) => (code === 0 ? resolve(err) : reject(new Error(`hello exited ${code}: ${err}`))));
  });
  const traceId = JSON.parse(out.split('\n').find((l) => l.startsWith('{'))).trace_id;
  await waitFor('the C SDK service in Prometheus', async () =>
    (await promQuery('traces_span_metrics_calls_total{service_name="red-c-sdk"}')).length > 0);
  const now = Math.floor(Date.now() / 1000);
  await waitFor('an exemplar of the C SDK trace', async () => {
    const r = await fetch(`http://127.0.0.1:${promPort}/api/v1/query_exemplars?query=` +
      encodeURIComponent('traces_span_metrics_duration_milliseconds_bucket{service_name="red-c-sdk"}') +
      `&start=${now - 3600}&end=${now + 60}`);
    return ((await r.json()).data || []).some((x) => x.exemplars.some((e) => e.labels.trace_id === traceId));
  });
  assert.equal((await fetch(srv.url(`/api/traces/${traceId}`))).status, 200);
});
