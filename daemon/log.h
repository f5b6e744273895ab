/*
 * log.h - cpqd's leveled log on standard error.
 *
 * One line per message, written with a single write(2) so lines from
 * different threads never interleave:
 *
 *     2026-11-30T06:00:00Z cpqd[1234] INFO listening on 127.0.0.1:7878
 *
 * Messages above the configured level are dropped before formatting.
 * Thread-safe; never allocates.  A message longer than CPQD_LOG_LINE_MAX
 * bytes is cut (and ends with "...").
 */
#ifndef CPQD_LOG_H
#define CPQD_LOG_H

#define CPQD_LOG_LINE_MAX 2048

typedef enum cpqd_log_level {
    CPQD_LOG_ERROR = 0,
    CPQD_LOG_WARN = 1,
    CPQD_LOG_INFO = 2,
    CPQD_LOG_DEBUG = 3,
} cpqd_log_level;

/* Set the most verbose level that is written (default CPQD_LOG_INFO). */
void cpqd_log_set_level(cpqd_log_level l);
int cpqd_log_enabled(cpqd_log_level l);

/* "error", "warn", "info", "debug" -> level; -1 for anything else. */
int cpqd_log_level_parse(const char *s);

void cpqd_log(cpqd_log_level l, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

#define cpqd_error(...) cpqd_log(CPQD_LOG_ERROR, __VA_ARGS__)
#define cpqd_warn(...) cpqd_log(CPQD_LOG_WARN, __VA_ARGS__)
#define cpqd_info(...) cpqd_log(CPQD_LOG_INFO, __VA_ARGS__)
#define cpqd_debug(...) do { if (cpqd_log_enabled(CPQD_LOG_DEBUG)) cpqd_log(CPQD_LOG_DEBUG, __VA_ARGS__); } while (0)

#endif
