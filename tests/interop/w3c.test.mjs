// w3c.test.mjs — the W3C Trace Context test suite's protocol, driven from
// node against examples/w3c_service (TW_W3C_SERVICE names the binary).
//
// The suite (w3c/trace-context, test/test.py) POSTs to the service
//   POST /test  + the trace headers under test
//   [{"url": "<harness>/callback/<scope>.<n>", "arguments": [...]}, ...]
// and the service must POST `arguments` to each url with its own trace
// context; the harness then checks the headers of those callbacks. This file
// plays the harness: a local HTTP server records the callbacks, and each
// test sends one request (over a raw socket, so header casing, duplicated
// lines and whitespace reach the service exactly as written) and asserts
// what the suite asserts for that case, plus the spec's rules the suite
// leaves implicit (a restarted trace drops the tracestate; a propagated
// tracestate stays within 32 members and 512 characters).
//
// Everything listens on and connects to 127.0.0.1 only.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import http from 'node:http';
import net from 'node:net';

const BIN = process.env.TW_W3C_SERVICE;
if (!BIN) throw new Error('TW_W3C_SERVICE must name the w3c_service binary (ctest sets it)');

const HOST = '127.0.0.1';
const TIMEOUT_MS = 10000;

// ---- the harness: a callback server ------------------------------------------

const callbacks = new Map(); // "scope.n" -> { headers: [[name, value]...], body }
let harness;
let harnessPort;

function startHarness() {
  harness = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const m = /^\/callback\/([^/]+)$/.exec(req.url);
      if (req.method !== 'POST' || !m) {
        res.writeHead(404).end();
        return;
      }
      const headers = [];
      for (let i = 0; i < req.rawHeaders.length; i += 2) headers.push([req.rawHeaders[i], req.rawHeaders[i + 1]]);
      let body;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch (e) {
        body = { unparsable: Buffer.concat(chunks).toString('utf8') };
      }
      callbacks.set(m[1], { headers, body });
      res.writeHead(200, { 'Content-Type': 'application/json' }).end('null');
    });
  });
  harness.listen(0, HOST);
  return once(harness, 'listening').then(() => { harnessPort = harness.address().port; });
}

// ---- the service under test ------------------------------------------------------

let service;
let servicePort;
let serviceStderr = '';

async function startService() {
  service = spawn(BIN, ['0'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, OTEL_TRACES_EXPORTER: 'none', OTEL_TRACES_SAMPLER: 'parentbased_always_on' },
  });
  service.stderr.setEncoding('utf8');
  service.stderr.on('data', (d) => { serviceStderr += d; });
  service.stdout.setEncoding('utf8');
  let out = '';
  servicePort = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`w3c_service did not start:\n${out}${serviceStderr}`)), TIMEOUT_MS);
    service.stdout.on('data', (d) => {
      out += d;
      const m = /listening on http:\/\/127\.0\.0\.1:(\d+)\/test/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
    service.on('exit', (code, sig) => {
      clearTimeout(timer);
      reject(new Error(`w3c_service exited (${code ?? sig}) before listening:\n${out}${serviceStderr}`));
    });
  });
}

/* One raw HTTP/1.1 exchange with the service; resolves to { status, body }. */
function rawRequest(method, path, headers, body) {
  const head = [
    `${method} ${path} HTTP/1.1`,
    `Host: ${HOST}:${servicePort}`,
    'Accept: application/json',
    'Content-Type: application/json',
    `Content-Length: ${Buffer.byteLength(body)}`,
    'Connection: close',
    ...headers.map(([k, v]) => `${k}: ${v}`),
  ].join('\r\n');
  return new Promise((resolve, reject) => {
    const sock = net.connect(servicePort, HOST);
    const chunks = [];
    sock.setTimeout(TIMEOUT_MS, () => sock.destroy(new Error(`no answer from w3c_service in ${TIMEOUT_MS} ms`)));
    sock.on('data', (c) => chunks.push(c));
    sock.on('error', reject);
    sock.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(text);
      if (!m) return reject(new Error(`not an HTTP response: ${JSON.stringify(text.slice(0, 200))}`));
      const sep = text.indexOf('\r\n\r\n');
      return resolve({ status: Number(m[1]), body: sep < 0 ? '' : text.slice(sep + 4) });
    });
    sock.end(`${head}\r\n\r\n${body}`);
  });
}

