# shellcheck shell=bash
# lib_nat.sh - the NAT topology of the e2e NAT tests (BRIEF §5 "A real
# NAT"), shared by test_nat_udp.sh, test_nat_tcp.sh, test_nat_ws.sh and
# test_connect_nat.sh, on top of lib.sh and lib_proxy.sh. Owns: the network
# namespaces of one run (created by build_topology, removed after every
# process stopped, through lib.sh's T_AFTER_STOP), the nftables rules and
# the TCP conntrack timeout of routers A and B, and
# starting rdrelay (flags in NAT_RD_ARGS), registrants and any other program
# inside them. Talks to: ip, nft, conntrack, sysctl; rdrelay-frontend,
# rdrelay-udp, rdrelay-tcp (when NAT_TCP=1), rdrelay-ws (when NAT_WS=1, port
# 8683) in the rd host's namespace.
#
# Topology (documentation addresses only):
#   site A  192.0.2.2 / 2001:db8:a::2 -- router A (masquerade, stateful
#   firewall) -- "internet" 203.0.113.0/24, 2001:db8::/64 (rd host .10) --
#   router B (the same) -- site B 198.51.100.2 / 2001:db8:b::2
#
# Sourcing it sets the names below and the cleanup; call build_topology.
N="rn$$x$((RANDOM % 1000))" # unique namespace prefix for this run
NS_PUB=${N}pub NS_RD=${N}rd NS_RA=${N}ra NS_RB=${N}rb NS_SA=${N}sa NS_SB=${N}sb
ALL_NS=("$NS_SA" "$NS_SB" "$NS_RA" "$NS_RB" "$NS_RD" "$NS_PUB")
RD4=203.0.113.10 RD6=2001:db8::10
RA4=203.0.113.2 A4=192.0.2.2 A6=2001:db8:a::2 B6=2001:db8:b::2
DOMAIN=proxy.example
COAP_TIMEOUT=5

# Namespaces go on any exit, once lib.sh's cleanup stopped our processes
# (a namespace should be empty when it is deleted).
nat_del_namespaces() {
    local ns
    for ns in "${ALL_NS[@]}"; do
        ip netns del "$ns" 2>/dev/null
    done
}
T_AFTER_STOP+=(nat_del_namespaces)

nsx() { # ns command...
    local ns=$1
    shift
    ip netns exec "$ns" "$@"
}

# ---------------------------------------------------------------- topology

build_topology() {
    local ns x
    for ns in "${ALL_NS[@]}"; do
        ip netns add "$ns" || return 1
        ip -n "$ns" link set lo up
    done
    ip -n "$NS_PUB" link add br0 type bridge &&
        ip -n "$NS_PUB" link set br0 up || return 1
    for x in rd ra rb; do
        local peer=${N}$x
        ip -n "$NS_PUB" link add "p-$x" type veth peer name wan netns "$peer" &&
            ip -n "$NS_PUB" link set "p-$x" master br0 up &&
            ip -n "$peer" link set wan up || return 1
    done
    # rd host
    ip -n "$NS_RD" addr add $RD4/24 dev wan &&
        ip -n "$NS_RD" addr add $RD6/64 dev wan nodad &&
        ip -n "$NS_RD" -6 route add 2001:db8:a::/64 via 2001:db8::2 &&
        ip -n "$NS_RD" -6 route add 2001:db8:b::/64 via 2001:db8::3 || return 1
    # routers and sites: A (192.0.2.0/24, 2001:db8:a::/64), B (198.51.100.0/24, 2001:db8:b::/64)
    router_site "$NS_RA" "$NS_SA" 2 192.0.2 a 198.51.100.0/24 203.0.113.3 2001:db8:b::/64 2001:db8::3 ||
        return 1
    router_site "$NS_RB" "$NS_SB" 3 198.51.100 b 192.0.2.0/24 203.0.113.2 2001:db8:a::/64 2001:db8::2 ||
        return 1
}

