/*
 * jsonl.c - the JSON Lines record reader and UTF-8 repair (see jsonl.h).
 *
 * The parser is a hand-written scanner over one line: it never recurses
 * (skipped containers are tracked with a fixed stack of CPQ_JSON_DEPTH
 * bytes), never reads at or past len, and allocates only the three field
 * buffers of the record, each at most about the length of the line (plus
 * 3 bytes per invalid UTF-8 byte, which is where the 3*len bound of
 * cpq_utf8_repair comes from).
 *
 * Speed: string bodies are copied in runs found 8 bytes at a time (a run
 * ends at '"', '\\' or a byte >= 0x80), so plain ASCII text costs a memcpy.
 * Non-ASCII text is validated one sequence at a time; a run-based validator
 * for UTF-8 would be the next step if CJK-heavy corpora turn out slow.
 *
 * Leniencies, on purpose: raw control characters (U+0000..U+001F) inside
 * strings are accepted as they are, like Python's json.loads(strict=False);
 * duplicate members are accepted and the last one wins.
 */
#include "jsonl.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- UTF-8 ---------------------------------------------------------- */

#define STR_(x) #x
#define STR(x) STR_(x)

#define HI8  0x8080808080808080ULL
#define ONES 0x0101010101010101ULL

static inline uint64_t load64(const unsigned char *p)
{
    uint64_t x;
    memcpy(&x, p, 8);
    return x;
}

/* Classify the bytes at s[0..n), n >= 1: returns the length (1..4) of the
 * valid UTF-8 sequence there, or minus the length of the maximal invalid
 * subpart (Unicode 15, section 3.9, table 3-7), which is always >= 1. */
static inline int utf8_seq(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    unsigned lo = 0x80, hi = 0xBF;

    if (c < 0x80)
        return 1;
    if (c < 0xC2)
        return -1; /* stray continuation byte, or overlong lead C0/C1 */
    if (c < 0xE0)
        return (n >= 2 && (s[1] & 0xC0) == 0x80) ? 2 : -1;
    if (c < 0xF0) {
        if (c == 0xE0)
            lo = 0xA0; /* overlong */
        else if (c == 0xED)
            hi = 0x9F; /* surrogates */
        if (n < 2 || s[1] < lo || s[1] > hi)
            return -1;
        if (n < 3 || (s[2] & 0xC0) != 0x80)
            return -2;
        return 3;
    }
    if (c < 0xF5) {
        if (c == 0xF0)
            lo = 0x90; /* overlong */
        else if (c == 0xF4)
            hi = 0x8F; /* above U+10FFFF */
        if (n < 2 || s[1] < lo || s[1] > hi)
            return -1;
        if (n < 3 || (s[2] & 0xC0) != 0x80)
            return -2;
        if (n < 4 || (s[3] & 0xC0) != 0x80)
            return -3;
        return 4;
    }
    return -1;
}

static const char REPL[3] = {(char)0xEF, (char)0xBF, (char)0xBD}; /* U+FFFD */

int cpq_utf8_valid(const char *src, size_t len)
{
    const unsigned char *s = (const unsigned char *)src;
    size_t i = 0;

    while (i < len) {
        if (len - i >= 16 && ((load64(s + i) | load64(s + i + 8)) & HI8) == 0) {
            i += 16;
            continue;
        }
        if (s[i] < 0x80) {
            i++;
            continue;
        }
        int k = utf8_seq(s + i, len - i);
        if (k < 0)
            return 0;
        i += (size_t)k;
    }
    return 1;
}

size_t cpq_utf8_repair(const char *src, size_t len, char *dst, size_t *nbad)
{
    const unsigned char *s = (const unsigned char *)src;
    size_t i = 0, o = 0, bad = 0;

    while (i < len) {
        if (len - i >= 8) {
            uint64_t x = load64(s + i);
            if ((x & HI8) == 0) {
                memcpy(dst + o, s + i, 8);
                i += 8;
                o += 8;
                continue;
            }
        }
        if (s[i] < 0x80) {
            dst[o++] = (char)s[i++];
            continue;
        }
        int k = utf8_seq(s + i, len - i);
        if (k > 0) {
            memcpy(dst + o, s + i, (size_t)k);
            o += (size_t)k;
            i += (size_t)k;
        } else {
            memcpy(dst + o, REPL, 3);
            o += 3;
            i += (size_t)-k;
            bad++;
        }
    }
    if (nbad)
        *nbad = bad;
    return o;
}

