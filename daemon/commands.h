/*
 * commands.h - cpqd's command handlers (PROTOCOL.md section 6): one request
 * line in, one reply's bytes out.
 *
 * Knows nothing about sockets: server.c hands it complete lines and sends
 * what it returns.  A cpqd_cmd is per worker thread (it holds the worker's
 * reference to the index generation, the analysers built for it - which
 * are not thread-safe - a passage fetcher and the reply buffer); a
 * cpqd_session is per connection.  Nothing on the request path allocates
 * except what the engine itself allocates (the parsed query, the result
 * list, snippet spans) and buffers that grow once and are reused.
 */
#ifndef CPQD_COMMANDS_H
#define CPQD_COMMANDS_H

#include <stddef.h>

#include "cpqd.h"
#include "cpqproto.h"
#include "stats.h"

enum {
    CPQD_AUTH_NONE = 0,     /* nothing granted yet (only when a password is set) */
    CPQD_AUTH_USER = 1,     /* ordinary commands */
    CPQD_AUTH_ADMIN = 2,    /* also RELOAD when an admin password is set */
};

typedef struct cpqd_session {
    int json;               /* MODE json */
    int auth;               /* CPQD_AUTH_* */
    int quit;               /* QUIT was answered: close after flushing */
    int reload;             /* RELOAD was accepted: the caller runs the reload (off this
                               thread) and then sends cpqd_cmd_reload_reply */
    char tag[CPQ_PROTO_TAG_MAX + 1];   /* the RELOAD request's tag */
    const char *peer;       /* for logs, e.g. "127.0.0.1:51234"; owned by the caller */
} cpqd_session;

typedef struct cpqd_cmd cpqd_cmd;

/* A worker's command context, holding a reference to the current index
 * generation.  Returns NULL when out of memory (or when the analysers
 * cannot be built), after logging why. */
cpqd_cmd *cpqd_cmd_create(const cpqd_config *cfg, cpqd_wstats *st);
void cpqd_cmd_free(cpqd_cmd *c);    /* NULL is accepted */

/* Switch to the current generation if a reload made a new one (and let go
 * of the old).  Cheap when nothing changed. */
void cpqd_cmd_refresh(cpqd_cmd *c);

/* Initialise a new connection's session. */
void cpqd_cmd_session_init(const cpqd_cmd *c, cpqd_session *s, const char *peer);

/* The reply to one request line line[0..len) (without its LF), possibly
 * empty (an empty line gets none).  The buffer is the context's and is
 * valid until the next call on c; call cpqd_cmd_trim after copying it. */
const cpq_pbuf *cpqd_cmd_line(cpqd_cmd *c, cpqd_session *s, const char *line, size_t len);

/* The greeting (section 6.1). */
const cpq_pbuf *cpqd_cmd_greeting(cpqd_cmd *c, cpqd_session *s);

/* A reply that is one error, e.g. TOOLONG or TIMEOUT; tag may be NULL. */
const cpq_pbuf *cpqd_cmd_error(cpqd_cmd *c, cpqd_session *s, const cpq_proto_str *tag, int code,
                               const char *msg);

/* The reply to the RELOAD that set s->reload, once the reload is done:
 * ok != 0 for success, else why says what failed. */
const cpq_pbuf *cpqd_cmd_reload_reply(cpqd_cmd *c, cpqd_session *s, int ok, const char *why);

/* Give back reply memory beyond a small reserve after a big reply. */
void cpqd_cmd_trim(cpqd_cmd *c);

#endif
