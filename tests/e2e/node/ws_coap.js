// ws_coap.js - a small CoAP over WebSockets (RFC 8323 section 4) codec and
// client on the `ws` package, for rdrelay-ws's end-to-end tests: the
// framing (no Length field: the first byte is Len 0 + TKL), options, CSM,
// a request/response helper, and a registrant that serves fixed resources
// over the connection it registered on. No dependency but `ws`.
'use strict';
const WebSocket = require('ws');

const CODES = { GET: 1, POST: 2, PUT: 3, DELETE: 4 };
const OPT = { OBSERVE: 6, URI_HOST: 3, URI_PATH: 11, CONTENT_FORMAT: 12, URI_QUERY: 15,
    LOCATION_PATH: 8, HOP_LIMIT: 16 };

function codeStr(c) { return `${c >> 5}.${String(c & 31).padStart(2, '0')}`; }

function optHdr(v) {
    if (v < 13) return [v, []];
    if (v < 269) return [13, [v - 13]];
    return [14, [(v - 269) >> 8, (v - 269) & 255]];
}

// encode({code, token, options: [[num, Buffer|string|number]], payload})
function encode(m) {
    const token = m.token || Buffer.alloc(0);
    const parts = [Buffer.from([token.length, m.code]), token];
    const opts = (m.options || []).map(([n, v]) => [n, toBuf(v)]).sort((a, b) => a[0] - b[0]);
    let prev = 0;
    for (const [n, v] of opts) {
        const [dn, dx] = optHdr(n - prev);
        const [ln, lx] = optHdr(v.length);
        parts.push(Buffer.from([(dn << 4) | ln, ...dx, ...lx]), v);
        prev = n;
    }
    if (m.payload && m.payload.length) parts.push(Buffer.from([0xff]), toBuf(m.payload));
    return Buffer.concat(parts);
}

function toBuf(v) {
    if (Buffer.isBuffer(v)) return v;
    if (typeof v === 'number') {
        const b = [];
        while (v > 0) { b.unshift(v & 255); v = Math.floor(v / 256); }
        return Buffer.from(b);
    }
    return Buffer.from(String(v));
}

function decode(buf) {
    const tkl = buf[0] & 15;
    const m = { len: buf[0] >> 4, code: buf[1], token: buf.subarray(2, 2 + tkl), options: [],
        payload: Buffer.alloc(0) };
    let i = 2 + tkl, num = 0;
    while (i < buf.length && buf[i] !== 0xff) {
        let d = buf[i] >> 4, l = buf[i] & 15;
        i++;
        if (d === 13) d = 13 + buf[i++]; else if (d === 14) { d = 269 + buf.readUInt16BE(i); i += 2; }
        if (l === 13) l = 13 + buf[i++]; else if (l === 14) { l = 269 + buf.readUInt16BE(i); i += 2; }
        num += d;
        m.options.push([num, buf.subarray(i, i + l)]);
        i += l;
    }
    if (buf[i] === 0xff) m.payload = buf.subarray(i + 1);
    return m;
}

function opt(m, n) { const o = m.options.find((x) => x[0] === n); return o ? o[1] : undefined; }
function opts(m, n) { return m.options.filter((x) => x[0] === n).map((x) => x[1]); }

// 7.01 with Max-Message-Size 65536 (we take large messages)
const CSM = encode({ code: 0xe1, options: [[2, 65536]] });

// uri: "ws://host:port" (the path /.well-known/coap is added)
function connect(uri, extra) {
    return new WebSocket(uri.replace(/\/$/, '') + '/.well-known/coap', 'coap', extra || {});
}

// A connected client: open(), request(method, path, {host, query, observe,
// payload, format}) -> Promise of the first answer; onMessage for the rest.
class Client {
    constructor(uri) {
        this.uri = uri;
        this.pending = new Map();
        this.tok = Math.floor(Math.random() * 0xffff);
        this.handlers = [];
    }
    open() {
        // test knobs: WS_XFF sends X-Forwarded-For, WS_INSECURE accepts a
        // self-signed certificate (wss://)
        const extra = { headers: {} };
        if (process.env.WS_XFF) extra.headers['X-Forwarded-For'] = process.env.WS_XFF;
        if (process.env.WS_INSECURE) extra.rejectUnauthorized = false;
        return new Promise((resolve, reject) => {
            this.ws = connect(this.uri, extra);
            this.ws.on('open', () => { this.ws.send(CSM); resolve(this); });
            this.ws.on('error', reject);
            this.ws.on('close', (code, reason) => {
                this.closed = { code, reason: reason.toString() };
                for (const [, p] of this.pending) p.reject(new Error(`closed ${code} ${reason}`));
                this.pending.clear();
                if (this.onClose) this.onClose(code, reason.toString());
            });
            this.ws.on('message', (data, isBinary) => this.onFrame(Buffer.from(data), isBinary));
        });
    }
    onFrame(buf, isBinary) {
        if (!isBinary) return;
        const m = decode(buf);
        if (m.code === 0xe2) { // Ping -> Pong
            this.ws.send(encode({ code: 0xe3, token: m.token }));
            return;
        }
        if ((m.code >> 5) === 7) return;
        if ((m.code >> 5) === 0) { for (const h of this.handlers) h(m, this); return; }
        const key = m.token.toString('hex');
        const p = this.pending.get(key);
        if (p) {
            if (!p.keep) this.pending.delete(key);
            p.resolve(m);
            if (p.keep && p.onNotify) p.onNotify(m);
        }
    }
    request(method, path, o = {}) {
        const token = Buffer.alloc(2);
        token.writeUInt16BE(this.tok++ & 0xffff);
        const options = [];
        const [p, qs] = path.split('?');
        if (o.host) options.push([OPT.URI_HOST, o.host]);
        for (const seg of p.split('/').filter((x) => x.length)) options.push([OPT.URI_PATH, seg]);
        for (const q of (o.query || []).concat(qs ? qs.split('&') : [])) options.push([OPT.URI_QUERY, q]);
        if (o.observe !== undefined) options.push([OPT.OBSERVE, o.observe]);
        if (o.format !== undefined) options.push([OPT.CONTENT_FORMAT, o.format]);
        const frame = encode({ code: CODES[method], token, options, payload: o.payload });
        return new Promise((resolve, reject) => {
            const entry = { resolve, reject, keep: o.observe === 0, onNotify: o.onNotify };
            this.pending.set(token.toString('hex'), entry);
            this.ws.send(frame);
        });
    }
    close() { if (this.ws) this.ws.close(1000); }
}

// A registrant: registers ep with proxy=yes over its own WebSocket and
// answers GET /hello with "hello from EP" and anything else with 4.04.
async function registrant(uri, ep, o = {}) {
    const c = new Client(uri);
    await c.open();
    c.handlers.push((m, cl) => {
        const path = opts(m, OPT.URI_PATH).map((b) => b.toString()).join('/');
        const ans = path === 'hello'
            ? { code: 0x45, payload: `hello from ${ep}${m.payload.length ? ` (${m.payload.length} bytes)` : ''}` }
            : { code: 0x84, payload: 'not found' };
        if (o.log) o.log(`request ${codeStr(m.code)} /${path}`);
        cl.ws.send(encode({ code: ans.code, token: m.token, payload: ans.payload }));
    });
    const r = await c.request('POST', '/rd', { query: [`ep=${ep}`, 'proxy=yes', `lt=${o.lt || 300}`],
        format: 40, payload: '</hello>;rt="test"' });
    return { client: c, answer: r };
}

module.exports = { encode, decode, opt, opts, codeStr, connect, Client, registrant, CSM, OPT };
