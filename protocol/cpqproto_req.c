/*
 * cpqproto_req.c - the wire code and command tables, and the request line
 * parser (PROTOCOL.md sections 2, 3 and 7).
 *
 * The parser only splits the line: tag, command word, option words, the
 * arguments.  What the options mean is cpqproto_opt.c's business.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cpqproto_int.h"

static const char *const code_names[CPQ_PROTO_CODE_COUNT] = {
    [CPQ_PROTO_OK] = "OK",
    [CPQ_PROTO_SYNTAX] = "SYNTAX",
    [CPQ_PROTO_UNKNOWN] = "UNKNOWN",
    [CPQ_PROTO_ARG] = "ARG",
    [CPQ_PROTO_QUERY] = "QUERY",
    [CPQ_PROTO_ENCODING] = "ENCODING",
    [CPQ_PROTO_TOOLONG] = "TOOLONG",
    [CPQ_PROTO_NOAUTH] = "NOAUTH",
    [CPQ_PROTO_AUTH] = "AUTH",
    [CPQ_PROTO_NOTFOUND] = "NOTFOUND",
    [CPQ_PROTO_TOOBIG] = "TOOBIG",
    [CPQ_PROTO_LIMIT] = "LIMIT",
    [CPQ_PROTO_BUSY] = "BUSY",
    [CPQ_PROTO_DISABLED] = "DISABLED",
    [CPQ_PROTO_RELOAD] = "RELOAD",
    [CPQ_PROTO_TIMEOUT] = "TIMEOUT",
    [CPQ_PROTO_INTERNAL] = "INTERNAL",
};

static const char *const cmd_names[CPQ_CMD_COUNT_] = {
    [CPQ_CMD_NONE] = NULL,
    [CPQ_CMD_PING] = "PING",
    [CPQ_CMD_SEARCH] = "SEARCH",
    [CPQ_CMD_COUNT] = "COUNT",
    [CPQ_CMD_EXPLAIN] = "EXPLAIN",
    [CPQ_CMD_GET] = "GET",
    [CPQ_CMD_DOC] = "DOC",
    [CPQ_CMD_STATS] = "STATS",
    [CPQ_CMD_INFO] = "INFO",
    [CPQ_CMD_AUTH] = "AUTH",
    [CPQ_CMD_RELOAD] = "RELOAD",
    [CPQ_CMD_MODE] = "MODE",
    [CPQ_CMD_HELP] = "HELP",
    [CPQ_CMD_QUIT] = "QUIT",
};

const char *cpq_proto_code_name(int code)
{
    if (code < 0 || code >= CPQ_PROTO_CODE_COUNT) return NULL;
    return code_names[code];
}

int cpq_proto_code_lookup(const char *s, size_t n)
{
    for (int c = 0; c < CPQ_PROTO_CODE_COUNT; c++)
        if (strlen(code_names[c]) == n && memcmp(code_names[c], s, n) == 0) return c;
    return -1;
}

const char *cpq_proto_cmd_name(int cmd)
{
    if (cmd <= CPQ_CMD_NONE || cmd >= CPQ_CMD_COUNT_) return NULL;
    return cmd_names[cmd];
}

static unsigned char upper(unsigned char c)
{
    return c >= 'a' && c <= 'z' ? (unsigned char)(c - 32) : c;
}

int cpq_proto_cmd_lookup(const char *s, size_t n)
{
    for (int c = CPQ_CMD_NONE + 1; c < CPQ_CMD_COUNT_; c++) {
        const char *name = cmd_names[c];
        size_t i;

        if (strlen(name) != n) continue;
        for (i = 0; i < n && upper((unsigned char)s[i]) == (unsigned char)name[i]; i++)
            ;
        if (i == n) return c;
    }
    return -1;
}

static int is_sp(char c)
{
    return c == ' ' || c == '\t';
}

static int is_name_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_';
}

static int fail(char *msg, size_t msgcap, int code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

static int fail(char *msg, size_t msgcap, int code, const char *fmt, ...)
{
    if (msg && msgcap) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, msgcap, fmt, ap);
        va_end(ap);
    }
    return code;
}

/* Column (1-based byte) of p in the line. */
#define COL(p) ((size_t)((p) - line) + 1)

