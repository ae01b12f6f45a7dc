// store.test.mjs — the block store of `tracewire serve`, end to end.
//
//  1. Spans move from the head into blocks; the article's checkout trace,
//     sent by the OpenTelemetry JS SDK, reads back from a block with every
//     field intact, also after a restart (and WAL records already in blocks
//     are not replayed).
//  2. A trace whose spans arrived in several flushes is joined; compaction
//     merges the blocks; an exact duplicate is returned once.
//  3. Retention deletes blocks whose newest span is older than the period.
//  4. Tenants stay apart in blocks.
//  5. kill -9 while a client sends and the head is flushed every second:
//     every acknowledged span is there after each restart.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, readFileSync, readdirSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OTLPTraceExporter as ProtoExporter } from '@opentelemetry/exporter-trace-otlp-proto';

import { Server, sleep, sendCheckout, checkTrace, hex, jsonRequest, span, spanCount, killWhileSending } from './tw_server_lib.mjs';

const dirs = [];
function tempDir(tag) {
  const d = mkdtempSync(join(tmpdir(), `tracewire-${tag}-`));
  dirs.push(d);
  return d;
}
after(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });

// A server flushing its head every second and compacting every second.
async function startServer(tag, yaml = '') {
  const dir = tempDir(tag);
  const cfg = join(dir, 'tracewire.yaml');
  writeFileSync(cfg, `head:\n  flush_interval: 1s\nblocks:\n  compaction_interval: 1s\n${yaml}`);
  const srv = new Server(join(dir, 'data'), ['--config', cfg]);
  await srv.start();
  return srv;
}

async function metric(srv, name) {
  const text = await (await fetch(srv.url('/metrics'))).text();
  const m = text.match(new RegExp(`^${name.replace(/[{}"=]/g, (c) => `\\${c}`)} (\\d+)$`, 'm'));
  assert.ok(m, `metric ${name} missing`);
  return Number(m[1]);
}

