// udp_lost_answer.js - a raw CoAP/UDP client whose answer is lost, run by
// tests/e2e/test_udp_dedup_load.sh (issue 15 item 7). Sends one CON
// request (METHOD, Uri-Host PROXY_HOST, Uri-Path PATH) to rdrelay at
// 127.0.0.1:RD_PORT, drops whatever comes back (as if the network lost it),
// and after RETRANSMIT_MS sends the very same bytes again (same message id
// and token: an RFC 7252 retransmission). Prints "first <hex>" for the
// dropped answer and "again <hex>" for the answer to the retransmission,
// both only for messages that carry a response code; exits 0 once the
// second one came, 1 after 15 s without it. Node's dgram only: no CoAP
// library, so nothing retransmits or deduplicates behind our back.
'use strict';

const dgram = require('dgram');
const crypto = require('crypto');

const PORT = Number(process.env.RD_PORT);
const HOST = process.env.PROXY_HOST;
const PATH = process.env.REQ_PATH || 'count';
const CODE = process.env.METHOD === 'GET' ? 1 : 2; // POST by default
const WAIT = Number(process.env.RETRANSMIT_MS || 2000);
if (!PORT || !HOST) {
  console.error('RD_PORT / PROXY_HOST not set (run through tests/e2e/test_udp_dedup_load.sh)');
  process.exit(2);
}

// One option: delta and length nibbles with their extended bytes.
function option(delta, value) {
  const ext = [];
  const nib = (n) => {
    if (n < 13) return n;
    if (n < 269) { ext.push(n - 13); return 13; }
    ext.push((n - 269) >> 8, (n - 269) & 0xff);
    return 14;
  };
  const d = nib(delta);
  const l = nib(value.length);
  return Buffer.concat([Buffer.from([(d << 4) | l, ...ext]), value]);
}

const msgid = crypto.randomInt(0, 65536);
const token = crypto.randomBytes(4);
const req = Buffer.concat([
  Buffer.from([0x40 | token.length, CODE, msgid >> 8, msgid & 0xff]), token,
  option(3, Buffer.from(HOST)), // Uri-Host
  option(11 - 3, Buffer.from(PATH)), // Uri-Path
]);

const sock = dgram.createSocket('udp4');
let retransmitted = false;
const give_up = setTimeout(() => {
  console.error(`no answer to the retransmission of message id ${msgid} within 15 s`);
  process.exit(1);
}, 15000);

sock.on('message', (m) => {
  if (m.length < 4 || m[1] === 0) return; // empty ACK / RST / ping
  const hex = m.toString('hex');
  const mid = (m[2] << 8) | m[3];
  const type = (m[0] >> 4) & 3;
  // only the piggybacked answer to our message id counts (type ACK)
  if (type !== 2 || mid !== msgid) {
    console.log(`other ${hex}`);
    return;
  }
  if (!retransmitted) {
    console.log(`first ${hex}`);
    return;
  }
  console.log(`again ${hex}`);
  clearTimeout(give_up);
  sock.close();
});

sock.bind(0, '127.0.0.1', () => {
  console.log(`sent mid ${msgid}`);
  sock.send(req, PORT, '127.0.0.1');
  setTimeout(() => {
    retransmitted = true;
    console.log(`retransmit mid ${msgid}`);
    sock.send(req, PORT, '127.0.0.1');
  }, WAIT);
});
