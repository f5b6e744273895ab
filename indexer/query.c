/*
 * query.c - the query parser (API in query.h; the language in QUERY.md).
 *
 * A hand-written lexer feeds a recursive-descent parser with one token of
 * lookahead, one function per precedence level:
 *
 *   parse_list (juxtaposition) > parse_or > parse_and > parse_unary
 *     > parse_near > parse_primary
 *
 * The only recursion is parse_primary -> parse_list at '(' and it is
 * bounded by CPQ_QUERY_MAX_DEPTH, so the stack use is bounded whatever
 * the input.  Every loop consumes a token per iteration, and the text is
 * at most CPQ_QUERY_MAX_BYTES long, so parsing always ends quickly.
 *
 * Words and phrases are analysed as soon as they are read; a construct
 * that analysis emptied is carried as "not present" so that syntax errors
 * never depend on the analyser (`the AND` is an error with or without
 * stopwords, `+the` never is).  Groups are normalised as they close
 * (QUERY.md, "Normalisation"), bottom-up, so no pass over the finished
 * tree is needed.
 *
 * Memory: every node, term and list cell lives in the query's arena;
 * nothing is freed before cpq_query_free.  List cells are copied when a
 * group is spliced into its parent, so a leaf can be copied once per
 * nesting level: at most CPQ_QUERY_MAX_TERMS * CPQ_QUERY_MAX_DEPTH cells
 * (under 1 MiB) in the worst case, which we accept for the simplicity.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <utf8proc.h>

#include "query.h"

/* ===================================================================== */
/* Arena                                                                 */
/* ===================================================================== */

/* Under glibc's 1 KiB large-request threshold: a large malloc first merges
 * every freed small chunk (malloc_consolidate), a tenth of a short query's
 * time when each parse began with one. */
#define QCHUNK_MIN 896

typedef struct qchunk {
    struct qchunk *next;
    size_t used, cap;    /* bytes of data[] */
    max_align_t data[];  /* max_align_t elements keep every allocation aligned */
} qchunk;

struct cpq_query {
    qchunk *chunks;
    cpq_qnode root;
    size_t nterms;  /* while parsing: terms analysed so far (the limit); then: terms in the tree */
};

/* Returns aligned zeroed-free storage of n bytes owned by q, or NULL. */
static void *qalloc(cpq_query *q, size_t n)
{
    const size_t al = sizeof(max_align_t);
    qchunk *c = q->chunks;
    void *r;

    n = n ? (n + al - 1) / al * al : al;   /* n is small: bounded by the query length */
    if (!c || c->cap - c->used < n) {
        size_t cap = n > QCHUNK_MIN ? n : QCHUNK_MIN;

        c = malloc(sizeof *c + cap);
        if (!c)
            return NULL;
        c->next = q->chunks;
        c->used = 0;
        c->cap = cap;
        q->chunks = c;
    }
    r = (unsigned char *)c->data + c->used;
    c->used += n;
    return r;
}

/* ===================================================================== */
/* Lexer                                                                 */
/* ===================================================================== */

enum qtk {
    T_EOF, T_WORD, T_PHRASE, T_LPAREN, T_RPAREN, T_PLUS, T_MINUS,
    T_AND, T_OR, T_NOT, T_NEAR,
};

typedef struct qtok {
    enum qtk kind;
    size_t start, end;  /* bytes of the token; a phrase includes its quotes */
    uint32_t k;         /* T_NEAR: the distance */
    int prefix;         /* T_WORD: ends in '*' */
} qtok;

/* One clause of a group being built: a node whose occur is its role. */
typedef struct qclause {
    cpq_qnode node;
    struct qclause *next;
} qclause;

typedef struct qlist {
    qclause *head, *tail;
    size_t n;     /* clauses */
    size_t npos;  /* clauses that are SHOULD or MUST */
} qlist;

typedef struct qparser {
    const unsigned char *s;
    size_t len;
    size_t at;          /* lexer position */
    qtok tok;           /* lookahead, valid when peeked */
    int peeked;
    cpq_analyzer *an, *pan;
    cpq_occur bare;     /* occur of a clause without +, - or NOT */
    cpq_query *q;
    cpq_errinfo *e;
    cpq_qterm tmp[CPQ_QUERY_MAX_TERMS];  /* terms of the leaf being analysed */
    size_t ntmp;
} qparser;

/* The 1-based character column of byte offset off: code points, an
 * invalid byte counting as one character. */
static size_t column(const qparser *p, size_t off)
{
    size_t i = 0, col = 1;

    while (i < off && i < p->len) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t n = utf8proc_iterate(p->s + i, (utf8proc_ssize_t)(p->len - i), &cp);

        i += n > 0 ? (size_t)n : 1;
        col++;
    }
    return col;
}

