/* test_analyze.c - the text analyser (analyze.h). */
#include <criterion/criterion.h>

#include <libstemmer.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "analyze.h"
#include "testutil.h"

/* ------------------------------------------------------------------ */
/* Helpers                                                             */
/* ------------------------------------------------------------------ */

#define MAXTOK 512

typedef struct tk {
    char term[CPQ_TERM_MAX + 1];
    size_t len;
    uint32_t pos;
    size_t start, end;
} tk;

typedef struct tks {
    tk v[MAXTOK];
    size_t n;
    size_t stop_at;   /* return 42 from the callback on token number stop_at (1-based); 0: never */
    uint32_t npos;
    int rc;
} tks;

static int collect(void *ctx, const cpq_token *t)
{
    tks *o = ctx;

    cr_assert(t->len >= 1 && t->len <= CPQ_TERM_MAX, "term length %zu", t->len);
    cr_assert(o->n < MAXTOK);
    memcpy(o->v[o->n].term, t->term, t->len);
    o->v[o->n].term[t->len] = '\0';
    o->v[o->n].len = t->len;
    o->v[o->n].pos = t->pos;
    o->v[o->n].start = t->start;
    o->v[o->n].end = t->end;
    o->n++;
    return o->stop_at && o->n == o->stop_at ? 42 : 0;
}

static cpq_analyzer *mk(const char *lang, int strip, const char *stop)
{
    cpq_analysis_cfg cfg;
    cpq_analyzer *a = NULL;
    cpq_errinfo e;
    int rc;

    cpq_analysis_cfg_default(&cfg);
    snprintf(cfg.language, sizeof cfg.language, "%s", lang);
    cfg.strip_accents = strip;
    cfg.stopwords = stop;
    rc = cpq_analyzer_create(&cfg, &a, &e);
    cr_assert_eq(rc, CPQ_OK, "create(%s): %s", lang, rc ? e.msg : "");
    cr_assert_not_null(a);
    return a;
}

/* Analyse text (len bytes) from position pos0 into *o. */
static void run_len(const char *lang, int strip, const char *stop, const char *text, size_t len,
                    uint32_t pos0, tks *o)
{
    cpq_analyzer *a = mk(lang, strip, stop);
    size_t stop_at = o->stop_at;

    memset(o, 0, sizeof *o);
    o->stop_at = stop_at;
    o->rc = cpq_analyze(a, text, len, pos0, collect, o, &o->npos);
    cpq_analyzer_free(a);
}

static void run(const char *lang, int strip, const char *stop, const char *text, tks *o)
{
    o->stop_at = 0;
    run_len(lang, strip, stop, text, strlen(text), 0, o);
}

/* The terms of text, joined by '|'. */
static const char *terms(const char *lang, int strip, const char *stop, const char *text)
{
    static char buf[8192];
    static tks o;
    size_t i, k = 0;

    run(lang, strip, stop, text, &o);
    cr_assert_eq(o.rc, CPQ_OK);
    buf[0] = '\0';
    for (i = 0; i < o.n; i++) {
        k += (size_t)snprintf(buf + k, sizeof buf - k, "%s%s", i ? "|" : "", o.v[i].term);
        cr_assert(k < sizeof buf);
    }
    return buf;
}

#define EXPECT_TERMS(lang, strip, stop, text, want)                                \
    do {                                                                           \
        const char *got_ = terms(lang, strip, stop, text);                         \
        cr_assert_str_eq(got_, want, "analyse(%s, strip=%d) \"%s\": got \"%s\", want \"%s\"", \
                         lang, strip, text, got_, want);                           \
    } while (0)

static void expect_tok(const tk *t, const char *term, uint32_t pos, size_t start, size_t end)
{
    cr_assert_str_eq(t->term, term);
    cr_assert_eq(t->pos, pos, "'%s': pos %u, want %u", term, t->pos, pos);
    cr_assert_eq(t->start, start, "'%s': start %zu, want %zu", term, t->start, start);
    cr_assert_eq(t->end, end, "'%s': end %zu, want %zu", term, t->end, end);
}

/* ------------------------------------------------------------------ */
/* Configuration                                                       */
/* ------------------------------------------------------------------ */

Test(analyze, cfg_default)
{
    cpq_analysis_cfg cfg;

    memset(&cfg, 0x55, sizeof cfg);
    cpq_analysis_cfg_default(&cfg);
    cr_assert_str_eq(cfg.language, "english");
    cr_assert_eq(cfg.strip_accents, 0);
    cr_assert(cfg.stopwords == NULL || cfg.stopwords[0] == '\0');
}

Test(analyze, unknown_language)
{
    cpq_analysis_cfg cfg;
    cpq_analyzer *a = (cpq_analyzer *)&cfg; /* must be reset to NULL */
    cpq_errinfo e;

    cpq_analysis_cfg_default(&cfg);
    strcpy(cfg.language, "klingon");
    memset(&e, 0, sizeof e);
    cr_assert_eq(cpq_analyzer_create(&cfg, &a, &e), CPQ_ELANG);
    cr_assert_null(a);
    cr_assert_eq(e.code, CPQ_ELANG);
    cr_assert_not_null(strstr(e.msg, "klingon"), "message: %s", e.msg);
    /* e may be NULL */
    cr_assert_eq(cpq_analyzer_create(&cfg, &a, NULL), CPQ_ELANG);
    /* names are case-sensitive, as libstemmer's are */
    strcpy(cfg.language, "English");
    cr_assert_eq(cpq_analyzer_create(&cfg, &a, NULL), CPQ_ELANG);
}

Test(analyze, bad_cfg)
{
    cpq_analysis_cfg cfg;
    cpq_analyzer *a = NULL;

    cpq_analysis_cfg_default(&cfg);
    cfg.language[0] = '\0';
    cr_assert_eq(cpq_analyzer_create(&cfg, &a, NULL), CPQ_EINVAL);
    cr_assert_null(a);

    cpq_analysis_cfg_default(&cfg);
    memset(cfg.language, 'e', sizeof cfg.language); /* not NUL-terminated */
    cr_assert_eq(cpq_analyzer_create(&cfg, &a, NULL), CPQ_EINVAL);

    cpq_analysis_cfg_default(&cfg);
    cfg.strip_accents = 2;
    cr_assert_eq(cpq_analyzer_create(&cfg, &a, NULL), CPQ_EINVAL);

    cr_assert_eq(cpq_analyzer_create(NULL, &a, NULL), CPQ_EINVAL);
    cr_assert_eq(cpq_analyzer_create(&cfg, NULL, NULL), CPQ_EINVAL);
    cpq_analyzer_free(NULL);
}

Test(analyze, languages)
{
    const char **l = cpq_analyzer_languages();
    int english = 0, russian = 0;
    size_t n = 0;

    cr_assert_not_null(l);
    for (; *l; l++, n++) {
        cpq_analyzer *a = mk(*l, 0, NULL);   /* every listed language works */
        cpq_analyzer_free(a);
        english |= strcmp(*l, "english") == 0;
        russian |= strcmp(*l, "russian") == 0;
    }
    cr_assert(n >= 10);
    cr_assert(english && russian);
    cpq_analyzer_free(mk("none", 0, NULL));
}

