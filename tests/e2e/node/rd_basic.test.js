// rd_basic.test.js - the Resource Directory seen by node-coap (issue 2):
// discovery, registration, both lookups (incl. a Block2 answer reassembled
// by node-coap), update and delete, over UDP IPv4 and IPv6.
// Run by tests/e2e/run_node.sh, which starts rdrelay-frontend and
// rdrelay-udp and passes RD_PORT (relay-udp listens on 127.0.0.1 and ::1).
'use strict';

const { test, after } = require('node:test');
const assert = require('node:assert/strict');
const coap = require('coap');

const PORT = Number(process.env.RD_PORT);
if (!PORT) {
  throw new Error('RD_PORT is not set (run through tests/e2e/run_node.sh)');
}
const WKC = '</rd>;rt=core.rd;ct=40,</rd-lookup/ep>;rt=core.rd-lookup-ep;ct=40;obs,' +
  '</rd-lookup/res>;rt=core.rd-lookup-res;ct=40;obs';
const agents = { '127.0.0.1': new coap.Agent({ type: 'udp4' }),
  '::1': new coap.Agent({ type: 'udp6' }) };

after(() => {
  for (const a of Object.values(agents)) {
    a.close();
  }
});

// One request; resolves { code, payload (string), location ("/reg/3") }.
function request(host, method, path, query, payload, opts = {}) {
  return new Promise((resolve, reject) => {
    const req = coap.request({
      hostname: host, port: PORT, method, pathname: path, query,
      agent: agents[host], confirmable: opts.confirmable !== false,
    });
    const timer = setTimeout(() => reject(new Error(`no answer to ${method} ${path}?${query}`)),
      15000);
    if (payload !== undefined) {
      req.setOption('Content-Format', 'application/link-format');
      req.write(payload);
    }
    req.on('response', (res) => {
      clearTimeout(timer);
      const location = res.options.filter((o) => o.name === 'Location-Path')
        .map((o) => '/' + o.value.toString()).join('');
      resolve({ code: res.code, payload: res.payload.toString(), location });
    });
    req.on('error', (err) => { clearTimeout(timer); reject(err); });
    req.end();
  });
}

// Split link-format at commas outside <> and quotes.
function links(doc) {
  const out = [];
  let cur = '';
  let q = false;
  let a = false;
  for (const c of doc) {
    if (c === '"' && !a) q = !q;
    else if (c === '<' && !q) a = true;
    else if (c === '>' && !q) a = false;
    if (c === ',' && !q && !a) { out.push(cur); cur = ''; continue; }
    cur += c;
  }
  if (cur !== '') out.push(cur);
  return out;
}

function attr(link, name) {
  const m = link.match(new RegExp(`;${name}=(?:"([^"]*)"|([^;,]*))`));
  return m ? (m[1] !== undefined ? m[1] : m[2]) : undefined;
}

function eps(doc) {
  return links(doc).map((l) => attr(l, 'ep')).sort();
}

for (const host of ['127.0.0.1', '::1']) {
  const fam = host === '::1' ? 'v6' : 'v4';

  test(`discovery over ${fam}`, async () => {
    let r = await request(host, 'GET', '/.well-known/core', '');
    assert.equal(r.code, '2.05');
    assert.equal(r.payload, WKC);
    r = await request(host, 'GET', '/.well-known/core', 'rt=core.rd');
    assert.equal(r.code, '2.05');
    assert.equal(r.payload, '</rd>;rt=core.rd;ct=40');
    r = await request(host, 'GET', '/.well-known/core', 'rt=core.rd-lookup-*');
    assert.equal(links(r.payload).length, 2);
  });

  test(`register, look up, update, delete over ${fam}`, async () => {
    const ep = `node-${fam}`;
    let r = await request(host, 'POST', '/rd', `ep=${ep}&d=nodetest&lt=600`,
      `</s/${fam}>;rt=nodetest;if=sensor,</a/${fam}>;rt=nodetest-act`);
    assert.equal(r.code, '2.01');
    assert.match(r.location, /^\/reg\/[0-9]+$/);
    const loc = r.location;

    r = await request(host, 'GET', '/rd-lookup/ep', `ep=${ep}`);
    assert.equal(r.code, '2.05');
    assert.deepEqual(eps(r.payload), [ep]);
    const link = links(r.payload)[0];
    assert.equal(attr(link, 'd'), 'nodetest');
    const base = attr(link, 'base');
    if (fam === 'v6') {
      assert.match(base, /^coap:\/\/\[::1\]:[0-9]+$/);
    } else {
      assert.match(base, /^coap:\/\/127\.0\.0\.1:[0-9]+$/);
    }

    r = await request(host, 'GET', '/rd-lookup/res', `ep=${ep}&rt=nodetest`);
    assert.equal(r.code, '2.05');
    assert.deepEqual(links(r.payload).map((l) => l.replace(/>.*/, '>')), [`<${base}/s/${fam}>`]);

    r = await request(host, 'POST', loc, 'lt=900');
    assert.equal(r.code, '2.04');
    r = await request(host, 'POST', loc, '', undefined, { confirmable: false });
    assert.equal(r.code, '2.04', 'NON update is answered');

    r = await request(host, 'DELETE', loc, '');
    assert.equal(r.code, '2.02');
    r = await request(host, 'GET', '/rd-lookup/ep', `ep=${ep}`);
    assert.deepEqual(eps(r.payload).filter((e) => e !== undefined), []);
    r = await request(host, 'GET', loc, '');
    assert.equal(r.code, '4.04');
  });

  test(`bad input over ${fam}`, async () => {
    let r = await request(host, 'POST', '/rd', 'd=nodetest', '</x>');
    assert.equal(r.code, '4.00', 'missing ep');
    assert.ok(r.payload.length > 0, 'diagnostic payload');
    r = await request(host, 'POST', '/rd', 'ep=x&lt=abc', '</x>');
    assert.equal(r.code, '4.00', 'bad lt');
    r = await request(host, 'GET', '/rd-lookup/ep', 'page=1');
    assert.equal(r.code, '4.00', 'page without count');
  });
}

test('a lookup larger than one datagram arrives whole (Block2)', async () => {
  const names = [];
  for (let i = 0; i < 40; i++) {
    const ep = `block2-endpoint-with-a-long-name-${String(i).padStart(3, '0')}`;
    names.push(ep);
    const r = await request(i % 2 ? '::1' : '127.0.0.1', 'POST', '/rd', `ep=${ep}&d=bulk`,
      `</sensors/temperature/${i}>;rt=bulk-temperature;if=sensor`);
    assert.equal(r.code, '2.01');
  }
  for (const host of ['127.0.0.1', '::1']) {
    let r = await request(host, 'GET', '/rd-lookup/ep', 'd=bulk');
    assert.equal(r.code, '2.05');
    assert.ok(r.payload.length > 1024, `answer of ${r.payload.length} bytes needs Block2`);
    assert.deepEqual(eps(r.payload), names);
    r = await request(host, 'GET', '/rd-lookup/res', 'rt=bulk-temperature');
    assert.equal(links(r.payload).length, 40);
  }
});
