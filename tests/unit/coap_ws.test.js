// coap_ws.test.js - unit test of www/coap-ws.js, the status page's CoAP over
// WebSockets client (RFC 8323 §4), run with node's own test runner (no
// packages): CTest test unit.coap_ws_js. Covers the codec (round trips,
// byte-exact encodings from RFC 8323's framing, every malformed case the
// decoder refuses), Block2 values, option formatting, and the client
// against a WebSocket test double: CSM first, Ping -> Pong, requests by
// token, Block2 reassembly, Observe notifications and cancel, Abort on a
// bad frame, every pending request failed when the connection drops.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const C = require(path.join(__dirname, '..', '..', 'www', 'coap-ws.js'));

const hex = (b) => C.toHex(b);
const bytes = (h) => Uint8Array.from(h.match(/../g).map((x) => parseInt(x, 16)));

test('encode: a GET with token and Uri-Path has no Length field (RFC 8323 §4.2)', () => {
  const m = C.encode({ code: C.CODE.GET, token: bytes('abcd'), options: [C.requestOptions({ path: '/rd-lookup/ep' })].flat() });
  // 0x02: Len 0, TKL 2; 0x01 GET; token; Uri-Path (11) "rd-lookup" (9), delta 0 "ep"
  assert.equal(hex(m), '0201abcd' + 'b9' + Buffer.from('rd-lookup').toString('hex') + '02' + Buffer.from('ep').toString('hex'));
});

test('encode: options are sorted and deltas use the extended nibbles', () => {
  const m = C.encode({
    code: C.CODE.GET,
    options: [
      { number: 65000, value: bytes('00ff') },
      { number: C.OPT.URI_HOST, value: 'a.proxy.localhost' },
      { number: 300, value: new Uint8Array(14) },
    ],
    payload: 'x',
  });
  const d = C.decode(m);
  assert.deepEqual(
    d.options.map((o) => o.number),
    [3, 300, 65000],
  );
  // 3 -> 300 is delta 297: nibble 14 with 297 - 269 = 28; length 14: nibble 13 with 1
  const i = 2 + 2 + 17; // header, option header (length 17: 13 + 4), "a.proxy.localhost"
  assert.equal(hex(m.slice(i, i + 4)), 'ed001c01');
  assert.equal(new TextDecoder().decode(d.payload), 'x');
});

test('round trip: every field survives encode -> decode', () => {
  const msg = {
    code: C.CODE.CONTENT,
    token: bytes('0102030405060708'),
    options: [
      { number: C.OPT.OBSERVE, value: C.encodeUint(0x123456) },
      { number: C.OPT.CONTENT_FORMAT, value: C.encodeUint(40) },
      { number: C.OPT.URI_QUERY, value: 'ep=a' },
      { number: C.OPT.URI_QUERY, value: 'd=b' },
      { number: C.OPT.BLOCK2, value: C.encodeBlock(5, true, 6) },
      { number: 2000, value: new Uint8Array(400).fill(7) },
    ],
    payload: new Uint8Array([0, 255, 1, 2]),
  };
  const d = C.decode(C.encode(msg));
  assert.equal(d.code, msg.code);
  assert.equal(hex(d.token), '0102030405060708');
  assert.equal(C.getUint(d, C.OPT.OBSERVE), 0x123456);
  assert.equal(C.getUint(d, C.OPT.CONTENT_FORMAT), 40);
  assert.deepEqual(
    C.getOpts(d, C.OPT.URI_QUERY).map((v) => new TextDecoder().decode(v)),
    ['ep=a', 'd=b'],
  );
  assert.deepEqual(C.decodeBlock(C.getOpt(d, C.OPT.BLOCK2)), { num: 5, more: true, szx: 6, size: 1024 });
  assert.equal(C.getOpt(d, 2000).length, 400);
  assert.equal(hex(d.payload), '00ff0102');
});

test('empty message, zero-length uint, signalling codes', () => {
  assert.equal(hex(C.encode({ code: C.CODE.PING })), '00e2');
  assert.equal(C.codeString(C.CODE.CSM), '7.01');
  assert.equal(C.codeString(C.decode(bytes('00a4')).code), '5.04');
  assert.equal(C.encodeUint(0).length, 0);
  assert.equal(C.decodeUint(new Uint8Array(0)), 0);
  assert.equal(hex(C.encodeUint(0x10000)), '010000');
});