/* ------------------------------------------------------------------ */
/* Segmentation and normalisation                                      */
/* ------------------------------------------------------------------ */

Test(analyze, ascii_basic)
{
    tks o;

    run("none", 0, NULL, "Hello, World!  foo_bar\tBAZ-9", &o);
    cr_assert_eq(o.rc, CPQ_OK);
    cr_assert_eq(o.n, 6);
    expect_tok(&o.v[0], "hello", 0, 0, 5);
    expect_tok(&o.v[1], "world", 1, 7, 12);
    expect_tok(&o.v[2], "foo", 2, 15, 18);
    expect_tok(&o.v[3], "bar", 3, 19, 22);
    expect_tok(&o.v[4], "baz", 4, 23, 26);
    expect_tok(&o.v[5], "9", 5, 27, 28);
    cr_assert_eq(o.npos, 6);
    EXPECT_TERMS("none", 0, NULL, "", "");
    EXPECT_TERMS("none", 0, NULL, " \t\n.,;!", "");
    /* long runs cross the 8-byte blocks of the fast scanner */
    EXPECT_TERMS("none", 0, NULL, "ABCDEFGHIJKLMNOPQRSTUVWXYZ abcdefghijklmnopqrstuvwxyz@[`{",
                 "abcdefghijklmnopqrstuvwxyz|abcdefghijklmnopqrstuvwxyz");
    EXPECT_TERMS("none", 0, NULL, "A/B:C@D[E`F{G0/9:", "a|b|c|d|e|f|g0|9");
}

Test(analyze, empty_and_null)
{
    cpq_analyzer *a = mk("english", 0, NULL);
    tks o;
    uint32_t np = 0;

    memset(&o, 0, sizeof o);
    cr_assert_eq(cpq_analyze(a, NULL, 0, 17, collect, &o, &np), CPQ_OK);
    cr_assert_eq(o.n, 0);
    cr_assert_eq(np, 17);
    cr_assert_eq(cpq_analyze(a, "x", 1, 3, collect, &o, NULL), CPQ_OK);
    cr_assert_eq(o.n, 1);
    cr_assert_eq(o.v[0].pos, 3);
    cpq_analyzer_free(a);
}

Test(analyze, latin_accents)
{
    EXPECT_TERMS("none", 0, NULL, "Café Naïve RÉSUMÉ", "café|naïve|résumé");
    EXPECT_TERMS("none", 1, NULL, "Café Naïve RÉSUMÉ", "cafe|naive|resume");
    /* decomposed input composes (NFC) or loses its marks */
    EXPECT_TERMS("none", 0, NULL, "Cafe\xcc\x81", "caf\xc3\xa9");
    EXPECT_TERMS("none", 1, NULL, "Cafe\xcc\x81", "cafe");
    EXPECT_TERMS("none", 1, NULL, "Ångström Dvořák Łódź", "angstrom|dvorak|łodz");
    /* the byte range is the source's, not the term's */
    {
        tks o;

        run("none", 1, NULL, "le Café!", &o);
        cr_assert_eq(o.n, 2);
        expect_tok(&o.v[1], "cafe", 1, 3, 8);
    }
}

Test(analyze, case_folding)
{
    EXPECT_TERMS("none", 0, NULL, "Straße STRASSE strasse", "strasse|strasse|strasse");
    EXPECT_TERMS("none", 0, NULL, "ΟΔΥΣΣΕΥΣ Οδυσσευς", "οδυσσευσ|οδυσσευσ");
    EXPECT_TERMS("none", 0, NULL, "\xc7\x85" "emal", "d\xc5\xbe" "emal"); /* ǅ -> ǆ -> d ž */
    EXPECT_TERMS("english", 0, NULL, "Straße", "strass");
}

Test(analyze, nfkc)
{
    EXPECT_TERMS("none", 0, NULL, "\xef\xac\x81le", "file");               /* ﬁ ligature */
    EXPECT_TERMS("none", 0, NULL, "Ｆｕｌｌ ｗｉｄｔｈ ２０１５", "full|width|2015");
    EXPECT_TERMS("none", 0, NULL, "x² Ⅻ ①", "x2|xii|1");
    /* U+FE0F (a default-ignorable mark) disappears */
    EXPECT_TERMS("none", 0, NULL, "a\xef\xb8\x8f" "b", "ab");
}

Test(analyze, marks)
{
    tks o;

    /* a lone combining mark is a token of its own ... */
    run("none", 0, NULL, "a \xcc\x81 b", &o);
    cr_assert_eq(o.n, 3);
    expect_tok(&o.v[1], "\xcc\x81", 1, 2, 4);
    /* ... unless accents are stripped: then it is nothing, not even a position */
    run("none", 1, NULL, "a \xcc\x81 b", &o);
    cr_assert_eq(o.n, 2);
    expect_tok(&o.v[1], "b", 1, 5, 6);
    cr_assert_eq(o.npos, 2);
}

Test(analyze, cyrillic_russian)
{
    tks o;

    EXPECT_TERMS("russian", 0, NULL, "Москва, книги; Читающий ёлка", "москв|книг|чита|елк");
    EXPECT_TERMS("none", 0, NULL, "Москва КНИГИ", "москва|книги");
    EXPECT_TERMS("none", 1, NULL, "Ёлка йод", "елка|иод");
    run("russian", 0, NULL, "в Москве", &o);
    cr_assert_eq(o.n, 2);
    expect_tok(&o.v[1], "москв", 1, 3, 15);
}

Test(analyze, english_stemming)
{
    EXPECT_TERMS("english", 0, NULL, "running cats Generously", "run|cat|generous");
    EXPECT_TERMS("english", 0, NULL, "The CATS' cat's", "the|cat|cat");
    EXPECT_TERMS("english", 0, NULL, "2015 x86", "2015|x86");
}

Test(analyze, language_none)
{
    EXPECT_TERMS("none", 0, NULL, "running cats Generously", "running|cats|generously");
}

/* The prefix analyser keeps the index's folding and drops its stemmer and
 * stopwords. */
Test(analyze, prefix_analyser)
{
    cpq_analysis_cfg cfg;
    cpq_analyzer *pan = NULL;
    tks o;
    cpq_analysis_cfg_default(&cfg);
    cfg.strip_accents = 1;
    cfg.stopwords = "the";
    cr_assert_eq(cpq_analyzer_create_prefix(&cfg, &pan, NULL), CPQ_OK);
    memset(&o, 0, sizeof o);
    const char *text = "The Running Caf\xc3\xa9s";
    cr_assert_eq(cpq_analyze(pan, text, strlen(text), 0, collect, &o, NULL), CPQ_OK);
    cr_assert_eq(o.n, 3);
    cr_assert_str_eq(o.v[0].term, "the");
    cr_assert_str_eq(o.v[1].term, "running");
    cr_assert_str_eq(o.v[2].term, "cafes");
    cpq_analyzer_free(pan);
    cr_assert_eq(cpq_analyzer_create_prefix(NULL, &pan, NULL), CPQ_EINVAL);
    cr_assert_null(pan);
}

