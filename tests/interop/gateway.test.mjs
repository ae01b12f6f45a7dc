// gateway.test.mjs — `tracewire serve` with Collector-shaped pipelines, end
// to end (issue: the gateway).
//
//  1. "errors + slow + 5% baseline": 4,000 traces whose spans arrive in two
//     requests each, 1% errors and 1% slow; every error and slow trace is
//     stored whole, healthy ones at 5% ± 1%, nothing half; late spans follow
//     their trace's decision; span metrics counted every span, before
//     sampling; the per-policy counters are on /metrics.
//  2. PII (emails, JWTs, bearer tokens, card numbers in span, event and
//     resource attributes and in a log body): none of it is in the WAL's
//     bytes or in anything the query APIs return, before and after a
//     restart that reads it back from blocks; the hashes are stable.
//  3. Acknowledged means durable while tail sampling holds the spans:
//     kill -9 during decision_wait, restart, the trace is stored.
//  4. `tracewire serve --config F --check`: a valid file is described, an
//     invalid one refused with its file, line and key.
//  5. Forwarding, over OTLP/HTTP (otlphttp) and over OTLP/gRPC (otlp), to a
//     second tracewire whose receiver is killed with SIGKILL and restarted
//     mid-stream: every trace arrives, whole, and no span twice.
//  5b. The otlp exporter against a foreign gRPC server (grpc-js) that
//     answers UNAVAILABLE, then RESOURCE_EXHAUSTED with a RetryInfo, then
//     INVALID_ARGUMENT for one request: retried, the server's delay
//     honoured, the refused request dropped and counted, the rest relayed
//     whole with the tenant and the configured headers as metadata.
//  6. Two tiers on loopback, over each protocol: 2 load-balancing gateways in front of 3
//     tail-sampling instances, each trace's spans sent half to one gateway
//     and half to the other: every trace arrives complete at exactly one
//     back instance.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { writeFileSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

import grpc from '@grpc/grpc-js';

import { Server, sleep, spanCount, tempDir } from './tw_server_lib.mjs';

const SERVER = process.env.TW_SERVER;

const SAMPLING = `
receivers:
  otlp:
    protocols: { http: , grpc: }
processors:
  tail_sampling:
    decision_wait: 2s
    num_traces: 100000
    policies:
      - { name: errors, type: status_code, status_code: { status_codes: [ERROR] } }
      - { name: slow, type: latency, latency: { threshold_ms: 500 } }
      - { name: baseline, type: probabilistic, probabilistic: { sampling_percentage: 5 } }
exporters:
  tracewire:
connectors:
  spanmetrics:
  forward/sample:
service:
  pipelines:
    traces/in: { receivers: [otlp], exporters: [spanmetrics, forward/sample] }
    traces/sampled: { receivers: [forward/sample], processors: [tail_sampling], exporters: [tracewire] }
`;

async function startWith(tag, yaml, extra = []) {
  const dir = tempDir(tag);
  const cfg = join(dir, 'tracewire.yaml');
  writeFileSync(cfg, yaml);
  const srv = new Server(join(dir, 'data'), ['--config', cfg, ...extra]);
  await srv.start();
  return srv;
}

const tid = (n) => n.toString(16).padStart(8, '0') + 'a3ce929d0e0e4736' + 'beef0000';
const sid = (n, k) => (n * 4 + k + 1).toString(16).padStart(16, '0');
const nowNs = BigInt(Date.now()) * 1000000n;

function spanOf(n, k, { error = false, ms = 20 } = {}) {
  const start = nowNs + BigInt(k) * 1000n;
  return { traceId: tid(n), spanId: sid(n, k), name: k ? 'child' : 'root', kind: k ? 3 : 2,
    startTimeUnixNano: String(start), endTimeUnixNano: String(start + BigInt(ms) * 1000000n),
    ...(k ? { parentSpanId: sid(n, 0) } : {}), status: error ? { code: 2, message: 'boom' } : {} };
}

const request = (spans, service = 'checkout', extra = {}) => ({ resourceSpans: [{ resource: { attributes: [
  { key: 'service.name', value: { stringValue: service } }, ...(extra.resource || [])] },
  scopeSpans: [{ scope: { name: 't' }, spans }] }] });

