#!/usr/bin/env bash
# test_status_page.sh - the live status page (www/, issue 17) in a real
# browser: rd-frontend, relay-udp, relay-tcp and rdrelay-ws (serving www/
# and CoAP over WebSockets on one port), headless Chromium driven by
# playwright-core (tests/e2e/page/status_page.js). The page must show a UDP
# registration as it arrives (host name, transport, lifetime, links, copy
# button), a TCP registrant turning unreachable when its connection closes,
# an lt=3 registration leaving when it expires, 12 more registrations
# (lookup answers of several KiB), "try it" GET and Observe
# through the proxy (keyboard only), a phone-sized layout, a banner while
# its own connection is down and a live table again after it reconnects,
# the hosting port of a registration (port-based hosting),
# and no console errors; then the same facts in endpoint lookup to a plain
# CoAP client (host, transport, relay, expires, reachable-since, filters, a
# registrant refused when it sets host=). This script owns every process
# (lib.sh, by PID); the browser script asks for them on its stdout
# ("ACTION ...") and gets "OK"/"ERR" on its stdin. Screenshots:
# <build>/page-shots/.
# ctest: TIMEOUT 300
# ctest: LABELS page
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_proxy.sh"
. "$(dirname "$0")/lib_tcp.sh"
. "$(dirname "$0")/lib_port.sh"

PAGE_DIR=$RDRELAY_SRC/tests/e2e/page
SHOT_DIR=$(cd "$RDRELAY_BIN/.." && pwd)/page-shots
command -v node >/dev/null || die "node is not installed (tools/setup-deps.sh)"
[ -x /usr/bin/chromium ] || die "chromium is not installed (tools/setup-deps.sh)"
[ -d "$PAGE_DIR/node_modules/playwright-core" ] ||
    die "playwright-core missing: run 'npm ci' in $PAGE_DIR (tools/run-tests.sh does)"
mkdir -p "$SHOT_DIR"

# port-based hosting on (issue 18): the page shows alice's hosting port
RR_PORT=$(rr_free_port tu) || die "no free port"
WS_PORT=$(rr_free_port tu) || die "no free port for rdrelay-ws"
RANGE=$(port_range_free 16) || die "no free port range"
RR_EXTRA_ARGS+=(--port-hosting-range "$RANGE")
rt_start_all

# http_get PATH: rdrelay-ws's whole HTTP/1.0 answer (status line, headers,
# body) for GET PATH, through bash's /dev/tcp (bounded: 3 s).
http_get() {
    timeout 3 bash -c 'exec 3<>/dev/tcp/127.0.0.1/$0 &&
        printf "GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n" "$1" >&3 && cat <&3' \
        "$WS_PORT" "$1" 2>/dev/null
}
http_status() { http_get "$1" | head -n 1 | awk '{print $2}'; }

# Does rdrelay-ws serve the page? (HTTP 200 for / with the page's title)
ws_serves_page() {
    local a
    a=$(http_get /)
    [[ "$a" == "HTTP/1."?" 200"* ]] && [[ "$a" == *"<title>rdrelay"* ]]
}

ws_start() {
    rr_common_args
    rr_start ws rdrelay-ws "${RR_ARGS[@]}" --ws-listen "127.0.0.1:$WS_PORT" \
        --ws-www-dir "$RDRELAY_SRC/www"
    wait_until 15 ws_serves_page
}

ws_start || die "rdrelay-ws does not serve the page on port $WS_PORT"
ok "rdrelay-ws serves www/index.html at / (HTTP, port $WS_PORT)"
for f in style.css app.js coap-ws.js; do
    assert_eq 200 "$(http_status "/$f")" "rdrelay-ws serves www/$f"
done

