/* fuzz_proto_request.c - libFuzzer target: request lines.  Each input line
 * goes through cpq_proto_parse_request and cpq_proto_search_parse; what
 * parses is formatted back with cpq_proto_format_req and must re-parse to
 * the same tag, command, options and arguments.  The section 5 escapes
 * must round-trip the raw input.  abort() on any mismatch. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cpqproto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c) do { if (!(c)) abort(); } while (0)

static int same_str(cpq_proto_str a, cpq_proto_str b)
{
    return a.n == b.n && (a.n == 0 || memcmp(a.p, b.p, a.n) == 0);
}

static void check_escape(const char *s, size_t n, unsigned flags)
{
    size_t need = cpq_proto_escape(NULL, 0, s, n, flags);
    char *e = malloc(need + 1), *u = malloc(n + 1);
    CHECK(e && u);
    CHECK(cpq_proto_escape(e, need + 1, s, n, flags) == need);
    CHECK(e[need] == '\0');
    CHECK(cpq_proto_utf8_valid(e, need));
    for (size_t i = 0; i < need; i++) {
        unsigned char c = (unsigned char)e[i];
        CHECK(c >= 0x20 && c != 0x7F);
        CHECK(!(flags & CPQ_PROTO_ESC_TOKEN) || c != ' ');
    }
    CHECK(cpq_proto_unescape(u, n, e, need) == (long)n);
    CHECK(n == 0 || memcmp(u, s, n) == 0);
    if (n) CHECK(cpq_proto_unescape(u, n - 1, e, need) == -1);   /* cap is honoured */
    /* in place */
    CHECK(cpq_proto_unescape(e, need, e, need) == (long)n);
    CHECK(n == 0 || memcmp(e, s, n) == 0);
    free(u);
    free(e);
}

static void check_line(const char *line, size_t len)
{
    cpq_proto_req req, req2;
    cpq_proto_search s, s2;
    char msg[256], tag[CPQ_PROTO_TAG_MAX + 1];
    static char buf[CPQ_PROTO_LINE_MAX + 64], buf2[CPQ_PROTO_LINE_MAX + 64];

    memset(msg, 'x', sizeof msg);
    int rc = cpq_proto_parse_request(line, len, &req, msg, sizeof msg);
    CHECK(rc >= 0 && rc < CPQ_PROTO_CODE_COUNT);
    CHECK(memchr(msg, '\0', sizeof msg));
    CHECK(req.nopts <= CPQ_PROTO_OPTS_MAX);
    if (req.tag.n) {
        CHECK(req.tag.n <= CPQ_PROTO_TAG_MAX);
        CHECK(req.tag.p > line && req.tag.p + req.tag.n <= line + len);
    }
    if (rc != CPQ_PROTO_OK) {
        CHECK(msg[0] != '\0');
        return;
    }
    if (req.cmd == CPQ_CMD_NONE) return;
    CHECK(req.cmd > 0 && req.cmd < CPQ_CMD_COUNT_);
    if (req.args.n) {
        CHECK(req.args.p >= line && req.args.p + req.args.n <= line + len);
        CHECK(req.args.p[0] != ' ' && req.args.p[0] != '\t');
        CHECK(req.args.p[req.args.n - 1] != ' ' && req.args.p[req.args.n - 1] != '\t');
    }
    cpq_proto_search_default(&s);
    if (cpq_proto_search_parse(&req, &s, msg, sizeof msg) != CPQ_PROTO_OK) {
        CHECK(msg[0] != '\0');
        return;
    }

    memcpy(tag, req.tag.p ? req.tag.p : "", req.tag.n);
    tag[req.tag.n] = '\0';
    long n = cpq_proto_format_req(buf, sizeof buf, req.tag.n ? tag : NULL, req.cmd, &s,
                                  req.args.p, req.args.n);
    if (n < 0) {
        /* Only a line near the limit may grow past it when formatted
         * (" --", %.17g doubles), and arguments with CR or LF (a raw CR
         * inside the line is legal; an LF only in the whole-input case)
         * cannot be formatted; anything else must format. */
        CHECK(len > CPQ_PROTO_LINE_MAX - 64 || memchr(req.args.p, '\r', req.args.n) ||
              memchr(req.args.p, '\n', req.args.n));
        return;
    }
    CHECK((size_t)n < sizeof buf && buf[n - 1] == '\n' && buf[n] == '\0');
    CHECK((size_t)n <= CPQ_PROTO_LINE_MAX);
    /* snprintf-like with a short buffer */
    size_t cap = (size_t)n / 2;
    CHECK(cpq_proto_format_req(buf2, cap, req.tag.n ? tag : NULL, req.cmd, &s, req.args.p,
                               req.args.n) == n);
    CHECK(cap == 0 || (buf2[cap - 1] == '\0' && memcmp(buf2, buf, cap - 1) == 0));

    CHECK(cpq_proto_parse_request(buf, (size_t)n - 1, &req2, msg, sizeof msg) == CPQ_PROTO_OK);
    CHECK(req2.cmd == req.cmd);
    CHECK(same_str(req2.tag, req.tag));
    CHECK(same_str(req2.args, req.args));
    cpq_proto_search_default(&s2);
    CHECK(cpq_proto_search_parse(&req2, &s2, msg, sizeof msg) == CPQ_PROTO_OK);
    CHECK(s2.limit == s.limit && s2.offset == s.offset && s2.snippet == s.snippet);
    CHECK(strcmp(s2.open, s.open) == 0 && strcmp(s2.close, s.close) == 0 &&
          strcmp(s2.ellipsis, s.ellipsis) == 0);
    CHECK(s2.group == s.group && s2.all == s.all && s2.exact == s.exact);
    CHECK(s2.has_k1 == s.has_k1 && (!s.has_k1 || memcmp(&s2.k1, &s.k1, sizeof s.k1) == 0));
    CHECK(s2.has_b == s.has_b && (!s.has_b || memcmp(&s2.b, &s.b, sizeof s.b) == 0));
    CHECK(s2.budget_ms == s.budget_ms && s2.has_num == s.has_num && s2.num == s.num);
    /* formatting is canonical: the re-parsed request formats identically */
    long n2 = cpq_proto_format_req(buf2, sizeof buf2, req.tag.n ? tag : NULL, req2.cmd, &s2,
                                   req2.args.p, req2.args.n);
    CHECK(n2 == n && memcmp(buf2, buf, (size_t)n) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = (const char *)data, *end = p + size;

    if (size <= 4096) {
        check_escape(p, size, 0);
        check_escape(p, size, CPQ_PROTO_ESC_TOKEN);
    }
    /* every LF-terminated line, and the whole input as one line */
    while (p < end) {
        const char *lf = memchr(p, '\n', (size_t)(end - p));
        const char *e = lf ? lf : end;
        check_line(p, (size_t)(e - p));
        p = lf ? lf + 1 : end;
    }
    check_line((const char *)data, size);
    /* The same padded to just below, at and past the length limit, where
     * formatting may grow the line past it. */
    if (size < 256) {
        static char big[CPQ_PROTO_LINE_MAX + 8];
        size_t n = CPQ_PROTO_LINE_MAX - 4 + size % 8;   /* 65532 .. 65539 */
        memcpy(big, data, size);
        memset(big + size, 'x', n - size);
        check_line(big, n);
    }
    return 0;
}