let scopeSeq = 0;

/* What the suite's make_request does: ask for `count` callbacks and return
 * them in order, each { headers, body }. */
async function makeRequest(headers, count = 1, args = () => []) {
  const scope = `s${++scopeSeq}`;
  const actions = Array.from({ length: count }, (_, i) => ({
    url: `http://${HOST}:${harnessPort}/callback/${scope}.${i}`,
    arguments: args(i),
  }));
  const r = await rawRequest('POST', '/test', headers, JSON.stringify(actions));
  assert.equal(r.status, 200, `w3c_service answered ${r.status}: ${r.body}`);
  return actions.map((_, i) => {
    const cb = callbacks.get(`${scope}.${i}`);
    assert.ok(cb, `the service made no callback ${i} to the harness (headers sent: ${JSON.stringify(headers)})`);
    callbacks.delete(`${scope}.${i}`);
    return cb;
  });
}

// ---- reading the callbacks as the suite does ----------------------------------------

const TRACEPARENT_RE = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;
const KEY = '(?:[a-z][_0-9a-z\\-*/]{0,255}|[0-9a-z][_0-9a-z\\-*/]{0,240}@[a-z][_0-9a-z\\-*/]{0,13})';
const VALUE = '[\\x20-\\x2b\\x2d-\\x3c\\x3e-\\x7e]{0,255}[\\x21-\\x2b\\x2d-\\x3c\\x3e-\\x7e]';
const MEMBER_RE = new RegExp(`^(${KEY})=(${VALUE})$`);

function traceparentOf(headers) {
  const lines = headers.filter(([k]) => k.toLowerCase() === 'traceparent');
  assert.equal(lines.length, 1, `expected one traceparent header, got ${JSON.stringify(lines)}`);
  const m = TRACEPARENT_RE.exec(lines[0][1]);
  assert.ok(m, `malformed outgoing traceparent ${JSON.stringify(lines[0][1])}`);
  assert.equal(m[1], '00', 'the outgoing traceparent has the version this spec defines');
  assert.notEqual(m[2], '0'.repeat(32), 'all-zero trace id sent');
  assert.notEqual(m[3], '0'.repeat(16), 'all-zero parent id sent');
  return { traceId: m[2], parentId: m[3], flags: parseInt(m[4], 16) };
}

/* All tracestate lines combined, every member well-formed, as an ordered Map. */
function tracestateOf(headers) {
  const ts = new Map();
  const lines = headers.filter(([k]) => k.toLowerCase() === 'tracestate').map(([, v]) => v);
  for (const line of lines) {
    for (const member of line.split(/[ \t]*,[ \t]*/)) {
      if (!member) continue;
      const m = MEMBER_RE.exec(member);
      assert.ok(m, `malformed outgoing tracestate member ${JSON.stringify(member)}`);
      assert.ok(!ts.has(m[1]), `duplicate key ${m[1]} in the outgoing tracestate`);
      ts.set(m[1], m[2]);
    }
  }
  const text = [...ts].map(([k, v]) => `${k}=${v}`).join(',');
  assert.ok(ts.size <= 32, `outgoing tracestate has ${ts.size} members`);
  assert.ok(text.length <= 512, `outgoing tracestate is ${text.length} characters long`);
  return ts;
}

async function single(headers) {
  const [cb] = await makeRequest(headers);
  assert.deepEqual(cb.body, [], 'the callback carries the (empty) arguments');
  return { tp: traceparentOf(cb.headers), ts: tracestateOf(cb.headers) };
}

// ---- expectations -------------------------------------------------------------------

const T = '12345678901234567890123456789012';
const S = '1234567890123456';
const TP01 = `00-${T}-${S}-01`;
const TP00 = `00-${T}-${S}-00`;

/* The incoming trace continues: same trace id, a new parent id, the
 * incoming sampled flag (parentbased_always_on follows the caller). */
async function expectContinued(headers, incomingFlags) {
  const { tp, ts } = await single(headers);
  assert.equal(tp.traceId, T, 'the trace id is kept');
  assert.notEqual(tp.parentId, S, 'the parent id is the service\'s own span');
  assert.equal(tp.flags & 1, incomingFlags & 1, 'the sampled flag follows the caller');
  return { tp, ts };
}

