/* test_passage.c - passage splitting (indexer/passage.c). */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "passage.h"
#include "testutil.h"

/* ---- an independent reference for words and whitespace -------------- */

/* Decode with utf8proc; an invalid byte is a 1-byte non-word unit. */
static size_t next_cp(const char *t, size_t len, size_t i, int32_t *cp)
{
    utf8proc_ssize_t r = utf8proc_iterate((const utf8proc_uint8_t *)t + i, (utf8proc_ssize_t)(len - i), cp);
    if (r <= 0) {
        *cp = -1;
        return 1;
    }
    return (size_t)r;
}

static int ref_is_space(int32_t cp)
{
    if (cp == ' ' || cp == '\t' || cp == '\n' || cp == '\r' || cp == '\v' || cp == '\f' || cp == 0x85)
        return 1;
    if (cp < 0x80)
        return 0;
    utf8proc_category_t c = utf8proc_category(cp);
    return c == UTF8PROC_CATEGORY_ZS || c == UTF8PROC_CATEGORY_ZL || c == UTF8PROC_CATEGORY_ZP;
}

static int ref_is_cjk(int32_t cp)
{
    return (cp >= 0x1100 && cp <= 0x11FF) || (cp >= 0x2E80 && cp <= 0x2FDF) ||
           (cp >= 0x3005 && cp <= 0x3007) || (cp >= 0x3021 && cp <= 0x3029) ||
           (cp >= 0x3038 && cp <= 0x303C) || (cp >= 0x3040 && cp <= 0x30FF) ||
           (cp >= 0x3130 && cp <= 0x318F) || (cp >= 0x31F0 && cp <= 0x31FF) ||
           (cp >= 0x3400 && cp <= 0x4DBF) || (cp >= 0x4E00 && cp <= 0x9FFF) ||
           (cp >= 0xA960 && cp <= 0xA97F) || (cp >= 0xAC00 && cp <= 0xD7FF) ||
           (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0xFF66 && cp <= 0xFFDC) ||
           (cp >= 0x1B000 && cp <= 0x1B16F) || (cp >= 0x20000 && cp <= 0x3FFFF);
}

/* Words in t[0..len): runs of L/N/M, every CJK letter on its own, a mark
 * after a CJK letter staying with it. */
static size_t ref_words(const char *t, size_t len)
{
    size_t i = 0, words = 0;
    int state = 0; /* 0: outside, 1: in a word, 2: just after a CJK letter */
    while (i < len) {
        int32_t cp;
        i += next_cp(t, len, i, &cp);
        int cat = cp < 0 ? UTF8PROC_CATEGORY_CN : (int)utf8proc_category(cp);
        int letter = cat >= UTF8PROC_CATEGORY_LU && cat <= UTF8PROC_CATEGORY_NO &&
                     !(cat >= UTF8PROC_CATEGORY_MN && cat <= UTF8PROC_CATEGORY_ME);
        int mark = cat >= UTF8PROC_CATEGORY_MN && cat <= UTF8PROC_CATEGORY_ME;
        if (letter && ref_is_cjk(cp)) {
            words++;
            state = 2;
        } else if (letter) {
            if (state != 1)
                words++;
            state = 1;
        } else if (mark) {
            if (state == 0) {
                words++;
                state = 1;
            }
        } else {
            state = 0;
        }
    }
    return words;
}

static void split_ok(const char *t, size_t len, uint32_t max, cpq_spans *out)
{
    cr_assert_eq(cpq_passage_split(t, len, max, out), 0);
}

static void expect_span(const char *t, const cpq_span *sp, const char *want)
{
    cr_expect_eq(sp->len, strlen(want), "span '%.*s' want '%s'", (int)sp->len, t + sp->start, want);
    cr_expect(sp->len == strlen(want) && memcmp(t + sp->start, want, sp->len) == 0,
              "span '%.*s' want '%s'", (int)sp->len, t + sp->start, want);
}