async function post(srv, body) {
  const r = await fetch(srv.otlpUrl(), { method: 'POST', body: JSON.stringify(body), headers: { 'Content-Type': 'application/json' } });
  assert.equal(r.status, 200, await r.text());
}

async function metricsText(srv) { return (await fetch(srv.url('/metrics'))).text(); }
function metricValue(text, re) {
  const m = text.match(re);
  assert.ok(m, `no line matching ${re}`);
  return Number(m[1]);
}

test('errors + slow + 5% baseline: kept traces whole, healthy at 5% ± 1%, late spans follow, span metrics saw every span', async () => {
  const srv = await startWith('gw-sample', SAMPLING);
  try {
    const N = 4000, PER = 200;
    const isError = (n) => n % 100 === 7, isSlow = (n) => n % 100 === 42;
    // each trace: a root and a child in one request, a second child in the next
    for (let first = 0; first < N; first += PER) {
      const a = [], b = [];
      for (let n = first; n < first + PER; n++) {
        a.push(spanOf(n, 0, { ms: isSlow(n) ? 800 : 20 }), spanOf(n, 1));
        b.push(spanOf(n, 2, { error: isError(n) }));
      }
      await post(srv, request(a));
      await post(srv, request(b));
    }
    // nothing is stored before the decision
    assert.equal((await spanCount(srv, tid(7))).status, 404);
    // and the sampler holds no batch: they are in the WAL, read back when decided (tens of bytes per span)
    const lblHeld = 'pipeline="traces/sampled",processor="tail_sampling"';
    const heldText = await metricsText(srv);
    const held = metricValue(heldText, new RegExp(`^tracewire_tail_sampling_held_bytes\\{${lblHeld}\\} (\\d+)$`, 'm'));
    assert.ok(held > 0 && held < 60 * 3 * N, `tail sampling holds ${held} bytes for ${3 * N} spans`);
    await sleep(2600);
    let text = '';
    for (let i = 0; i < 50; i++) {
      text = await metricsText(srv);
      if (/tracewire_tail_sampling_traces_in_memory\{[^}]*\} 0$/m.test(text)) break;
      await sleep(100);
    }
    let healthy = 0, kept = 0;
    for (let n = 0; n < N; n++) {
      const got = await spanCount(srv, tid(n));
      assert.ok(got.n === 0 || got.n === 3, `trace ${n} came back with ${got.n} of its 3 spans`);
      if (isError(n) || isSlow(n)) assert.equal(got.n, 3, `trace ${n} (${isError(n) ? 'error' : 'slow'}) was not kept`);
      else { healthy++; kept += got.n === 3; }
    }
    const pct = (100 * kept) / healthy;
    assert.ok(pct >= 4 && pct <= 6, `healthy traces kept at ${pct.toFixed(2)}%, want 5% ± 1%`);

    const lbl = 'pipeline="traces/sampled",processor="tail_sampling"';
    assert.equal(metricValue(text, new RegExp(`^tracewire_tail_sampling_held_bytes\\{${lbl}\\} (\\d+)$`, 'm')), 0);
    assert.equal(metricValue(text, new RegExp(`^tracewire_tail_sampling_reload_failures_total\\{${lbl}\\} (\\d+)$`, 'm')), 0);
    assert.equal(metricValue(text, new RegExp(`^tracewire_tail_sampling_policy_decisions_total\\{${lbl},policy="errors",decision="sampled"\\} (\\d+)$`, 'm')), 40);
    assert.equal(metricValue(text, new RegExp(`^tracewire_tail_sampling_policy_decisions_total\\{${lbl},policy="slow",decision="sampled"\\} (\\d+)$`, 'm')), 40);
    assert.equal(metricValue(text, new RegExp(`^tracewire_tail_sampling_traces_total\\{${lbl},decision="sampled"\\} (\\d+)$`, 'm')), 80 + kept);
    // span metrics are derived before sampling: every span counted
    let calls = 0;
    for (const m of text.matchAll(/^traces_span_metrics_calls_total\{[^}]*\} (\d+)$/gm)) calls += Number(m[1]);
    assert.equal(calls, 3 * N);

    // late spans: a fourth span for traces 0..99 follows each trace's decision
    const late = [];
    for (let n = 0; n < 100; n++) late.push(spanOf(n, 3));
    await post(srv, request(late));
    await sleep(300);
    for (let n = 0; n < 100; n++) {
      const got = await spanCount(srv, tid(n));
      assert.ok(got.n === 0 || got.n === 4, `trace ${n}: the late span did not follow the decision (${got.n} spans)`);
      if (isError(n) || isSlow(n)) assert.equal(got.n, 4);
    }
    text = await metricsText(srv);
    assert.equal(metricValue(text, new RegExp(`^tracewire_tail_sampling_late_spans_total\\{${lbl},decision="sampled"\\} (\\d+)$`, 'm')) +
      metricValue(text, new RegExp(`^tracewire_tail_sampling_late_spans_total\\{${lbl},decision="not_sampled"\\} (\\d+)$`, 'm')), 100);
  } finally { await srv.stop(); }
});

