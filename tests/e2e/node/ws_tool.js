// ws_tool.js - the command line of ws_coap.js for the e2e shell tests.
//   node ws_tool.js get WSURI PATH [HOST]      one GET; prints "CODE PAYLOAD"
//   node ws_tool.js register WSURI EP          register (proxy=yes), serve
//                                              /hello; prints "registered LOC"
'use strict';
const { Client, registrant, codeStr } = require('./ws_coap');

async function main() {
    const [cmd, uri, a, b] = process.argv.slice(2);
    if (cmd === 'get') {
        const c = await new Client(uri).open();
        const m = await c.request('GET', a, { host: b });
        console.log(`${codeStr(m.code)} ${m.payload.toString()}`);
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
    console.error('usage: ws_tool.js get|register WSURI ...');
    process.exit(2);
}
main().catch((e) => { console.error(`error: ${e.message}`); process.exit(1); });