/* Every invariant of passage.h, checked against the reference above. */
static void check_invariants(const char *t, size_t len, uint32_t max, const cpq_spans *s)
{
    /* Code point starts, walking as utf8proc does (an invalid byte is one unit). */
    unsigned char *boundary = calloc(len + 1, 1);
    unsigned char *covered = calloc(len + 1, 1);
    cr_assert(boundary && covered);
    for (size_t i = 0; i < len;) {
        int32_t cp;
        boundary[i] = 1;
        i += next_cp(t, len, i, &cp);
    }
    boundary[len] = 1;

    size_t prev_end = 0;
    for (size_t k = 0; k < s->n; k++) {
        const cpq_span *sp = &s->v[k];
        cr_assert_gt(sp->len, 0);
        cr_assert_leq(sp->start + sp->len, len);
        cr_assert_geq(sp->start, prev_end, "span %zu overlaps or is out of order", k);
        cr_assert(boundary[sp->start] && boundary[sp->start + sp->len],
                  "span %zu [%zu,+%zu) splits a UTF-8 sequence", k, sp->start, sp->len);
        int32_t cp;
        next_cp(t, len, sp->start, &cp);
        cr_assert(!ref_is_space(cp), "span %zu starts with whitespace", k);
        size_t j = sp->start + sp->len - 1;
        while (!boundary[j])
            j--;
        next_cp(t, len, j, &cp);
        cr_assert(!ref_is_space(cp), "span %zu ends with whitespace", k);
        size_t w = ref_words(t + sp->start, sp->len);
        cr_assert_leq(w, max, "span %zu has %zu words > %u: '%.*s'", k, w, max, (int)sp->len, t + sp->start);
        memset(covered + sp->start, 1, sp->len);
        prev_end = sp->start + sp->len;
    }
    /* Nothing but whitespace is left out. */
    for (size_t i = 0; i < len;) {
        int32_t cp;
        size_t n = next_cp(t, len, i, &cp);
        if (!ref_is_space(cp))
            cr_assert(covered[i], "byte %zu (not whitespace) is in no passage", i);
        i += n;
    }
    free(boundary);
    free(covered);
}

/* ---- rules ---------------------------------------------------------- */

Test(passage, packs_paragraphs_up_to_max)
{
    const char *t = "Heading\n\nOne two three.\n\nFour five six seven.";
    cpq_spans s = {0};
    split_ok(t, strlen(t), 10, &s);
    cr_assert_eq(s.n, 1);
    expect_span(t, &s.v[0], t);

    s.n = 0;
    split_ok(t, strlen(t), 4, &s);
    cr_assert_eq(s.n, 2);
    expect_span(t, &s.v[0], "Heading\n\nOne two three.");
    expect_span(t, &s.v[1], "Four five six seven.");

    /* A short paragraph that does not fit is moved whole, not split. */
    s.n = 0;
    split_ok(t, strlen(t), 5, &s);
    cr_assert_eq(s.n, 2);
    expect_span(t, &s.v[0], "Heading\n\nOne two three.");
    expect_span(t, &s.v[1], "Four five six seven.");
    check_invariants(t, strlen(t), 5, &s);
    cpq_spans_free(&s);
}

Test(passage, appends_without_clearing)
{
    const char *t = "a b";
    cpq_spans s = {0};
    split_ok(t, 3, 5, &s);
    split_ok(t, 3, 5, &s);
    cr_assert_eq(s.n, 2);
    cr_assert_eq(s.v[1].start, 0);
    cr_assert_eq(s.v[1].len, 3);
    cpq_spans_free(&s);
    cpq_spans_free(&s); /* freeing twice is harmless */
    cpq_spans_free(NULL);
}

Test(passage, long_paragraph_split_at_sentences)
{
    const char *t = "A b c. D e f! G h i? J k l.";
    cpq_spans s = {0};
    split_ok(t, strlen(t), 6, &s);
    cr_assert_eq(s.n, 2);
    expect_span(t, &s.v[0], "A b c. D e f!");
    expect_span(t, &s.v[1], "G h i? J k l.");

    s.n = 0;
    split_ok(t, strlen(t), 8, &s);
    cr_assert_eq(s.n, 2);
    expect_span(t, &s.v[0], "A b c. D e f!");
    expect_span(t, &s.v[1], "G h i? J k l.");

    s.n = 0;
    split_ok(t, strlen(t), 3, &s);
    cr_assert_eq(s.n, 4);
    expect_span(t, &s.v[2], "G h i?");
    cpq_spans_free(&s);
}

