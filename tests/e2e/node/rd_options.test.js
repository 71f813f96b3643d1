// rd_options.test.js - options the RD does not know (RFC 7252 §5.4.1): a
// request with an unrecognised critical option gets 4.02 Bad Option, an
// unrecognised elective one is ignored. Datagrams are built by hand: no CoAP
// library sends an option it does not know.
// Run by tests/e2e/run_node.sh with RD_PORT set.
'use strict';

const { test } = require('node:test');
const assert = require('node:assert/strict');
const dgram = require('node:dgram');

const PORT = Number(process.env.RD_PORT);
if (!PORT) {
  throw new Error('RD_PORT is not set (run through tests/e2e/run_node.sh)');
}

const ACK = 2;

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

test('a request with an unknown critical option gets 4.02', async () => {
  const sock = dgram.createSocket('udp4');
  await new Promise((r) => sock.bind(0, '127.0.0.1', r));
  try {
    // GET /.well-known/core plus option 65001 (odd = critical, unsafe, unknown)
    const base = encode(0x01, 0x4242, Buffer.from([0x01]), ['.well-known', 'core']);
    // option delta from 11 to 65001 = 64990: extended 2-byte delta (14)
    const opt = Buffer.from([0xe1, (64990 - 269) >> 8, (64990 - 269) & 0xff, 0x78]);
    const ans = await exchange(sock, Buffer.concat([base, opt]));
    assert.equal(ans.type, ACK);
    assert.equal(ans.code, '4.02');
  } finally {
    sock.close();
  }
});


test('a request with an unknown elective option is answered normally', async () => {
  const sock = dgram.createSocket('udp4');
  await new Promise((r) => sock.bind(0, '127.0.0.1', r));
  try {
    // option 65000 (even = elective): delta 64989 from Uri-Path
    const base = encode(0x01, 0x4243, Buffer.from([0x02]), ['.well-known', 'core']);
    const opt = Buffer.from([0xe1, (64989 - 269) >> 8, (64989 - 269) & 0xff, 0x78]);
    const ans = await exchange(sock, Buffer.concat([base, opt]));
    assert.equal(ans.type, ACK);
    assert.equal(ans.code, '2.05');
  } finally {
    sock.close();
  }
});
