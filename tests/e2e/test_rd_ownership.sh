#!/usr/bin/env bash
# test_rd_ownership.sh - name ownership, per-name secrets, registry limits
# and the state directory's permissions (issue 19, the registry side), with
# a second loopback address as the stranger (127.0.0.2), over UDP and TCP:
# - takeover=same-address (default): the stranger cannot re-register a live
#   name, nor update or DELETE its registration resource (4.03 with a
#   diagnostic; lookups unchanged), over either transport; the owner can,
#   from another port and over the other transport; once the owner DELETEs
#   it the name is free, and the stranger gets a new path, never the old one
#   (the old path answers 4.04 to its former owner);
# - name_secrets: a name with a secret needs ?sec= (4.01), which is never
#   shown in lookups; `rdrelay-connect serve --secret-file` (UDP) and
#   `--secret` (TCP) register it and DELETE it on SIGTERM, without a secret
#   serve gives up with exit 2;
# - limits: max_regs_per_source (4.29 with Max-Age 60), max_links (4.13),
#   each counted in rdrelayctl status, a burst of refusals logs one line;
# - the state directory is 0700, every ipc socket in it 0600;
# - a missing or malformed name_secrets file stops rd-frontend with exit 2.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_proxy.sh"
. "$(dirname "$0")/lib_tcp.sh"

CTL=$RDRELAY_BIN/rdrelayctl
CONNECT=$RDRELAY_BIN/rdrelay-connect
SECRETS=$T_DIR/name_secrets
printf '# test secrets\nguarded s3cret-value\n*.vault vaultpw\n' >"$SECRETS"
# a missing or malformed secrets file is a configuration error: exit 2
timeout 20 "$RDRELAY_BIN/rdrelay-frontend" --state-dir "$T_DIR/bad" \
    --name-secrets "$T_DIR/nonexistent" >"$T_DIR/bad.log" 2>&1
assert_eq 2 $? "rdrelay-frontend with a missing name_secrets file exits 2"
printf 'only-a-name\n' >"$T_DIR/malformed"
timeout 20 "$RDRELAY_BIN/rdrelay-frontend" --state-dir "$T_DIR/bad" \
    --name-secrets "$T_DIR/malformed" >>"$T_DIR/bad.log" 2>&1
assert_eq 2 $? "rdrelay-frontend with a malformed name_secrets file exits 2"
assert_contains "$(cat "$T_DIR/bad.log")" "malformed:1" "and names the file and line"

RR_EXTRA_ARGS=(--name-secrets "$SECRETS" --max-regs-per-source 3 --max-links 5)
rt_start_all

STRANGER=(-a 127.0.0.2)
LF=(-t 40 -e '</evil>;rt=evil')


# ------------------------------------------------------------ ownership
rd_register 'ep=alice&proxy=yes&lt=600'
assert_code 2.01 "alice registers from 127.0.0.1 over UDP"
A=$LOCATION
BASELINE=$(rd_snapshot)
assert_contains "$BASELINE" 'ep="alice"' "alice is in the endpoint lookup"

rd_refused 4.03 "stranger (127.0.0.2, UDP) re-registers alice" "${STRANGER[@]}" -m post "${LF[@]}" \
    "$(rd_uri '/rd?ep=alice&proxy=yes')"
assert_contains "$PAYLOAD" "another source" "the diagnostic says why"
rd_refused 4.03 "stranger (UDP) re-registers ALICE (the same proxy name)" "${STRANGER[@]}" -m post \
    "${LF[@]}" "$(rd_uri '/rd?ep=ALICE&proxy=yes')"
rd_refused 4.03 "stranger (UDP) updates alice's $A" "${STRANGER[@]}" -m post "$(rd_uri "$A?lt=60")"
rd_refused 4.03 "stranger (UDP) deletes alice's $A" "${STRANGER[@]}" -m delete "$(rd_uri "$A")"
rd_refused 4.03 "stranger (127.0.0.2, TCP) re-registers alice" "${STRANGER[@]}" -m post "${LF[@]}" \
    "$(rd_uri_tcp '/rd?ep=alice&proxy=yes')"