/* ---- record buffers ------------------------------------------------- */

/* Make b->cap >= need, keeping the contents.  Returns 0 or -2 (ENOMEM). */
static int sb_reserve(cpq_strbuf *b, size_t need)
{
    if (b->cap >= need)
        return 0;
    size_t nc = b->cap ? b->cap : 64;
    while (nc < need)
        nc = nc > SIZE_MAX / 2 ? need : nc * 2;
    char *np = realloc(b->p, nc);
    if (!np)
        return -2;
    b->p = np;
    b->cap = nc;
    return 0;
}

static void sb_clear(cpq_strbuf *b)
{
    b->len = 0;
    if (b->p)
        b->p[0] = 0;
}

void cpq_jsonl_rec_free(cpq_jsonl_rec *rec)
{
    if (!rec)
        return;
    free(rec->id.p);
    free(rec->title.p);
    free(rec->text.p);
    memset(rec, 0, sizeof *rec);
}

/* ---- the parser ----------------------------------------------------- */

typedef struct jp {
    const unsigned char *s;
    size_t len, pos;
    char *err;
    size_t errcap;
    size_t repairs;
} jp;

/* Byte classes for the string scanner: 1 for a byte that is copied as is
 * (ASCII other than '"' and '\\'). */
static const unsigned char plain_byte[256] = {
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x00 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x10 */
    1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x20: '"' */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x30 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x40 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1, /* 0x50: '\\' */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x60 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x70 */
    /* 0x80..0xFF: 0 */
};

/* Nonzero when one of the 8 bytes in x is '"', '\\' or >= 0x80. */
static inline uint64_t special8(uint64_t x)
{
    uint64_t q = x ^ (ONES * 0x22), b = x ^ (ONES * 0x5C);
    return ((q - ONES) & ~q) | ((b - ONES) & ~b) | x;
}

/* Write "column N: msg, found X" into the caller's buffer; returns -1. */
static int fail(jp *p, size_t at, const char *msg)
{
    if (p->err && p->errcap) {
        char found[16];
        if (at >= p->len)
            snprintf(found, sizeof found, "end of line");
        else if (p->s[at] >= 0x20 && p->s[at] < 0x7F)
            snprintf(found, sizeof found, "'%c'", p->s[at]);
        else
            snprintf(found, sizeof found, "byte 0x%02X", (unsigned)p->s[at]);
        snprintf(p->err, p->errcap, "column %zu: %s, found %s", at + 1, msg, found);
    }
    return -1;
}

static inline void skip_ws(jp *p)
{
    while (p->pos < p->len) {
        unsigned char c = p->s[p->pos];
        if (c != ' ' && c != '\t' && c != '\r' && c != '\n')
            break;
        p->pos++;
    }
}

static inline int is_digit(unsigned c)
{
    return c - '0' < 10u;
}

static inline int hexval(unsigned c)
{
    if (c - '0' < 10)
        return (int)(c - '0');
    c |= 0x20;
    if (c - 'a' < 6)
        return (int)(c - 'a' + 10);
    return -1;
}

/* Read 4 hex digits at s[i..i+4); returns the value or -1 with *bad set to
 * the offset of the first bad (or missing) digit. */
static long hex4(const jp *p, size_t i, size_t *bad)
{
    long v = 0;
    for (size_t k = 0; k < 4; k++) {
        int h = i + k < p->len ? hexval(p->s[i + k]) : -1;
        if (h < 0) {
            *bad = i + k;
            return -1;
        }
        v = v * 16 + h;
    }
    return v;
}

/* Decode the escape whose backslash is at *ip; on success store the code
 * point in *cp (U+FFFD for a lone surrogate, with *lone set), advance *ip
 * past it and return 0.  Returns -1 (error written) for a malformed escape. */
