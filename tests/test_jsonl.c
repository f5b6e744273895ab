/* test_jsonl.c - the JSON Lines reader and UTF-8 repair (indexer/jsonl.c). */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonl.h"
#include "testutil.h"

/* Parse an exact-size heap copy of line[0..len), so that reading past len
 * trips the address sanitizer. */
static int parse_n(const char *line, size_t len, cpq_jsonl_rec *rec, char *err, size_t errcap)
{
    char *copy = malloc(len ? len : 1);
    cr_assert(copy);
    memcpy(copy, line, len);
    int rc = cpq_jsonl_parse(copy, len, rec, err, errcap);
    free(copy);
    return rc;
}

static int parse(const char *line, cpq_jsonl_rec *rec, char *err, size_t errcap)
{
    return parse_n(line, strlen(line), rec, err, errcap);
}

static size_t err_column(const char *err)
{
    size_t col = 0;
    if (sscanf(err, "column %zu:", &col) != 1)
        return 0;
    return col;
}

static void expect_field(const cpq_strbuf *b, const char *want, size_t wlen)
{
    cr_assert_not_null(b->p);
    cr_expect_eq(b->len, wlen, "len %zu want %zu ('%s')", b->len, wlen, b->p);
    cr_expect(b->len == wlen && memcmp(b->p, want, wlen) == 0, "got '%s' want '%s'", b->p, want);
    cr_expect_eq(b->p[b->len], 0, "not NUL-terminated");
}

#define EXPECT_STR(b, lit) expect_field((b), (lit), sizeof(lit) - 1)

/* ---- records -------------------------------------------------------- */

Test(jsonl, beir_line)
{
    cpq_jsonl_rec r = {0};
    char err[128];
    int rc = parse("{\"_id\": \"3656\", \"title\": \"0\", \"text\": \"\\n\\n  A dictionary\\n0 \\\\0\\\\ adj.\"}",
                   &r, err, sizeof err);
    cr_assert_eq(rc, 0, "%s", err);
    EXPECT_STR(&r.id, "3656");
    EXPECT_STR(&r.title, "0");
    EXPECT_STR(&r.text, "\n\n  A dictionary\n0 \\0\\ adj.");
    cr_assert_eq(r.repairs, 0);
    cr_assert_eq(err[0], 0);
    cpq_jsonl_rec_free(&r);
    cpq_jsonl_rec_free(&r);
    cpq_jsonl_rec_free(NULL);
}

Test(jsonl, member_order_whitespace_and_cr)
{
    cpq_jsonl_rec r = {0};
    char err[128];
    cr_assert_eq(parse(" \t{ \"text\" :\"b\" ,\"title\":\"a\",\"_id\":\"x\" } \r", &r, err, sizeof err), 0, "%s", err);
    EXPECT_STR(&r.id, "x");
    EXPECT_STR(&r.title, "a");
    EXPECT_STR(&r.text, "b");
    /* A duplicate member: the last one wins. */
    cr_assert_eq(parse("{\"_id\":\"1\",\"text\":\"first\",\"text\":\"second\"}", &r, err, sizeof err), 0);
    EXPECT_STR(&r.text, "second");
    cpq_jsonl_rec_free(&r);
}