#if defined(__GNUC__)
__attribute__((format(printf, 4, 5)))
#endif
static int perr(qparser *p, int code, size_t off, const char *fmt, ...)
{
    char m[CPQ_ERRMSG_MAX];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(m, sizeof m, fmt, ap);
    va_end(ap);
    return cpq_err_set(p->e, code, "column %zu: %s", column(p, off), m);
}

static int nomem(qparser *p)
{
    return cpq_err_set(p->e, CPQ_ENOMEM, "out of memory while parsing the query");
}

/* Byte length of the whitespace character at i, or 0.  Unicode space
 * separators count, so "a\u3000b" is two words as the user meant. */
static size_t space_at(const unsigned char *s, size_t len, size_t i)
{
    utf8proc_int32_t cp;
    utf8proc_ssize_t n;
    utf8proc_category_t cat;

    if (s[i] < 0x80)
        return s[i] == ' ' || (s[i] >= '\t' && s[i] <= '\r');
    n = utf8proc_iterate(s + i, (utf8proc_ssize_t)(len - i), &cp);
    if (n <= 0)
        return 0;
    if (cp == 0x85)  /* NEL */
        return (size_t)n;
    cat = utf8proc_category(cp);
    return cat == UTF8PROC_CATEGORY_ZS || cat == UTF8PROC_CATEGORY_ZL ||
           cat == UTF8PROC_CATEGORY_ZP ? (size_t)n : 0;
}

/* Byte length of the character at i; 1 for an invalid byte. */
static size_t char_len(const unsigned char *s, size_t len, size_t i)
{
    utf8proc_int32_t cp;
    utf8proc_ssize_t n;

    if (s[i] < 0x80)
        return 1;
    n = utf8proc_iterate(s + i, (utf8proc_ssize_t)(len - i), &cp);
    return n > 0 ? (size_t)n : 1;
}

static int is_word(const unsigned char *w, size_t n, const char *kw)
{
    return n == strlen(kw) && memcmp(w, kw, n) == 0;
}

static int lex(qparser *p, qtok *t)
{
    const unsigned char *s = p->s;
    size_t i = p->at, n, j;

    while (i < p->len && (n = space_at(s, p->len, i)) > 0)
        i += n;
    memset(t, 0, sizeof *t);
    t->start = t->end = i;
    if (i >= p->len) {
        t->kind = T_EOF;
        p->at = i;
        return CPQ_OK;
    }
    t->end = i + 1;
    switch (s[i]) {
    case '(': t->kind = T_LPAREN; break;
    case ')': t->kind = T_RPAREN; break;
    case '+': t->kind = T_PLUS; break;
    case '-': t->kind = T_MINUS; break;
    case '"': {
        const unsigned char *close = memchr(s + i + 1, '"', p->len - i - 1);

        if (!close)
            return perr(p, CPQ_EPARSE, i, "unbalanced '\"'");
        t->kind = T_PHRASE;
        t->end = (size_t)(close - s) + 1;
        break;
    }
    default:
        j = i;
        while (j < p->len && s[j] != '"' && s[j] != '(' && s[j] != ')' && !space_at(s, p->len, j))
            j += char_len(s, p->len, j);
        t->end = j;
        n = j - i;
        if (is_word(s + i, n, "AND")) {
            t->kind = T_AND;
        } else if (is_word(s + i, n, "OR")) {
            t->kind = T_OR;
        } else if (is_word(s + i, n, "NOT")) {
            t->kind = T_NOT;
        } else if (n >= 5 && memcmp(s + i, "NEAR/", 5) == 0) {
            uint32_t k = 0;
            size_t d;

            for (d = i + 5; d < j && s[d] >= '0' && s[d] <= '9' && k <= CPQ_QUERY_MAX_NEAR; d++)
                k = k * 10 + (uint32_t)(s[d] - '0');
            if (d == i + 5 || d != j || k > CPQ_QUERY_MAX_NEAR)
                return perr(p, CPQ_EPARSE, i, "NEAR/k needs a distance k from 0 to %u",
                            CPQ_QUERY_MAX_NEAR);
            t->kind = T_NEAR;
            t->k = k;
        } else {
            t->kind = T_WORD;
            t->prefix = s[j - 1] == '*';
        }
        break;
    }
    p->at = t->end;
    return CPQ_OK;
}