const EMAIL = 'alice@example.com', JWT = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.c2lnbmF0dXJl';
const TOKEN = 's3cr3tT0k3n', CARD = '4111 1111 1111 1111';
const PII = [EMAIL, JWT, TOKEN, CARD, '4111111111111111'];
const EMAIL_SHA256 = createHash('sha256').update(EMAIL).digest('hex');

const REDACT = `
head: { flush_interval: 1s }
receivers: { otlp: { protocols: { http: , grpc: } } }
processors:
  redaction/pii:
    allow_all_keys: true
    blocked_values: ['@email', '@jwt', '@bearer', '@card']
    hash_function: sha256
    summary: debug
exporters: { tracewire: }
service:
  pipelines:
    traces: { receivers: [otlp], processors: [redaction/pii], exporters: [tracewire] }
    logs: { receivers: [otlp], processors: [redaction/pii], exporters: [tracewire] }
`;

function walBytes(dataDir) {
  let all = Buffer.alloc(0);
  for (const sub of ['wal', 'wal-logs']) {
    const d = join(dataDir, sub);
    for (const f of readdirSync(d)) {
      // A released segment may be deleted, or renamed to <lsn>.free for reuse, while we walk.
      let b;
      try { b = statSync(join(d, f)).isFile() ? readFileSync(join(d, f)) : null; } catch (e) { if (e.code === 'ENOENT') continue; throw e; }
      if (b) all = Buffer.concat([all, b]);
    }
  }
  return all;
}

test('PII reaches neither the WAL nor the store nor the query APIs; hashes are stable', async () => {
  const srv = await startWith('gw-pii', REDACT);
  try {
    const s = spanOf(9000, 0);
    s.attributes = [{ key: 'user.email', value: { stringValue: EMAIL } },
      { key: 'http.request.header.authorization', value: { stringValue: `Bearer ${TOKEN}` } },
      { key: 'card', value: { stringValue: `paid with ${CARD}` } },
      { key: 'card.int', value: { intValue: '4111111111111111' } }];
    s.events = [{ name: 'login', timeUnixNano: s.startTimeUnixNano, attributes: [{ key: 'token', value: { stringValue: JWT } }] }];
    const s2 = { ...spanOf(9001, 0), attributes: [{ key: 'user.email', value: { stringValue: EMAIL } }] };
    await post(srv, request([s, s2], 'checkout', { resource: [{ key: 'owner', value: { stringValue: `lead ${EMAIL}` } }] }));
    const logs = { resourceLogs: [{ resource: { attributes: [{ key: 'service.name', value: { stringValue: 'checkout' } }] },
      scopeLogs: [{ logRecords: [{ timeUnixNano: s.startTimeUnixNano, traceId: tid(9000), spanId: sid(9000, 0),
        body: { stringValue: `login by ${EMAIL} with ${JWT}` } }] }] }] };
    const lr = await fetch(`http://127.0.0.1:${srv.otlp}/v1/logs`, { method: 'POST', body: JSON.stringify(logs),
      headers: { 'Content-Type': 'application/json' } });
    assert.equal(lr.status, 200, await lr.text());

    const check = async (when) => {
      const t1 = await (await fetch(srv.url(`/api/traces/${tid(9000)}`))).text();
      const t2 = await (await fetch(srv.url(`/api/traces/${tid(9001)}`))).text();
      const lg = await (await fetch(srv.url(`/api/traces/${tid(9000)}/logs`))).text();
      for (const secret of PII) for (const [what, body] of [['trace', t1], ['trace 2', t2], ['logs', lg]])
        assert.ok(!body.includes(secret), `${when}: "${secret}" is in the ${what} the API returned`);
      const attrs = Object.fromEntries(JSON.parse(t1).batches[0].scopeSpans[0].spans[0].attributes.map((a) => [a.key, a.value]));
      const other = Object.fromEntries(JSON.parse(t2).batches[0].scopeSpans[0].spans[0].attributes.map((a) => [a.key, a.value]));
      assert.equal(attrs['user.email'].stringValue, EMAIL_SHA256);
      assert.equal(attrs['user.email'].stringValue, other['user.email'].stringValue, 'the same email hashes the same');
      assert.ok(attrs['redaction.masked.count'], 'summary attributes');
      assert.ok(lg.includes('login by '), `${when}: the log line is there: ${lg}`);
    };
    await check('from the head');
    const wal = walBytes(srv.dir);
    for (const secret of PII) assert.equal(wal.indexOf(secret), -1, `"${secret}" is in the write-ahead log`);
    assert.notEqual(wal.indexOf(EMAIL_SHA256), -1, 'the WAL holds the redacted records');
    await sleep(2500); // flushed to blocks
    await srv.stop();
    await srv.start();
    await check('after a restart');
  } finally { await srv.stop(); }
});

