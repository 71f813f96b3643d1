/*
 * ws_rules.c - relay-ws's pure checks of what a peer sends (ws_relay.h):
 * the HTTP upgrade (RFC 8323 §4: path, Upgrade, subprotocol coap) and the
 * whole message libwebsockets hands us. No state, no libwebsockets calls,
 * so the fuzz targets (tests/fuzz/fuzz_ws_upgrade.c, fuzz_stream.c) and
 * unit tests can drive them; http.c and conn.c act on the verdicts.
 */
#include <string.h>
#include <strings.h>

#include "ws_relay.h"

bool ws_offers_coap(const char *list)
{
    const char *p = list;
    while (*p) {
        while (*p == ' ' || *p == ',' || *p == '\t')
            p++;
        size_t n = strcspn(p, ", \t");
        if (n == 4 && strncmp(p, "coap", 4) == 0)
            return true;
        p += n;
    }
    return false;
}

unsigned ws_upgrade_check(const char *upgrade, const char *uri, const char *protocols,
                          const char **text)
{
    if (!upgrade || strcasecmp(upgrade, "websocket") != 0) {
        *text = "only a WebSocket upgrade is possible here (CoAP over WebSockets, RFC 8323)";
        return 400;
    }
    if (!uri || strcmp(uri, WS_COAP_PATH) != 0) {
        *text = "CoAP over WebSockets is at " WS_COAP_PATH " (RFC 8323 section 4)";
        return 404;
    }
    if (!protocols || !ws_offers_coap(protocols)) {
        *text = "the WebSocket subprotocol coap is required (Sec-WebSocket-Protocol: coap, "
                "RFC 8323 section 4)";
        return 400;
    }
    *text = NULL;
    return 0;
}

const char *ws_msg_check(const uint8_t *buf, size_t len)
{
    if (len < 1)
        return "empty frame: not a CoAP message";
    if ((buf[0] >> 4) != 0)
        return "the Length nibble must be 0 over WebSockets (RFC 8323 section 4.2)";
    return NULL;
}
