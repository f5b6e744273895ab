/* test_proto.c - the protocol codec (protocol/cpqproto.h, PROTOCOL.md):
 * request lines, search options, request formatting, escapes, the
 * bounded buffer, the reply writer in text and JSON, and reading replies. */
#include <criterion/criterion.h>

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpqproto.h"

/* ------------------------------------------------------------------ */
/* Helpers                                                             */
/* ------------------------------------------------------------------ */

/* Input copied into a buffer of exactly its length, so ASan sees any read
 * past it; the copy lives until the next call (req strings point into it). */
static char *held;

static const char *hold(const char *s, size_t n)
{
    free(held);
    held = malloc(n ? n : 1);
    cr_assert_not_null(held);
    memcpy(held, s, n);
    return held;
}

static void fini(void)
{
    free(held);
    held = NULL;
}

TestSuite(proto, .fini = fini);

static char msg[256];

static int parse_n(const char *line, size_t n, cpq_proto_req *req)
{
    return cpq_proto_parse_request(hold(line, n), n, req, msg, sizeof msg);
}

static int parse(const char *line, cpq_proto_req *req)
{
    return parse_n(line, strlen(line), req);
}

/* 1 if the writer's buffer holds want[0..n) somewhere. */
static cpq_pbuf wb;

static int has_bytes(const char *want, size_t n)
{
    for (size_t i = 0; i + n <= wb.len; i++)
        if (memcmp(wb.p + i, want, n) == 0) return 1;
    return 0;
}

static int str_is(cpq_proto_str s, const char *want)
{
    return s.n == strlen(want) && (s.n == 0 || memcmp(s.p, want, s.n) == 0);
}

#define assert_str(s, want) \
    cr_assert(str_is((s), (want)), "got [%.*s], want [%s]", (int)(s).n, (s).p ? (s).p : "", (want))

static void req_ok(const char *line, cpq_proto_req *req)
{
    int rc = parse(line, req);
    cr_assert_eq(rc, CPQ_PROTO_OK, "[%s]: %s %s", line, cpq_proto_code_name(rc), msg);
}

static void req_err(const char *line, size_t n, int code, const char *want_msg)
{
    cpq_proto_req req;
    int rc = parse_n(line, n, &req);
    cr_assert_eq(rc, code, "[%.*s]: %s (%s), want %s", (int)n, line, cpq_proto_code_name(rc), msg,
                 cpq_proto_code_name(code));
    if (want_msg) cr_assert_str_eq(msg, want_msg, "[%.*s]", (int)n, line);
}

/* Parse line and its options; returns search_parse's code. */
static int sparse(const char *line, cpq_proto_search *s)
{
    cpq_proto_req req;
    req_ok(line, &req);
    cpq_proto_search_default(s);
    return cpq_proto_search_parse(&req, s, msg, sizeof msg);
}

static void sopt_ok(const char *line, cpq_proto_search *s)
{
    int rc = sparse(line, s);
    cr_assert_eq(rc, CPQ_PROTO_OK, "[%s]: %s", line, msg);
}

static void sopt_err(const char *line, const char *want_msg)
{
    cpq_proto_search s;
    int rc = sparse(line, &s);
    cr_assert_eq(rc, CPQ_PROTO_ARG, "[%s] parsed", line);
    if (want_msg) cr_assert_str_eq(msg, want_msg, "[%s]", line);
}

/* ---- a small JSON validator: RFC 8259 values, no duplicate keys ---- */

typedef struct jp {
    const char *p, *end;
} jp;

static void jws(jp *j)
{
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
        j->p++;
}

static int jvalue(jp *j, int depth);

/* A string; copies its raw (still escaped) bytes to out when out != NULL. */
static int jstring(jp *j, char *out, size_t cap)
{
    const char *s;
    if (j->p >= j->end || *j->p != '"') return 0;
    s = ++j->p;
    while (j->p < j->end && *j->p != '"') {
        unsigned char c = (unsigned char)*j->p;
        if (c < 0x20) return 0;
        if (c == '\\') {
            j->p++;
            if (j->p >= j->end) return 0;
            if (*j->p == 'u') {
                for (int i = 1; i <= 4; i++)
                    if (j->p + i >= j->end || !strchr("0123456789abcdefABCDEF", j->p[i]) ||
                        !j->p[i])
                        return 0;
                j->p += 4;
            } else if (!strchr("\"\\/bfnrt", *j->p) || !*j->p) {
                return 0;
            }
        }
        j->p++;
    }
    if (j->p >= j->end) return 0;
    if (out) {
        size_t n = (size_t)(j->p - s);
        if (n >= cap) n = cap - 1;
        memcpy(out, s, n);
        out[n] = '\0';
    }
    j->p++;
    return 1;
}

static int jnumber(jp *j)
{
    const char *p = j->p;
    if (p < j->end && *p == '-') p++;
    if (p < j->end && *p == '0') {
        p++;
    } else if (p < j->end && *p >= '1' && *p <= '9') {
        while (p < j->end && *p >= '0' && *p <= '9') p++;
    } else {
        return 0;
    }
    if (p < j->end && *p == '.') {
        p++;
        if (!(p < j->end && *p >= '0' && *p <= '9')) return 0;
        while (p < j->end && *p >= '0' && *p <= '9') p++;
    }
    if (p < j->end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < j->end && (*p == '+' || *p == '-')) p++;
        if (!(p < j->end && *p >= '0' && *p <= '9')) return 0;
        while (p < j->end && *p >= '0' && *p <= '9') p++;
    }
    j->p = p;
    return 1;
}

static int jlit(jp *j, const char *w)
{
    size_t n = strlen(w);
    if ((size_t)(j->end - j->p) < n || memcmp(j->p, w, n)) return 0;
    j->p += n;
    return 1;
}

static int jobject(jp *j, int depth)
{
    char keys[64][80];
    int nkeys = 0;
    j->p++;
    jws(j);
    if (j->p < j->end && *j->p == '}') {
        j->p++;
        return 1;
    }
    for (;;) {
        char k[80];
        jws(j);
        if (!jstring(j, k, sizeof k)) return 0;
        for (int i = 0; i < nkeys; i++)
            if (strcmp(keys[i], k) == 0) return 0;   /* duplicate key */
        if (nkeys < 64) strcpy(keys[nkeys++], k);
        jws(j);
        if (j->p >= j->end || *j->p != ':') return 0;
        j->p++;
        if (!jvalue(j, depth + 1)) return 0;
        jws(j);
        if (j->p < j->end && *j->p == ',') {
            j->p++;
            continue;
        }
        if (j->p < j->end && *j->p == '}') {
            j->p++;
            return 1;
        }
        return 0;
    }
}

static int jarray(jp *j, int depth)
{
    j->p++;
    jws(j);
    if (j->p < j->end && *j->p == ']') {
        j->p++;
        return 1;
    }
    for (;;) {
        if (!jvalue(j, depth + 1)) return 0;
        jws(j);
        if (j->p < j->end && *j->p == ',') {
            j->p++;
            continue;
        }
        if (j->p < j->end && *j->p == ']') {
            j->p++;
            return 1;
        }
        return 0;
    }
}

static int jvalue(jp *j, int depth)
{
    if (depth > 32) return 0;
    jws(j);
    if (j->p >= j->end) return 0;
    switch (*j->p) {
    case '{': return jobject(j, depth);
    case '[': return jarray(j, depth);
    case '"': return jstring(j, NULL, 0);
    case 't': return jlit(j, "true");
    case 'f': return jlit(j, "false");
    case 'n': return jlit(j, "null");
    default: return jnumber(j);
    }
}

/* One JSON Lines record: a valid object, valid UTF-8, one LF at the end. */
static int json_line_ok(const char *s, size_t n)
{
    jp j = {s, s + n};
    if (n < 3 || s[n - 1] != '\n' || memchr(s, '\n', n - 1)) return 0;
    if (!cpq_proto_utf8_valid(s, n) || *s != '{') return 0;
    j.end = s + n - 1;
    if (!jvalue(&j, 0)) return 0;
    return j.p == j.end;
}

Test(proto, json_validator_self_check)
{
#define JOK(lit) json_line_ok(lit, sizeof lit - 1)
    cr_assert(JOK("{\"a\":1,\"b\":[1,2,{\"c\":\"x\\n\"}],\"d\":-1.5e3,\"e\":null}\n"));
    cr_assert(!JOK("{\"a\":1,\"a\":2}\n"));   /* duplicate */
    cr_assert(JOK("{\"a\":{\"a\":2}}\n"));    /* not a duplicate */
    cr_assert(!JOK("{\"a\":01}\n"));
    cr_assert(!JOK("{\"a\":1,}\n"));
    cr_assert(!JOK("{\"a\":\"\x01\"}\n"));
    cr_assert(!JOK("{\"a\":1}"));
    cr_assert(!JOK("{\"a\":1}\n{}\n"));
    cr_assert(!JOK("{\"a\":\"\xff\"}\n"));
}

/* ------------------------------------------------------------------ */
/* Tables                                                              */
/* ------------------------------------------------------------------ */

Test(proto, code_names)
{
    cr_assert_str_eq(cpq_proto_code_name(CPQ_PROTO_OK), "OK");
    cr_assert_str_eq(cpq_proto_code_name(CPQ_PROTO_SYNTAX), "SYNTAX");
    cr_assert_str_eq(cpq_proto_code_name(CPQ_PROTO_TOOBIG), "TOOBIG");
    cr_assert_str_eq(cpq_proto_code_name(CPQ_PROTO_INTERNAL), "INTERNAL");
    cr_assert_null(cpq_proto_code_name(-1));
    cr_assert_null(cpq_proto_code_name(CPQ_PROTO_CODE_COUNT));
    for (int c = 0; c < CPQ_PROTO_CODE_COUNT; c++) {
        const char *n = cpq_proto_code_name(c);
        cr_assert_not_null(n);
        cr_assert_eq(cpq_proto_code_lookup(n, strlen(n)), c);
    }
    cr_assert_eq(cpq_proto_code_lookup("syntax", 6), -1);   /* exact, upper case */
    cr_assert_eq(cpq_proto_code_lookup("ARGS", 4), -1);
    cr_assert_eq(cpq_proto_code_lookup("AR", 2), -1);
    cr_assert_eq(cpq_proto_code_lookup("", 0), -1);
    /* pinned values */
    cr_assert_eq(CPQ_PROTO_ENCODING, 5);
    cr_assert_eq(CPQ_PROTO_INTERNAL, 16);
}

Test(proto, command_names)
{
    cr_assert_null(cpq_proto_cmd_name(CPQ_CMD_NONE));
    cr_assert_null(cpq_proto_cmd_name(CPQ_CMD_COUNT_));
    cr_assert_null(cpq_proto_cmd_name(-1));
    cr_assert_str_eq(cpq_proto_cmd_name(CPQ_CMD_SEARCH), "SEARCH");
    cr_assert_str_eq(cpq_proto_cmd_name(CPQ_CMD_QUIT), "QUIT");
    for (int c = 1; c < CPQ_CMD_COUNT_; c++) {
        const char *n = cpq_proto_cmd_name(c);
        cr_assert_eq(cpq_proto_cmd_lookup(n, strlen(n)), c);
    }
    cr_assert_eq(cpq_proto_cmd_lookup("search", 6), CPQ_CMD_SEARCH);
    cr_assert_eq(cpq_proto_cmd_lookup("SeArCh", 6), CPQ_CMD_SEARCH);
    cr_assert_eq(cpq_proto_cmd_lookup("SEARCHX", 7), -1);
    cr_assert_eq(cpq_proto_cmd_lookup("SEARC", 5), -1);
    cr_assert_eq(cpq_proto_cmd_lookup("", 0), -1);
    cr_assert_eq(cpq_proto_cmd_lookup("P1NG", 4), -1);
}

/* ------------------------------------------------------------------ */
/* Request lines                                                       */
/* ------------------------------------------------------------------ */

