/* testutil.h - small helpers shared by the Criterion tests. */
#ifndef CPQ_TESTUTIL_H
#define CPQ_TESTUTIL_H

#include <stddef.h>
#include <stdint.h>

/* Read a whole file; returns malloc'd buffer (NUL-terminated) or NULL. */
char *tu_read_file(const char *path, size_t *len);
/* Write a whole file; returns 0 or -1. */
int tu_write_file(const char *path, const void *data, size_t len);
/* mkdtemp under $TMPDIR (or /tmp); returns a malloc'd path. */
char *tu_tempdir(void);
/* rm -rf path (best effort). */
void tu_rmrf(const char *path);
/* Deterministic PRNG (xorshift64*). */
uint64_t tu_rand(uint64_t *state);

#endif