/* Point *t at the lookahead token, lexing it if needed. */
static int peek(qparser *p, const qtok **t)
{
    if (!p->peeked) {
        int rc = lex(p, &p->tok);

        if (rc)
            return rc;
        p->peeked = 1;
    }
    *t = &p->tok;
    return CPQ_OK;
}

static void consume(qparser *p)
{
    p->peeked = 0;
}

static int starts_operand(const qtok *t)
{
    return t->kind == T_WORD || t->kind == T_PHRASE || t->kind == T_LPAREN;
}

/* How an operator token is named in messages ("AND", "NEAR/3", "'+'"). */
static const char *opname(const qtok *t, char *buf, size_t cap)
{
    switch (t->kind) {
    case T_PLUS: return "'+'";
    case T_MINUS: return "'-'";
    case T_AND: return "AND";
    case T_OR: return "OR";
    case T_NOT: return "NOT";
    case T_NEAR: snprintf(buf, cap, "NEAR/%u", (unsigned)t->k); return buf;
    default: return "?";
    }
}

/* ===================================================================== */
/* Lists and normalisation                                               */
/* ===================================================================== */

static int push(qparser *p, qlist *l, const cpq_qnode *node, cpq_occur occur)
{
    qclause *c = qalloc(p->q, sizeof *c);

    if (!c)
        return nomem(p);
    c->node = *node;
    c->node.occur = occur;
    c->next = NULL;
    if (l->tail)
        l->tail->next = c;
    else
        l->head = c;
    l->tail = c;
    l->n++;
    l->npos += occur != CPQ_OCCUR_MUST_NOT;
    return CPQ_OK;
}

/* Add node to l with the given occur, splicing a BOOL whose children can
 * join the parent without changing what matches or how it scores:
 *   SHOULD (bool of SHOULDs)          -> its SHOULD children
 *   MUST   (bool of MUSTs, MUST_NOTs) -> its children, keeping their occur */
static int list_add(qparser *p, qlist *l, const cpq_qnode *node, cpq_occur occur)
{
    if (node->kind == CPQ_Q_BOOL) {
        size_t i, nshould = 0;

        for (i = 0; i < node->nchildren; i++)
            nshould += node->children[i].occur == CPQ_OCCUR_SHOULD;
        if ((occur == CPQ_OCCUR_SHOULD && nshould == node->nchildren) ||
            (occur == CPQ_OCCUR_MUST && nshould == 0)) {
            for (i = 0; i < node->nchildren; i++) {
                int rc = push(p, l, &node->children[i], node->children[i].occur);

                if (rc)
                    return rc;
            }
            return CPQ_OK;
        }
    }
    return push(p, l, node, occur);
}

static void list_concat(qlist *l, qlist *m)
{
    if (!m->head)
        return;
    if (l->tail)
        l->tail->next = m->head;
    else
        l->head = m->head;
    l->tail = m->tail;
    l->n += m->n;
    l->npos += m->npos;
}

/* Close a group: a group with no positive clause left vanishes (*present
 * = 0); a single clause stands for the group; otherwise a BOOL. */
static int group_finish(qparser *p, const qlist *l, size_t start, size_t end,
                        cpq_qnode *out, int *present)
{
    cpq_qnode *kids;
    const qclause *c;
    size_t i = 0;

    *present = 0;
    if (l->npos == 0)
        return CPQ_OK;
    *present = 1;
    if (l->n == 1) {
        *out = l->head->node;
        return CPQ_OK;
    }
    kids = qalloc(p->q, l->n * sizeof *kids);
    if (!kids)
        return nomem(p);
    for (c = l->head; c; c = c->next)
        kids[i++] = c->node;
    memset(out, 0, sizeof *out);
    out->kind = CPQ_Q_BOOL;
    out->start = start;
    out->end = end;
    out->children = kids;
    out->nchildren = l->n;
    return CPQ_OK;
}

/* ===================================================================== */
/* Leaves                                                                */
/* ===================================================================== */

static int collect(void *ctx, const cpq_token *tok)
{
    qparser *p = ctx;
    char *b;

    if (p->q->nterms + p->ntmp >= CPQ_QUERY_MAX_TERMS)
        return CPQ_ELIMIT;
    b = qalloc(p->q, tok->len + 1);
    if (!b)
        return CPQ_ENOMEM;
    memcpy(b, tok->term, tok->len);
    b[tok->len] = '\0';
    p->tmp[p->ntmp].bytes = b;
    p->tmp[p->ntmp].len = tok->len;
    p->tmp[p->ntmp].pos = tok->pos;
    p->ntmp++;
    return 0;
}

