/*
 * proxy_rules.c - implementation of proxy_rules.h (pure functions).
 */
#include "proxy_rules.h"

#include <arpa/inet.h>
#include <string.h>

#include "coap_opts.h"
#include "proto.h"

uint64_t ru_xfwd_req_id(uint32_t slot, uint32_t check)
{
    return (uint64_t)check << 32 | slot;
}

uint32_t ru_xfwd_req_slot(uint64_t req_id)
{
    return (uint32_t)req_id;
}

uint8_t ru_xfwd_status_code(uint8_t status, const char **diag)
{
    switch (status) {
    case RR_EP_OK:
        *diag = "";
        return 0;
    case RR_EP_TIMEOUT:
        *diag = "endpoint did not answer";
        return COAP_GATEWAY_TIMEOUT;
    case RR_EP_NO_ROUTE:
        *diag = "registrant's relay has no route for it";
        return COAP_BAD_GATEWAY;
    case RR_EP_UNREACHABLE:
        *diag = "registrant unreachable";
        return COAP_BAD_GATEWAY;
    default:
        *diag = "registrant's relay failed";
        return COAP_BAD_GATEWAY;
    }
}
