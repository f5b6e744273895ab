/*
 * conn.c - libcpq's socket: resolve, connect with a timeout, and timed,
 * SIGPIPE-free writes and reads.
 *
 * The socket is non-blocking for its whole life; every wait is a poll()
 * bounded by the caller's deadline, so no server can make a call block
 * past its timeouts.  Every address a name resolves to is tried in the
 * order getaddrinfo gives (RFC 6724: usually IPv6 first), each with the
 * full connect timeout: a host with many dead addresses can take that
 * many timeouts (the known price of not racing them, as curl's "happy
 * eyeballs" does).
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <time.h>
#include <unistd.h>

#include "client_int.h"

#ifndef MSG_NOSIGNAL
#define MSG_NOSIGNAL 0      /* macOS: SO_NOSIGPIPE is set on the socket instead */
#endif

/* strerror is not thread-safe everywhere; the XSI strerror_r is. */
static const char *errtext(int e, char *buf, size_t cap)
{
    if (strerror_r(e, buf, cap) != 0)
        snprintf(buf, cap, "error %d", e);
    return buf;
}

int64_t cpqc_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t cpqc_deadline(int timeout_ms)
{
    return timeout_ms > 0 ? cpqc_now_ms() + timeout_ms : -1;
}

/* Poll fd for events until deadline.  Returns 1 ready, 0 timed out, -1
 * error (errno set). */
static int wait_fd(int fd, short events, int64_t deadline)
{
    for (;;) {
        int ms = -1;
        if (deadline >= 0) {
            int64_t left = deadline - cpqc_now_ms();
            if (left <= 0)
                return 0;
            ms = left > 0x7fffffff ? 0x7fffffff : (int)left;
        }
        struct pollfd p = {.fd = fd, .events = events, .revents = 0};
        int r = poll(&p, 1, ms);
        if (r > 0)
            return 1;   /* POLLERR/POLLHUP: the next read/write says what */
        if (r == 0)
            return 0;
        if (errno != EINTR)
            return -1;
    }
}

/* Connect one address within timeout_ms.  Returns an fd, or -1 with *rc and
 * *err (an errno or 0 for a timeout) set. */
static int connect_one(const struct addrinfo *ai, int timeout_ms, int *rc, int *err)
{
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
                    ai->ai_protocol);
    if (fd < 0) {
        *rc = CPQ_RC_IO;
        *err = errno;
        return -1;
    }
#ifdef SO_NOSIGPIPE
    {
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &one, sizeof one);
    }
#endif
    {
        /* Requests are small and answered one at a time: no Nagle delay. */
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
        return fd;
    if (errno != EINPROGRESS && errno != EINTR) {
        *rc = CPQ_RC_CONNECT;
        *err = errno;
        close(fd);
        return -1;
    }
    int w = wait_fd(fd, POLLOUT, cpqc_deadline(timeout_ms));
    if (w <= 0) {
        *rc = w == 0 ? CPQ_RC_TIMEOUT : CPQ_RC_IO;
        *err = w == 0 ? 0 : errno;
        close(fd);
        return -1;
    }
    int soerr = 0;
    socklen_t sl = sizeof soerr;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0)
        soerr = errno;
    if (soerr != 0) {
        *rc = CPQ_RC_CONNECT;
        *err = soerr;
        close(fd);
        return -1;
    }
    return fd;
}

int cpqc_conn_open(cpq_client *c, const char *host, unsigned port)
{
    char eb[128];
    char hbuf[256], pbuf[16];
    if (host == NULL || host[0] == '\0')
        host = "127.0.0.1";
    size_t hl = strlen(host);
    /* "[::1]" -> "::1" */
    if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') {
        host++;
        hl -= 2;
    }
    if (hl >= sizeof hbuf)
        return cpqc_fail(c, CPQ_RC_INVAL, 0, "host name too long");
    memcpy(hbuf, host, hl);
    hbuf[hl] = '\0';
    snprintf(pbuf, sizeof pbuf, "%u", port);

    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV | AI_ADDRCONFIG;
    int g = getaddrinfo(hbuf, pbuf, &hints, &res);
    if (g == EAI_NONAME
#ifdef EAI_ADDRFAMILY
        || g == EAI_ADDRFAMILY
#endif
#ifdef EAI_NODATA
        || g == EAI_NODATA
#endif
    ) {
        /* AI_ADDRCONFIG hides ::1 on hosts whose only interface is lo. */
        hints.ai_flags = AI_NUMERICSERV;
        g = getaddrinfo(hbuf, pbuf, &hints, &res);
    }
    if (g != 0) {
        if (g == EAI_MEMORY)
            return cpqc_fail(c, CPQ_RC_NOMEM, 0, "resolve %s: out of memory", hbuf);
        return cpqc_fail(c, CPQ_RC_RESOLVE, 0, "resolve %s: %s", hbuf,
                         g == EAI_SYSTEM ? errtext(errno, eb, sizeof eb) : gai_strerror(g));
    }
    int rc = CPQ_RC_CONNECT, err = 0, fd = -1;
    char where[sizeof hbuf] = "";
    for (const struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
        if (getnameinfo(ai->ai_addr, ai->ai_addrlen, where, sizeof where, NULL, 0,
                        NI_NUMERICHOST) != 0)
            snprintf(where, sizeof where, "%s", hbuf);
        fd = connect_one(ai, c->o.connect_timeout_ms, &rc, &err);
        if (fd >= 0)
            break;
    }
    freeaddrinfo(res);
    if (fd < 0) {
        if (rc == CPQ_RC_TIMEOUT)
            return cpqc_fail(c, rc, 0, "connect to %s port %u: timed out after %d ms", where,
                             port, c->o.connect_timeout_ms);
        return cpqc_fail(c, rc, 0, "connect to %s port %u: %s", where, port,
                         err ? errtext(err, eb, sizeof eb) : "failed");
    }
    c->fd = fd;
    c->ioff = c->ilen = 0;
    return CPQ_RC_OK;
}

