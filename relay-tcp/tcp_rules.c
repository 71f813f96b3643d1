/*
 * tcp_rules.c - implementation of tcp_rules.h (pure functions; the first half
 * mirrors relay-udp/proxy_rules.c).
 */
#include "tcp_rules.h"

#include <arpa/inet.h>
#include <string.h>

#include "coap_opts.h"

enum rt_frame rt_frame_check(const uint8_t *buf, size_t avail, size_t max, size_t *len)
{
    ssize_t fl = coap_msg_tcp_frame_len(buf, avail);

    if (fl < 0)
        return RT_FRAME_BAD;
    if (fl == 0)
        return RT_FRAME_NEED_MORE;
    *len = (size_t)fl;
    if ((size_t)fl > max)
        return RT_FRAME_TOO_BIG;
    return (size_t)fl <= avail ? RT_FRAME_WHOLE : RT_FRAME_NEED_MORE;
}

int rt_csm_apply(const struct coap_msg *m, struct rt_csm *csm, uint16_t *bad)
{
    for (unsigned i = 0; i < m->nopts; i++) {
        const struct coap_msg_opt *o = &m->opts[i];
        switch (o->num) {
        case RT_SIG_OPT_MAX_MESSAGE_SIZE:
            csm->mms = coap_opt_value_uint(o);
            break;
        case RT_SIG_OPT_BLOCK_WISE:
            csm->bwt = true;
            break;
        default:
            /* RFC 8323 §5.3: unknown elective options are ignored, an
             * unknown critical one aborts the connection */
            if (coap_opt_is_critical(o->num)) {
                *bad = o->num;
                return -1;
            }
            break;
        }
    }
    return 0;
}
