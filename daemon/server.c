/* server.c - see server.h.
 *
 * Accept model.  One listener on the main thread hands accepted sockets to
 * the workers round-robin (a short mutex-protected queue per worker plus
 * event_active to wake it), rather than one SO_REUSEPORT listener per
 * worker, because:
 *   - the kernel spreads SO_REUSEPORT connections by a hash of the address
 *     pair, so a handful of connections (the common case: a few long-lived
 *     clients) can all land on one worker while another idles; round-robin
 *     puts connection i on worker i % N;
 *   - --max-clients is decided in one place, before a worker sees the socket;
 *   - shutting down means closing one listener, and port 0 needs no
 *     "bind the others to the port the first one got" dance.
 * Accepting is not the hot path (clients keep their connections), and the
 * hand-off costs one lock and one wake-up per connection.
 *
 * Connections.  Each is a bufferevent on its worker's base for the output
 * (its write watermark, write timeout and the writes the socket could not
 * take at once), a plain read event on the same socket, and one timer event
 * used to yield (see process_input).  The read side is not the
 * bufferevent's because libevent's socket bufferevent asks the kernel how
 * much is readable (ioctl FIONREAD) before every read: a third system call
 * per request beside the read and the write, which held one-at-a-time PING
 * from many connections to 61-83% of redis-server's rate.  conn_readcb
 * reads straight into the connection's input buffer instead, with the same
 * limits the bufferevent enforced: at most READ_HIGH bytes buffered, and
 * the idle timeout as the read event's timeout, which runs only while the
 * connection is being read.  Backpressure: a connection with
 * more than CPQD_OUT_HIGH bytes of unsent replies stops being read (state
 * BLOCKED) until its output drains below CPQD_OUT_LOW; the input buffer is
 * capped by a read high-watermark of two line lengths; so a connection
 * holds at most about CPQD_OUT_HIGH + one reply (--max-reply) + 128 KiB,
 * whatever the client does.  As that times --max-clients would still be
 * gigabytes, the unsent output of all connections together is capped too
 * (CPQD_OUT_BUDGET, conn_account): past it, every connection with unsent
 * output stops being read until it drains, so the server holds about the
 * budget plus one reply per slow connection.  Clients that read their
 * replies are never held back by others.
 *
 * Writing.  Replies are appended to the bufferevent's output and, at the
 * end of each batch, written at once with one writev (conn_flush) while
 * EV_WRITE stays disabled; the bufferevent writes (EV_WRITE enabled) only
 * what the socket did not take.  A pipelined batch thus costs one read and
 * one write, as in Redis: with the read side's plain event, a request
 * costs cpqd the same two system calls as Redis (bench/README.md, "Daemon
 * load", has the figures).
 */
#include "server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <event2/thread.h>

#include "commands.h"
#include "cpqproto.h"
#include "gen.h"
#include "log.h"
#include "stats.h"

#define BATCH 64                          /* requests per connection before yielding */
#define READ_HIGH (2 * CPQ_PROTO_LINE_MAX) /* input buffered per connection, at most */
#define READ_CHUNK 16384                  /* bytes asked for by one read */
#define SHUTDOWN_GRACE_S 10               /* then connections still flushing are dropped */
#define PEER_MAX 64

typedef struct worker worker;
typedef struct reload_job reload_job;

/* A connection's state.  Orthogonal to it, `discard` says the rest of an
 * overlong line is being skipped and `eof` that the client sent its last
 * byte (or the server is stopping): answer what is complete, then close. */
typedef enum conn_state {
    CONN_ACTIVE = 0,   /* reading and answering requests */
    CONN_BLOCKED,      /* too much unsent output: not reading until it drains */
    CONN_CLOSING,      /* flushing the last replies; freed once the output is empty */
    CONN_WAITING,      /* a RELOAD runs on the reload thread; later requests wait for it */
} conn_state;

static const char *const conn_state_names[] = { "active", "blocked", "closing", "waiting" };

typedef struct conn {
    worker *w;
    struct bufferevent *bev;     /* output side: see the top of the file */
    struct event *rd;            /* input side: readable socket, or idle timeout */
    struct evbuffer *in;         /* bytes read, not yet answered */
    int reading;                 /* rd is added */
    struct event *resume;        /* zero-delay timer: continue after yielding, or free */
    struct evbuffer *pend;       /* replies not yet handed to the socket (conn_flush) */
    conn_state state;
    int discard, eof;
    int zombie;                  /* closed while WAITING: freed when its reload is done */
    size_t accounted;            /* output bytes counted in cpqd_gstats_g.unsent */
    size_t scan;                 /* input bytes already searched for LF */
    cpqd_session s;
    char peer[PEER_MAX];
    struct conn *prev, *next;
} conn;

/* A reload for the reload thread: from RELOAD (c, w set) or SIGHUP. */
struct reload_job {
    conn *c;
    worker *w;
    char origin[96];
    int ok;
    char why[CPQ_ERRMSG_MAX + 64];
    reload_job *next;
};

typedef struct pending {
    int fd;
    char peer[PEER_MAX];
} pending;