/* Analyse s[start..end) into p->tmp; at is where a limit error points. */
static int analyse(qparser *p, cpq_analyzer *an, size_t start, size_t end, size_t at)
{
    int rc;

    p->ntmp = 0;
    rc = cpq_analyze(an, (const char *)p->s + start, end - start, 0, collect, p, NULL);
    if (rc == CPQ_ELIMIT)
        return perr(p, CPQ_ELIMIT, at, "the query has more than %u terms", CPQ_QUERY_MAX_TERMS);
    if (rc == CPQ_ENOMEM)
        return nomem(p);
    if (rc)
        return cpq_err_set(p->e, rc, "column %zu: analysis failed", column(p, at));
    return CPQ_OK;
}

/* Turn p->tmp into a leaf node (kind TERM/PREFIX/PHRASE). */
static int make_leaf(qparser *p, cpq_qkind kind, size_t start, size_t end, cpq_qnode *out)
{
    cpq_qterm *terms = qalloc(p->q, p->ntmp * sizeof *terms);
    size_t i;

    if (!terms)
        return nomem(p);
    for (i = 0; i < p->ntmp; i++) {
        terms[i] = p->tmp[i];
        terms[i].pos = kind == CPQ_Q_PHRASE ? p->tmp[i].pos - p->tmp[0].pos : 0;
    }
    memset(out, 0, sizeof *out);
    out->kind = kind;
    out->start = start;
    out->end = end;
    out->terms = terms;
    out->nterms = p->ntmp;
    p->q->nterms += p->ntmp;
    return CPQ_OK;
}

/* A parsed operand, chain or clause (see the parse_* functions). */
enum { R_ONE, R_CHAIN, R_OR };

typedef struct qres {
    int kind;
    int present;        /* R_ONE, R_OR: the node survived analysis */
    cpq_qnode node;     /* R_ONE, R_OR */
    enum qtk sign;      /* R_ONE: T_PLUS, T_MINUS, T_NOT or T_EOF (none) */
    size_t sign_at;     /* R_ONE: byte offset of the sign */
    qlist chain;        /* R_CHAIN: the operands of AND with their occurs */
    int synpos;         /* syntactically positive: not (only) negated */
    size_t start, end;  /* source range, without a leading sign */
} qres;

static int leaf_word(qparser *p, const qtok *t, qres *r)
{
    cpq_qkind kind = CPQ_Q_TERM;
    int rc;

    if (t->prefix) {
        size_t e = t->end;

        while (e > t->start && p->s[e - 1] == '*')
            e--;
        if (e == t->start)
            return perr(p, CPQ_EPARSE, t->start, "'*' needs at least one character before it");
        rc = analyse(p, p->pan, t->start, e, t->start);
        if (rc)
            return rc;
        if (p->ntmp > 1)
            return perr(p, CPQ_EPARSE, t->start,
                        "a prefix must be a single word, but this one analyses into %zu terms",
                        p->ntmp);
        kind = CPQ_Q_PREFIX;
    } else {
        rc = analyse(p, p->an, t->start, t->end, t->start);
        if (rc)
            return rc;
        if (p->ntmp > 1)
            kind = CPQ_Q_PHRASE;  /* "e-mail", "x86_64", CJK bigrams: as Lucene does */
    }
    r->present = p->ntmp > 0;
    return r->present ? make_leaf(p, kind, t->start, t->end, &r->node) : CPQ_OK;
}

static int leaf_phrase(qparser *p, const qtok *t, qres *r)
{
    int rc = analyse(p, p->an, t->start + 1, t->end - 1, t->start);

    if (rc)
        return rc;
    r->present = p->ntmp > 0;
    if (!r->present)
        return CPQ_OK;
    return make_leaf(p, p->ntmp > 1 ? CPQ_Q_PHRASE : CPQ_Q_TERM, t->start, t->end, &r->node);
}

/* ===================================================================== */
/* Parser                                                                */
/* ===================================================================== */

static int parse_list(qparser *p, unsigned depth, qlist *l, int *synpos, size_t *nclauses);

/* primary = word | prefix | phrase | "(" list ")".  need is the binary
 * operator waiting for this operand (for the message when there is none). */
