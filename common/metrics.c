/*
 * metrics.c - Prometheus text writer and the RELAY_STATUS name table
 * (metrics.h).
 */
#include "metrics.h"

#include <inttypes.h>

#include "coap_msg.h"
#include <stdio.h>
#include <string.h>

void mx_head(struct strbuf *sb, const char *name, enum mx_type type, const char *help)
{
    sb_printf(sb, "# HELP %s %s\n# TYPE %s %s\n", name, help, name,
              type == MX_COUNTER ? "counter" : "gauge");
}

void mx_sample(struct strbuf *sb, const char *name, const char *labels, uint64_t v)
{
    if (labels && *labels)
        sb_printf(sb, "%s{%s} %" PRIu64 "\n", name, labels, v);
    else
        sb_printf(sb, "%s %" PRIu64 "\n", name, v);
}

void mx_one(struct strbuf *sb, const char *name, enum mx_type type, const char *help,
            const char *labels, uint64_t v)
{
    mx_head(sb, name, type, help);
    mx_sample(sb, name, labels, v);
}

void mx_label_escape(const char *in, char *out, size_t outlen)
{
    size_t o = 0;

    for (; *in && o + 3 < outlen; in++) {
        if (*in == '\\' || *in == '"') {
            out[o++] = '\\';
            out[o++] = *in;
        } else if (*in == '\n') {
            out[o++] = '\\';
            out[o++] = 'n';
        } else {
            out[o++] = *in;
        }
    }
    out[o] = '\0';
}

const char *mx_method_name(uint8_t code)
{
    static const char *const names[] = {"other",  "GET",   "POST",  "PUT",
                                        "DELETE", "FETCH", "PATCH", "iPATCH"};
    return code < sizeof(names) / sizeof(names[0]) ? names[code] : "other";
}

static const char *comma(const char *labels)
{
    return labels && *labels ? "," : "";
}

void mx_codes(struct strbuf *sb, const char *family, const char *labels, const uint64_t v[256])
{
    char cs[8], l[300];

    for (unsigned i = 0; i < 256; i++) {
        if (!v[i])
            continue;
        snprintf(l, sizeof(l), "%s%scode=\"%s\",class=\"%u\"", labels ? labels : "", comma(labels),
                 coap_code_str((uint8_t)i, cs), i >> 5);
        mx_sample(sb, family, l, v[i]);
    }
}

void mx_methods(struct strbuf *sb, const char *family, const char *labels, const uint64_t v[8])
{
    char l[300];

    for (unsigned i = 0; i < 8; i++) {
        snprintf(l, sizeof(l), "%s%smethod=\"%s\"", labels ? labels : "", comma(labels),
                 mx_method_name((uint8_t)i));
        mx_sample(sb, family, l, v[i]);
    }
}

/*
 * RELAY_STATUS name -> family. Entries of one family are adjacent (a family
 * is written once, its samples together). family NULL: reported for
 * rdrelayctl but not exported (a sum of a labelled family).
 */
struct mx_def {
    const char *key, *family, *labels;
    enum mx_type type;
    const char *help;
};

