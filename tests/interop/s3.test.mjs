// s3.test.mjs — `tracewire serve` with its blocks in an S3-compatible bucket
// (s3rver from npm, started here on a loopback port).
//
//  1. storage.backend: s3 — the checkout trace (OpenTelemetry JS SDK) and
//     log records flush into blocks that are objects in the bucket under
//     the configured prefix (nothing under <data>/blocks); blocks list over
//     pages of two keys; compaction merges blocks in the bucket and deletes
//     the inputs there.
//  2. A second server with an empty data directory on the same bucket answers
//     the trace, by id and by TraceQL, and its logs, from the bucket alone.
//  3. Two servers on one prefix (storage.s3.poll_interval 1s): each answers
//     spans the other wrote, one trace's halves written by both come back
//     whole; the one compactor merges the other's blocks and the other
//     follows (drops the inputs, serves the merged block).
//  4. A bucket that does not exist or a wrong access key stops the start
//     with the server's reason; a half-configured backend is refused.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { readdirSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { OTLPTraceExporter as ProtoExporter } from '@opentelemetry/exporter-trace-otlp-proto';

import { Server, sleep, sendCheckout, checkTrace, hex, jsonRequest, span, spanCount, tempDir } from './tw_server_lib.mjs';

const here = dirname(fileURLToPath(import.meta.url));
let s3proc, s3port, s3dir;

before(async () => {
  s3dir = tempDir('s3rver');
  s3proc = spawn(process.execPath, ['--openssl-legacy-provider', join(here, 's3rver.mjs'), s3dir, 'traces'],
    { stdio: ['pipe', 'pipe', 'inherit'] });
  s3port = await new Promise((resolve, reject) => {
    let out = '';
    s3proc.stdout.on('data', (d) => { out += d; if (out.includes('\n')) resolve(Number(out.trim())); });
    s3proc.once('exit', (c) => reject(new Error(`s3rver exited with ${c}`)));
  });
});
after(() => { s3proc.stdin.end(); });

const s3yaml = (prefix, extra = '') => `storage:
  backend: s3
  s3:
    endpoint: http://127.0.0.1:${s3port}
    bucket: traces
    prefix: ${prefix}
    access_key: S3RVER
    secret_key: S3RVER
    list_page_size: 2
${extra}`;

function serverWith(tag, yaml) {
  const dir = tempDir(tag);
  const cfg = join(dir, 'tracewire.yaml');
  writeFileSync(cfg, yaml);
  return new Server(join(dir, 'data'), ['--config', cfg]);
}

// Every object key in s3rver's directory for the bucket (its files are
// KEY._S3rver_object). The servers delete objects while we walk (compaction),
// so an entry or folder that vanishes between readdir and stat is skipped.
function bucketKeys() {
  const root = join(s3dir, 'traces'), keys = [];
  const gone = (fn) => {
    try { return fn(); } catch (e) { if (e.code === 'ENOENT') return null; throw e; }
  };
  const walk = (d, rel) => {
    for (const e of gone(() => readdirSync(d)) ?? []) {
      const p = join(d, e), r = rel ? `${rel}/${e}` : e;
      const st = gone(() => statSync(p));
      if (!st) continue;
      if (st.isDirectory()) walk(p, r);
      else if (e.endsWith('._S3rver_object')) keys.push(r.slice(0, -'._S3rver_object'.length));
    }
  };
  if (existsSync(root)) walk(root, '');
  return keys.sort();
}

async function metric(srv, name) {
  const text = await (await fetch(srv.url('/metrics'))).text();
  const m = text.match(new RegExp(`^${name.replace(/[{}"=]/g, (c) => `\\${c}`)} (\\d+)$`, 'm'));
  assert.ok(m, `metric ${name} missing`);
  return Number(m[1]);
}