struct worker {
    int id;
    const cpqd_config *cfg;
    pthread_t thread;
    int started;
    struct event_base *base;
    struct event *notify;        /* activated from other threads */
    struct event *grace;         /* shutdown deadline */
    pthread_mutex_t mu;          /* guards q, nq, capq, stop, refresh */
    pending *q;
    size_t nq, capq;
    int stop, refresh;
    reload_job *done;            /* finished reloads of this worker's connections (guarded by mu) */
    int stopping;                /* worker-thread copy of stop */
    cpqd_server *srv;
    cpqd_cmd *cmd;
    cpqd_wstats *st;
    conn *conns;                 /* every open connection */
    size_t nconns;
    char line[CPQ_PROTO_LINE_MAX];
};

struct cpqd_server {
    const cpqd_config *cfg;
    struct event_base *base;
    struct evconnlistener *listener;
    struct event *sigterm, *sigint, *sighup, *relisten;
    worker *workers;
    cpqd_wstats *wstats;
    int nworkers;
    unsigned next;               /* round-robin cursor */
    /* The reload thread: opening and verifying an index takes seconds for a
     * large one, which would stall a worker's connections (RELOAD) or the
     * listener (SIGHUP); it runs the jobs one at a time. */
    pthread_t reload_thread;
    int reload_started;
    pthread_mutex_t rmu;         /* guards rq, rq_tail, rquit */
    pthread_cond_t rcv;
    reload_job *rq, **rq_tail;
    int rquit;
};

static void conn_readcb(evutil_socket_t fd, short what, void *arg);
static void conn_writecb(struct bufferevent *bev, void *arg);
static void conn_eventcb(struct bufferevent *bev, short what, void *arg);
static void conn_resumecb(evutil_socket_t fd, short what, void *arg);
static void process_input(conn *c);
static void conn_free(conn *c);
static void worker_notifycb(evutil_socket_t fd, short what, void *arg);
static void worker_gracecb(evutil_socket_t fd, short what, void *arg);
static void accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen, void *arg);
static void accept_errorcb(struct evconnlistener *l, void *arg);
static void relisten_cb(evutil_socket_t fd, short what, void *arg);
static void signal_cb(evutil_socket_t sig, short what, void *arg);
static int reload_submit(cpqd_server *s, reload_job *j);

/* ---- connections ------------------------------------------------------------ */

static void conn_send(conn *c, const cpq_pbuf *r)
{
    if (r->len) evbuffer_add(c->pend, r->p, r->len);
    cpqd_cmd_trim(c->w->cmd);
}

/* Read c's socket or not.  Reading is on only while the connection is
 * ACTIVE, the client has not sent its last byte and less than READ_HIGH
 * bytes wait in the input; the idle timeout runs only while it is on. */
static void conn_update_reading(conn *c)
{
    int want = c->state == CONN_ACTIVE && !c->eof && evbuffer_get_length(c->in) < READ_HIGH;
    if (want == c->reading) return;
    if (want) {
        struct timeval tv = { (time_t)c->w->cfg->idle_timeout_s, 0 };
        if (event_add(c->rd, c->w->cfg->idle_timeout_s ? &tv : NULL) != 0) return;
    } else {
        event_del(c->rd);
    }
    c->reading = want;
}

/* Write what the replies so far left in the output, now, with one writev.
 * Answering a request thus costs a read and a write, as in Redis, instead
 * of also arming and disarming a write event per request; the bufferevent
 * takes over (EV_WRITE enabled) only while a rest cannot be written. */
/* Count c's unsent output in the server-wide total, which caps what all
 * slow readers together hold (CPQD_OUT_BUDGET).  Updated after each flush
 * and each drain the bufferevent reports, so it may overstate a draining
 * connection for a while, never understate one; a connection whose client
 * reads promptly has nothing unsent and costs no atomic operation. */
static void conn_account(conn *c, size_t len)
{
    if (len == c->accounted) return;
    atomic_fetch_add_explicit(&cpqd_gstats_g.unsent, (unsigned long long)len - c->accounted,
                              memory_order_relaxed);   /* modulo 2^64: a decrease wraps back */
    c->accounted = len;
}

static void conn_flush(conn *c)
{
    struct evbuffer *out = bufferevent_get_output(c->bev);
    if (evbuffer_get_length(c->pend) > 0) {
        /* Nothing queued in the bufferevent: write now.  (Its own output
         * buffer cannot be written from outside: libevent freezes its
         * start, so the replies wait in c->pend until here.)  A failure
         * other than EAGAIN is reported by the bufferevent's own write,
         * which the enable below starts. */
        if (evbuffer_get_length(out) == 0) (void)evbuffer_write(c->pend, bufferevent_getfd(c->bev));
        if (evbuffer_get_length(c->pend) > 0) {
            evbuffer_add_buffer(out, c->pend);
            bufferevent_enable(c->bev, EV_WRITE);
        }
    }
    conn_account(c, evbuffer_get_length(out));
}

static void conn_set_state(conn *c, conn_state st)
{
    if (c->state == st) return;
    cpqd_debug("connection %s: %s -> %s", c->peer, conn_state_names[c->state], conn_state_names[st]);
    c->state = st;
}

/* Flush, then free (from the write callback, or from the resume timer when
 * nothing is left to write).  Never frees synchronously, so callers may go
 * on touching c. */