async function waitFor(what, fn, ms = 15000) {
  const until = Date.now() + ms;
  for (;;) {
    if (await fn()) return;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

const postJson = (srv, body, tenant) => fetch(srv.otlpUrl(), { method: 'POST', body: JSON.stringify(body),
  headers: { 'Content-Type': 'application/json', ...(tenant ? { 'X-Scope-OrgID': tenant } : {}) } });

const flushed = (srv) => waitFor('the head to be flushed', async () =>
  (await metric(srv, 'tracewire_head_spans')) === 0 && (await metric(srv, 'tracewire_blocks')) > 0);

test('the checkout trace reads back from a block with every field, also after a restart', async () => {
  const srv = await startServer('blocks');
  try {
    const { traceId, sent } = await sendCheckout(() => new ProtoExporter({ url: srv.otlpUrl() }));
    await flushed(srv);
    assert.equal(await metric(srv, 'tracewire_block_spans'), 6);
    await checkTrace(srv, traceId, sent);
    // on disk: <data>/blocks/<tenant>/<block id>/{data,meta.json}
    const tenantDir = join(srv.dir, 'blocks', 'single-tenant');
    const blocks = readdirSync(tenantDir);
    assert.ok(blocks.length >= 1);
    for (const b of blocks) {
      assert.match(b, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      assert.ok(existsSync(join(tenantDir, b, 'data')) && existsSync(join(tenantDir, b, 'meta.json')));
    }
    const st = await srv.stop();
    assert.equal(st.code, 0, srv.log);
    const before = srv.log.length;
    await srv.start();
    await checkTrace(srv, traceId, sent);
    assert.equal(await metric(srv, 'tracewire_head_spans'), 0, 'records already in blocks were replayed');
    assert.match(srv.log.slice(before), /block\(s\) opened/);
  } finally {
    await srv.stop();
  }
});

test('a trace split over flushes is joined, compaction merges blocks, duplicates come back once', async () => {
  const srv = await startServer('compact');
  try {
    const tid = hex(32), dupId = hex(16);
    const part1 = [span(tid, hex(16), 'a'), span(tid, dupId, 'dup')];
    const part2 = [span(tid, hex(16), 'b'), span(tid, dupId, 'dup')]; // 'dup' sent again, identical
    assert.equal((await postJson(srv, jsonRequest(part1, 'split'))).status, 200);
    await flushed(srv);
    const blocksAfterFirst = await metric(srv, 'tracewire_head_flushes_total{result="ok"}');
    assert.equal((await postJson(srv, jsonRequest(part2, 'split'))).status, 200);
    await waitFor('a second flush', async () =>
      (await metric(srv, 'tracewire_head_flushes_total{result="ok"}')) > blocksAfterFirst &&
      (await metric(srv, 'tracewire_head_spans')) === 0);
    await waitFor('compaction', async () => (await metric(srv, 'tracewire_compactions_total{result="ok"}')) >= 1 &&
      (await metric(srv, 'tracewire_blocks')) === 1);
    const got = await spanCount(srv, tid);
    assert.deepEqual(got, { status: 200, n: 3, names: ['a', 'b', 'dup'] });
    // the compacted block holds the duplicate once
    assert.equal(await metric(srv, 'tracewire_block_spans'), 3);
    // the compacted-away blocks are gone from disk
    await waitFor('old blocks deleted', async () => readdirSync(join(srv.dir, 'blocks', 'single-tenant')).length === 1);
  } finally {
    await srv.stop();
  }
});

test('retention deletes blocks whose newest span is older than the period', async () => {
  const srv = await startServer('retention', '  retention: 1h\n');
  try {
    const oldTid = hex(32), newTid = hex(32);
    const now = BigInt(Date.now()) * 1000000n, twoDays = 2n * 86400n * 1000000000n;
    const oldSpan = { ...span(oldTid, hex(16), 'old'), startTimeUnixNano: String(now - twoDays),
      endTimeUnixNano: String(now - twoDays + 1000n) };
    const newSpan = { ...span(newTid, hex(16), 'new'), startTimeUnixNano: String(now), endTimeUnixNano: String(now + 1000n) };
    // separate tenants, so each lands in its own block
    assert.equal((await postJson(srv, jsonRequest([oldSpan], 'r'), 'old')).status, 200);
    assert.equal((await postJson(srv, jsonRequest([newSpan], 'r'), 'new')).status, 200);
    await waitFor('retention', async () => (await metric(srv, 'tracewire_retention_deleted_blocks_total')) >= 1);
    assert.equal((await spanCount(srv, oldTid, 'old')).status, 404);
    assert.deepEqual(await spanCount(srv, newTid, 'new'), { status: 200, n: 1, names: ['new'] });
  } finally {
    await srv.stop();
  }
});

test('tenants stay apart in blocks', async () => {
  const srv = await startServer('tenants');
  try {
    const tid = hex(32);
    assert.equal((await postJson(srv, jsonRequest([span(tid, hex(16), 'a-span')], 't'), 'team-a')).status, 200);
    assert.equal((await postJson(srv, jsonRequest([span(tid, hex(16), 'b-span')], 't'), 'team-b')).status, 200);
    await flushed(srv);
    assert.deepEqual((await spanCount(srv, tid, 'team-a')).names, ['a-span']);
    assert.deepEqual((await spanCount(srv, tid, 'team-b')).names, ['b-span']);
    assert.equal((await spanCount(srv, tid, 'team-c')).status, 404);
    assert.equal((await spanCount(srv, tid)).status, 404);
  } finally {
    await srv.stop();
  }
});

test('kill -9 while sending and flushing: every acknowledged span is there after restart', async () => {
  // small WAL segments: flushes release them and new segments reuse their files, so kills land in reused files
  const srv = await startServer('crash', 'wal:\n  segment_bytes: 65536\n');
  try {
    // each cycle lasts across at least one flush (every second)
    await killWhileSending(srv, { cycles: 3, clients: 2, spans: 10, waitMs: () => 1200 + Math.random() * 1500 });
    assert.ok((await metric(srv, 'tracewire_blocks')) > 0, 'no block was written');
    const walDir = join(srv.dir, 'wal');
    const reused = readdirSync(walDir).filter((f) => f.endsWith('.wal') || f.endsWith('.free'))
      .filter((f) => { try { return readFileSync(join(walDir, f))[6] === 1; } catch { return false; } });
    assert.ok(reused.length > 0, 'no WAL segment file was reused during the kill -9 cycles');
  } finally {
    await srv.stop();
  }
});
