// proxy_raw.test.js - the relay's message layer seen by a raw CoAP client
// (node dgram + coap-packet, so the test controls message ids and ACKs):
// a retransmitted CON request is not forwarded twice (RFC 7252 §4.5
// deduplication), and a separate response is CON and retransmitted until
// the client acknowledges it.
// Run by tests/e2e/test_proxy_node.sh (RD_PORT, PROXY_HOST).
'use strict';

const { test } = require('node:test');
const assert = require('node:assert/strict');
const dgram = require('node:dgram');
const packet = require('coap-packet');

const PORT = Number(process.env.RD_PORT);
const HOST = process.env.PROXY_HOST;
if (!PORT || !HOST) {
  throw new Error('RD_PORT / PROXY_HOST not set (run through tests/e2e/test_proxy_node.sh)');
}

// A raw client: send(msg fields), next(predicate, ms) -> the next matching parsed message.
function rawClient() {
  const sock = dgram.createSocket('udp4');
  const queue = [];
  const waiters = [];
  sock.on('message', (msg) => {
    const p = packet.parse(msg);
    const w = waiters.findIndex((x) => x.pred(p));
    if (w >= 0) {
      const [x] = waiters.splice(w, 1);
      clearTimeout(x.timer);
      x.resolve(p);
    } else {
      queue.push(p);
    }
  });
  return {
    send(fields) {
      sock.send(packet.generate(fields), PORT, '127.0.0.1');
    },
    next(pred, ms, what) {
      const i = queue.findIndex(pred);
      if (i >= 0) {
        return Promise.resolve(queue.splice(i, 1)[0]);
      }
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms);
        waiters.push({ pred, resolve, timer });
      });
    },
    close() { sock.close(); },
  };
}

function opts(path, query) {
  const o = [{ name: 'Uri-Host', value: Buffer.from(HOST) }];
  for (const seg of path.split('/').filter((x) => x)) {
    o.push({ name: 'Uri-Path', value: Buffer.from(seg) });
  }
  if (query) {
    o.push({ name: 'Uri-Query', value: Buffer.from(query) });
  }
  return o;
}

test('a retransmitted CON request is answered again but forwarded once', async () => {
  const c = rawClient();
  try {
    const req = {
      messageId: 0x1001, token: Buffer.from('c0ffee01', 'hex'), confirmable: true,
      code: 'POST', options: opts('/count'),
    };
    c.send({ ...req, messageId: 0x1000, code: 'GET', token: Buffer.from('c0ffee00', 'hex') });
    const before = await c.next((p) => p.messageId === 0x1000 && p.code === '2.05', 5000, 'GET /count');
    const n0 = Number(before.payload.toString().replace('count ', ''));
    c.send(req);
    const first = await c.next((p) => p.messageId === 0x1001 && p.ack, 5000, 'first answer');
    c.send(req); // the same message again, as after a lost ACK
    const again = await c.next((p) => p.messageId === 0x1001 && p.ack, 5000, 'answer to the duplicate');
    assert.equal(first.code, '2.04');
    assert.equal(again.code, first.code, 'the duplicate gets the same answer');
    assert.equal(again.payload.toString(), first.payload.toString());
    assert.equal(first.payload.toString(), `count ${n0 + 1}`);
    c.send({ ...req, messageId: 0x1002, code: 'GET', token: Buffer.from('c0ffee02', 'hex') });
    const after = await c.next((p) => p.messageId === 0x1002 && p.code === '2.05', 5000, 'GET /count');
    assert.equal(after.payload.toString(), `count ${n0 + 1}`, 'the endpoint saw the POST once');
  } finally {
    c.close();
  }
});

test('a separate response is CON and retransmitted until acknowledged', async () => {
  const c = rawClient();
  try {
    const token = Buffer.from('5e9a7a7e', 'hex');
    c.send({ messageId: 0x2000, token, confirmable: true, code: 'GET', options: opts('/slow', 'ms=500') });
    const ack = await c.next((p) => p.messageId === 0x2000, 5000, 'the empty ACK');
    assert.equal(ack.code, '0.00', 'an empty ACK first (500 ms > EMPTY_ACK_DELAY)');
    assert.ok(ack.ack);
    const rsp = await c.next((p) => p.token.equals(token) && p.code === '2.05', 5000, 'the separate response');
    assert.ok(rsp.confirmable, 'the separate response is CON');
    assert.equal(rsp.payload.toString(), 'slow 500');
    // Do not acknowledge it: RFC 7252 retransmission brings it again (ACK_TIMEOUT 2-3 s).
    const rtx = await c.next((p) => p.token.equals(token) && p.code === '2.05', 8000, 'a retransmission');
    assert.equal(rtx.messageId, rsp.messageId, 'retransmitted with the same message id');
    c.send({ messageId: rtx.messageId, ack: true, code: '0.00' });
    await assert.rejects(c.next((p) => p.token.equals(token) && p.code === '2.05', 5000, 'nothing'),
      /timed out/, 'no more retransmissions after the ACK');
  } finally {
    c.close();
  }
});