Test(passage, sentence_end_needs_whitespace_and_takes_closers)
{
    /* "3.14" and "e.g" do not end sentences; the quote after "!" stays. */
    const char *t = "He said \"Stop!\" Then pi is 3.14 ok... Fine (really.) Done";
    cpq_spans s = {0};
    split_ok(t, strlen(t), 3, &s);
    cr_assert_eq(s.n, 4);
    expect_span(t, &s.v[0], "He said \"Stop!\"");
    expect_span(t, &s.v[1], "Then pi is");
    expect_span(t, &s.v[2], "3.14 ok...");
    expect_span(t, &s.v[3], "Fine (really.) Done");
    cpq_spans_free(&s);
}

Test(passage, heading_kept_with_start_of_long_paragraph)
{
    const char *t = "Title\n\nS1 a b. S2 c d. S3 e f.\n\nTail.";
    cpq_spans s = {0};
    split_ok(t, strlen(t), 4, &s);
    cr_assert_eq(s.n, 3);
    expect_span(t, &s.v[0], "Title\n\nS1 a b.");
    expect_span(t, &s.v[1], "S2 c d.");
    expect_span(t, &s.v[2], "S3 e f.\n\nTail.");
    check_invariants(t, strlen(t), 4, &s);
    cpq_spans_free(&s);
}

Test(passage, overlong_sentence_cut_at_words)
{
    const char *t = "w1 w2 w3 w4 w5 w6 w7 w8 w9 w10";
    cpq_spans s = {0};
    split_ok(t, strlen(t), 3, &s);
    cr_assert_eq(s.n, 4);
    expect_span(t, &s.v[0], "w1 w2 w3");
    expect_span(t, &s.v[1], "w4 w5 w6");
    expect_span(t, &s.v[2], "w7 w8 w9");
    expect_span(t, &s.v[3], "w10");

    /* Punctuation between words stays with the words before the cut. */
    const char *u = "a, b, c, (d) e";
    s.n = 0;
    split_ok(u, strlen(u), 2, &s);
    cr_assert_eq(s.n, 3);
    expect_span(u, &s.v[0], "a, b,");
    expect_span(u, &s.v[1], "c, (d)");
    expect_span(u, &s.v[2], "e");

    /* max_words 1: one word per passage. */
    s.n = 0;
    split_ok(t, strlen(t), 1, &s);
    cr_assert_eq(s.n, 10);
    expect_span(t, &s.v[9], "w10");

    /* The rest of a cut sentence packs with the next sentence. */
    const char *v = "a b c d e. f.";
    s.n = 0;
    split_ok(v, strlen(v), 3, &s);
    cr_assert_eq(s.n, 2);
    expect_span(v, &s.v[0], "a b c");
    expect_span(v, &s.v[1], "d e. f.");
    cpq_spans_free(&s);
}

Test(passage, crlf)
{
    const char *t = "a b\r\n\r\nc d\r\n";
    cpq_spans s = {0};
    split_ok(t, strlen(t), 2, &s);
    cr_assert_eq(s.n, 2);
    expect_span(t, &s.v[0], "a b");
    expect_span(t, &s.v[1], "c d");

    s.n = 0;
    split_ok(t, strlen(t), 4, &s);
    cr_assert_eq(s.n, 1);
    expect_span(t, &s.v[0], "a b\r\n\r\nc d");

    /* A blank line holding whitespace separates paragraphs too; a single
     * line break does not. */
    const char *u = "a b\r\n \t \r\nc d\r\ne f";
    s.n = 0;
    split_ok(u, strlen(u), 4, &s);
    cr_assert_eq(s.n, 2);
    expect_span(u, &s.v[0], "a b");
    expect_span(u, &s.v[1], "c d\r\ne f");
    cpq_spans_free(&s);
}

Test(passage, whitespace_only_gives_nothing)
{
    const char *cases[] = {"", " ", "\n\n\n", " \t\r\n\v\f ", "\r\n\r\n", "\xe3\x80\x80\xc2\xa0\n"};
    cpq_spans s = {0};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        split_ok(cases[k], strlen(cases[k]), 5, &s);
        cr_assert_eq(s.n, 0, "case %zu", k);
    }
    cpq_spans_free(&s);
}

