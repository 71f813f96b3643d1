/*
 * config_reload.c - SIGHUP (config.h): parse the configuration afresh,
 * diff it against the running one, copy the settings that are safe to
 * change at run time and log the rest as needing a restart.
 * Owns: the list of reloadable settings. Everything else (listen
 * addresses, endpoints, keys, table sizes) is sized or bound at start, so
 * changing it under a running process would be wrong or unsafe.
 */
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "log.h"

/* Read on every use by the code that applies them (limits.c,
 * ownership.c, relay-udp's empty ACK, the stream core's in-flight check
 * after the relay's reload hook), so copying the field is enough. */
static const char *const reloadable[] = {
    "log_level",   "empty_ack_delay_ms", "max_regs_per_source", "max_links", "max_registrations",
    "max_payload", "takeover",           "tcp_max_inflight",
};

#define CR_MAX 160 /* more than the table has */

struct cr_vals {
    unsigned n;
    const char *name[CR_MAX];
    char value[CR_MAX][RR_CFG_STR];
};

static void collect(void *arg, const char *name, const char *value, bool is_default)
{
    struct cr_vals *v = arg;
    (void)is_default;
    if (v->n >= CR_MAX)
        return;
    v->name[v->n] = name;
    snprintf(v->value[v->n], sizeof(v->value[0]), "%s", value);
    v->n++;
}

static bool is_reloadable(const char *name)
{
    for (size_t i = 0; i < sizeof(reloadable) / sizeof(reloadable[0]); i++)
        if (strcmp(reloadable[i], name) == 0)
            return true;
    return false;
}

/* keys are logged as changed, never with their value */
static bool is_secret(const char *name)
{
    return strstr(name, "secret") != NULL;
}

int config_reload(struct rr_config *cur)
{
    struct rr_config *fresh = malloc(sizeof(*fresh));
    struct cr_vals *a = malloc(sizeof(*a)), *b = malloc(sizeof(*b));
    char err[512];
    int applied = -1, restart = 0;

    if (!fresh || !a || !b) {
        log_warnx("SIGHUP: out of memory, configuration unchanged");
        goto out;
    }
    if (config_reread(fresh, err, sizeof(err)) < 0) {
        log_warnx("SIGHUP: configuration unchanged: %s", err);
        goto out;
    }
    a->n = b->n = 0;
    config_foreach(cur, collect, a);
    config_foreach(fresh, collect, b);
    applied = 0;
    for (unsigned i = 0; i < a->n && i < b->n; i++) {
        if (strcmp(a->value[i], b->value[i]) == 0)
            continue;
        bool ok = is_reloadable(a->name[i]);
        if (is_secret(a->name[i]))
            log_info("SIGHUP: %s changed%s", a->name[i],
                     ok ? "" : ": needs a restart, not applied");
        else
            log_info("SIGHUP: %s: %s -> %s%s", a->name[i], a->value[i], b->value[i],
                     ok ? "" : ": needs a restart, not applied");
        if (!ok) {
            restart++;
            continue;
        }
        config_copy_setting(cur, fresh, a->name[i]);
        applied++;
    }
    cur->takeover_mode = fresh->takeover_mode; /* derived from takeover */
    enum log_level lvl;
    if (log_level_parse(cur->log_level, &lvl) == 0)
        log_set_level(lvl);
    log_info("SIGHUP: configuration reloaded: %d setting(s) applied, %d need a restart", applied,
             restart);
out:
    free(fresh);
    free(a);
    free(b);
    return applied;
}
