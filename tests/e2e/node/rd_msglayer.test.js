// rd_msglayer.test.js - relay-udp's message layer as a raw UDP peer sees it
// (issue 2: "duplicate CON requests are not processed twice"; RFC 7252
// §4.5 deduplication, §4.3 CoAP ping). Datagrams are built by hand so a
// retransmission is byte-identical, which no CoAP library lets us do.
// Run by tests/e2e/run_node.sh with RD_PORT set.
'use strict';

const { test, after } = require('node:test');
const assert = require('node:assert/strict');
const coap = require('coap');

const { ACK, RST, rdPort, encode, exchange, withSocket } = require('./raw_udp');

const PORT = rdPort();
const agent = new coap.Agent({ type: 'udp4' });
after(() => agent.close());

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
  await withSocket(async (sock) => {
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
  });
});

test('a CoAP ping (empty CON) gets a RST', async () => {
  await withSocket(async (sock) => {
    const ans = await exchange(sock, Buffer.from([0x40, 0x00, 0x77, 0x01]));
    assert.equal(ans.type, RST);
    assert.equal(ans.mid, 0x7701);
  });
});