Test(passage, trimming)
{
    const char *t = "  \n\n \t Hello world.  \r\n\n\n  ";
    cpq_spans s = {0};
    split_ok(t, strlen(t), 100, &s);
    cr_assert_eq(s.n, 1);
    expect_span(t, &s.v[0], "Hello world.");

    /* Punctuation alone is still content. */
    const char *u = "\n -- \n";
    s.n = 0;
    split_ok(u, strlen(u), 1, &s);
    cr_assert_eq(s.n, 1);
    expect_span(u, &s.v[0], "--");

    /* Unicode whitespace (U+3000, U+00A0) is trimmed as well. */
    const char *v = "\xe3\x80\x80word\xc2\xa0";
    s.n = 0;
    split_ok(v, strlen(v), 1, &s);
    cr_assert_eq(s.n, 1);
    expect_span(v, &s.v[0], "word");
    cpq_spans_free(&s);
}

Test(passage, cjk)
{
    /* 東京都に行きました。今日は晴れです。: 9 + 7 CJK words. */
    const char *t = "東京都に行きました。今日は晴れです。";
    cr_assert_eq(ref_words(t, strlen(t)), 16);
    cpq_spans s = {0};
    split_ok(t, strlen(t), 10, &s);
    cr_assert_eq(s.n, 2);
    expect_span(t, &s.v[0], "東京都に行きました。");
    expect_span(t, &s.v[1], "今日は晴れです。");

    s.n = 0;
    split_ok(t, strlen(t), 16, &s);
    cr_assert_eq(s.n, 1);

    s.n = 0;
    split_ok(t, strlen(t), 4, &s);
    cr_assert_eq(s.n, 5);
    expect_span(t, &s.v[0], "東京都に");
    expect_span(t, &s.v[1], "行きまし");
    expect_span(t, &s.v[2], "た。");
    expect_span(t, &s.v[3], "今日は晴");
    expect_span(t, &s.v[4], "れです。");
    check_invariants(t, strlen(t), 4, &s);

    /* Hangul, mixed with Latin; a closing bracket after 。 stays. */
    const char *u = "「한국어 text。」 다음";
    s.n = 0;
    split_ok(u, strlen(u), 4, &s);
    cr_assert_eq(s.n, 2);
    expect_span(u, &s.v[0], "「한국어 text。」");
    expect_span(u, &s.v[1], "다음");
    cpq_spans_free(&s);
}

Test(passage, marks_and_non_latin_words)
{
    /* e + U+0301 is one word; Cyrillic and Greek words; digits are words. */
    const char *t = "cafe\xcc\x81 \xd0\xbc\xd0\xb8\xd1\x80 \xce\xb1\xce\xb2 42";
    cr_assert_eq(ref_words(t, strlen(t)), 4);
    cpq_spans s = {0};
    split_ok(t, strlen(t), 2, &s);
    cr_assert_eq(s.n, 2);
    expect_span(t, &s.v[0], "cafe\xcc\x81 \xd0\xbc\xd0\xb8\xd1\x80");
    cpq_spans_free(&s);
}

Test(passage, invalid_utf8_is_punctuation)
{
    const char *t = "\xff\xfe \xe2\x82 ab\xc0\xaf" "cd \xed\xa0\x80";
    cpq_spans s = {0};
    split_ok(t, strlen(t), 1, &s);
    check_invariants(t, strlen(t), 1, &s);
    cr_assert_eq(s.n, 2);
    expect_span(t, &s.v[0], "\xff\xfe \xe2\x82 ab\xc0\xaf");
    expect_span(t, &s.v[1], "cd \xed\xa0\x80");
    cpq_spans_free(&s);
}

/* ---- properties ----------------------------------------------------- */