/* The incoming traceparent is invalid: a new trace, and no tracestate
 * (Trace Context §Mutating the traceparent Field, "Restart trace": "Vendors
 * SHOULD clean up tracestate collection on traceparent restart"). */
async function expectRestarted(headers, ...oldIds) {
  const { tp, ts } = await single(headers);
  for (const id of [T, ...oldIds]) assert.notEqual(tp.traceId, id, 'a new trace id');
  assert.equal(ts.size, 0, 'no tracestate on a restarted trace');
  return { tp, ts };
}

const tp = (v) => [['traceparent', v]];
const ts = (...values) => [['traceparent', TP00], ...values.map((v) => ['tracestate', v])];

before(async () => {
  await startHarness();
  await startService();
});

after(() => {
  if (service && service.exitCode === null && service.signalCode === null) service.kill('SIGKILL');
  if (harness) harness.close();
});

// ---- traceparent ------------------------------------------------------------------------

test('no traceparent: a new, valid traceparent', async () => {
  const { ts: state } = await single([]);
  assert.equal(state.size, 0);
});
test('traceparent sampled: trace id kept, new parent id', () => expectContinued(tp(TP01), 1));
test('traceparent not sampled: trace id kept, not sampled', () => expectContinued(tp(TP00), 0));
test('traceparent random flag 03: sampled and random kept', async () => {
  const { tp: out } = await expectContinued(tp(`00-${T}-${S}-03`), 3);
  // Trace Context level 2 §random-trace-id flag: set when the trace id is
  // random; the trace id is unchanged, so the flag is too.
  assert.equal(out.flags & 2, 2);
});
for (const name of ['TraceParent', 'TrAcEpArEnT', 'TRACEPARENT']) {
  test(`traceparent header name ${name}`, () => expectContinued([[name, TP01]], 1));
}
for (const name of ['trace-parent', 'trace.parent']) {
  test(`wrong header name ${name}: new trace`, () => expectRestarted([[name, TP01]]));
}
test('traceparent duplicated: new trace', () =>
  expectRestarted([['traceparent', `00-${T.slice(0, 31)}1-${S}-01`], ['traceparent', TP01]], `${T.slice(0, 31)}1`));
test('version 00 with a trailing dot: new trace', () => expectRestarted(tp(`${TP01}.`)));
test('version 00 with extra fields: new trace', () => expectRestarted(tp(`${TP01}-what-the-future-will-be-like`)));
test('future version cc: trace id kept', () => expectContinued(tp(`cc-${T}-${S}-01`), 1));
test('future version cc with extra fields: trace id kept', () =>
  expectContinued(tp(`cc-${T}-${S}-01-what-the-future-will-be-like`), 1));
test('future version cc with a dot after the flags: new trace', () =>
  expectRestarted(tp(`cc-${T}-${S}-01.what-the-future-will-be-like`)));
test('version ff: new trace', () => expectRestarted(tp(`ff-${T}-${S}-01`)));
test('uppercase trace id: new trace', () => {
  const upper = '4BF92F3577B34DA6A3CE929D0E0E4736';
  return expectRestarted(tp(`00-${upper}-${S}-01`), upper.toLowerCase());
});
test('all-zero trace id: new trace', () => expectRestarted(tp(`00-${'0'.repeat(32)}-${S}-01`)));
test('all-zero parent id: new trace', () => expectRestarted(tp(`00-${T}-${'0'.repeat(16)}-01`)));

const badTraceparents = {
  'version illegal character 1': `.0-${T}-${S}-01`,
  'version illegal character 2': `0.-${T}-${S}-01`,
  'version too long': `000-${T}-${S}-01`,
  'version much too long': `0000-${T}-${S}-01`,
  'version too short': `0-${T}-${S}-01`,
  'trace id illegal character first': `00-.${T.slice(1)}-${S}-01`,
  'trace id illegal character last': `00-${T.slice(0, 31)}.-${S}-01`,
  'trace id too long': `00-${T}3-${S}-01`,
  'trace id too short': `00-${T.slice(0, 31)}-${S}-01`,
  'parent id illegal character first': `00-${T}-.${S.slice(1)}-01`,
  'parent id illegal character last': `00-${T}-${S.slice(0, 15)}.-01`,
  'parent id too long': `00-${T}-${S}7-01`,
  'parent id too short': `00-${T}-${S.slice(0, 15)}-01`,
  'flags illegal character 1': `00-${T}-${S}-.0`,
  'flags illegal character 2': `00-${T}-${S}-0.`,
  'flags too long': `00-${T}-${S}-001`,
  'flags too short': `00-${T}-${S}-1`,
};
for (const [name, value] of Object.entries(badTraceparents)) {
  // The suite also asserts the new trace id differs from the garbled one
  // (e.g. "123...0123" for a 33-digit id): any 32-digit window of it.
  const windows = value.split('-')[1].length > 32 ? [value.split('-')[1].slice(1, 33)] : [];
  test(`${name}: new trace`, () => expectRestarted(tp(value), ...windows));
}