static void conn_close_after_flush(conn *c)
{
    if (c->state == CONN_CLOSING) return;
    conn_set_state(c, CONN_CLOSING);
    conn_update_reading(c);
    bufferevent_setwatermark(c->bev, EV_WRITE, 0, 0);
    conn_flush(c);
    if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0) {
        static const struct timeval zero = { 0, 0 };
        event_add(c->resume, &zero);
    }
}

static void conn_block(conn *c)
{
    conn_set_state(c, CONN_BLOCKED);
    conn_update_reading(c);
    bufferevent_setwatermark(c->bev, EV_WRITE, CPQD_OUT_LOW, 0);
}

static void conn_unblock(conn *c)
{
    conn_set_state(c, CONN_ACTIVE);
    bufferevent_setwatermark(c->bev, EV_WRITE, 0, 0);
    conn_update_reading(c);
}

/* The tag at the start of an overlong line, if it has a valid one. */
static void peek_tag(struct evbuffer *in, char *buf, cpq_proto_str *tag)
{
    ev_ssize_t n = evbuffer_copyout(in, buf, CPQ_PROTO_TAG_MAX + 2);
    tag->p = NULL;
    tag->n = 0;
    if (n < 3 || buf[0] != '@') return;
    ev_ssize_t i = 1;
    while (i < n && i <= (ev_ssize_t)CPQ_PROTO_TAG_MAX
           && ((buf[i] >= 'a' && buf[i] <= 'z') || (buf[i] >= 'A' && buf[i] <= 'Z')
               || (buf[i] >= '0' && buf[i] <= '9') || buf[i] == '.' || buf[i] == '_' || buf[i] == ':'
               || buf[i] == '-'))
        i++;
    if (i > 1 && i < n && (buf[i] == ' ' || buf[i] == '\t')) {
        tag->p = buf + 1;
        tag->n = (size_t)(i - 1);
    }
}

static void reply_toolong(conn *c, struct evbuffer *in)
{
    char buf[CPQ_PROTO_TAG_MAX + 2];
    cpq_proto_str tag;
    peek_tag(in, buf, &tag);
    conn_send(c, cpqd_cmd_error(c->w->cmd, &c->s, &tag, CPQ_PROTO_TOOLONG,
                                "the line is longer than 65536 bytes; it was discarded"));
}

/* Hand an accepted RELOAD to the reload thread; the connection reads and
 * answers nothing more until the reply is back (replies stay in order). */
static void conn_wait_reload(conn *c)
{
    worker *w = c->w;
    reload_job *j = calloc(1, sizeof *j);
    if (!j) {
        conn_send(c, cpqd_cmd_reload_reply(w->cmd, &c->s, 0, "out of memory"));
        return;
    }
    j->c = c;
    j->w = w;
    snprintf(j->origin, sizeof j->origin, "RELOAD from %s", c->peer);
    if (reload_submit(w->srv, j) != 0) {
        free(j);
        conn_send(c, cpqd_cmd_reload_reply(w->cmd, &c->s, 0, "the server is shutting down"));
        return;
    }
    conn_set_state(c, CONN_WAITING);
    conn_update_reading(c);
}

/* A reload of c's is done: answer it and go on with c's input. */
static void conn_reload_done(conn *c, reload_job *j)
{
    static const struct timeval zero = { 0, 0 };
    if (c->zombie) {
        c->state = CONN_ACTIVE;
        conn_free(c);
        return;
    }
    conn_set_state(c, CONN_ACTIVE);
    conn_send(c, cpqd_cmd_reload_reply(c->w->cmd, &c->s, j->ok, j->why));
    conn_update_reading(c);
    event_add(c->resume, &zero);
}

/* Answer the complete lines in c's input, in order, until the input runs
 * out, the output passes the high-water mark (then block), or BATCH
 * requests were answered (then yield through the resume timer, so one
 * pipelining client cannot starve the others on this worker). */
