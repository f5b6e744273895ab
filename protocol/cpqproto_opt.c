/*
 * cpqproto_opt.c - the search options (PROTOCOL.md section 3.1): their
 * table, interpreting them (cpq_proto_search_parse) and writing them back
 * into a request line (cpq_proto_format_req).
 *
 * One table says which command takes which option, so parsing and
 * formatting cannot disagree; fuzz/fuzz_proto_request.c checks that
 * formatting what was parsed parses to the same thing.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cpqproto_int.h"

enum opt_kind { K_UINT, K_FLAG, K_MARK, K_DBL };

enum {
    T_SEARCH = 1u << CPQ_CMD_SEARCH,
    T_COUNT = 1u << CPQ_CMD_COUNT,
    T_EXPLAIN = 1u << CPQ_CMD_EXPLAIN,
    T_DOC = 1u << CPQ_CMD_DOC,
};

typedef struct opt_def {
    const char *name;
    enum opt_kind kind;
    unsigned cmds;          /* T_* of the commands that take it */
    uint32_t lo, hi;        /* K_UINT range */
    double dlo, dhi;        /* K_DBL range */
} opt_def;

static const opt_def opts[] = {
    {"limit", K_UINT, T_SEARCH, 0, CPQ_PROTO_LIMIT_MAX, 0, 0},
    {"offset", K_UINT, T_SEARCH, 0, CPQ_PROTO_WINDOW_MAX, 0, 0},
    {"snippet", K_UINT, T_SEARCH, 0, CPQ_PROTO_SNIPPET_MAX, 0, 0},
    {"open", K_MARK, T_SEARCH, 0, 0, 0, 0},
    {"close", K_MARK, T_SEARCH, 0, 0, 0, 0},
    {"ellipsis", K_MARK, T_SEARCH, 0, 0, 0, 0},
    {"group", K_FLAG, T_SEARCH | T_COUNT, 0, 1, 0, 0},
    {"all", K_FLAG, T_SEARCH | T_COUNT | T_EXPLAIN, 0, 1, 0, 0},
    {"exact", K_FLAG, T_SEARCH, 0, 1, 0, 0},
    {"k1", K_DBL, T_SEARCH | T_EXPLAIN, 0, 0, 0.0, 10.0},
    {"b", K_DBL, T_SEARCH | T_EXPLAIN, 0, 0, 0.0, 1.0},
    {"budget", K_UINT, T_SEARCH | T_COUNT, 1, CPQ_PROTO_BUDGET_MAX, 0, 0},
    {"num", K_UINT, T_DOC, 0, UINT32_MAX, 0, 0},
};
enum { O_LIMIT, O_OFFSET, O_SNIPPET, O_OPEN, O_CLOSE, O_ELLIPSIS, O_GROUP, O_ALL, O_EXACT,
       O_K1, O_B, O_BUDGET, O_NUM, O_COUNT };

void cpq_proto_search_default(cpq_proto_search *s)
{
    memset(s, 0, sizeof *s);
    s->limit = 10;
    s->offset = 0;
    s->snippet = CPQ_PROTO_SNIPPET_DEFAULT;
    memcpy(s->open, "[", 2);
    memcpy(s->close, "]", 2);
    memcpy(s->ellipsis, "...", 4);
}

static int lookup(const cpq_proto_str *name)
{
    for (int i = 0; i < O_COUNT; i++) {
        size_t n = strlen(opts[i].name), j;
        if (n != name->n) continue;
        for (j = 0; j < n; j++) {
            unsigned char c = (unsigned char)name->p[j];
            if (c >= 'A' && c <= 'Z') c = (unsigned char)(c + 32);
            if (c != (unsigned char)opts[i].name[j]) break;
        }
        if (j == n) return i;
    }
    return -1;
}

static int fail(char *msg, size_t msgcap, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

static int fail(char *msg, size_t msgcap, const char *fmt, ...)
{
    if (msg && msgcap) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, msgcap, fmt, ap);
        va_end(ap);
    }
    return CPQ_PROTO_ARG;
}

/* 1 if every '\' in p[0..n) starts a valid escape (section 5). */
static int escapes_ok(const char *p, size_t n)
{
    char one[1];

    for (size_t j = 0; j < n;) {
        if (p[j] != '\\') {
            j++;
            continue;
        }
        size_t step = j + 1 < n && p[j + 1] == 'x' ? 4 : 2;
        if (step > n - j || cpq_proto_unescape(one, 1, p + j, step) != 1) return 0;
        j += step;
    }
    return 1;
}

static char *marker(cpq_proto_search *s, int o)
{
    return o == O_OPEN ? s->open : o == O_CLOSE ? s->close : s->ellipsis;
}