test('acknowledged means durable while tail sampling holds the spans: kill -9, restart, stored', async () => {
  const yaml = SAMPLING.replace('decision_wait: 2s', 'decision_wait: 3s');
  const srv = await startWith('gw-kill', yaml);
  try {
    await post(srv, request([spanOf(5000, 0), spanOf(5000, 1, { error: true })]));
    await post(srv, request([spanOf(5001, 0), spanOf(5001, 1)]));
    await srv.kill9(); // within decision_wait: nothing decided, nothing in the head
    await srv.start();
    await sleep(3600);
    const got = await spanCount(srv, tid(5000));
    assert.equal(got.n, 2, 'the error trace acknowledged before kill -9 was replayed into tail sampling and kept');
  } finally { await srv.stop(); }
});

test('serve --check describes a valid configuration and refuses an invalid one with file, line and key', () => {
  const dir = tempDir('gw-check');
  const good = join(dir, 'good.yaml');
  writeFileSync(good, SAMPLING);
  const out = execFileSync(SERVER, ['serve', '--config', good, '--check'], { encoding: 'utf8' });
  assert.match(out, /^configuration is valid$/m);
  assert.match(out, /^pipeline traces\/in: from otlp; to spanmetrics, pipeline traces\/sampled$/m);
  assert.match(out, /^pipeline traces\/sampled: from pipeline traces\/in; processors tail_sampling; to the tracewire store$/m);
  const bad = join(dir, 'bad.yaml');
  writeFileSync(bad, SAMPLING.replace('threshold_ms: 500', 'threshold: 500'));
  const r = spawnSync(SERVER, ['serve', '--config', bad, '--check'], { encoding: 'utf8' });
  assert.equal(r.status, 2);
  assert.match(r.stderr, /bad\.yaml:\d+:\d+: key 'processors\.tail_sampling\.policies\[1\]\.latency': unknown key 'threshold'/);
});

async function queueEmpty(srv, ms = 30000) {
  const until = Date.now() + ms;
  for (;;) {
    const text = await metricsText(srv);
    const lines = [...text.matchAll(/^tracewire_exporter_queue_bytes\{[^}]*\} (\d+)$/gm)];
    if (lines.length && lines.every((m) => m[1] === '0')) return text;
    if (Date.now() > until) throw new Error(`forwarding queue not drained:\n${text}\n${srv.log}`);
    await sleep(100);
  }
}

// Over OTLP/HTTP (otlphttp) and OTLP/gRPC (otlp), the same story.
const FORWARDERS = {
  otlphttp: (back) => `otlphttp/back:
    endpoint: http://127.0.0.1:${back.otlp}`,
  otlp: (back) => `otlp/back:
    endpoint: 127.0.0.1:${back.grpc}
    tls: { insecure: true }`,
};