Test(jsonl, numeric_id_kept_literally)
{
    cpq_jsonl_rec r = {0};
    char err[128];
    const char *cases[][2] = {
        {"{\"_id\": 42, \"text\": \"x\"}", "42"},
        {"{\"_id\":0}", "0"},
        {"{\"_id\":-1.50e+3}", "-1.50e+3"},
        {"{\"_id\":12345678901234567890123}", "12345678901234567890123"},
        {"{\"_id\":7E-2 }", "7E-2"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        cr_assert_eq(parse(cases[k][0], &r, err, sizeof err), 0, "%s: %s", cases[k][0], err);
        expect_field(&r.id, cases[k][1], strlen(cases[k][1]));
    }
    cpq_jsonl_rec_free(&r);
}

Test(jsonl, missing_title_and_text_are_empty)
{
    cpq_jsonl_rec r = {0};
    char err[128];
    cr_assert_eq(parse("{\"_id\":\"1\",\"title\":\"T\",\"text\":\"X\"}", &r, err, sizeof err), 0);
    /* The record is reused: fields absent from the next line are empty. */
    cr_assert_eq(parse("{\"_id\":\"2\"}", &r, err, sizeof err), 0, "%s", err);
    EXPECT_STR(&r.id, "2");
    EXPECT_STR(&r.title, "");
    EXPECT_STR(&r.text, "");
    cpq_jsonl_rec_free(&r);

    cpq_jsonl_rec z = {0};
    cr_assert_eq(parse("{\"_id\":\"\"}", &z, err, sizeof err), 0); /* empty id is the caller's call */
    EXPECT_STR(&z.id, "");
    EXPECT_STR(&z.title, "");
    cpq_jsonl_rec_free(&z);
}

Test(jsonl, escapes)
{
    cpq_jsonl_rec r = {0};
    char err[128];
    cr_assert_eq(parse("{\"_id\":\"1\",\"text\":\"\\\"\\\\\\/\\b\\f\\n\\r\\t|\\u0041\\u00e9\\u00E9\\u20AC\\u0000z\"}",
                       &r, err, sizeof err), 0, "%s", err);
    expect_field(&r.text, "\"\\/\b\f\n\r\t|A\xc3\xa9\xc3\xa9\xe2\x82\xac\0z", 19);
    cr_assert_eq(r.repairs, 0);
    cpq_jsonl_rec_free(&r);
}

Test(jsonl, surrogates)
{
    cpq_jsonl_rec r = {0};
    char err[128];
    /* A pair is one code point. */
    cr_assert_eq(parse("{\"_id\":\"\\ud83d\\ude00\",\"title\":\"\\uD834\\uDD1E\"}", &r, err, sizeof err), 0, "%s", err);
    EXPECT_STR(&r.id, "\xf0\x9f\x98\x80");
    EXPECT_STR(&r.title, "\xf0\x9d\x84\x9e");
    cr_assert_eq(r.repairs, 0);

    struct { const char *line; const char *want; size_t repairs; } cases[] = {
        {"{\"_id\":\"1\",\"text\":\"\\ud800x\"}", "\xef\xbf\xbdx", 1},
        {"{\"_id\":\"1\",\"text\":\"\\udc00\"}", "\xef\xbf\xbd", 1},
        {"{\"_id\":\"1\",\"text\":\"\\ud800\\ud800\"}", "\xef\xbf\xbd\xef\xbf\xbd", 2},
        {"{\"_id\":\"1\",\"text\":\"\\ud800\\u0041\"}", "\xef\xbf\xbd" "A", 1},
        {"{\"_id\":\"1\",\"text\":\"\\udc00\\ud800\"}", "\xef\xbf\xbd\xef\xbf\xbd", 2},
        {"{\"_id\":\"1\",\"text\":\"a\\ud83d\"}", "a\xef\xbf\xbd", 1},
        {"{\"_id\":\"1\",\"text\":\"\\ud83d\\\\ude00\"}", "\xef\xbf\xbd\\ude00", 1},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        cr_assert_eq(parse(cases[k].line, &r, err, sizeof err), 0, "%s: %s", cases[k].line, err);
        expect_field(&r.text, cases[k].want, strlen(cases[k].want));
        cr_expect_eq(r.repairs, cases[k].repairs, "%s", cases[k].line);
    }
    /* A high surrogate followed by a malformed escape is an error. */
    cr_assert_eq(parse("{\"_id\":\"1\",\"text\":\"\\ud800\\u12\"}", &r, err, sizeof err), -1);
    cr_assert_eq(err_column(err), 30, "%s", err);
    cpq_jsonl_rec_free(&r);
}

Test(jsonl, invalid_utf8_repaired_and_counted)
{
    cpq_jsonl_rec r = {0};
    char err[128];
    cr_assert_eq(parse("{\"_id\":\"i\",\"title\":\"\\udc00\",\"text\":\"a\xff" "b\xc0\xaf\xe2\x82" "c\xf0\x9f\x98\x80\xe2\x82\"}",
                       &r, err, sizeof err), 0, "%s", err);
    EXPECT_STR(&r.id, "i");
    EXPECT_STR(&r.text, "a\xef\xbf\xbd" "b\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" "c\xf0\x9f\x98\x80\xef\xbf\xbd");
    cr_assert_eq(r.repairs, 6);
    cr_assert(cpq_utf8_valid(r.text.p, r.text.len));

    /* Bad bytes in skipped members and names are not repairs: they go nowhere. */
    cr_assert_eq(parse("{\"\xff\":\"\xff\",\"_id\":\"1\",\"x\":[\"\xc0\"]}", &r, err, sizeof err), 0, "%s", err);
    cr_assert_eq(r.repairs, 0);

    /* A string made of nothing but bad bytes triples in size. */
    size_t nbad = 50000;
    char *line = malloc(nbad + 64);
    cr_assert(line);
    size_t n = (size_t)sprintf(line, "{\"_id\":\"1\",\"text\":\"");
    memset(line + n, 0xff, nbad);
    n += nbad;
    memcpy(line + n, "\"}", 2);
    n += 2;
    cr_assert_eq(parse_n(line, n, &r, err, sizeof err), 0, "%s", err);
    cr_assert_eq(r.text.len, 3 * nbad);
    cr_assert_eq(r.repairs, nbad);
    cr_assert(cpq_utf8_valid(r.text.p, r.text.len));
    cr_assert_eq(r.text.p[r.text.len], 0);
    free(line);
    cpq_jsonl_rec_free(&r);
}

Test(jsonl, escaped_member_names)
{
    cpq_jsonl_rec r = {0};
    char err[128];
    cr_assert_eq(parse("{\"\\u005fid\":\"7\",\"t\\u0065xt\":\"x\",\"titles\":\"no\",\"\\u00e9\":1}", &r, err, sizeof err), 0,
                 "%s", err);
    EXPECT_STR(&r.id, "7");
    EXPECT_STR(&r.text, "x");
    EXPECT_STR(&r.title, "");
    cpq_jsonl_rec_free(&r);
}

Test(jsonl, nested_members_skipped)
{
    cpq_jsonl_rec r = {0};
    char err[128];
    cr_assert_eq(parse("{\"_id\":\"1\",\"meta\":{\"a\":[1,-2.5e3,{\"b\":null,\"c\":[]},{}],\"_id\":\"inner\","
                       "\"s\":\"x\\\"y\\u00e9\"},\"ok\":true,\"no\":false,\"n\":null,\"e\":[ ],\"text\":\"t\"}",
                       &r, err, sizeof err), 0, "%s", err);
    EXPECT_STR(&r.id, "1");
    EXPECT_STR(&r.text, "t");
    cpq_jsonl_rec_free(&r);
}

static char *nested(const char *open, const char *close, size_t depth, size_t *len)
{
    size_t ol = strlen(open), cl = strlen(close);
    char *s = malloc(32 + depth * (ol + cl));
    cr_assert(s);
    size_t n = (size_t)sprintf(s, "{\"_id\":\"1\",\"x\":");
    for (size_t k = 0; k < depth; k++, n += ol)
        memcpy(s + n, open, ol);
    s[n++] = '1';
    for (size_t k = 0; k < depth; k++, n += cl)
        memcpy(s + n, close, cl);
    s[n++] = '}';
    *len = n;
    return s;
}

Test(jsonl, nesting_depth_limit)
{
    cpq_jsonl_rec r = {0};
    char err[160];
    size_t len;
    const char *kinds[][2] = {{"[", "]"}, {"{\"k\":", "}"}, {"[{\"k\":", "}]"}};
    for (size_t k = 0; k < 3; k++) {
        size_t per = strlen(kinds[k][0]) == 1 ? 1 : (strlen(kinds[k][1]) == 1 ? 1 : 2);
        size_t ok_depth = CPQ_JSON_DEPTH / per;
        char *s = nested(kinds[k][0], kinds[k][1], ok_depth, &len);
        cr_assert_eq(parse_n(s, len, &r, err, sizeof err), 0, "kind %zu: %s", k, err);
        free(s);
        s = nested(kinds[k][0], kinds[k][1], ok_depth + 1, &len);
        cr_assert_eq(parse_n(s, len, &r, err, sizeof err), -1, "kind %zu", k);
        cr_assert(strstr(err, "nested"), "%s", err);
        free(s);
    }
    /* The 65th '[' is where it fails. */
    char *s = nested("[", "]", CPQ_JSON_DEPTH + 1, &len);
    cr_assert_eq(parse_n(s, len, &r, err, sizeof err), -1);
    cr_assert_eq(err_column(err), 16 + CPQ_JSON_DEPTH, "%s", err);
    free(s);
    /* Very deep input costs no stack. */
    s = nested("[", "]", 1000000, &len);
    cr_assert_eq(parse_n(s, len, &r, err, sizeof err), -1);
    free(s);
    cpq_jsonl_rec_free(&r);
}

/* ---- malformed lines ------------------------------------------------ */

Test(jsonl, malformed_lines_and_columns)
{
    struct { const char *line; size_t col; const char *what; } cases[] = {
        {"", 1, "expected '{'"},
        {"   ", 4, "expected '{'"},
        {"[1]", 1, "expected '{'"},
        {"{", 2, "expected '\"' to begin a member name"},
        {"{,}", 2, "member name"},
        {"{\"_id\" \"1\"}", 8, "expected ':'"},
        {"{\"_id\"", 7, "expected ':'"},
        {"{\"_id\":", 8, "string or a number"},
        {"{\"_id\":\"1\",}", 12, "member name"},
        {"{\"_id\":\"1\",", 12, "member name"},
        {"{\"_id\":\"1\"", 11, "expected ',' or '}'"},
        {"{\"_id\":\"1\";}", 11, "expected ',' or '}'"},
        {"{\"_id\":\"1\"} x", 13, "end of the line"},
        {"{\"_id\":\"1\"}}", 12, "end of the line"},
        {"{\"_id\":\"1\",\"x\":1}garbage", 18, "end of the line"},
        {" {\"_id\":\"1\"} {\"_id\":\"2\"}", 14, "end of the line"},
        {"{\"_id\":\"1\" \"text\":\"a\"}", 12, "expected ',' or '}'"},
        {"{\"_id\":01}", 9, "expected ',' or '}'"},
        {"{\"_id\":-}", 9, "digit"},
        {"{\"_id\":1.}", 10, "digit after '.'"},
        {"{\"_id\":1e}", 10, "exponent"},
        {"{\"_id\":true}", 8, "string or a number"},
        {"{\"_id\":null}", 8, "string or a number"},
        {"{\"_id\":[\"1\"]}", 8, "string or a number"},
        {"{\"_id\":\"abc}", 13, "end the string"},
        {"{\"_id\":\"1\",\"text\":null}", 19, "string as \"text\""},
        {"{\"_id\":\"1\",\"title\":1}", 20, "string as \"title\""},
        {"{\"_id\":\"1\",\"title\":{}}", 20, "string as \"title\""},
        {"{\"title\":\"t\"}", 13, "\"_id\""},
        {"{}", 2, "\"_id\""},
        {"{\"_id\":\"a\\x\"}", 11, "after '\\'"},
        {"{\"_id\":\"a\\", 11, "escape character"},
        {"{\"_id\":\"\\u12G4\"}", 13, "hex digits"},
        {"{\"_id\":\"\\u12", 13, "hex digits"},
        {"{\"_id\":\"1\",\"x\":tru}", 16, "expected a value"},
        {"{\"_id\":\"1\",\"x\":nul}", 16, "expected a value"},
        {"{\"_id\":\"1\",\"x\":.5}", 16, "expected a value"},
        {"{\"_id\":\"1\",\"x\":}", 16, "expected a value"},
        {"{\"_id\":\"1\",\"x\":[1,]}", 19, "expected a value"},
        {"{\"_id\":\"1\",\"x\":[}", 17, "expected a value"},
        {"{\"_id\":\"1\",\"x\":[1 2]}", 19, "expected ',' or ']'"},
        {"{\"_id\":\"1\",\"x\":[1,2,3}", 22, "expected ',' or ']'"},
        {"{\"_id\":\"1\",\"x\":{\"a\" 1}}", 21, "expected ':'"},
        {"{\"_id\":\"1\",\"x\":{\"a\":1]}", 22, "expected ',' or '}' in object"},
        {"{\"_id\":\"1\",\"x\":{\"a\":1,}}", 23, "member name"},
        {"{\"_id\":\"1\",\"x\":{1:2}}", 17, "member name"},
        {"{\"_id\":\"1\",\"x\":\"\\q\"}", 18, "after '\\'"},
        {"{\"_id\":\"1\",\"x\":-0.5e+}", 22, "exponent"},
        {"{\"_id\":\"1\",\"x\":\"abc", 20, "end the string"},
        {"{\"_id\":\"1\",\"x\":[[[", 19, "expected a value"},
        {"{\"_\\u0069d\":\"1\"", 16, "expected ',' or '}'"},
    };
    cpq_jsonl_rec r = {0};
    char err[160];
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        memset(err, 'Z', sizeof err);
        int rc = parse(cases[k].line, &r, err, sizeof err);
        cr_expect_eq(rc, -1, "line '%s' was accepted", cases[k].line);
        cr_expect_eq(err_column(err), cases[k].col, "line '%s': %s", cases[k].line, err);
        cr_expect(strstr(err, cases[k].what) != NULL, "line '%s': '%s' lacks '%s'", cases[k].line, err,
                  cases[k].what);
        /* The record holds nothing from a failed line. */
        cr_expect_eq(r.id.len + r.title.len + r.text.len, 0);
    }
    cpq_jsonl_rec_free(&r);
}