static void process_lines(conn *c)
{
    struct evbuffer *in = c->in;
    struct evbuffer *out = bufferevent_get_output(c->bev);
    worker *w = c->w;
    int n = 0;
    while (c->state == CONN_ACTIVE) {
        /* Backpressure: this client's unread replies, or everybody's. */
        size_t olen = evbuffer_get_length(out) + evbuffer_get_length(c->pend);
        if (olen >= CPQD_OUT_HIGH
            || (olen > 0 && atomic_load_explicit(&cpqd_gstats_g.unsent, memory_order_relaxed) > CPQD_OUT_BUDGET)) {
            conn_block(c);
            return;
        }
        if (n >= BATCH) {
            static const struct timeval zero = { 0, 0 };
            event_add(c->resume, &zero);
            return;
        }
        size_t avail = evbuffer_get_length(in);
        if (c->discard) {
            /* Skipping the rest of an overlong line: keep nothing of it. */
            struct evbuffer_ptr p = evbuffer_search(in, "\n", 1, NULL);
            if (p.pos < 0) {
                evbuffer_drain(in, avail);
                break;
            }
            evbuffer_drain(in, (size_t)p.pos + 1);
            c->discard = 0;
            continue;
        }
        struct evbuffer_ptr p;
        p.pos = -1;
        if (c->scan < avail) {
            struct evbuffer_ptr start;
            /* Search only the bytes not searched before: a client trickling a
             * long line one byte at a time costs linear, not quadratic, time. */
            if (evbuffer_ptr_set(in, &start, c->scan, EVBUFFER_PTR_SET) == 0)
                p = evbuffer_search_eol(in, &start, NULL, EVBUFFER_EOL_LF);
        }
        if (p.pos < 0) {
            c->scan = avail;
            if (avail >= CPQ_PROTO_LINE_MAX) {
                reply_toolong(c, in);
                evbuffer_drain(in, avail);
                c->scan = 0;
                c->discard = 1;
                n++;
                continue;
            }
            break;
        }
        size_t len = (size_t)p.pos;    /* bytes before the LF */
        c->scan = 0;
        if (len + 1 > CPQ_PROTO_LINE_MAX) {
            reply_toolong(c, in);
            evbuffer_drain(in, len + 1);
            n++;
            continue;
        }
        evbuffer_remove(in, w->line, len + 1);
        const cpq_pbuf *r = cpqd_cmd_line(w->cmd, &c->s, w->line, len);
        if (r->len) n++;
        conn_send(c, r);
        if (c->s.reload) {
            c->s.reload = 0;
            conn_wait_reload(c);
            continue;      /* WAITING (the loop ends), or ACTIVE with the error sent */
        }
        if (c->s.quit) {
            conn_close_after_flush(c);
            return;
        }
    }
    /* Out of complete lines.  After the client's last byte (or at shutdown)
     * whatever is left is half a line that will never end: close. */
    if (c->state == CONN_ACTIVE && c->eof) conn_close_after_flush(c);
}

static void process_input(conn *c)
{
    process_lines(c);
    conn_update_reading(c);
    conn_flush(c);
    if (c->state == CONN_BLOCKED && evbuffer_get_length(bufferevent_get_output(c->bev)) == 0) {
        /* The direct write drained it: no write callback will come (while
         * anything is left, the bufferevent calls conn_writecb once its
         * writes bring the output down to CPQD_OUT_LOW). */
        static const struct timeval zero = { 0, 0 };
        conn_unblock(c);
        event_add(c->resume, &zero);
    }
}

/* The client will send nothing more (it may still read): answer the
 * complete requests it sent, then close. */
static void conn_eof(conn *c)
{
    cpqd_debug("connection %s: end of input", c->peer);
    c->eof = 1;
    conn_update_reading(c);
    if (c->state == CONN_CLOSING) {
        if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0) conn_free(c);
        return;
    }
    if (c->state == CONN_ACTIVE) process_input(c);
}

/* The socket is readable, or the connection was idle for the idle timeout.
 * One read per wake-up, as the bufferevent did, so a fast sender cannot
 * starve the worker's other connections. */
static void conn_readcb(evutil_socket_t fd, short what, void *arg)
{
    conn *c = arg;
    if (what & EV_TIMEOUT) {
        cpqd_debug("connection %s: idle timeout", c->peer);
        conn_send(c, cpqd_cmd_error(c->w->cmd, &c->s, NULL, CPQ_PROTO_TIMEOUT,
                                    "idle timeout expired; closing the connection"));
        conn_close_after_flush(c);
        return;
    }
    size_t have = evbuffer_get_length(c->in);
    if (have >= READ_HIGH) {          /* cannot happen while reading is on */
        conn_update_reading(c);
        return;
    }
    size_t want = READ_HIGH - have;
    if (want > READ_CHUNK) want = READ_CHUNK;
    struct evbuffer_iovec v;
    if (evbuffer_reserve_space(c->in, (ev_ssize_t)want, &v, 1) < 1) {
        cpqd_error("connection %s: out of memory for its input; dropping it", c->peer);
        conn_free(c);
        return;
    }
    if (v.iov_len > want) v.iov_len = want;
    ssize_t n = recv(fd, v.iov_base, v.iov_len, 0);
    if (n > 0) {
        v.iov_len = (size_t)n;
        evbuffer_commit_space(c->in, &v, 1);
        process_input(c);
    } else if (n == 0) {
        conn_eof(c);
    } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        cpqd_debug("connection %s: %s", c->peer, strerror(errno));
        conn_free(c);
    }
}

static void conn_writecb(struct bufferevent *bev, void *arg)
{
    conn *c = arg;
    size_t left = evbuffer_get_length(bufferevent_get_output(bev));
    conn_account(c, left);
    if (c->state == CONN_CLOSING) {
        if (left == 0) conn_free(c);
        return;
    }
    if (c->state == CONN_BLOCKED && left <= CPQD_OUT_LOW) {
        conn_unblock(c);
        process_input(c);
        return;
    }
    if (left == 0) bufferevent_disable(bev, EV_WRITE);   /* conn_flush writes from here on */
}

static void conn_resumecb(evutil_socket_t fd, short what, void *arg)
{
    conn *c = arg;
    (void)fd;
    (void)what;
    if (c->state == CONN_CLOSING) {
        if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0) conn_free(c);
        return;
    }
    process_input(c);
}

