/* fuzz_proto_reply.c - libFuzzer target: the input as a stream of reply
 * lines, read the way a client reads them: cpq_proto_parse_line, the
 * fields of each line, numbers, ranges and unescaped values; a "text N"
 * line skips its N bytes and the LF.  Then the first bytes are written as
 * values with cpq_rw and must read back unchanged. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cpqproto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c) do { if (!(c)) abort(); } while (0)

static int within(cpq_proto_str s, const char *line, size_t len)
{
    return s.n == 0 || (s.p >= line && s.p + s.n <= line + len);
}

static void read_value(const char *v, size_t n)
{
    static char u[CPQ_PROTO_LINE_MAX * 4];
    uint64_t x, a, b;
    double d;

    if (cpq_proto_parse_u64(v, n, UINT64_MAX, &x) == 0) CHECK(n > 0);
    if (cpq_proto_parse_range(v, n, UINT64_MAX, &a, &b) == 0) CHECK(a <= b);
    cpq_proto_parse_dbl(v, n, &d);
    if (n > sizeof u) return;
    long un = cpq_proto_unescape(u, sizeof u, v, n);
    if (un >= 0) {
        /* escaping what was unescaped gives a string that unescapes the same */
        static char e[CPQ_PROTO_LINE_MAX * 16 + 1];
        if ((size_t)un * 4 < sizeof e) {
            size_t en = cpq_proto_escape(e, sizeof e, u, (size_t)un, CPQ_PROTO_ESC_TOKEN);
            static char u2[CPQ_PROTO_LINE_MAX * 4];
            CHECK(cpq_proto_unescape(u2, sizeof u2, e, en) == un);
            CHECK(un == 0 || memcmp(u2, u, (size_t)un) == 0);
        }
    }
}

static void read_stream(const char *p, const char *end)
{
    while (p < end) {
        const char *lf = memchr(p, '\n', (size_t)(end - p));
        const char *e = lf ? lf : end;
        size_t len = (size_t)(e - p);
        cpq_proto_line l;

        p = lf ? lf + 1 : end;
        if (cpq_proto_parse_line(e - len, len, &l) != 0) continue;
        const char *line = e - len;
        CHECK(within(l.tag, line, len) && within(l.keyword, line, len) &&
              within(l.rest, line, len) && within(l.code_name, line, len));
        switch (l.kind) {
        case CPQ_RL_TEXT:
            /* skip N bytes and the LF after them, never past the input */
            if (l.text_len >= (uint64_t)(end - p)) return;
            p += l.text_len;
            if (*p == '\n') p++;
            continue;
        case CPQ_RL_ERR:
            CHECK(l.code > 0 && l.code < CPQ_PROTO_CODE_COUNT && l.code_name.n > 0);
            read_value(l.rest.p, l.rest.n);   /* free text */
            continue;
        case CPQ_RL_OK:
        case CPQ_RL_DATA:
            break;
        default:
            abort();
        }
        cpq_proto_fields f;
        cpq_proto_str k, v;
        int hv, guard = 0;
        cpq_proto_fields_init(&f, &l.rest);
        while (cpq_proto_fields_next(&f, &k, &v, &hv)) {
            CHECK(within(k, line, len) && within(v, line, len));
            CHECK(k.n > 0 || hv);
            CHECK(!memchr(k.p ? k.p : "", ' ', k.n) && !memchr(v.p ? v.p : "", ' ', v.n));
            CHECK(hv || v.n == 0);
            read_value(v.p, v.n);
            CHECK(++guard <= (int)len);
        }
    }
}