# nat_short_tcp_bindings: established TCP flows through routers A and B
# are forgotten after 10 s idle (a NAT that drops idle bindings), else the
# test dies.
nat_short_tcp_bindings() {
    local r
    for r in "$NS_RA" "$NS_RB"; do
        nsx "$r" sysctl -qw net.netfilter.nf_conntrack_tcp_timeout_established=10 ||
            die "cannot shorten the TCP conntrack timeout"
    done
}

# router_site ROUTER SITE WAN_HOST V4_PREFIX3 V6_LETTER OTHER4 OTHER4_GW OTHER6 OTHER6_GW
# The other site's prefixes are routed (through the other router), so that
# a direct attempt really reaches this router and is dropped by its firewall,
# not by a missing route.
router_site() {
    local r=$1 s=$2 h=$3 p4=$4 l=$5
    ip -n "$r" addr add 203.0.113.$h/24 dev wan &&
        ip -n "$r" addr add 2001:db8::$h/64 dev wan nodad &&
        ip -n "$r" link add lan type veth peer name eth0 netns "$s" &&
        ip -n "$r" link set lan up && ip -n "$s" link set eth0 up &&
        ip -n "$r" addr add "$p4.1/24" dev lan &&
        ip -n "$r" addr add "2001:db8:$l::1/64" dev lan nodad &&
        ip -n "$s" addr add "$p4.2/24" dev eth0 &&
        ip -n "$s" addr add "2001:db8:$l::2/64" dev eth0 nodad &&
        ip -n "$s" route add default via "$p4.1" &&
        ip -n "$s" -6 route add default via "2001:db8:$l::1" &&
        ip -n "$r" route add "$6" via "$7" &&
        ip -n "$r" -6 route add "$8" via "$9" || return 1
    nsx "$r" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1 || return 1
    nsx "$r" nft -f - <<EOF || return 1
table ip nat {
    chain post {
        type nat hook postrouting priority srcnat; policy accept;
        oifname "wan" ip saddr $p4.0/24 meta l4proto udp masquerade to :20000-20999
        oifname "wan" ip saddr $p4.0/24 masquerade
    }
}
table inet filter {
    chain forward {
        type filter hook forward priority filter; policy drop;
        ct state established,related accept
        iifname "lan" accept
    }
    chain input {
        type filter hook input priority filter; policy drop;
        iifname "lo" accept
        ct state established,related accept
        meta l4proto ipv6-icmp accept
        iifname "lan" accept
    }
}
EOF
    # Short UDP bindings (conntrack sysctls are per network namespace).
    nsx "$r" sysctl -qw net.netfilter.nf_conntrack_udp_timeout=10 \
        net.netfilter.nf_conntrack_udp_timeout_stream=10 || return 1
}

# The public port router A maps site A's UDP (or PROTO) port SPORT to
# (towards the RD); with SPORT "", that of the one flow from site A to the
# RD's CoAP port 5683 (a program whose own port is not known).
mapped_port() { # sport|"" [proto]
    local sel=(--sport "$1")
    [ -z "$1" ] && sel=(--dport 5683)
    nsx "$NS_RA" conntrack -L -p "${2:-udp}" -s $A4 -d $RD4 "${sel[@]}" 2>/dev/null |
        grep -oE 'dport=[0-9]+' | sed -n 2p | cut -d= -f2
}

# ---------------------------------------------------------------- processes

# nat_start NAME NS PROGRAM [args...]: rr_start inside namespace NS (ip
# netns exec execs the program, so the PID is the program's).
nat_start() {
    local name=$1 ns=$2
    shift 2
    rr_start "$name" "$(command -v ip)" netns exec "$ns" "$@"
}

# The rdrelay flags of start_rdrelay besides state dir, listeners, domain
# and log level; a test may set its own before calling it.
NAT_RD_ARGS=(--nat-keepalive 3 --upstream-timeout-ms 3000)

