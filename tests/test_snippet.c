/* test_snippet.c - snippets: what is highlighted, the window, rendering,
 * and random bytes (snippet.h). */
#include <criterion/criterion.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "query.h"
#include "snippet.h"
#include "testutil.h"

/* ------------------------------------------------------------------ */
/* Fixtures and helpers                                                */
/* ------------------------------------------------------------------ */

static cpq_analyzer *en;    /* english, no stopwords */
static cpq_analyzer *ens;   /* english with a few stopwords */
static cpq_analyzer *none;  /* the prefix analyser of both */

#define STOPWORDS "the of a an and to in"

static cpq_analyzer *mk(const char *lang, const char *stop)
{
    cpq_analysis_cfg cfg;
    cpq_analyzer *a = NULL;
    cpq_errinfo e;
    int rc;

    cpq_analysis_cfg_default(&cfg);
    snprintf(cfg.language, sizeof cfg.language, "%s", lang);
    cfg.stopwords = stop;
    rc = cpq_analyzer_create(&cfg, &a, &e);
    cr_assert_eq(rc, CPQ_OK, "create(%s): %s", lang, rc ? e.msg : "");
    return a;
}

static void setup(void)
{
    en = mk("english", NULL);
    ens = mk("english", STOPWORDS);
    none = mk("none", NULL);
}

static void teardown(void)
{
    cpq_analyzer_free(en);
    cpq_analyzer_free(ens);
    cpq_analyzer_free(none);
}

TestSuite(snippet, .init = setup, .fini = teardown);

static cpq_query *parse(const char *qs, cpq_analyzer *a)
{
    cpq_query *q = NULL;
    cpq_errinfo e;
    int rc = cpq_query_parse(qs, strlen(qs), a, none, 0, &q, &e);

    cr_assert_eq(rc, CPQ_OK, "parse(%s): %s", qs, rc ? e.msg : "");
    return q;
}

static int utf8_cont(unsigned char b)
{
    return (b & 0xC0) == 0x80;
}

/* The documented guarantees of any result over text[0..len). */
static void check_invariants(const cpq_snippet_out *o, const char *text, size_t len, size_t maxb,
                             int valid_utf8)
{
    cr_assert_leq(o->start, o->end);
    cr_assert_leq(o->end, len);
    if (maxb)
        cr_assert_leq(o->end - o->start, maxb);
    if (maxb == 0 || len <= maxb) {
        cr_assert_eq(o->start, 0);
        cr_assert_eq(o->end, len);
    }
    cr_assert_eq(o->ellipsis_start, o->start > 0);
    cr_assert_eq(o->ellipsis_end, o->end < len);
    for (size_t i = 0; i < o->nspans; i++) {
        const cpq_span_hl *sp = &o->spans[i];

        cr_assert_gt(sp->len, 0, "empty span %zu", i);
        cr_assert_leq((size_t)sp->start + sp->len, o->end - o->start, "span %zu outside window", i);
        if (i > 0)
            cr_assert_gt(sp->start, o->spans[i - 1].start + o->spans[i - 1].len,
                         "spans %zu and %zu overlap or touch", i - 1, i);
        if (valid_utf8) {
            size_t a = o->start + sp->start, z = a + sp->len;
            cr_assert(!utf8_cont((unsigned char)text[a]), "span %zu starts mid-character", i);
            cr_assert(z == len || !utf8_cont((unsigned char)text[z]), "span %zu ends mid-character", i);
        }
    }
    if (valid_utf8) {
        cr_assert(o->start == len || !utf8_cont((unsigned char)text[o->start]),
                  "window starts mid-character at %zu", o->start);
        cr_assert(o->end == len || !utf8_cont((unsigned char)text[o->end]),
                  "window ends mid-character at %zu", o->end);
    }
}

/* Snippet of text for qs (parsed with a, which also analyses the text), in
 * a buffer of exactly the text's length so ASan sees any over-read.
 * Returns the rendering with [ ] markers and "..." ellipses (malloc'd). */