void cpqc_conn_close(cpq_client *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    c->ioff = c->ilen = 0;
}

int cpqc_conn_write(cpq_client *c, const char *p, size_t n, int64_t deadline)
{
    char eb[128];
    while (n > 0) {
        ssize_t w = send(c->fd, p, n, MSG_NOSIGNAL);
        if (w > 0) {
            p += w;
            n -= (size_t)w;
            continue;
        }
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            int r = wait_fd(c->fd, POLLOUT, deadline);
            if (r == 0)
                return cpqc_fail(c, CPQ_RC_TIMEOUT, 1, "write timed out after %d ms",
                                 c->o.write_timeout_ms);
            if (r < 0)
                return cpqc_fail(c, CPQ_RC_IO, 1, "poll: %s", errtext(errno, eb, sizeof eb));
            continue;
        }
        if (w < 0 && (errno == EPIPE || errno == ECONNRESET))
            return cpqc_fail(c, CPQ_RC_CLOSED, 1, "the server closed the connection (%s)",
                             errtext(errno, eb, sizeof eb));
        return cpqc_fail(c, CPQ_RC_IO, 1, "write: %s",
                         w < 0 ? errtext(errno, eb, sizeof eb) : "no progress");
    }
    return CPQ_RC_OK;
}

int cpqc_conn_fill(cpq_client *c, int64_t deadline)
{
    char eb[128];
    if (c->ioff > 0) {
        memmove(c->in, c->in + c->ioff, c->ilen - c->ioff);
        c->ilen -= c->ioff;
        c->ioff = 0;
    }
    if (c->ilen == c->icap) {
        /* Start small; grow to hold one whole line of the maximum size. */
        if (c->icap >= CPQ_CLIENT_LINE_MAX)
            return cpqc_fail(c, CPQ_RC_TOOBIG, 1, "a reply line is longer than %u bytes",
                             CPQ_CLIENT_LINE_MAX);
        size_t nc = c->icap ? c->icap * 2 : 16384;
        if (nc > CPQ_CLIENT_LINE_MAX)
            nc = CPQ_CLIENT_LINE_MAX;
        char *p = realloc(c->in, nc);
        if (p == NULL)
            return cpqc_fail(c, CPQ_RC_NOMEM, 1, "out of memory reading a reply");
        c->in = p;
        c->icap = nc;
    }
    for (;;) {
        ssize_t r = recv(c->fd, c->in + c->ilen, c->icap - c->ilen, 0);
        if (r > 0) {
            c->ilen += (size_t)r;
            return CPQ_RC_OK;
        }
        if (r == 0)
            return cpqc_fail(c, CPQ_RC_CLOSED, 1, "the server closed the connection");
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            int w = wait_fd(c->fd, POLLIN, deadline);
            if (w == 0)
                return cpqc_fail(c, CPQ_RC_TIMEOUT, 1, "no reply within %d ms",
                                 c->o.read_timeout_ms);
            if (w < 0)
                return cpqc_fail(c, CPQ_RC_IO, 1, "poll: %s", errtext(errno, eb, sizeof eb));
            continue;
        }
        if (errno == ECONNRESET)
            return cpqc_fail(c, CPQ_RC_CLOSED, 1, "the server reset the connection");
        return cpqc_fail(c, CPQ_RC_IO, 1, "read: %s", errtext(errno, eb, sizeof eb));
    }
}