Test(analyze, digits)
{
    tks o;

    run("english", 0, NULL, "In 2015, 3.14 x86_64 ٢٠١٥", &o);
    cr_assert_eq(o.n, 7);
    expect_tok(&o.v[0], "in", 0, 0, 2);
    expect_tok(&o.v[1], "2015", 1, 3, 7);
    expect_tok(&o.v[2], "3", 2, 9, 10);
    expect_tok(&o.v[3], "14", 3, 11, 13);
    expect_tok(&o.v[4], "x86", 4, 14, 17);
    expect_tok(&o.v[5], "64", 5, 18, 20);
    /* Arabic-Indic digits are numbers (Nd); NFKC keeps them */
    expect_tok(&o.v[6], "٢٠١٥", 6, 21, 29);
}

Test(analyze, apostrophes)
{
    tks o;

    EXPECT_TERMS("none", 0, NULL, "don't O'Neill l'été", "don't|o'neill|l'été");
    EXPECT_TERMS("english", 0, NULL, "don't O'Neill", "don't|o'neil");
    /* U+2019 becomes "'" */
    run("none", 0, NULL, "don\xe2\x80\x99t", &o);
    cr_assert_eq(o.n, 1);
    expect_tok(&o.v[0], "don't", 0, 0, 7);
    /* only between two letters */
    EXPECT_TERMS("none", 0, NULL, "rock 'n' roll", "rock|n|roll");
    EXPECT_TERMS("none", 0, NULL, "cats' a''b 2'b b'2 '", "cats|a|b|2|b|b|2");
    EXPECT_TERMS("none", 0, NULL, "x\xe2\x80\x99 \xe2\x80\x99y", "x|y");
    EXPECT_TERMS("none", 0, NULL, "L\xe2\x80\x99Été l\xe2\x80\x99'a", "l'été|l|a");
    EXPECT_TERMS("none", 0, NULL, "ab'", "ab");
    EXPECT_TERMS("none", 0, NULL, "Café's a٢'b ж'ж", "café's|a٢|b|ж'ж");
    /* what precedes the apostrophe, at the 8-byte block edges of the scanner */
    EXPECT_TERMS("none", 0, NULL, "abcdefg1'a abcdefgh'i abcdefghijklmno1'p abcdefghijklmnop'q",
                 "abcdefg1|a|abcdefgh'i|abcdefghijklmno1|p|abcdefghijklmnop'q");
    EXPECT_TERMS("none", 0, NULL, "abc1'd abcdefghij1'k abcdefghijk'l______________",
                 "abc1|d|abcdefghij1|k|abcdefghijk'l");
    /* a letter with a combining mark still counts as a letter */
    EXPECT_TERMS("none", 0, NULL, "e\xcc\x81't", "é't");
}

/* ------------------------------------------------------------------ */
/* CJK                                                                 */
/* ------------------------------------------------------------------ */

Test(analyze, cjk_bigrams)
{
    tks o;

    run("english", 0, NULL, "東京都に住む", &o);
    cr_assert_eq(o.rc, CPQ_OK);
    cr_assert_eq(o.n, 5);
    expect_tok(&o.v[0], "東京", 0, 0, 6);
    expect_tok(&o.v[1], "京都", 1, 3, 9);
    expect_tok(&o.v[2], "都に", 2, 6, 12);
    expect_tok(&o.v[3], "に住", 3, 9, 15);
    expect_tok(&o.v[4], "住む", 4, 12, 18);
    cr_assert_eq(o.npos, 5);

    run("english", 0, NULL, "東", &o);
    cr_assert_eq(o.n, 1);
    expect_tok(&o.v[0], "東", 0, 0, 3);

    /* punctuation splits runs */
    EXPECT_TERMS("english", 0, NULL, "東京、大阪。京", "東京|大阪|京");
    EXPECT_TERMS("english", 0, NULL, "한국어 텍스트", "한국|국어|텍스|스트");
    EXPECT_TERMS("english", 0, NULL, "カタカナ", "カタ|タカ|カナ");
}

Test(analyze, cjk_mixed_latin)
{
    tks o;

    run("english", 0, NULL, "我爱Linux内核2015年 running", &o);
    cr_assert_eq(o.n, 6);
    expect_tok(&o.v[0], "我爱", 0, 0, 6);
    expect_tok(&o.v[1], "linux", 1, 6, 11);
    expect_tok(&o.v[2], "内核", 2, 11, 17);
    expect_tok(&o.v[3], "2015", 3, 17, 21);
    expect_tok(&o.v[4], "年", 4, 21, 24);
    expect_tok(&o.v[5], "run", 5, 25, 32);
    cr_assert_eq(o.npos, 6);
    /* no apostrophe joins CJK */
    EXPECT_TERMS("none", 0, NULL, "a'東", "a|東");
}

Test(analyze, cjk_normalisation)
{
    tks o;

    /* CJK compatibility ideograph U+F900 -> U+8C48 */
    EXPECT_TERMS("none", 0, NULL, "\xef\xa4\x80", "\xe8\xb1\x88");
    /* halfwidth katakana with a halfwidth voicing mark: one character */
    run("none", 0, NULL, "ｶﾞｷ", &o);
    cr_assert_eq(o.n, 1);
    expect_tok(&o.v[0], "ガキ", 0, 0, 9);
    /* the semi-voiced mark too */
    run("none", 0, NULL, "ﾊﾟﾝ", &o);
    cr_assert_eq(o.n, 1);
    expect_tok(&o.v[0], "パン", 0, 0, 9);
    /* a final consonant Jamo (U+11A8, U+D7F1) extends the syllable before it */
    run("none", 0, NULL, "가\xe1\x86\xa8나", &o);
    cr_assert_eq(o.n, 1);
    expect_tok(&o.v[0], "각나", 0, 0, 9);
    run("none", 0, NULL, "가\xed\x9f\xb1나", &o);
    cr_assert_eq(o.n, 1);
    expect_tok(&o.v[0], "가\xed\x9f\xb1나", 0, 0, 9);
    /* a decomposed Hangul syllable is one character, composed */
    run("none", 0, NULL, "\xe1\x84\x92\xe1\x85\xa1\xe1\x86\xab\xea\xb5\xad", &o); /* ᄒ ᅡ ᆫ 국 */
    cr_assert_eq(o.n, 1);
    expect_tok(&o.v[0], "한국", 0, 0, 12);
    /* a combining voicing mark stays with its kana; strip_accents leaves CJK alone */
    run("none", 1, NULL, "か\xe3\x82\x99き", &o);
    cr_assert_eq(o.n, 1);
    expect_tok(&o.v[0], "がき", 0, 0, 9);
    /* CJK is not stopworded */
    EXPECT_TERMS("none", 0, "東京 the", "東京 the", "東京");
}

static int letter_or_number(int32_t cp)
{
    utf8proc_category_t c = utf8proc_category(cp);

    return (c >= UTF8PROC_CATEGORY_LU && c <= UTF8PROC_CATEGORY_LO) ||
           (c >= UTF8PROC_CATEGORY_ND && c <= UTF8PROC_CATEGORY_NO);
}

