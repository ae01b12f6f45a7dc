// server.test.mjs — `tracewire serve` end to end, driven by foreign clients.
//
//  1. The OpenTelemetry JavaScript SDK exports the article's checkout trace
//     (six spans over four services, events, links, every attribute type,
//     an error status) through exporter-trace-otlp-proto and -http (JSON);
//     the trace read back through Tempo's API has every field intact.
//  2. Bad input gets its documented status and message, the server stays
//     up, and what was stored is unchanged.
//  3. Acknowledged means durable: while a client sends, the server is
//     killed with SIGKILL several times; every span that got 200 is there
//     after each restart.
//
// The server binary comes from TW_SERVER. Only loopback addresses are used.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import net from 'node:net';
import zlib from 'node:zlib';

import { BasicTracerProvider, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { OTLPTraceExporter as ProtoExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { OTLPTraceExporter as JsonExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as GrpcExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import grpc from '@grpc/grpc-js';
import { trace, context, SpanKind, SpanStatusCode } from '@opentelemetry/api';

import { Server, sleep, b64ToHex, sendCheckout, checkTrace, attrMap, decodeValue, hex, jsonRequest, span, killWhileSending } from './tw_server_lib.mjs';

let srv, dir;
before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tracewire-e2e-'));
  srv = new Server(dir);
  await srv.start();
});
after(async () => {
  await srv.stop();
  rmSync(dir, { recursive: true, force: true });
});

test('OTLP/HTTP protobuf from the JS SDK: the checkout trace reads back intact', async () => {
  const { traceId, sent } = await sendCheckout(() => new ProtoExporter({ url: srv.otlpUrl() }));
  await checkTrace(srv, traceId, sent);
});

test('OTLP/HTTP JSON from the JS SDK: the checkout trace reads back intact', async () => {
  const { traceId, sent } = await sendCheckout(() => new JsonExporter({ url: srv.otlpUrl() }));
  await checkTrace(srv, traceId, sent);
});

test("libtracewire's OTLP/HTTP exporter (examples/hello): the trace reads back intact", async () => {
  const hello = process.env.TW_HELLO;
  assert.ok(hello, 'TW_HELLO must name examples/hello');
  const out = await new Promise((resolve, reject) => {
    const p = spawn(hello, [], { env: { ...process.env, OTEL_TRACES_EXPORTER: 'otlp', OTEL_SERVICE_NAME: 'checkout',
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${srv.otlp}`, OTEL_EXPORTER_OTLP_COMPRESSION: 'gzip' } });
    let err = '';
    p.stderr.on('data', (d) => { err += d; });
    p.on('exit', (code) => (code === 0 ? resolve(err) : reject(new Error(`hello exited ${code}: ${err}`))));
  });
  const line = JSON.parse(out.split('\n').find((l) => l.startsWith('{')));
  assert.equal(line.msg, 'inventory reserve failed');
  const r = await fetch(srv.url(`/api/v2/traces/${line.trace_id}`));
  assert.equal(r.status, 200);
  const body = await r.json();
  const spans = {};
  let res;
  for (const rs of body.trace.resourceSpans) {
    res = attrMap(rs.resource.attributes);
    for (const ss of rs.scopeSpans) {
      assert.equal(ss.scope.name, 'hello');
      for (const sp of ss.spans) spans[sp.name] = sp;
    }
  }
  assert.equal(res['service.name'].stringValue, 'checkout');
  assert.equal(res['telemetry.sdk.name'].stringValue, 'tracewire');
  assert.deepEqual(Object.keys(spans).sort(), ['GET /checkout', 'POST inventory.Reserve', 'validate-cart']);
  const root = spans['GET /checkout'], reserve = spans['POST inventory.Reserve'];
  assert.equal(root.kind, 2);
  assert.equal(decodeValue(attrMap(root.attributes)['http.response.status_code']), 503);
  assert.equal(b64ToHex(reserve.parentSpanId), b64ToHex(root.spanId));
  assert.equal(b64ToHex(reserve.spanId), line.span_id, 'the log line carries the active span');
  assert.equal(reserve.status.code, 2);
  assert.equal(reserve.status.message, 'inventory backend unreachable');
  assert.equal(reserve.events[0].name, 'exception');
  assert.equal(decodeValue(attrMap(reserve.events[0].attributes)['exception.type']), 'InventoryUnavailable');
  assert.equal(decodeValue(attrMap(spans['validate-cart'].attributes)['cart.items']), 3);
  assert.ok(BigInt(root.endTimeUnixNano) >= BigInt(reserve.endTimeUnixNano));
});

test('gzip-compressed OTLP/HTTP protobuf', async () => {
  const { traceId, sent } = await sendCheckout(() => new ProtoExporter({ url: srv.otlpUrl(), compression: 'gzip' }));
  await checkTrace(srv, traceId, sent);
});

test('OTLP/gRPC from the JS SDK: the checkout trace reads back intact', async () => {
  const { traceId, sent } = await sendCheckout(() => new GrpcExporter({ url: srv.grpcUrl() }));
  await checkTrace(srv, traceId, sent);
});

test('gzip-compressed OTLP/gRPC from the JS SDK', async () => {
  const { traceId, sent } = await sendCheckout(() => new GrpcExporter({ url: srv.grpcUrl(), compression: 'gzip' }));
  await checkTrace(srv, traceId, sent);
});

// One unary call with raw bytes through grpc-js's low-level client.
function grpcCall(srvRef, path, bytes, metadata = new grpc.Metadata()) {
  const client = new grpc.Client(`127.0.0.1:${srvRef.grpc}`, grpc.credentials.createInsecure());
  return new Promise((resolve) => {
    client.makeUnaryRequest(path, (b) => b, (b) => b, bytes, metadata, (err, value) => {
      client.close();
      resolve({ err, value });
    });
  });
}

const EXPORT = '/opentelemetry.proto.collector.trace.v1.TraceService/Export';

test('OTLP/gRPC bad input: INVALID_ARGUMENT, UNIMPLEMENTED, and the server stays up', async () => {
  // Not a protobuf message: a varint that never ends.
  const bad = await grpcCall(srv, EXPORT, Buffer.alloc(32, 0xff));
  assert.equal(bad.err?.code, grpc.status.INVALID_ARGUMENT);
  assert.match(bad.err.details, /cannot decode the OTLP\/protobuf traces request/);
  const other = await grpcCall(srv, '/opentelemetry.proto.collector.metrics.v1.MetricsService/Export', Buffer.alloc(0));
  assert.equal(other.err?.code, grpc.status.UNIMPLEMENTED);
  const md = new grpc.Metadata();
  md.set('x-scope-orgid', 'no/slashes');
  const tenant = await grpcCall(srv, EXPORT, Buffer.alloc(0), md);
  assert.equal(tenant.err?.code, grpc.status.INVALID_ARGUMENT);
  // An empty request is valid and stores nothing.
  const empty = await grpcCall(srv, EXPORT, Buffer.alloc(0));
  assert.equal(empty.err, null);
  assert.equal(empty.value.length, 0);
  const m = await (await fetch(srv.url('/metrics'))).text();
  assert.match(m, /tracewire_receiver_spans_accepted_total\{protocol="grpc"\} [1-9]/);
  assert.match(m, /tracewire_receiver_requests_refused_total\{signal="traces",protocol="grpc",reason="decode_error"\} [1-9]/);
});

test('a trace survives a restart (read from the WAL)', async () => {
  const { traceId, sent } = await sendCheckout(() => new ProtoExporter({ url: srv.otlpUrl() }));
  const st = await srv.stop();
  assert.equal(st.code, 0, srv.log);
  await srv.start();
  await checkTrace(srv, traceId, sent);
});

// ---- bad input -------------------------------------------------------------------------------

const post = (body, headers = {}) => fetch(srv.otlpUrl(), { method: 'POST', body, headers });

test('bad input: each gets its status and message, and stored data is unchanged', async () => {
  const keep = hex(32);
  let r = await post(JSON.stringify(jsonRequest([span(keep, hex(16), 'kept')])), { 'Content-Type': 'application/json' });
  assert.equal(r.status, 200);
  const before = await (await fetch(srv.url(`/api/v2/traces/${keep}`))).text();

  // Random and truncated protobuf: 400 with a google.rpc.Status naming the problem.
  r = await post(Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01]), { 'Content-Type': 'application/x-protobuf' });
  assert.equal(r.status, 400);
  assert.equal(r.headers.get('content-type'), 'application/x-protobuf');
  assert.match(Buffer.from(await r.arrayBuffer()).toString('latin1'), /cannot decode the OTLP\/protobuf traces request/);

  // JSON with a wrong type: 400, JSON google.rpc.Status with the field's path.
  r = await post(JSON.stringify(jsonRequest([{ ...span(hex(32), hex(16)), startTimeUnixNano: { no: 1 } }])),
    { 'Content-Type': 'application/json' });
  assert.equal(r.status, 400);
  const st = await r.json();
  assert.equal(st.code, 3);
  assert.match(st.message, /startTimeUnixNano/);

  // Not JSON at all.
  r = await post('{"resourceSpans": [', { 'Content-Type': 'application/json' });
  assert.equal(r.status, 400);

  // Wrong-length and all-zero ids: partial success, the good span kept.
  const good = hex(32);
  r = await post(JSON.stringify(jsonRequest([span(good, hex(16), 'good'), span(hex(30), hex(16)), span('0'.repeat(32), hex(16)),
    span(good, hex(14))])), { 'Content-Type': 'application/json' });
  assert.equal(r.status, 200);
  const ps = await r.json();
  assert.equal(ps.partialSuccess.rejectedSpans, '3');
  assert.match(ps.partialSuccess.errorMessage, /trace\/span id/);
  assert.equal((await fetch(srv.url(`/api/traces/${good}`))).status, 200);

  // Invalid UTF-8 in a string value is repaired, not refused.
  const u = hex(32);
  const raw = Buffer.concat([Buffer.from(JSON.stringify(jsonRequest([{ ...span(u, hex(16)), name: 'bad-\u0001-' }])).replace('\\u0001', 'XX')), Buffer.alloc(0)]);
  const idx = raw.indexOf('XX');
  raw[idx] = 0xc3; raw[idx + 1] = 0x28; // an invalid two-byte sequence
  r = await post(raw, { 'Content-Type': 'application/json' });
  assert.equal(r.status, 200);
  const ut = await (await fetch(srv.url(`/api/v2/traces/${u}`))).json();
  assert.ok(ut.trace.resourceSpans[0].scopeSpans[0].spans[0].name.includes('\uFFFD'));

  // Unsupported media type and encoding.
  r = await post('hello', { 'Content-Type': 'text/plain' });
  assert.equal(r.status, 415);
  r = await post('x', { 'Content-Type': 'application/json', 'Content-Encoding': 'br' });
  assert.equal(r.status, 415);

  // Oversized body (the test server allows 4 MiB): 413, decided from Content-Length before the body is read.
  const statusLine = await new Promise((resolve, reject) => {
    const sock = net.connect(srv.otlp, '127.0.0.1', () => {
      sock.write(`POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${5 << 20}\r\n\r\n`);
    });
    let got = '';
    sock.on('data', (d) => { got += d; if (got.includes('\r\n')) { sock.destroy(); resolve(got.split('\r\n')[0]); } });
    sock.on('error', reject);
    setTimeout(() => { sock.destroy(); reject(new Error('no reply to an oversized request')); }, 5000);
  });
  assert.match(statusLine, /^HTTP\/1\.1 413 /);

  // A gzip bomb: 3 MB compressed to kilobytes, inflating past the 64 MiB guard... use 80 MiB of zeros.
  const bomb = zlib.gzipSync(Buffer.alloc(80 << 20, 0), { level: 9 });
  r = await post(bomb, { 'Content-Type': 'application/x-protobuf', 'Content-Encoding': 'gzip' });
  assert.equal(r.status, 413);
  r = await post(Buffer.from('not gzip at all'), { 'Content-Type': 'application/x-protobuf', 'Content-Encoding': 'gzip' });
  assert.equal(r.status, 400);

  // Bad tenant id.
  r = await post(JSON.stringify(jsonRequest([span(hex(32), hex(16))])), { 'Content-Type': 'application/json', 'X-Scope-OrgID': 'a/b' });
  assert.equal(r.status, 400);

  // A slow client holding a connection does not stop others.
  const slow = net.connect(srv.otlp, '127.0.0.1');
  slow.write('POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{');
  r = await fetch(srv.url('/ready'));
  assert.equal(r.status, 200);
  r = await post(JSON.stringify(jsonRequest([span(hex(32), hex(16))])), { 'Content-Type': 'application/json' });
  assert.equal(r.status, 200);
  slow.destroy();

  // Queries: malformed id, unknown id, bad time range.
  assert.equal((await fetch(srv.url('/api/traces/xyz'))).status, 400);
  assert.equal((await fetch(srv.url(`/api/traces/${'1'.repeat(33)}`))).status, 400);
  assert.equal((await fetch(srv.url(`/api/traces/${hex(32)}`))).status, 404);
  assert.equal((await fetch(srv.url(`/api/traces/${keep}?start=10&end=5`))).status, 400);

  // Still up, and the stored trace is unchanged.
  assert.equal((await fetch(srv.url('/ready'))).status, 200);
  assert.equal(await (await fetch(srv.url(`/api/v2/traces/${keep}`))).text(), before);
});

test('tenants: X-Scope-OrgID separates data on write and read', async () => {
  const id = hex(32);
  let r = await post(JSON.stringify(jsonRequest([span(id, hex(16), 'tenant-a')])),
    { 'Content-Type': 'application/json', 'X-Scope-OrgID': 'team-a' });
  assert.equal(r.status, 200);
  assert.equal((await fetch(srv.url(`/api/traces/${id}`), { headers: { 'X-Scope-OrgID': 'team-a' } })).status, 200);
  assert.equal((await fetch(srv.url(`/api/traces/${id}`), { headers: { 'X-Scope-OrgID': 'team-b' } })).status, 404);
  assert.equal((await fetch(srv.url(`/api/traces/${id}`))).status, 404);
});

test('/api/echo, /api/status/buildinfo and /metrics', async () => {
  assert.equal(await (await fetch(srv.url('/api/echo'))).text(), 'echo');
  const bi = await (await fetch(srv.url('/api/status/buildinfo'))).json();
  assert.match(bi.version, /^\d+\.\d+\.\d+/);
  await sendCheckout(() => new ProtoExporter({ url: srv.otlpUrl() })); /* counters restart with the server */
  const m = await (await fetch(srv.url('/metrics'))).text();
  assert.match(m, /tracewire_receiver_spans_accepted_total\{protocol="http\/protobuf"\} [1-9]/);
  assert.match(m, /tracewire_receiver_spans_refused_total\{protocol="http\/json",reason="invalid_ids"\} [1-9]/);
  assert.match(m, /tracewire_query_duration_seconds_count [1-9]/);
});

// ---- acknowledged means durable ------------------------------------------------------------------

test('kill -9 while a client sends: every acknowledged span is there after restart', async () => {
  await killWhileSending(srv, { cycles: 4, clients: 3, spans: 20, waitMs: () => 300 + Math.random() * 700 });
});

test('a full head answers 429, and every request answered 200 is readable at once', async () => {
  const d = mkdtempSync(join(tmpdir(), 'tracewire-full-'));
  const small = new Server(d, ['--head-max-bytes', '400000']);
  await small.start();
  try {
    const sends = [];
    for (let i = 0; i < 40; i++) {
      const tid = hex(32), spans = [];
      for (let k = 0; k < 20; k++) spans.push(span(tid, hex(16), `full-${i}-${k}`));
      sends.push(fetch(`http://127.0.0.1:${small.otlp}/v1/traces`, { method: 'POST', body: JSON.stringify(jsonRequest(spans, 'full')),
        headers: { 'Content-Type': 'application/json' } }).then((r) => ({ r, tid })));
    }
    const results = await Promise.all(sends);
    const ok = results.filter(({ r }) => r.status === 200), full = results.filter(({ r }) => r.status === 429);
    assert.equal(ok.length + full.length, 40);
    assert.ok(ok.length > 0 && full.length > 0, `expected both outcomes, got ${ok.length} ok / ${full.length} full`);
    for (const { r } of full) assert.equal(r.headers.get('retry-after'), '1');
    for (const { tid } of ok) {
      const q = await fetch(small.url(`/api/traces/${tid}`));
      assert.equal(q.status, 200, `acknowledged trace ${tid} is not readable`);
    }
  } finally {
    await small.stop();
    rmSync(d, { recursive: true, force: true });
  }
});