static int read_escape(jp *p, size_t *ip, uint32_t *cp, int *lone)
{
    size_t i = *ip + 1, bad = 0;
    *lone = 0;
    if (i >= p->len)
        return fail(p, i, "expected an escape character after '\\'");
    switch (p->s[i]) {
    case '"': *cp = '"'; break;
    case '\\': *cp = '\\'; break;
    case '/': *cp = '/'; break;
    case 'b': *cp = '\b'; break;
    case 'f': *cp = '\f'; break;
    case 'n': *cp = '\n'; break;
    case 'r': *cp = '\r'; break;
    case 't': *cp = '\t'; break;
    case 'u': {
        long v = hex4(p, i + 1, &bad);
        if (v < 0)
            return fail(p, bad, "expected 4 hex digits after \\u");
        i += 4;
        if (v >= 0xD800 && v <= 0xDBFF) {
            /* A low surrogate escape must follow; if anything else does,
             * this one is lone and the next bytes are parsed on their own. */
            long lo = -1;
            if (p->len - (i + 1) >= 6 && p->s[i + 1] == '\\' && p->s[i + 2] == 'u')
                lo = hex4(p, i + 3, &bad);
            if (lo >= 0xDC00 && lo <= 0xDFFF) {
                v = 0x10000 + ((v - 0xD800) << 10) + (lo - 0xDC00);
                i += 6;
            } else {
                v = 0xFFFD;
                *lone = 1;
            }
        } else if (v >= 0xDC00 && v <= 0xDFFF) {
            v = 0xFFFD;
            *lone = 1;
        }
        *cp = (uint32_t)v;
        break;
    }
    default:
        return fail(p, i, "expected one of \"\\/bfnrtu after '\\'");
    }
    *ip = i + 1;
    return 0;
}

static inline size_t put_utf8(char *o, uint32_t cp)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xC0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | (cp >> 18));
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Parse a string body; p->pos is just past the opening quote and ends just
 * past the closing one.  With dst, the unescaped, repaired text replaces
 * dst's contents (NUL-terminated) and repairs are counted; without, the
 * string is only checked.  Returns 0, -1 (error written) or -2 (ENOMEM).
 *
 * Room is reserved per run of plain bytes, plus 5 for what ends the run (an
 * escape or a sequence yields at most 4 bytes, a repair 3, the NUL 1), so a
 * buffer grows to its own field's size (at most 3 bytes per input byte), not
 * to the line's. */
static int parse_str(jp *p, cpq_strbuf *dst)
{
    const unsigned char *s = p->s;
    const size_t len = p->len;
    size_t i = p->pos, olen = 0;
    char *o = dst ? dst->p : NULL; /* never NULL: cpq_jsonl_parse reserved 1 byte */

    for (;;) {
        size_t r = i;
        while (len - r >= 8 && !special8(load64(s + r)))
            r += 8;
        while (r < len && plain_byte[s[r]])
            r++;
        if (dst) {
            if (dst->cap - olen < (r - i) + 5) {
                if (sb_reserve(dst, olen + (r - i) + 5))
                    return -2;
                o = dst->p;
            }
            memcpy(o + olen, s + i, r - i);
            olen += r - i;
        }
        i = r;
        if (i >= len)
            return fail(p, i, "expected '\"' to end the string");
        unsigned c = s[i];
        if (c == '"') {
            i++;
            break;
        }
        if (c == '\\') {
            uint32_t cp;
            int lone;
            if (read_escape(p, &i, &cp, &lone))
                return -1;
            if (dst) {
                olen += put_utf8(o + olen, cp);
                p->repairs += (size_t)lone;
            }
            continue;
        }
        int k = utf8_seq(s + i, len - i);
        if (k > 0) {
            if (dst)
                memcpy(o + olen, s + i, (size_t)k);
            olen += (size_t)k;
            i += (size_t)k;
        } else {
            i += (size_t)-k;
            if (dst) {
                memcpy(o + olen, REPL, 3);
                olen += 3;
                p->repairs++;
            }
        }
    }
    if (dst) {
        o[olen] = 0;
        dst->len = olen;
    }
    p->pos = i;
    return 0;
}