/* Write s as a token value, a free-text line and a literal; read back. */
static void write_read(const char *s, size_t n)
{
    cpq_pbuf b;
    cpq_rw w;
    cpq_proto_str tag = {"t-1", 3};
    cpq_proto_line l;
    cpq_proto_fields f;
    cpq_proto_str k, v;
    int hv;
    char u[1024];

    cpq_pbuf_init(&b, 1 << 20);
    cpq_rw_begin(&w, &b, 0, &tag);
    cpq_rw_record(&w, "hit");
    cpq_rw_str(&w, "doc", s, n);
    cpq_rw_line(&w, "snippet", s, n);
    cpq_rw_literal(&w, "text", s, n);
    cpq_rw_ok(&w);
    cpq_rw_str(&w, "v", s, n);
    cpq_rw_end(&w);
    CHECK(!cpq_pbuf_error(&b));

    const char *p = b.p, *end = b.p + b.len;
    const char *lf = memchr(p, '\n', (size_t)(end - p));
    /* hit doc=... */
    CHECK(lf && cpq_proto_parse_line(p, (size_t)(lf - p), &l) == 0 && l.kind == CPQ_RL_DATA);
    cpq_proto_fields_init(&f, &l.rest);
    CHECK(cpq_proto_fields_next(&f, &k, &v, &hv) == 1 && hv && k.n == 3);
    CHECK(cpq_proto_unescape(u, sizeof u, v.p, v.n) == (long)n && memcmp(u, s, n) == 0);
    CHECK(cpq_proto_fields_next(&f, &k, &v, &hv) == 0);
    /* snippet free text */
    p = lf + 1;
    lf = memchr(p, '\n', (size_t)(end - p));
    CHECK(lf && cpq_proto_parse_line(p, (size_t)(lf - p), &l) == 0 && l.kind == CPQ_RL_DATA);
    CHECK(l.keyword.n == 7 && memcmp(l.keyword.p, "snippet", 7) == 0);
    CHECK(cpq_proto_unescape(u, sizeof u, l.rest.p, l.rest.n) == (long)n &&
          memcmp(u, s, n) == 0);
    /* text N */
    p = lf + 1;
    lf = memchr(p, '\n', (size_t)(end - p));
    CHECK(lf && cpq_proto_parse_line(p, (size_t)(lf - p), &l) == 0 && l.kind == CPQ_RL_TEXT);
    CHECK(l.text_len == n);
    p = lf + 1;
    CHECK((size_t)(end - p) > n && memcmp(p, s, n) == 0 && p[n] == '\n');
    p += n + 1;
    lf = memchr(p, '\n', (size_t)(end - p));
    CHECK(lf && lf + 1 == end);
    CHECK(cpq_proto_parse_line(p, (size_t)(lf - p), &l) == 0 && l.kind == CPQ_RL_OK);
    CHECK(l.tag.n == 3 && memcmp(l.tag.p, "t-1", 3) == 0);
    cpq_proto_fields_init(&f, &l.rest);
    CHECK(cpq_proto_fields_next(&f, &k, &v, &hv) == 1 && hv);
    CHECK(cpq_proto_unescape(u, sizeof u, v.p, v.n) == (long)n && memcmp(u, s, n) == 0);

    /* the same in JSON must at least be one line ending in "}\n" */
    cpq_pbuf_reset(&b);
    cpq_rw_begin(&w, &b, 1, &tag);
    cpq_rw_record(&w, "hit");
    cpq_rw_str(&w, "doc", s, n);
    cpq_rw_line(&w, "snippet", s, n);
    cpq_rw_literal(&w, "text", s, n);
    cpq_rw_ok(&w);
    cpq_rw_str(&w, "v", s, n);
    cpq_rw_end(&w);
    CHECK(!cpq_pbuf_error(&b) && b.len >= 3 && b.p[b.len - 1] == '\n' && b.p[b.len - 2] == '}');
    CHECK(memchr(b.p, '\n', b.len) == b.p + b.len - 1);
    CHECK(cpq_proto_utf8_valid(b.p, b.len));
    cpq_pbuf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    read_stream((const char *)data, (const char *)data + size);
    write_read((const char *)data, size < 200 ? size : 200);
    return 0;
}
