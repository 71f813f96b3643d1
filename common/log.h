/*
 * log.h - the small logging API every rdrelay process uses (relayd style).
 * Owns: the process tag and the level. Writes to stderr (supervisord collects
 * it), one line per event: "<iso-time> <proc>[pid] <level>: message".
 * log_warn appends strerror(errno); fatal/fatalx log and exit(1).
 */
#ifndef RDRELAY_LOG_H
#define RDRELAY_LOG_H

#include <stdarg.h>

enum log_level { LOG_LVL_ERROR = 0, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };

void log_init(const char *procname, enum log_level level);
void log_set_level(enum log_level level);
int log_level_parse(const char *name, enum log_level *out); /* 0 / -1 */
enum log_level log_get_level(void);

void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
void fatalx(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif
