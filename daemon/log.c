/* log.c - see log.h. */
#include "log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static atomic_int level = CPQD_LOG_INFO;
static const char *const level_names[] = { "ERROR", "WARN", "INFO", "DEBUG" };

void cpqd_log_set_level(cpqd_log_level l) { atomic_store(&level, (int)l); }

int cpqd_log_enabled(cpqd_log_level l) { return (int)l <= atomic_load_explicit(&level, memory_order_relaxed); }

int cpqd_log_level_parse(const char *s)
{
    static const char *const names[] = { "error", "warn", "info", "debug" };
    for (int i = 0; i < 4; i++)
        if (strcmp(s, names[i]) == 0) return i;
    return -1;
}

void cpqd_log(cpqd_log_level l, const char *fmt, ...)
{
    if (!cpqd_log_enabled(l)) return;
    char line[CPQD_LOG_LINE_MAX];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    size_t n = strftime(line, sizeof line, "%Y-%m-%dT%H:%M:%SZ", &tm);
    int k = snprintf(line + n, sizeof line - n, " cpqd[%ld] %s ", (long)getpid(), level_names[l]);
    if (k > 0) n += (size_t)k;
    va_list ap;
    va_start(ap, fmt);
    k = vsnprintf(line + n, sizeof line - n, fmt, ap);
    va_end(ap);
    if (k < 0) k = 0;
    if (n + (size_t)k >= sizeof line - 1) {          /* cut: keep room for "...\n" */
        n = sizeof line - 5;
        memcpy(line + n, "...", 3);
        n += 3;
    } else {
        n += (size_t)k;
    }
    line[n++] = '\n';
    /* One write per line; a short write to stderr is not worth a retry loop. */
    ssize_t w = write(STDERR_FILENO, line, n);
    (void)w;
}
