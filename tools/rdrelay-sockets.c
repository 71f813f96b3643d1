/*
 * rdrelay-sockets - hold a relay's public sockets and run the relay on
 * them, restarting it when it dies: socket activation (the sd_listen_fds
 * convention, relay-core/sockact.c) for supervisors that have none
 * (supervisord), and the parent the restart and chaos tests use. It binds
 * every --udp/--tcp address once, then runs PROGRAM with the sockets as fds
 * 3.. and LISTEN_FDS/LISTEN_PID/LISTEN_FDNAMES set; while PROGRAM is down
 * the kernel keeps queueing datagrams and connections, so a client's
 * retransmission is answered by the next PROGRAM and nothing gets ICMP port
 * unreachable. Exit status 2 of PROGRAM (a configuration error) is not
 * restarted: rdrelay-sockets exits 2 too. SIGTERM/SIGINT/SIGHUP are passed
 * on; after SIGTERM/SIGINT it waits for PROGRAM and exits with its status.
 * Owns the held sockets and one child; talks to nothing else.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "addr.h"

#define HOLD_MAX 32
#define HOLD_FD_PARK 100 /* held sockets wait here, clear of 3..3+n */

struct hold {
    int fd[HOLD_MAX];
    char names[HOLD_MAX * 8];
    int n;
    const char *pidfile;
    unsigned delay_ms;
    char **argv;
    pid_t child;
    unsigned starts;
};

static volatile sig_atomic_t hold_sig;

static void on_signal(int sig)
{
    hold_sig = sig;
}

static void usage(FILE *out)
{
    fprintf(out, "usage: rdrelay-sockets [--udp ADDR]... [--tcp ADDR]... [--pidfile FILE]\n"
                 "                       [--restart-delay-ms N] -- PROGRAM [ARG...]\n\n"
                 "Binds each UDP (--udp) and TCP (--tcp, listening) address once and runs\n"
                 "PROGRAM with them as inherited sockets (fds 3.., LISTEN_FDS, LISTEN_PID,\n"
                 "LISTEN_FDNAMES=udp:tcp:...), restarting PROGRAM after N ms (default 100)\n"
                 "whenever it exits, except with status 2 (configuration error). The\n"
                 "sockets stay bound meanwhile: datagrams and connections queue in the\n"
                 "kernel. An ADDR is HOST:PORT or [V6]:PORT; IPv6 sockets are V6ONLY, as the\n"
                 "relays bind them. --pidfile gets PROGRAM's current pid.\n"
                 "Signals: TERM/INT/HUP are passed to PROGRAM; after TERM/INT it exits with\n"
                 "PROGRAM's status.\n"
                 "exit: PROGRAM's status after TERM/INT, 2 bad arguments or PROGRAM exited 2,\n"
                 "1 failure\n");
}

static int hold_bind(struct hold *h, const char *spec, int type)
{
    struct rr_addr a;
    int one = 1, fd;

    if (h->n == HOLD_MAX || addr_parse(&a, spec, 5683) < 0) {
        fprintf(stderr, "rdrelay-sockets: bad address \"%s\"\n", spec);
        return -1;
    }
    fd = socket(a.ss.ss_family, type, 0);
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        (a.ss.ss_family == AF_INET6 &&
         setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0) ||
        bind(fd, (const struct sockaddr *)&a.ss, a.len) < 0 ||
        (type == SOCK_STREAM && listen(fd, 1024) < 0)) {
        fprintf(stderr, "rdrelay-sockets: %s: %s\n", spec, strerror(errno));
        return -1;
    }
    /* parked high and close-on-exec; the child dup2()s them to 3.. */
    h->fd[h->n] = fcntl(fd, F_DUPFD_CLOEXEC, HOLD_FD_PARK);
    close(fd);
    if (h->fd[h->n] < 0)
        return -1;
    size_t l = strlen(h->names);
    snprintf(h->names + l, sizeof(h->names) - l, "%s%s", h->n ? ":" : "",
             type == SOCK_DGRAM ? "udp" : "tcp");
    h->n++;
    return 0;
}