async function waitFor(what, fn, srv, ms = 20000) {
  const until = Date.now() + ms;
  for (;;) {
    if (await fn()) return;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}\n${srv ? srv.log : ''}`);
    await sleep(100);
  }
}

const nowNs = () => BigInt(Date.now()) * 1000000n;
const postJson = (srv, body) => fetch(srv.otlpUrl(), { method: 'POST', body: JSON.stringify(body),
  headers: { 'Content-Type': 'application/json' } });

test('blocks and log blocks live in the bucket; compaction runs there; a fresh server answers from the bucket alone', async () => {
  const flushes = 'head:\n  flush_interval: 1s\nlogs:\n  flush_interval: 1s\nblocks:\n  compaction_interval: 1s\n';
  const srv = serverWith('s3-a', s3yaml('team-a/', flushes));
  await srv.start();
  let traceId, sent, tid;
  try {
    ({ traceId, sent } = await sendCheckout(() => new ProtoExporter({ url: srv.otlpUrl() })));
    await waitFor('the checkout trace in a block', async () => (await metric(srv, 'tracewire_block_spans')) === 6, srv);
    const keys = bucketKeys();
    assert.ok(keys.some((k) => /^team-a\/blocks\/single-tenant\/[0-9a-f-]{36}\/data$/.test(k)), keys.join('\n'));
    assert.ok(keys.some((k) => /^team-a\/blocks\/single-tenant\/[0-9a-f-]{36}\/meta\.json$/.test(k)), keys.join('\n'));
    assert.ok(!existsSync(join(srv.dir, 'blocks')), 'blocks were written to the local directory');
    await checkTrace(srv, traceId, sent);

    // A trace in two flushes: two more blocks, then compaction merges all three.
    tid = hex(32);
    assert.equal((await postJson(srv, jsonRequest([span(tid, hex(16), 'first')], 's3'))).status, 200);
    await waitFor('a second block', async () => (await metric(srv, 'tracewire_blocks')) >= 2 ||
      (await metric(srv, 'tracewire_compactions_total{result="ok"}')) >= 1, srv);
    assert.equal((await postJson(srv, jsonRequest([span(tid, hex(16), 'second')], 's3'))).status, 200);
    await waitFor('compaction into one block', async () => (await metric(srv, 'tracewire_head_spans')) === 0 &&
      (await metric(srv, 'tracewire_compactions_total{result="ok"}')) >= 1 && (await metric(srv, 'tracewire_blocks')) === 1, srv);
    assert.deepEqual(await spanCount(srv, tid), { status: 200, n: 2, names: ['first', 'second'] });
    await waitFor('the compacted inputs deleted from the bucket', async () =>
      bucketKeys().filter((k) => k.startsWith('team-a/blocks/') && k.endsWith('/meta.json')).length === 1, srv);

    // Logs of the checkout trace go to log blocks in the bucket.
    const r = await fetch(`http://127.0.0.1:${srv.otlp}/v1/logs`, { method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ resourceLogs: [{ resource: { attributes: [{ key: 'service.name', value: { stringValue: 'checkout' } }] },
        scopeLogs: [{ logRecords: [{ timeUnixNano: String(nowNs()), severityText: 'ERROR', traceId,
          spanId: hex(16), body: { stringValue: 'card declined' } }] }] }] }) });
    assert.equal(r.status, 200);
    await waitFor('a log block in the bucket', () => bucketKeys().some((k) => /^team-a\/log-blocks\/single-tenant\/.+\/meta\.json$/.test(k)), srv);
    const st = await srv.stop();
    assert.equal(st.code, 0, srv.log);
  } finally {
    await srv.stop();
  }

  // A second server, its data directory empty: everything comes from the bucket.
  const fresh = serverWith('s3-b', s3yaml('team-a/'));
  await fresh.start();
  try {
    assert.match(fresh.log, /block\(s\) opened/);
    await checkTrace(fresh, traceId, sent);
    assert.deepEqual(await spanCount(fresh, tid), { status: 200, n: 2, names: ['first', 'second'] });
    const q = new URLSearchParams({ q: '{ name = "second" }', start: String(Math.floor(Date.now() / 1000) - 3600),
      end: String(Math.floor(Date.now() / 1000) + 60) });
    const found = await (await fetch(fresh.url(`/api/search?${q}`))).json();
    assert.deepEqual(found.traces.map((t) => t.traceID.padStart(32, '0')), [tid]);
    const logs = await (await fetch(fresh.url(`/api/traces/${traceId}/logs`))).json();
    const lines = logs.data.result.flatMap((s) => s.values.map((v) => v[1]));
    assert.ok(lines.some((l) => l.includes('card declined')), JSON.stringify(logs));
    // Another prefix in the same bucket is another store.
    const other = serverWith('s3-c', s3yaml('team-b/'));
    await other.start();
    try {
      assert.equal((await fetch(other.url(`/api/traces/${traceId}`))).status, 404);
    } finally {
      await other.stop();
    }
  } finally {
    await fresh.stop();
  }
});