static int parse_primary(qparser *p, unsigned depth, const qtok *need, qres *r)
{
    const qtok *t;
    qtok tk;
    char nb[32];
    int rc = peek(p, &t);

    if (rc)
        return rc;
    tk = *t;
    memset(r, 0, sizeof *r);
    r->kind = R_ONE;
    r->sign = T_EOF;
    r->synpos = 1;
    r->start = tk.start;
    r->end = tk.end;
    switch (tk.kind) {
    case T_WORD:
        consume(p);
        return leaf_word(p, &tk, r);
    case T_PHRASE:
        consume(p);
        return leaf_phrase(p, &tk, r);
    case T_LPAREN: {
        qlist l = {0};
        int gpos = 0;
        size_t n = 0;

        if (depth >= CPQ_QUERY_MAX_DEPTH)
            return perr(p, CPQ_ELIMIT, tk.start, "parentheses nested deeper than %u",
                        CPQ_QUERY_MAX_DEPTH);
        consume(p);
        rc = parse_list(p, depth + 1, &l, &gpos, &n);
        if (rc)
            return rc;
        if ((rc = peek(p, &t)) != CPQ_OK)
            return rc;
        if (t->kind != T_RPAREN)
            return perr(p, CPQ_EPARSE, tk.start, "unbalanced '('");
        r->end = t->end;
        consume(p);
        if (n == 0)
            return perr(p, CPQ_EPARSE, tk.start, "empty group '()'");
        if (!gpos)
            return perr(p, CPQ_EPARSE, tk.start,
                        "a group needs at least one term that is not excluded");
        return group_finish(p, &l, r->start, r->end, &r->node, &r->present);
    }
    default:
        if (need)
            return perr(p, CPQ_EPARSE, need->start, "%s has nothing on its right",
                        opname(need, nb, sizeof nb));
        if (tk.kind == T_RPAREN)  /* not reached: parse_list stops at ')' */
            return perr(p, CPQ_EPARSE, tk.start, "unbalanced ')'");
        return perr(p, CPQ_EPARSE, tk.start, "%s has nothing on its left",
                    opname(&tk, nb, sizeof nb));
    }
}

static int near_operand(const qtok *t)
{
    return (t->kind == T_WORD && !t->prefix) || t->kind == T_PHRASE;
}

/* near = primary [ NEAR/k primary ], both operands terms or phrases. */
static int parse_near(qparser *p, unsigned depth, const qtok *need, qres *r)
{
    const qtok *t;
    qtok op;
    qres b;
    char nb[32];
    int left_ok, rc = peek(p, &t);

    if (rc)
        return rc;
    left_ok = near_operand(t);
    if ((rc = parse_primary(p, depth, need, r)) != CPQ_OK)
        return rc;
    if ((rc = peek(p, &t)) != CPQ_OK)
        return rc;
    if (t->kind != T_NEAR)
        return CPQ_OK;
    op = *t;
    consume(p);
    if (!left_ok)
        return perr(p, CPQ_EPARSE, op.start, "the operands of %s must be terms or phrases",
                    opname(&op, nb, sizeof nb));
    if ((rc = peek(p, &t)) != CPQ_OK)
        return rc;
    if (!near_operand(t)) {
        if (starts_operand(t) || t->kind == T_PLUS || t->kind == T_MINUS || t->kind == T_NOT)
            return perr(p, CPQ_EPARSE, op.start, "the operands of %s must be terms or phrases",
                        opname(&op, nb, sizeof nb));
        return perr(p, CPQ_EPARSE, op.start, "%s has nothing on its right",
                    opname(&op, nb, sizeof nb));
    }
    if ((rc = parse_primary(p, depth, &op, &b)) != CPQ_OK)
        return rc;
    if ((rc = peek(p, &t)) != CPQ_OK)
        return rc;
    if (t->kind == T_NEAR)
        return perr(p, CPQ_EPARSE, t->start,
                    "NEAR cannot be chained: it joins exactly two terms or phrases");
    r->end = b.end;
    if (r->present && b.present) {
        cpq_qnode *kids = qalloc(p->q, 2 * sizeof *kids);

        if (!kids)
            return nomem(p);
        kids[0] = r->node;
        kids[1] = b.node;
        kids[0].occur = kids[1].occur = CPQ_OCCUR_MUST;
        memset(&r->node, 0, sizeof r->node);
        r->node.kind = CPQ_Q_NEAR;
        r->node.start = r->start;
        r->node.end = r->end;
        r->node.distance = op.k;
        r->node.children = kids;
        r->node.nchildren = 2;
    } else if (b.present) {
        /* One side vanished in analysis: NEAR degrades to the other side. */
        r->node = b.node;
        r->present = 1;
    }
    return CPQ_OK;
}