static void hold_exec(const struct hold *h)
{
    char buf[16];

    for (int i = 0; i < h->n; i++)
        if (dup2(h->fd[i], 3 + i) < 0)
            _exit(1);
    snprintf(buf, sizeof(buf), "%d", h->n);
    setenv("LISTEN_FDS", buf, 1);
    snprintf(buf, sizeof(buf), "%d", (int)getpid());
    setenv("LISTEN_PID", buf, 1);
    setenv("LISTEN_FDNAMES", h->names, 1);
    signal(SIGTERM, SIG_DFL);
    signal(SIGINT, SIG_DFL);
    signal(SIGHUP, SIG_DFL);
    execvp(h->argv[0], h->argv);
    fprintf(stderr, "rdrelay-sockets: exec %s: %s\n", h->argv[0], strerror(errno));
    _exit(2);
}

static int hold_start(struct hold *h)
{
    h->child = fork();
    if (h->child < 0) {
        perror("rdrelay-sockets: fork");
        return -1;
    }
    if (h->child == 0)
        hold_exec(h);
    h->starts++;
    if (h->pidfile) {
        char tmp[4096];
        snprintf(tmp, sizeof(tmp), "%s.tmp", h->pidfile);
        FILE *f = fopen(tmp, "w");
        if (f) {
            fprintf(f, "%d\n", (int)h->child);
            fclose(f);
            rename(tmp, h->pidfile); /* readers never see a half-written file */
        }
    }
    fprintf(stderr, "rdrelay-sockets: started %s as pid %d (start %u)\n", h->argv[0], (int)h->child,
            h->starts);
    return 0;
}

int main(int argc, char **argv)
{
    struct hold h = {.delay_ms = 100};
    struct sigaction sa;
    int i;

    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(argv[i], "--") == 0) {
            i++;
            break;
        } else if (i + 1 < argc && strcmp(argv[i], "--udp") == 0) {
            if (hold_bind(&h, argv[++i], SOCK_DGRAM) < 0)
                return 2;
        } else if (i + 1 < argc && strcmp(argv[i], "--tcp") == 0) {
            if (hold_bind(&h, argv[++i], SOCK_STREAM) < 0)
                return 2;
        } else if (i + 1 < argc && strcmp(argv[i], "--pidfile") == 0) {
            h.pidfile = argv[++i];
        } else if (i + 1 < argc && strcmp(argv[i], "--restart-delay-ms") == 0) {
            h.delay_ms = (unsigned)strtoul(argv[++i], NULL, 10);
        } else {
            usage(stderr);
            return 2;
        }
    }
    if (i >= argc || h.n == 0) {
        usage(stderr);
        return 2;
    }
    h.argv = argv + i;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal; /* no SA_RESTART: waitpid returns EINTR */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    if (hold_start(&h) < 0)
        return 1;
    bool stopping = false;
    for (;;) {
        int st;
        pid_t p = waitpid(h.child, &st, 0);
        if (p < 0 && errno == EINTR) {
            int sig = hold_sig;
            hold_sig = 0;
            if (sig)
                kill(h.child, sig);
            stopping |= sig == SIGTERM || sig == SIGINT;
            continue;
        }
        if (p < 0) {
            perror("rdrelay-sockets: waitpid");
            return 1;
        }
        int code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        fprintf(stderr, "rdrelay-sockets: pid %d %s %d\n", (int)p,
                WIFEXITED(st) ? "exited with" : "killed by signal",
                WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
        if (stopping || hold_sig == SIGTERM || hold_sig == SIGINT)
            return WIFEXITED(st) ? code : 0;
        if (WIFEXITED(st) && code == 2) {
            fprintf(stderr, "rdrelay-sockets: configuration error: not restarted\n");
            return 2;
        }
        struct timespec ts = {h.delay_ms / 1000, (long)(h.delay_ms % 1000) * 1000000L};
        while (nanosleep(&ts, &ts) < 0 && errno == EINTR && !hold_sig)
            ;
        if (hold_sig == SIGTERM || hold_sig == SIGINT)
            return 0;
        if (hold_start(&h) < 0)
            return 1;
    }
}