start_rdrelay() {
    local args=(--state-dir "$T_STATE" --udp-listen "$RD4:5683,[$RD6]:5683"
        --proxy-domain "$DOMAIN" --log-level debug "${NAT_RD_ARGS[@]}")
    [ "$NAT_TCP" == 1 ] && args+=(--tcp-listen "$RD4:5683,[$RD6]:5683")
    nat_start frontend "$NS_RD" "$RDRELAY_BIN/rdrelay-frontend" "${args[@]}"
    nat_start udp "$NS_RD" "$RDRELAY_BIN/rdrelay-udp" "${args[@]}"
    if [ "$NAT_TCP" == 1 ]; then
        nat_start tcp "$NS_RD" "$RDRELAY_BIN/rdrelay-tcp" "${args[@]}"
    fi
    if [ "${NAT_WS:-0}" == 1 ]; then
        nat_start ws "$NS_RD" "$RDRELAY_BIN/rdrelay-ws" "${args[@]}" --ws-listen "$RD4:8683,[$RD6]:8683"
    fi
}

# nat_wait_rd SCHEME [SECONDS]: until site B gets 2.05 for
# SCHEME://RD4/.well-known/core (coap or coap+tcp); dies if an rdrelay
# process exited or the time ran out.
nat_wait_rd() {
    local scheme=$1 limit=${2:-30} end=$((SECONDS + ${2:-30})) name
    while :; do
        for name in frontend udp tcp; do
            [ -n "${T_PIDS[$name]:-}" ] || continue
            rr_alive "$name" || die "rdrelay process $name exited at start"
        done
        COAP_TIMEOUT=1 coap_ns "$NS_SB" -m get "$scheme://$RD4/.well-known/core"
        [ "$CODE" == "2.05" ] && return 0
        [ $SECONDS -ge $end ] && die "rdrelay did not answer $scheme:// from site B within ${limit} s"
        sleep 0.3
    done
}

# nat_reg NAME FLAGS...: a registrant inside site A; waits for "registered".
nat_reg() {
    local name=$1
    shift
    nat_start "$name" "$NS_SA" "$RDRELAY_BIN/rr-registrant" "$@"
    reg_wait_registered "$name" 1 20 || die "registrant $name did not register through router A"
}

# via_relay HOST PATH [ADDR]: from site B through rdrelay with Uri-Host HOST.
via_relay() {
    local host=$1 path=$2 addr=${3:-$RD4}
    [[ "$addr" == *:* ]] && addr="[$addr]"
    coap_ns "$NS_SB" -O "3,$host" -m get "coap://$addr$path"
}

# poll_relay SECONDS CODE HOST PATH: repeat via_relay until it answers CODE.
poll_relay() {
    local limit=$1 want=$2 host=$3 path=$4 end=$((SECONDS + $1))
    while :; do
        via_relay "$host" "$path"
        [ "$CODE" == "$want" ] && return 0
        [ $SECONDS -ge $end ] && return 1
        sleep 1
    done
}

# ---------------------------------------------------------------- TCP (test_nat_tcp.sh)

# start_rdrelay with NAT_TCP=1 also starts rdrelay-tcp on port 5683.
NAT_TCP=${NAT_TCP:-0}

# via_relay_x TRANSPORT HOST PATH [ADDR]: via_relay over udp or tcp.
via_relay_x() {
    local tr=$1 host=$2 path=$3 addr=${4:-$RD4} scheme=coap
    [[ "$addr" == *:* ]] && addr="[$addr]"
    [ "$tr" == tcp ] && scheme=coap+tcp
    coap_ns "$NS_SB" -O "3,$host" -m get "$scheme://$addr$path"
}

# poll_relay_x SECONDS CODE TRANSPORT HOST PATH [ADDR]
poll_relay_x() {
    local want=$2 tr=$3 host=$4 path=$5 addr=${6:-$RD4} end=$((SECONDS + $1))
    while :; do
        via_relay_x "$tr" "$host" "$path" "$addr"
        [ "$CODE" == "$want" ] && return 0
        [ $SECONDS -ge $end ] && return 1
        sleep 1
    done
}