for (const [kind, exporter] of Object.entries(FORWARDERS)) {
test(`forwarding (${kind}) to a tracewire whose receiver is killed and restarted mid-stream: nothing lost, nothing twice`, async () => {
  const back = new Server(join(tempDir('gw-back'), 'data'), [], { keepPorts: true });
  await back.start();
  const gw = await startWith('gw-fwd', `
receivers: { otlp: { protocols: { http: , grpc: } } }
exporters:
  ${exporter(back)}
    retry_on_failure: { initial_interval: 100ms, max_interval: 400ms }
service: { pipelines: { traces: { receivers: [otlp], exporters: [${kind}/back] } } }
`);
  try {
    const N = 600;
    for (let n = 0; n < N; n += 20) {
      const spans = [];
      for (let m = n; m < n + 20; m++) spans.push(spanOf(m, 0), spanOf(m, 1), spanOf(m, 2));
      await post(gw, request(spans)); // the gateway acknowledges whatever the backend does
      if (n === 200) await back.kill9();
      if (n === 400) await back.start(); // same ports: the gateway's queue reaches it again
    }
    const text = await queueEmpty(gw);
    assert.ok(metricValue(text, /^tracewire_exporter_requests_total\{[^}]*outcome="sent"\} (\d+)$/m) >= N / 20,
      'every request was sent');
    assert.ok(metricValue(text, /^tracewire_exporter_requests_total\{[^}]*outcome="retried"\} (\d+)$/m) > 0,
      'the backend was down: requests were retried');
    for (let n = 0; n < N; n++) {
      const got = await spanCount(back, tid(n));
      assert.equal(got.n, 3, `trace ${n}: ${got.n} spans at the backend`); // 3: none lost, none twice
    }
  } finally { await gw.stop(); await back.stop(); }
});
}

// google.rpc.Status{code: 8, details: [Any{RetryInfo{retry_delay: {seconds}}}]}, by hand.
function retryInfoStatus(seconds) {
  const len = (b) => Buffer.from([b.length]);
  const field = (tag, b) => Buffer.concat([Buffer.from([tag]), len(b), b]);
  const retryInfo = field(0x0a, Buffer.from([0x08, seconds]));
  const any = Buffer.concat([field(0x0a, Buffer.from('type.googleapis.com/google.rpc.RetryInfo')), field(0x12, retryInfo)]);
  return Buffer.concat([Buffer.from([0x08, 8]), field(0x1a, any)]);
}

test('otlp exporter against grpc-js: UNAVAILABLE retried, RetryInfo honoured, INVALID_ARGUMENT dropped, metadata sent', async () => {
  const back = new Server(join(tempDir('gw-grpcjs-back'), 'data'));
  await back.start();
  const calls = [];
  const raw = (b) => b;
  const server = new grpc.Server();
  server.addService({ Export: { path: '/opentelemetry.proto.collector.trace.v1.TraceService/Export',
    requestStream: false, responseStream: false, requestSerialize: raw, requestDeserialize: raw,
    responseSerialize: raw, responseDeserialize: raw } }, {
    Export: async (call, done) => {
      const n = calls.push({ at: Date.now(), tenant: call.metadata.get('x-scope-orgid')[0],
        test: call.metadata.get('x-test')[0], poison: call.request.includes('poison') });
      if (n <= 2) return done({ code: grpc.status.UNAVAILABLE, details: 'warming up' });
      if (n === 3) {
        const md = new grpc.Metadata();
        md.set('grpc-status-details-bin', retryInfoStatus(1));
        return done({ code: grpc.status.RESOURCE_EXHAUSTED, details: 'slow down', metadata: md });
      }
      if (call.request.includes('poison')) return done({ code: grpc.status.INVALID_ARGUMENT, details: 'poison span' });
      const r = await fetch(back.otlpUrl(), { method: 'POST', body: call.request,
        headers: { 'Content-Type': 'application/x-protobuf', 'X-Scope-OrgID': calls[n - 1].tenant } });
      if (r.status !== 200) return done({ code: grpc.status.UNAVAILABLE, details: `backend ${r.status}` });
      done(null, Buffer.alloc(0));
    } });
  const port = await new Promise((ok, no) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(),
    (err, p) => (err ? no(err) : ok(p))));
  const gw = await startWith('gw-grpcjs', `
receivers: { otlp: { protocols: { http: , grpc: } } }
exporters:
  otlp/js:
    endpoint: 127.0.0.1:${port}
    tls: { insecure: true }
    headers: { x-test: from-config }
    retry_on_failure: { initial_interval: 100ms, max_interval: 200ms }
service: { pipelines: { traces: { receivers: [otlp], exporters: [otlp/js] } } }
`);
  try {
    const N = 12;
    for (let n = 0; n < N; n++) {
      const body = request([spanOf(1000 + n, 0), spanOf(1000 + n, 1)], n === 7 ? 'poison' : 'checkout');
      const r = await fetch(gw.otlpUrl(), { method: 'POST', body: JSON.stringify(body),
        headers: { 'Content-Type': 'application/json', 'X-Scope-OrgID': 'acme' } });
      assert.equal(r.status, 200, await r.text());
    }
    const text = await queueEmpty(gw);
    assert.equal(metricValue(text, /^tracewire_exporter_requests_total\{[^}]*outcome="retried"\} (\d+)$/m), 3);
    assert.equal(metricValue(text, /^tracewire_exporter_requests_total\{[^}]*outcome="refused"\} (\d+)$/m), 1);
    assert.equal(metricValue(text, /^tracewire_exporter_requests_total\{[^}]*outcome="sent"\} (\d+)$/m), N - 1);
    assert.match(gw.log, /the receiver refused a request \(grpc-status 3: poison span; not retried\)/);
    assert.ok(calls[3].at - calls[2].at >= 900, `RetryInfo asked for 1s, waited ${calls[3].at - calls[2].at} ms`);
    assert.ok(calls[1].at - calls[0].at < 900, 'UNAVAILABLE backs off from initial_interval');
    assert.equal(calls.length, N + 3);
    for (const c of calls) { assert.equal(c.tenant, 'acme'); assert.equal(c.test, 'from-config'); }
    for (let n = 0; n < N; n++) {
      const got = await spanCount(back, tid(1000 + n), 'acme');
      assert.equal(got.n, n === 7 ? 0 : 2, `trace ${n}`);
    }
  } finally { await gw.stop(); await back.stop(); server.forceShutdown(); }
});