Test(proto, request_plain)
{
    cpq_proto_req r;
    req_ok("SEARCH fox", &r);
    cr_assert_eq(r.cmd, CPQ_CMD_SEARCH);
    assert_str(r.word, "SEARCH");
    assert_str(r.tag, "");
    cr_assert_eq(r.nopts, 0);
    assert_str(r.args, "fox");

    req_ok("ping", &r);
    cr_assert_eq(r.cmd, CPQ_CMD_PING);
    assert_str(r.word, "ping");
    assert_str(r.args, "");

    req_ok("  \tSeArCh\t  the  quick\tfox  \t", &r);
    cr_assert_eq(r.cmd, CPQ_CMD_SEARCH);
    assert_str(r.args, "the  quick\tfox");   /* verbatim inside */
}

Test(proto, request_tags)
{
    cpq_proto_req r;
    req_ok("@t1 PING", &r);
    assert_str(r.tag, "t1");
    cr_assert_eq(r.cmd, CPQ_CMD_PING);
    req_ok("@a.b_c:d-E9\t\tcount  x", &r);
    assert_str(r.tag, "a.b_c:d-E9");
    cr_assert_eq(r.cmd, CPQ_CMD_COUNT);
    assert_str(r.args, "x");

    char line[128];
    memset(line, 'x', sizeof line);
    line[0] = '@';
    memcpy(line + 65, " PING", 5);   /* 64 tag characters: the maximum */
    cr_assert_eq(parse_n(line, 70, &r), CPQ_PROTO_OK, "%s", msg);
    cr_assert_eq(r.tag.n, 64);
    memset(line, 'x', sizeof line);
    line[0] = '@';
    memcpy(line + 66, " PING", 5);
    req_err(line, 71, CPQ_PROTO_SYNTAX, "tag at column 1 is longer than 64 characters");
    cr_assert_eq(parse_n(line, 71, &r), CPQ_PROTO_SYNTAX);
    cr_assert_eq(r.tag.n, 0);   /* an invalid tag is not reported */

    req_err("@t! PING", 8, CPQ_PROTO_SYNTAX,
            "bad tag at column 3: tags are letters, digits and . _ : -");
    req_err("@ PING", 6, CPQ_PROTO_SYNTAX, "empty tag at column 1");
    req_err("  @", 3, CPQ_PROTO_SYNTAX, "empty tag at column 3");
    req_err("@t1", 3, CPQ_PROTO_SYNTAX, "missing command after the tag at column 4");
    cr_assert_eq(parse("@t1   ", &r), CPQ_PROTO_SYNTAX);
    assert_str(r.tag, "t1");   /* the error reply can carry it */
}

Test(proto, request_unknown_command_keeps_tag)
{
    cpq_proto_req r;
    cr_assert_eq(parse("@q7 FROB :x y", &r), CPQ_PROTO_UNKNOWN);
    cr_assert_eq(r.cmd, -1);
    assert_str(r.tag, "q7");
    assert_str(r.word, "FROB");
    cr_assert_str_eq(msg, "unknown command at column 5 (HELP lists the commands)");
    cr_assert_eq(parse("SEARCH2 x", &r), CPQ_PROTO_UNKNOWN);
    cr_assert_eq(parse("S\xc3\xa9 x", &r), CPQ_PROTO_UNKNOWN);
    cr_assert_eq(parse(":limit=1", &r), CPQ_PROTO_UNKNOWN);
}

Test(proto, request_empty_and_cr)
{
    cpq_proto_req r;
    cr_assert_eq(parse_n("", 0, &r), CPQ_PROTO_OK);
    cr_assert_eq(r.cmd, CPQ_CMD_NONE);
    req_ok(" \t  ", &r);
    cr_assert_eq(r.cmd, CPQ_CMD_NONE);
    req_ok("\r", &r);
    cr_assert_eq(r.cmd, CPQ_CMD_NONE);
    req_ok("PING\r", &r);
    cr_assert_eq(r.cmd, CPQ_CMD_PING);
    req_ok("SEARCH fox \r", &r);
    assert_str(r.args, "fox");
    /* only one CR, only at the end, is removed */
    req_ok("SEARCH a\rb\r\r", &r);
    assert_str(r.args, "a\rb\r");
}

Test(proto, request_options)
{
    cpq_proto_req r;
    req_ok("SEARCH :limit=5 :group :Open= :close=\\x20x -- :colon word", &r);
    cr_assert_eq(r.nopts, 4);
    assert_str(r.opts[0].name, "limit");
    assert_str(r.opts[0].value, "5");
    cr_assert(r.opts[0].has_value);
    assert_str(r.opts[1].name, "group");
    cr_assert(!r.opts[1].has_value);
    assert_str(r.opts[1].value, "");
    assert_str(r.opts[2].name, "Open");   /* as sent */
    cr_assert(r.opts[2].has_value);
    assert_str(r.opts[2].value, "");
    assert_str(r.opts[3].value, "\\x20x");   /* still escaped */
    assert_str(r.args, ":colon word");

    req_ok("SEARCH -- --", &r);
    cr_assert_eq(r.nopts, 0);
    assert_str(r.args, "--");
    req_ok("SEARCH --", &r);
    assert_str(r.args, "");
    req_ok("SEARCH :a=1 --\t", &r);
    cr_assert_eq(r.nopts, 1);
    assert_str(r.args, "");
    req_ok("SEARCH --x y", &r);   /* not the word "--" */
    assert_str(r.args, "--x y");
    req_ok("SEARCH -- -- x", &r);
    assert_str(r.args, "-- x");
    req_ok("SEARCH fox :limit=5", &r);   /* options only before the arguments */
    cr_assert_eq(r.nopts, 0);
    assert_str(r.args, "fox :limit=5");
    req_ok("SEARCH :open=a=b", &r);
    assert_str(r.opts[0].value, "a=b");
    req_ok("SEARCH\t:x_9\t\t:Y", &r);
    cr_assert_eq(r.nopts, 2);
    assert_str(r.opts[1].name, "Y");
}

Test(proto, request_option_errors)
{
    req_err("SEARCH : x", 10, CPQ_PROTO_SYNTAX,
            "bad option word at column 8: option names are letters, digits and '_'");
    req_err("SEARCH :=1 x", 12, CPQ_PROTO_SYNTAX, NULL);
    req_err("SEARCH :a-b x", 13, CPQ_PROTO_SYNTAX, NULL);
    req_err("SEARCH :ok :a:b x", 17, CPQ_PROTO_SYNTAX,
            "bad option word at column 12: option names are letters, digits and '_'");
    req_err("SEARCH :\xc3\xa9 x", 12, CPQ_PROTO_SYNTAX, NULL);
    char line[128];
    snprintf(line, sizeof line, "SEARCH :%s x", "abcdefghijklmnopqrstuvwxyz012345");  /* 32 */
    cpq_proto_req r;
    req_ok(line, &r);
    snprintf(line, sizeof line, "SEARCH :%s x", "abcdefghijklmnopqrstuvwxyz0123456");
    req_err(line, strlen(line), CPQ_PROTO_SYNTAX,
            "option name at column 8 is longer than 32 characters");
}

Test(proto, request_too_many_options)
{
    char line[1024];
    size_t n = (size_t)snprintf(line, sizeof line, "SEARCH");
    cpq_proto_req r;
    for (int i = 0; i < 32; i++) n += (size_t)snprintf(line + n, sizeof line - n, " :o%d", i);
    snprintf(line + n, sizeof line - n, " x");
    req_ok(line, &r);
    cr_assert_eq(r.nopts, 32);
    assert_str(r.opts[31].name, "o31");
    size_t col = n + 2;
    snprintf(line + n, sizeof line - n, " :o32 x");
    char want[64];
    snprintf(want, sizeof want, "more than 32 options at column %zu", col);
    req_err(line, strlen(line), CPQ_PROTO_SYNTAX, want);
}

