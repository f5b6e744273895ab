/*
 * gen.h - refcounted index generations and hot reload.
 *
 * A generation is one open, verified index file plus its number (1 at
 * start, +1 per successful reload).  The server holds a reference to the
 * current generation; anyone who reads the index takes a reference first
 * (cpqd_gen_acquire) and drops it when done (cpqd_gen_release).  A reload
 * opens and verifies the file again and, on success, makes the new
 * generation current; the old one is closed when its last reference drops,
 * so requests already running finish on the index they started with.
 *
 * Workers keep a reference between requests (with their analysers built
 * for it) and compare cpqd_gen_current_num() - one relaxed atomic load -
 * before each request to notice a reload; so the hot path takes no lock.
 * A reload also calls the notify hook so idle workers let go of the old
 * generation promptly instead of at their next request.
 */
#ifndef CPQD_GEN_H
#define CPQD_GEN_H

#include <stddef.h>
#include <stdint.h>

#include "cpqindex.h"

typedef struct cpqd_gen {
    cpq_index *ix;
    const cpq_index_info *info;
    uint64_t num;
    char *path;              /* the file it came from (shared by every generation) */
} cpqd_gen;

/* Open and verify path as generation 1.  Returns 0, or -1 with why[] (at
 * most cap bytes) saying what failed; nothing is kept on failure. */
int cpqd_gen_init(const char *path, char *why, size_t cap);

/* Drop the server's reference to the current generation (at exit). */
void cpqd_gen_shutdown(void);

/* A new reference to the current generation; never NULL after init. */
cpqd_gen *cpqd_gen_acquire(void);

/* Drop a reference; the last one closes the index.  NULL is accepted. */
void cpqd_gen_release(cpqd_gen *g);

/* The number of the current generation (a relaxed atomic load). */
uint64_t cpqd_gen_current_num(void);

/* Called (from the reloading thread) after every successful reload. */
void cpqd_gen_set_notify(void (*fn)(void *ctx), void *ctx);

/* Reopen and verify the same path.  Reloads are serialised: a second one
 * waits for the first.  Returns 0 with *num (may be NULL) the new
 * generation's number, or -1 with why[] saying why; then the current
 * generation is unchanged.  Logs either way.  Blocks the calling thread for
 * as long as opening and verifying the file takes. */
int cpqd_gen_reload(const char *origin, uint64_t *num, char *why, size_t cap);

#endif