const ows = {
  'leading space': ` ${TP01}`,
  'leading tab': `\t${TP01}`,
  'trailing space': `${TP01} `,
  'trailing tab': `${TP01}\t`,
  'tab and space at both ends': `\t ${TP01} \t`,
};
for (const [name, value] of Object.entries(ows)) {
  test(`traceparent OWS, ${name}: trace id kept`, () => expectContinued(tp(value), 1));
}

// ---- tracestate ---------------------------------------------------------------------------

test('tracestate without traceparent: discarded', async () => {
  const a = await single([['tracestate', 'foo=1']]);
  const b = await single([['tracestate', 'foo=1,bar=2']]);
  assert.equal(a.ts.size, b.ts.size);
  assert.equal(a.ts.size, 0);
});
test('tracestate with an invalid traceparent: discarded', () =>
  expectRestarted([['traceparent', `00-${'0'.repeat(32)}-${S}-01`], ['tracestate', 'foo=1']]));
test('tracestate and traceparent: inherited', async () => {
  const { ts: state } = await expectContinued(ts('foo=1,bar=2'), 0);
  assert.equal(state.get('foo'), '1');
  assert.equal(state.get('bar'), '2');
});
for (const name of ['trace-state', 'trace.state']) {
  test(`wrong header name ${name}: discarded`, async () => {
    const { ts: state } = await single([['traceparent', TP00], [name, 'foo=1']]);
    assert.ok(!state.has('foo'));
  });
}
for (const name of ['TraceState', 'TrAcEsTaTe', 'TRACESTATE']) {
  test(`tracestate header name ${name}: inherited`, async () => {
    const { ts: state } = await single([['traceparent', TP00], [name, 'foo=1']]);
    assert.equal(state.get('foo'), '1');
  });
}
test('empty tracestate: no empty header sent', async () => {
  const [cb] = await makeRequest(ts(''));
  assert.equal(traceparentOf(cb.headers).traceId, T);
  // Trace Context §tracestate: vendors "SHOULD avoid sending" empty tracestate headers.
  for (const [k, v] of cb.headers) if (k.toLowerCase() === 'tracestate') assert.notEqual(v.trim(), '');
});
test('empty tracestate line after a member', async () => {
  const { ts: state } = await expectContinued(ts('foo=1', ''), 0);
  assert.equal(state.get('foo'), '1');
});
test('empty tracestate line before a member', async () => {
  const { ts: state } = await expectContinued(ts('', 'foo=1'), 0);
  assert.equal(state.get('foo'), '1');
});
test('multiple tracestate headers: combined in order', async () => {
  const { ts: state } = await expectContinued(ts('foo=1,bar=2', 'rojo=1,congo=2', 'baz=3'), 0);
  assert.deepEqual([...state], [['foo', '1'], ['bar', '2'], ['rojo', '1'], ['congo', '2'], ['baz', '3']]);
});

