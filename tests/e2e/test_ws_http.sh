#!/usr/bin/env bash
# test_ws_http.sh - relay-ws (issue 17): what else rdrelay-ws does on its
# port. HTTP GET serves the files of ws_www_dir (index.html for /, content
# types by extension, 404 for a missing file, no directory listing, nothing
# outside the directory); coaps+ws:// works when ws_tls_cert/ws_tls_key are
# set (a self-signed certificate made here with openssl); X-Forwarded-For
# names the client only when the peer is in ws_trusted_proxies.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_proxy.sh"
. "$(dirname "$0")/lib_tcp.sh"
. "$(dirname "$0")/lib_ws.sh"

command -v curl >/dev/null || die "curl is not installed"
command -v openssl >/dev/null || die "openssl is not installed"
W=$T_DIR/www
mkdir -p "$W/sub" "$W/assets"
echo '<!doctype html><title>t</title>index-marker' >"$W/index.html"
echo 'console.log("app-marker");' >"$W/app.js"
echo 'body { color: black; }' >"$W/style.css"
echo '{"json": true}' >"$W/data.json"
echo '<svg xmlns="http://www.w3.org/2000/svg"/>' >"$W/assets/logo.svg"
echo 'secret' >"$T_DIR/outside.txt"
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T_DIR/key.pem" -out "$T_DIR/cert.pem" -days 2 \
    -subj "/CN=localhost" >/dev/null 2>&1 || die "openssl could not make a certificate"
TLS_PORT=$(rr_free_port t) || die "no free port"
ws_start_all --ws-www-dir "$W" --ws-tls-cert "$T_DIR/cert.pem" --ws-tls-key "$T_DIR/key.pem" \
    --ws-tls-listen "127.0.0.1:$TLS_PORT" --ws-trusted-proxies 127.0.0.1

get() { # path -> "STATUS TYPE" and the body in $T_DIR/body
    curl -s -o "$T_DIR/body" -w '%{http_code} %{content_type}' --path-as-is "http://127.0.0.1:$WS_PORT$1"
}
assert_match '^200 text/html' "$(get /)" "GET / -> 200 text/html"
assert_contains "$(cat "$T_DIR/body")" index-marker "GET / serves index.html"
assert_match '^200 text/javascript' "$(get /app.js)" "GET /app.js -> 200 text/javascript"
assert_contains "$(cat "$T_DIR/body")" app-marker "the script's bytes"
assert_match '^200 text/css' "$(get /style.css)" "GET /style.css -> text/css"
assert_match '^200 application/json' "$(get /data.json)" "GET /data.json -> application/json"
assert_match '^200 image/svg\+xml' "$(get /assets/logo.svg)" "GET /assets/logo.svg -> image/svg+xml"
assert_match '^404 ' "$(get /missing.html)" "a missing file -> 404"
st=$(get /sub/)
assert_match '^(403|404) ' "$st" "a directory without index.html -> $st, no listing"
assert_not_contains "$(cat "$T_DIR/body")" "index-marker" "... and no other file instead"
st=$(get /../outside.txt)
assert_not_contains "$(cat "$T_DIR/body")" secret "GET /../outside.txt does not leave ws_www_dir ($st)"
st=$(get /%2e%2e/outside.txt)
assert_not_contains "$(cat "$T_DIR/body")" secret "GET /%2e%2e/outside.txt does not leave ws_www_dir ($st)"
wscoap 4 /.well-known/core
assert_code 2.05 "CoAP over the same port still works while files are served"

# ---- coaps+ws
out=$(cd "$NODE_DIR" && WS_INSECURE=1 timeout 10 node ws_tool.js get "wss://127.0.0.1:$TLS_PORT" /.well-known/core 2>&1)
assert_match '^2\.05 .*rd' "$out" "coaps+ws://: GET /.well-known/core over TLS -> 2.05"
st=$(curl -sk -o /dev/null -w '%{http_code}' "https://127.0.0.1:$TLS_PORT/")
assert_eq 200 "$st" "the status page over https on the TLS port"
out=$(cd "$NODE_DIR" && timeout 10 node ws_tool.js get "wss://127.0.0.1:$TLS_PORT" /.well-known/core 2>&1)
assert_match '^error' "$out" "a client that checks the certificate refuses the self-signed one (TLS is real)"

# ---- X-Forwarded-For
(cd "$NODE_DIR" && WS_XFF="198.51.100.9, 203.0.113.7" timeout 10 node ws_tool.js get "$(ws_uri 4)" /.well-known/core >/dev/null 2>&1)
wait_until 5 grep -q "from 203.0.113.7" "$T_DIR/ws.log"
assert_contains "$(grep 'conn .* from ' "$T_DIR/ws.log")" "from 203.0.113.7" \
    "from a trusted proxy (127.0.0.1) the last X-Forwarded-For entry is the client"
(cd "$NODE_DIR" && WS_XFF="192.0.2.66" timeout 10 node ws_tool.js get "$(ws_uri 6)" /.well-known/core >/dev/null 2>&1)
assert_not_contains "$(grep 'conn .* from ' "$T_DIR/ws.log")" "192.0.2.66" \
    "from an untrusted peer ([::1]) X-Forwarded-For is ignored"
assert_contains "$(grep 'conn .* from ' "$T_DIR/ws.log")" "from [::1]" "... the TCP peer is the client"
t_done
