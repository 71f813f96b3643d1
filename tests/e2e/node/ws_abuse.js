// ws_abuse.js - misbehaving WebSocket peers for test_ws_abuse.sh. Each
// case prints one line the shell test asserts on; it never decides pass
// or fail itself.
//   handshake HOST PORT PATH [PROTOCOL]   raw HTTP upgrade: "status N BODY"
//   plain HOST PORT PATH                  plain HTTP GET: "status N TYPE"
//   text WSURI                            a text frame: "close CODE REASON"
//   length WSURI                          a CoAP message with Len != 0
//   big WSURI MIB                         one binary frame of MIB MiB
//   fragments WSURI                       a GET in three fragments: "code C"
//   split HOST PORT                       CSM + GET /.well-known/core, every
//                                         byte its own TCP segment: "code C"
//   silent WSURI                          CSM, then never answers a Ping
//   nocsm WSURI                           upgrade, then nothing at all
//   idle WSURI N SECONDS                  N upgraded connections (with CSM)
//                                         held open: "open N" then "still N"
//   refused WSURI N                       N connections held (CSM both
//                                         ways), then one more: "held N",
//                                         "frames C,C..." (its CoAP
//                                         messages), "abort DIAGNOSTIC",
//                                         "close CODE REASON", then a Ping
//                                         on every held one: "pong N"
'use strict';
const net = require('net');
const crypto = require('crypto');
const { connect, encode, decode, codeStr, CSM, OPT } = require('./ws_coap');

const out = (s) => console.log(s);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function waitClose(ws, ms) {
    return new Promise((resolve) => {
        const t = setTimeout(() => resolve('noclose'), ms);
        ws.on('close', (code, reason) => { clearTimeout(t); resolve(`close ${code} ${reason}`); });
        ws.on('error', () => {});
    });
}

// The first message on ws (a Buffer), or null after ms.
function firstMessage(ws, ms) {
    return new Promise((resolve) => {
        const t = setTimeout(() => resolve(null), ms);
        ws.once('message', (d) => { clearTimeout(t); resolve(Buffer.from(d)); });
    });
}

function opened(ws) {
    return new Promise((resolve, reject) => { ws.on('open', resolve); ws.on('error', reject); });
}

function rawHttp(host, port, req) {
    return new Promise((resolve) => {
        const s = net.connect(port, host, () => s.write(req));
        let buf = '';
        s.on('data', (d) => { buf += d.toString(); });
        s.on('close', () => resolve(buf));
        s.on('error', () => resolve(buf));
        setTimeout(() => s.destroy(), 3000);
    });
}

function statusLine(resp) {
    const m = /^HTTP\/1\.[01] (\d+)/.exec(resp);
    const body = resp.split('\r\n\r\n').slice(1).join('').replace(/<[^>]*>/g, ' ').replace(/\s+/g, ' ').trim();
    const type = (/content-type: *([^\r\n;]*)/i.exec(resp) || [])[1] || '-';
    return { status: m ? m[1] : 'none', body, type };
}

// A masked client frame (RFC 6455 5.2).
function frame(op, payload, fin = true) {
    const mask = crypto.randomBytes(4);
    const n = payload.length;
    let hdr;
    if (n < 126) hdr = Buffer.from([(fin ? 0x80 : 0) | op, 0x80 | n]);
    else if (n < 65536) { hdr = Buffer.alloc(4); hdr[0] = (fin ? 0x80 : 0) | op; hdr[1] = 0x80 | 126; hdr.writeUInt16BE(n, 2); }
    else { hdr = Buffer.alloc(10); hdr[0] = (fin ? 0x80 : 0) | op; hdr[1] = 0x80 | 127; hdr.writeBigUInt64BE(BigInt(n), 2); }
    const body = Buffer.alloc(n);
    for (let i = 0; i < n; i++) body[i] = payload[i] ^ mask[i & 3];
    return Buffer.concat([hdr, mask, body]);
}