static char *snip_with(cpq_analyzer *a, cpq_analyzer *pa, const char *qs, const char *text,
                       size_t maxb, cpq_snippet_out *o)
{
    size_t len = strlen(text), n;
    char *t = malloc(len ? len : 1), *r;
    cpq_query *q = parse(qs, a);
    cpq_errinfo e;
    int rc;

    memcpy(t, text, len);
    rc = cpq_snippet(a, pa, q, t, len, maxb, o, &e);
    cr_assert_eq(rc, CPQ_OK, "snippet(%s): %s", qs, rc ? e.msg : "");
    check_invariants(o, t, len, maxb, 1);
    n = cpq_snippet_render(o, t, len, "[", "]", "...", NULL, 0);
    r = malloc(n + 1);
    cr_assert_eq(cpq_snippet_render(o, t, len, "[", "]", "...", r, n + 1), n);
    cpq_query_free(q);
    free(t);
    return r;
}

static char *snip(const char *qs, const char *text, size_t maxb, cpq_snippet_out *o)
{
    return snip_with(en, none, qs, text, maxb, o);
}

#define EXPECT(qs, text, maxb, want)                                          \
    do {                                                                      \
        cpq_snippet_out o_ = { 0 };                                           \
        char *got_ = snip((qs), (text), (maxb), &o_);                         \
        cr_assert_str_eq(got_, (want), "query %s", (qs));                     \
        free(got_);                                                           \
        cpq_snippet_out_free(&o_);                                            \
    } while (0)

/* ------------------------------------------------------------------ */
/* What is highlighted                                                 */
/* ------------------------------------------------------------------ */

Test(snippet, single_term_stemmed)
{
    /* "running" and "runs" both stem to "run"; "Runner" to "runner". */
    EXPECT("running", "He runs every day; running is fun. Runner?", 0,
           "He [runs] every day; [running] is fun. Runner?");
    EXPECT("RUNS", "Running.", 0, "[Running].");
}

Test(snippet, several_terms)
{
    cpq_snippet_out o = { 0 };
    char *r = snip("cat dog", "A cat and a dog and a bird; cats too.", 0, &o);

    cr_assert_str_eq(r, "A [cat] and a [dog] and a bird; [cats] too.");
    cr_assert_eq(o.nspans, 3);
    cr_assert_eq(o.spans[0].start, 2);
    cr_assert_eq(o.spans[0].len, 3);
    cr_assert_eq(o.matched, 2, "two distinct leaves");
    cr_assert_eq(o.partial, 0);
    free(r);
    cpq_snippet_out_free(&o);
}

Test(snippet, phrase_is_one_span)
{
    cpq_snippet_out o = { 0 };
    char *r = snip("\"new york\"", "I love new  york city, new town.", 0, &o);

    cr_assert_str_eq(r, "I love [new  york] city, new town.");
    cr_assert_eq(o.nspans, 1);
    cr_assert_eq(o.spans[0].start, 7);
    cr_assert_eq(o.spans[0].len, 9);
    free(r);
    cpq_snippet_out_free(&o);
    /* A hyphenated word is a phrase too. */
    EXPECT("e-mail", "send e-mail or e mail", 0, "send [e-mail] or [e mail]");
}

Test(snippet, phrase_terms_elsewhere)
{
    const char *t = "new york is a city; york is old and new";

    /* Terms of a phrase are highlighted on their own only if they are leaves. */
    EXPECT("\"new york\" city", t, 0, "[new york] is a [city]; york is old and new");
    EXPECT("\"new york\" york", t, 0, "[new york] is a city; [york] is old and new");
    EXPECT("\"new york\" york new", t, 0, "[new york] is a city; [york] is old and [new]");
}

Test(snippet, phrase_with_stopword_gap)
{
    cpq_snippet_out o = { 0 };
    char *r;

    /* "of the" are stopwords: the phrase is state, art@3, and must match the gap. */
    r = snip_with(ens, none, "\"state of the art\"",
                  "the state of the art; the state of art", 0, &o);
    cr_assert_str_eq(r, "the [state of the art]; the state of art");
    free(r);
    cpq_snippet_out_free(&o);
}

