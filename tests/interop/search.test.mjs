// search.test.mjs — TraceQL search and tag discovery over HTTP, in Tempo's
// response shapes, with the OpenTelemetry JS SDK as the client.
//
//  1. The article's checkout trace is searchable the moment it is
//     acknowledged (head) and after it moved into a block: structural and
//     attribute queries find it, with Tempo's fields (hex traceID without
//     leading zeros, 64-bit numbers as strings, spanSet and spanSets,
//     matched, the attributes the query touched, serviceStats).
//  2. Most recent first, limit and spss honoured; start/end narrow.
//  3. Tags v1 and v2 (scopes and intrinsics) and typed tag values, with q=.
//  4. Invalid queries: 400 "invalid TraceQL query: parse error at ...".
//  5. Tenants do not see each other's traces.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OTLPTraceExporter as ProtoExporter } from '@opentelemetry/exporter-trace-otlp-proto';

import { Server, sleep, sendCheckout, hex, span } from './tw_server_lib.mjs';

const dirs = [];
after(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });

async function startServer(tag, yaml = '') {
  const dir = mkdtempSync(join(tmpdir(), `tracewire-${tag}-`));
  dirs.push(dir);
  const cfg = join(dir, 'tracewire.yaml');
  writeFileSync(cfg, yaml || 'head:\n  flush_interval: 60s\n');
  const srv = new Server(join(dir, 'data'), ['--config', cfg]);
  await srv.start();
  return srv;
}

async function search(srv, q, params = {}, headers = {}) {
  const u = new URL(srv.url('/api/search'));
  if (q !== null) u.searchParams.set('q', q);
  for (const [k, v] of Object.entries(params)) u.searchParams.set(k, v);
  const r = await fetch(u, { headers });
  const body = await r.text();
  return { status: r.status, body, json: r.status === 200 ? JSON.parse(body) : null };
}

const stripZeros = (id) => id.replace(/^0+/, '') || '0';

function checkShape(res) {
  assert.equal(res.status, 200, res.body);
  for (const t of res.json.traces || []) {
    assert.match(t.traceID, /^[0-9a-f]+$/);
    assert.notEqual(t.traceID[0], '0');
    assert.equal(typeof t.startTimeUnixNano, 'string');
    assert.equal(typeof t.rootServiceName, 'string');
    if (t.durationMs !== undefined) assert.equal(typeof t.durationMs, 'number');
    assert.deepEqual(t.spanSet, t.spanSets[0]);
    for (const ss of t.spanSets) {
      assert.equal(typeof ss.matched, 'number');
      for (const s of ss.spans) {
        assert.match(s.spanID, /^[0-9a-f]{16}$/);
        assert.equal(typeof s.startTimeUnixNano, 'string');
        assert.equal(typeof s.durationNanos, 'string');
      }
    }
  }
  assert.equal(typeof res.json.metrics, 'object');
}

async function checkoutQueries(srv, traceId) {
  const id = stripZeros(traceId);
  // structural: a server span below the failing client span
  let r = await search(srv, '{ status = error && kind = client } >> { kind = server }');
  checkShape(r);
  let t = r.json.traces.find((x) => x.traceID === id);
  assert.ok(t, r.body);
  assert.equal(t.rootServiceName, 'checkout');
  assert.equal(t.rootTraceName, 'HTTP GET /checkout');
  assert.equal(t.durationMs, 13);
  assert.equal(t.spanSets[0].matched, 1);
  assert.equal(t.spanSets[0].spans[0].name, 'grpc inventory.Reserve');
  assert.deepEqual(t.serviceStats.checkout, { spanCount: 3, errorCount: 1 });
  assert.deepEqual(t.serviceStats['inventory-db'], { spanCount: 1 });
  // the attributes the query touched, under their names without scope
  r = await search(srv, '{ span.http.response.status_code >= 500 && resource.deployment.environment = "test" }');
  t = r.json.traces.find((x) => x.traceID === id);
  assert.ok(t, r.body);
  const attrs = Object.fromEntries(t.spanSets[0].spans[0].attributes.map((a) => [a.key, a.value]));
  assert.deepEqual(attrs['http.response.status_code'], { intValue: '503' });
  assert.deepEqual(attrs['deployment.environment'], { stringValue: 'test' });
  // events, links, arrays, regular expressions, pipelines
  for (const q of ['{ event:name = "exception" && event.exception.message =~ "inventory.*" }',
    '{ link.link.reason = "validated-by" }', '{ span.cart.skus = "b-2" }', '{ span.db.statement =~ "SELECT .* stock .*" }',
    '{ } | count() = 6', '{ } | by(resource.service.name) | count() = 3', '{ .user.premium } && { name = "validate-cart" }',
    `{ trace:id = "${traceId}" }`, '{ instrumentation:name = "payments-instrumentation" }']) {
    r = await search(srv, q);
    checkShape(r);
    assert.ok(r.json.traces?.some((x) => x.traceID === id), `${q}: ${r.body}`);
  }
  r = await search(srv, '{ } | by(resource.service.name) | count() = 3');
  t = r.json.traces.find((x) => x.traceID === id);
  assert.deepEqual(t.spanSets[0].attributes, [{ key: 'by(resource.service.name)', value: { stringValue: 'checkout' } },
    { key: 'count()', value: { intValue: '3' } }]);
  for (const q of ['{ span.cart.skus = "c-3" }', '{ name = "validate" }', '{ status = error } > { kind = client }']) {
    r = await search(srv, q);
    assert.ok(!r.json.traces?.some((x) => x.traceID === id), `${q} should not match: ${r.body}`);
  }
}

