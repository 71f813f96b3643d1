/*
 * cmdline.c - the command line every relay worker shares (core.h): --help
 * (the relay's own description, then every setting), --version, the
 * configuration (file and flags, config.c), the log level, and the checks a
 * relay makes before it starts (its listen list, its relay name). Owns
 * nothing; writes to stdout/stderr.
 */
#include <stdio.h>
#include <string.h>

#include "core.h"
#include "log.h"

static void usage(const char *prog, const char *blurb, FILE *out)
{
    fprintf(out,
            "usage: %s [--config FILE] [--SETTING VALUE ...]\n"
            "       %s --help | --version\n\n%s\n\nSettings (shared by every rdrelay process):\n",
            prog, prog, blurb);
    config_print_help(out);
}

int rc_cmdline(const struct rc_cmdline *cl, struct rr_config *cfg, int argc, char **argv)
{
    enum log_level lvl;
    struct rr_addr tmp[16];

    log_init(cl->prog, LOG_LVL_INFO);
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(cl->prog, cl->blurb, stdout);
            return 1;
        }
        if (strcmp(argv[i], "--version") == 0) {
            printf("%s %s\n", cl->prog, RDRELAY_VERSION);
            return 1;
        }
    }
    if (config_from_args(cfg, &argc, argv) < 0)
        return 2;
    if (argc > 1) {
        fprintf(stderr, "%s: unexpected argument \"%s\" (see --help)\n", cl->prog, argv[1]);
        return 2;
    }
    if (log_level_parse(cfg->log_level, &lvl) < 0) {
        fprintf(stderr, "%s: bad log_level \"%s\"\n", cl->prog, cfg->log_level);
        return 2;
    }
    log_set_level(lvl);
    const char *listen = (const char *)cfg + cl->listen_offset;
    if (addr_parse_list(listen, 5683, tmp, 16) <= 0) {
        fprintf(stderr, "%s: bad %s \"%s\"\n", cl->prog, cl->listen_setting, listen);
        return 2;
    }
    const char *name = (const char *)cfg + cl->name_offset;
    if (!rc_relay_name_ok(name)) {
        fprintf(stderr, "%s: bad %s \"%s\" (a-z, 0-9, -)\n", cl->prog, cl->name_setting, name);
        return 2;
    }
    rc_seed_random();
    return 0;
}