/* Every CJK letter or number, alone and followed by another, is analysed to
 * exactly its NFKC_Casefold: this covers the fast path (code points copied
 * without utf8proc), the slow path and the extenders. */
Test(analyze, cjk_matches_utf8proc)
{
    static const int32_t ranges[][2] = {
        { 0x1100, 0x11FF }, { 0x2E80, 0x9FFF }, { 0xA960, 0xA97F }, { 0xAC00, 0xD7FF },
        { 0xF900, 0xFAFF }, { 0xFF66, 0xFFDC }, { 0x1AFF0, 0x1B16F }, { 0x20000, 0x3FFFF },
    };
    const size_t nranges = sizeof ranges / sizeof ranges[0];
    cpq_analyzer *a = mk("none", 0, NULL);
    uint64_t rng = 7;
    size_t r, checked = 0;

    for (r = 0; r < nranges; r++) {
        int32_t cp;

        for (cp = ranges[r][0]; cp <= ranges[r][1]; cp++) {
            utf8proc_uint8_t buf[16], *want;
            utf8proc_ssize_t n, n2;
            int32_t cp2;
            size_t rr;

            if (!letter_or_number(cp))
                continue;   /* marks, symbols, unassigned: not a CJK character */
            if (cp >= 0x20000 && tu_rand(&rng) % 8)
                continue;   /* planes 2 and 3: a sample */
            /* pair it with a random CJK letter or number */
            do {
                rr = tu_rand(&rng) % nranges;
                cp2 = ranges[rr][0] + (int32_t)(tu_rand(&rng) % (uint64_t)(ranges[rr][1] -
                                                                           ranges[rr][0] + 1));
            } while (!letter_or_number(cp2));
            for (int pair = 0; pair < 2; pair++) {
                utf8proc_ssize_t len;
                tks o;

                n = utf8proc_encode_char(cp, buf);
                n2 = pair ? utf8proc_encode_char(cp2, buf + n) : 0;
                len = n + n2;
                buf[len] = 0;
                want = utf8proc_NFKC_Casefold(buf);
                cr_assert_not_null(want);
                memset(&o, 0, sizeof o);
                cr_assert_eq(cpq_analyze(a, (const char *)buf, (size_t)len, 0, collect, &o, NULL), 0);
                if (want[0] == '\0') {   /* a default-ignorable filler alone */
                    cr_assert_eq(o.n, 0, "U+%04X: %zu tokens", (unsigned)cp, o.n);
                } else {
                    cr_assert_eq(o.n, 1, "U+%04X U+%04X (%d): %zu tokens", (unsigned)cp,
                                 (unsigned)cp2, pair, o.n);
                    cr_assert_str_eq(o.v[0].term, (const char *)want, "U+%04X U+%04X (%d)",
                                     (unsigned)cp, (unsigned)cp2, pair);
                    cr_assert_eq(o.v[0].end, (size_t)len, "U+%04X U+%04X (%d): end %zu", (unsigned)cp, (unsigned)cp2, pair, o.v[0].end);
                }
                free(want);
                checked++;
            }
        }
    }
    cr_assert(checked > 90000, "only %zu checked", checked);
    cpq_analyzer_free(a);
}

/* Tokens with non-ASCII letters are exactly utf8proc's NFKC_Casefold (with
 * marks stripped when asked), and ASCII ones exactly their lowercase. */
Test(analyze, normalisation_matches_utf8proc)
{
    static const char *pool[] = {
        "a", "B", "z", "Q", "0", "7", "é", "É", "ß", "ẞ", "ﬁ", "ﬀ", "Ａ", "ｚ", "１",
        "\xcc\x81", "\xcc\xa7", "\xcd\x85", "Σ", "ς", "ι", "ΐ", "ᾂ", "Ω", "\xe2\x84\xa6", "\xe2\x84\xaa",
        "Ж", "ё", "İ", "ı", "ǅ", "Ⅻ", "²", "½", "ℌ", "\xef\xb8\x8f", "ﬆ", "Ǆ", "ŉ",
        "ﬃ", "ᾼ", "ά", "ǰ", "\xe1\xbe\x82", "Å", "\xe2\x84\xab", "ã", "\xd6\xb8", "ו", "ש",
    };
    const size_t npool = sizeof pool / sizeof pool[0];
    cpq_analyzer *an[2] = { mk("none", 0, NULL), mk("none", 1, NULL) };
    uint64_t rng = 42;
    int iter, strip;

    for (iter = 0; iter < 20000; iter++) {
        char word[256];
        size_t k = 0, j, parts = 1 + tu_rand(&rng) % 12;

        for (j = 0; j < parts; j++) {
            const char *p = pool[tu_rand(&rng) % npool];

            memcpy(word + k, p, strlen(p));
            k += strlen(p);
        }
        word[k] = '\0';
        for (strip = 0; strip < 2; strip++) {
            utf8proc_uint8_t *want = NULL;
            utf8proc_option_t opt = UTF8PROC_NULLTERM | UTF8PROC_COMPOSE |
                                    UTF8PROC_COMPAT | UTF8PROC_CASEFOLD | UTF8PROC_IGNORE |
                                    (strip ? UTF8PROC_STRIPMARK : 0);
            tks o;

            cr_assert(utf8proc_map((const utf8proc_uint8_t *)word, 0, &want, opt) >= 0);
            memset(&o, 0, sizeof o);
            cr_assert_eq(cpq_analyze(an[strip], word, k, 0, collect, &o, NULL), 0);
            if (want[0] == '\0') {
                cr_assert_eq(o.n, 0, "'%s' strip=%d: want nothing", word, strip);
            } else if (strlen((char *)want) > CPQ_TERM_MAX) {
                cr_assert_eq(o.n, 0, "'%s' strip=%d: want dropped", word, strip);
            } else {
                cr_assert_eq(o.n, 1, "'%s' strip=%d: %zu tokens", word, strip, o.n);
                cr_assert_str_eq(o.v[0].term, (char *)want, "'%s' strip=%d", word, strip);
                cr_assert_eq(o.v[0].start, 0);
                cr_assert_eq(o.v[0].end, k);
            }
            free(want);
        }
    }
    cpq_analyzer_free(an[0]);
    cpq_analyzer_free(an[1]);
}

/* ------------------------------------------------------------------ */
/* Limits, stopwords, positions                                        */
/* ------------------------------------------------------------------ */

