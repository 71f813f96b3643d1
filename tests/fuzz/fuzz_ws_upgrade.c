/*
 * fuzz_ws_upgrade.c - libFuzzer target for relay-ws's checks of what a
 * peer sends before and after the upgrade (relay-ws/ws_rules.c): the HTTP
 * upgrade verdict (Upgrade header, path, Sec-WebSocket-Protocol list) and
 * the whole-message check of a binary frame. Input: three NUL-separated
 * strings (Upgrade, path, subprotocols; a missing one is an absent
 * header), the bytes after them one WebSocket message.
 * Invariants: an upgrade is accepted only for "websocket" (any case) to
 * exactly /.well-known/coap with "coap" as a whole entry of the list, and
 * then always; a refusal is 400 or 404 with a reason; a message passes
 * exactly when it is not empty and its Length nibble is 0.
 */
#include <stddef.h>
#include <stdint.h>
#include <strings.h>

#include "fuzz_check.h"
#include "ws_relay.h"

/* The reference: is "coap" one of the entries between , space and tab? */
static bool has_coap(const char *list)
{
    char buf[512];
    snprintf(buf, sizeof(buf), "%s", list);
    for (char *save = NULL, *t = strtok_r(buf, ", \t", &save); t; t = strtok_r(NULL, ", \t", &save))
        if (strcmp(t, "coap") == 0)
            return true;
    return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char buf[512];
    const char *s[3] = {NULL, NULL, NULL}, *text = NULL;
    size_t off = 0;

    if (size >= sizeof(buf))
        return 0;
    memcpy(buf, data, size);
    buf[size] = '\0';
    for (int i = 0; i < 3 && off < size; i++) {
        s[i] = buf + off;
        off += strlen(buf + off) + 1;
    }
    unsigned st = ws_upgrade_check(s[0], s[1], s[2], &text);
    bool ok = s[0] && strcasecmp(s[0], "websocket") == 0 && s[1] &&
              strcmp(s[1], WS_COAP_PATH) == 0 && s[2] && has_coap(s[2]);
    FUZZ_CHECK((st == 0) == ok);
    FUZZ_CHECK(st == 0 ? text == NULL : (st == 400 || st == 404) && text && *text);
    if (s[2])
        FUZZ_CHECK(ws_offers_coap(s[2]) == has_coap(s[2]));

    const uint8_t *m = off < size ? data + off : data + size;
    size_t mlen = off < size ? size - off : 0;
    const char *bad = ws_msg_check(m, mlen);
    FUZZ_CHECK((bad == NULL) == (mlen >= 1 && (m[0] >> 4) == 0));
    return 0;
}