test('decode refuses malformed messages', () => {
  const bad = {
    'one byte': '00',
    'Length nibble set (a TCP-framed message)': '1045',
    'token length 9': '0945010203040506070809',
    'token past the end': '044501',
    'reserved delta nibble 15': '0045f0',
    'reserved length nibble 15': '00450f',
    'extended delta past the end': '0045d0',
    'option value past the end': '004533aabb',
    'payload marker without payload': '0045ff',
  };
  for (const [what, h] of Object.entries(bad)) assert.throws(() => C.decode(bytes(h)), Error, what);
  assert.throws(() => C.encode({ code: 1, token: new Uint8Array(9) }), RangeError);
  assert.throws(() => C.encodeUint(-1), RangeError);
});

test('formatOption and isText show what the try-it panel shows', () => {
  assert.equal(C.formatOption({ number: 12, value: C.encodeUint(40) }), 'Content-Format: 40 (application/link-format)');
  assert.equal(C.formatOption({ number: 23, value: C.encodeBlock(2, false, 2) }), 'Block2: 2/0/64');
  assert.equal(C.formatOption({ number: 4, value: bytes('beef') }), 'ETag: 0xbeef');
  assert.equal(C.formatOption({ number: 11, value: new TextEncoder().encode('time') }), 'Uri-Path: time');
  assert.equal(C.formatOption({ number: 65001, value: new Uint8Array(0) }), 'option 65001: (empty)');
  assert.ok(C.isText(new TextEncoder().encode('héllo\nworld')));
  assert.ok(!C.isText(bytes('00ff10')));
  assert.ok(!C.isText(bytes('c328'))); // invalid UTF-8
  const dump = C.hexDump(Uint8Array.from({ length: 18 }, (_, i) => i));
  assert.equal(dump, '00 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f\n10 11\n(18 bytes, binary: shown as hex)');
});

test('requestOptions: Uri-Host, Observe, path segments, query, Accept', () => {
  const o = C.requestOptions({ host: 'alice.proxy.localhost', path: '/a%2Fb/c', query: 'x=1&y', observe: 0, accept: 0 });
  const d = C.decode(C.encode({ code: 1, options: o }));
  const s = (n) => C.getOpts(d, n).map((v) => new TextDecoder().decode(v));
  assert.deepEqual(s(C.OPT.URI_HOST), ['alice.proxy.localhost']);
  assert.deepEqual(s(C.OPT.URI_PATH), ['a/b', 'c']);
  assert.deepEqual(s(C.OPT.URI_QUERY), ['x=1', 'y']);
  assert.equal(C.getUint(d, C.OPT.OBSERVE), 0);
  assert.equal(C.getOpt(d, C.OPT.ACCEPT).length, 0);
});

// ---- the client against a WebSocket test double ----

class FakeWS {
  constructor(url, proto) {
    this.url = url;
    this.protocol = proto;
    this.sent = [];
    this.closed = null;
    FakeWS.last = this;
    setImmediate(() => this.onopen && this.onopen());
  }
  send(b) {
    this.sent.push(C.decode(b));
    if (this.onsend) this.onsend(this.sent[this.sent.length - 1]);
  }
  close(code, reason) {
    this.closed = { code, reason };
  }
  deliver(msg) {
    this.onmessage({ data: C.encode(msg).buffer });
  }
  drop(code) {
    this.onclose({ code: code || 1006, reason: '' });
  }
}

function client(opts) {
  return new C.Client('ws://relay.example/.well-known/coap', { WebSocket: FakeWS, timeoutMs: 2000, ...opts });
}

test('client: subprotocol coap, CSM is the first message, Ping gets a Pong', async () => {
  const c = client();
  await c.ready();
  const ws = FakeWS.last;
  assert.equal(ws.protocol, 'coap');
  assert.equal(ws.sent[0].code, C.CODE.CSM);
  assert.ok(C.getUint(ws.sent[0], C.SIG_OPT.MAX_MESSAGE_SIZE) >= 1152);
  ws.deliver({ code: C.CODE.CSM, options: [{ number: 2, value: C.encodeUint(16384) }] });
  assert.equal(c.peerCsm.maxMessageSize, 16384);
  ws.deliver({ code: C.CODE.PING, token: bytes('77') });
  const pong = ws.sent[ws.sent.length - 1];
  assert.equal(pong.code, C.CODE.PONG);
  assert.equal(hex(pong.token), '77');
  // our own Ping resolves on the Pong with its token
  ws.onsend = (m) => m.code === C.CODE.PING && setImmediate(() => ws.deliver({ code: C.CODE.PONG, token: m.token }));
  await c.ping();
});