Test(analyze, invalid_utf8)
{
    tks o;
    const char t1[] = "\xff\xfe" "abc\xc3";

    run_len("none", 0, NULL, t1, sizeof t1 - 1, 0, &o);
    cr_assert_eq(o.n, 1);
    expect_tok(&o.v[0], "abc", 0, 2, 5);
    /* truncated sequence in a word: both sides survive */
    EXPECT_TERMS("none", 0, NULL, "ab\xe6\x9d" "cd", "ab|cd");
    /* overlong encoding of '/', a surrogate, past U+10FFFF, lone continuation */
    EXPECT_TERMS("none", 0, NULL, "a\xc0\xaf" "b\xed\xa0\x80" "c\xf4\x90\x80\x80" "d\x80" "e",
                 "a|b|c|d|e");
    /* overlong encodings of letters are not letters */
    EXPECT_TERMS("none", 0, NULL, "\xc1\x81" "bc \xe0\x81\x81" "d \xf0\x80\x81\x81" "e", "bc|d|e");
    /* a CJK run broken by a bad byte */
    EXPECT_TERMS("none", 0, NULL, "東\xff京", "東|京");
    /* a sequence cut by the end of the buffer is not read past len */
    {
        char *buf = malloc(4);

        memcpy(buf, "x\xe6\x9d\xb1", 4);          /* x東 */
        run_len("none", 0, NULL, buf, 3, 0, &o);  /* only "x\xe6\x9d" */
        cr_assert_eq(o.n, 1);
        expect_tok(&o.v[0], "x", 0, 0, 1);
        run_len("none", 0, NULL, buf, 4, 0, &o);
        cr_assert_eq(o.n, 2);
        free(buf);
    }
}

Test(analyze, overlong_tokens)
{
    char text[512];
    tks o;

    /* exactly CPQ_TERM_MAX bytes is kept */
    memset(text, 'a', CPQ_TERM_MAX);
    strcpy(text + CPQ_TERM_MAX, " b");
    run("none", 0, NULL, text, &o);
    cr_assert_eq(o.n, 2);
    cr_assert_eq(o.v[0].len, CPQ_TERM_MAX);
    expect_tok(&o.v[1], "b", 1, CPQ_TERM_MAX + 1, CPQ_TERM_MAX + 2);

    /* one more is dropped but consumes its position */
    memset(text, 'A', CPQ_TERM_MAX + 1);
    strcpy(text + CPQ_TERM_MAX + 1, " b");
    run("english", 0, NULL, text, &o);
    cr_assert_eq(o.n, 1);
    expect_tok(&o.v[0], "b", 1, CPQ_TERM_MAX + 2, CPQ_TERM_MAX + 3);
    cr_assert_eq(o.npos, 2);

    /* the limit is on the normalised form: 32 "é" are 64 bytes, 33 are 66 */
    text[0] = '\0';
    for (int i = 0; i < 32; i++)
        strcat(text, "É");
    strcat(text, " x");
    run("none", 0, NULL, text, &o);
    cr_assert_eq(o.n, 2);
    cr_assert_eq(o.v[0].len, 64);
    text[0] = '\0';
    for (int i = 0; i < 33; i++)
        strcat(text, "é");
    strcat(text, " x");
    run("none", 0, NULL, text, &o);
    cr_assert_eq(o.n, 1);
    expect_tok(&o.v[0], "x", 1, 67, 68);
    /* 40 "e" + combining acute: 120 source bytes, 40 after stripping */
    text[0] = '\0';
    for (int i = 0; i < 40; i++)
        strcat(text, "e\xcc\x81");
    run("none", 1, NULL, text, &o);
    cr_assert_eq(o.n, 1);
    cr_assert_eq(o.v[0].len, 40);
    run("none", 0, NULL, text, &o);   /* 80 bytes composed: dropped */
    cr_assert_eq(o.n, 0);
    cr_assert_eq(o.npos, 1);
    /* 60 letters with two marks each are 180 code points, 60 bytes stripped */
    text[0] = '\0';
    for (int i = 0; i < 60; i++)
        strcat(text, "e\xcc\x81\xcc\xa7");
    run("none", 1, NULL, text, &o);
    cr_assert_eq(o.n, 1);
    cr_assert_eq(o.v[0].len, 60);
    cr_assert_eq(o.v[0].end, 300);
    /* "ß" folds to "ss": 40 of them are 80 source bytes but 80 folded: dropped;
     * 32 are 64 folded: kept */
    text[0] = '\0';
    for (int i = 0; i < 32; i++)
        strcat(text, "ß");
    run("none", 0, NULL, text, &o);
    cr_assert_eq(o.n, 1);
    cr_assert_eq(o.v[0].len, 64);
    strcat(text, "ß");
    run("none", 0, NULL, text, &o);
    cr_assert_eq(o.n, 0);

    /* a huge token */
    {
        size_t big = 1 << 20;
        char *t = malloc(big + 2);

        memset(t, 'z', big);
        memcpy(t + big, " q", 2);
        run_len("english", 0, NULL, t, big + 2, 5, &o);
        cr_assert_eq(o.n, 1);
        expect_tok(&o.v[0], "q", 6, big + 1, big + 2);
        free(t);
    }
}

Test(analyze, stopwords, .timeout = 60)
{
    tks o;

    run("english", 0, "the a\tOF\n  ", "The cats of the Hat", &o);
    cr_assert_eq(o.n, 2);
    expect_tok(&o.v[0], "cat", 1, 4, 8);
    expect_tok(&o.v[1], "hat", 4, 16, 19);
    cr_assert_eq(o.npos, 5);
    /* stopwords are matched folded, before stemming: "cats" is not "cat" */
    EXPECT_TERMS("english", 0, "cat", "cat cats CAT", "cat");
    /* folding of the list follows the analyser's */
    EXPECT_TERMS("none", 0, "Straße", "STRASSE strasse x", "x");
    EXPECT_TERMS("none", 1, "été", "ETE Été ete ét", "et");
    EXPECT_TERMS("none", 0, "été", "ete Été", "ete");
    /* the list is copied */
    {
        char *list = strdup("foo bar");
        cpq_analyzer *a = mk("none", 0, list);

        memset(list, 'x', 7);
        free(list);
        memset(&o, 0, sizeof o);
        cr_assert_eq(cpq_analyze(a, "foo baz bar", 11, 0, collect, &o, &o.npos), CPQ_OK);
        cr_assert_eq(o.n, 1);
        expect_tok(&o.v[0], "baz", 1, 4, 7);
        cpq_analyzer_free(a);
    }
    /* a long list */
    {
        size_t nw = 3000, i, k = 0;
        char *list = malloc(nw * 8), *text = malloc(nw * 16);
        tks *big = malloc(sizeof *big);
        cpq_analyzer *a;
        uint32_t np;

        for (i = 0; i < nw; i++)
            k += (size_t)sprintf(list + k, "W%zu ", i);
        a = mk("none", 0, list);
        free(list);
        for (i = k = 0; i < nw; i++)
            k += (size_t)sprintf(text + k, "w%zu x%zu ", i, i % 300);
        memset(big, 0, sizeof *big);
        big->stop_at = 0;
        /* only the x's reach the callback; collect at most MAXTOK of them */
        cr_assert_eq(cpq_analyze(a, text, k < 2000 ? k : 2000, 0, collect, big, &np), CPQ_OK);
        for (i = 0; i < big->n; i++)
            cr_assert_eq(big->v[i].term[0], 'x', "'%s' passed", big->v[i].term);
        cr_assert(big->n > 50);
        cr_assert_eq(np, 2 * big->n);
        free(text);
        free(big);
        cpq_analyzer_free(a);
    }
    /* empty list */
    EXPECT_TERMS("none", 0, "", "the", "the");
    EXPECT_TERMS("none", 0, " \n", "the", "the");
}