/* Scan a JSON number at p->pos (which holds '-' or a digit). */
static int scan_number(jp *p)
{
    const unsigned char *s = p->s;
    size_t i = p->pos, len = p->len;

    if (i < len && s[i] == '-')
        i++;
    if (i >= len || !is_digit(s[i]))
        return fail(p, i, "expected a digit");
    if (s[i] == '0')
        i++;
    else
        while (i < len && is_digit(s[i]))
            i++;
    if (i < len && s[i] == '.') {
        i++;
        if (i >= len || !is_digit(s[i]))
            return fail(p, i, "expected a digit after '.'");
        while (i < len && is_digit(s[i]))
            i++;
    }
    if (i < len && (s[i] | 0x20) == 'e') {
        i++;
        if (i < len && (s[i] == '+' || s[i] == '-'))
            i++;
        if (i >= len || !is_digit(s[i]))
            return fail(p, i, "expected a digit in the exponent");
        while (i < len && is_digit(s[i]))
            i++;
    }
    p->pos = i;
    return 0;
}

/* Which member of the record a key names. */
enum { KEY_OTHER, KEY_ID, KEY_TITLE, KEY_TEXT };

/* Parse a member name (p->pos at its opening quote), the ':' after it and
 * the whitespace around that.  With which, the name is identified; names
 * are decoded (so "\u005fid" is "_id") but only far enough to compare. */
static int member_name(jp *p, int *which)
{
    if (p->pos >= p->len || p->s[p->pos] != '"')
        return fail(p, p->pos, "expected '\"' to begin a member name");
    p->pos++;
    if (!which) {
        int rc = parse_str(p, NULL);
        if (rc)
            return rc;
    } else {
        char kb[8];
        size_t kn = 0, i = p->pos;
        for (;;) {
            if (i >= p->len)
                return fail(p, i, "expected '\"' to end the member name");
            unsigned c = p->s[i];
            if (c == '"') {
                i++;
                break;
            }
            char tmp[4];
            size_t tn;
            if (c == '\\') {
                uint32_t cp;
                int lone;
                if (read_escape(p, &i, &cp, &lone))
                    return -1;
                tn = put_utf8(tmp, cp);
            } else {
                /* Raw bytes are compared as they are: an invalid byte can
                 * never make a name equal to one we look for. */
                tmp[0] = (char)c;
                tn = 1;
                i++;
            }
            for (size_t k = 0; k < tn; k++, kn++)
                if (kn < sizeof kb)
                    kb[kn] = tmp[k];
        }
        p->pos = i;
        *which = KEY_OTHER;
        if (kn == 3 && memcmp(kb, "_id", 3) == 0)
            *which = KEY_ID;
        else if (kn == 5 && memcmp(kb, "title", 5) == 0)
            *which = KEY_TITLE;
        else if (kn == 4 && memcmp(kb, "text", 4) == 0)
            *which = KEY_TEXT;
    }
    skip_ws(p);
    if (p->pos >= p->len || p->s[p->pos] != ':')
        return fail(p, p->pos, "expected ':' after member name");
    p->pos++;
    skip_ws(p);
    return 0;
}

/* Skip one value of any kind at p->pos (after whitespace), without
 * recursion: open containers are kept on a stack of CPQ_JSON_DEPTH bytes,
 * so the value may nest at most CPQ_JSON_DEPTH containers deep. */
static int skip_value(jp *p)
{
    unsigned char stack[CPQ_JSON_DEPTH]; /* 1: array, 0: object */
    size_t depth = 0;
    const unsigned char *s = p->s;
    int rc;

    for (;;) {
        /* A value is expected at p->pos. */
        if (p->pos >= p->len)
            return fail(p, p->pos, "expected a value");
        unsigned c = s[p->pos];
        if (c == '{' || c == '[') {
            if (depth == CPQ_JSON_DEPTH)
                return fail(p, p->pos, "expected at most " STR(CPQ_JSON_DEPTH) " levels of nested objects and arrays");
            stack[depth++] = c == '[';
            p->pos++;
            skip_ws(p);
            if (p->pos < p->len && s[p->pos] == (c == '[' ? ']' : '}')) {
                p->pos++;
                depth--;
            } else {
                if (c == '{' && (rc = member_name(p, NULL)) != 0)
                    return rc;
                continue;
            }
        } else if (c == '"') {
            p->pos++;
            if ((rc = parse_str(p, NULL)) != 0)
                return rc;
        } else if (c == '-' || is_digit(c)) {
            if ((rc = scan_number(p)) != 0)
                return rc;
        } else if (p->len - p->pos >= 4 && memcmp(s + p->pos, "true", 4) == 0) {
            p->pos += 4;
        } else if (p->len - p->pos >= 5 && memcmp(s + p->pos, "false", 5) == 0) {
            p->pos += 5;
        } else if (p->len - p->pos >= 4 && memcmp(s + p->pos, "null", 4) == 0) {
            p->pos += 4;
        } else {
            return fail(p, p->pos, "expected a value");
        }
        /* A value is complete: close containers until one continues. */
        for (;;) {
            if (depth == 0)
                return 0;
            skip_ws(p);
            int arr = stack[depth - 1];
            int here = p->pos < p->len ? s[p->pos] : -1;
            if (here == ',') {
                p->pos++;
                skip_ws(p);
                if (!arr && (rc = member_name(p, NULL)) != 0)
                    return rc;
                break;
            }
            if (here == (arr ? ']' : '}')) {
                p->pos++;
                depth--;
                continue;
            }
            return fail(p, p->pos, arr ? "expected ',' or ']' in array" : "expected ',' or '}' in object");
        }
    }
}