Test(proto, request_encoding)
{
    req_err("SEARCH a\0b", 10, CPQ_PROTO_ENCODING, "NUL byte at column 9");
    req_err("\0", 1, CPQ_PROTO_ENCODING, "NUL byte at column 1");
    req_err("SEARCH \xff", 8, CPQ_PROTO_ENCODING, "invalid UTF-8 at column 8");
    req_err("SEARCH caf\xc3", 11, CPQ_PROTO_ENCODING, "invalid UTF-8 at column 11");
    req_err("SEARCH \xc0\xaf", 9, CPQ_PROTO_ENCODING, NULL);         /* overlong */
    req_err("SEARCH \xed\xa0\x80", 10, CPQ_PROTO_ENCODING, NULL);     /* surrogate */
    req_err("SEARCH \xf4\x90\x80\x80", 11, CPQ_PROTO_ENCODING, NULL); /* > U+10FFFF */
    /* encoding is checked before the tag */
    req_err("@bad! \xff", 7, CPQ_PROTO_ENCODING, NULL);
    cpq_proto_req r;
    req_ok("SEARCH caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", &r);
    assert_str(r.args, "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
}

Test(proto, request_too_long)
{
    size_t n = CPQ_PROTO_LINE_MAX;
    char *line = malloc(n + 1);
    cpq_proto_req r;
    memcpy(line, "SEARCH ", 7);
    memset(line + 7, 'a', n - 7);
    cr_assert_eq(parse_n(line, n - 1, &r), CPQ_PROTO_OK, "%s", msg);   /* 65535 + LF */
    cr_assert_eq(r.args.n, n - 8);
    req_err(line, n, CPQ_PROTO_TOOLONG, "request line longer than 65535 bytes");
    free(line);
}

Test(proto, request_msg_may_be_null)
{
    cpq_proto_req r;
    cr_assert_eq(cpq_proto_parse_request("FROB", 4, &r, NULL, 0), CPQ_PROTO_UNKNOWN);
    char small[8];
    cr_assert_eq(cpq_proto_parse_request("@! x", 4, &r, small, sizeof small), CPQ_PROTO_SYNTAX);
    cr_assert_eq(strlen(small), 7);   /* cut, still terminated */
}

/* ------------------------------------------------------------------ */
/* Search options                                                      */
/* ------------------------------------------------------------------ */

Test(proto, search_defaults)
{
    cpq_proto_search s;
    cpq_proto_search_default(&s);
    cr_assert_eq(s.limit, 10);
    cr_assert_eq(s.offset, 0);
    cr_assert_eq(s.snippet, 200);
    cr_assert_str_eq(s.open, "[");
    cr_assert_str_eq(s.close, "]");
    cr_assert_str_eq(s.ellipsis, "...");
    cr_assert(!s.group && !s.all && !s.exact && !s.has_k1 && !s.has_b && !s.has_num);
    cr_assert_eq(s.budget_ms, 0);
    sopt_ok("SEARCH fox", &s);
    cr_assert_eq(s.limit, 10);
}

Test(proto, search_every_option)
{
    cpq_proto_search s;
    sopt_ok("SEARCH :limit=7 :offset=20 :snippet=64 :open=<b> :close=</b> :ellipsis=\\xe2\\x80\\xa6 "
            ":group :all=1 :exact=1 :k1=1.25 :b=0.5 :budget=250 fox",
            &s);
    cr_assert_eq(s.limit, 7);
    cr_assert_eq(s.offset, 20);
    cr_assert_eq(s.snippet, 64);
    cr_assert_str_eq(s.open, "<b>");
    cr_assert_str_eq(s.close, "</b>");
    cr_assert_str_eq(s.ellipsis, "\xe2\x80\xa6");
    cr_assert(s.group == 1 && s.all == 1 && s.exact == 1);
    cr_assert(s.has_k1 && s.k1 == 1.25);
    cr_assert(s.has_b && s.b == 0.5);
    cr_assert_eq(s.budget_ms, 250);
    cr_assert(!s.has_num);

    sopt_ok("SEARCH :LIMIT=3 :Group=0 :exact=0 x", &s);   /* names case-insensitive */
    cr_assert_eq(s.limit, 3);
    cr_assert(!s.group && !s.exact);

    sopt_ok("DOC :num=4294967295", &s);
    cr_assert(s.has_num && s.num == 4294967295u);
    sopt_ok("COUNT :group :all :budget=60000 x", &s);
    cr_assert(s.group && s.all && s.budget_ms == 60000);
    sopt_ok("EXPLAIN :k1=0 :b=1 :all 3 x", &s);
    cr_assert(s.has_k1 && s.k1 == 0 && s.b == 1 && s.all);
}

Test(proto, search_markers_escaped)
{
    cpq_proto_search s;
    sopt_ok("SEARCH :open=\\x20<b> :close=\\t\\\\\\n :ellipsis= x", &s);
    cr_assert_str_eq(s.open, " <b>");
    cr_assert_str_eq(s.close, "\t\\\n");
    cr_assert_str_eq(s.ellipsis, "");
    sopt_err("SEARCH :open=\\XAB x", "bad escape in the value of :open");   /* \X is not one */
}

Test(proto, search_marker_limits)
{
    cpq_proto_search s;
    sopt_ok("SEARCH :open=" "0123456789012345678901234567890\\x41 x", &s);   /* 32 bytes */
    cr_assert_eq(strlen(s.open), 32);
    cr_assert_eq(s.open[31], 'A');
    sopt_err("SEARCH :open=012345678901234567890123456789012 x", ":open is longer than 32 bytes");
    sopt_err("SEARCH :close=\\x00 x", ":close contains a NUL byte");
    sopt_err("SEARCH :ellipsis=\\q x", "bad escape in the value of :ellipsis");
    sopt_err("SEARCH :open=\\x4 x", "bad escape in the value of :open");
    sopt_err("SEARCH :open=a\\ x", "bad escape in the value of :open");
}

Test(proto, search_ranges)
{
    cpq_proto_search s;
    sopt_ok("SEARCH :limit=0 x", &s);
    cr_assert_eq(s.limit, 0);
    sopt_ok("SEARCH :limit=1000 x", &s);
    sopt_err("SEARCH :limit=1001 x", ":limit must be a number from 0 to 1000");
    sopt_err("SEARCH :limit=-1 x", NULL);
    sopt_err("SEARCH :limit=+1 x", NULL);
    sopt_err("SEARCH :limit= x", NULL);
    sopt_err("SEARCH :limit=1x x", NULL);
    sopt_err("SEARCH :limit=99999999999999999999999 x", NULL);
    sopt_ok("SEARCH :limit", &s);   /* no value means 1 */
    cr_assert_eq(s.limit, 1);
    sopt_ok("SEARCH :offset=9990 :limit=10 x", &s);
    sopt_err("SEARCH :offset=9991 :limit=10 x", ":offset + :limit must not exceed 10000");
    sopt_err("SEARCH :offset=9991 x", ":offset + :limit must not exceed 10000");   /* default limit */
    sopt_err("SEARCH :offset=10001 :limit=0 x", ":offset must be a number from 0 to 10000");
    sopt_ok("SEARCH :snippet=0 x", &s);
    cr_assert_eq(s.snippet, 0);
    sopt_ok("SEARCH :snippet=16 x", &s);
    sopt_ok("SEARCH :snippet=65536 x", &s);
    sopt_err("SEARCH :snippet=15 x", ":snippet must be 0 or from 16 to 65536");
    sopt_err("SEARCH :snippet=65537 x", NULL);
    sopt_err("SEARCH :budget=0 x", ":budget must be a number from 1 to 60000");
    sopt_err("SEARCH :budget=60001 x", NULL);
    sopt_ok("SEARCH :budget=1 x", &s);
    sopt_err("DOC :num=4294967296", NULL);
    sopt_ok("SEARCH :k1=10 :b=0 x", &s);
    sopt_err("SEARCH :k1=10.001 x", ":k1 must be a number from 0 to 10");
    sopt_err("SEARCH :k1=-0.1 x", NULL);
    sopt_err("SEARCH :b=1.5 x", ":b must be a number from 0 to 1");
    sopt_err("SEARCH :b=nan x", NULL);
    sopt_err("SEARCH :k1=inf x", NULL);
    sopt_err("SEARCH :k1=1e999 x", NULL);
    sopt_err("SEARCH :k1= x", NULL);
    sopt_err("SEARCH :k1=\\x201 x", NULL);   /* leading space */
    sopt_err("SEARCH :k1=1abc x", NULL);
    sopt_ok("SEARCH :k1=5e-1 x", &s);
    cr_assert(s.k1 == 0.5);
}

Test(proto, search_flags)
{
    cpq_proto_search s;
    sopt_ok("SEARCH :group x", &s);
    cr_assert_eq(s.group, 1);
    sopt_ok("SEARCH :all=0 x", &s);
    cr_assert_eq(s.all, 0);
    sopt_err("SEARCH :exact=2 x", ":exact is a flag: no value, =0 or =1");
    sopt_err("SEARCH :exact= x", NULL);
    sopt_err("SEARCH :exact=true x", NULL);
    sopt_err("SEARCH :exact=01 x", NULL);
}

Test(proto, search_unknown_repeated_not_taken)
{
    sopt_err("SEARCH :nope x", "unknown option :nope");
    sopt_err("SEARCH :limit=1 :LIMIT=2 x", "option :limit given twice");
    sopt_err("SEARCH :group :group=0 x", "option :group given twice");
    sopt_err("SEARCH :num=1 x", "SEARCH does not take :num");
    sopt_err("COUNT :limit=1 x", "COUNT does not take :limit");
    sopt_err("COUNT :k1=1 x", NULL);
    sopt_err("COUNT :snippet=0 x", NULL);
    sopt_err("EXPLAIN :group 1 x", "EXPLAIN does not take :group");
    sopt_err("EXPLAIN :budget=5 1 x", NULL);
    sopt_err("DOC :limit=1 x", "DOC does not take :limit");
    sopt_err("PING :x", "unknown option :x");
    sopt_err("PING :limit=1", "PING does not take :limit");
    sopt_err("GET :num=1 1", "GET does not take :num");
    sopt_err("AUTH :secret", NULL);
    cpq_proto_search s;
    sopt_ok("AUTH -- :secret", &s);   /* the way to send such a password */
    sopt_ok("STATS", &s);
}

/* ------------------------------------------------------------------ */
/* Formatting requests                                                 */
/* ------------------------------------------------------------------ */

static char fbuf[CPQ_PROTO_LINE_MAX + 64];

static const char *fmt(const char *tag, int cmd, const cpq_proto_search *s, const char *arg)
{
    long n = cpq_proto_format_req(fbuf, sizeof fbuf, tag, cmd, s, arg, arg ? strlen(arg) : 0);
    cr_assert_geq(n, 0, "format failed");
    cr_assert_eq((size_t)n, strlen(fbuf));
    return fbuf;
}

Test(proto, format_basic)
{
    cpq_proto_search s;
    cpq_proto_search_default(&s);
    cr_assert_str_eq(fmt(NULL, CPQ_CMD_PING, NULL, NULL), "PING\n");
    cr_assert_str_eq(fmt("", CPQ_CMD_PING, NULL, ""), "PING\n");
    cr_assert_str_eq(fmt("t1", CPQ_CMD_SEARCH, &s, "fox"), "@t1 SEARCH fox\n");
    cr_assert_str_eq(fmt(NULL, CPQ_CMD_SEARCH, &s, "  fox  "), "SEARCH fox\n");
    cr_assert_str_eq(fmt(NULL, CPQ_CMD_SEARCH, NULL, ":colon"), "SEARCH -- :colon\n");
    cr_assert_str_eq(fmt(NULL, CPQ_CMD_SEARCH, NULL, "--"), "SEARCH -- --\n");
    cr_assert_str_eq(fmt(NULL, CPQ_CMD_SEARCH, NULL, "-- x"), "SEARCH -- -- x\n");
    cr_assert_str_eq(fmt(NULL, CPQ_CMD_SEARCH, NULL, "--x"), "SEARCH --x\n");
    cr_assert_str_eq(fmt(NULL, CPQ_CMD_AUTH, NULL, ":pw"), "AUTH -- :pw\n");

    s.limit = 5;
    s.group = 1;
    s.all = 1;
    s.budget_ms = 100;
    cr_assert_str_eq(fmt(NULL, CPQ_CMD_SEARCH, &s, "fox"),
                     "SEARCH :limit=5 :group :all :budget=100 -- fox\n");
    cr_assert_str_eq(fmt(NULL, CPQ_CMD_COUNT, &s, "fox"), "COUNT :group :all :budget=100 -- fox\n");
    cr_assert_str_eq(fmt(NULL, CPQ_CMD_EXPLAIN, &s, "3 fox"), "EXPLAIN :all -- 3 fox\n");
    cr_assert_str_eq(fmt(NULL, CPQ_CMD_PING, &s, NULL), "PING\n");   /* takes none */
    cr_assert_str_eq(fmt(NULL, CPQ_CMD_SEARCH, &s, NULL), "SEARCH :limit=5 :group :all :budget=100\n");

    cpq_proto_search_default(&s);
    snprintf(s.open, sizeof s.open, " <b>");
    snprintf(s.close, sizeof s.close, "\\");
    s.ellipsis[0] = '\0';
    s.k1 = 1.2;
    s.has_k1 = 1;
    s.has_num = 1;   /* not SEARCH's */
    cr_assert_str_eq(fmt(NULL, CPQ_CMD_SEARCH, &s, "x"),
                     "SEARCH :open=\\x20<b> :close=\\\\ :ellipsis= :k1=1.2 -- x\n");
    s.num = 42;
    cr_assert_str_eq(fmt(NULL, CPQ_CMD_DOC, &s, NULL), "DOC :num=42\n");
}

Test(proto, format_rejects)
{
    char buf[64];
    cr_assert_eq(cpq_proto_format_req(buf, sizeof buf, NULL, CPQ_CMD_NONE, NULL, "x", 1), -1);
    cr_assert_eq(cpq_proto_format_req(buf, sizeof buf, NULL, CPQ_CMD_COUNT_, NULL, "x", 1), -1);
    cr_assert_eq(cpq_proto_format_req(buf, sizeof buf, "a b", CPQ_CMD_PING, NULL, NULL, 0), -1);
    cr_assert_eq(cpq_proto_format_req(buf, sizeof buf, "t!", CPQ_CMD_PING, NULL, NULL, 0), -1);
    char tag[80];
    memset(tag, 'a', 65);
    tag[65] = '\0';
    cr_assert_eq(cpq_proto_format_req(buf, sizeof buf, tag, CPQ_CMD_PING, NULL, NULL, 0), -1);
    tag[64] = '\0';
    cr_assert_eq(cpq_proto_format_req(buf, sizeof buf, tag, CPQ_CMD_PING, NULL, NULL, 0), 71);
    cr_assert_eq(cpq_proto_format_req(buf, sizeof buf, NULL, CPQ_CMD_SEARCH, NULL, "a\nb", 3), -1);
    cr_assert_eq(cpq_proto_format_req(buf, sizeof buf, NULL, CPQ_CMD_SEARCH, NULL, "a\rb", 3), -1);
    cr_assert_eq(cpq_proto_format_req(buf, sizeof buf, NULL, CPQ_CMD_SEARCH, NULL, "a\0b", 3), -1);
    cr_assert_eq(cpq_proto_format_req(buf, sizeof buf, NULL, CPQ_CMD_SEARCH, NULL, "a\xff", 2), -1);
    cr_assert_eq(cpq_proto_format_req(buf, sizeof buf, NULL, CPQ_CMD_SEARCH, NULL, NULL, 3), -1);
}

Test(proto, format_snprintf_like_and_length_limit)
{
    char buf[8];
    long n = cpq_proto_format_req(buf, sizeof buf, "t1", CPQ_CMD_SEARCH, NULL, "fox", 3);
    cr_assert_eq(n, 15);   /* "@t1 SEARCH fox\n" */
    cr_assert_str_eq(buf, "@t1 SEA");
    cr_assert_eq(cpq_proto_format_req(NULL, 0, NULL, CPQ_CMD_PING, NULL, NULL, 0), 5);

    /* "SEARCH " + arg + LF: at most CPQ_PROTO_LINE_MAX bytes in all */
    size_t an = CPQ_PROTO_LINE_MAX - 8;
    char *arg = malloc(an + 1);
    memset(arg, 'q', an + 1);
    n = cpq_proto_format_req(fbuf, sizeof fbuf, NULL, CPQ_CMD_SEARCH, NULL, arg, an);
    cr_assert_eq(n, (long)CPQ_PROTO_LINE_MAX);
    cpq_proto_req r;
    cr_assert_eq(parse_n(fbuf, (size_t)n - 1, &r), CPQ_PROTO_OK);   /* and it parses */
    cr_assert_eq(cpq_proto_format_req(fbuf, sizeof fbuf, NULL, CPQ_CMD_SEARCH, NULL, arg, an + 1),
                 -1);
    free(arg);
}

/* format -> parse -> search_parse gives back the request. */
static void roundtrip(const char *tag, int cmd, const cpq_proto_search *s, const char *arg,
                      size_t arglen)
{
    long n = cpq_proto_format_req(fbuf, sizeof fbuf, tag, cmd, s, arg, arglen);
    cpq_proto_req r;
    cpq_proto_search t;
    cr_assert_gt(n, 0);
    cr_assert_eq(fbuf[n - 1], '\n');
    cr_assert_eq(parse_n(fbuf, (size_t)n - 1, &r), CPQ_PROTO_OK, "%s: %s", fbuf, msg);
    cr_assert_eq(r.cmd, cmd);
    assert_str(r.tag, tag ? tag : "");
    cr_assert_eq(r.args.n, arglen, "%s", fbuf);
    cr_assert(arglen == 0 || memcmp(r.args.p, arg, arglen) == 0, "%s", fbuf);
    cpq_proto_search_default(&t);
    cr_assert_eq(cpq_proto_search_parse(&r, &t, msg, sizeof msg), CPQ_PROTO_OK, "%s: %s", fbuf, msg);
    if (!s) return;
    cr_assert_eq(t.limit, s->limit);
    cr_assert_eq(t.offset, s->offset);
    cr_assert_eq(t.snippet, s->snippet);
    cr_assert_str_eq(t.open, s->open);
    cr_assert_str_eq(t.close, s->close);
    cr_assert_str_eq(t.ellipsis, s->ellipsis);
    cr_assert_eq(t.group, s->group);
    cr_assert_eq(t.all, s->all);
    cr_assert_eq(t.exact, s->exact);
    cr_assert_eq(t.has_k1, s->has_k1);
    cr_assert(!s->has_k1 || t.k1 == s->k1);
    cr_assert_eq(t.has_b, s->has_b);
    cr_assert(!s->has_b || t.b == s->b);
    cr_assert_eq(t.budget_ms, s->budget_ms);
}

Test(proto, format_roundtrip)
{
    cpq_proto_search s;
    const char *args[] = {"fox", ":colon", "--", "-- x", ":a :b -- c", "caf\xc3\xa9 \"x y\"",
                          "a\tb  c", "@notatag", "\\x20"};
    cpq_proto_search_default(&s);
    for (size_t i = 0; i < sizeof args / sizeof args[0]; i++) {
        roundtrip(NULL, CPQ_CMD_SEARCH, &s, args[i], strlen(args[i]));
        roundtrip("t.9", CPQ_CMD_COUNT, NULL, args[i], strlen(args[i]));
    }
    s.limit = 0;
    s.offset = 10000;
    s.snippet = 0;
    snprintf(s.open, sizeof s.open, "\x01\xff \\x");   /* control, invalid UTF-8, space, backslash */
    snprintf(s.close, sizeof s.close, "%s", "0123456789abcdef0123456789abcdef");
    s.ellipsis[0] = '\0';
    s.group = s.all = s.exact = 1;
    s.k1 = 0.1 + 0.2;   /* not exactly representable in %.6g */
    s.has_k1 = 1;
    s.b = 1.0 / 3;
    s.has_b = 1;
    s.budget_ms = 60000;
    roundtrip("x", CPQ_CMD_SEARCH, &s, ":q", 2);
    roundtrip(NULL, CPQ_CMD_SEARCH, &s, "", 0);
    roundtrip(NULL, CPQ_CMD_SEARCH, &s, "--", 2);
}

/* ------------------------------------------------------------------ */
/* Escaping                                                            */
/* ------------------------------------------------------------------ */

static char ebuf[4096];

static const char *esc(const char *s, size_t n, unsigned flags)
{
    size_t r = cpq_proto_escape(ebuf, sizeof ebuf, s, n, flags);
    cr_assert_lt(r, sizeof ebuf);
    cr_assert_eq(strlen(ebuf), r);
    return ebuf;
}

Test(proto, escape_examples)
{
    const char in[] = "a b\\c\nd\re\tf\x01\x7f\xff caf\xc3\xa9 \xe2\x82";
    size_t n = sizeof in - 1;
    cr_assert_str_eq(esc(in, n, 0),
                     "a b\\\\c\\nd\\re\\tf\\x01\\x7f\\xff caf\xc3\xa9 \\xe2\\x82");
    cr_assert_str_eq(esc(in, n, CPQ_PROTO_ESC_TOKEN),
                     "a\\x20b\\\\c\\nd\\re\\tf\\x01\\x7f\\xff\\x20caf\xc3\xa9\\x20\\xe2\\x82");
    cr_assert_str_eq(esc("", 0, 0), "");
    cr_assert_str_eq(esc("\0", 1, 0), "\\x00");
    cr_assert_str_eq(esc("\xed\xa0\x80", 3, 0), "\\xed\\xa0\\x80");   /* surrogate */
    cr_assert_str_eq(esc("\xf0\x9f\x98\x80", 4, 0), "\xf0\x9f\x98\x80");
    /* snprintf-like */
    char small[5];
    cr_assert_eq(cpq_proto_escape(small, sizeof small, "\n\n\n", 3, 0), 6);
    cr_assert_str_eq(small, "\\n\\n");
    cr_assert_eq(cpq_proto_escape(NULL, 0, "ab", 2, 0), 2);
}

/* Long plain runs (escaped eight bytes at a time) with one byte of every
 * value at every offset of the run: the result is the plain text with
 * that byte escaped exactly as on its own. */
Test(proto, escape_long_runs)
{
    char in[80], want[400], one[8];
    for (unsigned flags = 0; flags <= CPQ_PROTO_ESC_TOKEN; flags++)
        for (unsigned v = 0; v < 256; v++)
            for (size_t at = 0; at < 70; at++) {
                memset(in, 'q', sizeof in);
                in[at] = (char)v;
                size_t k = cpq_proto_escape(one, sizeof one, in + at, 1, flags);
                size_t w = 0;
                memcpy(want, in, at);
                w = at;
                memcpy(want + w, one, k);
                w += k;
                memcpy(want + w, in + at + 1, sizeof in - at - 1);
                w += sizeof in - at - 1;
                want[w] = '\0';
                cr_assert_str_eq(esc(in, sizeof in, flags), want, "byte 0x%02x at %zu, flags %u", v, at, flags);
            }
}

static long unesc(const char *s, char *out, size_t cap)
{
    return cpq_proto_unescape(out, cap, hold(s, strlen(s)), strlen(s));
}

Test(proto, unescape_examples)
{
    char out[64];
    cr_assert_eq(unesc("a\\x20b\\\\\\n\\r\\t\\x41\\xfF", out, sizeof out), 9);
    cr_assert_eq(memcmp(out, "a b\\\n\r\tA\xff", 9), 0);
    cr_assert_eq(unesc("", out, sizeof out), 0);
    cr_assert_eq(unesc("\\", out, sizeof out), -1);
    cr_assert_eq(unesc("\\q", out, sizeof out), -1);
    cr_assert_eq(unesc("\\0", out, sizeof out), -1);
    cr_assert_eq(unesc("\\u0041", out, sizeof out), -1);
    cr_assert_eq(unesc("\\x4", out, sizeof out), -1);
    cr_assert_eq(unesc("\\xg0", out, sizeof out), -1);
    cr_assert_eq(unesc("\\X41", out, sizeof out), -1);
    cr_assert_eq(unesc("abc", out, 2), -1);   /* does not fit */
    cr_assert_eq(unesc("abc", out, 3), 3);
    cr_assert_eq(unesc("\\x41", out, 1), 1);
    char inplace[] = "x\\x20y\\\\";
    cr_assert_eq(cpq_proto_unescape(inplace, sizeof inplace, inplace, strlen(inplace)), 4);
    cr_assert_eq(memcmp(inplace, "x y\\", 4), 0);
}

static uint64_t rng = 0x9e3779b97f4a7c15u;

static uint32_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 16);
}

