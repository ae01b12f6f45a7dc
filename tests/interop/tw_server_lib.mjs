// tw_server_lib.mjs — what the server tests share: a `tracewire serve`
// process on free loopback ports, the article's checkout trace sent through
// the OpenTelemetry JS SDK and checked field by field when read back, and
// small OTLP/JSON request builders.
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

const SERVER = process.env.TW_SERVER;
if (!SERVER) throw new Error('TW_SERVER must name the tracewire binary');

export async function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)); });
  });
}

// A temporary directory removed when the test file ends.
const tempDirs = [];
export function tempDir(tag) {
  const d = mkdtempSync(join(tmpdir(), `tracewire-${tag}-`));
  tempDirs.push(d);
  return d;
}
process.on('exit', () => { for (const d of tempDirs) rmSync(d, { recursive: true, force: true }); });

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export class Server {
  // keepPorts: a restart listens on the same ports (a peer keeps its address)
  constructor(dir, extra = [], { keepPorts = false } = {}) {
    this.dir = dir; this.extra = extra; this.proc = null; this.log = ''; this.keepPorts = keepPorts;
  }
  // A port found free can be taken by a test running beside this one
  // before the server binds it: then the start is retried on new ports
  // (never when the ports are kept: a peer knows them).
  async start() {
    for (let attempt = 1; ; attempt++) {
      const from = this.log.length;
      try {
        return await this.startOnce();
      } catch (e) {
        const taken = /Address already in use/.test(this.log.slice(from));
        if (!taken || (this.keepPorts && this.otlp && this.started) || attempt >= 5) throw e;
        this.otlp = undefined;
      }
    }
  }
  async startOnce() {
    if (!this.keepPorts || !this.otlp) {
      this.otlp = await freePort();
      this.api = await freePort();
      this.grpc = await freePort();
    }
    this.proc = spawn(SERVER, ['serve', '--data-dir', this.dir, '--otlp-http-listen', `127.0.0.1:${this.otlp}`,
      '--otlp-grpc-listen', `127.0.0.1:${this.grpc}`,
      '--http-listen', `127.0.0.1:${this.api}`, '--max-request-bytes', String(4 << 20), ...this.extra], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.proc.stderr.on('data', (d) => { this.log += d; });
    this.proc.stdout.on('data', (d) => { this.log += d; });
    this.exited = new Promise((r) => this.proc.once('exit', (code, sig) => r({ code, sig })));
    for (let i = 0; i < 200 && this.proc.exitCode === null && this.proc.signalCode === null; i++) {
      try { const r = await fetch(`http://127.0.0.1:${this.api}/ready`); if (r.ok) { this.started = true; return; } } catch { /* not yet */ }
      await sleep(25);
    }
    await sleep(50); // let the exit's last stderr arrive
    throw new Error(`server did not become ready (exit ${this.proc.exitCode ?? this.proc.signalCode ?? 'none'}):\n${this.log}`);
  }
  url(path) { return `http://127.0.0.1:${this.api}${path}`; }
  otlpUrl() { return `http://127.0.0.1:${this.otlp}/v1/traces`; }
  grpcUrl() { return `http://127.0.0.1:${this.grpc}`; }
  async stop() { if (this.proc && this.proc.exitCode === null) { this.proc.kill('SIGTERM'); return this.exited; } return null; }
  async kill9() { this.proc.kill('SIGKILL'); return this.exited; }
}

export const b64ToHex = (s) => Buffer.from(s, 'base64').toString('hex');
export const hrToNs = ([s, ns]) => BigInt(s) * 1000000000n + BigInt(ns);

// ---- the article's checkout trace through the JS SDK -----------------------------------

export function provider(service, exporter) {
  const p = new BasicTracerProvider({
    resource: resourceFromAttributes({ 'service.name': service, 'deployment.environment': 'test' }),
    spanProcessors: [new SimpleSpanProcessor(exporter)],
  });
  return p;
}

// Builds the trace with fixed nanosecond timestamps and returns what was sent.
export async function sendCheckout(makeExporter) {
  const services = ['checkout', 'inventory', 'inventory-db', 'payments'];
  const providers = Object.fromEntries(services.map((s) => [s, provider(s, makeExporter())]));
  const t = (svc) => providers[svc].getTracer(`${svc}-instrumentation`, '1.2.3');
  const base = Math.floor(Date.now() / 1000); // now: older blocks fall to retention
  const at = (ms, extraNs = 0) => [base, ms * 1000000 + extraNs];
  const sent = {};
  const root = t('checkout').startSpan('HTTP GET /checkout', {
    kind: SpanKind.SERVER, startTime: at(0, 7),
    attributes: { 'http.request.method': 'GET', 'http.route': '/checkout', 'http.response.status_code': 503,
      'sampling.ratio': 0.25, 'user.premium': true, 'cart.skus': ['a-1', 'b-2'], 'cart.quantities': [1, 2, 3],
      'cart.prices': [9.5, 0.25], 'cart.flags': [true, false] },
  });
  const rootCtx = trace.setSpan(context.active(), root);
  const b = t('checkout').startSpan('validate-cart', { startTime: at(1, 11) }, rootCtx);
  b.setAttribute('cart.items', 3);
  b.end(at(2, 13));
  const c = t('checkout').startSpan('POST inventory.Reserve', { kind: SpanKind.CLIENT, startTime: at(3, 17),
    attributes: { 'server.address': 'inventory', 'rpc.grpc.status_code': 14 } }, rootCtx);
  c.addEvent('retry', { attempt: 2 }, at(4, 19));
  c.recordException({ name: 'InventoryUnavailable', message: 'inventory backend unreachable' }, at(5, 23));
  c.setStatus({ code: SpanStatusCode.ERROR, message: 'inventory backend unreachable' });
  const cCtx = trace.setSpan(context.active(), c);
  // D runs in another process: its parent arrives as a remote context.
  const remoteC = trace.setSpanContext(context.active(), { ...c.spanContext(), isRemote: true });
  const d = t('inventory').startSpan('grpc inventory.Reserve', { kind: SpanKind.SERVER, startTime: at(6, 29) }, remoteC);
  const e = t('inventory-db').startSpan('SELECT FROM stock', { kind: SpanKind.CLIENT, startTime: at(7, 31),
    attributes: { 'db.system': 'postgresql', 'db.statement': 'SELECT qty FROM stock WHERE sku = $1' } },
  trace.setSpan(context.active(), d));
  e.end(at(8, 37));
  d.end(at(9, 41));
  c.end(at(10, 43));
  const f = t('payments').startSpan('POST payments.Charge', { kind: SpanKind.CLIENT, startTime: at(11, 47),
    links: [{ context: b.spanContext(), attributes: { 'link.reason': 'validated-by' } }] }, rootCtx);
  f.setStatus({ code: SpanStatusCode.OK });
  f.end(at(12, 53));
  root.end(at(13, 59));
  void cCtx;
  for (const [svc, span] of [['checkout', root], ['checkout', b], ['checkout', c], ['inventory', d],
    ['inventory-db', e], ['payments', f]]) sent[span.name] = { svc, span };
  for (const p of Object.values(providers)) { await p.forceFlush(); await p.shutdown(); }
  return { traceId: root.spanContext().traceId, sent };
}

export function attrMap(list) {
  const m = {};
  for (const kv of list || []) m[kv.key] = kv.value;
  return m;
}

export function decodeValue(v) {
  if ('stringValue' in v) return v.stringValue;
  if ('boolValue' in v) return v.boolValue;
  if ('intValue' in v) return Number(v.intValue);
  if ('doubleValue' in v) return v.doubleValue;
  if ('arrayValue' in v) return (v.arrayValue.values || []).map(decodeValue);
  return undefined;
}

export async function checkTrace(srv, traceId, sent) {
  const r = await fetch(srv.url(`/api/v2/traces/${traceId}`));
  assert.equal(r.status, 200, await r.clone().text());
  const body = await r.json();
  assert.equal(body.status, 'COMPLETE');
  const got = {};
  for (const rs of body.trace.resourceSpans) {
    const res = attrMap(rs.resource.attributes);
    for (const ss of rs.scopeSpans) for (const s of ss.spans) got[s.name] = { res, scope: ss.scope, s };
  }
  assert.deepEqual(Object.keys(got).sort(), Object.keys(sent).sort());
  const kindNum = { [SpanKind.INTERNAL]: 1, [SpanKind.SERVER]: 2, [SpanKind.CLIENT]: 3, [SpanKind.PRODUCER]: 4, [SpanKind.CONSUMER]: 5 };
  for (const [name, { svc, span }] of Object.entries(sent)) {
    const { res, scope, s } = got[name];
    assert.equal(res['service.name'].stringValue, svc, name);
    assert.equal(res['deployment.environment'].stringValue, 'test');
    assert.equal(scope.name, `${svc}-instrumentation`);
    assert.equal(scope.version, '1.2.3');
    assert.equal(b64ToHex(s.traceId), traceId);
    assert.equal(b64ToHex(s.spanId), span.spanContext().spanId);
    const parent = span.parentSpanContext?.spanId;
    if (parent) assert.equal(b64ToHex(s.parentSpanId), parent, `${name} parent`);
    else assert.ok(!s.parentSpanId, `${name} has no parent`);
    assert.equal(s.kind ?? 0, kindNum[span.kind], `${name} kind`);
    assert.equal(BigInt(s.startTimeUnixNano), hrToNs(span.startTime), `${name} start`);
    assert.equal(BigInt(s.endTimeUnixNano), hrToNs(span.endTime), `${name} end`);
    const a = attrMap(s.attributes);
    for (const [k, v] of Object.entries(span.attributes)) assert.deepEqual(decodeValue(a[k]), v, `${name} ${k}`);
    assert.equal((s.events || []).length, span.events.length, `${name} events`);
    for (let i = 0; i < span.events.length; i++) {
      assert.equal(s.events[i].name, span.events[i].name);
      assert.equal(BigInt(s.events[i].timeUnixNano), hrToNs(span.events[i].time));
      const ea = attrMap(s.events[i].attributes);
      for (const [k, v] of Object.entries(span.events[i].attributes || {})) assert.deepEqual(decodeValue(ea[k]), v);
    }
    assert.equal((s.links || []).length, span.links.length, `${name} links`);
    for (let i = 0; i < span.links.length; i++) {
      assert.equal(b64ToHex(s.links[i].spanId), span.links[i].context.spanId);
      assert.equal(b64ToHex(s.links[i].traceId), span.links[i].context.traceId);
      assert.deepEqual(decodeValue(attrMap(s.links[i].attributes)['link.reason']), 'validated-by');
    }
    assert.equal(s.status?.code ?? 0, span.status.code, `${name} status`);
    if (span.status.message) assert.equal(s.status.message, span.status.message);
  }
  // The protobuf form is served when asked for (Grafana asks for it).
  const pb = await fetch(srv.url(`/api/traces/${traceId}`), { headers: { Accept: 'application/protobuf' } });
  assert.equal(pb.status, 200);
  assert.equal(pb.headers.get('content-type'), 'application/protobuf');
  const bytes = Buffer.from(await pb.arrayBuffer());
  assert.equal(bytes[0], 0x0a, 'field 1, length-delimited: ResourceSpans');
  // The v1 JSON shape.
  const v1 = await (await fetch(srv.url(`/api/traces/${traceId}`))).json();
  assert.ok(Array.isArray(v1.batches) && v1.batches.length >= 4);
}

export const hex = (n) => [...Array(n)].map(() => Math.floor(Math.random() * 16).toString(16)).join('');
export function jsonRequest(spans, service = 'bad-input') {
  return { resourceSpans: [{ resource: { attributes: [{ key: 'service.name', value: { stringValue: service } }] },
    scopeSpans: [{ scope: { name: 't' }, spans }] }] };
}
// Spans start now: blocks older than the retention period (14 days) are deleted.
const startNs = BigInt(Date.now()) * 1000000n;
export const span = (traceId, spanId, name = 'x') => ({ traceId, spanId, name, kind: 1, startTimeUnixNano: String(startNs),
  endTimeUnixNano: String(startNs + 100000000n) });

// The spans of a trace as the Tempo API returns them (tenant optional).
export async function spanCount(srv, tid, tenant) {
  const r = await fetch(srv.url(`/api/v2/traces/${tid}`), { headers: tenant ? { 'X-Scope-OrgID': tenant } : {} });
  if (r.status !== 200) return { status: r.status, n: 0, names: [] };
  const body = await r.json();
  const names = [];
  for (const rs of body.trace.resourceSpans) for (const ss of rs.scopeSpans) for (const s of ss.spans) names.push(s.name);
  return { status: 200, n: names.length, names: names.sort() };
}

// Acknowledged means durable: `cycles` times, `clients` senders post traces
// of `spans` spans without pause, the server is killed with SIGKILL after
// waitMs() and restarted, and every trace answered 200 so far must come
// back whole. Returns the acknowledged traces.
export async function killWhileSending(srv, { cycles, clients, spans: perTrace, waitMs }) {
  const acked = [];
  for (let cycle = 0; cycle < cycles; cycle++) {
    let stop = false;
    const senders = [...Array(clients).keys()].map(async (w) => {
      while (!stop) {
        const tid = hex(32), spans = [];
        for (let i = 0; i < perTrace; i++) spans.push(span(tid, hex(16), `c${cycle}-w${w}-${i}`));
        try {
          const r = await fetch(srv.otlpUrl(), { method: 'POST', body: JSON.stringify(jsonRequest(spans, 'crash')),
            headers: { 'Content-Type': 'application/json' } });
          if (r.status === 200) acked.push({ tid, n: spans.length });
        } catch { /* the server died mid-request: not acknowledged */ }
      }
    });
    await sleep(waitMs());
    const st = await srv.kill9();
    stop = true;
    await Promise.all(senders);
    assert.equal(st.sig, 'SIGKILL');
    await srv.start();
    for (const { tid, n } of acked) {
      const got = await spanCount(srv, tid);
      assert.equal(got.status, 200, `acknowledged trace ${tid} lost after kill -9 (cycle ${cycle})`);
      assert.equal(got.n, n, `trace ${tid}: ${got.n} of ${n} spans after kill -9 (cycle ${cycle})`);
    }
  }
  assert.ok(acked.length > 20, `only ${acked.length} requests were acknowledged`);
  return acked;
}