for (const proto of ['otlphttp', 'otlp']) {
test(`two tiers over ${proto}: 2 load-balancing gateways in front of 3 tail-sampling instances; every trace complete at exactly one`, async () => {
  const backs = [];
  for (let i = 0; i < 3; i++) {
    backs.push(await startWith(`gw-ts${i}`, `
receivers: { otlp: { protocols: { http: , grpc: } } }
processors:
  tail_sampling: { decision_wait: 1s, policies: [{ name: all, type: always_sample }] }
exporters: { tracewire: }
service: { pipelines: { traces: { receivers: [otlp], processors: [tail_sampling], exporters: [tracewire] } } }
`));
  }
  const hosts = backs.map((b) => `127.0.0.1:${proto === 'otlp' ? b.grpc : b.otlp}`).join(', ');
  const lbs = [];
  for (let i = 0; i < 2; i++) {
    lbs.push(await startWith(`gw-lb${i}`, `
receivers: { otlp: { protocols: { http: , grpc: } } }
exporters:
  loadbalancing:
    routing_key: traceID
    protocol: { ${proto}: { ${proto === 'otlp' ? 'tls: { insecure: true }, ' : ''}retry_on_failure: { initial_interval: 100ms, max_interval: 400ms } } }
    resolver: { static: { hostnames: [${hosts}] } }
service: { pipelines: { traces: { receivers: [otlp], exporters: [loadbalancing] } } }
`));
  }
  try {
    const N = 300;
    for (let n = 0; n < N; n += 30) {
      const a = [], b = [];
      for (let m = n; m < n + 30; m++) { a.push(spanOf(m, 0), spanOf(m, 1)); b.push(spanOf(m, 2)); }
      await post(lbs[0], request(a));
      await post(lbs[1], request(b));
    }
    for (const lb of lbs) await queueEmpty(lb);
    await sleep(1500); // decision_wait on the back tier
    const perBack = [0, 0, 0];
    for (let n = 0; n < N; n++) {
      const counts = [];
      for (const b of backs) counts.push((await spanCount(b, tid(n))).n);
      const holders = counts.filter((c) => c > 0);
      assert.equal(holders.length, 1, `trace ${n} reached ${holders.length} back instances (${counts})`);
      assert.equal(holders[0], 3, `trace ${n} arrived with ${holders[0]} of 3 spans`);
      perBack[counts.findIndex((c) => c > 0)]++;
    }
    for (const k of perBack) assert.ok(k > N / 10, `traces per back instance: ${perBack}`);
  } finally {
    for (const s of [...lbs, ...backs]) await s.stop();
  }
});
}