Test(snippet, near)
{
    const char *t = "apple tart and cake. an apple pie here. pie alone far away from any fruit now apple";

    /* positions: apple 0, ... apple 5, pie 6, here 7, pie 8, ... apple 16 */
    EXPECT("apple NEAR/1 pie", t, 0,
           "apple tart and cake. an [apple] [pie] here. pie alone far away from any fruit now apple");
    EXPECT("apple NEAR/2 pie", t, 0,
           "apple tart and cake. an [apple] [pie] here. [pie] alone far away from any fruit now apple");
    /* Either order: pie 8 is next to here 7 too. */
    EXPECT("pie NEAR/0 here", t, 0,
           "apple tart and cake. an apple [pie] [here]. [pie] alone far away from any fruit now apple");
    /* A phrase operand is one span; no partner, no highlight. */
    EXPECT("\"apple pie\" NEAR/1 pie", t, 0,
           "apple tart and cake. an [apple pie] here. [pie] alone far away from any fruit now apple");
    EXPECT("fruit NEAR/0 tart", t, 0, t);
}

Test(snippet, prefix)
{
    cpq_snippet_out o = { 0 };
    char *r;

    /* The stem of "running" is "run", but its folded form starts with "runn". */
    EXPECT("runn*", "Running and runners ran; rung.", 0, "[Running] and [runners] ran; rung.");
    EXPECT("run*", "Running and runners ran; rung.", 0, "[Running] and [runners] ran; [rung].");
    /* "happy" is highlighted through its stem "happi" only. */
    EXPECT("happi*", "happy, happiness, happier, hap", 0, "[happy], [happiness], [happier], hap");
    /* Without the prefix analyser only stems count: "runner" starts with "runn", "run" does not. */
    r = snip_with(en, NULL, "runn*", "Running and runners ran; rung.", 0, &o);
    cr_assert_str_eq(r, "Running and [runners] ran; rung.");
    free(r);
    /* A stopword was never indexed, so a prefix never highlights it. */
    r = snip_with(ens, none, "th*", "the theory of them", 0, &o);
    cr_assert_str_eq(r, "the [theory] of [them]");
    free(r);
    cpq_snippet_out_free(&o);
}

Test(snippet, must_not_never_highlighted)
{
    cpq_snippet_out o = { 0 };
    char *r;

    EXPECT("apple -pie", "apple pie", 0, "[apple] pie");
    EXPECT("apple NOT (pie OR cake*)", "apple pie cakes", 0, "[apple] pie cakes");
    EXPECT("+apple -\"apple pie\"", "apple pie", 0, "[apple] pie");
    /* Nothing positive matches: the window starts at the passage start. */
    r = snip("banana -apple",
             "apple pie is a dish; apple pie is sweet; apple pie is served warm with cream and "
             "sugar on a cold winter evening by the fire.", 40, &o);
    cr_assert_eq(o.start, 0);
    cr_assert_eq(o.nspans, 0);
    cr_assert_eq(o.ellipsis_start, 0);
    cr_assert_eq(o.ellipsis_end, 1);
    cr_assert_str_eq(r, "apple pie is a dish; apple pie is sweet;...");
    free(r);
    cpq_snippet_out_free(&o);
}

Test(snippet, cjk_bigrams)
{
    const char *t = "私は東京都に住んでいます。京都にも行きました。";
    cpq_snippet_out o = { 0 };
    char *r;

    /* "東京都" is the phrase 東京 京都: one span over the three characters. */
    r = snip("東京都", t, 0, &o);
    cr_assert_str_eq(r, "私は[東京都]に住んでいます。京都にも行きました。");
    cr_assert_eq(o.nspans, 1);
    cr_assert_eq(o.spans[0].start, 6);
    cr_assert_eq(o.spans[0].len, 9);
    free(r);
    /* "京都" is one bigram: it occurs inside 東京都 too, as the engine sees it. */
    r = snip("京都", t, 0, &o);
    cr_assert_str_eq(r, "私は東[京都]に住んでいます。[京都]にも行きました。");
    for (size_t i = 0; i < o.nspans; i++) {
        cr_assert_eq(o.spans[i].start % 3, 0);
        cr_assert_eq(o.spans[i].len, 6);
    }
    free(r);
    /* Overlapping bigram matches merge into one span. */
    r = snip("東京 京都 都に", t, 0, &o);
    cr_assert_str_eq(r, "私は[東京都に]住んでいます。[京都に]も行きました。");
    free(r);
    /* A small window around a CJK match never splits a character. */
    r = snip("行き", t, 16, &o);
    cr_assert_eq(o.nspans, 1);
    cr_assert(strstr(r, "[行き]") != NULL, "%s", r);
    free(r);
    cpq_snippet_out_free(&o);
}

