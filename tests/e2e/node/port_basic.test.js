// port_basic.test.js - port-based virtual hosting (issue 18) seen by
// node-coap: requests to coap://127.0.0.1:<hosting port>/ (an IP literal,
// no Uri-Host option at all) reach the registered endpoint: GET, Block2,
// Observe, a slow (separate) answer; the RD is not reachable there.
// Run by tests/e2e/test_port_node.sh, which starts rdrelay-frontend and
// rdrelay-udp with a port_hosting_range and a registrant, and passes
// HOST_PORT (the registrant's hosting port) and LARGE_FILE.
'use strict';

const { test, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const coap = require('coap');

const PORT = Number(process.env.HOST_PORT);
if (!PORT) {
  throw new Error('HOST_PORT not set (run through tests/e2e/test_port_node.sh)');
}
const ag = new coap.Agent({ type: 'udp4' });
after(() => {
  try {
    ag.close();
  } catch (e) {
    // the agent closes its socket by itself once nothing is in flight
  }
});

// One request to the hosting port, no Uri-Host; resolves { code, payload }.
function request(path, { query, observe = false } = {}) {
  return new Promise((resolve, reject) => {
    const req = coap.request({
      hostname: '127.0.0.1', port: PORT, method: 'GET', pathname: path, query, agent: ag,
      observe,
    });
    const timer = setTimeout(() => reject(new Error(`no answer to GET ${path}`)), 20000);
    req.on('response', (res) => {
      clearTimeout(timer);
      resolve(res);
    });
    req.on('error', (err) => { clearTimeout(timer); reject(err); });
    req.end();
  });
}

test('GET /hello on the hosting port, no Uri-Host', async () => {
  const res = await request('/hello');
  assert.equal(res.code, '2.05');
  assert.equal(res.payload.toString(), 'hello');
});

test('the RD is not reachable on the hosting port', async () => {
  const res = await request('/.well-known/core');
  assert.equal(res.code, '2.05');
  assert.match(res.payload.toString(), /<\/hello>/);
  assert.doesNotMatch(res.payload.toString(), /core\.rd/);
});

test('Block2: /large arrives whole and byte-identical', async () => {
  const res = await request('/large');
  assert.equal(res.code, '2.05');
  assert.deepEqual(res.payload, fs.readFileSync(process.env.LARGE_FILE));
});

test('a slow (separate) answer', async () => {
  const res = await request('/slow', { query: 'ms=1500' });
  assert.equal(res.code, '2.05');
});

test('Observe: notifications through the hosting port', async () => {
  const res = await request('/obs', { observe: true });
  assert.equal(res.code, '2.05');
  const values = await new Promise((resolve, reject) => {
    const seen = [];
    const timer = setTimeout(() => reject(new Error(`only ${seen.length} notifications`)), 15000);
    res.on('data', (d) => {
      seen.push(d.toString());
      if (seen.length >= 3) {
        clearTimeout(timer);
        resolve(seen);
      }
    });
  });
  res.close();
  assert.equal(values.length, 3);
  assert.notEqual(values[0], values[2]);
});