Test(analyze, positions_and_ranges)
{
    const char *text = "Ünïcode  test: 東京, e\xcc\x81t\xc3\xa9 don\xe2\x80\x99t STOP x";
    tks o;
    size_t i;

    o.stop_at = 0;
    run_len("english", 1, "stop", text, strlen(text), 1000, &o);
    cr_assert_eq(o.rc, CPQ_OK);
    cr_assert_eq(o.n, 6);
    expect_tok(&o.v[0], "unicod", 1000, 0, 9);
    expect_tok(&o.v[1], "test", 1001, 11, 15);
    expect_tok(&o.v[2], "東京", 1002, 17, 23);
    expect_tok(&o.v[3], "ete", 1003, 25, 31);
    expect_tok(&o.v[4], "don't", 1004, 32, 39);
    expect_tok(&o.v[5], "x", 1006, 45, 46);
    cr_assert_eq(o.npos, 1007);
    /* each range, analysed alone, gives the same term */
    for (i = 0; i < o.n; i++) {
        tks one;

        run_len("english", 1, "stop", text + o.v[i].start, o.v[i].end - o.v[i].start, 0, &one);
        cr_assert_eq(one.n, 1);
        cr_assert_str_eq(one.v[0].term, o.v[i].term);
    }
}

Test(analyze, callback_stop)
{
    tks o;

    o.stop_at = 2;
    run_len("english", 0, "a", "one a two three four", 20, 10, &o);
    cr_assert_eq(o.rc, 42);
    cr_assert_eq(o.n, 2);
    expect_tok(&o.v[1], "two", 12, 6, 9);
    cr_assert_eq(o.npos, 13);
    /* the same in a CJK run */
    o.stop_at = 1;
    run_len("english", 0, NULL, "東京都", strlen("東京都"), 0, &o);
    cr_assert_eq(o.rc, 42);
    cr_assert_eq(o.n, 1);
    cr_assert_eq(o.npos, 1);
    /* a stop deep in a text, with a stopword before it */
    o.stop_at = 5;
    run_len("english", 0, "the", "w1 w2 the w3 w4 w5 w6 w7 w8 w9 w10 w11 w12", 42, 0, &o);
    cr_assert_eq(o.rc, 42);
    cr_assert_eq(o.n, 5);
    expect_tok(&o.v[4], "w5", 5, 16, 18);
    cr_assert_eq(o.npos, 6);
    /* and the analyser is reusable after a stop */
    {
        cpq_analyzer *a = mk("english", 0, NULL);

        memset(&o, 0, sizeof o);
        o.stop_at = 1;
        cr_assert_eq(cpq_analyze(a, "cats dogs", 9, 0, collect, &o, NULL), 42);
        o.stop_at = 0;
        o.n = 0;
        cr_assert_eq(cpq_analyze(a, "cats dogs", 9, 0, collect, &o, NULL), 0);
        cr_assert_eq(o.n, 2);
        expect_tok(&o.v[0], "cat", 0, 0, 4);
        expect_tok(&o.v[1], "dog", 1, 5, 9);
        /* many words, stopped at each possible token in turn, then in full */
        for (size_t k = 1; k <= 21; k++) {
            const char *t = "a1 b2 c3 d4 e5 f6 g7 h8 i9 j10 k11 l12 m13 n14 o15 p16 q17 r18 s19 t20";
            uint32_t np;

            memset(&o, 0, sizeof o);
            o.stop_at = k;
            cr_assert_eq(cpq_analyze(a, t, strlen(t), 0, collect, &o, &np), k <= 20 ? 42 : 0);
            cr_assert_eq(o.n, k <= 20 ? k : 20);
            cr_assert_eq(np, o.n);
            for (size_t j = 0; j < o.n; j++) {
                cr_assert_eq(o.v[j].pos, j);
                cr_assert_eq(o.v[j].term[0], 'a' + (int)j);
            }
        }
        cpq_analyzer_free(a);
    }
}

/* The stem cache must give exactly what the stemmer gives, through
 * evictions, long words (not cached) and repeats. */
Test(analyze, stem_cache_exact)
{
    struct sb_stemmer *ref = sb_stemmer_new("english", "UTF_8");
    cpq_analyzer *a = mk("english", 0, NULL);
    uint64_t rng = 99;
    char **words;
    size_t nwords = 5000, i, round;

    cr_assert_not_null(ref);
    words = calloc(nwords, sizeof *words);
    for (i = 0; i < nwords; i++) {
        size_t len = 1 + tu_rand(&rng) % (i % 10 == 0 ? 60 : 12), j;
        static const char suffix[][6] = { "", "s", "ing", "ed", "ly", "ness", "ies", "ation" };

        words[i] = malloc(len + 8);
        for (j = 0; j < len; j++)
            words[i][j] = "aeioubcdlmnrst"[tu_rand(&rng) % 14];
        words[i][len] = '\0';
        if (len + 5 <= CPQ_TERM_MAX)
            strcat(words[i], suffix[tu_rand(&rng) % 8]);
    }
    for (round = 0; round < 200000; round++) {
        const char *w = words[tu_rand(&rng) % (round < 100000 ? 300 : nwords)];
        const sb_symbol *st = sb_stemmer_stem(ref, (const sb_symbol *)w, (int)strlen(w));
        int sn = sb_stemmer_length(ref);
        tks o;

        memset(&o, 0, sizeof o);
        cr_assert_eq(cpq_analyze(a, w, strlen(w), 0, collect, &o, NULL), 0);
        cr_assert_eq(o.n, 1);
        cr_assert_eq(o.v[0].len, (size_t)sn, "'%s'", w);
        cr_assert(memcmp(o.v[0].term, st, (size_t)sn) == 0, "'%s': '%s' vs '%.*s'", w,
                  o.v[0].term, sn, st);
    }
    for (i = 0; i < nwords; i++)
        free(words[i]);
    free(words);
    sb_stemmer_delete(ref);
    cpq_analyzer_free(a);
}

/* ------------------------------------------------------------------ */
/* Random input                                                        */
/* ------------------------------------------------------------------ */

typedef struct fuzz_ctx {
    const char *text;
    size_t len;
    uint32_t pos0, last_pos;
    size_t last_start, n;
    int any;
    cpq_analyzer *alone;   /* same settings: re-analyses each token's range */
} fuzz_ctx;

typedef struct one_tok {
    size_t n, len;
    char term[CPQ_TERM_MAX];
} one_tok;

static int fuzz_one(void *ctx, const cpq_token *t)
{
    one_tok *o = ctx;

    if (o->n++ == 0) {
        memcpy(o->term, t->term, t->len);
        o->len = t->len;
    }
    return 0;
}