test('two servers share one bucket: each answers what the other wrote; one compacts, the other follows', async () => {
  const shared = (compactor) => s3yaml('shared/', `head:\n  flush_interval: 1s\nblocks:\n  compaction_interval: 1s\n  compactor: ${compactor}\n`)
    .replace('list_page_size: 2', 'list_page_size: 2\n    poll_interval: 1s');
  const a = serverWith('s3-share-a', shared(true)), b = serverWith('s3-share-b', shared(false));
  try {
    await a.start();
    await b.start();
    const t1 = hex(32), t2 = hex(32), t3 = hex(32);
    assert.equal((await postJson(a, jsonRequest([span(t1, hex(16), 'a-only')], 'svc-a'))).status, 200);
    assert.equal((await postJson(b, jsonRequest([span(t2, hex(16), 'b-only')], 'svc-b'))).status, 200);
    assert.equal((await postJson(a, jsonRequest([span(t3, hex(16), 'half-a')], 'svc-a'))).status, 200);
    assert.equal((await postJson(b, jsonRequest([span(t3, hex(16), 'half-b')], 'svc-b'))).status, 200);
    const want = { [t1]: ['a-only'], [t2]: ['b-only'], [t3]: ['half-a', 'half-b'] };
    const answersAll = async (srv) => {
      for (const [t, names] of Object.entries(want)) {
        const got = await spanCount(srv, t);
        if (got.status !== 200 || JSON.stringify(got.names) !== JSON.stringify(names)) return false;
      }
      return true;
    };
    await waitFor('A answering B\'s spans', () => answersAll(a), a, 30000);
    await waitFor('B answering A\'s spans', () => answersAll(b), b, 30000);
    // A merges every block, B's included, and deletes the inputs; B drops them on its next poll.
    await waitFor('one compacted block in the bucket', async () => (await metric(a, 'tracewire_head_spans')) === 0 &&
      bucketKeys().filter((k) => k.startsWith('shared/blocks/') && k.endsWith('/meta.json')).length === 1, a, 30000);
    await waitFor('B following the compaction', async () =>
      (await metric(b, 'tracewire_blocklist_changes_total{store="traces",change="removed"}')) >= 1 &&
      (await metric(b, 'tracewire_blocks')) === 1, b, 30000);
    assert.ok(await answersAll(b), 'B lost spans after the compaction');
    assert.ok(await answersAll(a), 'A lost spans after the compaction');
    assert.equal(await metric(b, 'tracewire_compactions_total{result="ok"}'), 0);
    assert.ok((await metric(a, 'tracewire_compactions_total{result="ok"}')) >= 1);
    assert.ok((await metric(b, 'tracewire_blocklist_polls_total{store="traces",result="ok"}')) >= 1);
    assert.doesNotMatch(b.log, /polling the shared store failed/);
  } finally {
    await a.stop();
    await b.stop();
  }
});

test('a missing bucket, a wrong key or a half-configured backend stops the start with the reason', async () => {
  const cases = [
    [s3yaml('x/').replace('bucket: traces', 'bucket: no-such-bucket'), /NoSuchBucket/],
    [s3yaml('x/').replace('access_key: S3RVER', 'access_key: WRONG'), /InvalidAccessKeyId/],
    ['storage:\n  backend: s3\n  s3:\n    bucket: traces\n', /storage\.s3\.endpoint is not set/],
    ['storage:\n  backend: disk\n', /storage\.backend: "disk" is not local or s3/],
    ['storage:\n  s3:\n    bucket: traces\n', /storage\.s3 is set but storage\.backend is local/],
    [s3yaml('x').replace('list_page_size: 2', ''), /storage\.s3\.prefix "x": must end in '\/'/],
    [s3yaml('a//b/'), /storage\.s3\.prefix "a\/\/b\/": must end in '\/' and be a valid key path/],
  ];
  // --check names where the blocks will go without contacting the bucket.
  const dir = tempDir('s3-check'), cfg = join(dir, 'c.yaml');
  writeFileSync(cfg, s3yaml('team-a/').replace('bucket: traces', 'bucket: not-yet-created'));
  const chk = spawnSync(process.env.TW_SERVER, ['serve', '--config', cfg, '--check', '--data-dir', join(dir, 'd')],
    { encoding: 'utf8' });
  assert.equal(chk.status, 0, chk.stderr);
  assert.match(chk.stdout, /^storage: blocks in s3:\/\/not-yet-created\/team-a\/blocks\/ at http:\/\/127\.0\.0\.1:\d+ /m);
  for (const [yaml, want] of cases) {
    const srv = serverWith('s3-bad', yaml);
    await assert.rejects(srv.start(), (e) => { assert.match(`${e.message}\n${srv.log}`, want); return true; },
      `started with:\n${yaml}`);
    await srv.stop();
  }
});