Test(jsonl, error_buffer_edge_cases)
{
    cpq_jsonl_rec r = {0};
    char err[8];
    cr_assert_eq(parse("{\"_id\":\"1\"} x", &r, err, sizeof err), -1);
    cr_assert_eq(strlen(err), sizeof err - 1);
    cr_assert_eq(strncmp(err, "column ", 7), 0);
    cr_assert_eq(parse("nope", &r, NULL, 0), -1);
    cr_assert_eq(parse("nope", &r, err, 0), -1);
    /* A non-printable byte is named by its value. */
    char big[160];
    cr_assert_eq(parse("{\x01}", &r, big, sizeof big), -1);
    cr_assert(strstr(big, "byte 0x01"), "%s", big);
    cpq_jsonl_rec_free(&r);
}

static const char *const valid_lines[] = {
    "{\"_id\": \"3656\", \"title\": \"0\", \"text\": \"\\n\\n  A dictionary\\n\"}",
    "{\"_id\":-12.5e+3,\"title\":\"\\ud83d\\ude00 caf\xc3\xa9\",\"text\":\"a\\\"b\\\\c\\u00e9\"}",
    "{\"_id\":\"x\",\"meta\":{\"a\":[1,2,{\"b\":null}],\"c\":\"\\u0041\"},\"ok\":true,\"no\":false,\"text\":\"t\"} \r",
    "{\"_id\":0}",
    "  {\"text\":\"\xe6\x9d\xb1\xe4\xba\xac\xff\",\"_id\":\"\\u005f\"}",
};