/* unary = [ "+" | "-" | "NOT" ] near.  + and - must touch their operand. */
static int parse_unary(qparser *p, unsigned depth, const qtok *need, qres *r)
{
    const qtok *t;
    qtok sg;
    char nb[32];
    int rc = peek(p, &t);

    if (rc)
        return rc;
    if (t->kind != T_PLUS && t->kind != T_MINUS && t->kind != T_NOT)
        return parse_near(p, depth, need, r);
    sg = *t;
    consume(p);
    if ((rc = peek(p, &t)) != CPQ_OK)
        return rc;
    if (sg.kind == T_NOT) {
        if (!starts_operand(t)) {
            if (t->kind == T_PLUS || t->kind == T_MINUS || t->kind == T_NOT)
                return perr(p, CPQ_EPARSE, sg.start,
                            "NOT must be followed by a term, phrase or group");
            return perr(p, CPQ_EPARSE, sg.start, "NOT has nothing on its right");
        }
    } else if (!starts_operand(t) || t->start != sg.end) {
        return perr(p, CPQ_EPARSE, sg.start,
                    "%s must be directly followed by a term, phrase or group",
                    opname(&sg, nb, sizeof nb));
    }
    if ((rc = parse_near(p, depth, NULL, r)) != CPQ_OK)
        return rc;
    r->sign = sg.kind;
    r->sign_at = sg.start;
    r->synpos = sg.kind == T_PLUS;
    return CPQ_OK;
}

/* and = unary { "AND" unary }.  A chain of two or more comes back as
 * R_CHAIN: its operands with their occurs (MUST, or MUST_NOT if negated). */
static int parse_and(qparser *p, unsigned depth, const qtok *need, qres *r)
{
    const qtok *t;
    qres x;
    qlist l = {0};
    int synpos, rc = parse_unary(p, depth, need, r);

    if (rc)
        return rc;
    if ((rc = peek(p, &t)) != CPQ_OK)
        return rc;
    if (t->kind != T_AND)
        return CPQ_OK;
    x = *r;
    synpos = 0;
    for (;;) {
        cpq_occur oc = x.sign == T_MINUS || x.sign == T_NOT ? CPQ_OCCUR_MUST_NOT : CPQ_OCCUR_MUST;
        qtok op;

        synpos |= oc == CPQ_OCCUR_MUST;
        if (x.present && (rc = list_add(p, &l, &x.node, oc)) != CPQ_OK)
            return rc;
        r->end = x.end;
        if ((rc = peek(p, &t)) != CPQ_OK)
            return rc;
        if (t->kind != T_AND)
            break;
        op = *t;
        consume(p);
        if ((rc = parse_unary(p, depth, &op, &x)) != CPQ_OK)
            return rc;
    }
    r->kind = R_CHAIN;
    r->chain = l;
    r->synpos = synpos;
    r->present = 0;
    if (r->sign != T_EOF)
        r->start = r->sign_at;
    r->sign = T_EOF;
    return CPQ_OK;
}

/* Turn an operand of OR into a node (vanished: *present = 0). */
static int or_operand(qparser *p, const qres *x, cpq_qnode *node, int *present)
{
    char nb[32];
    qtok sg;

    if (x->kind == R_CHAIN) {
        if (!x->synpos)
            return perr(p, CPQ_EPARSE, x->start,
                        "an operand of OR needs at least one term that is not excluded");
        return group_finish(p, &x->chain, x->start, x->end, node, present);
    }
    if (x->sign != T_EOF) {
        memset(&sg, 0, sizeof sg);
        sg.kind = x->sign;
        return perr(p, CPQ_EPARSE, x->sign_at, "%s cannot apply to an operand of OR",
                    opname(&sg, nb, sizeof nb));
    }
    *node = x->node;
    *present = x->present;
    return CPQ_OK;
}

/* or = and { "OR" and }.  A chain comes back as R_OR: a group of SHOULDs. */
static int parse_or(qparser *p, unsigned depth, qres *r)
{
    const qtok *t;
    qres x;
    qlist l = {0};
    size_t start;
    int rc = parse_and(p, depth, NULL, r);

    if (rc)
        return rc;
    if ((rc = peek(p, &t)) != CPQ_OK)
        return rc;
    if (t->kind != T_OR)
        return CPQ_OK;
    x = *r;
    start = r->kind == R_ONE && r->sign != T_EOF ? r->sign_at : r->start;
    for (;;) {
        cpq_qnode node;
        int present;
        qtok op;

        if ((rc = or_operand(p, &x, &node, &present)) != CPQ_OK)
            return rc;
        if (present && (rc = list_add(p, &l, &node, CPQ_OCCUR_SHOULD)) != CPQ_OK)
            return rc;
        r->end = x.end;
        if ((rc = peek(p, &t)) != CPQ_OK)
            return rc;
        if (t->kind != T_OR)
            break;
        op = *t;
        consume(p);
        if ((rc = parse_and(p, depth, &op, &x)) != CPQ_OK)
            return rc;
    }
    r->kind = R_OR;
    r->sign = T_EOF;
    r->synpos = 1;
    r->start = start;
    return group_finish(p, &l, r->start, r->end, &r->node, &r->present);
}