rd_refused 4.03 "stranger (TCP) deletes alice's $A" "${STRANGER[@]}" -m delete "$(rd_uri_tcp "$A")"

coap -m post "$(rd_uri "$A")"
assert_code 2.04 "the owner updates from another port (a NAT rebinding)"
coap -m post "$(rd_uri_tcp "$A")"
assert_code 2.04 "the owner's address updates over TCP too"

# a registration over TCP is protected the same way
coap -m post -t 40 -e '</t>' "$(rd_uri_tcp '/rd?ep=tcpname&proxy=yes')"
assert_code 2.01 "tcpname registers over TCP from 127.0.0.1"
T=$LOCATION
BASELINE=$(rd_snapshot)
rd_refused 4.03 "stranger (UDP) re-registers tcpname" "${STRANGER[@]}" -m post "${LF[@]}" \
    "$(rd_uri '/rd?ep=tcpname&proxy=yes')"
rd_refused 4.03 "stranger (TCP) updates tcpname's $T" "${STRANGER[@]}" -m post "$(rd_uri_tcp "$T")"

# deleted: the name is free, the path is never handed out again
coap -m delete "$(rd_uri "$A")"
assert_code 2.02 "the owner deletes alice"
coap "${STRANGER[@]}" -m post "${LF[@]}" "$(rd_uri '/rd?ep=alice&proxy=yes')"
assert_code 2.01 "after the DELETE the stranger may register alice"
assert_ne "$(path_norm "$A")" "$(path_norm "$LOCATION")" "the stranger gets a new path, not $A"
coap -m post "$(rd_uri "$A")"
assert_code 4.04 "the former owner's update of $A finds nothing (no path reuse)"
coap -m post "${LF[@]}" "$(rd_uri '/rd?ep=alice&proxy=yes')"
assert_code 4.03 "now alice belongs to 127.0.0.2: 127.0.0.1 is the stranger"

# ------------------------------------------------------------ secrets
rd_register 'ep=guarded&lt=600'
assert_code 4.01 "a name with a secret, registered without it -> 4.01"
assert_diagnostic "4.01 carries a diagnostic"
rd_register 'ep=guarded&lt=600&sec=wrong'
assert_code 4.01 "with a wrong secret -> 4.01"
rd_register 'ep=box&d=vault&sec=vaultpw'
assert_code 2.01 "a pattern (*.vault) with its secret -> 2.01"
rd_lookup_ep
assert_not_contains "$PAYLOAD" "vaultpw" "the secret is not shown in the endpoint lookup"
assert_not_contains "$PAYLOAD" "sec=" "no sec attribute is stored"

start_origin
rr_start noserve "$CONNECT" serve --rd "coap://127.0.0.1:$RR_PORT" --ep guarded \
    "coap://127.0.0.1:$ORIGIN_PORT"
wait_until 20 eval '! rr_alive noserve'
rr_stop noserve
assert_eq 2 "$RR_EXIT" "rdrelay-connect serve without --secret: registration refused, exit 2"
printf 's3cret-value\n' >"$T_DIR/secret"
rr_start serve "$CONNECT" serve --rd "coap://127.0.0.1:$RR_PORT" --ep guarded --lt 600 \
    --secret-file "$T_DIR/secret" --json "coap://127.0.0.1:$ORIGIN_PORT"