Test(jsonl, truncated_at_every_byte)
{
    cpq_jsonl_rec r = {0};
    char err[160];
    for (size_t k = 0; k < sizeof valid_lines / sizeof valid_lines[0]; k++) {
        const char *line = valid_lines[k];
        size_t len = strlen(line);
        cr_assert_eq(parse_n(line, len, &r, err, sizeof err), 0, "%s: %s", line, err);
        size_t close = (size_t)(strrchr(line, '}') - line);
        for (size_t cut = 0; cut < len; cut++) {
            int rc = parse_n(line, cut, &r, err, sizeof err);
            if (cut > close) {
                cr_assert_eq(rc, 0, "line %zu cut at %zu: %s", k, cut, err);
            } else {
                cr_assert_eq(rc, -1, "line %zu cut at %zu accepted", k, cut);
                size_t col = err_column(err);
                cr_assert(col >= 1 && col <= cut + 1, "line %zu cut at %zu: %s", k, cut, err);
            }
        }
    }
    cpq_jsonl_rec_free(&r);
}

Test(jsonl, random_mutations_never_crash)
{
    static const char bytes[] = "{}[]\":,\\u0123456789abcdefABCDEF-+.eEtrufalsn \t\r\x80\xbf\xc0\xc3\xe2\xed\xf0\xf4\xff";
    cpq_jsonl_rec r = {0};
    char err[160];
    char buf[512];
    uint64_t rng = 42;
    for (int iter = 0; iter < 200000; iter++) {
        const char *base = valid_lines[tu_rand(&rng) % (sizeof valid_lines / sizeof valid_lines[0])];
        size_t len = strlen(base);
        memcpy(buf, base, len);
        int muts = 1 + (int)(tu_rand(&rng) % 4);
        for (int m = 0; m < muts; m++) {
            size_t at = len ? tu_rand(&rng) % len : 0;
            char b = bytes[tu_rand(&rng) % (sizeof bytes - 1)];
            switch (tu_rand(&rng) % 4) {
            case 0: if (len) buf[at] = b; break;                                       /* replace */
            case 1: if (len) { memmove(buf + at, buf + at + 1, len - at - 1); len--; } break; /* delete */
            case 2: if (len < sizeof buf - 1) { memmove(buf + at + 1, buf + at, len - at); buf[at] = b; len++; } break;
            default: len = at; break;                                                  /* truncate */
            }
        }
        int rc = parse_n(buf, len, &r, err, sizeof err);
        cr_assert(rc == 0 || rc == -1);
        if (rc == 0) {
            cr_assert(cpq_utf8_valid(r.id.p, r.id.len));
            cr_assert(cpq_utf8_valid(r.title.p, r.title.len));
            cr_assert(cpq_utf8_valid(r.text.p, r.text.len));
            cr_assert_eq(r.text.p[r.text.len], 0);
            cr_assert_leq(r.text.len, 3 * len);
        } else {
            size_t col = err_column(err);
            cr_assert(col >= 1 && col <= len + 1, "%.*s: %s", (int)len, buf, err);
        }
    }
    cpq_jsonl_rec_free(&r);
}