# One action the browser script asked for, in this shell (lib.sh must see
# the processes it starts); the reply line goes to REPLY_LINE.
page_action() { # words...
    REPLY_LINE=OK
    case "$1" in
        reg-udp)
            rr_start "$2" rr-registrant --rd "coap://127.0.0.1:$RR_PORT/rd" --listen 127.0.0.1:0 \
                --ep "$2"
            reg_wait_registered "$2" 1 || REPLY_LINE="ERR $2 did not register"
            ;;
        reg-tcp)
            # no reconnect during the test: the closed path must stay closed
            rr_start "$2" rr-registrant --rd "$(rd_uri_x tcp 4 /rd)" --listen 127.0.0.1:0 \
                --ep "$2" --reconnect-ms 600000
            reg_wait_registered "$2" 1 || REPLY_LINE="ERR $2 did not register over TCP"
            ;;
        close-tcp)
            # SIGUSR1: the registrant closes its TCP connection on purpose
            kill -USR1 "${T_PIDS[$2]}"
            rt_wait_route_closed "$2.$RR_DOMAIN" 1 10 ||
                REPLY_LINE="ERR relay-tcp did not see $2's connection close"
            ;;
        register-once)
            # one POST and no refresh: the registration expires after lt
            rd_register "ep=$2&proxy=yes&lt=$3" '</x>;ct=0'
            [ "$CODE" == 2.01 ] || REPLY_LINE="ERR register $2: $CODE $PAYLOAD"
            ;;
        register-many)
            # N registrations from coap-client: the lookups outgrow one
            # block, so notifications arrive block-wise (Block2)
            local i
            for ((i = 1; i <= $2; i++)); do
                rd_register "ep=bulk-$i&d=hall&proxy=yes&lt=600&et=plugtest.device" \
                    '</sensors/temperature>;rt=temperature;ct=0,</actuators/lamp>;rt=light;if=core.a'
                [ "$CODE" == 2.01 ] || REPLY_LINE="ERR register bulk-$i: $CODE $PAYLOAD"
            done
            ;;
        ws-stop)
            rr_stop ws
            ;;
        ws-start)
            ws_start || REPLY_LINE="ERR rdrelay-ws did not come back"
            ;;
        *) REPLY_LINE="ERR unknown action $*" ;;
    esac
}

coproc PAGE {
    cd "$PAGE_DIR" &&
        PAGE_URL="http://127.0.0.1:$WS_PORT/" SHOT_DIR="$SHOT_DIR" RD_DOMAIN="$RR_DOMAIN" \
            exec node status_page.js 2>"$T_DIR/browser.err"
}
PAGE_NODE=$PAGE_PID
T_BG_PIDS+=("$PAGE_NODE")
done_seen=0
# every line within 90 s (each wait in the browser script is at most 20 s)
while IFS= read -r -t 90 line <&"${PAGE[0]}"; do
    case "$line" in
        "ACTION "*)
            # shellcheck disable=SC2086 # the words of the action
            page_action ${line#ACTION }
            echo "# $line -> $REPLY_LINE"
            echo "$REPLY_LINE" >&"${PAGE[1]}"
            ;;
        "ok - "*) ok "${line#ok - }" ;;
        "not ok - "*) fail "${line#not ok - }" ;;
        DONE)
            done_seen=1
            break
            ;;
        *) echo "$line" ;;
    esac
done
[ "$done_seen" == 1 ] || fail "the browser script stopped answering: $(tail -n 20 "$T_DIR/browser.err" 2>/dev/null)"
bg_wait "$PAGE_NODE" 20 || kill "$PAGE_NODE" 2>/dev/null
[ -s "$T_DIR/browser.err" ] && sed 's/^/# browser stderr: /' "$T_DIR/browser.err" | head -n 20

# What the page showed is what endpoint lookup says to any CoAP client.
rd_lookup_ep "ep=bob"
assert_contains "$PAYLOAD" ";host=\"bob.$RR_DOMAIN\";transport=\"tcp\";relay=\"tcp\";expires=\"" \
    "endpoint lookup (UDP client): bob's host name, transport, relay, expiry"
assert_contains "$PAYLOAD" 'reachable="no";unreachable-since="' "and that its path is lost"
rd_lookup_ep "ep=alice"
assert_match 'reachable-since="[0-9-]+T[0-9:]+Z"' "$PAYLOAD" "alice: reachable-since"
rd_lookup_ep "transport=tcp"
assert_eq bob "$(lf_eps "$PAYLOAD")" "?transport=tcp finds only bob"
rd_register "ep=mallory&proxy=yes&host=alice.$RR_DOMAIN" '</x>'
assert_code 4.00 "a registrant cannot set host= (the RD computes it)"

if [ -f "$SHOT_DIR/status-page.png" ]; then
    ok "screenshots saved in $SHOT_DIR"
else
    fail "no screenshot in $SHOT_DIR"
fi

t_done