int cpq_proto_search_parse(const cpq_proto_req *req, cpq_proto_search *s, char *msg,
                           size_t msgcap)
{
    unsigned seen = 0;
    const char *cmdname = cpq_proto_cmd_name(req->cmd);

    if (msg && msgcap) msg[0] = '\0';
    if (!cmdname) cmdname = "this command";
    for (size_t i = 0; i < req->nopts && i < CPQ_PROTO_OPTS_MAX; i++) {
        const cpq_proto_opt *o = &req->opts[i];
        int k = lookup(&o->name);
        /* Option names are at most CPQ_PROTO_NAME_MAX name characters, so
         * quoting them in the message is safe and bounded. */
        int nl = (int)(o->name.n < CPQ_PROTO_NAME_MAX ? o->name.n : CPQ_PROTO_NAME_MAX);
        char val[64];
        long vn;

        if (k < 0) return fail(msg, msgcap, "unknown option :%.*s", nl, o->name.p);
        const opt_def *d = &opts[k];
        if (req->cmd <= 0 || req->cmd >= 32 || !(d->cmds & (1u << req->cmd)))
            return fail(msg, msgcap, "%s does not take :%s", cmdname, d->name);
        if (seen & (1u << k)) return fail(msg, msgcap, "option :%s given twice", d->name);
        seen |= 1u << k;

        /* "An option without =value is a flag meaning 1" (section 3). */
        if (!o->has_value) {
            memcpy(val, "1", 2);
            vn = 1;
        } else {
            vn = cpq_proto_unescape(val, sizeof val - 1, o->value.p, o->value.n);
            if (vn < 0) {
                if (!escapes_ok(o->value.p, o->value.n))
                    return fail(msg, msgcap, "bad escape in the value of :%s", d->name);
                if (d->kind == K_MARK)
                    return fail(msg, msgcap, ":%s is longer than %u bytes", d->name,
                                CPQ_PROTO_MARK_MAX);
                return fail(msg, msgcap, "value of :%s is too long", d->name);
            }
            val[vn] = '\0';
        }

        switch (d->kind) {
        case K_UINT: {
            uint64_t v;
            if (cpq_proto_parse_u64(val, (size_t)vn, d->hi, &v) || v < d->lo)
                return fail(msg, msgcap, ":%s must be a number from %u to %u", d->name,
                            (unsigned)d->lo, (unsigned)d->hi);
            if (k == O_SNIPPET && v != 0 && v < CPQ_PROTO_SNIPPET_MIN)
                return fail(msg, msgcap, ":snippet must be 0 or from %u to %u",
                            CPQ_PROTO_SNIPPET_MIN, CPQ_PROTO_SNIPPET_MAX);
            switch (k) {
            case O_LIMIT: s->limit = (uint32_t)v; break;
            case O_OFFSET: s->offset = (uint32_t)v; break;
            case O_SNIPPET: s->snippet = (uint32_t)v; break;
            case O_BUDGET: s->budget_ms = (uint32_t)v; break;
            default: s->num = (uint32_t)v; s->has_num = 1; break;
            }
            break;
        }
        case K_FLAG: {
            if (vn != 1 || (val[0] != '0' && val[0] != '1'))
                return fail(msg, msgcap, ":%s is a flag: no value, =0 or =1", d->name);
            int v = val[0] == '1';
            if (k == O_GROUP) s->group = v;
            else if (k == O_ALL) s->all = v;
            else s->exact = v;
            break;
        }
        case K_MARK:
            if ((size_t)vn > CPQ_PROTO_MARK_MAX)
                return fail(msg, msgcap, ":%s is longer than %u bytes", d->name,
                            CPQ_PROTO_MARK_MAX);
            if (memchr(val, '\0', (size_t)vn))
                return fail(msg, msgcap, ":%s contains a NUL byte", d->name);
            memcpy(marker(s, k), val, (size_t)vn + 1);
            break;
        case K_DBL: {
            double v;
            if (cpq_proto_parse_dbl(val, (size_t)vn, &v) || !(v >= d->dlo && v <= d->dhi))
                return fail(msg, msgcap, ":%s must be a number from %g to %g", d->name, d->dlo,
                            d->dhi);
            if (k == O_K1) {
                s->k1 = v;
                s->has_k1 = 1;
            } else {
                s->b = v;
                s->has_b = 1;
            }
            break;
        }
        }
    }
    if ((uint64_t)s->offset + s->limit > CPQ_PROTO_WINDOW_MAX)
        return fail(msg, msgcap, ":offset + :limit must not exceed %u", CPQ_PROTO_WINDOW_MAX);
    return CPQ_PROTO_OK;
}

/* An snprintf-like output: stores what fits before the NUL, counts all. */
typedef struct out {
    char *buf;
    size_t cap, len;
} out;