test('the checkout trace is searchable in the head and in a block', async () => {
  const srv = await startServer('search');
  try {
    const { traceId } = await sendCheckout(() => new ProtoExporter({ url: srv.otlpUrl() }));
    await checkoutQueries(srv, traceId); // in the head: searchable once acknowledged
    await srv.stop();
    // restart with a fast flush: the trace moves into a block
    const cfg = join(srv.dir, '..', 'tracewire.yaml');
    writeFileSync(cfg, 'head:\n  flush_interval: 1s\n');
    await srv.start();
    const until = Date.now() + 15000;
    for (;;) {
      const m = await (await fetch(srv.url('/metrics'))).text();
      if (/^tracewire_head_spans 0$/m.test(m) && /^tracewire_blocks [1-9]/m.test(m)) break;
      assert.ok(Date.now() < until, 'head not flushed');
      await sleep(100);
    }
    await checkoutQueries(srv, traceId);
    const r = await search(srv, '{ }');
    assert.ok(Number(r.json.metrics.inspectedBytes) > 0 && r.json.metrics.totalBlocks >= 1, r.body);
  } finally {
    await srv.stop();
  }
});

test('most recent first, limit, spss, start/end, tenants, and errors', async () => {
  const srv = await startServer('order');
  try {
    const now = BigInt(Date.now()) * 1000000n;
    const ids = [];
    for (let i = 0; i < 5; i++) { // trace i starts i seconds ago, four spans each
      const tid = hex(32);
      ids.push(tid);
      const spans = [0, 1, 2, 3].map((k) => ({ ...span(tid, hex(16), `op-${k}`),
        startTimeUnixNano: String(now - BigInt(i) * 1000000000n + BigInt(k)),
        endTimeUnixNano: String(now - BigInt(i) * 1000000000n + 1000000n) }));
      const body = { resourceSpans: [{ resource: { attributes: [{ key: 'service.name', value: { stringValue: 'order-svc' } }] },
        scopeSpans: [{ spans }] }] };
      const r = await fetch(srv.otlpUrl(), { method: 'POST', body: JSON.stringify(body), headers: { 'Content-Type': 'application/json' } });
      assert.equal(r.status, 200);
    }
    let r = await search(srv, '{ resource.service.name = "order-svc" }', { limit: '3', spss: '2' });
    checkShape(r);
    assert.deepEqual(r.json.traces.map((t) => t.traceID), ids.slice(0, 3).map(stripZeros));
    assert.equal(r.json.traces[0].spanSets[0].matched, 4);
    assert.equal(r.json.traces[0].spanSets[0].spans.length, 2);
    assert.equal(r.json.traces[0].rootServiceName, 'order-svc');
    assert.equal(r.json.traces[0].rootTraceName, 'op-0');
    // the same answer twice
    const again = await search(srv, '{ resource.service.name = "order-svc" }', { limit: '3', spss: '2' });
    assert.equal(again.body, r.body);
    // start/end in Unix seconds: only the traces inside the window
    const sec = Number(now / 1000000000n);
    r = await search(srv, '{ }', { start: String(sec - 100), end: String(sec - 100 + 1) });
    assert.equal(r.json.traces, undefined, r.body);
    // the older form: tags= (substring, case-insensitive) and minDuration
    r = await search(srv, null, { tags: 'service.name=ORDER', minDuration: '500us' });
    assert.equal(r.json.traces.length, 5, r.body);
    r = await search(srv, null, { tags: 'service.name=ORDER', minDuration: '2ms' });
    assert.equal(r.json.traces, undefined, r.body);
    // another tenant sees none of them
    r = await search(srv, '{ }', {}, { 'X-Scope-OrgID': 'someone-else' });
    assert.equal(r.json.traces, undefined, r.body);
    // invalid queries and parameters
    for (const [q, params, want] of [
      ['{ .a = }', {}, /^invalid TraceQL query: parse error at line 1, col 8: expected an attribute, an intrinsic or a value/],
      ['{ status = "error" }', {}, /cannot compare status with string/],
      ['{ }', { limit: '0' }, /^invalid limit/],
      ['{ }', { spss: 'x' }, /^invalid spss/],
      ['{ }', { start: '20', end: '10' }, /start must be before end/],
      ['{ } | rate()', {}, /metrics query/],
    ]) {
      const res = await search(srv, q, params);
      assert.equal(res.status, 400, `${q}: ${res.body}`);
      assert.match(res.body, want);
    }
  } finally {
    await srv.stop();
  }
});