#define C MX_COUNTER
#define G MX_GAUGE
static const struct mx_def mx_table[] = {
    /* relay core: routes (clone client) */
    {"routes", "rdrelay_routes", NULL, G, "Routes in the relay's table."},
    {"synced", "rdrelay_routes_synced", NULL, G, "1 while the route table is in step."},
    {"epoch", "rdrelay_route_epoch", NULL, G, "rd-frontend epoch of the route table."},
    {"seq", "rdrelay_route_seq", NULL, G, "Last route update sequence number applied."},
    {"resyncs", NULL, NULL, C, ""},
    {"resyncs_gap", "rdrelay_route_resyncs_total", "reason=\"gap\"", C,
     "Route table resyncs, by reason."},
    {"resyncs_epoch", "rdrelay_route_resyncs_total", "reason=\"epoch\"", C, ""},
    {"resyncs_silence", "rdrelay_route_resyncs_total", "reason=\"silence\"", C, ""},
    {"resyncs_snapshot", "rdrelay_route_resyncs_total", "reason=\"snapshot\"", C, ""},
    {"resyncs_other", "rdrelay_route_resyncs_total", "reason=\"other\"", C, ""},
    {"last_resync_ms", "rdrelay_route_last_resync_time_seconds", NULL, G,
     "Unix time of the last resync, 0 = none."},
    {"last_resync_reason", NULL, NULL, G, ""},
    {"gaps", "rdrelay_route_gaps_total", NULL, C, "Gaps seen in the route update sequence."},
    {"updates", "rdrelay_route_updates_total", NULL, C, "Route updates applied."},
    {"start_ms", "rdrelay_start_time_seconds", NULL, G, "Unix time the process started."},
    /* relay core: traffic */
    {"hwm_drops", "rdrelay_ipc_dropped_total", "why=\"hwm\"", C,
     "Inter-process messages dropped at a ZeroMQ high-water mark."},
    {"proxied", "rdrelay_proxied_total", NULL, C, "Requests forwarded to an endpoint."},
    {"proxy_responses", "rdrelay_proxy_responses_total", NULL, C,
     "Responses relayed from endpoints."},
    {"proxy_5_02", "rdrelay_proxy_errors_total", "code=\"5.02\"", C,
     "Proxy errors answered by the relay, by code."},
    {"proxy_5_04", "rdrelay_proxy_errors_total", "code=\"5.04\"", C, ""},
    {"proxy_5_05", "rdrelay_proxy_errors_total", "code=\"5.05\"", C, ""},
    {"no_slot", "rdrelay_limit_hits_total", "limit=\"exchanges\"", C,
     "Requests refused or peers dropped because a limit was reached, by limit."},
    {"refused", "rdrelay_limit_hits_total", "limit=\"connections\"", C, ""},
    {"too_big", "rdrelay_limit_hits_total", "limit=\"message_size\"", C, ""},
    {"slow_readers", "rdrelay_limit_hits_total", "limit=\"output_queue\"", C, ""},
    {"dedup_evicted_full", "rdrelay_limit_hits_total", "limit=\"dedup_entries\"", C, ""},
    {"dedup_evicted_own", "rdrelay_limit_hits_total", "limit=\"dedup_per_peer\"", C, ""},
    {"rd_requests", "rdrelay_rd_requests_total", NULL, C, "Requests passed to rd-frontend."},
    {"rd_responses", "rdrelay_rd_responses_total", NULL, C, "Answers from rd-frontend."},
    {"rd_resends", "rdrelay_rd_resends_total", NULL, C,
     "RD requests sent again while rd-frontend did not answer."},
    {"rd_giveups", "rdrelay_rd_giveups_total", NULL, C,
     "RD requests given up (5.03) after 60 s without rd-frontend."},
    {"rd_notify", "rdrelay_rd_notifications_total", NULL, C, "Lookup notifications delivered."},
    {"ep_requests", "rdrelay_ep_requests_total", NULL, C,
     "Requests rd-frontend sent to endpoints (simple registration)."},
    {"observations", "rdrelay_observations_total", NULL, C, "Observations relayed."},
    {"xfwd_out", "rdrelay_xfwd_total", "direction=\"out\"", C,
     "Cross-transport forwards, sent to / taken from other relays."},
    {"xfwd_in", "rdrelay_xfwd_total", "direction=\"in\"", C, ""},
    {"xfwd_refused", "rdrelay_xfwd_refused_total", NULL, C,
     "Cross-transport forwards refused (relay not running, too large)."},
    /* relay core: port-based hosting (porthost.c) */
    {"port_requests", "rdrelay_hosting_port_requests_total", NULL, C,
     "Requests that arrived on a hosting port (port-based hosting)."},
    {"ports_open", "rdrelay_hosting_ports", NULL, G, "Hosting ports the relay listens on."},
    {"hosting_sniff_tcp", "rdrelay_hosting_connections_total", "kind=\"coap+tcp\"", C,
     "Connections on hosting ports shared by coap+tcp and coap+ws, by what their first bytes "
     "said (silent: none within tcp_timeout_ms; refused: too many waiting)."},
    {"hosting_sniff_ws", "rdrelay_hosting_connections_total", "kind=\"coap+ws\"", C, ""},
    {"hosting_sniff_timeouts", "rdrelay_hosting_connections_total", "kind=\"silent\"", C, ""},
    {"hosting_sniff_closed", "rdrelay_hosting_connections_total", "kind=\"closed\"", C, ""},
    {"hosting_sniff_refused", "rdrelay_hosting_connections_total", "kind=\"refused\"", C, ""},
    {"hosting_handoff_sent", "rdrelay_hosting_handoffs_total", "outcome=\"sent\"", C,
     "coap+ws hosting connections handed from rdrelay-tcp to rdrelay-ws (sent, answered 503), "
     "and taken over by rdrelay-ws (adopted, bad)."},
    {"hosting_handoff_503", "rdrelay_hosting_handoffs_total", "outcome=\"503\"", C, ""},
    {"hosting_handoff_adopted", "rdrelay_hosting_handoffs_total", "outcome=\"adopted\"", C, ""},
    {"hosting_handoff_bad", "rdrelay_hosting_handoffs_total", "outcome=\"bad\"", C, ""},
    /* transports */
    {"rx", "rdrelay_messages_total", "direction=\"rx\"", C, "CoAP messages received / sent."},
    {"tx", "rdrelay_messages_total", "direction=\"tx\"", C, ""},
    {"rx_bad", "rdrelay_bad_messages_total", NULL, C, "Malformed messages or frames dropped."},
    {"bad_frames", "rdrelay_bad_messages_total", NULL, C, ""},
    {"tx_err", "rdrelay_send_errors_total", NULL, C, "Send errors."},
    {"tx_segmented", "rdrelay_udp_segmented_total", NULL, C,
     "relay-udp: datagrams sent in UDP_SEGMENT runs (several to one peer in one send)."},
    {"separate", "rdrelay_separate_responses_total", NULL, C,
     "Exchanges answered with an empty ACK first (the answer went separately)."},
    {"retransmissions", "rdrelay_retransmissions_total", NULL, C, "CON retransmissions sent."},
    {"rtx_exhausted", "rdrelay_timeouts_total", "what=\"retransmission\"", C,
     "Timeouts, by what timed out (upstream timeouts are proxy_errors 5.04)."},
    {"csm_timeouts", "rdrelay_timeouts_total", "what=\"csm\"", C, ""},
    {"partial_timeouts", "rdrelay_timeouts_total", "what=\"partial_message\"", C, ""},
    {"pong_timeouts", "rdrelay_timeouts_total", "what=\"pong\"", C, ""},
    {"dup_requests", "rdrelay_duplicates_total", NULL, C, "Duplicate requests answered."},
    {"dedup_entries", "rdrelay_dedup_entries", NULL, G, "Requests remembered for deduplication."},
    {"ka_routes", "rdrelay_keepalive_routes", NULL, G, "UDP routes kept alive."},
    {"ka_pings", "rdrelay_keepalive_pings_total", NULL, C, "NAT keepalive pings sent."},
    {"ka_unreachable", "rdrelay_keepalive_verdicts_total", "verdict=\"unreachable\"", C,
     "Keepalive verdicts on registrants' paths."},
    {"ka_reachable", "rdrelay_keepalive_verdicts_total", "verdict=\"reachable\"", C, ""},
    {"pings_sent", "rdrelay_pings_sent_total", NULL, C, "Pings sent."},
    {"pings_answered", "rdrelay_pings_answered_total", NULL, C, "Pings answered."},
    {"exchanges_down", "rdrelay_exchanges", "side=\"client\"", G,
     "Exchanges in flight, with clients and with endpoints."},
    {"exchanges_up", "rdrelay_exchanges", "side=\"endpoint\"", G, ""},
    {"connections", "rdrelay_connections", NULL, G, "Open connections."},
    {"connections_max", "rdrelay_connections_peak", NULL, G, "Most connections open at once."},
    {"accepted", "rdrelay_connections_accepted_total", NULL, C, "Connections accepted."},
    {"closed", "rdrelay_connections_closed_total", NULL, C, "Connections closed."},
    {"aborts_sent", "rdrelay_signals_total", "signal=\"abort\",direction=\"tx\"", C,
     "RFC 8323 signalling messages, by kind and direction."},
    {"aborts_received", "rdrelay_signals_total", "signal=\"abort\",direction=\"rx\"", C, ""},
    {"releases_received", "rdrelay_signals_total", "signal=\"release\",direction=\"rx\"", C, ""},
};
#undef C
#undef G
#define MX_N (sizeof(mx_table) / sizeof(mx_table[0]))