/* ------------------------------------------------------------------ */
/* The window                                                          */
/* ------------------------------------------------------------------ */

static char *filler(size_t nwords, size_t *len)
{
    static const char *w[] = { "lorem", "ipsum", "dolor", "sit", "amet", "consectetur",
                               "adipiscing", "elit", "sed", "do", "eiusmod", "tempor" };
    size_t cap = nwords * 13 + 1, n = 0;
    char *s = malloc(cap);

    for (size_t i = 0; i < nwords; i++)
        n += (size_t)snprintf(s + n, cap - n, "%s%s", i ? " " : "", w[(i * 7 + i / 3) % 12]);
    *len = n;
    return s;
}

/* Overwrite text at byte off (rounded up to the next word start) with word. */
static size_t plant(char *s, size_t len, size_t off, const char *word)
{
    size_t wl = strlen(word);

    while (off < len && s[off] != ' ')
        off++;
    off++;
    cr_assert_lt(off + wl, len);
    memcpy(s + off, word, wl);
    /* Blank the rest of the word it overwrote. */
    for (size_t i = off + wl; i < len && s[i] != ' '; i++)
        s[i] = ' ';
    return off;
}

Test(snippet, window_picks_densest_region)
{
    size_t len, at;
    char *s = filler(600, &len), *r;
    cpq_snippet_out o = { 0 };

    plant(s, len, 100, "alpha");
    plant(s, len, 900, "beta");
    plant(s, len, 1500, "alpha");
    plant(s, len, 1520, "alpha");
    at = plant(s, len, 2600, "alpha");
    plant(s, len, at + 20, "beta");
    plant(s, len, at + 40, "gamma");
    r = snip("alpha beta gamma", s, 120, &o);
    cr_assert_eq(o.matched, 3, "%s", r);
    cr_assert_eq(o.nspans, 3, "%s", r);
    cr_assert_leq(o.start, at);
    cr_assert_geq(o.end, at + 45);
    cr_assert_eq(o.ellipsis_start, 1);
    cr_assert_eq(o.ellipsis_end, 1);
    /* The match is roughly centred. */
    cr_assert_gt(at - o.start, 10, "%s", r);
    /* Words are whole at both edges, and no white space hangs at either. */
    cr_assert(s[o.start - 1] == ' ' && s[o.start] != ' ', "%s", r);
    cr_assert(s[o.end] == ' ' && s[o.end - 1] != ' ', "%s", r);
    free(r);
    cpq_snippet_out_free(&o);
    free(s);
}

Test(snippet, window_distinct_beats_repeats_and_ties_go_early)
{
    size_t len, a1, a2;
    char *s = filler(500, &len), *r;
    cpq_snippet_out o = { 0 };

    /* Four "alpha"s together, later one alpha and one beta together. */
    a1 = plant(s, len, 300, "alpha");
    plant(s, len, a1 + 8, "alpha");
    plant(s, len, a1 + 16, "alpha");
    plant(s, len, a1 + 24, "alpha");
    a2 = plant(s, len, 1500, "alpha");
    plant(s, len, a2 + 10, "beta");
    r = snip("alpha beta", s, 60, &o);
    cr_assert_leq(o.start, a2, "%s", r);
    cr_assert_geq(o.end, a2 + 14, "%s", r);
    free(r);

    /* Two equal clusters: the earlier wins. */
    plant(s, len, 2400, "beta");
    plant(s, len, a1 + 30, "beta");
    r = snip("alpha beta", s, 60, &o);
    cr_assert_lt(o.start, a2, "%s", r);
    free(r);
    cpq_snippet_out_free(&o);
    free(s);
}

