/*
 * fuzz_config.c - libFuzzer target for the config file parser
 * (common/config.c): the input is a config file (read through a memfd, the
 * way config_load_file reads a path), then config_finish derives paths and
 * parses extra_options.
 * Invariants: every string setting stays NUL-terminated within its field,
 * the error text is a NUL-terminated string, extra options stay bounded.
 */
#include <stddef.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

#include "config.h"
#include "fuzz_check.h"

static void check_cfg(const struct rr_config *c)
{
    FUZZ_CHECK(memchr(c->state_dir, '\0', RR_CFG_STR) && memchr(c->db_path, '\0', RR_CFG_STR));
    FUZZ_CHECK(memchr(c->ctl_endpoint, '\0', RR_CFG_STR) &&
               memchr(c->pub_endpoint, '\0', RR_CFG_STR));
    FUZZ_CHECK(memchr(c->proxy_domain, '\0', RR_CFG_STR) && memchr(c->rd_names, '\0', RR_CFG_STR));
    FUZZ_CHECK(memchr(c->udp_listen, '\0', RR_CFG_STR) && memchr(c->tcp_listen, '\0', RR_CFG_STR));
    FUZZ_CHECK(memchr(c->log_level, '\0', sizeof(c->log_level)));
    FUZZ_CHECK(memchr(c->extra_options, '\0', RR_CFG_STR));
    FUZZ_CHECK(c->n_extra_options <= RR_MAX_EXTRA_OPTIONS);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int fd = -1;
    static char path[64];
    struct rr_config cfg;
    char err[256];

    if (fd < 0) {
        fd = memfd_create("fuzz_config", 0);
        FUZZ_CHECK(fd >= 0);
        snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    }
    FUZZ_CHECK(ftruncate(fd, 0) == 0);
    FUZZ_CHECK(pwrite(fd, data, size, 0) == (ssize_t)size);
    config_defaults(&cfg);
    memset(err, 0x55, sizeof(err));
    if (config_load_file(&cfg, path, err, sizeof(err)) != 0) {
        FUZZ_CHECK(memchr(err, '\0', sizeof(err)) != NULL);
        return 0;
    }
    check_cfg(&cfg);
    if (config_finish(&cfg, err, sizeof(err)) != 0)
        FUZZ_CHECK(memchr(err, '\0', sizeof(err)) != NULL);
    else
        check_cfg(&cfg);
    return 0;
}
