#!/usr/bin/env bash
# test_connect_options.sh - rdrelay-connect serve is transparent (issue 12):
# what a client sends by name through rdrelay and `serve` reaches the local
# server byte-identical (OSCORE 9, EDHOC 21, ETag, Accept, an unknown safe
# option, a binary payload), what the server answers comes back unchanged
# (ETag, Max-Age, an unknown safe option), Block1 uploads pass block by block
# (the origin sees every block and reassembles itself), NON stays NON, an
# Observe cancellation reaches the origin, and through `reach` two clients
# that use the same token and message id each get their own answer.
# Local servers: rr-registrant --no-register (/echo, Block1) and a raw
# datagram origin written here in node (it decodes the options it receives
# and answers with them as text, so no CoAP library interprets them first).
# Uses lib.sh and lib_proxy.sh.
# ctest: TIMEOUT 180
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_proxy.sh"

CONNECT=$RDRELAY_BIN/rdrelay-connect
[ -x "$CONNECT" ] || die "rdrelay-connect is not built"
command -v node >/dev/null || die "node is needed for the raw origin"

rr_start_all
reg_start_noreg carol
CAROL_PORT=$(reg_port carol)
RAW_PORT=$(rr_free_port) || die "no free UDP port"

# The raw origin: one CoAP/UDP datagram in, one piggybacked 2.05 out whose
# payload lists the request's type, code and options ("opt:NUM:HEX" lines,
# in order) and its payload as hex; the answer carries ETag 0x0102,
# Max-Age 60 and the unknown safe option 65000 = 0xabcd.
cat >"$T_DIR/raw_origin.js" <<'EOF'
const dgram = require('dgram');
const port = Number(process.argv[2]);
const s = dgram.createSocket('udp4');
function opts(buf, off) {
  const out = []; let num = 0;
  while (off < buf.length && buf[off] !== 0xff) {
    let d = buf[off] >> 4, l = buf[off] & 15; off++;
    if (d === 13) d = buf[off++] + 13; else if (d === 14) { d = buf.readUInt16BE(off) + 269; off += 2; }
    if (l === 13) l = buf[off++] + 13; else if (l === 14) { l = buf.readUInt16BE(off) + 269; off += 2; }
    num += d; out.push(`opt:${num}:${buf.slice(off, off + l).toString('hex')}`); off += l;
  }
  const payload = off < buf.length ? buf.slice(off + 1) : Buffer.alloc(0);
  return { out, payload };
}
s.on('message', (m, r) => {
  if (m.length < 4 || (m[1] === 0)) return;           // pings, ACKs: nothing to do
  const type = (m[0] >> 4) & 3, tkl = m[0] & 15, code = m[1];
  if (code >= 32) return;                               // not a request
  const { out, payload } = opts(m, 4 + tkl);
  const text = [`type:${type}`, `code:${code >> 5}.${String(code & 31).padStart(2, '0')}`, ...out,
                `payload:${payload.toString('hex')}`].join('\n') + '\n';
  // ETag(4)=0102, Max-Age(14)=60, 65000=abcd; deltas 4, 10, 64986 (14: 269+...)
  const hdr = Buffer.from([type === 0 ? 0x60 | tkl : 0x50 | tkl, 0x45, m[2], m[3]]);
  if (type !== 0) { const mid = Math.floor(Math.random() * 65536); hdr[2] = mid >> 8; hdr[3] = mid & 255; }
  const big = 65000 - 14 - 269;
  const o = Buffer.from([0x42, 0x01, 0x02, 0xa1, 60, 0xe2, big >> 8, big & 255, 0xab, 0xcd, 0xff]);
  s.send(Buffer.concat([hdr, m.slice(4, 4 + tkl), o, Buffer.from(text)]), r.port, r.address);
});
s.bind(port, '127.0.0.1', () => console.log(`listening 127.0.0.1:${port}`));
EOF
rr_start raw "$(command -v node)" "$T_DIR/raw_origin.js" "$RAW_PORT"
wait_until 10 grep -q '^listening ' "$T_DIR/raw.log" || die "raw origin did not start"

rr_start serve "$CONNECT" serve --rd "coap://127.0.0.1:$RR_PORT" --json --log-level debug \
    --ep "carol=coap://127.0.0.1:$CAROL_PORT" --ep "dave=coap://127.0.0.1:$RAW_PORT" \
    --links '</x>;rt=raw'
_printed() { [ "$(grep -c '^{"ep":' "$T_DIR/serve.log")" -ge 2 ]; }
wait_until 20 _printed || die "serve did not register both names within 20 s"
CAROL=carol.$RR_DOMAIN
DAVE=dave.$RR_DOMAIN

# ------------------------------------------------------------ requests arrive unchanged

printf '\000\001\377\376binary\200\000' >"$T_DIR/bin.dat"
bin_hex=$(od -An -v -tx1 "$T_DIR/bin.dat" | tr -d ' \n')
pcoap "$DAVE" -m post -f "$T_DIR/bin.dat" -O 9,0x0901ab -O 21 -O 4,0xdeadbeef -O 17,0x28 \
    -O 65000,0x00ff00fe7f /raw
assert_code 2.05 "POST by name to the raw origin"
assert_eq 0901ab "$(echo_opt "$PAYLOAD" 9)" "OSCORE (9) arrives byte-identical"
assert_eq "opt:21:" "$(grep -E '^opt:21:' <<<"$PAYLOAD")" "EDHOC (21, empty) arrives"
assert_eq deadbeef "$(echo_opt "$PAYLOAD" 4)" "ETag (4) arrives unchanged"
assert_eq 28 "$(echo_opt "$PAYLOAD" 17)" "Accept (17) arrives unchanged"
assert_eq 00ff00fe7f "$(echo_opt "$PAYLOAD" 65000)" "unknown safe option 65000 arrives unchanged"
assert_eq "" "$(echo_opt "$PAYLOAD" 3)" "no Uri-Host reaches the local server"
assert_eq 726177 "$(echo_opt "$PAYLOAD" 11)" "Uri-Path arrives unchanged"
assert_eq "$bin_hex" "$(echo_field "$PAYLOAD" payload)" "a binary payload arrives unchanged"
assert_eq 0 "$(echo_field "$PAYLOAD" type)" "a CON request stays CON"

