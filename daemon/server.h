/*
 * server.h - cpqd's network side: the listener, the worker threads and
 * their connections, signals.
 *
 * Threads: the main thread runs one event_base holding the listener and
 * the signal events (SIGHUP reload, SIGTERM/SIGINT shutdown).  Each of
 * cfg->threads workers runs its own event_base; the main thread accepts a
 * connection and hands its socket to the workers round-robin.  A
 * connection lives on one worker for its whole life, so its state needs
 * no lock.  Requests run synchronously on the worker: a slow query stalls
 * the other connections of its worker (and only them) for its budget
 * (--query-budget).  One more thread runs reloads (RELOAD and SIGHUP),
 * which take as long as verifying the index file: seconds for a large one,
 * during which the workers go on serving the old generation.
 */
#ifndef CPQD_SERVER_H
#define CPQD_SERVER_H

#include "cpqd.h"

typedef struct cpqd_server cpqd_server;

/* Bind cfg's address, print "cpqd listening on HOST:PORT" to standard
 * output, and start the workers.  The index generation must be
 * initialised (gen.h).  Returns 0 with *out set, or -1 after logging why
 * (then nothing is left running). */
int cpqd_server_start(const cpqd_config *cfg, cpqd_server **out);

/* Serve until SIGTERM or SIGINT, then stop accepting, let the workers
 * answer what they have already received, flush, and stop.  Returns 0. */
int cpqd_server_run(cpqd_server *s);

/* Free everything; NULL is accepted.  Call after cpqd_server_run. */
void cpqd_server_free(cpqd_server *s);

#endif
