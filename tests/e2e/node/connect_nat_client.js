// connect_nat_client.js - one node-coap GET through rdrelay by name, run
// inside site B's network namespace by tests/e2e/test_connect_nat.sh
// (issue 12): GET /time with Uri-Host PROXY_HOST to rdrelay at RD_ADDR
// (UDP port RD_PORT, default 5683). Prints the code and payload; exits 0
// only on 2.05 with a non-empty payload, 1 otherwise (also after 15 s
// without an answer).
'use strict';

const coap = require('coap');

const ADDR = process.env.RD_ADDR;
const HOST = process.env.PROXY_HOST;
const PORT = Number(process.env.RD_PORT || 5683);
if (!ADDR || !HOST) {
  console.error('RD_ADDR / PROXY_HOST not set (run through tests/e2e/test_connect_nat.sh)');
  process.exit(2);
}

const agent = new coap.Agent({ type: 'udp4' });
const timer = setTimeout(() => {
  console.error(`no answer to GET /time (Uri-Host ${HOST}) from ${ADDR}:${PORT} within 15 s`);
  process.exit(1);
}, 15000);

const req = coap.request({
  hostname: ADDR, port: PORT, method: 'GET', pathname: '/time', agent,
  confirmable: true, options: { 'Uri-Host': Buffer.from(HOST) },
});
req.on('response', (res) => {
  clearTimeout(timer);
  const payload = res.payload ? res.payload.toString() : '';
  console.log(`code ${res.code} payload '${payload}'`);
  // no agent.close(): node-coap closes an idle agent itself; exit ends it
  process.exit(res.code === '2.05' && payload.length > 0 ? 0 : 1);
});
req.on('error', (err) => {
  clearTimeout(timer);
  console.error(`request error: ${err.message}`);
  process.exit(1);
});
req.end();