static void conn_eventcb(struct bufferevent *bev, short what, void *arg)
{
    conn *c = arg;
    (void)bev;
    if (what & BEV_EVENT_EOF) {      /* not reading, so not expected */
        conn_eof(c);
        return;
    }
    if (what & BEV_EVENT_ERROR) {
        cpqd_debug("connection %s: %s", c->peer, evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
        conn_free(c);
        return;
    }
    if (what & BEV_EVENT_TIMEOUT) {
        /* The write timeout: the client has not read its replies for the
         * whole idle time. */
        cpqd_info("connection %s: dropped, its output did not drain (%s)", c->peer,
                  conn_state_names[c->state]);
        conn_free(c);
    }
}

/* Stop the kernel from answering unread input with a reset that could
 * destroy our last reply in flight: send FIN after it, and read away
 * whatever the client had already sent. */
static void linger_close(evutil_socket_t fd)
{
    char buf[4096];
    shutdown(fd, SHUT_WR);
    for (int i = 0; i < 64; i++)
        if (recv(fd, buf, sizeof buf, MSG_DONTWAIT) <= 0) break;
}

static void conn_free(conn *c)
{
    worker *w = c->w;
    if (c->state == CONN_WAITING) {
        /* The reload thread holds a pointer to c: free it when the job is back. */
        c->zombie = 1;
        c->eof = 1;
        conn_update_reading(c);
        bufferevent_disable(c->bev, EV_WRITE);
        return;
    }
    if (c->prev) c->prev->next = c->next;
    else w->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    w->nconns--;
    cpqd_debug("connection %s: closed (%s)", c->peer, conn_state_names[c->state]);
    conn_account(c, 0);
    if (c->state == CONN_CLOSING) linger_close(bufferevent_getfd(c->bev));
    event_free(c->rd);             /* before the socket is closed */
    bufferevent_free(c->bev);
    event_free(c->resume);
    evbuffer_free(c->pend);
    evbuffer_free(c->in);
    free(c);
    atomic_fetch_sub(&cpqd_gstats_g.connections, 1);
    if (w->stopping && w->nconns == 0) event_base_loopbreak(w->base);
}

static void conn_new(worker *w, const pending *pd)
{
    conn *c = calloc(1, sizeof *c);
    if (!c) goto fail;
    c->w = w;
    memcpy(c->peer, pd->peer, sizeof c->peer);
    c->bev = bufferevent_socket_new(w->base, pd->fd, BEV_OPT_CLOSE_ON_FREE);
    if (!c->bev) goto fail;
    c->resume = event_new(w->base, -1, 0, conn_resumecb, c);
    if (!c->resume) goto fail;
    c->rd = event_new(w->base, pd->fd, EV_READ | EV_PERSIST, conn_readcb, c);
    if (!c->rd) goto fail;
    c->pend = evbuffer_new();
    if (!c->pend) goto fail;
    c->in = evbuffer_new();
    if (!c->in) goto fail;
    c->next = w->conns;
    if (w->conns) w->conns->prev = c;
    w->conns = c;
    w->nconns++;
    cpqd_cmd_session_init(w->cmd, &c->s, c->peer);
    bufferevent_setcb(c->bev, NULL, conn_writecb, conn_eventcb, c);
    if (w->cfg->idle_timeout_s) {
        struct timeval tv = { (time_t)w->cfg->idle_timeout_s, 0 };
        bufferevent_set_timeouts(c->bev, NULL, &tv);
    }
    /* A new bufferevent has EV_WRITE enabled: then every reply added to
     * the output arms the write event (an epoll_ctl, an epoll_wait and
     * another epoll_ctl per request).  Off, conn_flush writes directly and
     * enables it only for what the socket did not take. */
    bufferevent_disable(c->bev, EV_READ | EV_WRITE);
    conn_update_reading(c);
    conn_send(c, cpqd_cmd_greeting(w->cmd, &c->s));
    conn_flush(c);
    cpqd_debug("connection %s: open on worker %d", c->peer, w->id);
    return;
fail:
    cpqd_error("out of memory: dropping connection from %s", pd->peer);
    if (c && c->resume) event_free(c->resume);
    if (c && c->rd) event_free(c->rd);
    if (c && c->pend) evbuffer_free(c->pend);
    if (c && c->in) evbuffer_free(c->in);
    if (c && c->bev) bufferevent_free(c->bev);
    else evutil_closesocket(pd->fd);
    free(c);
    atomic_fetch_sub(&cpqd_gstats_g.connections, 1);
}

/* ---- workers ------------------------------------------------------------- */

static void worker_notifycb(evutil_socket_t fd, short what, void *arg)
{
    worker *w = arg;
    (void)fd;
    (void)what;
    pthread_mutex_lock(&w->mu);
    pending *q = w->q;
    size_t nq = w->nq;
    int stop = w->stop, refresh = w->refresh;
    reload_job *done = w->done;
    w->q = NULL;
    w->nq = w->capq = 0;
    w->refresh = 0;
    w->done = NULL;
    pthread_mutex_unlock(&w->mu);
    if (refresh) cpqd_cmd_refresh(w->cmd);
    while (done) {
        reload_job *j = done;
        done = j->next;
        conn_reload_done(j->c, j);
        free(j);
    }
    for (size_t i = 0; i < nq; i++) {
        if (stop) {
            evutil_closesocket(q[i].fd);
            atomic_fetch_sub(&cpqd_gstats_g.connections, 1);
        } else {
            conn_new(w, &q[i]);
        }
    }
    free(q);
    if (stop && !w->stopping) {
        w->stopping = 1;
        if (w->nconns == 0) {
            event_base_loopbreak(w->base);
            return;
        }
        struct timeval tv = { SHUTDOWN_GRACE_S, 0 };
        event_add(w->grace, &tv);
        /* Answer what every client has already sent, flush, close. */
        for (conn *c = w->conns, *next; c; c = next) {
            next = c->next;
            c->eof = 1;
            conn_update_reading(c);
            if (c->state == CONN_ACTIVE) {
                static const struct timeval zero = { 0, 0 };
                event_add(c->resume, &zero);
            }
        }
    }
}

static void worker_gracecb(evutil_socket_t fd, short what, void *arg)
{
    worker *w = arg;
    (void)fd;
    (void)what;
    cpqd_warn("worker %d: %zu connection(s) still flushing after %d s; dropping them", w->id, w->nconns,
              SHUTDOWN_GRACE_S);
    for (conn *c = w->conns, *next; c; c = next) {
        next = c->next;
        conn_free(c);      /* a WAITING one stays until its reload is back */
    }
    event_base_loopbreak(w->base);
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    event_base_loop(w->base, EVLOOP_NO_EXIT_ON_EMPTY);
    /* Stopped: whatever is left (the grace timer fired) goes now.  The
     * reload thread has finished by now (cpqd_server_run joins it first),
     * so no job still points to a connection. */
    while (w->conns) {
        w->conns->state = CONN_ACTIVE;
        conn_free(w->conns);
    }
    return NULL;
}

static void worker_wake(worker *w, int stop, int refresh)
{
    pthread_mutex_lock(&w->mu);
    if (stop) w->stop = 1;
    if (refresh) w->refresh = 1;
    pthread_mutex_unlock(&w->mu);
    event_active(w->notify, EV_READ, 0);
}

/* gen.h's hook: after a reload, every worker lets go of the old index. */
static void reload_notify(void *arg)
{
    cpqd_server *s = arg;
    for (int i = 0; i < s->nworkers; i++) worker_wake(&s->workers[i], 0, 1);
}

static int worker_init(cpqd_server *s, int id)
{
    worker *w = &s->workers[id];
    w->id = id;
    w->srv = s;
    w->cfg = s->cfg;
    w->st = &s->wstats[id];
    pthread_mutex_init(&w->mu, NULL);
    w->base = event_base_new();
    if (!w->base) return -1;
    w->notify = event_new(w->base, -1, 0, worker_notifycb, w);
    w->grace = evtimer_new(w->base, worker_gracecb, w);
    w->cmd = cpqd_cmd_create(s->cfg, w->st);
    if (!w->notify || !w->grace || !w->cmd) return -1;
    return 0;
}

/* ---- the reload thread ---------------------------------------------------- */

/* Queue a job; -1 when the reload thread is gone or stopping. */
static int reload_submit(cpqd_server *s, reload_job *j)
{
    int rc = -1;
    pthread_mutex_lock(&s->rmu);
    if (s->reload_started && !s->rquit) {
        j->next = NULL;
        *s->rq_tail = j;
        s->rq_tail = &j->next;
        pthread_cond_signal(&s->rcv);
        rc = 0;
    }
    pthread_mutex_unlock(&s->rmu);
    return rc;
}

static void *reload_main(void *arg)
{
    cpqd_server *s = arg;
    pthread_mutex_lock(&s->rmu);
    for (;;) {
        while (!s->rq && !s->rquit) pthread_cond_wait(&s->rcv, &s->rmu);
        reload_job *j = s->rq;
        if (!j) break;                       /* stopping, and nothing queued */
        s->rq = j->next;
        if (!s->rq) s->rq_tail = &s->rq;
        int quit = s->rquit;
        pthread_mutex_unlock(&s->rmu);
        if (quit) snprintf(j->why, sizeof j->why, "the server is shutting down");
        else j->ok = cpqd_gen_reload(j->origin, NULL, j->why, sizeof j->why) == 0;   /* logs */
        if (j->w) {
            worker *w = j->w;
            pthread_mutex_lock(&w->mu);
            j->next = w->done;
            w->done = j;
            pthread_mutex_unlock(&w->mu);
            event_active(w->notify, EV_READ, 0);
        } else {
            free(j);
        }
        pthread_mutex_lock(&s->rmu);
    }
    pthread_mutex_unlock(&s->rmu);
    return NULL;
}

static void reload_stop(cpqd_server *s)
{
    pthread_mutex_lock(&s->rmu);
    int started = s->reload_started;
    s->rquit = 1;
    pthread_cond_signal(&s->rcv);
    pthread_mutex_unlock(&s->rmu);
    if (started) pthread_join(s->reload_thread, NULL);
    pthread_mutex_lock(&s->rmu);
    s->reload_started = 0;
    pthread_mutex_unlock(&s->rmu);
}

/* ---- accepting ------------------------------------------------------------ */

static void format_addr(const struct sockaddr *sa, socklen_t len, char *out, size_t cap)
{
    char host[NI_MAXHOST], serv[NI_MAXSERV];
    if (getnameinfo(sa, len, host, sizeof host, serv, sizeof serv, NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
        snprintf(out, cap, "?");
        return;
    }
    if (sa->sa_family == AF_INET6) snprintf(out, cap, "[%s]:%s", host, serv);
    else snprintf(out, cap, "%s:%s", host, serv);
}

static void accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen, void *arg)
{
    cpqd_server *s = arg;
    (void)l;
    long open = atomic_fetch_add(&cpqd_gstats_g.connections, 1);
    if (open >= s->cfg->max_clients) {
        static const char busy[] = "ERR BUSY too many connections\n";
        atomic_fetch_sub(&cpqd_gstats_g.connections, 1);
        atomic_fetch_add(&cpqd_gstats_g.connections_rejected, 1);
        ssize_t wr = send(fd, busy, sizeof busy - 1, MSG_DONTWAIT | MSG_NOSIGNAL);
        (void)wr;
        linger_close(fd);
        evutil_closesocket(fd);
        return;
    }
    atomic_fetch_add(&cpqd_gstats_g.connections_total, 1);
    if (sa->sa_family == AF_INET || sa->sa_family == AF_INET6) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    pending pd;
    pd.fd = fd;
    format_addr(sa, (socklen_t)salen, pd.peer, sizeof pd.peer);
    worker *w = &s->workers[s->next++ % (unsigned)s->nworkers];
    pthread_mutex_lock(&w->mu);
    int ok = 1;
    if (w->nq == w->capq) {
        size_t cap = w->capq ? w->capq * 2 : 16;
        pending *q = realloc(w->q, cap * sizeof *q);
        if (q) {
            w->q = q;
            w->capq = cap;
        } else {
            ok = 0;
        }
    }
    if (ok) w->q[w->nq++] = pd;
    pthread_mutex_unlock(&w->mu);
    if (!ok) {
        cpqd_error("out of memory: dropping connection from %s", pd.peer);
        evutil_closesocket(fd);
        atomic_fetch_sub(&cpqd_gstats_g.connections, 1);
        return;
    }
    event_active(w->notify, EV_READ, 0);
}

/* accept() failed, typically EMFILE: pause accepting for a second rather
 * than spin on a listener that stays readable. */
static void accept_errorcb(struct evconnlistener *l, void *arg)
{
    cpqd_server *s = arg;
    int err = EVUTIL_SOCKET_ERROR();
    cpqd_warn("accept: %s; pausing for a second", evutil_socket_error_to_string(err));
    evconnlistener_disable(l);
    struct timeval tv = { 1, 0 };
    event_add(s->relisten, &tv);
}

static void relisten_cb(evutil_socket_t fd, short what, void *arg)
{
    cpqd_server *s = arg;
    (void)fd;
    (void)what;
    if (s->listener) evconnlistener_enable(s->listener);
}

static void signal_cb(evutil_socket_t sig, short what, void *arg)
{
    cpqd_server *s = arg;
    (void)what;
    if (sig == SIGHUP) {
        reload_job *j = calloc(1, sizeof *j);
        if (j) snprintf(j->origin, sizeof j->origin, "SIGHUP");
        if (!j || reload_submit(s, j) != 0) {
            cpqd_error("SIGHUP: cannot start a reload");
            free(j);
        }
        return;
    }
    cpqd_info("%s: no longer accepting; finishing and closing connections", sig == SIGTERM ? "SIGTERM" : "SIGINT");
    if (s->listener) {
        evconnlistener_free(s->listener);
        s->listener = NULL;
    }
    event_base_loopbreak(s->base);
}

/* ---- server ------------------------------------------------------------------ */

static int listen_on(cpqd_server *s)
{
    const cpqd_config *cfg = s->cfg;
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    int rc = getaddrinfo(cfg->host, cfg->port, &hints, &res);
    if (rc != 0) {
        cpqd_error("--listen %s:%s: %s", cfg->host, cfg->port, gai_strerror(rc));
        return -1;
    }
    int err = 0;
    for (struct addrinfo *ai = res; ai && !s->listener; ai = ai->ai_next) {
        s->listener = evconnlistener_new_bind(s->base, accept_cb, s,
                                              LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC,
                                              1024, ai->ai_addr, (int)ai->ai_addrlen);
        if (!s->listener) err = errno;
    }
    freeaddrinfo(res);
    if (!s->listener) {
        cpqd_error("cannot listen on %s:%s: %s", cfg->host, cfg->port, strerror(err));
        return -1;
    }
    evconnlistener_set_error_cb(s->listener, accept_errorcb);
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    char addr[NI_MAXHOST + NI_MAXSERV + 4];
    if (getsockname(evconnlistener_get_fd(s->listener), (struct sockaddr *)&ss, &len) != 0) {
        cpqd_error("getsockname: %s", strerror(errno));
        return -1;
    }
    format_addr((struct sockaddr *)&ss, len, addr, sizeof addr);
    /* The one line on standard output: tests and tools parse it. */
    printf("cpqd listening on %s\n", addr);
    fflush(stdout);
    cpqd_info("listening on %s with %d worker thread(s), index %s", addr, s->nworkers, cfg->index_path);
    return 0;
}

/* Room for --max-clients sockets plus the index and a margin. */
static void raise_fd_limit(long want)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return;
    rlim_t need = (rlim_t)want + 64;
    if (rl.rlim_cur >= need) return;
    rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= need ? need : rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur < need)
        cpqd_warn("open files limited to %llu: fewer than --max-clients %ld connections may fit",
                  (unsigned long long)rl.rlim_cur, want);
}