Test(passage, random_text_properties)
{
    static const char *alphabet[] = {
        "a", "b", "xyz", " ", " ", "\n", "\n", "\r\n", "\t", ".", "!", "?", "\"", ")",
        "\xc3\xa9",         /* é */
        "\xcc\x81",         /* combining acute */
        "\xe6\x9d\xb1",     /* 東 */
        "\xe3\x80\x82",     /* 。 */
        "\xe3\x80\x80",     /* ideographic space */
        "\xf0\x9f\x98\x80", /* emoji (So) */
        "\xff",             /* invalid */
        "\xe2\x82",         /* truncated */
        "\xed\xa0\x80",     /* surrogate */
        "\xc2",             /* truncated lead */
        "9",
    };
    const size_t na = sizeof alphabet / sizeof alphabet[0];
    uint64_t rng = 0x9e3779b97f4a7c15ULL;
    char *buf = malloc(4096);
    cr_assert(buf);
    cpq_spans s = {0};

    for (int iter = 0; iter < 3000; iter++) {
        size_t len = 0, target = tu_rand(&rng) % 600;
        while (len < target) {
            const char *piece = alphabet[tu_rand(&rng) % na];
            size_t pl = strlen(piece);
            memcpy(buf + len, piece, pl);
            len += pl;
        }
        /* An exact-size copy, so reading past len trips the sanitizer. */
        char *t = malloc(len ? len : 1);
        cr_assert(t);
        memcpy(t, buf, len);
        uint32_t max = 1 + (uint32_t)(tu_rand(&rng) % (iter % 3 == 0 ? 4 : 40));
        s.n = 0;
        split_ok(t, len, max, &s);
        check_invariants(t, len, max, &s);
        free(t);
    }
    cpq_spans_free(&s);
    free(buf);
}

static char *read_seed(size_t *len)
{
    char *t = tu_read_file(CPQ_SOURCE_ROOT "/corpus/000_95a09b20b076929a.txt", len);
    cr_assert(t, "cannot read the seed document");
    return t;
}

Test(passage, seed_document_max_100)
{
    size_t len;
    char *t = read_seed(&len);
    cpq_spans s = {0};
    split_ok(t, len, 100, &s);
    cr_assert_gt(s.n, 1);
    check_invariants(t, len, 100, &s);
    size_t total = 0;
    for (size_t k = 0; k < s.n; k++)
        total += ref_words(t + s.v[k].start, s.v[k].len);
    /* No word is lost or cut in two. */
    cr_assert_eq(total, ref_words(t, len));
    /* The heading is kept with the text that follows it. */
    cr_assert_eq(strncmp(t + s.v[0].start, "Russia China Cybersecurity Agreement\n", 37), 0);
    cr_assert_gt(ref_words(t + s.v[0].start, s.v[0].len), 4);
    cpq_spans_free(&s);
    free(t);
}

Test(passage, seed_document_many_sizes)
{
    size_t len;
    char *t = read_seed(&len);
    cpq_spans s = {0};
    size_t whole = ref_words(t, len);
    for (uint32_t max = 1; max <= 400; max += (max < 20 ? 1 : 37)) {
        s.n = 0;
        split_ok(t, len, max, &s);
        check_invariants(t, len, max, &s);
        size_t total = 0;
        for (size_t k = 0; k < s.n; k++)
            total += ref_words(t + s.v[k].start, s.v[k].len);
        cr_assert_eq(total, whole, "max %u", max);
    }
    /* Everything fits in one passage when max is large. */
    s.n = 0;
    split_ok(t, len, UINT32_MAX, &s);
    cr_assert_eq(s.n, 1);
    cpq_spans_free(&s);
    free(t);
}

/* ---- the fast paths against the byte loop ---------------------------- */

/* passage.c takes plain ASCII a block at a time (SSE2 or SWAR) and leaves
 * the rest to a byte loop that also works alone.  Here it is compiled a
 * second time with the fast paths off, so the library's output can be
 * compared with the byte loop's, span for span. */
#define CPQ_PASSAGE_NO_SWAR 1
#define cpq_passage_split bytes_passage_split
#define cpq_spans_free bytes_spans_free
int bytes_passage_split(const char *text, size_t len, uint32_t max_words, cpq_spans *out);
void bytes_spans_free(cpq_spans *s);
#include "passage.c"
#undef cpq_passage_split
#undef cpq_spans_free

/* Split t[0..len) both ways (from an exact-size copy, so the sanitizer
 * sees any read past len) and expect the same spans. */
