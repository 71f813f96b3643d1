// raw_send.js PORT HEX... - send hand-built datagrams to relay-udp on
// 127.0.0.1:PORT, one line out per datagram: what came back ("RST",
// "ACK 4.02 <diagnostic>", ...) or "none". For the bad-input table of
// tests/e2e/test_rd_bad_input.sh (bytes no CoAP library would send).
// Owns one UDP socket. No fixed wait: after each datagram a sentinel
// request follows on the same socket (GET /.well-known/core?rt=core.rd
// with a token of its own, answered by rd-frontend on the same path as
// any RD request, so after the datagram's own answer), and whatever
// arrives before the sentinel's answer is the datagram's answer (bounded:
// 10 s per datagram). Every
// datagram of 4 bytes or more gets a message id of its own (bytes 2-3), so
// relay-udp's duplicate detection never answers one from another's cache.
'use strict';

const dgram = require('node:dgram');

const port = Number(process.argv[2]);
const cases = process.argv.slice(3);
if (!port || cases.length === 0) {
  console.error('usage: node raw_send.js PORT HEX...');
  process.exit(2);
}

const TYPES = ['CON', 'NON', 'ACK', 'RST'];

function describe(msg) {
  if (msg.length < 4) return `short(${msg.length})`;
  const type = TYPES[(msg[0] >> 4) & 3];
  const code = msg[1];
  if (type === 'RST' && code === 0) return 'RST';
  const cls = `${code >> 5}.${String(code & 0x1f).padStart(2, '0')}`;
  const marker = msg.indexOf(0xff, 4 + (msg[0] & 0x0f));
  const text = marker >= 0 ? msg.subarray(marker + 1).toString('latin1').replace(/[^ -~]/g, '?') : '';
  return `${type} ${cls}${text ? ' ' + text : ''}`;
}

function sentinel(mid) {
  const tok = Buffer.from('sentinel');
  return Buffer.concat([Buffer.from([0x48, 0x01, mid >> 8, mid & 0xff]), tok,
    Buffer.from([0xbb]), Buffer.from('.well-known'), Buffer.from([0x04]), Buffer.from('core'),
    Buffer.from([0x4a]), Buffer.from('rt=core.rd')]);
}

function isSentinel(msg) {
  return msg.length >= 12 && (msg[0] & 0x0f) === 8 && msg.subarray(4, 12).toString() === 'sentinel';
}

async function one(sock, hex, mid) {
  const ping = sentinel(mid);
  const got = [];
  return new Promise((resolve) => {
    const timer = setTimeout(() => done('timeout'), 10000);
    function done(why) {
      clearTimeout(timer);
      sock.removeListener('message', onMsg);
      resolve(why || (got.length ? got.join(' | ') : 'none'));
    }
    function onMsg(msg) {
      if (isSentinel(msg)) {
        done();
        return;
      }
      got.push(describe(msg));
    }
    sock.on('message', onMsg);
    const buf = Buffer.from(hex, 'hex');
    if (buf.length >= 4) buf.writeUInt16BE(mid ^ 0x1000, 2); // a fresh message id: no duplicate
    sock.send(buf, port, '127.0.0.1', () => sock.send(ping, port, '127.0.0.1'));
  });
}

(async () => {
  const sock = dgram.createSocket('udp4');
  await new Promise((r) => sock.bind(0, '127.0.0.1', r));
  let mid = 0xa000;
  for (const hex of cases) {
    console.log(await one(sock, hex, mid++));
  }
  sock.close();
})();
