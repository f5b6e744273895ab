/*
 * error.c - libcpq's return codes and version.
 */
#include <stddef.h>

#include "client_int.h"

const char *cpq_version(void)
{
    return CPQ_VERSION_STRING;
}

unsigned cpq_version_number(void)
{
    return CPQ_VERSION_NUMBER;
}

static const struct {
    int rc;
    const char *name, *text;
} rc_table[] = {
    {CPQ_RC_OK, "OK", "success"},
    {CPQ_RC_NOMEM, "NOMEM", "out of memory"},
    {CPQ_RC_INVAL, "INVAL", "invalid argument"},
    {CPQ_RC_RESOLVE, "RESOLVE", "host name not resolved"},
    {CPQ_RC_CONNECT, "CONNECT", "connection refused or host unreachable"},
    {CPQ_RC_TIMEOUT, "TIMEOUT", "connection timed out"},
    {CPQ_RC_CLOSED, "CLOSED", "the server closed the connection"},
    {CPQ_RC_IO, "IO", "socket error"},
    {CPQ_RC_PROTO, "PROTO", "malformed reply from the server"},
    {CPQ_RC_TOOBIG, "TOOBIG", "reply too large"},
    {CPQ_RC_VERSION, "VERSION", "unsupported protocol version"},
    {CPQ_RC_NOTCONN, "NOTCONN", "not connected"},
    {CPQ_RC_S_SYNTAX, "S_SYNTAX", "server: malformed request"},
    {CPQ_RC_S_UNKNOWN, "S_UNKNOWN", "server: unknown command"},
    {CPQ_RC_S_ARG, "S_ARG", "server: bad option or argument"},
    {CPQ_RC_S_QUERY, "S_QUERY", "server: malformed query"},
    {CPQ_RC_S_ENCODING, "S_ENCODING", "server: request is not valid UTF-8"},
    {CPQ_RC_S_TOOLONG, "S_TOOLONG", "server: request line too long"},
    {CPQ_RC_S_NOAUTH, "S_NOAUTH", "server: authentication required"},
    {CPQ_RC_S_AUTH, "S_AUTH", "server: wrong password"},
    {CPQ_RC_S_NOTFOUND, "S_NOTFOUND", "server: no such passage or document"},
    {CPQ_RC_S_TOOBIG, "S_TOOBIG", "server: reply would exceed the server's limit"},
    {CPQ_RC_S_LIMIT, "S_LIMIT", "server: query limit exceeded"},
    {CPQ_RC_S_BUSY, "S_BUSY", "server: too many connections"},
    {CPQ_RC_S_DISABLED, "S_DISABLED", "server: command disabled"},
    {CPQ_RC_S_RELOAD, "S_RELOAD", "server: reload failed"},
    {CPQ_RC_S_TIMEOUT, "S_TIMEOUT", "server: idle timeout"},
    {CPQ_RC_S_INTERNAL, "S_INTERNAL", "server: internal error"},
};

const char *cpq_strerror(int rc)
{
    for (size_t i = 0; i < sizeof rc_table / sizeof rc_table[0]; i++)
        if (rc_table[i].rc == rc)
            return rc_table[i].text;
    return "unknown error";
}

const char *cpq_rc_name(int rc)
{
    for (size_t i = 0; i < sizeof rc_table / sizeof rc_table[0]; i++)
        if (rc_table[i].rc == rc)
            return rc_table[i].name;
    return NULL;
}
