// proxy_basic.test.js - the UDP reverse proxy seen by node-coap (issue 11):
// an endpoint (rr-registrant, registered with proxy=yes) reached through
// rdrelay with the Uri-Host option: methods, binary payloads, Block2 and
// Block1, Observe with a cancellation by RST, two clients using the same
// token, and the 5.05 / 4.02 answers.
// Run by tests/e2e/test_proxy_node.sh, which starts rdrelay-frontend,
// rdrelay-udp and the registrant and passes RD_PORT, PROXY_HOST and
// LARGE_FILE (the registrant's /large body).
'use strict';

const { test, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const coap = require('coap');

const PORT = Number(process.env.RD_PORT);
const HOST = process.env.PROXY_HOST;
if (!PORT || !HOST) {
  throw new Error('RD_PORT / PROXY_HOST not set (run through tests/e2e/test_proxy_node.sh)');
}
const DOMAIN = HOST.slice(HOST.indexOf('.') + 1);
const agents = [];
function agent(type = 'udp4') {
  const a = new coap.Agent({ type });
  agents.push(a);
  return a;
}
const a4 = agent('udp4');
const a6 = agent('udp6');

after(() => {
  for (const a of agents) {
    a.close();
  }
});

// One request through the relay; resolves { code, payload (Buffer), options }.
function request(opts) {
  const {
    host = HOST, method = 'GET', path, query, payload, options = {}, ag = a4,
    token, confirmable = true, addr = '127.0.0.1', port = PORT,
  } = opts;
  return new Promise((resolve, reject) => {
    const req = coap.request({
      hostname: addr, port, method, pathname: path, query, agent: ag, token,
      confirmable, options: { 'Uri-Host': Buffer.from(host), ...options },
    });
    const timer = setTimeout(() => reject(new Error(`no answer to ${method} ${path}`)), 20000);
    if (payload !== undefined) {
      req.write(payload);
    }
    req.on('response', (res) => {
      clearTimeout(timer);
      resolve({ code: res.code, payload: res.payload, options: res.options });
    });
    req.on('error', (err) => { clearTimeout(timer); reject(err); });
    req.end();
  });
}

// "opt:NUM:HEX" lines of an /echo answer -> [hex, ...] for option NUM.
function echoOpt(text, num) {
  return text.split('\n').filter((l) => l.startsWith(`opt:${num}:`))
    .map((l) => l.slice(`opt:${num}:`.length));
}
function echoField(text, name) {
  const l = text.split('\n').find((x) => x.startsWith(`${name}:`));
  return l === undefined ? undefined : l.slice(name.length + 1);
}

function fnv1a64(buf) {
  let h = 0xcbf29ce484222325n;
  for (const b of buf) {
    h ^= BigInt(b);
    h = (h * 0x100000001b3n) & 0xffffffffffffffffn;
  }
  return h.toString(16).padStart(16, '0');
}

test('GET /hello through the relay, IPv4 and IPv6', async () => {
  let r = await request({ path: '/hello' });
  assert.equal(r.code, '2.05');
  assert.equal(r.payload.toString(), 'hello');
  r = await request({ path: '/hello', ag: a6, addr: '::1' });
  assert.equal(r.code, '2.05');
  assert.equal(r.payload.toString(), 'hello');
});

test('PUT, POST, DELETE with a binary payload arriving byte-identical', async () => {
  const body = Buffer.from([0, 1, 2, 0xff, 0xfe, 0x80, 0x7f, 0, 0x0a, 0x0d]);
  for (const [method, code, reqCode] of [['PUT', '2.04', '0.03'], ['POST', '2.01', '0.02'],
    ['DELETE', '2.02', '0.04']]) {
    const r = await request({ method, path: '/echo', payload: method === 'DELETE' ? undefined : body });
    assert.equal(r.code, code, `${method} /echo`);
    const text = r.payload.toString();
    assert.equal(echoField(text, 'code'), reqCode, `${method} seen by the endpoint`);
    if (method !== 'DELETE') {
      assert.equal(echoField(text, 'payload'), body.toString('hex'), `${method} body unchanged`);
    }
    assert.deepEqual(echoOpt(text, 3), [], 'Uri-Host removed');
  }
});

test('unknown safe option passes unchanged, unknown unsafe option -> 4.02', async () => {
  let r = await request({ path: '/echo', options: { 65000: Buffer.from('00ff10', 'hex') } });
  assert.equal(r.code, '2.05');
  assert.deepEqual(echoOpt(r.payload.toString(), 65000), ['00ff10']);
  r = await request({ path: '/echo', options: { 65002: Buffer.from([1]) } });
  assert.equal(r.code, '4.02');
  assert.ok(r.payload.length > 0, '4.02 carries a diagnostic');
});

test('Block2: /large reassembled by node-coap is byte-identical', async () => {
  const expected = fs.readFileSync(process.env.LARGE_FILE);
  const r = await request({ path: '/large' });
  assert.equal(r.code, '2.05');
  assert.equal(r.payload.length, expected.length);
  assert.ok(r.payload.equals(expected), '/large differs');
});

test('Block1: a 3000-byte upload passes the relay as it passes directly', async () => {
  // node-coap's own Block1 sender and libcoap disagree on where a body ends
  // (directly, too); what matters here is that the relay changes nothing.
  const body = Buffer.alloc(3000);
  for (let i = 0; i < body.length; i++) {
    body[i] = (i * 7 + 3) & 0xff;
  }
  const opts = { method: 'PUT', path: '/echo', payload: body, options: { Block1: Buffer.from([2]) } };
  const via = await request(opts);
  const direct = await request({ ...opts, port: Number(process.env.REG_PORT) });
  assert.equal(via.code, direct.code);
  const v = via.payload.toString();
  const d = direct.payload.toString();
  for (const f of ['len', 'fnv1a64']) {
    assert.equal(echoField(v, f), echoField(d, f), `${f} via the relay == directly`);
  }
});

test('Observe: >= 3 notifications through the relay', async () => {
  const values = await new Promise((resolve, reject) => {
    const req = coap.request({
      hostname: '127.0.0.1', port: PORT, pathname: '/obs', observe: true, agent: a4,
      options: { 'Uri-Host': Buffer.from(HOST) },
    });
    const got = [];
    const timer = setTimeout(() => reject(new Error(`only ${got.length} notifications`)), 15000);
    req.on('response', (res) => {
      res.on('data', (chunk) => {
        got.push(chunk.toString());
        if (got.length === 4) {
          clearTimeout(timer);
          // (node-coap forgets the observation; the RST case is raw below.)
          res.close();
          setTimeout(() => resolve(got), 2000);
        }
      });
    });
    req.on('error', (err) => { clearTimeout(timer); reject(err); });
    req.end();
  });
  const nums = values.map((v) => Number(v.replace('obs ', '')));
  for (let i = 1; i < nums.length; i++) {
    assert.ok(nums[i] > nums[i - 1], `notifications increase: ${values.join(', ')}`);
  }
});

// Observe /obs with a raw socket; after 3 notifications, reject the next
// one of the given kind (CON or NON) with RST (RFC 7641 §3.6: the
// observation ends). Resolves the notifications that came more than 1 s
// after the RST (there must be none).
async function observeThenRst(rejectCon) {
  const dgram = require('node:dgram');
  const packet = require('coap-packet');
  const sock = dgram.createSocket('udp4');
  const token = Buffer.from(rejectCon ? '0b5e4a11' : '0b5e4a22', 'hex');
  const seen = [];
  let rstAt = 0;
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`notifications: ${seen.length}`)), 15000);
    sock.on('message', (msg) => {
      const p = packet.parse(msg);
      if (p.code === '0.00' || !p.token.equals(token)) {
        return;
      }
      seen.push(Date.now());
      if (seen.length >= 4 && !rstAt && p.confirmable === rejectCon) {
        rstAt = Date.now();
        sock.send(packet.generate({ messageId: p.messageId, reset: true, code: '0.00' }),
          PORT, '127.0.0.1');
        setTimeout(() => { clearTimeout(timer); resolve(); }, 2500);
      } else if (p.confirmable) {
        sock.send(packet.generate({ messageId: p.messageId, ack: true, code: '0.00' }),
          PORT, '127.0.0.1');
      }
    });
    sock.send(packet.generate({
      messageId: 0x4242, token, confirmable: true, code: 'GET',
      options: [{ name: 'Uri-Host', value: Buffer.from(HOST) },
        { name: 'Observe', value: Buffer.alloc(0) },
        { name: 'Uri-Path', value: Buffer.from('obs') }],
    }), PORT, '127.0.0.1');
  });
  sock.close();
  return seen.filter((t) => t > rstAt + 1000).length;
}