Test(snippet, short_passage_is_whole)
{
    cpq_snippet_out o = { 0 };
    char *r = snip("fox", "The quick brown fox.", 64, &o);

    cr_assert_eq(o.start, 0);
    cr_assert_eq(o.end, 20);
    cr_assert_eq(o.ellipsis_start, 0);
    cr_assert_eq(o.ellipsis_end, 0);
    cr_assert_str_eq(r, "The quick brown [fox].");
    free(r);
    r = snip("fox", "The quick brown fox.", 20, &o);   /* exactly max_bytes */
    cr_assert_str_eq(r, "The quick brown [fox].");
    free(r);
    r = snip("fox", "", 0, &o);
    cr_assert_str_eq(r, "");
    cr_assert_eq(o.nspans, 0);
    free(r);
    cpq_snippet_out_free(&o);
}

Test(snippet, match_longer_than_window)
{
    const char *t = "intro words here, then the extraordinarily important announcement follows, "
                    "and more words after it to make the passage long enough";
    cpq_snippet_out o = { 0 };
    char *r = snip("\"extraordinarily important announcement follows\"", t, 16, &o);
    const char *at = strstr(t, "extraordinarily");

    cr_assert_eq(o.start, (size_t)(at - t), "%s", r);
    cr_assert_eq(o.nspans, 1);
    cr_assert_eq(o.spans[0].start, 0);
    cr_assert_str_eq(r, "...[extraordinarily]...");
    free(r);
    cpq_snippet_out_free(&o);
}

Test(snippet, window_never_splits_utf8)
{
    static const char *w[] = { "café", "naïve", "résumé", "東京", "Ωmega", "straße", "日本語",
                               "x", "déjà", "vu", "😀", "Ärger" };
    char s[8192];
    size_t n = 0;

    for (size_t i = 0; n < 6000; i++)
        n += (size_t)snprintf(s + n, sizeof s - n, "%s%s", i ? " " : "",
                              i == 400 ? "zebra" : i == 401 ? "ärger" : w[(i * 5 + i / 7) % 12]);
    for (size_t maxb = 16; maxb <= 200; maxb++) {
        cpq_snippet_out o = { 0 };
        char *r = snip("zebra ärger", s, maxb, &o);

        cr_assert_geq(o.nspans, 1, "maxb %zu: %s", maxb, r);
        cr_assert_geq(o.matched, 1);
        if (maxb >= 32) {
            unsigned char a = (unsigned char)s[o.start], z = (unsigned char)s[o.end];

            cr_assert_eq(o.matched, 2, "maxb %zu: %s", maxb, r);
            /* Whole words at the edges (every word here is short); a CJK
             * character (lead byte E3..E9 here) is a word of its own. */
            cr_assert(s[o.start - 1] == ' ' || (a >= 0xE3 && a <= 0xE9), "maxb %zu: %s", maxb, r);
            cr_assert(s[o.end] == ' ' || (z >= 0xE3 && z <= 0xE9), "maxb %zu: %s", maxb, r);
        }
        free(r);
        cpq_snippet_out_free(&o);
    }
}

Test(snippet, small_windows)
{
    /* Every window size finds a match; matches crossing an edge are cut to
     * it (check_invariants, in snip, checks the spans). */
    size_t len;
    char *s = filler(300, &len), *r;
    cpq_snippet_out o = { 0 };

    for (size_t maxb = 16; maxb < 64; maxb += 3) {
        r = snip("\"adipiscing elit\" tempo* eiusmod", s, maxb, &o);
        cr_assert_geq(o.nspans, 1, "maxb %zu: %s", maxb, r);
        cr_assert_geq(o.matched, 1, "maxb %zu: %s", maxb, r);
        cr_assert_eq(o.ellipsis_start, o.start > 0);
        free(r);
    }
    cpq_snippet_out_free(&o);
    free(s);
}