// Server frames (unmasked, RFC 6455 5.2) at the front of buf: each whole
// one goes to onFrame(opcode, payload); returns the bytes left over.
function serverFrames(buf, onFrame) {
    while (buf.length >= 2) {
        let n = buf[1] & 127, off = 2;
        if (n === 126) { n = buf.readUInt16BE(2); off = 4; }
        if (buf.length < off + n) break;
        onFrame(buf[0] & 15, buf.subarray(off, off + n));
        buf = buf.subarray(off + n);
    }
    return buf;
}

// A WebSocket session on a raw socket s (no library between us and the
// bytes): returns the upgrade request to send; after the server's 101,
// onUp() runs and every server frame goes to onFrame(opcode, payload).
function rawSession(s, host, onUp, onFrame) {
    let got = Buffer.alloc(0), up = false;
    s.on('data', (dd) => {
        got = Buffer.concat([got, dd]);
        if (!up) {
            const i = got.indexOf('\r\n\r\n');
            if (i < 0) return;
            up = true;
            got = got.subarray(i + 4);
            onUp();
        }
        got = serverFrames(got, onFrame);
    });
    return Buffer.from(`GET /.well-known/coap HTTP/1.1\r\nHost: ${host}\r\nUpgrade: websocket\r\n` +
        `Connection: Upgrade\r\nSec-WebSocket-Key: ${crypto.randomBytes(16).toString('base64')}\r\n` +
        'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: coap\r\n\r\n');
}