int cpqd_server_start(const cpqd_config *cfg, cpqd_server **out)
{
    *out = NULL;
    cpqd_server *s = calloc(1, sizeof *s);
    if (!s) {
        cpqd_error("out of memory");
        return -1;
    }
    s->cfg = cfg;
    pthread_mutex_init(&s->rmu, NULL);
    pthread_cond_init(&s->rcv, NULL);
    s->rq_tail = &s->rq;
    if (evthread_use_pthreads() != 0) {
        cpqd_error("libevent: no pthreads support");
        free(s);
        return -1;
    }
    /* A client that closes early must not kill us with SIGPIPE on write. */
    signal(SIGPIPE, SIG_IGN);
    raise_fd_limit(cfg->max_clients);
    s->nworkers = cfg->threads;
    s->workers = calloc((size_t)s->nworkers, sizeof *s->workers);
    s->wstats = calloc((size_t)s->nworkers, sizeof *s->wstats);
    s->base = event_base_new();
    if (!s->workers || !s->wstats || !s->base) {
        cpqd_error("out of memory");
        goto fail;
    }
    cpqd_stats_init(s->wstats, (size_t)s->nworkers);
    for (int i = 0; i < s->nworkers; i++)
        if (worker_init(s, i) != 0) {
            cpqd_error("cannot set up worker %d", i);
            goto fail;
        }
    s->sigterm = evsignal_new(s->base, SIGTERM, signal_cb, s);
    s->sigint = evsignal_new(s->base, SIGINT, signal_cb, s);
    s->sighup = evsignal_new(s->base, SIGHUP, signal_cb, s);
    s->relisten = evtimer_new(s->base, relisten_cb, s);
    if (!s->sigterm || !s->sigint || !s->sighup || !s->relisten || evsignal_add(s->sigterm, NULL) != 0
        || evsignal_add(s->sigint, NULL) != 0 || evsignal_add(s->sighup, NULL) != 0) {
        cpqd_error("cannot set up signal handling");
        goto fail;
    }
    if (listen_on(s) != 0) goto fail;
    cpqd_gen_set_notify(reload_notify, s);
    if (pthread_create(&s->reload_thread, NULL, reload_main, s) != 0) {
        cpqd_error("cannot start the reload thread");
        goto fail;
    }
    s->reload_started = 1;
    for (int i = 0; i < s->nworkers; i++) {
        if (pthread_create(&s->workers[i].thread, NULL, worker_main, &s->workers[i]) != 0) {
            cpqd_error("cannot start worker thread %d", i);
            goto fail;
        }
        s->workers[i].started = 1;
    }
    *out = s;
    return 0;
fail:
    cpqd_server_free(s);
    return -1;
}