/* ------------------------------------------------------------------ */
/* Rendering, arguments, limits                                        */
/* ------------------------------------------------------------------ */

Test(snippet, render)
{
    const char *t = "the cat sat";
    cpq_span_hl sp[2] = { { 4, 3 }, { 8, 3 } };
    cpq_snippet_out o = { 0 };
    char buf[64];

    o.start = 0;
    o.end = 11;
    o.spans = sp;
    o.nspans = 2;
    cr_assert_eq(cpq_snippet_render(&o, t, 11, "<b>", "</b>", NULL, buf, sizeof buf), 25);
    cr_assert_str_eq(buf, "the <b>cat</b> <b>sat</b>");
    /* Truncated like snprintf. */
    cr_assert_eq(cpq_snippet_render(&o, t, 11, "<b>", "</b>", NULL, buf, 8), 25);
    cr_assert_str_eq(buf, "the <b>");
    cr_assert_eq(cpq_snippet_render(&o, t, 11, "<b>", "</b>", NULL, buf, 1), 25);
    cr_assert_str_eq(buf, "");
    cr_assert_eq(cpq_snippet_render(&o, t, 11, "<b>", "</b>", NULL, NULL, 0), 25);
    /* NULL markers are empty; ellipses where flagged; a window in the middle. */
    o.start = 4;
    o.end = 7;
    o.ellipsis_start = o.ellipsis_end = 1;
    sp[0].start = 0;
    o.nspans = 1;
    cr_assert_eq(cpq_snippet_render(&o, t, 11, NULL, NULL, "…", buf, sizeof buf), 9);
    cr_assert_str_eq(buf, "…cat…");
    /* Out-of-range fields are clipped, never read. */
    o.end = 1000;
    sp[0].len = 999;
    o.ellipsis_start = o.ellipsis_end = 0;
    cr_assert_eq(cpq_snippet_render(&o, t, 11, "[", "]", NULL, buf, sizeof buf), 9);
    cr_assert_str_eq(buf, "[cat sat]");
    cr_assert_eq(cpq_snippet_render(NULL, t, 11, "[", "]", NULL, buf, sizeof buf), 0);
}

Test(snippet, bad_arguments)
{
    cpq_query *q = parse("cat", en);
    cpq_snippet_out o = { 0 };
    cpq_errinfo e;
    const char *t = "cat";

    cr_assert_eq(cpq_snippet(en, none, q, t, 3, 15, &o, &e), CPQ_EINVAL);
    cr_assert(strstr(e.msg, "max_bytes") != NULL, "%s", e.msg);
    cr_assert_eq(cpq_snippet(en, none, q, t, 3, CPQ_SNIPPET_MAX_BYTES + 1, &o, &e), CPQ_EINVAL);
    cr_assert_eq(cpq_snippet(en, none, q, t, 3, CPQ_SNIPPET_MIN_BYTES, &o, &e), CPQ_OK);
    cr_assert_eq(cpq_snippet(en, none, q, t, 3, CPQ_SNIPPET_MAX_BYTES, &o, &e), CPQ_OK);
    cr_assert_eq(cpq_snippet(NULL, none, q, t, 3, 0, &o, &e), CPQ_EINVAL);
    cr_assert_eq(cpq_snippet(en, none, NULL, t, 3, 0, &o, &e), CPQ_EINVAL);
    cr_assert_eq(cpq_snippet(en, none, q, NULL, 3, 0, &o, &e), CPQ_EINVAL);
    cr_assert_eq(o.nspans, 0);
    cr_assert_eq(o.end, 0);
    cr_assert_eq(cpq_snippet(en, none, q, t, 3, 0, NULL, NULL), CPQ_EINVAL);
    cr_assert_eq(cpq_snippet(en, none, q, NULL, 0, 0, &o, NULL), CPQ_OK);
    cpq_snippet_out_free(&o);
    cpq_snippet_out_free(NULL);
    cpq_query_free(q);
}

