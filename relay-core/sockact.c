/*
 * sockact.c - socket activation for every relay (core.h): a parent that
 * holds the public sockets (systemd .socket units, tools/rdrelay-sockets,
 * the chaos test) passes them the sd_listen_fds(3) way: fds 3..3+N-1,
 * LISTEN_FDS=N, LISTEN_PID=our pid, optional LISTEN_FDNAMES=a:b:c. A
 * listener whose address equals an inherited socket's (same type, same
 * local address and port) takes that socket instead of binding its own, so
 * datagrams and connections queue in the kernel while a relay restarts and
 * nothing is answered with ICMP port unreachable. Done by hand (a dozen
 * lines) rather than with libsystemd, so that nothing but the environment
 * ties a relay to systemd. Stateless: reads the environment on each call
 * (start-up only); rc_sockact_done() closes what no listener wanted and
 * clears the environment. Owns nothing after that.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core.h"
#include "log.h"

#define RC_SOCKACT_FD0 3 /* SD_LISTEN_FDS_START */

/* How many sockets the parent passed us (0: none, or not for us). */
static int sockact_count(void)
{
    const char *pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS");
    char *end;
    long n;

    if (pid == NULL || fds == NULL || strtol(pid, &end, 10) != (long)getpid() || *end)
        return 0;
    n = strtol(fds, &end, 10);
    if (*end || n < 0 || n > 1024)
        return 0;
    return (int)n;
}

/* The i-th name of LISTEN_FDNAMES, or "" (names only label the log). */
static void sockact_name(int i, char *buf, size_t len)
{
    const char *s = getenv("LISTEN_FDNAMES");

    buf[0] = '\0';
    for (; s && i > 0; i--) {
        s = strchr(s, ':');
        s = s ? s + 1 : NULL;
    }
    if (s) {
        size_t l = strcspn(s, ":");
        snprintf(buf, len, "%.*s", (int)(l < len ? l : len - 1), s);
    }
}

/* Inherited fds carry no FD_CLOEXEC (exec passed them); a taken one does. */
static bool sockact_taken(int fd)
{
    int fl = fcntl(fd, F_GETFD);
    return fl < 0 || (fl & FD_CLOEXEC);
}

int rc_sockact_take(int type, const struct rr_addr *a)
{
    int n = sockact_count();

    for (int fd = RC_SOCKACT_FD0; fd < RC_SOCKACT_FD0 + n; fd++) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);
        int t = 0;
        socklen_t tl = sizeof(t);
        struct rr_addr got;
        char name[64], as[RR_ADDRSTRLEN];

        if (sockact_taken(fd) || getsockopt(fd, SOL_SOCKET, SO_TYPE, &t, &tl) < 0 || t != type ||
            getsockname(fd, (struct sockaddr *)&ss, &sl) < 0)
            continue;
        addr_from_sockaddr(&got, (struct sockaddr *)&ss, sl);
        if (!addr_equal(&got, a))
            continue;
        if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0 ||
            fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0) {
            log_warn("inherited socket %d", fd);
            return -1;
        }
        sockact_name(fd - RC_SOCKACT_FD0, name, sizeof(name));
        log_info("%s %s: socket from the parent (fd %d%s%s)", type == SOCK_DGRAM ? "udp" : "stream",
                 addr_to_str(a, as, sizeof(as)), fd, name[0] ? ", name " : "", name);
        return fd;
    }
    return -1;
}

void rc_sockact_done(void)
{
    int n = sockact_count();

    for (int fd = RC_SOCKACT_FD0; fd < RC_SOCKACT_FD0 + n; fd++) {
        char name[64];
        if (sockact_taken(fd))
            continue;
        sockact_name(fd - RC_SOCKACT_FD0, name, sizeof(name));
        log_warnx("socket %d (name \"%s\") from the parent matches no listen address: closed", fd,
                  name);
        close(fd);
    }
    unsetenv("LISTEN_PID");
    unsetenv("LISTEN_FDS");
    unsetenv("LISTEN_FDNAMES");
}
