// raw_udp.js - hand-built CoAP datagrams for the node tests that must control
// every byte (rd_msglayer: byte-identical retransmissions; rd_options:
// options no library sends). Owns: encoding a CON request, decoding an
// answer's header, one bounded exchange on a UDP socket, a socket bound for
// the length of one test. Talks to relay-udp on 127.0.0.1:RD_PORT (set by
// tests/e2e/run_node.sh).
'use strict';

const assert = require('node:assert/strict');
const dgram = require('node:dgram');

const ACK = 2;
const RST = 3;

// relay-udp's port from the harness (a test file is useless without it).
function rdPort() {
  const port = Number(process.env.RD_PORT);
  if (!port) {
    throw new Error('RD_PORT is not set (run through tests/e2e/run_node.sh)');
  }
  return port;
}

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

// Send one datagram from sock to relay-udp, resolve with the first answer
// (bounded: 10 s).
function exchange(sock, buf) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { sock.removeAllListeners('message'); reject(new Error('no answer')); }, 10000);
    sock.once('message', (msg) => { clearTimeout(timer); resolve(decode(msg)); });
    sock.send(buf, rdPort(), '127.0.0.1');
  });
}

// withSocket(fn): fn(sock) with a UDP socket bound to 127.0.0.1, closed after.
async function withSocket(fn) {
  const sock = dgram.createSocket('udp4');
  await new Promise((r) => sock.bind(0, '127.0.0.1', r));
  try {
    return await fn(sock);
  } finally {
    sock.close();
  }
}

module.exports = { ACK, RST, rdPort, encode, decode, exchange, withSocket };