# ------------------------------------------------------------ answers come back unchanged

assert_contains "$RESP" "ETag:0x0102" "ETag in the answer passes"
assert_contains "$RESP" "Max-Age:60" "Max-Age in the answer passes"
assert_contains "$RESP" "65000:" "an unknown safe option in the answer passes"

pcoap "$DAVE" -N -m get /raw
assert_code 2.05 "NON GET by name"
assert_eq 1 "$(echo_field "$PAYLOAD" type)" "a NON request reaches the local server as NON"
assert_match '^v:1 t:NON ' "$RESP" "the NON answer comes back as NON"

# ------------------------------------------------------------ Block1 and Block2 with a libcoap server

pcoap "$CAROL" -m get /hello
assert_code 2.05 "GET /hello on rr-registrant by name"
assert_eq hello "$PAYLOAD" "its body"

head -c 5000 /dev/urandom >"$T_DIR/upload.bin"
timeout 30 coap-client-notls -v 7 -B 10 -b 256 -m put -f "$T_DIR/upload.bin" -O "3,$CAROL" \
    "$(rd_uri /echo)" >"$T_DIR/block1.out" 2>&1
b1=$(grep -cE '^v:1 t:CON c:PUT .*Block1:' "$T_DIR/block1.out" || true)
c231=$(grep -cE '^v:1 t:ACK c:2\.31 ' "$T_DIR/block1.out" || true)
assert_match '^([2-9][0-9])$' "$b1" "the 5000-byte upload went as separate Block1 requests ($b1)"
assert_match '^(19|[2-9][0-9])$' "$c231" "each block but the last was answered 2.31 ($c231)"
pcoap "$CAROL" -m put -b 256 -f "$T_DIR/upload.bin" /echo
assert_code 2.04 "the Block1 upload completes with 2.04"
assert_eq "$(fnv1a64 "$T_DIR/upload.bin")" "$(echo_field "$PAYLOAD" fnv1a64)" \
    "the origin reassembled exactly the uploaded bytes"

pcoap "$CAROL" -m get -b 64 /large
assert_code 2.05 "GET /large in 64-byte Block2 blocks"
cp "$T_DIR/coap.body" "$T_DIR/large.proxied"
coap -m get "coap://127.0.0.1:$CAROL_PORT/large"
assert_eq "$(stat -c %s "$T_DIR/coap.body")" "$(stat -c %s "$T_DIR/large.proxied")" \
    "the whole /large body arrived"
cmp -s "$T_DIR/coap.body" "$T_DIR/large.proxied"
assert_eq 0 $? "the /large body is identical to a direct GET"

# ------------------------------------------------------------ Observe cancel

coap_bg "$T_DIR/obs.out" -B 6 -s 3 -O "3,$CAROL" "$(rd_uri /obs)"
bg_wait "$BG_PID" 12
n=$(grep -cE '^v:1 t:(CON|NON|ACK) c:2\.05 .*Observe:' "$T_DIR/obs.out" || true)
assert_match '^([2-9]|[1-9][0-9]+)$' "$n" "Observe /obs by name: notifications arrive ($n)"
wait_until 5 grep -q '^observe cancel' "$T_DIR/carol.log"
assert_eq 0 $? "the client's Observe cancellation reaches the origin unchanged"

# ------------------------------------------------------------ reach: same token, two clients

REACH_PORT=$(rr_free_port) || die "no free UDP port"
rr_start reach "$CONNECT" reach --rd "coap://[::1]:$RR_PORT" --host "$DAVE" \
    --listen "127.0.0.1:$REACH_PORT" --log-level debug
wait_until 10 grep -q '^listening on ' "$T_DIR/reach.log" || die "reach did not start"
# Two sockets send GET /a and GET /b with the same token (0x0102) and the
# same message id at the same moment; each must get the answer to its own
# request (the raw origin echoes the Uri-Path).
cat >"$T_DIR/same_token.js" <<'EOF2'
const dgram = require('dgram');
const port = Number(process.argv[2]);
const got = {};
function req(path) {
  return Buffer.concat([Buffer.from([0x42, 0x01, 0x12, 0x34, 0x01, 0x02, 0xb0 | path.length]),
                        Buffer.from(path)]);
}
for (const p of ['a', 'b']) {
  const s = dgram.createSocket('udp4');
  s.on('message', (m) => {
    got[p] = m.toString('latin1');
    s.close();
    if (Object.keys(got).length === 2) {
      for (const k of ['a', 'b'])
        console.log(`${k}: tkl=${got[k].charCodeAt(0) & 15} ` +
                    (got[k].includes(`opt:11:${Buffer.from(k).toString('hex')}\n`) ? 'own' : 'other'));
      process.exit(0);
    }
  });
  s.send(req(p), port, '127.0.0.1');
}
setTimeout(() => { console.log('timeout', JSON.stringify(Object.keys(got))); process.exit(1); }, 5000);
EOF2
out=$(timeout 10 node "$T_DIR/same_token.js" "$REACH_PORT")
assert_contains "$out" "a: tkl=2 own" "client a (token 0x0102) gets the answer to its own request"
assert_contains "$out" "b: tkl=2 own" "client b (same token, same message id) gets its own answer"

t_done