Test(proto, escape_roundtrip_random)
{
    static const unsigned char pick[] = {' ', '\\', '\n', '\r', '\t', 0, 0x7f, 0x1b, 'x', 'n',
                                         0xc3, 0xa9, 0xe2, 0x82, 0xac, 0xf0, 0x9f, 0x80, 0xff, 0xed};
    char in[96], out[96], e[96 * 4 + 1];
    for (int iter = 0; iter < 20000; iter++) {
        size_t n = rnd() % sizeof in;
        for (size_t i = 0; i < n; i++)
            in[i] = (char)(rnd() % 3 ? pick[rnd() % sizeof pick] : (unsigned char)rnd());
        for (unsigned flags = 0; flags <= CPQ_PROTO_ESC_TOKEN; flags++) {
            size_t en = cpq_proto_escape(e, sizeof e, in, n, flags);
            cr_assert_lt(en, sizeof e);
            cr_assert(cpq_proto_utf8_valid(e, en));
            for (size_t i = 0; i < en; i++) {
                unsigned char c = (unsigned char)e[i];
                cr_assert(c >= 0x20 && c != 0x7f, "control byte in escape output");
                cr_assert(!(flags & CPQ_PROTO_ESC_TOKEN) || c != ' ', "SP in a token");
            }
            cr_assert_eq(cpq_proto_unescape(out, sizeof out, e, en), (long)n);
            cr_assert(n == 0 || memcmp(out, in, n) == 0);
            /* valid UTF-8 text without controls/backslash passes unchanged */
            if (cpq_proto_utf8_valid(in, n) && !memchr(in, '\\', n)) {
                int plain = 1;
                for (size_t i = 0; i < n; i++) {
                    unsigned char c = (unsigned char)in[i];
                    if (c < 0x20 || c == 0x7f || (c == ' ' && flags)) plain = 0;
                }
                if (plain) cr_assert(en == n && memcmp(e, in, n) == 0);
            }
        }
    }
}

Test(proto, utf8_valid)
{
    cr_assert(cpq_proto_utf8_valid("", 0));
    cr_assert(cpq_proto_utf8_valid("abc\x7f", 4));
    cr_assert(cpq_proto_utf8_valid("\xc2\x80\xdf\xbf", 4));
    cr_assert(cpq_proto_utf8_valid("\xe0\xa0\x80\xef\xbf\xbf", 6));
    cr_assert(cpq_proto_utf8_valid("\xf0\x90\x80\x80\xf4\x8f\xbf\xbf", 8));
    cr_assert(!cpq_proto_utf8_valid("\xc1\xbf", 2));   /* overlong */
    cr_assert(!cpq_proto_utf8_valid("\xe0\x9f\xbf", 3));   /* overlong */
    cr_assert(!cpq_proto_utf8_valid("\xf0\x8f\xbf\xbf", 4));   /* overlong */
    cr_assert(!cpq_proto_utf8_valid("\xed\xa0\x80", 3));   /* surrogate */
    cr_assert(!cpq_proto_utf8_valid("\xf4\x90\x80\x80", 4));   /* > U+10FFFF */
    cr_assert(!cpq_proto_utf8_valid("\xf5\x80\x80\x80", 4));
    cr_assert(!cpq_proto_utf8_valid("\x80", 1));
    cr_assert(!cpq_proto_utf8_valid("\xc3", 1));   /* truncated */
    cr_assert(!cpq_proto_utf8_valid("\xe2\x82", 2));
    cr_assert(!cpq_proto_utf8_valid("\xe2\x82\x41", 3));
    cr_assert(cpq_proto_utf8_valid("a\0b", 3));   /* NUL is valid UTF-8 */
}

