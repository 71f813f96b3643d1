#!/usr/bin/env bash
# test_connect_lifecycle.sh - how `rdrelay-connect serve` keeps itself
# registered (issue 12): a long link payload registered with Block1, CoAP
# pings between refreshes, refreshes before lt, a registration removed behind
# its back (the next refresh is answered 4.04 -> it registers again and the
# name works again), `list` following Block2 over a long endpoint lookup (also
# over IPv6), a registration made over IPv6 with a sector, and SIGINT removes the
# registration and exits 0.
# Uses lib.sh and lib_proxy.sh.
# ctest: TIMEOUT 180
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_proxy.sh"

CONNECT=$RDRELAY_BIN/rdrelay-connect
[ -x "$CONNECT" ] || die "rdrelay-connect is not built"

rr_start_all
start_origin

# 100 links, about 4 KiB: more than one datagram's worth, so Block1.
LINKS=$(for i in $(seq 1 100); do printf '</sensor/%03d>;rt="temperature-c";if=sensor,' "$i"; done)
LINKS=${LINKS%,}

rr_start serve "$CONNECT" serve --rd "coap://127.0.0.1:$RR_PORT" --ep frank --lt 6 --ping 1 \
    --json --log-level debug --links "$LINKS" "coap://127.0.0.1:$ORIGIN_PORT"
_printed() { [ "$(grep -c '^{"ep":"frank"' "$T_DIR/serve.log")" -ge "$1" ]; }
wait_until 20 _printed 1 || die "serve did not register within 20 s"
HOST=$(grep '^{"ep":"frank"' "$T_DIR/serve.log" | tail -n 1 | jq -r .host)
REG=$(grep '^{"ep":"frank"' "$T_DIR/serve.log" | tail -n 1 | jq -r .registration)
REG_PATH=/${REG#coap://*/}
assert_eq "frank.$RR_DOMAIN" "$HOST" "serve prints frank's host name"

rd_lookup_res "ep=frank"
assert_code 2.05 "resource lookup for frank"
assert_eq 100 "$(lf_count "$PAYLOAD")" "all 100 links of the 4 KiB payload were registered (Block1)"

# pings and refreshes (lt 6: a refresh every ~4.5 s; --ping 1)
_count() { [ "$(grep -c "$1" "$T_DIR/serve.log")" -ge "$2" ]; }
wait_until 15 _count 'frank: ping answered' 2
assert_eq 0 $? "serve pings rdrelay between refreshes and gets answers"
wait_until 15 _count 'frank: registration /reg/[0-9]* refreshed' 2
assert_eq 0 $? "serve refreshes before lt runs out"
sleep 7 # longer than lt: still registered thanks to the refreshes
rd_lookup_ep "ep=frank"
assert_eq "$REG_PATH" "$(path_norm "$(lf_targets "$(lf_ep_link "$PAYLOAD" frank)")")" \
    "still registered under the same path after more than lt"

# the registration is removed behind serve's back
coap -m delete "$(rd_uri "$REG_PATH")"
assert_code 2.02 "an operator removes frank's registration"
wait_until 15 _printed 2
assert_eq 0 $? "serve registers again after its refresh was answered 4.04"
assert_eq 1 "$(grep -c 'is gone (4.04); registering again' "$T_DIR/serve.log")" \
    "serve logs why it registered again"
REG2=$(grep '^{"ep":"frank"' "$T_DIR/serve.log" | tail -n 1 | jq -r .registration)
assert_ne "$REG" "$REG2" "the new registration has a new path"
pcoap "$HOST" -m get /time
assert_code 2.05 "the name works again after the re-registration"

# list: 30 more (plain) registrations make the endpoint lookup block-wise
for i in $(seq 1 30); do
    rd_register "ep=plain-endpoint-number-$i&lt=300" '</x>'
    [ "$CODE" == 2.01 ] || fail "plain registration $i: $CODE"
done
out=$("$CONNECT" list --rd "coap://127.0.0.1:$RR_PORT" --all --json)
assert_eq 0 $? "list --all --json exits 0"
assert_eq 31 "$(jq length <<<"$out")" "list --all follows Block2: all 31 endpoints"
assert_eq "$HOST" "$(jq -r '.[] | select(.ep=="frank") | .host' <<<"$out")" "frank's host name in the list"
assert_eq "" "$(jq -r '.[] | select(.ep=="plain-endpoint-number-7") | .host' <<<"$out")" \
    "an endpoint that is not proxied has no host name"
out=$("$CONNECT" list --rd "coap://[::1]:$RR_PORT" --all)
assert_eq 32 "$(wc -l <<<"$out" | tr -d ' ')" "list --all over IPv6: a header and 31 rows"
out=$("$CONNECT" list --rd "coap://127.0.0.1:$RR_PORT")
assert_eq 2 "$(wc -l <<<"$out" | tr -d ' ')" "list (proxied only): a header and frank"
assert_match "frank +- +$HOST" "$out" "list shows frank's host name"
"$CONNECT" list --rd "coap://127.0.0.1:$(rr_free_port)" --timeout 1500 2>/dev/null
assert_eq 1 $? "list exits 1 when nothing answers"

# serve registering over IPv6; clients on either family reach it
rr_start serve6 "$CONNECT" serve --rd "coap://[::1]:$RR_PORT" --ep Gina --d lab --json \
    "coap://127.0.0.1:$ORIGIN_PORT"
wait_until 20 grep -q '^{"ep":"Gina"' "$T_DIR/serve6.log" || fail "serve over IPv6 did not register"
assert_eq "gina.lab.$RR_DOMAIN" "$(grep '^{"ep":"Gina"' "$T_DIR/serve6.log" | jq -r .host)" \
    "with a sector the host name is ep.d.domain, lower-cased"
pcoap "gina.lab.$RR_DOMAIN" -m get /time
assert_code 2.05 "a registration made over IPv6 is reached by an IPv4 client"
pcoap6 "gina.lab.$RR_DOMAIN" -m get /time
assert_code 2.05 "and by an IPv6 client"
rr_stop serve6 TERM
assert_eq 0 "$RR_EXIT" "serve over IPv6 exits 0 on SIGTERM"

rr_stop serve INT
assert_eq 0 "$RR_EXIT" "serve exits 0 on SIGINT"
rd_lookup_ep "ep=frank"
assert_eq "" "$(lf_ep_link "$PAYLOAD" frank)" "after SIGINT frank is gone from lookups"

t_done