// The suite's STRICT_LEVEL 2 cases: an invalid tracestate is discarded. The
// suite asserts that the named keys are gone; tracewire drops the whole
// header (a documented choice), so the outgoing tracestate is empty.
async function expectDiscarded(headers, ...gone) {
  const { ts: state } = await expectContinued(headers, 0);
  for (const k of gone) assert.ok(!state.has(k), `${k} should have been discarded`);
  assert.equal(state.size, 0, 'tracewire discards an invalid tracestate whole');
}
test('duplicate keys, same value: discarded', () => expectDiscarded(ts('foo=1,foo=1'), 'foo'));
test('duplicate keys, different values: discarded', () => expectDiscarded(ts('foo=1,foo=2'), 'foo'));
test('duplicate keys over two lines, same value: discarded', () => expectDiscarded(ts('foo=1', 'foo=1'), 'foo'));
test('duplicate keys over two lines, different values: discarded', () => expectDiscarded(ts('foo=1', 'foo=2'), 'foo'));
test('key with a space: discarded', () => expectDiscarded(ts('foo =1'), 'foo '));
test('uppercase key: discarded', () => expectDiscarded(ts('FOO=1'), 'FOO'));
test('key with a dot: discarded', () => expectDiscarded(ts('foo.bar=1'), 'foo.bar'));
test('vendor key, empty system id: discarded', () => expectDiscarded(ts('foo@=1,bar=2'), 'bar'));
test('vendor key, empty tenant id: discarded', () => expectDiscarded(ts('@foo=1,bar=2'), 'bar'));
test('vendor key, two @ together: discarded', () => expectDiscarded(ts('foo@@bar=1,bar=2'), 'bar'));
test('vendor key, two @ apart: discarded', () => expectDiscarded(ts('foo@bar@baz=1,bar=2'), 'bar'));
test('key of 257 characters: discarded', () => expectDiscarded(ts('foo=1', `${'z'.repeat(257)}=1`), 'foo'));
test('tenant id of 242 characters: discarded', () => expectDiscarded(ts('foo=1', `${'t'.repeat(242)}@v=1`), 'foo'));
test('system id of 15 characters: discarded', () => expectDiscarded(ts('foo=1', `t@${'v'.repeat(15)}=1`), 'foo'));
test('value with =: discarded', () => expectDiscarded(ts('foo=bar=baz'), 'foo'));
test('empty value: discarded', () => expectDiscarded(ts('foo=,bar=3'), 'foo', 'bar'));

test('key of 256 characters: inherited', async () => {
  const { ts: state } = await expectContinued(ts('foo=1', `${'z'.repeat(256)}=1`), 0);
  assert.equal(state.get('foo'), '1');
});
test('tenant 241 and system 14 characters: inherited', async () => {
  const { ts: state } = await expectContinued(ts('foo=1', `${'t'.repeat(241)}@${'v'.repeat(14)}=1`), 0);
  assert.equal(state.get('foo'), '1');
});

const KEY_CHARS = 'abcdefghijklmnopqrstuvwxyz0123456789_-*/';
const VALUE_CHARS = [[0x20, 0x2b], [0x2d, 0x3c], [0x3e, 0x7e]]
  .map(([a, b]) => String.fromCharCode(...Array.from({ length: b - a + 1 }, (_, i) => a + i))).join('');
for (const key of [KEY_CHARS, `${KEY_CHARS}@a-z0-9_-*/`]) {
  test(`all allowed characters${key.includes('@') ? ', vendor key' : ''}: inherited`, async () => {
    const { ts: state } = await expectContinued(ts(`${key}=${VALUE_CHARS}`), 0);
    assert.equal(state.get(key), VALUE_CHARS);
  });
}

const owsTracestate = {
  'spaces and tabs around commas': 'foo=1 \t , \t bar=2, \t baz=3',
  'tabs and spaces around commas': 'foo=1\t \t,\t \tbar=2,\t \tbaz=3',
};
for (const [name, value] of Object.entries(owsTracestate)) {
  test(`tracestate OWS, ${name}`, async () => {
    const { ts: state } = await expectContinued(ts(value), 0);
    assert.deepEqual([...state], [['foo', '1'], ['bar', '2'], ['baz', '3']]);
  });
}
for (const value of [' foo=1', '\tfoo=1', 'foo=1 ', 'foo=1\t', '\t foo=1 \t']) {
  test(`tracestate OWS ${JSON.stringify(value)}`, async () => {
    const { ts: state } = await expectContinued(ts(value), 0);
    assert.equal(state.get('foo'), '1');
  });
}

const bars = (from, to) => Array.from({ length: to - from + 1 }, (_, i) => {
  const n = String(from + i).padStart(2, '0');
  return `bar${n}=${n}`;
}).join(',');
test('32 members: inherited', async () => {
  const { ts: state } = await expectContinued(ts(bars(1, 10), bars(11, 20), bars(21, 30), bars(31, 32)), 0);
  assert.equal(state.get('bar01'), '01');
  assert.equal(state.size, 32);
});
test('33 members: discarded', () => expectDiscarded(ts(bars(1, 10), bars(11, 20), bars(21, 30), bars(31, 33)), 'bar01'));