/* ------------------------------------------------------------------ */
/* cpq_pbuf                                                            */
/* ------------------------------------------------------------------ */

Test(proto, pbuf_max_and_sticky)
{
    cpq_pbuf b;
    cpq_pbuf_init(&b, 10);
    cpq_pbuf_add(&b, "hello", 5);
    cpq_pbuf_addf(&b, "%d", 1234);
    cr_assert_eq(b.len, 9);
    cr_assert_str_eq(b.p, "hello1234");
    cpq_pbuf_add(&b, "ab", 2);   /* 11 > 10: nothing is added */
    cr_assert_eq(cpq_pbuf_error(&b), CPQ_PROTO_TOOBIG);
    cr_assert_eq(b.len, 9);
    cpq_pbuf_add(&b, "a", 1);   /* would fit, but the error is sticky */
    cpq_pbuf_addf(&b, "x");
    cpq_pbuf_escape(&b, "y", 1, 0);
    cpq_pbuf_json_str(&b, "", 0);
    cr_assert_eq(b.len, 9);
    cr_assert_eq(cpq_pbuf_error(&b), CPQ_PROTO_TOOBIG);
    cpq_pbuf_reset(&b);
    cr_assert_eq(b.len, 0);
    cr_assert_eq(cpq_pbuf_error(&b), 0);
    cpq_pbuf_add(&b, "0123456789", 10);   /* exactly max */
    cr_assert_eq(cpq_pbuf_error(&b), 0);
    cr_assert_eq(b.len, 10);
    cr_assert_eq(b.p[10], '\0');
    cpq_pbuf_free(&b);
    cpq_pbuf_free(&b);   /* twice is fine */
    cpq_pbuf_free(NULL);

    cpq_pbuf_init(&b, 0);
    cpq_pbuf_add(&b, "", 0);
    cr_assert_eq(cpq_pbuf_error(&b), 0);
    cpq_pbuf_add(&b, "a", 1);
    cr_assert_eq(cpq_pbuf_error(&b), CPQ_PROTO_TOOBIG);
    cpq_pbuf_free(&b);
}

