/* progress.h - the terminal progress bar of cpq-index (tool code, not library). */
#ifndef CPQ_PROGRESS_H
#define CPQ_PROGRESS_H

#include <stdint.h>
#include <stdio.h>

#include "cpqindex.h"

typedef struct cpq_bar {
    FILE *out;
    uint64_t total;          /* expected bytes of input, 0 if unknown */
    double t0;
    int drawn;
} cpq_bar;

double cpq_bar_now(void);
void cpq_bar_init(cpq_bar *bar, FILE *out, uint64_t total);
/* A cpq_progress_fn: redraws the bar line. */
void cpq_bar_update(void *ctx, const cpq_build_progress *p);
/* Erase the bar line. */
void cpq_bar_clear(cpq_bar *bar);
/* "12.3 MB" into buf. */
const char *cpq_human_bytes(double b, char *buf, size_t cap);

#endif
