/*
 * resend.c - one-shot messages to rd-frontend that a high-water mark must
 * not lose (issue 16): REACHABILITY, OBSERVE_GONE and EP_RESPONSE are sent
 * once, and nothing asks for them again, so a send that meets the
 * DEALER's high-water mark (EAGAIN: ZeroMQ did not take it, counted in
 * hwm_drops) is kept here, in order, and re-sent from the loop every
 * RC_RESEND_RETRY_MS until ZeroMQ takes it. While any is waiting, newer
 * one-shots queue behind it, so a host's "unreachable" never overtakes
 * its "reachable again". At most ctl_resend_max wait, holding at most
 * RC_RESEND_MAX_BYTES (then the newest is dropped, counted and logged: a
 * bound, never silent). The copies are
 * allocated only then, on the overflow path, never on the forwarding path.
 * A restarted rd-frontend is a different matter: it forgets a relay's
 * verdicts at its HELLO and the relay re-announces them (route_change).
 * Talks to ctl.c (the DEALER) and loop.c (the retry).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "core.h"
#include "log.h"
#include "proto.h"

int rc_resend_init(struct relay_core *c, uint32_t max)
{
    c->resend = (struct rc_resend){.cap = max};
    c->resend.q = calloc(max ? max : 1, sizeof(*c->resend.q));
    return c->resend.q ? 0 : -1;
}

void rc_resend_free(struct relay_core *c)
{
    struct rc_resend *r = &c->resend;
    for (uint32_t k = 0; k < r->n; k++)
        free(r->q[(r->head + k) % r->cap].body);
    free(r->q);
    *r = (struct rc_resend){0};
}

static int enqueue(struct relay_core *c, uint16_t type, const void *body, size_t len)
{
    struct rc_resend *r = &c->resend;
    bool room = r->n < r->cap && r->bytes + len <= RC_RESEND_MAX_BYTES;
    uint8_t *copy = room ? malloc(len ? len : 1) : NULL;

    if (!copy) {
        c->c.resend_dropped++;
        log_warnx("%s to rd-frontend lost: %u one-shot messages already wait for the "
                  "high-water mark (ctl_resend_max)",
                  proto_msg_name(type), r->n);
        return -1;
    }
    memcpy(copy, body, len);
    r->q[(r->head + r->n) % r->cap] = (struct rc_resend_item){type, (uint32_t)len, copy};
    r->n++;
    r->bytes += len;
    c->c.resend_queued++;
    return 0;
}

int rc_ctl_send_oneshot(struct relay_core *c, uint16_t type, const void *body, size_t len)
{
    if (!c->dealer)
        return -1; /* not connected (unit tests) */
    if (c->resend.n == 0) {
        if (rc_ctl_send(c, type, body, len) == 0)
            return 0;
        if (errno != EAGAIN)
            return -1; /* logged by rc_zsend */
    }
    return enqueue(c, type, body, len);
}

void rc_resend_flush(struct relay_core *c, uint64_t now)
{
    struct rc_resend *r = &c->resend;

    while (r->n && c->dealer) {
        struct rc_resend_item *it = &r->q[r->head];
        /* not rc_zsend: a retry that meets the mark again is no new drop */
        int rc = proto_send(c->dealer, NULL, 0, it->type, it->body, it->len);
        int e = errno;
        rc_zsock_used(c, c->dealer);
        if (rc < 0 && e == EAGAIN) {
            r->next_ms = now + RC_RESEND_RETRY_MS;
            return;
        }
        if (rc < 0)
            log_warnx("re-send %s: %s", proto_msg_name(it->type), zmq_strerror(e));
        else
            c->c.resend_sent++;
        r->bytes -= it->len;
        free(it->body);
        it->body = NULL;
        r->head = (r->head + 1) % r->cap;
        r->n--;
    }
    r->next_ms = 0;
}
