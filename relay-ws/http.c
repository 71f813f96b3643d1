/*
 * http.c - relay-ws's HTTP side (protocols[0] of both vhosts): every
 * connection is HTTP until it upgrades. An upgrade is accepted only as RFC
 * 8323 §4 says: path /.well-known/coap, a WebSocket upgrade offering the
 * subprotocol coap; anything else gets a clear HTTP status and text (404
 * other path, 400 no coap subprotocol or another upgrade). Plain HTTP to
 * /.well-known/coap gets 426 Upgrade Required. Everything else under / is
 * a file of ws_www_dir (the status page; libwebsockets' file mount: content
 * types by extension, index.html for a directory, never a listing, 404 for
 * what is missing, no path outside the directory).
 * Owns the mount table (in struct ws_relay). Talks to libwebsockets.
 */
#include <string.h>

#include "log.h"
#include "ws_relay.h"

const char *ws_www_dir(const struct ws_relay *r)
{
    return r->s.cfg.ws_www_dir[0] ? r->s.cfg.ws_www_dir : RDRELAY_WWW_DIR;
}

void ws_http_mounts_init(struct ws_relay *r)
{
    static const struct {
        const char *ext, *type;
    } extra[] = {
        {".mjs", "text/javascript"},
        {".map", "application/json"},
        {".webmanifest", "application/manifest+json"},
        {"*", "application/octet-stream"},
    };
    struct lws_http_mount *coap = &r->mounts[0], *www = &r->mounts[1];

    for (size_t i = 0; i < sizeof(extra) / sizeof(extra[0]); i++)
        r->mimes[i] = (struct lws_protocol_vhost_options){
            .next = i + 1 < sizeof(extra) / sizeof(extra[0]) ? &r->mimes[i + 1] : NULL,
            .name = extra[i].ext,
            .value = extra[i].type,
        };
    memset(r->mounts, 0, sizeof(r->mounts));
    /* the CoAP endpoint: plain HTTP to it comes to our callback */
    coap->mount_next = www;
    coap->mountpoint = WS_COAP_PATH;
    coap->mountpoint_len = (unsigned char)strlen(WS_COAP_PATH);
    coap->origin = "http"; /* the protocol whose callback gets LWS_CALLBACK_HTTP */
    coap->origin_protocol = LWSMPRO_CALLBACK;
    www->mountpoint = "/";
    www->mountpoint_len = 1;
    www->origin = ws_www_dir(r);
    www->def = "index.html";
    www->origin_protocol = LWSMPRO_FILE;
    www->extra_mimetypes = r->mimes;
    www->cache_max_age = 0;
}

static int refuse(struct ws_relay *r, struct lws *wsi, unsigned status, const char *text)
{
    char uri[128] = "";
    r->c.upgrades_refused++;
    lws_hdr_copy(wsi, uri, sizeof(uri), WSI_TOKEN_GET_URI);
    log_debug("WebSocket upgrade to \"%s\" refused: %u %s", uri, status, text);
    /* > 0: "the callback sent the answer", lws ends the transaction */
    return lws_return_http_status(wsi, status, text) ? -1 : 1;
}

static int confirm_upgrade(struct ws_relay *r, struct lws *wsi, const char *up)
{
    char uri[256] = "", prot[256] = "";
    const char *text;

    /* a header lws cannot copy counts as absent */
    bool have_uri = lws_hdr_copy(wsi, uri, sizeof(uri), WSI_TOKEN_GET_URI) >= 0;
    bool have_prot = lws_hdr_copy(wsi, prot, sizeof(prot), WSI_TOKEN_PROTOCOL) > 0;
    unsigned status = ws_upgrade_check(up, have_uri ? uri : NULL, have_prot ? prot : NULL, &text);
    return status ? refuse(r, wsi, status, text) : 0;
}

int ws_http_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                     size_t len)
{
    struct ws_relay *r = lws_context_user(lws_get_context(wsi));

    switch (reason) {
    case LWS_CALLBACK_HTTP_WRITEABLE:
    case LWS_CALLBACK_HTTP_BODY:
    case LWS_CALLBACK_HTTP_BODY_COMPLETION:
    case LWS_CALLBACK_CLOSED_HTTP:
    case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
    case LWS_CALLBACK_HTTP_BIND_PROTOCOL:
        ws_evloop_kick(r); /* see ws_evloop_flush */
        break;
    default:
        break;
    }
    switch (reason) {
    case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
        ws_evloop_kick(r);
        return confirm_upgrade(r, wsi, in);
    case LWS_CALLBACK_HTTP: {
        ws_evloop_kick(r);
        /* the /.well-known/coap mount (plain HTTP to it), or a request the
         * file mount could not take (no ws_www_dir) */
        char uri[256] = "";
        if (lws_hdr_copy(wsi, uri, sizeof(uri), WSI_TOKEN_GET_URI) <= 0 ||
            strcmp(uri, WS_COAP_PATH) != 0) {
            if (lws_return_http_status(wsi, HTTP_STATUS_NOT_FOUND, "no such file"))
                return -1;
            return lws_http_transaction_completed(wsi) ? -1 : 0;
        }
        r->c.http_refused++;
        if (lws_return_http_status(wsi, 426,
                                   "CoAP over WebSockets: upgrade to a WebSocket with the "
                                   "subprotocol coap (RFC 8323 section 4)"))
            return -1;
        return lws_http_transaction_completed(wsi) ? -1 : 0;
    }
    case LWS_CALLBACK_HTTP_FILE_COMPLETION:
        ws_evloop_kick(r);
        r->c.http_files++;
        return lws_http_transaction_completed(wsi) ? -1 : 0;
    default:
        break;
    }
    return lws_callback_http_dummy(wsi, reason, user, in, len);
}