int cpqd_server_run(cpqd_server *s)
{
    event_base_dispatch(s->base);
    /* First the reload thread (a reload in progress completes and its reply
     * goes to its worker), then the workers. */
    reload_stop(s);
    for (int i = 0; i < s->nworkers; i++)
        if (s->workers[i].started) worker_wake(&s->workers[i], 1, 0);
    for (int i = 0; i < s->nworkers; i++)
        if (s->workers[i].started) {
            pthread_join(s->workers[i].thread, NULL);
            s->workers[i].started = 0;
        }
    cpqd_info("stopped");
    return 0;
}

void cpqd_server_free(cpqd_server *s)
{
    if (!s) return;
    reload_stop(s);
    cpqd_gen_set_notify(NULL, NULL);
    /* Only after a failed start can threads still be running here. */
    for (int i = 0; s->workers && i < s->nworkers; i++)
        if (s->workers[i].started) {
            worker_wake(&s->workers[i], 1, 0);
            pthread_join(s->workers[i].thread, NULL);
        }
    if (s->listener) evconnlistener_free(s->listener);
    if (s->sigterm) event_free(s->sigterm);
    if (s->sigint) event_free(s->sigint);
    if (s->sighup) event_free(s->sighup);
    if (s->relisten) event_free(s->relisten);
    for (int i = 0; s->workers && i < s->nworkers; i++) {
        worker *w = &s->workers[i];
        for (size_t k = 0; k < w->nq; k++) evutil_closesocket(w->q[k].fd);
        free(w->q);
        while (w->done) {
            reload_job *j = w->done;
            w->done = j->next;
            free(j);
        }
        cpqd_cmd_free(w->cmd);
        if (w->notify) event_free(w->notify);
        if (w->grace) event_free(w->grace);
        if (w->base) event_base_free(w->base);
        pthread_mutex_destroy(&w->mu);
    }
    if (s->base) event_base_free(s->base);
    while (s->rq) {
        reload_job *j = s->rq;
        s->rq = j->next;
        free(j);
    }
    pthread_cond_destroy(&s->rcv);
    pthread_mutex_destroy(&s->rmu);
    free(s->workers);
    free(s->wstats);
    free(s);
}