const UPGRADE = (host, port, path, prot) =>
    `GET ${path} HTTP/1.1\r\nHost: ${host}:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
    `Sec-WebSocket-Key: ${crypto.randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n` +
    (prot ? `Sec-WebSocket-Protocol: ${prot}\r\n` : '') + '\r\n';

async function main() {
    const [cmd, a, b, c, d] = process.argv.slice(2);
    switch (cmd) {
    case 'handshake': {
        const r = statusLine(await rawHttp(a, Number(b), UPGRADE(a, b, c, d)));
        out(`status ${r.status} ${r.body}`);
        break;
    }
    case 'plain': {
        const r = statusLine(await rawHttp(a, Number(b), `GET ${c} HTTP/1.1\r\nHost: ${a}\r\nConnection: close\r\n\r\n`));
        out(`status ${r.status} ${r.type} ${r.body.slice(0, 60)}`);
        break;
    }
    case 'garbage': {
        await rawHttp(a, Number(b), '\x16\x03\x01\x00\xff garbage that is not HTTP\r\n\r\n');
        out('done');
        break;
    }
    case 'fragments': {
        // one CoAP message in three WebSocket fragments (RFC 6455 5.4)
        const ws = connect(a);
        await opened(ws);
        ws.send(CSM);
        const msg = encode({ code: 1, token: Buffer.from([9, 9]),
            options: [[OPT.URI_PATH, '.well-known'], [OPT.URI_PATH, 'core']] });
        const got = new Promise((resolve) => {
            ws.on('message', (dd) => {
                const m = decode(Buffer.from(dd));
                if ((m.code >> 5) !== 7) resolve(`code ${codeStr(m.code)}`);
            });
            setTimeout(() => resolve('timeout'), 10000);
        });
        ws.send(msg.subarray(0, 3), { binary: true, fin: false });
        ws.send(msg.subarray(3, 9), { binary: true, fin: false });
        ws.send(msg.subarray(9), { binary: true, fin: true });
        out(await got);
        ws.terminate();
        break;
    }
    case 'text': case 'length': case 'big': {
        const ws = connect(a);
        await opened(ws);
        ws.send(CSM);
        if (cmd === 'text') ws.send('GET /.well-known/core');
        if (cmd === 'length') ws.send(Buffer.from([0x30, 0x01, 0xaa, 0xbb, 0xcc])); // Len 3
        if (cmd === 'big') ws.send(Buffer.alloc(Number(b) * 1024 * 1024, 0x41), { binary: true });
        out(await waitClose(ws, 10000));
        break;
    }
    case 'silent': case 'nocsm': {
        // a raw socket: no automatic Pong from a library
        const s = net.connect(Number(b), a);
        const res = await new Promise((resolve) => {
            const req = rawSession(s, a, () => { if (cmd === 'silent') s.write(frame(2, CSM)); }, (op, pl) => {
                if (op === 8) resolve(`close ${pl.readUInt16BE(0)} ${pl.subarray(2).toString()}`);
                else if (op === 2) {
                    const m = decode(pl);
                    if (m.code === 0xe2) out('ping');
                    if (m.code === 0xe5) out(`abort ${m.payload.toString()}`);
                }
            });
            s.on('connect', () => s.write(req));
            s.on('close', () => resolve('closed without a close frame'));
            setTimeout(() => resolve('noclose'), 20000);
        });
        out(res);
        s.destroy();
        break;
    }
    case 'split': {
        const s = net.connect(Number(b), a);
        s.setNoDelay(true);
        const bytes = async (buf) => {
            for (const x of buf) {
                s.write(Buffer.from([x]));
                await sleep(2); // TCP_NODELAY + a pause: one segment per byte
            }
        };
        const res = new Promise((resolve) => {
            const req = rawSession(s, a, async () => {
                await bytes(frame(2, CSM));
                await bytes(frame(2, encode({ code: 1, token: Buffer.from([7, 7]),
                    options: [[OPT.URI_PATH, '.well-known'], [OPT.URI_PATH, 'core']] })));
            }, (op, pl) => {
                const m = decode(pl);
                if ((m.code >> 5) !== 7) resolve(`code ${codeStr(m.code)} ${m.payload.toString().slice(0, 20)}`);
            });
            s.on('connect', () => bytes(req));
            s.on('close', () => resolve('closed'));
            setTimeout(() => resolve('timeout'), 20000);
        });
        out(await res);
        s.destroy();
        break;
    }
    case 'idle': {
        const n = Number(b), secs = Number(c), socks = [];
        let closed = 0;
        for (let i = 0; i < n; i++) {
            const ws = connect(a);
            ws.on('error', () => {});
            ws.on('close', () => { closed++; });
            ws.on('message', (dd) => { // answer Pings: idle, not dead
                const m = decode(Buffer.from(dd));
                if (m.code === 0xe2) ws.send(encode({ code: 0xe3, token: m.token }));
            });
            socks.push(opened(ws).then(() => ws.send(CSM)).then(() => ws, () => null));
            if (i % 50 === 49) await sleep(20);
        }
        const all = (await Promise.all(socks)).filter((x) => x);
        out(`open ${all.length}`);
        await sleep(secs * 1000);
        out(`still ${all.length - closed}`);
        for (const ws of all) ws.terminate();
        break;
    }
    case 'refused': {
        const n = Number(b), held = [];
        for (let i = 0; i < n; i++) {
            const ws = connect(a);
            ws.on('error', () => {});
            const csm = firstMessage(ws, 5000); // the relay's CSM
            await opened(ws);
            ws.send(CSM);
            if (await csm) held.push(ws);
        }
        out(`held ${held.length}`);
        const ws = connect(a);
        const frames = [];
        ws.on('message', (d) => frames.push(decode(Buffer.from(d))));
        const closed = waitClose(ws, 5000);
        await opened(ws).then(() => ws.send(CSM), () => {});
        const c = await closed;
        out(`frames ${frames.map((m) => codeStr(m.code)).join(',')}`);
        const abort = frames.find((m) => m.code === 0xe5);
        out(`abort ${abort ? abort.payload.toString() : '-'}`);
        out(c);
        // the held connections are still served: a Ping on each, its Pong
        const pongs = await Promise.all(held.map((h) => {
            const p = new Promise((resolve) => {
                const t = setTimeout(() => resolve(0), 3000);
                h.on('message', (d) => {
                    if (decode(Buffer.from(d)).code === 0xe3) { clearTimeout(t); resolve(1); }
                });
            });
            h.send(encode({ code: 0xe2, token: Buffer.from([7]) }));
            return p;
        }));
        out(`pong ${pongs.reduce((x, y) => x + y, 0)}`);
        for (const h of held) h.terminate();
        break;
    }
    default:
        out('usage');
        process.exit(2);
    }
    process.exit(0);
}
main().catch((e) => { out(`error ${e.message}`); process.exit(1); });
