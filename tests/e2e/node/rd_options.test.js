// rd_options.test.js - options the RD does not know (RFC 7252 §5.4.1): a
// request with an unrecognised critical option gets 4.02 Bad Option, an
// unrecognised elective one is ignored. Datagrams are built by hand: no CoAP
// library sends an option it does not know.
// Run by tests/e2e/run_node.sh with RD_PORT set.
'use strict';

const { test } = require('node:test');
const assert = require('node:assert/strict');
const { ACK, rdPort, encode, exchange, withSocket } = require('./raw_udp');

rdPort(); // outside run_node.sh: fail at once, not per test

test('a request with an unknown critical option gets 4.02', async () => {
  await withSocket(async (sock) => {
    // GET /.well-known/core plus option 65001 (odd = critical, unsafe, unknown)
    const base = encode(0x01, 0x4242, Buffer.from([0x01]), ['.well-known', 'core']);
    // option delta from 11 to 65001 = 64990: extended 2-byte delta (14)
    const opt = Buffer.from([0xe1, (64990 - 269) >> 8, (64990 - 269) & 0xff, 0x78]);
    const ans = await exchange(sock, Buffer.concat([base, opt]));
    assert.equal(ans.type, ACK);
    assert.equal(ans.code, '4.02');
  });
});

test('a request with an unknown elective option is answered normally', async () => {
  await withSocket(async (sock) => {
    // option 65000 (even = elective): delta 64989 from Uri-Path
    const base = encode(0x01, 0x4243, Buffer.from([0x02]), ['.well-known', 'core']);
    const opt = Buffer.from([0xe1, (64989 - 269) >> 8, (64989 - 269) & 0xff, 0x78]);
    const ans = await exchange(sock, Buffer.concat([base, opt]));
    assert.equal(ans.type, ACK);
    assert.equal(ans.code, '2.05');
  });
});