Test(snippet, empty_query_root)
{
    cpq_snippet_out o = { 0 };
    char *r = snip_with(ens, none, "the", "the cat and the hat", 0, &o);

    cr_assert_eq(o.nspans, 0);
    cr_assert_str_eq(r, "the cat and the hat");
    free(r);
    cpq_snippet_out_free(&o);
}

Test(snippet, token_limit)
{
    /* More tokens than CPQ_SNIPPET_MAX_TOKENS: the rest is not matched. */
    size_t n = (CPQ_SNIPPET_MAX_TOKENS + 1000) * 2;
    char *t = malloc(n);
    cpq_query *q = parse("b", en);
    cpq_snippet_out o = { 0 };
    cpq_errinfo e;

    for (size_t i = 0; i < n; i += 2) {
        t[i] = i / 2 >= CPQ_SNIPPET_MAX_TOKENS ? 'b' : 'a';
        t[i + 1] = ' ';
    }
    cr_assert_eq(cpq_snippet(en, none, q, t, n, 64, &o, &e), CPQ_OK, "%s", e.msg);
    cr_assert_eq(o.partial, 1);
    cr_assert_eq(o.nspans, 0);
    cr_assert_eq(o.start, 0);
    check_invariants(&o, t, n, 64, 1);
    cpq_query_free(q);
    cpq_snippet_out_free(&o);
    free(t);
}

/* ------------------------------------------------------------------ */
/* Random input                                                        */
/* ------------------------------------------------------------------ */

static const char *fuzz_queries[] = {
    "cat dog", "\"cat dog\"", "ca* -dog", "cat NEAR/2 \"dog cat\"", "東京 \"京都 大阪\"",
    "caf* OR naïve", "+cat +(dog OR bird*) -\"bird cat\"", "a b c d e f g",
    "x*", "\"dog dog dog\"", "cat NEAR/0 cat",
};

Test(snippet, fuzz_random_bytes)
{
    uint64_t st = 0x5eed5eedULL;
    cpq_query *qs[sizeof fuzz_queries / sizeof *fuzz_queries];
    cpq_snippet_out o = { 0 };
    cpq_errinfo e;

    for (size_t i = 0; i < sizeof qs / sizeof *qs; i++)
        qs[i] = parse(fuzz_queries[i], en);
    for (int iter = 0; iter < 3000; iter++) {
        size_t len = tu_rand(&st) % 2500;
        char *t = malloc(len ? len : 1);
        size_t maxb = tu_rand(&st) % 4 == 0 ? 0 : 16 + tu_rand(&st) % 600;
        cpq_query *q = qs[tu_rand(&st) % (sizeof qs / sizeof *qs)];
        int mode = (int)(tu_rand(&st) % 3);
        char buf[256];
        size_t rl;

        for (size_t i = 0; i < len; i++) {
            uint64_t r = tu_rand(&st);

            if (mode == 0) {   /* raw bytes */
                t[i] = (char)(r & 0xff);
            } else {           /* words from the queries' vocabulary and broken UTF-8 */
                static const char *v[] = { "cat ", "dog ", "bird", "café ", "東京", "京都",
                                           "大阪", " ", "\xe6\x9d", "\x80", "naïve", "x" };
                const char *w = v[r % 12];
                size_t wl = strlen(w);

                for (size_t k = 0; k < wl && i < len; k++)
                    t[i++] = w[k];
                i--;
            }
        }
        cr_assert_eq(cpq_snippet(en, (tu_rand(&st) & 1) ? none : NULL, q, t, len, maxb, &o, &e),
                     CPQ_OK, "%s", e.msg);
        check_invariants(&o, t, len, maxb, 0);
        rl = cpq_snippet_render(&o, t, len, "\x1b[1m", "\x1b[0m", "...", buf, sizeof buf);
        cr_assert_eq(rl, (o.end - o.start) + o.nspans * 8 + 3 * (size_t)(o.ellipsis_start + o.ellipsis_end));
        free(t);
    }
    for (size_t i = 0; i < sizeof qs / sizeof *qs; i++)
        cpq_query_free(qs[i]);
    cpq_snippet_out_free(&o);
}