test('longer than 512 characters: truncated by whole entries from the right', async () => {
  // Trace Context §tracestate Limits: truncate whole entries, entries longer
  // than 128 characters first, then from the end. Eight entries of 104.
  const entries = Array.from({ length: 8 }, (_, i) => `k${i}=${'x'.repeat(101)}`);
  const { ts: state } = await expectContinued(ts(entries.join(',')), 0);
  assert.deepEqual([...state.keys()], ['k0', 'k1', 'k2', 'k3']);
});
test('longer than 512 characters with a long entry: the long entry goes first', async () => {
  const entries = [`big=${'x'.repeat(198)}`, ...Array.from({ length: 5 }, (_, i) => `k${i}=${'x'.repeat(101)}`)];
  const { ts: state } = await expectContinued(ts(entries.join(',')), 0);
  assert.deepEqual([...state.keys()], ['k0', 'k1', 'k2', 'k3']);
});

// ---- several callbacks (the suite's AdvancedTest) ---------------------------------------------

test('three callbacks with a valid traceparent: one trace id, three parent ids', async () => {
  const cbs = await makeRequest(tp(TP01), 3);
  const tps = cbs.map((cb) => traceparentOf(cb.headers));
  assert.deepEqual(new Set(tps.map((t) => t.traceId)), new Set([T]));
  assert.equal(new Set(tps.map((t) => t.parentId)).size, 3);
});
test('three callbacks without traceparent: three parent ids', async () => {
  const tps = (await makeRequest([], 3)).map((cb) => traceparentOf(cb.headers));
  assert.equal(new Set(tps.map((t) => t.parentId)).size, 3);
  assert.equal(new Set(tps.map((t) => t.traceId)).size, 1, 'all from one server span');
});
test('three callbacks with an invalid traceparent: new trace ids, three parent ids', async () => {
  const tps = (await makeRequest(tp(`00-${'0'.repeat(32)}-${S}-01`), 3)).map((cb) => traceparentOf(cb.headers));
  assert.ok(!tps.some((t) => t.traceId === '0'.repeat(32)));
  assert.equal(new Set(tps.map((t) => t.parentId)).size, 3);
});

// ---- the service's side of the protocol -----------------------------------------------------

test('arguments are forwarded as JSON', async () => {
  const nested = [{ url: `http://${HOST}:1/never-called`, arguments: [] }, 'é ✓', 1.5, null, { a: [true, false] }];
  const [cb] = await makeRequest(tp(TP01), 1, () => nested);
  assert.deepEqual(cb.body, nested);
  assert.ok(cb.headers.some(([k, v]) => k.toLowerCase() === 'content-type' && v === 'application/json'));
});
test('missing or null arguments are forwarded as []', async () => {
  const scope = `s${++scopeSeq}`;
  const url = (i) => `http://${HOST}:${harnessPort}/callback/${scope}.${i}`;
  const r = await rawRequest('POST', '/test', [], JSON.stringify([{ url: url(0) }, { url: url(1), arguments: null }]));
  assert.equal(r.status, 200);
  assert.deepEqual(callbacks.get(`${scope}.0`).body, []);
  assert.deepEqual(callbacks.get(`${scope}.1`).body, []);
});
test('a body that is not JSON: 400', async () => {
  assert.equal((await rawRequest('POST', '/test', [], '[{')).status, 400);
});
test('an element without url: 400', async () => {
  assert.equal((await rawRequest('POST', '/test', [], '[{"arguments":[]}]')).status, 400);
});
test('GET /test: 405', async () => {
  assert.equal((await rawRequest('GET', '/test', [], '')).status, 405);
});
test('another path: 404', async () => {
  assert.equal((await rawRequest('POST', '/other', [], '[]')).status, 404);
});

// Last: the service stops on SIGTERM with status 0 and nothing alarming on
// stderr (the sanitizers report there, and leaks are checked at exit).
test('w3c_service exits cleanly on SIGTERM', async () => {
  const exited = once(service, 'exit');
  service.kill('SIGTERM');
  const [code, signal] = await exited;
  assert.equal(signal, null, `killed by ${signal}\n${serviceStderr}`);
  assert.equal(code, 0, `exit status ${code}\n${serviceStderr}`);
  assert.doesNotMatch(serviceStderr, /Sanitizer|runtime error|callback to .* failed/, serviceStderr);
});