/* ---- UTF-8 repair --------------------------------------------------- */

#define FFFD "\xef\xbf\xbd"

Test(utf8, repair_known_cases)
{
    struct { const char *in; size_t inlen; const char *out; size_t nbad; } cases[] = {
        {"", 0, "", 0},
        {"plain ascii text, longer than eight bytes", 41, "plain ascii text, longer than eight bytes", 0},
        {"\xc0\xaf", 2, FFFD FFFD, 2},                               /* overlong '/' */
        {"\xe0\x80\xaf", 3, FFFD FFFD FFFD, 3},                      /* overlong, 3 bytes */
        {"\xf0\x80\x80\xaf", 4, FFFD FFFD FFFD FFFD, 4},             /* overlong, 4 bytes */
        {"\xed\xa0\x80", 3, FFFD FFFD FFFD, 3},                      /* surrogate U+D800 */
        {"\xed\x9f\xbf", 3, "\xed\x9f\xbf", 0},                      /* U+D7FF is fine */
        {"\xf4\x90\x80\x80", 4, FFFD FFFD FFFD FFFD, 4},             /* above U+10FFFF */
        {"\xf4\x8f\xbf\xbf", 4, "\xf4\x8f\xbf\xbf", 0},              /* U+10FFFF */
        {"\xf0\x9f\x98\x80", 4, "\xf0\x9f\x98\x80", 0},              /* emoji */
        {"\xf0\x9f\x98", 3, FFFD, 1},                                /* truncated at the end */
        {"\xf0\x9f\x98" "a", 4, FFFD "a", 1},                        /* truncated before ASCII */
        {"\xe2\x82", 2, FFFD, 1},
        {"\xe2\x82\xe2\x82\xac", 5, FFFD "\xe2\x82\xac", 1},         /* truncated before a valid one */
        {"\xc3", 1, FFFD, 1},
        {"\x80\xbf", 2, FFFD FFFD, 2},                               /* stray continuations */
        {"\xff\xfe\xf5", 3, FFFD FFFD FFFD, 3},
        {"\xf8\x88\x80\x80\x80", 5, FFFD FFFD FFFD FFFD FFFD, 5},    /* old 5-byte form */
        {"a\0b", 3, "a\0b", 0},                                      /* NUL is valid */
        /* Unicode 15, table 3-8. */
        {"\x61\xF1\x80\x80\xE1\x80\xC2\x62\x80\x63\x80\xBF\x64", 13,
         "a" FFFD FFFD FFFD "b" FFFD "c" FFFD FFFD "d", 6},
    };
    char out[64];
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        size_t nbad = 99, want = k == 18 ? 3 : strlen(cases[k].out);
        size_t n = cpq_utf8_repair(cases[k].in, cases[k].inlen, out, &nbad);
        cr_expect_eq(n, want, "case %zu: %zu bytes, want %zu", k, n, want);
        cr_expect(n == want && memcmp(out, cases[k].out, n) == 0, "case %zu", k);
        cr_expect_eq(nbad, cases[k].nbad, "case %zu", k);
        cr_expect_eq(cpq_utf8_valid(cases[k].in, cases[k].inlen), cases[k].nbad == 0, "case %zu", k);
        cr_expect(cpq_utf8_valid(out, n), "case %zu", k);
    }
    cr_assert_eq(cpq_utf8_repair("\xff", 1, out, NULL), 3);
}

