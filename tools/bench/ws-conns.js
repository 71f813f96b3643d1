// ws-conns.js - the relay-ws scale benchmark's load (tools/bench/ws-conns.sh):
// N CoAP-over-WebSocket registrants, each on its own connection, each
// registering with proxy=yes (so the connection is its path) and answering
// GET /hello; then a sample of them is reached through the relay from
// fresh WebSocket clients. Prints "registered N in MS ms", "reached K/K",
// then waits for stdin to close (the shell measures meanwhile).
'use strict';
const path = require('path');
const { Client, registrant } = require(path.join(__dirname, '../../tests/e2e/node/ws_coap.js'));

async function main() {
    const [uri, nStr, batchStr] = process.argv.slice(2);
    const n = Number(nStr || 10000), batch = Number(batchStr || 200);
    const t0 = Date.now();
    const regs = [];
    for (let i = 0; i < n; i += batch) {
        const part = [];
        for (let j = i; j < Math.min(n, i + batch); j++) part.push(registrant(uri, `bench${j}`, { lt: 3600 }));
        for (const r of await Promise.all(part)) {
            if (r.answer.code !== 0x41) throw new Error(`registration answered ${r.answer.code}`);
            regs.push(r.client);
        }
    }
    console.log(`registered ${regs.length} in ${Date.now() - t0} ms`);
    let ok = 0;
    const sample = 20;
    for (let k = 0; k < sample; k++) {
        const ep = `bench${Math.floor((k * n) / sample)}`;
        const c = await new Client(uri).open();
        const m = await c.request('GET', '/hello', { host: `${ep}.proxy.localhost` });
        if (m.code === 0x45 && m.payload.toString() === `hello from ${ep}`) ok++;
        c.close();
    }
    console.log(`reached ${ok}/${sample}`);
    process.stdin.resume();
    process.stdin.on('end', () => process.exit(0));
    process.stdin.on('close', () => process.exit(0));
}
main().catch((e) => { console.log(`error ${e.message}`); process.exit(1); });