/* list = clause { clause }, up to ')' or the end.  *synpos: some clause is
 * syntactically positive; *nclauses: clauses read. */
static int parse_list(qparser *p, unsigned depth, qlist *l, int *synpos, size_t *nclauses)
{
    for (;;) {
        const qtok *t;
        qres r;
        int rc = peek(p, &t);

        if (rc)
            return rc;
        if (t->kind == T_EOF)
            return CPQ_OK;
        if (t->kind == T_RPAREN) {
            if (depth == 0)
                return perr(p, CPQ_EPARSE, t->start, "unbalanced ')'");
            return CPQ_OK;
        }
        if ((rc = parse_or(p, depth, &r)) != CPQ_OK)
            return rc;
        (*nclauses)++;
        *synpos |= r.synpos;
        if (r.kind == R_CHAIN) {
            list_concat(l, &r.chain);
        } else if (r.present) {
            cpq_occur oc = p->bare;

            if (r.kind == R_ONE && r.sign == T_PLUS)
                oc = CPQ_OCCUR_MUST;
            else if (r.kind == R_ONE && r.sign != T_EOF)
                oc = CPQ_OCCUR_MUST_NOT;
            if ((rc = list_add(p, l, &r.node, oc)) != CPQ_OK)
                return rc;
        }
    }
}

/* ===================================================================== */
/* API                                                                   */
/* ===================================================================== */

/* Leaf terms under n.  Recursion depth is the tree's, bounded by the
 * parser (see out_node). */
static size_t count_terms(const cpq_qnode *n)
{
    size_t i, t = n->nterms;

    for (i = 0; i < n->nchildren; i++)
        t += count_terms(&n->children[i]);
    return t;
}

int cpq_query_parse(const char *text, size_t len, cpq_analyzer *an, cpq_analyzer *prefix_an,
                    unsigned flags, cpq_query **out, cpq_errinfo *e)
{
    qparser ps;
    qparser *p = &ps;
    cpq_query *q = NULL;
    qlist l = {0};
    int synpos = 0, rc;
    size_t n = 0;

    if (out)
        *out = NULL;
    if (!out || (!text && len) || !an || !prefix_an)
        return cpq_err_set(e, CPQ_EINVAL, "cpq_query_parse: NULL argument");
    if (flags & ~CPQ_QUERY_ALL_WORDS)
        return cpq_err_set(e, CPQ_EINVAL, "cpq_query_parse: unknown flags 0x%x", flags);
    if (len > CPQ_QUERY_MAX_BYTES)
        return cpq_err_set(e, CPQ_ELIMIT, "the query is %zu bytes long; the limit is %u",
                           len, CPQ_QUERY_MAX_BYTES);
    /* The parser lives on the stack; its 6 KiB term buffer is filled
     * before it is read, so only the fields before it are zeroed. */
    memset(p, 0, offsetof(qparser, tmp));
    p->ntmp = 0;
    q = calloc(1, sizeof *q);
    if (!q) {
        rc = cpq_err_set(e, CPQ_ENOMEM, "out of memory while parsing the query");
        goto out;
    }
    p->s = (const unsigned char *)(text ? text : "");
    p->len = len;
    p->an = an;
    p->pan = prefix_an;
    p->bare = flags & CPQ_QUERY_ALL_WORDS ? CPQ_OCCUR_MUST : CPQ_OCCUR_SHOULD;
    p->q = q;
    p->e = e;

    if ((rc = parse_list(p, 0, &l, &synpos, &n)) != CPQ_OK)
        goto out;
    if (n == 0) {
        rc = perr(p, CPQ_EPARSE, 0, "empty query");
        goto out;
    }
    if (!synpos) {
        size_t i = 0;

        while (i < len && space_at(p->s, len, i))
            i += space_at(p->s, len, i);
        rc = perr(p, CPQ_EPARSE, i, "a query needs at least one term that is not excluded");
        goto out;
    }
    if (l.npos == 0) {
        /* Every positive clause vanished in analysis: an empty BOOL. */
        memset(&q->root, 0, sizeof q->root);
        q->root.kind = CPQ_Q_BOOL;
    } else if (l.n == 1 && l.head->node.kind == CPQ_Q_BOOL) {
        q->root = l.head->node;
    } else {
        int present;

        if ((rc = group_finish(p, &l, 0, len, &q->root, &present)) != CPQ_OK)
            goto out;
        if (q->root.kind != CPQ_Q_BOOL) {  /* a single leaf: the root stays a BOOL */
            cpq_qnode *kid = qalloc(q, sizeof *kid);

            if (!kid) {
                rc = nomem(p);
                goto out;
            }
            *kid = l.head->node;
            memset(&q->root, 0, sizeof q->root);
            q->root.kind = CPQ_Q_BOOL;
            q->root.children = kid;
            q->root.nchildren = 1;
        }
    }
    q->root.occur = CPQ_OCCUR_SHOULD;
    q->root.start = 0;
    q->root.end = len;
    q->nterms = count_terms(&q->root);  /* leaves dropped by normalisation no longer count */
    *out = q;
    q = NULL;
out:
    cpq_query_free(q);
    return rc;
}

