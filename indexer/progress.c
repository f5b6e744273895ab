/* progress.c - see progress.h.  Drawn on one line with \r, only when the
 * caller decided the stream is a terminal. */
#include "progress.h"

#include <time.h>

double cpq_bar_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void cpq_bar_init(cpq_bar *bar, FILE *out, uint64_t total)
{
    bar->out = out;
    bar->total = total;
    bar->t0 = cpq_bar_now();
    bar->drawn = 0;
}

const char *cpq_human_bytes(double b, char *buf, size_t cap)
{
    const char *u[] = { "B", "KB", "MB", "GB", "TB" };
    int i = 0;
    while (b >= 1000 && i < 4) { b /= 1000; i++; }
    snprintf(buf, cap, i ? "%.1f %s" : "%.0f %s", b, u[i]);
    return buf;
}

void cpq_bar_update(void *ctx, const cpq_build_progress *p)
{
    cpq_bar *bar = ctx;
    double dt = cpq_bar_now() - bar->t0;
    char hb[32], line[160];
    double rate = dt > 0 ? (double)p->bytes_in / dt / 1e6 : 0;
    if (p->phase == 0) {
        char barstr[24] = "";
        char eta[32] = "";
        if (bar->total) {
            double fr = (double)p->bytes_in / (double)bar->total;
            if (fr > 1) fr = 1;
            int fill = (int)(fr * 20);
            for (int i = 0; i < 20; i++) barstr[i] = i < fill ? '#' : '.';
            barstr[20] = 0;
            if (fr > 0.01) {
                double left = dt / fr - dt;
                snprintf(eta, sizeof eta, " ETA %d:%02d", (int)left / 60, (int)left % 60);
            }
        }
        snprintf(line, sizeof line, "%s%s%s %s  %llu passages  %.1f MB/s%s",
                 bar->total ? "[" : "", barstr, bar->total ? "]" : "",
                 cpq_human_bytes((double)p->bytes_in, hb, sizeof hb),
                 (unsigned long long)p->passages, rate, eta);
    } else if (p->phase == 1) {
        snprintf(line, sizeof line, "merging postings %3.0f%%  %llu passages",
                 p->merge_fraction * 100, (unsigned long long)p->passages);
    } else {
        snprintf(line, sizeof line, "writing tables  %llu passages", (unsigned long long)p->passages);
    }
    fprintf(bar->out, "\r\033[K%s", line);
    fflush(bar->out);
    bar->drawn = 1;
}

void cpq_bar_clear(cpq_bar *bar)
{
    if (bar->drawn) fprintf(bar->out, "\r\033[K");
    fflush(bar->out);
    bar->drawn = 0;
}