static int parse_record(jp *p, cpq_jsonl_rec *rec)
{
    const unsigned char *s = p->s;
    int have_id = 0, rc;

    skip_ws(p);
    if (p->pos >= p->len || s[p->pos] != '{')
        return fail(p, p->pos, "expected '{' to begin the record");
    p->pos++;
    skip_ws(p);
    if (p->pos < p->len && s[p->pos] == '}') {
        p->pos++;
    } else {
        for (;;) {
            int which;
            if ((rc = member_name(p, &which)) != 0)
                return rc;
            int c = p->pos < p->len ? s[p->pos] : -1;
            switch (which) {
            case KEY_ID:
                if (c == '"') {
                    p->pos++;
                    rc = parse_str(p, &rec->id);
                } else if (c == '-' || (c >= '0' && c <= '9')) {
                    size_t at = p->pos;
                    if ((rc = scan_number(p)) == 0 && (rc = sb_reserve(&rec->id, p->pos - at + 1)) == 0) {
                        memcpy(rec->id.p, s + at, p->pos - at);
                        rec->id.len = p->pos - at;
                        rec->id.p[rec->id.len] = 0;
                    }
                } else {
                    return fail(p, p->pos, "expected a string or a number as \"_id\"");
                }
                have_id = 1;
                break;
            case KEY_TITLE:
            case KEY_TEXT:
                if (c != '"')
                    return fail(p, p->pos, which == KEY_TITLE ? "expected a string as \"title\""
                                                              : "expected a string as \"text\"");
                p->pos++;
                rc = parse_str(p, which == KEY_TITLE ? &rec->title : &rec->text);
                break;
            default:
                rc = skip_value(p);
                break;
            }
            if (rc)
                return rc;
            skip_ws(p);
            c = p->pos < p->len ? s[p->pos] : -1;
            if (c == '}') {
                p->pos++;
                break;
            }
            if (c != ',')
                return fail(p, p->pos, "expected ',' or '}' after a member");
            p->pos++;
            skip_ws(p);
        }
    }
    size_t close = p->pos - 1;
    skip_ws(p);
    if (p->pos < p->len)
        return fail(p, p->pos, "expected the end of the line after the record");
    if (!have_id)
        return fail(p, close, "expected an \"_id\" member before the record's '}'");
    return 0;
}

int cpq_jsonl_parse(const char *line, size_t len, cpq_jsonl_rec *rec, char *err, size_t errcap)
{
    jp p = {(const unsigned char *)line, len, 0, err, errcap, 0};
    int rc;

    if (err && errcap)
        err[0] = 0;
    /* Every field is NUL-terminated even when absent, so each buffer needs
     * at least one byte. */
    if (sb_reserve(&rec->id, 1) || sb_reserve(&rec->title, 1) || sb_reserve(&rec->text, 1))
        return -2;
    sb_clear(&rec->id);
    sb_clear(&rec->title);
    sb_clear(&rec->text);
    rec->repairs = 0;

    rc = parse_record(&p, rec);
    if (rc) {
        sb_clear(&rec->id);
        sb_clear(&rec->title);
        sb_clear(&rec->text);
        if (rc == -2 && err && errcap)
            snprintf(err, errcap, "out of memory");
        return rc;
    }
    rec->repairs = p.repairs;
    return 0;
}
