// rd_msglayer.test.js - relay-udp's message layer as a raw UDP peer sees it
// (issue 2: "duplicate CON requests are not processed twice"; RFC 7252
// §4.5 deduplication, §4.3 CoAP ping). Datagrams are built by hand so a
// retransmission is byte-identical, which no CoAP library lets us do.
// Run by tests/e2e/run_node.sh with RD_PORT set.
'use strict';

const { test, after } = require('node:test');
const assert = require('node:assert/strict');
const dgram = require('node:dgram');
const coap = require('coap');

const PORT = Number(process.env.RD_PORT);
if (!PORT) {
  throw new Error('RD_PORT is not set (run through tests/e2e/run_node.sh)');
}
const agent = new coap.Agent({ type: 'udp4' });
after(() => agent.close());

const ACK = 2;
const RST = 3;

// A CON request: method code, message id, token, Uri-Path segments.
function encode(code, mid, token, segments) {
  const parts = [Buffer.from([0x40 | token.length, code, mid >> 8, mid & 0xff]), token];
  let first = true;
  for (const seg of segments) {
    const v = Buffer.from(seg);
    assert.ok(v.length < 13);
    parts.push(Buffer.from([((first ? 11 : 0) << 4) | v.length]), v);
    first = false;
  }
  return Buffer.concat(parts);
}

function decode(buf) {
  return {
    type: (buf[0] >> 4) & 3,
    code: `${buf[1] >> 5}.${String(buf[1] & 0x1f).padStart(2, '0')}`,
    mid: buf.readUInt16BE(2),
    token: buf.subarray(4, 4 + (buf[0] & 0x0f)),
  };
}

// Send one datagram from sock, resolve with the first answer (bounded).
function exchange(sock, buf) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { sock.removeAllListeners('message'); reject(new Error('no answer')); }, 10000);
    sock.once('message', (msg) => { clearTimeout(timer); resolve(decode(msg)); });
    sock.send(buf, PORT, '127.0.0.1');
  });
}

function register(ep) {
  return new Promise((resolve, reject) => {
    const req = coap.request({ hostname: '127.0.0.1', port: PORT, method: 'POST',
      pathname: '/rd', query: `ep=${ep}`, agent });
    req.setOption('Content-Format', 'application/link-format');
    req.write('</x>');
    req.on('response', (res) => resolve(res.options.filter((o) => o.name === 'Location-Path')
      .map((o) => o.value.toString())));
    req.on('error', reject);
    req.end();
  });
}

test('a retransmitted DELETE is answered again, not executed twice', async () => {
  const segs = await register('dedup1');
  assert.equal(segs[0], 'reg');
  const sock = dgram.createSocket('udp4');
  await new Promise((r) => sock.bind(0, '127.0.0.1', r));
  try {
    const del = encode(0x04, 0x1234, Buffer.from([0xa1, 0xb2]), segs);
    const first = await exchange(sock, del);
    assert.equal(first.type, ACK);
    assert.equal(first.mid, 0x1234);
    assert.equal(first.code, '2.02');
    assert.deepEqual(first.token, Buffer.from([0xa1, 0xb2]));
    const again = await exchange(sock, del); // byte-identical retransmission
    assert.equal(again.mid, 0x1234);
    assert.equal(again.code, '2.02', 'the duplicate gets the same answer (not 4.04)');
    const fresh = await exchange(sock, encode(0x04, 0x1235, Buffer.from([0xa3]), segs));
    assert.equal(fresh.code, '4.04', 'a new DELETE (new message id) finds it gone');
  } finally {
    sock.close();
  }
});

test('a CoAP ping (empty CON) gets a RST', async () => {
  const sock = dgram.createSocket('udp4');
  await new Promise((r) => sock.bind(0, '127.0.0.1', r));
  try {
    const ans = await exchange(sock, Buffer.from([0x40, 0x00, 0x77, 0x01]));
    assert.equal(ans.type, RST);
    assert.equal(ans.mid, 0x7701);
  } finally {
    sock.close();
  }
});