static void same_as_byte_loop(const char *t, size_t len, uint32_t max)
{
    char *u = malloc(len ? len : 1);
    cpq_spans a = {0}, b = {0};
    cr_assert(u);
    memcpy(u, t, len);
    cr_assert_eq(cpq_passage_split(u, len, max, &a), 0);
    cr_assert_eq(bytes_passage_split(u, len, max, &b), 0);
    cr_assert_eq(a.n, b.n, "max %u: %zu spans, byte loop %zu: '%.*s'", max, a.n, b.n, (int)len, t);
    for (size_t k = 0; k < a.n; k++)
        cr_assert(a.v[k].start == b.v[k].start && a.v[k].len == b.v[k].len,
                  "max %u span %zu: %zu+%zu, byte loop %zu+%zu: '%.*s'", max, k, a.v[k].start,
                  a.v[k].len, b.v[k].start, b.v[k].len, (int)len, t);
    cpq_spans_free(&a);
    bytes_spans_free(&b);
    free(u);
}

Test(passage, fast_path_block_edges)
{
    /* Each motif at every offset from a block boundary, with words around:
     * terminators before whitespace, closers, letters, punctuation and the
     * end of the text; line breaks making and not making blank lines. */
    static const char *motifs[] = {
        "a. b", "a.b", "a.\nb", "a.) b", "a.)b", "a.)", "a.", "a.,b", "a..", "a.)) b",
        "a!\" b", "a?' b", "a.] b", "a.} b", "a.\xc2\xa0" "b", "a.\xe2\x80\x9d b", "a.\xc3\xa9",
        "a\n\nb", "a \n\nb", "a\n \nb", "a\n\t\r\nb", "a\r\n\r\nb", "a\nb", "a \nb", "\n\n",
        "a\xe6\x9d\xb1" "b", "\xe6\x9d\xb1\xcc\x81" "b c", "x\x01y", "1.5 x", "e.g. y",
    };
    static const uint32_t maxes[] = {1, 2, 3, 5, 200};
    char buf[256];

    for (size_t m = 0; m < sizeof motifs / sizeof motifs[0]; m++)
        for (size_t off = 0; off < 40; off++)
            for (size_t tail = 0; tail < 20; tail += 3) {
                size_t len = 0, ml = strlen(motifs[m]);
                for (size_t k = 0; k < off; k++)
                    buf[len++] = "ab cd ef. gh\n"[k % 13];
                memcpy(buf + len, motifs[m], ml);
                len += ml;
                for (size_t k = 0; k < tail; k++)
                    buf[len++] = " xy z"[k % 5];
                for (size_t x = 0; x < sizeof maxes / sizeof maxes[0]; x++)
                    same_as_byte_loop(buf, len, maxes[x]);
            }
}

Test(passage, fast_path_random)
{
    static const char *alphabet[] = {
        "a", "b", "word", "Words", "x1", "42", " ", " ", " ", "  ", "\n", "\n", "\n\n", " \n",
        "\t", "\r\n", ".", ".", "!", "?", "\"", "'", ")", "]", "}", ",", ";", "-", "(",
        ". ", ".\n", ".) ", ".\" ", "..", "e.g", "\x01",
        "\xc3\xa9", "\xcc\x81", "\xe6\x9d\xb1", "\xe3\x80\x82", "\xe2\x80\x9d", "\xc2\xa0",
        "\xe3\x80\x80", "\xff", "\xe2\x82",
    };
    const size_t na = sizeof alphabet / sizeof alphabet[0];
    uint64_t rng = 0x243f6a8885a308d3ULL;
    char buf[1024];

    for (int iter = 0; iter < 4000; iter++) {
        size_t len = 0, target = tu_rand(&rng) % 900;
        /* Mostly ASCII, some strings with more of the rest. */
        size_t span = iter % 4 ? na - 9 : na;
        while (len < target) {
            const char *piece = alphabet[tu_rand(&rng) % span];
            size_t pl = strlen(piece);
            memcpy(buf + len, piece, pl);
            len += pl;
        }
        same_as_byte_loop(buf, len, 1 + (uint32_t)(tu_rand(&rng) % (iter % 2 ? 8 : 250)));
    }
}

Test(passage, fast_path_seed_document)
{
    size_t len;
    char *t = read_seed(&len);
    for (uint32_t max = 1; max <= 400; max += (max < 20 ? 1 : 37))
        same_as_byte_loop(t, len, max);
    free(t);
}