static const struct mx_def *mx_find(const char *key)
{
    for (size_t i = 0; i < MX_N; i++)
        if (strcmp(mx_table[i].key, key) == 0)
            return &mx_table[i];
    return NULL;
}

static void labels_join(char *out, size_t len, const char *a, const char *b)
{
    snprintf(out, len, "%s%s%s", a ? a : "", a && *a && b && *b ? "," : "", b ? b : "");
}

void mx_render_relay(struct strbuf *sb, const char *base_labels, const struct mx_kv *kv, size_t n)
{
    const char *head = NULL; /* family whose head was written last */
    const char *help = "";
    char labels[256], name[200];
    bool unknown = false;

    for (size_t t = 0; t < MX_N; t++) {
        const struct mx_def *d = &mx_table[t];
        if (d->help[0])
            help = d->help; /* the first entry of a family carries it */
        if (!d->family)
            continue;
        for (size_t i = 0; i < n; i++) {
            if (strcmp(kv[i].name, d->key) != 0)
                continue;
            if (!head || strcmp(head, d->family) != 0) {
                mx_head(sb, d->family, d->type, help);
                head = d->family;
            }
            labels_join(labels, sizeof(labels), base_labels, d->labels);
            /* RELAY_STATUS carries times in ms; Prometheus wants seconds */
            size_t kl = strlen(d->key);
            bool ms = kl > 3 && strcmp(d->key + kl - 3, "_ms") == 0;
            mx_sample(sb, d->family, labels, ms ? kv[i].v / 1000 : kv[i].v);
            break;
        }
    }
    for (size_t i = 0; i < n; i++) {
        if (mx_find(kv[i].name))
            continue;
        if (!unknown)
            mx_head(sb, "rdrelay_relay_value", MX_GAUGE,
                    "Relay values without a family of their own (by RELAY_STATUS name).");
        unknown = true;
        mx_label_escape(kv[i].name, name, sizeof(name));
        snprintf(labels, sizeof(labels), "%s%sname=\"%s\"", base_labels ? base_labels : "",
                 base_labels && *base_labels ? "," : "", name);
        mx_sample(sb, "rdrelay_relay_value", labels, kv[i].v);
    }
}

/* ---- metrics_listen ---- */

static int mx_scan(const char *list, const char *name, struct rr_addr *a)
{
    const char *p = list;
    int found = 0;

    while (*p) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        char item[RR_ADDRSTRLEN + 40], *eq;
        struct rr_addr tmp;

        while (len && *p == ' ') {
            p++;
            len--;
        }
        while (len && p[len - 1] == ' ')
            len--;
        if (len) {
            if (len >= sizeof(item))
                return -1;
            memcpy(item, p, len);
            item[len] = '\0';
            eq = strchr(item, '=');
            if (!eq || eq == item || addr_parse(&tmp, eq + 1, 0) < 0 || addr_port(&tmp) == 0)
                return -1;
            *eq = '\0';
            if (name && !found && strcmp(item, name) == 0) {
                if (a)
                    *a = tmp;
                found = 1;
            }
        }
        if (!end)
            break;
        p = end + 1;
    }
    return found;
}

int mx_listen_for(const char *list, const char *name, struct rr_addr *a)
{
    return mx_scan(list, name, a);
}

bool mx_listen_ok(const char *list)
{
    return mx_scan(list, NULL, NULL) >= 0;
}