test('Observe cancelled by an RST to a CON notification (raw CoAP)', async () => {
  const late = await observeThenRst(true);
  assert.equal(late, 0, `${late} notifications still came more than 1 s after the RST`);
});

test('Observe cancelled by an RST to a NON notification (raw CoAP)', async () => {
  const late = await observeThenRst(false);
  assert.equal(late, 0, `${late} notifications still came more than 1 s after the RST`);
});

test('two clients with the same token each get their own answer', async () => {
  const token = Buffer.from('feedf00d', 'hex');
  const [slow, fast] = await Promise.all([
    request({ path: '/slow', query: 'ms=600', ag: agent(), token }),
    request({ path: '/slow', query: 'ms=150', ag: agent(), token }),
  ]);
  assert.equal(slow.payload.toString(), 'slow 600');
  assert.equal(fast.payload.toString(), 'slow 150');
  const [echoed, slow2] = await Promise.all([
    request({ path: '/echo', ag: agent(), token, method: 'POST', payload: 'A' }),
    request({ path: '/slow', query: 'ms=50', ag: agent(), token }),
  ]);
  assert.equal(echoField(echoed.payload.toString(), 'payload'), '41');
  assert.equal(slow2.payload.toString(), 'slow 50');
});

test('NON request through the relay', async () => {
  const r = await request({ path: '/hello', confirmable: false });
  assert.equal(r.code, '2.05');
  assert.equal(r.payload.toString(), 'hello');
});

test('unknown name, Proxy-Scheme and Proxy-Uri -> 5.05', async () => {
  let r = await request({ host: `nobody.${DOMAIN}`, path: '/hello' });
  assert.equal(r.code, '5.05');
  assert.match(r.payload.toString(), /no registration with that name/);
  r = await request({ path: '/hello', options: { 'Proxy-Scheme': Buffer.from('coap') } });
  assert.equal(r.code, '5.05');
  r = await request({ path: '/hello', options: { 'Proxy-Uri': Buffer.from('coap://example.org/hello') } });
  assert.equal(r.code, '5.05');
});