test('tags and tag values, v1 and v2', async () => {
  const srv = await startServer('tags');
  try {
    await sendCheckout(() => new ProtoExporter({ url: srv.otlpUrl() }));
    let j = await (await fetch(srv.url('/api/search/tags'))).json();
    for (const k of ['http.route', 'db.system', 'service.name', 'deployment.environment']) assert.ok(j.tagNames.includes(k), k);
    assert.deepEqual(j.tagNames, [...j.tagNames].sort());
    j = await (await fetch(srv.url('/api/v2/search/tags'))).json();
    const scopes = Object.fromEntries(j.scopes.map((s) => [s.name, s.tags]));
    assert.ok(scopes.span.includes('db.statement'));
    assert.ok(scopes.resource.includes('service.name'));
    assert.ok(scopes.event.includes('exception.message'));
    assert.ok(scopes.link.includes('link.reason'));
    assert.ok(scopes.intrinsic.includes('rootServiceName') && scopes.intrinsic.includes('span:status'));
    j = await (await fetch(srv.url('/api/v2/search/tags?scope=resource'))).json();
    assert.deepEqual(j.scopes.map((s) => s.name), ['resource']);
    assert.equal((await fetch(srv.url('/api/v2/search/tags?scope=nope'))).status, 400);
    // values: typed, filtered by q, the tag name double-encoded as Grafana sends it
    const tag = encodeURIComponent(encodeURIComponent('resource.service.name'));
    j = await (await fetch(srv.url(`/api/v2/search/tag/${tag}/values`))).json();
    assert.deepEqual(j.tagValues.map((v) => v.value).sort(), ['checkout', 'inventory', 'inventory-db', 'payments']);
    assert.ok(j.tagValues.every((v) => v.type === 'string'));
    j = await (await fetch(srv.url(`/api/v2/search/tag/${tag}/values?q=${encodeURIComponent('{ kind = server }')}`))).json();
    assert.deepEqual(j.tagValues.map((v) => v.value).sort(), ['checkout', 'inventory']);
    j = await (await fetch(srv.url('/api/v2/search/tag/span.http.response.status_code/values'))).json();
    assert.deepEqual(j.tagValues, [{ type: 'int', value: '503' }]);
    j = await (await fetch(srv.url('/api/v2/search/tag/status/values'))).json();
    assert.deepEqual(j.tagValues.map((v) => v.value), ['error', 'ok', 'unset']);
    assert.ok(j.tagValues.every((v) => v.type === 'keyword'));
    j = await (await fetch(srv.url('/api/search/tag/db.system/values'))).json();
    assert.deepEqual(j.tagValues, ['postgresql']);
    j = await (await fetch(srv.url('/api/v2/search/tag/name/values?limit=2'))).json();
    assert.equal(j.tagValues.length, 2);
  } finally {
    await srv.stop();
  }
});