void cpq_query_free(cpq_query *q)
{
    qchunk *c, *next;

    if (!q)
        return;
    for (c = q->chunks; c; c = next) {
        next = c->next;
        free(c);
    }
    free(q);
}

const cpq_qnode *cpq_query_root(const cpq_query *q)
{
    return &q->root;
}

size_t cpq_query_nterms(const cpq_query *q)
{
    return q->nterms;
}

const char *cpq_qkind_name(cpq_qkind k)
{
    switch (k) {
    case CPQ_Q_TERM: return "term";
    case CPQ_Q_PREFIX: return "prefix";
    case CPQ_Q_PHRASE: return "phrase";
    case CPQ_Q_NEAR: return "near";
    case CPQ_Q_BOOL: return "bool";
    }
    return "?";
}

const char *cpq_occur_name(cpq_occur o)
{
    switch (o) {
    case CPQ_OCCUR_SHOULD: return "should";
    case CPQ_OCCUR_MUST: return "must";
    case CPQ_OCCUR_MUST_NOT: return "must_not";
    }
    return "?";
}

/* ===================================================================== */
/* Formatting                                                            */
/* ===================================================================== */

typedef struct qout {
    char *buf;
    size_t cap, n;   /* n counts every byte of the full rendering */
} qout;

static void out_bytes(qout *o, const char *s, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++, o->n++)
        if (o->cap && o->n < o->cap - 1)
            o->buf[o->n] = s[i];
}

static void out_str(qout *o, const char *s)
{
    out_bytes(o, s, strlen(s));
}

static void out_quoted(qout *o, const cpq_qterm *t)
{
    size_t i;

    out_str(o, "\"");
    for (i = 0; i < t->len; i++) {
        unsigned char c = (unsigned char)t->bytes[i];
        char esc[8];

        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            out_bytes(o, esc, 2);
        } else if (c < 0x20 || c == 0x7f) {
            snprintf(esc, sizeof esc, "\\x%02x", c);
            out_str(o, esc);
        } else {
            out_bytes(o, (const char *)&c, 1);
        }
    }
    out_str(o, "\"");
}

/* Recursion depth is the tree's, which the parser bounds (about three
 * levels per parenthesis plus NEAR and a leaf). */
static void out_node(qout *o, const cpq_qnode *nd)
{
    char num[32];
    size_t i;

    out_str(o, "(");
    out_str(o, cpq_qkind_name(nd->kind));
    switch (nd->kind) {
    case CPQ_Q_TERM:
    case CPQ_Q_PREFIX:
    case CPQ_Q_PHRASE:
        for (i = 0; i < nd->nterms; i++) {
            out_str(o, " ");
            out_quoted(o, &nd->terms[i]);
            if (i > 0 && nd->terms[i].pos != nd->terms[i - 1].pos + 1) {
                snprintf(num, sizeof num, "@%u", (unsigned)nd->terms[i].pos);
                out_str(o, num);
            }
        }
        break;
    case CPQ_Q_NEAR:
        snprintf(num, sizeof num, " %u", (unsigned)nd->distance);
        out_str(o, num);
        for (i = 0; i < nd->nchildren; i++) {
            out_str(o, " ");
            out_node(o, &nd->children[i]);
        }
        break;
    case CPQ_Q_BOOL:
        for (i = 0; i < nd->nchildren; i++) {
            out_str(o, " (");
            out_str(o, cpq_occur_name(nd->children[i].occur));
            out_str(o, " ");
            out_node(o, &nd->children[i]);
            out_str(o, ")");
        }
        break;
    }
    out_str(o, ")");
}

size_t cpq_query_format(const cpq_query *q, char *buf, size_t cap)
{
    qout o = { buf, cap, 0 };

    out_node(&o, &q->root);
    if (cap)
        buf[o.n < cap ? o.n : cap - 1] = '\0';
    return o.n;
}