test('client: responses are matched by token, Block2 bodies reassembled', async () => {
  const c = client();
  await c.ready();
  const ws = FakeWS.last;
  const body = 'x'.repeat(1024) + 'y'.repeat(1024) + 'z'.repeat(10);
  ws.onsend = (m) => {
    if (m.code !== C.CODE.GET) return;
    const b2 = C.getOpt(m, C.OPT.BLOCK2);
    const num = b2 ? C.decodeBlock(b2).num : 0;
    const chunk = body.slice(num * 1024, num * 1024 + 1024);
    setImmediate(() =>
      ws.deliver({
        code: C.CODE.CONTENT,
        token: m.token,
        options: [
          { number: C.OPT.CONTENT_FORMAT, value: C.encodeUint(40) },
          { number: C.OPT.BLOCK2, value: C.encodeBlock(num, (num + 1) * 1024 < body.length, 6) },
        ],
        payload: chunk,
      }),
    );
  };
  const r = await c.request({ path: '/rd-lookup/ep', host: 'rd.example' });
  assert.equal(r.codeText, '2.05');
  assert.equal(new TextDecoder().decode(r.payload), body);
  const gets = ws.sent.filter((m) => m.code === C.CODE.GET);
  assert.equal(gets.length, 3);
  assert.equal(new Set(gets.map((m) => hex(m.token))).size, 3, 'a new token per block request');
  assert.deepEqual(
    gets.map((m) => new TextDecoder().decode(C.getOpt(m, C.OPT.URI_HOST))),
    ['rd.example', 'rd.example', 'rd.example'],
  );
});

test('client: Observe delivers notifications in order until cancelled', async () => {
  const c = client();
  await c.ready();
  const ws = FakeWS.last;
  let obsReq;
  ws.onsend = (m) => {
    if (m.code === C.CODE.GET && C.getUint(m, C.OPT.OBSERVE) === 0) obsReq = m;
  };
  const got = [];
  let ended;
  const h = c.observe(
    { path: '/rd-lookup/ep' },
    (r) => got.push(new TextDecoder().decode(r.payload)),
    (why) => (ended = why),
  );
  await new Promise((r) => setImmediate(r));
  assert.ok(obsReq, 'GET with Observe 0 sent');
  for (let i = 1; i <= 3; i++)
    ws.deliver({ code: C.CODE.CONTENT, token: obsReq.token, options: [{ number: C.OPT.OBSERVE, value: C.encodeUint(i) }], payload: 'n' + i });
  await new Promise((r) => setTimeout(r, 10));
  assert.deepEqual(got, ['n1', 'n2', 'n3']);
  h.cancel();
  assert.equal(ended, 'cancelled');
  const dereg = ws.sent[ws.sent.length - 1];
  assert.equal(C.getUint(dereg, C.OPT.OBSERVE), 1, 'deregistration: Observe 1, same token');
  assert.equal(hex(dereg.token), hex(obsReq.token));
  ws.deliver({ code: C.CODE.CONTENT, token: obsReq.token, options: [{ number: C.OPT.OBSERVE, value: C.encodeUint(9) }], payload: 'late' });
  assert.deepEqual(got, ['n1', 'n2', 'n3']);
});

test('client: an answer without Observe ends the observation', async () => {
  const c = client();
  await c.ready();
  const ws = FakeWS.last;
  ws.onsend = (m) => m.code === C.CODE.GET && setImmediate(() => ws.deliver({ code: C.decode(bytes('0084')).code, token: m.token, payload: 'nope' }));
  const ended = await new Promise((resolve) => c.observe({ path: '/x' }, () => {}, resolve));
  assert.match(ended, /ended by the server \(4\.04\)/);
});

test('client: a dropped connection fails every pending request and reports closed', async () => {
  const c = client();
  const states = [];
  c.onstate = (s) => states.push(s);
  await c.ready();
  const p = c.request({ path: '/slow' });
  let ended;
  c.observe({ path: '/rd-lookup/ep' }, () => {}, (why) => (ended = why));
  FakeWS.last.drop(1006);
  await assert.rejects(p, /WebSocket closed \(1006\)/);
  await new Promise((r) => setImmediate(r));
  assert.match(ended, /WebSocket closed/);
  assert.deepEqual(states, ['open', 'closed']);
  await assert.rejects(c.request({ path: '/x' }), /not connected/);
});

test('client: a text frame or a malformed message gets an Abort and a close', async () => {
  for (const data of ['hello', bytes('1045').buffer]) {
    const c = client();
    await c.ready();
    const ws = FakeWS.last;
    ws.onmessage({ data });
    assert.equal(ws.sent[ws.sent.length - 1].code, C.CODE.ABORT);
    assert.ok(ws.closed);
    assert.equal(c.state, 'closed');
  }
});

test('client: a request unanswered within timeoutMs is rejected', async () => {
  const c = client({ timeoutMs: 50 });
  await c.ready();
  await assert.rejects(c.request({ path: '/never' }), /no answer within 50 ms/);
});