Test(utf8, valid_agrees_with_repair_on_random_bytes)
{
    static const unsigned char pool[] = {'a', ' ', 0x00, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc1, 0xc2,
                                         0xdf, 0xe0, 0xe1, 0xec, 0xed, 0xee, 0xef, 0xf0, 0xf1, 0xf3, 0xf4, 0xf5, 0xff};
    static const char *const seqs[] = {"\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80", "\xed\x9f\xbf",
                                       "\xee\x80\x80", "\xf4\x8f\xbf\xbf", "abcdefghijklmnopq"};
    uint64_t rng = 7;
    unsigned char in[256];
    char out[3 * 256], again[3 * 3 * 256];
    size_t valid_seen = 0;
    for (int iter = 0; iter < 200000; iter++) {
        size_t len = 0, target = tu_rand(&rng) % 64;
        if (iter % 16 == 0)
            target = tu_rand(&rng) % 200;
        while (len < target) {
            uint64_t r = tu_rand(&rng);
            if (r % 8 < 5) { /* mostly valid pieces, so that valid strings happen */
                const char *sq = seqs[(r >> 8) % (sizeof seqs / sizeof seqs[0])];
                size_t sl = strlen(sq);
                if (len + sl > target)
                    sl = target - len; /* sometimes truncated */
                memcpy(in + len, sq, sl);
                len += sl;
            } else {
                in[len++] = pool[(r >> 8) % sizeof pool];
            }
        }
        /* Exact-size copy for the sanitizer. */
        char *copy = malloc(len ? len : 1);
        cr_assert(copy);
        memcpy(copy, in, len);
        size_t nbad;
        size_t n = cpq_utf8_repair(copy, len, out, &nbad);
        int valid = cpq_utf8_valid(copy, len);
        cr_assert_eq(valid, nbad == 0, "iter %d", iter);
        cr_assert_leq(n, 3 * len);
        if (valid) {
            valid_seen++;
            cr_assert(n == len && memcmp(out, copy, len) == 0);
        }
        /* Repaired text is valid and a fixed point. */
        cr_assert(cpq_utf8_valid(out, n));
        size_t nbad2;
        size_t n2 = cpq_utf8_repair(out, n, again, &nbad2);
        cr_assert(nbad2 == 0 && n2 == n && memcmp(again, out, n) == 0);
        free(copy);
    }
    cr_assert_gt(valid_seen, 1000);
}

Test(utf8, valid_long_ascii_with_late_error)
{
    char buf[1000];
    memset(buf, 'x', sizeof buf);
    cr_assert(cpq_utf8_valid(buf, sizeof buf));
    for (size_t at = 0; at < 40; at++) {
        memset(buf, 'x', sizeof buf);
        buf[sizeof buf - 1 - at] = (char)0xC3; /* truncated or followed by 'x' */
        cr_assert(!cpq_utf8_valid(buf, sizeof buf), "at %zu", at);
        buf[sizeof buf - 1 - at] = (char)0x80;
        cr_assert(!cpq_utf8_valid(buf, sizeof buf), "at %zu", at);
    }
}