int cpq_proto_parse_request(const char *line, size_t len, cpq_proto_req *req, char *msg,
                            size_t msgcap)
{
    const char *p, *end, *w;

    req->tag.p = NULL;
    req->tag.n = 0;
    req->cmd = CPQ_CMD_NONE;
    req->word.p = NULL;
    req->word.n = 0;
    req->nopts = 0;
    req->args.p = NULL;
    req->args.n = 0;
    if (msg && msgcap) msg[0] = '\0';

    if (len >= CPQ_PROTO_LINE_MAX)
        return fail(msg, msgcap, CPQ_PROTO_TOOLONG, "request line longer than %u bytes",
                    CPQ_PROTO_LINE_MAX - 1);
    if (len && line[len - 1] == '\r') len--;
    if (len == 0) return CPQ_PROTO_OK;   /* (line may be NULL then) */

    /* Encoding first, over the whole line, so nothing below sees NUL or
     * broken UTF-8. */
    for (size_t i = 0; i < len;) {
        unsigned char c = (unsigned char)line[i];
        if (c == 0)
            return fail(msg, msgcap, CPQ_PROTO_ENCODING, "NUL byte at column %zu", i + 1);
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t l = cpq_proto_utf8_seq((const unsigned char *)line + i, len - i);
        if (!l)
            return fail(msg, msgcap, CPQ_PROTO_ENCODING, "invalid UTF-8 at column %zu", i + 1);
        i += l;
    }

    p = line;
    end = line + len;
    while (p < end && is_sp(*p)) p++;
    while (end > p && is_sp(end[-1])) end--;
    if (p == end) return CPQ_PROTO_OK;   /* empty line: CPQ_CMD_NONE */

    if (*p == '@') {
        w = ++p;
        while (p < end && !is_sp(*p)) {
            if (!cpq_proto_tag_char((unsigned char)*p))
                return fail(msg, msgcap, CPQ_PROTO_SYNTAX,
                            "bad tag at column %zu: tags are letters, digits and . _ : -",
                            COL(p));
            p++;
        }
        if (p == w)
            return fail(msg, msgcap, CPQ_PROTO_SYNTAX, "empty tag at column %zu", COL(w - 1));
        if ((size_t)(p - w) > CPQ_PROTO_TAG_MAX)
            return fail(msg, msgcap, CPQ_PROTO_SYNTAX,
                        "tag at column %zu is longer than %u characters", COL(w - 1),
                        CPQ_PROTO_TAG_MAX);
        req->tag.p = w;
        req->tag.n = (size_t)(p - w);
        while (p < end && is_sp(*p)) p++;
        if (p == end)
            return fail(msg, msgcap, CPQ_PROTO_SYNTAX, "missing command after the tag at column %zu",
                        COL(p));
    }

    w = p;
    while (p < end && !is_sp(*p)) p++;
    req->word.p = w;
    req->word.n = (size_t)(p - w);
    req->cmd = cpq_proto_cmd_lookup(w, req->word.n);
    if (req->cmd < 0)
        return fail(msg, msgcap, CPQ_PROTO_UNKNOWN,
                    "unknown command at column %zu (HELP lists the commands)", COL(w));

    for (;;) {
        while (p < end && is_sp(*p)) p++;
        if (p == end) return CPQ_PROTO_OK;
        w = p;
        if (*p != ':') {
            if (end - p >= 2 && p[0] == '-' && p[1] == '-' && (end - p == 2 || is_sp(p[2]))) {
                p += 2;   /* "--" ends the options and is dropped */
                while (p < end && is_sp(*p)) p++;
            }
            break;
        }
        if (req->nopts == CPQ_PROTO_OPTS_MAX)
            return fail(msg, msgcap, CPQ_PROTO_SYNTAX, "more than %u options at column %zu",
                        CPQ_PROTO_OPTS_MAX, COL(w));
        cpq_proto_opt *o = &req->opts[req->nopts];
        const char *name = ++p;
        while (p < end && is_name_char((unsigned char)*p)) p++;
        if (p == name || (p < end && !is_sp(*p) && *p != '='))
            return fail(msg, msgcap, CPQ_PROTO_SYNTAX,
                        "bad option word at column %zu: option names are letters, digits and '_'",
                        COL(w));
        if ((size_t)(p - name) > CPQ_PROTO_NAME_MAX)
            return fail(msg, msgcap, CPQ_PROTO_SYNTAX,
                        "option name at column %zu is longer than %u characters", COL(w),
                        CPQ_PROTO_NAME_MAX);
        o->name.p = name;
        o->name.n = (size_t)(p - name);
        o->value.p = NULL;
        o->value.n = 0;
        o->has_value = 0;
        if (p < end && *p == '=') {
            o->has_value = 1;
            o->value.p = ++p;
            while (p < end && !is_sp(*p)) p++;
            o->value.n = (size_t)(p - o->value.p);
        }
        req->nopts++;
    }
    if (p < end) {
        req->args.p = p;
        req->args.n = (size_t)(end - p);
    }
    return CPQ_PROTO_OK;
}
