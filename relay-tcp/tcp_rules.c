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
