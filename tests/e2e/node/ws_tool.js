// ws_tool.js - the command line of ws_coap.js for the e2e shell tests
// (tests/e2e/lib_ws.sh). WSURI is ws://ADDR:PORT (the path
// /.well-known/coap is added).
//   get WSURI PATH [HOST]        one GET (POST with WS_PAYLOAD_BYTES bytes);
//                                prints "CODE PAYLOAD"
//   observe WSURI PATH HOST N    GET with Observe 0; prints "CODE obs PAYLOAD"
//                                per answer until N came
//   register WSURI EP            register EP (proxy=yes) over its WebSocket,
//                                then serve /hello on it; prints
//                                "2.01 registered /reg/N", one line per
//                                request it gets, "closed CODE REASON"
'use strict';
const { Client, registrant, codeStr, opt, OPT } = require('./ws_coap');

function uint(b) { let v = 0; for (const x of b || []) v = v * 256 + x; return v; }

async function main() {
    const [cmd, uri, a, b, n] = process.argv.slice(2);
    if (cmd === 'get') {
        const c = await new Client(uri).open();
        // WS_PAYLOAD_BYTES: a payload of that many bytes (one large message)
        const nb = Number(process.env.WS_PAYLOAD_BYTES || 0);
        const m = await c.request(nb ? 'POST' : 'GET', a, { host: b, payload: nb ? Buffer.alloc(nb, 0x61) : undefined });
        console.log(`${codeStr(m.code)} ${m.payload.toString()}`);
        c.close();
        return;
    }
    if (cmd === 'observe') {
        const c = await new Client(uri).open();
        let seen = 0;
        const done = new Promise((resolve) => {
            c.request('GET', a, { host: b, observe: 0, onNotify: (m) => {
                console.log(`${codeStr(m.code)} ${uint(opt(m, OPT.OBSERVE))} ${m.payload.toString()}`);
                if (++seen >= Number(n || 1)) resolve();
            } });
        });
        await done;
        c.close();
        return;
    }
    if (cmd === 'register') {
        const r = await registrant(uri, a, { log: (s) => console.log(s) });
        const loc = r.answer.options.filter((x) => x[0] === 8).map((x) => x[1].toString()).join('/');
        console.log(`${codeStr(r.answer.code)} registered /${loc}`);
        r.client.onClose = (code, reason) => { console.log(`closed ${code} ${reason}`); process.exit(0); };
        return;
    }
    console.error('usage: ws_tool.js get|observe|register WSURI ...');
    process.exit(2);
}
main().catch((e) => { console.log(`error ${e.message}`); process.exit(1); });