static void put(out *o, const char *s, size_t n)
{
    if (o->len + 1 < o->cap) {
        size_t room = o->cap - 1 - o->len;
        memcpy(o->buf + o->len, s, n < room ? n : room);
    }
    o->len += n;
}

static void puts_(out *o, const char *s)
{
    put(o, s, strlen(s));
}

/* 1 if the option k of s differs from its default. */
static int differs(const cpq_proto_search *s, int k)
{
    switch (k) {
    case O_LIMIT: return s->limit != 10;
    case O_OFFSET: return s->offset != 0;
    case O_SNIPPET: return s->snippet != CPQ_PROTO_SNIPPET_DEFAULT;
    case O_OPEN: return strncmp(s->open, "[", sizeof s->open) != 0;
    case O_CLOSE: return strncmp(s->close, "]", sizeof s->close) != 0;
    case O_ELLIPSIS: return strncmp(s->ellipsis, "...", sizeof s->ellipsis) != 0;
    case O_GROUP: return s->group != 0;
    case O_ALL: return s->all != 0;
    case O_EXACT: return s->exact != 0;
    case O_K1: return s->has_k1;
    case O_B: return s->has_b;
    case O_BUDGET: return s->budget_ms != 0;
    default: return s->has_num;
    }
}

static void put_opt(out *o, const cpq_proto_search *s, int k)
{
    char v[4 * CPQ_PROTO_MARK_MAX + 1];
    const char *m;

    puts_(o, " :");
    puts_(o, opts[k].name);
    switch (opts[k].kind) {
    case K_FLAG:
        return;   /* differs() only lets set flags through: ":group" means 1 */
    case K_UINT: {
        uint32_t n = k == O_LIMIT ? s->limit : k == O_OFFSET ? s->offset
                   : k == O_SNIPPET ? s->snippet : k == O_BUDGET ? s->budget_ms : s->num;
        snprintf(v, sizeof v, "=%lu", (unsigned long)n);
        break;
    }
    case K_DBL:
        /* %.17g: strtod gives back the same double. */
        snprintf(v, sizeof v, "=%.17g", k == O_K1 ? s->k1 : s->b);
        break;
    case K_MARK: {
        m = k == O_OPEN ? s->open : k == O_CLOSE ? s->close : s->ellipsis;
        size_t ml = strnlen(m, CPQ_PROTO_MARK_MAX);   /* bounded even if not terminated */
        v[0] = '=';
        cpq_proto_escape(v + 1, sizeof v - 1, m, ml, CPQ_PROTO_ESC_TOKEN);
        break;
    }
    }
    puts_(o, v);
}

static int is_sp(char c)
{
    return c == ' ' || c == '\t';
}

long cpq_proto_format_req(char *buf, size_t cap, const char *tag, int cmd,
                          const cpq_proto_search *s, const char *arg, size_t arglen)
{
    const char *name = cpq_proto_cmd_name(cmd);
    size_t tl = tag ? strnlen(tag, CPQ_PROTO_TAG_MAX + 1) : 0;
    out o = {buf, cap, 0};
    int wrote = 0;

    if (!name || (tl && !cpq_proto_tag_valid(tag, tl)) || (arglen && !arg)) return -1;
    /* The parser drops white space around the arguments: so does this. */
    while (arglen && is_sp(arg[0])) arg++, arglen--;
    while (arglen && is_sp(arg[arglen - 1])) arglen--;
    if (arglen >= CPQ_PROTO_LINE_MAX || memchr(arg ? arg : "", '\n', arglen) ||
        memchr(arg ? arg : "", '\r', arglen) || memchr(arg ? arg : "", '\0', arglen) ||
        !cpq_proto_utf8_valid(arg, arglen))
        return -1;

    if (tl) {
        put(&o, "@", 1);
        put(&o, tag, tl);
        put(&o, " ", 1);
    }
    puts_(&o, name);
    for (int k = 0; s && k < O_COUNT; k++) {
        if (!(opts[k].cmds & (1u << cmd)) || !differs(s, k)) continue;
        put_opt(&o, s, k);
        wrote = 1;
    }
    if (arglen) {
        /* Without "--" an argument word like ":x" or "--" would be taken
         * for an option or the end of options. */
        int dd = arglen >= 2 && arg[0] == '-' && arg[1] == '-' && (arglen == 2 || is_sp(arg[2]));
        if (wrote || arg[0] == ':' || dd) put(&o, " --", 3);
        put(&o, " ", 1);
        put(&o, arg, arglen);
    }
    put(&o, "\n", 1);
    if (cap) buf[o.len < cap ? o.len : cap - 1] = '\0';
    if (o.len > CPQ_PROTO_LINE_MAX) return -1;
    return (long)o.len;
}