_guarded_in_lookup() { rd_lookup_ep 'ep=guarded'; [[ "$PAYLOAD" == *'ep="guarded"'* ]]; }
wait_until 20 _guarded_in_lookup
assert_contains "$PAYLOAD" 'ep="guarded"' "rdrelay-connect serve --secret-file registers guarded"
assert_not_contains "$PAYLOAD" "s3cret" "its secret is not shown"
_guarded_reachable() { coap -m get -O "3,guarded.$RR_DOMAIN" "$(rd_uri /time)"; [ "$CODE" == 2.05 ]; }
wait_until 10 _guarded_reachable # the route reaches relay-udp just after the lookup shows it
assert_code 2.05 "guarded is reachable through rdrelay"
rr_stop serve
assert_eq 0 "$RR_EXIT" "serve exits 0 on SIGTERM"
rd_lookup_ep 'ep=guarded'
assert_eq "" "$PAYLOAD" "serve's DELETE with the secret removed guarded"
rr_start serve "$CONNECT" serve --transport tcp --rd "coap+tcp://127.0.0.1:$RR_PORT" \
    --ep guarded --lt 600 --secret s3cret-value --json "coap://127.0.0.1:$ORIGIN_PORT"
wait_until 20 _guarded_in_lookup
assert_contains "$PAYLOAD" 'ep="guarded"' "serve --transport tcp --secret registers guarded over TCP"
rr_stop serve
rd_lookup_ep 'ep=guarded'
assert_eq "" "$PAYLOAD" "its DELETE over TCP with the secret removed it"

# ------------------------------------------------------------ limits
SRC3=(-a 127.0.0.3)
for n in 1 2 3; do
    coap "${SRC3[@]}" -m post -t 40 -e '</x>' "$(rd_uri "/rd?ep=many$n")"
    assert_code 2.01 "127.0.0.3: registration $n of 3"
done
coap "${SRC3[@]}" -m post -t 40 -e '</x>' "$(rd_uri '/rd?ep=many4')"
assert_code 4.29 "127.0.0.3: a 4th registration -> 4.29 (max_regs_per_source 3)"
assert_diagnostic "4.29 carries a diagnostic"
assert_match 'Max-Age:60' "$RESP" "4.29 carries Max-Age 60"
coap "${SRC3[@]}" -m post -t 40 -e '</y>' "$(rd_uri '/rd?ep=many1')"
assert_code 2.01 "127.0.0.3: re-registering an existing name is not refused"
coap -m post -t 40 -e '</1>,</2>,</3>,</4>,</5>,</6>' "$(rd_uri '/rd?ep=wide')"
assert_code 4.13 "6 links -> 4.13 (max_links 5)"
assert_diagnostic "4.13 carries a diagnostic"

st=$("$CTL" --state-dir "$T_STATE" --timeout-ms 3000 status --json | tr -d ' \n')
counter() { grep -oE "\"$1\":[0-9]+" <<<"$st" | head -n 1 | cut -d: -f2; }
assert_eq 1 "$(counter source_full)" "rdrelayctl status counts source_full"
assert_eq 1 "$(counter too_many_links)" "rdrelayctl status counts too_many_links"
assert_eq 9 "$(counter takeover_refused)" "rdrelayctl status counts takeover_refused"
assert_eq 3 "$(counter secret_refused)" "rdrelayctl status counts secret_refused"
lines=$(grep -c 'limit takeover_refused' "$T_DIR/frontend.log")
if [ "$lines" -ge 1 ] && [ "$lines" -lt 9 ]; then
    ok "9 takeover refusals logged in $lines rate-limited line(s)"
else
    fail "9 takeover refusals logged in $lines line(s) (want 1..8)"
fi

# ------------------------------------------------------------ permissions
assert_eq 700 "$(stat -c %a "$T_STATE")" "the state directory is 0700"
for s in ctl.sock routes.sock relay-udp.sock relay-tcp.sock; do
    assert_eq "srw-------" "$(stat -c %A "$T_STATE/$s" 2>&1)" "$s is 0600"
done
assert_eq 600 "$(stat -c %a "$T_STATE/rdrelay.sqlite")" "the store is 0600"

rr_alive frontend && ok "rd-frontend alive" || fail "rd-frontend died"
t_done