static int fuzz_check(void *ctx, const cpq_token *t)
{
    fuzz_ctx *f = ctx;
    char *slice;
    one_tok one = { 0, 0, { 0 } };

    cr_assert(t->len >= 1 && t->len <= CPQ_TERM_MAX);
    cr_assert(t->start < t->end && t->end <= f->len, "range [%zu,%zu) of %zu", t->start, t->end,
              f->len);
    cr_assert(t->pos >= f->pos0);
    if (f->any) {
        cr_assert(t->pos > f->last_pos);
        cr_assert(t->start >= f->last_start);
    }
    f->any = 1;
    f->last_pos = t->pos;
    f->last_start = t->start;
    f->n++;

    /* the token's source range alone yields exactly this term */
    slice = malloc(t->end - t->start);
    memcpy(slice, f->text + t->start, t->end - t->start);
    cr_assert_eq(cpq_analyze(f->alone, slice, t->end - t->start, 0, fuzz_one, &one, NULL), 0);
    cr_assert_eq(one.n, 1, "range [%zu,%zu) gives %zu terms", t->start, t->end, one.n);
    cr_assert(one.len == t->len && memcmp(one.term, t->term, t->len) == 0,
              "range [%zu,%zu): '%.*s' alone, '%.*s' in context", t->start, t->end,
              (int)one.len, one.term, (int)t->len, t->term);
    free(slice);
    return 0;
}

Test(analyze, random_bytes, .timeout = 240)
{
    static const char *frag[] = {
        "a", "Z", "q", "0", "9", " ", " ", "\n", ".", "'", "'", "\xe2\x80\x99", "-",
        "é", "\xcc\x81", "\xcc\xa7", "ß", "ﬁ", "Ａ", "２", "Ж", "ё", "Σ", "ᾂ", "\xef\xb8\x8f",
        "東", "京", "か", "\xe3\x82\x99", "ｶ", "ﾞ", "한", "\xe1\x84\x92", "\xe1\x85\xa1",
        "\xe1\x86\xab", "\xea\xb5\xad", "\xef\xa4\x80", "\xf0\xa0\x80\x80", "\xe3\x80\x85",
        "\xff", "\xc3", "\xe6\x9d", "\x80", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xc0\xaf",
        "\xd9\xa2", "ℌ", "²", "ก", "\xe0\xb8\xb4",
    };
    static const char *langs[] = { "english", "none", "russian" };
    const size_t nfrag = sizeof frag / sizeof frag[0];
    cpq_analyzer *an[6], *alone[6];
    uint64_t rng = 2024;
    size_t iter, total = 0;

    for (int k = 0; k < 6; k++) {
        const char *stop = k % 2 ? "the a é 東京 zz" : NULL;

        an[k] = mk(langs[k % 3], k / 3, stop);
        alone[k] = mk(langs[k % 3], k / 3, stop);
    }
    for (iter = 0; iter < 30000; iter++) {
        size_t len = iter % 7 == 0 ? tu_rand(&rng) % 3000 : iter % 300, i = 0;
        char *text = malloc(len ? len : 1);   /* exact size: ASan sees any overread */
        int mode = (int)(iter % 3), k = (int)(tu_rand(&rng) % 6), rc;
        fuzz_ctx f;
        uint32_t np;

        while (i < len) {
            if (mode == 0) {
                text[i++] = (char)(tu_rand(&rng) & 0xFF);
            } else {
                const char *p = frag[tu_rand(&rng) % nfrag];
                size_t m = strlen(p);

                if (mode == 2 && tu_rand(&rng) % 4 == 0)
                    p = "abcdefghij", m = 1 + tu_rand(&rng) % 10;
                if (m > len - i)
                    m = len - i;      /* may cut a sequence: that is the point */
                memcpy(text + i, p, m);
                i += m;
            }
        }
        memset(&f, 0, sizeof f);
        f.text = text;
        f.len = len;
        f.pos0 = (uint32_t)(tu_rand(&rng) % 1000);
        f.alone = alone[k];
        rc = cpq_analyze(an[k], text, len, f.pos0, fuzz_check, &f, &np);
        cr_assert_eq(rc, CPQ_OK);
        cr_assert(np >= f.pos0 + f.n);
        if (f.any)
            cr_assert(np > f.last_pos);
        total += f.n;
        free(text);
    }
    cr_assert(total > 100000, "only %zu tokens", total);
    for (int k = 0; k < 6; k++) {
        cpq_analyzer_free(an[k]);
        cpq_analyzer_free(alone[k]);
    }
}

/* ---- sparse analysis (snippets) ------------------------------------------ */

/* The property cpq_analyze_sparse's filter rests on (analyze.h): english's
 * stem of a folded word is no longer than the word and keeps its first
 * byte, and its first two bytes when the stem has two, except dying, lying
 * and tying.  Checked on words built from English stems and suffix chains
 * and on random lowercase strings, so that a libstemmer that behaves
 * otherwise fails here instead of silently losing highlights. */
static void check_stem_start(struct sb_stemmer *st, const char *w, size_t n)
{
    const sb_symbol *s = sb_stemmer_stem(st, (const sb_symbol *)w, (int)n);
    size_t sn = (size_t)sb_stemmer_length(st);
    int exc = !strcmp(w, "dying") || !strcmp(w, "lying") || !strcmp(w, "tying");
    cr_assert(sn <= n && (sn == 0 || s[0] == (unsigned char)w[0]), "%s -> %.*s", w, (int)sn, s);
    cr_assert(sn < 2 || s[1] == (unsigned char)w[1] || exc, "%s -> %.*s", w, (int)sn, s);
}

Test(analyze, english_stems_keep_their_start)
{
    static const char *const stems[] = {
        "run", "happy", "cry", "die", "lie", "tie", "dye", "sky", "ski", "agree", "general", "nation",
        "relate", "hope", "hop", "sense", "argue", "news", "early", "only", "gentle", "idle", "ugly",
        "single", "proceed", "exceed", "succeed", "canning", "inning", "outing", "herring", "earring",
        "cosmos", "bias", "atlas", "andes", "howe", "y", "yes", "you", "a", "i", "e", "o", "u", "by",
    };
    static const char *const suffixes[] = {
        "", "s", "es", "ies", "ied", "ying", "ing", "ingly", "ed", "edly", "er", "ers", "est", "ly",
        "ness", "ful", "fulness", "ation", "ational", "ations", "ization", "izer", "iveness", "ousness",
        "ment", "ments", "ence", "ance", "able", "ible", "ism", "ist", "iti", "ive", "ize", "ous",
        "al", "ic", "ical", "ally", "bli", "logi", "alli", "entli", "eli", "ousli", "ated", "'s", "s'",
    };
    struct sb_stemmer *st = sb_stemmer_new("english", "UTF_8");
    cr_assert_not_null(st);
    char w[64];
    size_t checked = 0;
    uint64_t rng = 7;
    for (size_t i = 0; i < sizeof stems / sizeof *stems + 200000; i++) {
        size_t n;
        if (i < sizeof stems / sizeof *stems) {
            for (size_t j = 0; j < sizeof suffixes / sizeof *suffixes; j++) {
                for (size_t k = 0; k < sizeof suffixes / sizeof *suffixes; k += 7) {
                    n = (size_t)snprintf(w, sizeof w, "%s%s%s", stems[i], suffixes[j], suffixes[k]);
                    if (w[0] == '\'') continue;
                    check_stem_start(st, w, n);
                    checked++;
                }
            }
            continue;
        }
        n = 1 + tu_rand(&rng) % 12;
        for (size_t j = 0; j < n; j++) w[j] = "abcdefghijklmnopqrstuvwxyzeeaiouyysl"[tu_rand(&rng) % 36];
        w[n] = 0;
        check_stem_start(st, w, n);
        checked++;
    }
    cr_assert(checked > 200000);
    sb_stemmer_delete(st);
}

