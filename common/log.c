/*
 * log.c - implementation of log.h. Owns the process-wide tag and level (the
 * one piece of file-level state the brief allows: logging is process-global
 * by nature). Talks to stderr only.
 */
#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static struct {
    char proc[32];
    enum log_level level;
} log_state = {"rdrelay", LOG_LVL_INFO};

void log_init(const char *procname, enum log_level level)
{
    snprintf(log_state.proc, sizeof(log_state.proc), "%s", procname);
    log_state.level = level;
    setvbuf(stderr, NULL, _IOLBF, 0);
}

void log_set_level(enum log_level level)
{
    log_state.level = level;
}

enum log_level log_get_level(void)
{
    return log_state.level;
}

int log_level_parse(const char *name, enum log_level *out)
{
    static const char *names[] = {"error", "warn", "info", "debug"};
    for (unsigned i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (strcmp(name, names[i]) == 0) {
            *out = (enum log_level)i;
            return 0;
        }
    }
    return -1;
}

static void log_vwrite(const char *lvl, int errnum, const char *fmt, va_list ap)
{
    char msg[1024], stamp[32];
    struct timeval tv;
    struct tm tm;

    vsnprintf(msg, sizeof(msg), fmt, ap);
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
    if (errnum)
        fprintf(stderr, "%s.%03ldZ %s[%d] %s: %s: %s\n", stamp, (long)(tv.tv_usec / 1000),
                log_state.proc, (int)getpid(), lvl, msg, strerror(errnum));
    else
        fprintf(stderr, "%s.%03ldZ %s[%d] %s: %s\n", stamp, (long)(tv.tv_usec / 1000),
                log_state.proc, (int)getpid(), lvl, msg);
}

#define LOG_BODY(minlvl, tag, errnum)                                                              \
    do {                                                                                           \
        va_list ap;                                                                                \
        if (log_state.level < (minlvl))                                                            \
            return;                                                                                \
        va_start(ap, fmt);                                                                         \
        log_vwrite(tag, errnum, fmt, ap);                                                          \
        va_end(ap);                                                                                \
    } while (0)

void log_warn(const char *fmt, ...)
{
    int e = errno;
    LOG_BODY(LOG_LVL_WARN, "warn", e);
}

void log_warnx(const char *fmt, ...)
{
    LOG_BODY(LOG_LVL_WARN, "warn", 0);
}

void log_info(const char *fmt, ...)
{
    LOG_BODY(LOG_LVL_INFO, "info", 0);
}

void log_debug(const char *fmt, ...)
{
    LOG_BODY(LOG_LVL_DEBUG, "debug", 0);
}

void fatal(const char *fmt, ...)
{
    int e = errno;
    va_list ap;
    va_start(ap, fmt);
    log_vwrite("fatal", e, fmt, ap);
    va_end(ap);
    exit(1);
}

void fatalx(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_vwrite("fatal", 0, fmt, ap);
    va_end(ap);
    exit(1);
}