Test(proto, pbuf_grows_and_formats_long)
{
    cpq_pbuf b;
    char big[3000];
    memset(big, 'z', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    cpq_pbuf_init(&b, 1 << 20);
    cpq_pbuf_addf(&b, "<%s>", big);
    cr_assert_eq(b.len, sizeof big + 1);
    cr_assert_eq(b.p[0], '<');
    cr_assert_eq(b.p[b.len - 1], '>');
    for (int i = 0; i < 1000; i++) cpq_pbuf_add(&b, "0123456789", 10);
    cr_assert_eq(b.len, sizeof big + 1 + 10000);
    cr_assert_eq(cpq_pbuf_error(&b), 0);
    cpq_pbuf_free(&b);

    cpq_pbuf_init(&b, 100);
    cpq_pbuf_addf(&b, "%s", big);   /* long format over max */
    cr_assert_eq(cpq_pbuf_error(&b), CPQ_PROTO_TOOBIG);
    cr_assert_eq(b.len, 0);
    cpq_pbuf_free(&b);
}

Test(proto, pbuf_escape_and_json)
{
    cpq_pbuf b;
    cpq_pbuf_init(&b, 1 << 16);
    cpq_pbuf_escape(&b, "a b\n", 4, CPQ_PROTO_ESC_TOKEN);
    cr_assert_str_eq(b.p, "a\\x20b\\n");
    cpq_pbuf_reset(&b);
    cpq_pbuf_json_str(&b, "q\"b\\s/\n\r\t\x01\x1f\x7f \xc3\xa9\xff\xc3x\xed\xa0\x80", 21);
    cr_assert_str_eq(b.p, "\"q\\\"b\\\\s/\\n\\r\\t\\u0001\\u001f\\u007f \xc3\xa9"
                          "\xef\xbf\xbd\xef\xbf\xbdx\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"");
    cpq_pbuf_reset(&b);
    cpq_pbuf_json_str(&b, NULL, 0);
    cr_assert_str_eq(b.p, "\"\"");
    cpq_pbuf_free(&b);
}

/* ------------------------------------------------------------------ */
/* Reply writer                                                        */
/* ------------------------------------------------------------------ */

static void search_reply(int json, const char *tag)
{
    cpq_rw w;
    cpq_proto_str t = {tag, tag ? strlen(tag) : 0};
    uint32_t hl[] = {16, 19, 30, 35};

    cpq_rw_begin(&w, &wb, json, &t);
    cpq_rw_record(&w, "hit");
    cpq_rw_u64(&w, "rank", 1);
    cpq_rw_u64(&w, "passage", 3);
    cpq_rw_str(&w, "doc", "d1", 2);
    cpq_rw_u64(&w, "docnum", 0);
    cpq_rw_u64(&w, "ord", 0);
    cpq_rw_u64(&w, "start", 0);
    cpq_rw_u64(&w, "end", 120);
    cpq_rw_dbl(&w, "score", 2.3);
    cpq_rw_range(&w, "win", 0, 120);
    cpq_rw_spans(&w, "hl", hl, 2);
    cpq_rw_line(&w, "snippet", "the quick brown [fox] ...", 25);
    cpq_rw_record(&w, "hit");
    cpq_rw_u64(&w, "rank", 2);
    cpq_rw_u64(&w, "passage", 9);
    cpq_rw_str(&w, "doc", "d 2\\", 4);
    cpq_rw_dbl(&w, "score", 1.0 / 3);
    cpq_rw_range(&w, "win", 5, 9);
    cpq_rw_spans(&w, "hl", NULL, 0);
    cpq_rw_line(&w, "snippet", "line\none", 8);
    cpq_rw_ok(&w);
    cpq_rw_u64(&w, "hits", 2);
    cpq_rw_u64(&w, "total", 2);
    cpq_rw_flag(&w, "exact", 1);
    cpq_rw_flag(&w, "partial", 0);
    cpq_rw_flag(&w, "capped", 0);
    cpq_rw_u64(&w, "gen", 1);
    cpq_rw_u64(&w, "us", 41);
    cpq_rw_end(&w);
}

static void wb_init(void)
{
    cpq_pbuf_init(&wb, 1 << 20);
}

static void wb_fini(void)
{
    cpq_pbuf_free(&wb);
    fini();
}

TestSuite(rw, .init = wb_init, .fini = wb_fini);

Test(rw, search_text)
{
    search_reply(0, "t1");
    cr_assert_str_eq(wb.p,
        "hit rank=1 passage=3 doc=d1 docnum=0 ord=0 start=0 end=120 score=2.3 win=0-120 "
        "hl=16-19,30-35\n"
        "snippet the quick brown [fox] ...\n"
        "hit rank=2 passage=9 doc=d\\x202\\\\ score=0.333333 win=5-9 hl=\n"
        "snippet line\\none\n"
        "@t1 OK hits=2 total=2 exact=1 partial=0 capped=0 gen=1 us=41\n");
    cr_assert_eq(cpq_pbuf_error(&wb), 0);
}

Test(rw, search_json)
{
    search_reply(1, "t1");
    cr_assert_str_eq(wb.p,
        "{\"tag\":\"t1\",\"ok\":true,\"hits\":["
        "{\"rank\":1,\"passage\":3,\"doc\":\"d1\",\"docnum\":0,\"ord\":0,\"start\":0,\"end\":120,"
        "\"score\":2.3,\"win\":[0,120],\"hl\":[[16,19],[30,35]],"
        "\"snippet\":\"the quick brown [fox] ...\"},"
        "{\"rank\":2,\"passage\":9,\"doc\":\"d 2\\\\\",\"score\":0.333333,\"win\":[5,9],\"hl\":[],"
        "\"snippet\":\"line\\none\"}],"
        "\"nhits\":2,\"total\":2,\"exact\":true,\"partial\":false,\"capped\":false,\"gen\":1,"
        "\"us\":41}\n");
    cr_assert(json_line_ok(wb.p, wb.len));
}

Test(rw, no_tag_and_empty_reply)
{
    cpq_rw w;
    cpq_rw_begin(&w, &wb, 0, NULL);
    cpq_rw_ok(&w);
    cpq_rw_u64(&w, "hits", 0);
    cpq_rw_end(&w);
    cr_assert_str_eq(wb.p, "OK hits=0\n");
    cpq_pbuf_reset(&wb);
    cpq_rw_begin(&w, &wb, 1, NULL);
    cpq_rw_ok(&w);
    cpq_rw_u64(&w, "hits", 0);
    cpq_rw_end(&w);
    cr_assert_str_eq(wb.p, "{\"ok\":true,\"nhits\":0}\n");
    /* end without ok writes the status */
    cpq_pbuf_reset(&wb);
    cpq_proto_str t = {"a:b", 3};
    cpq_rw_begin(&w, &wb, 0, &t);
    cpq_rw_end(&w);
    cr_assert_str_eq(wb.p, "@a:b OK\n");
    /* an invalid tag is dropped */
    cpq_pbuf_reset(&wb);
    cpq_proto_str bad = {"a b", 3};
    cpq_rw_begin(&w, &wb, 1, &bad);
    cpq_rw_end(&w);
    cr_assert_str_eq(wb.p, "{\"ok\":true}\n");
}

Test(rw, ping_word)
{
    cpq_rw w;
    cpq_proto_str t = {"p", 1};
    cpq_rw_begin(&w, &wb, 0, &t);
    cpq_rw_ok(&w);
    cpq_rw_word(&w, "PONG");
    cpq_rw_end(&w);
    cr_assert_str_eq(wb.p, "@p OK PONG\n");
    cpq_pbuf_reset(&wb);
    cpq_rw_begin(&w, &wb, 1, &t);
    cpq_rw_ok(&w);
    cpq_rw_word(&w, "PONG");
    cpq_rw_end(&w);
    cr_assert_str_eq(wb.p, "{\"tag\":\"p\",\"ok\":true,\"reply\":\"PONG\"}\n");
}

static void explain_reply(int json)
{
    cpq_rw w;
    cpq_rw_begin(&w, &wb, json, NULL);
    cpq_rw_record(&w, "term");
    cpq_rw_str(&w, "text", "fox", 3);
    cpq_rw_flag(&w, "phrase", 0);
    cpq_rw_u64(&w, "df", 3);
    cpq_rw_dbl(&w, "idf", 1.5);
    cpq_rw_record(&w, "term");
    cpq_rw_str(&w, "text", "quick brown", 11);
    cpq_rw_flag(&w, "phrase", 1);
    cpq_rw_ok(&w);
    cpq_rw_u64(&w, "passage", 3);
    cpq_rw_flag(&w, "matched", 1);
    cpq_rw_dbl(&w, "score", -0.5);
    cpq_rw_dbl(&w, "k1", NAN);
    cpq_rw_dbl(&w, "b", INFINITY);
    cpq_rw_i64(&w, "delta", -7);
    cpq_rw_end(&w);
}

Test(rw, explain_shapes)
{
    explain_reply(0);
    cr_assert_str_eq(wb.p, "term text=fox phrase=0 df=3 idf=1.5\n"
                           "term text=quick\\x20brown phrase=1\n"
                           "OK passage=3 matched=1 score=-0.5 k1=0 b=0 delta=-7\n");
    cpq_pbuf_reset(&wb);
    explain_reply(1);
    cr_assert_str_eq(wb.p, "{\"ok\":true,\"terms\":[{\"text\":\"fox\",\"phrase\":false,\"df\":3,"
                           "\"idf\":1.5},{\"text\":\"quick brown\",\"phrase\":true}],"
                           "\"passage\":3,\"matched\":true,\"score\":-0.5,\"k1\":0,\"b\":0,"
                           "\"delta\":-7}\n");
    cr_assert(json_line_ok(wb.p, wb.len));
}

static void doc_reply(int json, const char *text, size_t n)
{
    cpq_rw w;
    cpq_rw_begin(&w, &wb, json, NULL);
    cpq_rw_record(&w, "doc");
    cpq_rw_str(&w, "doc", "a b", 3);
    cpq_rw_u64(&w, "docnum", 1);
    cpq_rw_u64(&w, "passages", 2);
    cpq_rw_u64(&w, "bytes", n);
    cpq_rw_record(&w, "passage");
    cpq_rw_u64(&w, "passage", 4);
    cpq_rw_u64(&w, "ord", 0);
    cpq_rw_record(&w, "passage");
    cpq_rw_u64(&w, "passage", 5);
    cpq_rw_u64(&w, "ord", 1);
    cpq_rw_literal(&w, "text", text, n);
    cpq_rw_ok(&w);
    cpq_rw_u64(&w, "gen", 2);
    cpq_rw_end(&w);
}

Test(rw, doc_shapes_and_literal)
{
    doc_reply(0, "hello\nworld", 11);
    cr_assert_str_eq(wb.p, "doc doc=a\\x20b docnum=1 passages=2 bytes=11\n"
                           "passage passage=4 ord=0\n"
                           "passage passage=5 ord=1\n"
                           "text 11\nhello\nworld\n"
                           "OK gen=2\n");
    cpq_pbuf_reset(&wb);
    doc_reply(1, "hello\nworld", 11);
    cr_assert_str_eq(wb.p, "{\"ok\":true,\"doc\":{\"doc\":\"a b\",\"docnum\":1,\"passages\":2,"
                           "\"bytes\":11},\"passages\":[{\"passage\":4,\"ord\":0},"
                           "{\"passage\":5,\"ord\":1}],\"text\":\"hello\\nworld\",\"gen\":2}\n");
    cr_assert(json_line_ok(wb.p, wb.len));
    /* the literal is raw bytes in text mode: NUL, invalid UTF-8, anything */
    cpq_pbuf_reset(&wb);
    doc_reply(0, "a\0\xff\n", 4);
    cr_assert_eq(wb.len, strlen("doc doc=a\\x20b docnum=1 passages=2 bytes=4\n"
                                "passage passage=4 ord=0\npassage passage=5 ord=1\n"
                                "text 4\n") + 4 + strlen("\nOK gen=2\n"));
    cr_assert(has_bytes("text 4\na\0\xff\n\nOK gen=2\n", 19));
    cpq_pbuf_reset(&wb);
    doc_reply(1, "a\0\xff\n", 4);
    static const char want[] = "\"text\":\"a\\u0000\xef\xbf\xbd\\n\"";
    cr_assert(has_bytes(want, sizeof want - 1));
    cr_assert(json_line_ok(wb.p, wb.len));
}

Test(rw, get_shape)
{
    cpq_rw w;
    cpq_rw_begin(&w, &wb, 0, NULL);
    cpq_rw_record(&w, "passage");
    cpq_rw_u64(&w, "passage", 3);
    cpq_rw_literal(&w, "text", "hello", 5);
    cpq_rw_ok(&w);
    cpq_rw_u64(&w, "gen", 1);
    cpq_rw_end(&w);
    cr_assert_str_eq(wb.p, "passage passage=3\ntext 5\nhello\nOK gen=1\n");
    cpq_pbuf_reset(&wb);
    cpq_rw_begin(&w, &wb, 0, NULL);
    cpq_rw_literal(&w, "text", "", 0);
    cpq_rw_end(&w);
    cr_assert_str_eq(wb.p, "text 0\n\nOK\n");
    cpq_pbuf_reset(&wb);
    cpq_rw_begin(&w, &wb, 1, NULL);
    cpq_rw_literal(&w, "text", "hello", 5);
    cpq_rw_end(&w);
    cr_assert_str_eq(wb.p, "{\"ok\":true,\"text\":\"hello\"}\n");
}

static void stats_reply(int json)
{
    cpq_rw w;
    cpq_proto_str t = {"s", 1};
    cpq_rw_begin(&w, &wb, json, &t);
    cpq_rw_stat(&w, "stat", "uptime_s", "12");
    cpq_rw_stat(&w, "stat", "avg", "0.5");
    cpq_rw_stat(&w, "stat", "neg", "-3e2");
    cpq_rw_stat(&w, "stat", "lead0", "007");
    cpq_rw_stat(&w, "stat", "path", "/tmp/a b");
    cpq_rw_stat(&w, "stat", "inf", "inf");
    cpq_rw_ok(&w);
    cpq_rw_u64(&w, "gen", 1);
    cpq_rw_end(&w);
}

Test(rw, stats_shapes)
{
    stats_reply(0);
    cr_assert_str_eq(wb.p, "stat uptime_s 12\nstat avg 0.5\nstat neg -3e2\nstat lead0 007\n"
                           "stat path /tmp/a\\x20b\nstat inf inf\n@s OK gen=1\n");
    cpq_pbuf_reset(&wb);
    stats_reply(1);
    cr_assert_str_eq(wb.p, "{\"tag\":\"s\",\"ok\":true,\"stats\":{\"uptime_s\":12,\"avg\":0.5,"
                           "\"neg\":-3e2,\"lead0\":\"007\",\"path\":\"/tmp/a b\",\"inf\":\"inf\"},"
                           "\"gen\":1}\n");
    cr_assert(json_line_ok(wb.p, wb.len));
}

Test(rw, info_and_help_shapes)
{
    cpq_rw w;
    for (int json = 0; json <= 1; json++) {
        cpq_pbuf_reset(&wb);
        cpq_rw_begin(&w, &wb, json, NULL);
        cpq_rw_stat(&w, "info", "proto", "1");
        cpq_rw_stat(&w, "info", "language", "english");
        cpq_rw_ok(&w);
        cpq_rw_end(&w);
        cr_assert_str_eq(wb.p, json ? "{\"ok\":true,\"info\":{\"proto\":1,\"language\":\"english\"}}\n"
                                    : "info proto 1\ninfo language english\nOK\n");
        cpq_pbuf_reset(&wb);
        cpq_rw_begin(&w, &wb, json, NULL);
        cpq_rw_line(&w, "help", "SEARCH [options] query", 22);
        cpq_rw_line(&w, "help", "PING\t\"x\"", 8);
        cpq_rw_line(&w, "help", "", 0);
        cpq_rw_ok(&w);
        cpq_rw_end(&w);
        cr_assert_str_eq(wb.p, json ? "{\"ok\":true,\"help\":[\"SEARCH [options] query\","
                                      "\"PING\\t\\\"x\\\"\",\"\"]}\n"
                                    : "help SEARCH [options] query\nhelp PING\\t\"x\"\nhelp\nOK\n");
        if (json) cr_assert(json_line_ok(wb.p, wb.len));
    }
}

Test(rw, status_key_renames_never_duplicate)
{
    cpq_rw w;
    cpq_rw_begin(&w, &wb, 1, NULL);
    cpq_rw_ok(&w);
    const char *keys[] = {"hits", "terms", "passages", "help", "stats", "info", "doc", "text",
                          "tag", "ok", "code", "message", "reply", "total"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) cpq_rw_u64(&w, keys[i], i);
    cpq_rw_end(&w);
    cr_assert_str_eq(wb.p, "{\"ok\":true,\"nhits\":0,\"nterms\":1,\"npassages\":2,\"nhelp\":3,"
                           "\"nstats\":4,\"ninfo\":5,\"ndoc\":6,\"ntext\":7,\"ntag\":8,\"nok\":9,"
                           "\"ncode\":10,\"nmessage\":11,\"nreply\":12,\"total\":13}\n");
    cr_assert(json_line_ok(wb.p, wb.len));
}

Test(rw, array_names)
{
    cr_assert_str_eq(cpq_rw_array_name("hit"), "hits");
    cr_assert_str_eq(cpq_rw_array_name("term"), "terms");
    cr_assert_str_eq(cpq_rw_array_name("passage"), "passages");
    cr_assert_str_eq(cpq_rw_array_name("help"), "help");
    cr_assert_str_eq(cpq_rw_array_name("stat"), "stats");
    cr_assert_str_eq(cpq_rw_array_name("info"), "info");
    cr_assert_str_eq(cpq_rw_array_name("doc"), "doc");
    cr_assert_str_eq(cpq_rw_array_name("future_kw"), "future_kw");
    cr_assert_null(cpq_rw_array_name(NULL));
}

Test(rw, err_replaces_partial_reply)
{
    cpq_rw w;
    cpq_proto_str t = {"e1", 2};
    cpq_pbuf_add(&wb, "OK before\n", 10);   /* an earlier reply stays */
    cpq_rw_begin(&w, &wb, 0, &t);
    cpq_rw_record(&w, "hit");
    cpq_rw_u64(&w, "rank", 1);
    cpq_rw_line(&w, "snippet", "x", 1);
    cpq_rw_err(&w, CPQ_PROTO_QUERY, "unbalanced \"quote\" at column %d\n", 7);
    cr_assert_str_eq(wb.p, "OK before\n@e1 ERR QUERY unbalanced \"quote\" at column 7\\n\n");
    cpq_rw_end(&w);   /* no-op after err */
    cpq_rw_u64(&w, "x", 1);
    cr_assert_str_eq(wb.p, "OK before\n@e1 ERR QUERY unbalanced \"quote\" at column 7\\n\n");

    cpq_pbuf_reset(&wb);
    cpq_rw_begin(&w, &wb, 1, &t);
    cpq_rw_record(&w, "hit");
    cpq_rw_u64(&w, "rank", 1);
    cpq_rw_err(&w, CPQ_PROTO_ARG, "bad \"x\"");
    cr_assert_str_eq(wb.p, "{\"tag\":\"e1\",\"ok\":false,\"code\":\"ARG\",\"message\":\"bad \\\"x\\\"\"}\n");
    cr_assert(json_line_ok(wb.p, wb.len));

    /* after end, too; a bad code becomes INTERNAL; no message */
    cpq_pbuf_reset(&wb);
    cpq_rw_begin(&w, &wb, 0, NULL);
    cpq_rw_end(&w);
    cpq_rw_err(&w, 99, NULL);
    cr_assert_str_eq(wb.p, "ERR INTERNAL\n");
    cpq_pbuf_reset(&wb);
    cpq_rw_begin(&w, &wb, 0, NULL);
    cpq_rw_err(&w, CPQ_PROTO_OK, "x");
    cr_assert_str_eq(wb.p, "ERR INTERNAL x\n");
}

Test(rw, err_after_toobig)
{
    cpq_pbuf b;
    cpq_rw w;
    cpq_proto_str t = {"big", 3};
    char text[300];
    memset(text, 'x', sizeof text);
    cpq_pbuf_init(&b, 120);
    cpq_pbuf_add(&b, "OK prev\n", 8);
    cpq_rw_begin(&w, &b, 0, &t);
    cpq_rw_record(&w, "passage");
    cpq_rw_u64(&w, "passage", 1);
    cpq_rw_literal(&w, "text", text, sizeof text);
    cr_assert_eq(cpq_pbuf_error(&b), CPQ_PROTO_TOOBIG);
    cpq_rw_err(&w, CPQ_PROTO_TOOBIG, "passage %d is larger than the reply limit, %s", 1,
               "which is a long explanation that does not fit the tiny max of this buffer at all");
    cr_assert_eq(cpq_pbuf_error(&b), 0);
    cr_assert_str_eq(b.p, "OK prev\n@big ERR TOOBIG passage 1 is larger than the reply limit, "
                          "which is a long explanation that does not fit the tiny max of this "
                          "buffer at all\n");
    cr_assert_eq(b.max, 120);   /* the limit is back */
    cpq_pbuf_free(&b);
}

Test(rw, end_turns_buffer_failure_into_err)
{
    cpq_pbuf b;
    cpq_rw w;
    char text[300];
    memset(text, 'x', sizeof text);
    for (int json = 0; json <= 1; json++) {
        cpq_pbuf_init(&b, 100);
        cpq_rw_begin(&w, &b, json, NULL);
        cpq_rw_record(&w, "passage");
        cpq_rw_literal(&w, "text", text, sizeof text);
        cpq_rw_ok(&w);
        cpq_rw_u64(&w, "gen", 1);
        cpq_rw_end(&w);
        /* a well-formed error reply, and the buffer still says why */
        cr_assert_eq(cpq_pbuf_error(&b), CPQ_PROTO_TOOBIG);
        cr_assert_str_eq(b.p, json ? "{\"ok\":false,\"code\":\"TOOBIG\",\"message\":\"the reply "
                                     "would exceed 100 bytes\"}\n"
                                   : "ERR TOOBIG the reply would exceed 100 bytes\n");
        cpq_rw_end(&w);   /* no-op */
        cr_assert_eq(cpq_pbuf_error(&b), CPQ_PROTO_TOOBIG);
        /* the caller may put its own message in; that clears the error */
        cpq_rw_err(&w, CPQ_PROTO_TOOBIG, "limit %d", 100);
        cr_assert_eq(cpq_pbuf_error(&b), 0);
        cr_assert_str_eq(b.p, json ? "{\"ok\":false,\"code\":\"TOOBIG\",\"message\":\"limit 100\"}\n"
                                   : "ERR TOOBIG limit 100\n");
        cpq_pbuf_free(&b);
    }
    /* a reply that exactly fits is not an error */
    cpq_pbuf_init(&b, 9);
    cpq_rw_begin(&w, &b, 0, NULL);
    cpq_rw_ok(&w);
    cpq_rw_u64(&w, "gen", 1);
    cpq_rw_end(&w);
    cr_assert_str_eq(b.p, "OK gen=1\n");
    cpq_pbuf_free(&b);
}

static void expect_misuse(void (*f)(cpq_rw *))
{
    cpq_rw w;
    for (int json = 0; json <= 1; json++) {
        cpq_pbuf_reset(&wb);
        cpq_rw_begin(&w, &wb, json, NULL);
        f(&w);
        cpq_rw_end(&w);
        cr_assert_str_eq(wb.p, json ? "{\"ok\":false,\"code\":\"INTERNAL\",\"message\":\"reply "
                                      "writer misused\"}\n"
                                    : "ERR INTERNAL reply writer misused\n");
        cr_assert_eq(cpq_pbuf_error(&wb), 0);
    }
}

static void mu_field_first(cpq_rw *w) { cpq_rw_u64(w, "x", 1); }
static void mu_field_after_line(cpq_rw *w)
{
    cpq_rw_record(w, "hit");
    cpq_rw_line(w, "snippet", "s", 1);
    cpq_rw_u64(w, "x", 1);
}
static void mu_record_after_ok(cpq_rw *w)
{
    cpq_rw_ok(w);
    cpq_rw_record(w, "hit");
}
static void mu_bad_keyword(cpq_rw *w) { cpq_rw_record(w, "Hit"); }
static void mu_bad_key(cpq_rw *w)
{
    cpq_rw_ok(w);
    cpq_rw_u64(w, "a b", 1);
}
static void mu_array_twice(cpq_rw *w)
{
    cpq_rw_record(w, "hit");
    cpq_rw_record(w, "term");
    cpq_rw_record(w, "hit");
}
static void mu_doc_twice(cpq_rw *w)
{
    cpq_rw_record(w, "doc");
    cpq_rw_record(w, "doc");
}
static void mu_literal_twice(cpq_rw *w)
{
    cpq_rw_literal(w, "text", "a", 1);
    cpq_rw_literal(w, "text", "b", 1);
}
static void mu_literal_keyword(cpq_rw *w) { cpq_rw_literal(w, "body", "a", 1); }
static void mu_word_before_ok(cpq_rw *w) { cpq_rw_word(w, "PONG"); }
static void mu_stat_record(cpq_rw *w) { cpq_rw_record(w, "stat"); }
static void mu_ok_twice(cpq_rw *w)
{
    cpq_rw_ok(w);
    cpq_rw_ok(w);
}

Test(rw, misuse_is_err_internal)
{
    expect_misuse(mu_field_first);
    expect_misuse(mu_field_after_line);
    expect_misuse(mu_record_after_ok);
    expect_misuse(mu_bad_keyword);
    expect_misuse(mu_bad_key);
    expect_misuse(mu_array_twice);
    expect_misuse(mu_doc_twice);
    expect_misuse(mu_literal_twice);
    expect_misuse(mu_literal_keyword);
    expect_misuse(mu_word_before_ok);
    expect_misuse(mu_stat_record);
    expect_misuse(mu_ok_twice);
}

/* ------------------------------------------------------------------ */
/* Reading replies                                                     */
/* ------------------------------------------------------------------ */

TestSuite(read, .fini = fini);

static cpq_proto_line L;

static int pl(const char *s)
{
    return cpq_proto_parse_line(hold(s, strlen(s)), strlen(s), &L);
}

Test(read, status_lines)
{
    cr_assert_eq(pl("OK"), 0);
    cr_assert_eq(L.kind, CPQ_RL_OK);
    assert_str(L.rest, "");
    assert_str(L.tag, "");
    cr_assert_eq(pl("OK PONG"), 0);
    cr_assert_eq(L.kind, CPQ_RL_OK);
    assert_str(L.rest, "PONG");
    cr_assert_eq(pl("@t1 OK hits=1 total=1\r"), 0);
    cr_assert_eq(L.kind, CPQ_RL_OK);
    assert_str(L.tag, "t1");
    assert_str(L.rest, "hits=1 total=1");
    cr_assert_eq(pl("ERR ARG unknown option :x"), 0);
    cr_assert_eq(L.kind, CPQ_RL_ERR);
    cr_assert_eq(L.code, CPQ_PROTO_ARG);
    assert_str(L.code_name, "ARG");
    assert_str(L.rest, "unknown option :x");
    cr_assert_eq(pl("@a.b ERR TOOBIG"), 0);
    cr_assert_eq(L.code, CPQ_PROTO_TOOBIG);
    assert_str(L.tag, "a.b");
    assert_str(L.rest, "");
    cr_assert_eq(pl("ERR NEWCODE later"), 0);   /* unknown names read as INTERNAL */
    cr_assert_eq(L.code, CPQ_PROTO_INTERNAL);
    assert_str(L.code_name, "NEWCODE");
    cr_assert_eq(pl("ERR OK x"), 0);
    cr_assert_eq(L.code, CPQ_PROTO_INTERNAL);
}

Test(read, data_lines)
{
    cr_assert_eq(pl("hit rank=1 doc=a\\x20b"), 0);
    cr_assert_eq(L.kind, CPQ_RL_DATA);
    assert_str(L.keyword, "hit");
    assert_str(L.rest, "rank=1 doc=a\\x20b");
    cr_assert_eq(pl("help"), 0);
    assert_str(L.keyword, "help");
    assert_str(L.rest, "");
    cr_assert_eq(pl("snippet  two  spaces "), 0);
    assert_str(L.rest, " two  spaces ");   /* one SP removed, rest verbatim */
    cr_assert_eq(pl("future_kw x"), 0);
    cr_assert_eq(L.kind, CPQ_RL_DATA);
    cr_assert_eq(pl("text 5"), 0);
    cr_assert_eq(L.kind, CPQ_RL_TEXT);
    cr_assert_eq(L.text_len, 5);
    assert_str(L.keyword, "text");
    cr_assert_eq(pl("text 1099511627775"), 0);   /* 2^40 - 1 */
    cr_assert_eq(L.text_len, 1099511627775u);
    cr_assert_eq(pl("text 0\r"), 0);
    cr_assert_eq(L.text_len, 0);
}

Test(read, malformed_lines)
{
    const char *bad[] = {"", "@t1", "@t1 ", "@t1  OK", "@t! OK", "@ OK", "@t1 hit x=1", "ERR",
                         "ERR ", "ERR  ARG", "OKAY", "Ok", "Hit x", "hit2 x",
                         "hit\tx", " hit", "=x", "text", "text ", "text x", "text -1",
                         "text 1099511627776", "text 5 6", "text 05x", "9 x"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_assert_eq(pl(bad[i]), -1, "[%s] parsed", bad[i]);
    /* lower case "ok" and "err" are data keywords, not status lines */
    cr_assert_eq(pl("ok x"), 0);
    cr_assert_eq(L.kind, CPQ_RL_DATA);
    cr_assert_eq(pl("err X"), 0);
    cr_assert_eq(L.kind, CPQ_RL_DATA);
    char tag[80] = "@";
    memset(tag + 1, 'a', 65);
    strcpy(tag + 66, " OK");
    cr_assert_eq(pl(tag), -1);
    strcpy(tag + 65, " OK");
    cr_assert_eq(pl(tag), 0);
}

Test(read, fields)
{
    cpq_proto_fields f;
    cpq_proto_str k, v;
    int hv;
    cr_assert_eq(pl("hit a=1 flag b= c=x=y  d=\\x20"), 0);
    cpq_proto_fields_init(&f, &L.rest);
    cr_assert_eq(cpq_proto_fields_next(&f, &k, &v, &hv), 1);
    assert_str(k, "a");
    assert_str(v, "1");
    cr_assert(hv);
    cr_assert_eq(cpq_proto_fields_next(&f, &k, &v, &hv), 1);
    assert_str(k, "flag");
    assert_str(v, "");
    cr_assert(!hv);
    cr_assert_eq(cpq_proto_fields_next(&f, &k, &v, &hv), 1);
    assert_str(k, "b");
    assert_str(v, "");
    cr_assert(hv);
    cr_assert_eq(cpq_proto_fields_next(&f, &k, &v, &hv), 1);
    assert_str(k, "c");
    assert_str(v, "x=y");
    cr_assert_eq(cpq_proto_fields_next(&f, &k, &v, &hv), 1);
    assert_str(k, "d");
    assert_str(v, "\\x20");
    cr_assert_eq(cpq_proto_fields_next(&f, &k, &v, &hv), 0);
    cr_assert_eq(cpq_proto_fields_next(&f, &k, &v, &hv), 0);

    cpq_proto_str empty = {NULL, 0};
    cpq_proto_fields_init(&f, &empty);
    cr_assert_eq(cpq_proto_fields_next(&f, &k, &v, &hv), 0);
    cpq_proto_str sp = {"   ", 3};
    cpq_proto_fields_init(&f, &sp);
    cr_assert_eq(cpq_proto_fields_next(&f, &k, &v, NULL), 0);
}

Test(read, numbers)
{
    uint64_t v, a, b;
    cr_assert_eq(cpq_proto_parse_u64("0", 1, 10, &v), 0);
    cr_assert_eq(v, 0);
    cr_assert_eq(cpq_proto_parse_u64("0010", 4, 10, &v), 0);
    cr_assert_eq(v, 10);
    cr_assert_eq(cpq_proto_parse_u64("11", 2, 10, &v), -1);
    cr_assert_eq(cpq_proto_parse_u64("18446744073709551615", 20, UINT64_MAX, &v), 0);
    cr_assert_eq(v, UINT64_MAX);
    cr_assert_eq(cpq_proto_parse_u64("18446744073709551616", 20, UINT64_MAX, &v), -1);
    cr_assert_eq(cpq_proto_parse_u64("99999999999999999999", 20, UINT64_MAX, &v), -1);
    cr_assert_eq(cpq_proto_parse_u64("", 0, UINT64_MAX, &v), -1);
    cr_assert_eq(cpq_proto_parse_u64(NULL, 0, UINT64_MAX, &v), -1);
    cr_assert_eq(cpq_proto_parse_u64("+1", 2, UINT64_MAX, &v), -1);
    cr_assert_eq(cpq_proto_parse_u64("-1", 2, UINT64_MAX, &v), -1);
    cr_assert_eq(cpq_proto_parse_u64("1 ", 2, UINT64_MAX, &v), -1);
    cr_assert_eq(cpq_proto_parse_u64(" 1", 2, UINT64_MAX, &v), -1);
    cr_assert_eq(cpq_proto_parse_u64("1x", 2, UINT64_MAX, &v), -1);
    v = 77;
    cr_assert_eq(cpq_proto_parse_u64("12", 1, UINT64_MAX, &v), 0);   /* length is honoured */
    cr_assert_eq(v, 1);

    double d;
    cr_assert_eq(cpq_proto_parse_dbl("1.5", 3, &d), 0);
    cr_assert(d == 1.5);
    cr_assert_eq(cpq_proto_parse_dbl("-2e-3", 5, &d), 0);
    cr_assert(d == -2e-3);
    cr_assert_eq(cpq_proto_parse_dbl("+1", 2, &d), 0);
    cr_assert_eq(cpq_proto_parse_dbl("1.5x", 3, &d), 0);   /* only n bytes */
    cr_assert_eq(cpq_proto_parse_dbl("1.5x", 4, &d), -1);
    cr_assert_eq(cpq_proto_parse_dbl("", 0, &d), -1);
    cr_assert_eq(cpq_proto_parse_dbl(" 1", 2, &d), -1);
    cr_assert_eq(cpq_proto_parse_dbl("1 ", 2, &d), -1);
    cr_assert_eq(cpq_proto_parse_dbl("inf", 3, &d), -1);
    cr_assert_eq(cpq_proto_parse_dbl("nan", 3, &d), -1);
    cr_assert_eq(cpq_proto_parse_dbl("1e999", 5, &d), -1);
    cr_assert_eq(cpq_proto_parse_dbl("1\0", 2, &d), -1);
    cr_assert_eq(cpq_proto_parse_dbl(".", 1, &d), -1);

    cr_assert_eq(cpq_proto_parse_range("16-19", 5, 100, &a, &b), 0);
    cr_assert(a == 16 && b == 19);
    cr_assert_eq(cpq_proto_parse_range("5-5", 3, 100, &a, &b), 0);
    cr_assert_eq(cpq_proto_parse_range("6-5", 3, 100, &a, &b), -1);
    cr_assert_eq(cpq_proto_parse_range("5-101", 5, 100, &a, &b), -1);
    cr_assert_eq(cpq_proto_parse_range("-5", 2, 100, &a, &b), -1);
    cr_assert_eq(cpq_proto_parse_range("5-", 2, 100, &a, &b), -1);
    cr_assert_eq(cpq_proto_parse_range("5", 1, 100, &a, &b), -1);
    cr_assert_eq(cpq_proto_parse_range("", 0, 100, &a, &b), -1);
    cr_assert_eq(cpq_proto_parse_range("1--2", 4, 100, &a, &b), -1);
    cr_assert_eq(cpq_proto_parse_range("1-2-3", 5, 100, &a, &b), -1);
    cr_assert_eq(cpq_proto_parse_range("1-2x", 4, 100, &a, &b), -1);
    cr_assert_eq(cpq_proto_parse_range("0-18446744073709551615", 22, UINT64_MAX, &a, &b), 0);
    cr_assert_eq(b, UINT64_MAX);
}

/* What cpq_rw writes, parse_line and the fields give back. */
Test(read, writer_output_reads_back)
{
    cpq_pbuf b;
    cpq_rw w;
    cpq_proto_str t = {"rt", 2};
    const char doc[] = "id with space\\ \t\xff\xc3\xa9=x";
    const char snip[] = "a [b]\nc\\d \x01";
    const char text[] = "raw\nbytes\0\n";
    uint32_t hl[] = {1, 2, 7, 9};

    cpq_pbuf_init(&b, 1 << 16);
    cpq_rw_begin(&w, &b, 0, &t);
    cpq_rw_record(&w, "hit");
    cpq_rw_u64(&w, "rank", 18446744073709551615u);
    cpq_rw_str(&w, "doc", doc, sizeof doc - 1);
    cpq_rw_dbl(&w, "score", 2.5);
    cpq_rw_range(&w, "win", 3, 40);
    cpq_rw_spans(&w, "hl", hl, 2);
    cpq_rw_line(&w, "snippet", snip, sizeof snip - 1);
    cpq_rw_literal(&w, "text", text, sizeof text - 1);
    cpq_rw_ok(&w);
    cpq_rw_flag(&w, "exact", 1);
    cpq_rw_end(&w);

    const char *p = b.p, *end = b.p + b.len;
    int lines = 0;
    while (p < end) {
        const char *lf = memchr(p, '\n', (size_t)(end - p));
        cr_assert_not_null(lf);
        cr_assert_eq(cpq_proto_parse_line(p, (size_t)(lf - p), &L), 0, "[%.*s]", (int)(lf - p), p);
        p = lf + 1;
        lines++;
        char u[256];
        long un;
        cpq_proto_fields f;
        cpq_proto_str k, v;
        int hv;
        switch (lines) {
        case 1:
            cr_assert_eq(L.kind, CPQ_RL_DATA);
            assert_str(L.keyword, "hit");
            cpq_proto_fields_init(&f, &L.rest);
            while (cpq_proto_fields_next(&f, &k, &v, &hv)) {
                cr_assert(hv);
                uint64_t x, y;
                double d;
                if (str_is(k, "rank")) {
                    cr_assert_eq(cpq_proto_parse_u64(v.p, v.n, UINT64_MAX, &x), 0);
                    cr_assert_eq(x, UINT64_MAX);
                } else if (str_is(k, "doc")) {
                    un = cpq_proto_unescape(u, sizeof u, v.p, v.n);
                    cr_assert_eq(un, (long)sizeof doc - 1);
                    cr_assert_eq(memcmp(u, doc, sizeof doc - 1), 0);
                } else if (str_is(k, "score")) {
                    cr_assert_eq(cpq_proto_parse_dbl(v.p, v.n, &d), 0);
                    cr_assert(d == 2.5);
                } else if (str_is(k, "win")) {
                    cr_assert_eq(cpq_proto_parse_range(v.p, v.n, UINT32_MAX, &x, &y), 0);
                    cr_assert(x == 3 && y == 40);
                } else if (str_is(k, "hl")) {
                    assert_str(v, "1-2,7-9");
                } else {
                    cr_assert_fail("unexpected key");
                }
            }
            break;
        case 2:
            assert_str(L.keyword, "snippet");
            un = cpq_proto_unescape(u, sizeof u, L.rest.p, L.rest.n);
            cr_assert_eq(un, (long)sizeof snip - 1);
            cr_assert_eq(memcmp(u, snip, sizeof snip - 1), 0);
            break;
        case 3:
            cr_assert_eq(L.kind, CPQ_RL_TEXT);
            cr_assert_eq(L.text_len, sizeof text - 1);
            cr_assert_eq(memcmp(p, text, sizeof text - 1), 0);
            p += L.text_len;
            cr_assert_eq(*p, '\n');
            p++;
            break;
        case 4:
            cr_assert_eq(L.kind, CPQ_RL_OK);
            assert_str(L.tag, "rt");
            assert_str(L.rest, "exact=1");
            break;
        }
    }
    cr_assert_eq(lines, 4);
    cpq_pbuf_free(&b);
}

Test(read, err_reads_back)
{
    cpq_pbuf b;
    cpq_rw w;
    cpq_proto_str t = {"z", 1};
    cpq_pbuf_init(&b, 1 << 16);
    cpq_rw_begin(&w, &b, 0, &t);
    cpq_rw_err(&w, CPQ_PROTO_NOTFOUND, "no passage %d\t(gen %d)", 12, 3);
    cr_assert_eq(cpq_proto_parse_line(b.p, b.len - 1, &L), 0);
    cr_assert_eq(L.kind, CPQ_RL_ERR);
    cr_assert_eq(L.code, CPQ_PROTO_NOTFOUND);
    assert_str(L.tag, "z");
    char u[64];
    long un = cpq_proto_unescape(u, sizeof u, L.rest.p, L.rest.n);
    cr_assert_eq(un, 21);
    cr_assert_eq(memcmp(u, "no passage 12\t(gen 3)", 21), 0);
    cpq_pbuf_free(&b);
}

Test(read, empty_and_null_input)
{
    cpq_proto_req r;
    cr_assert_eq(cpq_proto_parse_request(NULL, 0, &r, NULL, 0), CPQ_PROTO_OK);
    cr_assert_eq(r.cmd, CPQ_CMD_NONE);
    cr_assert_eq(cpq_proto_parse_line(NULL, 0, &L), -1);
    cr_assert_eq(cpq_proto_parse_line("\r", 1, &L), -1);
    cr_assert_eq(cpq_proto_unescape(NULL, 0, NULL, 0), 0);
    cr_assert_eq(cpq_proto_escape(NULL, 0, NULL, 0, 0), 0);
    cr_assert(cpq_proto_utf8_valid(NULL, 0));
}

Test(rw, unknown_keywords_and_mixed_lines)
{
    cpq_rw w;
    for (int json = 0; json <= 1; json++) {
        cpq_pbuf_reset(&wb);
        cpq_rw_begin(&w, &wb, json, NULL);
        cpq_rw_record(&w, "warning");   /* a keyword a future version may add */
        cpq_rw_str(&w, "what", "slow", 4);
        cpq_rw_stat(&w, "info", "k", "v");
        cpq_rw_line(&w, "note", "a b", 3);   /* no record open: lines of their own */
        cpq_rw_line(&w, "note", "c", 1);
        cpq_rw_line(&w, "help", "h", 1);
        cpq_rw_ok(&w);
        cpq_rw_end(&w);
        cr_assert_str_eq(wb.p, json ? "{\"ok\":true,\"warning\":[{\"what\":\"slow\"}],"
                                      "\"info\":{\"k\":\"v\"},\"note\":[\"a b\",\"c\"],"
                                      "\"help\":[\"h\"]}\n"
                                    : "warning what=slow\ninfo k v\nnote a b\nnote c\nhelp h\nOK\n");
        if (json) cr_assert(json_line_ok(wb.p, wb.len));
    }
}

/* Numbers in replies are written without printf where they can be; a
 * double must still read exactly as printf's %.6g: random floats of every
 * magnitude (scores are floats), values at rounding boundaries, signs. */
Test(rw, doubles_print_as_printf_g6)
{
    cpq_pbuf b;
    char want[64];
    uint64_t s = 42;
    static const double edge[] = {
        0, 1, -1, 0.5, 0.1, 0.001, 0.000999999, 9.999995, 9.9999949, 99999.95, 99999.949, 99999.5,
        12345.65, 1.234565, 0.00123456, 1e5, 1e-4, 123456, 2.3, 1.0 / 3, 7.0000005, 0.0015, 5e-324, 1e300,
    };
    cpq_pbuf_init(&b, 1 << 20);
    for (size_t i = 0; i < 400000; i++) {
        double v;
        if (i < sizeof edge / sizeof edge[0]) {
            v = edge[i];
        } else {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            uint64_t r = s;
            /* floats as scores are, and doubles, over 1e-5 .. 1e6 */
            static const double p10[] = { 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1, 1e1, 1e2, 1e3, 1e4, 1e5 };
            v = (1 + 9 * ((double)(r >> 11) / 9007199254740992.0)) * p10[(r >> 4) % 11];
            if (r & 1) v = (double)(float)v;
            if (r & 2) v = -v;
            if ((r >> 2) % 16 == 0) v = (double)(int64_t)(v * 100000 + 0.5) / 100000 + 0.0000005; /* near a boundary */
        }
        cpq_rw w;
        b.len = 0;
        cpq_rw_begin(&w, &b, 0, NULL);
        cpq_rw_ok(&w);
        cpq_rw_dbl(&w, "x", v);
        cpq_rw_end(&w);
        snprintf(want, sizeof want, "OK x=%.6g\n", v);
        cr_assert(b.len == strlen(want) && !memcmp(b.p, want, b.len), "%.17g: got %.*s, printf %s", v,
                  (int)b.len, b.p, want);
    }
    cpq_pbuf_free(&b);
}