typedef struct sp_tok {
    char term[CPQ_TERM_MAX];
    size_t len, start, end;
    uint32_t pos;
} sp_tok;

typedef struct sp_list {
    sp_tok *v;
    size_t n, cap;
} sp_list;

static int sp_collect(void *ctx, const cpq_token *t)
{
    sp_list *l = ctx;
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 1024;
        l->v = realloc(l->v, l->cap * sizeof *l->v);
        cr_assert_not_null(l->v);
    }
    sp_tok *k = &l->v[l->n++];
    memcpy(k->term, t->term, t->len);
    k->len = t->len;
    k->start = t->start;
    k->end = t->end;
    k->pos = t->pos;
    return 0;
}

static int sp_starts(const sp_tok *t, char w[][16], const size_t *wl, size_t nw)
{
    for (size_t k = 0; k < nw; k++)
        if (t->len >= wl[k] && memcmp(t->term, w[k], wl[k]) == 0) return 1;
    return 0;
}

/* cpq_analyze_sparse against cpq_analyze on random text: every token that
 * starts with a wanted string (or whose unstemmed folded form does) comes
 * out identically - term, bytes, position - and so does the end position. */
Test(analyze, sparse_matches_full)
{
    static const char *const frag[] = {
        "a", "b", "e", "t", "s", "y", "T", "The", "the", "running", "runs", "Griffith", "observatory",
        "ing", "ies", "dying", "lying", "Tying", "skies", "0", "7", "1990s", " ", " ", " ", "\n",
        ".", ",", "-", "(", "'", "\xe2\x80\x99", "don't", "o\xe2\x80\x99neill", "caf\xc3\xa9", "e\xcc\x81",
        "\303\211cole", "\xef\xac\x81", "\xef\xbc\xa1", "\xc4\xb0", "\xe6\x9d\xb1\xe4\xba\xac\xe9\x83\xbd",
        "\xce\xb1\xce\xb2", "\xd0\xbc\xd0\xb8\xd1\x80", "\xff", "\xc3", "\xe2\x80\x94", "\xc2\xa0",
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "gener", "ational",
        "A'", "'s", "s's", "happy", "cries", "ties", "hopping", "agreed", "d", "l", "di", "li", "ti",
    };
    static const char *const want[] = {
        "a", "t", "th", "the", "run", "runn", "di", "die", "li", "lie", "ti", "tie", "sky", "ski", "s",
        "caf", "\xc3\xa9", "e", "fi", "a'", "o'", "don't", "1", "199", "hop", "happi", "cri", "gener",
        "griffith", "observ", "\xe6\x9d\xb1\xe4\xba\xac", "\xce\xb1", "ab",
    };
    static const char *const langs[] = { "english", "none", "english", "none", "porter" };
    static const char *const stops[] = { NULL, NULL, "the a of 'tis e", "the", "the" };
    static const int strip[] = { 0, 0, 1, 1, 0 };
    uint64_t rng = 11;
    sp_list full = { 0 }, sp = { 0 }, fold = { 0 };
    char *text = malloc(4096);
    cr_assert_not_null(text);
    size_t kept = 0, skipped = 0;
    for (size_t c = 0; c < sizeof langs / sizeof *langs; c++) {
        cpq_analysis_cfg cfg;
        cpq_analysis_cfg_default(&cfg);
        snprintf(cfg.language, sizeof cfg.language, "%s", langs[c]);
        cfg.stopwords = stops[c];
        cfg.strip_accents = strip[c];
        cpq_analyzer *a, *fa;
        cr_assert_eq(cpq_analyzer_create(&cfg, &a, NULL), CPQ_OK);
        snprintf(cfg.language, sizeof cfg.language, "none");
        cfg.stopwords = NULL;
        cr_assert_eq(cpq_analyzer_create(&cfg, &fa, NULL), CPQ_OK);
        for (int it = 0; it < 3000; it++) {
            size_t len = 0, target = tu_rand(&rng) % 400;
            while (len < target) {
                const char *f = frag[tu_rand(&rng) % (sizeof frag / sizeof *frag)];
                size_t fl = strlen(f);
                if (len + fl > 4096) break;
                memcpy(text + len, f, fl);
                len += fl;
            }
            if (tu_rand(&rng) % 4 == 0 && len) len -= tu_rand(&rng) % (len < 5 ? len : 5);
            cpq_sparse_filter flt;
            memset(&flt, 0, sizeof flt);
            char w[6][16];
            size_t wl[6], nw = tu_rand(&rng) % 6;
            for (size_t k = 0; k < nw; k++) {
                snprintf(w[k], sizeof w[k], "%s", want[tu_rand(&rng) % (sizeof want / sizeof *want)]);
                wl[k] = strlen(w[k]);
                cpq_sparse_filter_add(&flt, w[k], wl[k]);
            }
            full.n = sp.n = fold.n = 0;
            uint32_t np1, np2, pos0 = (uint32_t)(tu_rand(&rng) % 3 ? 0 : tu_rand(&rng) % 100000);
            int r1 = cpq_analyze(a, text, len, pos0, sp_collect, &full, &np1);
            int r2 = cpq_analyze_sparse(a, text, len, pos0, &flt, sp_collect, &sp, &np2);
            cr_assert_eq(cpq_analyze(fa, text, len, 0, sp_collect, &fold, NULL), CPQ_OK);
            cr_assert_eq(r1, r2);
            cr_assert_eq(np1, np2, "%s: end position %u, sparse %u", langs[c], np1, np2);
            size_t j = 0, fj = 0;
            for (size_t i = 0; i < full.n; i++) {
                const sp_tok *f = &full.v[i];
                while (fj < fold.n && fold.v[fj].start < f->start) fj++;
                int pass = sp_starts(f, w, wl, nw)
                           || (fj < fold.n && fold.v[fj].start == f->start && fold.v[fj].end == f->end
                               && sp_starts(&fold.v[fj], w, wl, nw));
                if (j < sp.n && sp.v[j].start == f->start) {
                    const sp_tok *s = &sp.v[j++];
                    cr_assert(s->end == f->end && s->pos == f->pos && s->len == f->len
                                  && !memcmp(s->term, f->term, f->len),
                              "%s: token at %zu differs", langs[c], f->start);
                    kept++;
                } else {
                    cr_assert(!pass, "%s: sparse analysis dropped '%.*s' at %zu", langs[c], (int)f->len, f->term,
                              f->start);
                    skipped++;
                }
            }
            cr_assert_eq(j, sp.n, "%s: sparse analysis emitted a token the full one did not", langs[c]);
        }
        cpq_analyzer_free(a);
        cpq_analyzer_free(fa);
    }
    cr_assert(kept > 1000 && skipped > 10000, "kept %zu, skipped %zu", kept, skipped);
    free(full.v);
    free(sp.v);
    free(fold.v);
    free(text);
}
