/*
 * cpqd.h - the daemon's configuration, shared by its modules.
 *
 * Filled in once by main (cpqd.c) from the command line before any thread
 * starts, and read-only afterwards.
 */
#ifndef CPQD_H
#define CPQD_H

#include <stddef.h>
#include <stdint.h>

#ifndef CPQD_VERSION
#define CPQD_VERSION "0.1.0"
#endif

#define CPQD_IDLE_TIMEOUT_DEFAULT 300u    /* seconds */
#define CPQD_QUERY_BUDGET_DEFAULT 1000u   /* milliseconds */
#define CPQD_MAX_CLIENTS_DEFAULT 1024
#define CPQD_SLOW_MS_DEFAULT 100u
#define CPQD_PASSAGE_CACHE_DEFAULT ((size_t)64 << 20)
#define CPQD_OUT_HIGH ((size_t)4 << 20)   /* stop reading a client with this much unsent output */
#define CPQD_OUT_LOW ((size_t)1 << 20)    /* ... and resume when it drained below this */
#ifndef CPQD_OUT_BUDGET
#define CPQD_OUT_BUDGET ((size_t)256 << 20) /* unsent replies of all connections together */
#endif

typedef struct cpqd_config {
    const char *index_path;
    char host[256];               /* numeric or name; "" never */
    char port[16];
    int threads;                  /* worker threads, >= 1 */
    long max_clients;             /* open connections, >= 1 */
    unsigned idle_timeout_s;      /* 0: none */
    unsigned budget_ms;           /* per-query time budget, >= 1 */
    size_t max_reply;             /* bytes per reply */
    size_t passage_cache;         /* bytes of decompressed passages, all workers together */
    char *password;               /* NULL: no password */
    size_t password_len;
    char *admin_password;         /* NULL: RELOAD needs what other commands need */
    size_t admin_password_len;
    int no_remote_reload;
    unsigned slow_ms;             /* log queries slower than this */
} cpqd_config;

#endif
