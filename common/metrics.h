/*
 * metrics.h - the Prometheus text exposition (format 0.0.4) every rdrelay
 * process serves on its metrics_listen address (issue 20).
 * Owns: the writer (HELP/TYPE heads, samples with labels), the
 * metrics_listen lookup (which address a process of a given name takes),
 * and the one table that maps the counter names a relay reports in
 * RELAY_STATUS (relay-core/ctl.c, the transports' counters callbacks) to
 * Prometheus families, so rdrelayctl status and a scrape show the same
 * numbers under the same names (one source of truth).
 * Nothing here is on a hot path: counters are plain uint64_t increments in
 * the processes' own structs; this only formats them when scraped.
 */
#ifndef RDRELAY_METRICS_H
#define RDRELAY_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "strbuf.h"

enum mx_type { MX_COUNTER, MX_GAUGE };

/* "# HELP name help" and "# TYPE name counter|gauge". Every sample of a
 * family must follow its head before the next head (promtool insists). */
void mx_head(struct strbuf *sb, const char *name, enum mx_type type, const char *help);
/* "name{labels} value": labels is "k=\"v\",k2=\"v2\"" or NULL / "". */
void mx_sample(struct strbuf *sb, const char *name, const char *labels, uint64_t v);
/* A head and one sample. */
void mx_one(struct strbuf *sb, const char *name, enum mx_type type, const char *help,
            const char *labels, uint64_t v);
/* A label value with \ " and newlines escaped, into out. */
void mx_label_escape(const char *in, char *out, size_t outlen);

/* A counter as a relay reports it (RELAY_STATUS: name, value). */
struct mx_kv {
    const char *name;
    uint64_t v;
};
/*
 * Render a relay's reported counters: every name the table knows becomes its
 * family (with the table's labels, plus base_labels on every sample, e.g.
 * "transport=\"udp\",relay=\"udp\""); names the table does not know appear
 * as rdrelay_relay_value{name="..."} gauges, so a counter added later is
 * never lost.
 */
void mx_render_relay(struct strbuf *sb, const char *base_labels, const struct mx_kv *kv, size_t n);

/* Samples of a per-code family (after its mx_head): one per nonzero v[code]
 * labelled labels + code="2.05" + class="2" (code byte index). */
void mx_codes(struct strbuf *sb, const char *family, const char *labels, const uint64_t v[256]);
/* The same per method (v[0..7], index = request code; 0 = other), zeros too:
 * a request counter every dashboard expects is there from the start. */
void mx_methods(struct strbuf *sb, const char *family, const char *labels, const uint64_t v[8]);

/* CoAP request method names for labels: "GET", ... "iPATCH", else "other". */
const char *mx_method_name(uint8_t code);

/*
 * metrics_listen: a comma list of NAME=ADDRESS (numeric, "127.0.0.1:9561",
 * "[::1]:9561"), NAME = "frontend" or a relay's name. Finds the entry for
 * name: 1 and *a, 0 when name has none (metrics off for it), -1 when the
 * list is malformed.
 */
int mx_listen_for(const char *list, const char *name, struct rr_addr *a);
/* The whole list is well-formed (config check). */
bool mx_listen_ok(const char *list);

#endif
