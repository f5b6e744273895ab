/* test_query.c - the query parser (query.h, QUERY.md). */
#include <criterion/criterion.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "query.h"
#include "testutil.h"

/* ------------------------------------------------------------------ */
/* Fixtures and helpers                                                */
/* ------------------------------------------------------------------ */

static cpq_analyzer *en;     /* english, no stopwords, accents kept */
static cpq_analyzer *ens;    /* english with a few stopwords */
static cpq_analyzer *none;   /* the prefix analyser of en and ens */
static cpq_analyzer *ena;    /* english, strip_accents */
static cpq_analyzer *nonea;  /* the prefix analyser of ena */

#define STOPWORDS "the of a an and to in"

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
    return a;
}

static void setup(void)
{
    en = mk("english", 0, NULL);
    ens = mk("english", 0, STOPWORDS);
    none = mk("none", 0, NULL);
    ena = mk("english", 1, NULL);
    nonea = mk("none", 1, NULL);
}

static void teardown(void)
{
    cpq_analyzer_free(en);
    cpq_analyzer_free(ens);
    cpq_analyzer_free(none);
    cpq_analyzer_free(ena);
    cpq_analyzer_free(nonea);
}

TestSuite(query, .init = setup, .fini = teardown);

/* Parse text (copied into a buffer of exactly its length, so ASan sees any
 * read past len) and return the rendered tree (static) or NULL on error. */
static char tree_buf[65536];

static int parse_with(cpq_analyzer *a, cpq_analyzer *pa, const char *text, size_t len,
                      unsigned flags, cpq_query **out, cpq_errinfo *e)
{
    char *copy = malloc(len ? len : 1);
    int rc;

    cr_assert_not_null(copy);
    memcpy(copy, text, len);
    rc = cpq_query_parse(copy, len, a, pa, flags, out, e);
    free(copy);
    return rc;
}

static const char *tree_of(cpq_analyzer *a, cpq_analyzer *pa, const char *text, unsigned flags)
{
    cpq_query *q = NULL;
    cpq_errinfo e;
    size_t n;
    int rc = parse_with(a, pa, text, strlen(text), flags, &q, &e);

    cr_assert_eq(rc, CPQ_OK, "parse [%s]: %s: %s", text, cpq_err_name(rc), e.msg);
    cr_assert_not_null(q);
    n = cpq_query_format(q, tree_buf, sizeof tree_buf);
    cr_assert_lt(n, sizeof tree_buf);
    cpq_query_free(q);
    return tree_buf;
}

#define expect_tree_an(a, pa, flags, text, tree) \
    cr_assert_str_eq(tree_of((a), (pa), (text), (flags)), (tree), "query [%s]", (text))
#define expect_tree(text, tree) expect_tree_an(en, none, 0, text, tree)
#define expect_tree_all(text, tree) expect_tree_an(en, none, CPQ_QUERY_ALL_WORDS, text, tree)
#define expect_tree_stop(text, tree) expect_tree_an(ens, none, 0, text, tree)

static void expect_err_len(const char *text, size_t len, int code, const char *msg)
{
    cpq_query *q = (cpq_query *)&q;  /* must be reset to NULL */
    cpq_errinfo e;
    int rc = parse_with(en, none, text, len, 0, &q, &e);

    cr_assert_eq(rc, code, "query [%.*s]: rc %s (%s), want %s", (int)len, text, cpq_err_name(rc),
                 rc ? e.msg : "", cpq_err_name(code));
    cr_assert_null(q);
    cr_assert_eq(e.code, code);
    if (msg)
        cr_assert_str_eq(e.msg, msg, "query [%.*s]", (int)len, text);
}

static void expect_err(const char *text, int code, const char *msg)
{
    expect_err_len(text, strlen(text), code, msg);
}

/* ------------------------------------------------------------------ */
/* Terms, +, -                                                         */
/* ------------------------------------------------------------------ */

Test(query, brief_example)
{
    expect_tree("+russia \"internet sovereignty\" -cyb*",
                "(bool (must (term \"russia\")) (should (phrase \"internet\" \"sovereignti\")) "
                "(must_not (prefix \"cyb\")))");
}

Test(query, bare_terms_are_should)
{
    expect_tree("russia", "(bool (should (term \"russia\")))");
    expect_tree("bowel obstruction",
                "(bool (should (term \"bowel\")) (should (term \"obstruct\")))");
    expect_tree("  a   b\tc\n", "(bool (should (term \"a\")) (should (term \"b\")) (should (term \"c\")))");
    /* Duplicates are kept as written. */
    expect_tree("a a", "(bool (should (term \"a\")) (should (term \"a\")))");
}

Test(query, plus_and_minus)
{
    expect_tree("+a", "(bool (must (term \"a\")))");
    expect_tree("+a +b", "(bool (must (term \"a\")) (must (term \"b\")))");
    expect_tree("+python -snake -monty",
                "(bool (must (term \"python\")) (must_not (term \"snake\")) (must_not (term \"monti\")))");
    expect_tree("a -b", "(bool (should (term \"a\")) (must_not (term \"b\")))");
    expect_tree("-b a", "(bool (must_not (term \"b\")) (should (term \"a\")))");
    expect_tree("+\"a b\" -\"c d\" x",
                "(bool (must (phrase \"a\" \"b\")) (must_not (phrase \"c\" \"d\")) (should (term \"x\")))");
    /* Inside a word + and - are the analyser's business. */
    expect_tree("a+b c-d", "(bool (should (phrase \"a\" \"b\")) (should (phrase \"c\" \"d\")))");
    expect_tree("c++", "(bool (should (term \"c\")))");
    /* -5 excludes 5. */
    expect_tree("x -5", "(bool (should (term \"x\")) (must_not (term \"5\")))");
}

/* ------------------------------------------------------------------ */
/* Analysis                                                            */
/* ------------------------------------------------------------------ */

Test(query, analysis_stems_and_folds)
{
    expect_tree("Running DOGS Café", "(bool (should (term \"run\")) (should (term \"dog\")) (should (term \"café\")))");
    expect_tree_an(ena, nonea, 0, "Café ÉCOLE", "(bool (should (term \"cafe\")) (should (term \"ecol\")))");
    /* Punctuation around a word is dropped by the analyser. */
    expect_tree("(cats), dogs!", "(bool (should (term \"cat\")) (should (term \"dog\")))");
    expect_tree("don't", "(bool (should (term \"don't\")))");
}

Test(query, multi_term_words_become_phrases)
{
    expect_tree("東京都", "(bool (should (phrase \"東京\" \"京都\")))");
    expect_tree("東京", "(bool (should (term \"東京\")))");
    expect_tree("東", "(bool (should (term \"東\")))");
    expect_tree("+東京都 大阪", "(bool (must (phrase \"東京\" \"京都\")) (should (term \"大阪\")))");
    expect_tree("x86_64", "(bool (should (phrase \"x86\" \"64\")))");
    expect_tree("e-mail", "(bool (should (phrase \"e\" \"mail\")))");
    expect_tree("-e-mail x", "(bool (must_not (phrase \"e\" \"mail\")) (should (term \"x\")))");
    /* Stopwords inside a word leave gaps that the phrase keeps. */
    expect_tree_stop("state-of-the-art", "(bool (should (phrase \"state\" \"art\"@3)))");
}

Test(query, unicode_spaces_separate_words)
{
    expect_tree("a\xe3\x80\x80" "b", "(bool (should (term \"a\")) (should (term \"b\")))");   /* U+3000 */
    expect_tree("a\xc2\xa0" "b", "(bool (should (term \"a\")) (should (term \"b\")))");      /* U+00A0 */
    expect_tree("a\xe2\x80\xa8" "b", "(bool (should (term \"a\")) (should (term \"b\")))");  /* U+2028 */
}

Test(query, lowercase_keywords_are_words)
{
    expect_tree("cats and dogs", "(bool (should (term \"cat\")) (should (term \"and\")) (should (term \"dog\")))");
    expect_tree("this or that", "(bool (should (term \"this\")) (should (term \"or\")) (should (term \"that\")))");
    expect_tree("not me", "(bool (should (term \"not\")) (should (term \"me\")))");
    expect_tree("And Or Not", "(bool (should (term \"and\")) (should (term \"or\")) (should (term \"not\")))");
    expect_tree("ANDROID ORACLE NOTE", "(bool (should (term \"android\")) (should (term \"oracl\")) (should (term \"note\")))");
    /* NEAR without /k is a word too. */
    expect_tree("a NEAR b", "(bool (should (term \"a\")) (should (term \"near\")) (should (term \"b\")))");
    /* Keywords inside quotes are words. */
    expect_tree("\"a AND b\"", "(bool (should (phrase \"a\" \"and\" \"b\")))");
}

/* ------------------------------------------------------------------ */
/* Phrases                                                             */
/* ------------------------------------------------------------------ */

Test(query, phrases)
{
    expect_tree("\"griffith observatory\"", "(bool (should (phrase \"griffith\" \"observatori\")))");
    expect_tree("\"single\"", "(bool (should (term \"singl\")))");
    expect_tree("\"東京都 tower\"", "(bool (should (phrase \"東京\" \"京都\" \"tower\")))");
    expect_tree("\"a (b) +c -d*\"", "(bool (should (phrase \"a\" \"b\" \"c\" \"d\")))");
    /* Phrases and words may touch. */
    expect_tree("\"a b\"c", "(bool (should (phrase \"a\" \"b\")) (should (term \"c\")))");
    expect_tree("x\"a b\"", "(bool (should (term \"x\")) (should (phrase \"a\" \"b\")))");
    /* An empty phrase analyses to nothing and vanishes. */
    expect_tree("\"\" x", "(bool (should (term \"x\")))");
    expect_tree("\" , \"", "(bool)");
}

Test(query, phrase_positions_keep_stopword_gaps)
{
    expect_tree_stop("\"battle of the bulge\"", "(bool (should (phrase \"battl\" \"bulg\"@3)))");
    expect_tree_stop("\"the lord of the rings\"", "(bool (should (phrase \"lord\" \"ring\"@3)))");
    expect_tree_stop("\"a b c\"", "(bool (should (phrase \"b\" \"c\")))");
    expect_tree_stop("\"x of y of z\"", "(bool (should (phrase \"x\" \"y\"@2 \"z\"@4)))");
    expect_tree_stop("\"the who\"", "(bool (should (term \"who\")))");

    {
        cpq_query *q;
        cpq_errinfo e;
        const cpq_qnode *ph;

        cr_assert_eq(cpq_query_parse("\"x of the y z\"", 14, ens, none, 0, &q, &e), CPQ_OK);
        ph = &cpq_query_root(q)->children[0];
        cr_assert_eq(ph->kind, CPQ_Q_PHRASE);
        cr_assert_eq(ph->nterms, 3);
        cr_assert_eq(ph->terms[0].pos, 0);
        cr_assert_eq(ph->terms[1].pos, 3);
        cr_assert_eq(ph->terms[2].pos, 4);
        cr_assert_str_eq(ph->terms[2].bytes, "z");
        cr_assert_eq(ph->terms[2].len, 1);
        cpq_query_free(q);
    }
}

/* ------------------------------------------------------------------ */
/* Prefixes                                                            */
/* ------------------------------------------------------------------ */

Test(query, prefixes)
{
    expect_tree("cyb*", "(bool (should (prefix \"cyb\")))");
    /* Folded but not stemmed. */
    expect_tree("Running*", "(bool (should (prefix \"running\")))");
    expect_tree("ÉCOLE*", "(bool (should (prefix \"école\")))");
    expect_tree_an(ena, nonea, 0, "ÉCOLE*", "(bool (should (prefix \"ecole\")))");
    expect_tree("a*", "(bool (should (prefix \"a\")))");
    expect_tree("a**", "(bool (should (prefix \"a\")))");
    expect_tree("東京*", "(bool (should (prefix \"東京\")))");
    expect_tree("+a* -b* c", "(bool (must (prefix \"a\")) (must_not (prefix \"b\")) (should (term \"c\")))");
    /* Only a trailing star marks a prefix; elsewhere it is punctuation. */
    expect_tree("a*b", "(bool (should (phrase \"a\" \"b\")))");
    expect_tree("*a", "(bool (should (term \"a\")))");
    /* A prefix of punctuation vanishes like a word of punctuation. */
    expect_tree("x .*", "(bool (should (term \"x\")))");
    /* Stopwords of the index analyser do not apply to prefixes. */
    expect_tree_stop("the*", "(bool (should (prefix \"the\")))");
}

/* ------------------------------------------------------------------ */
/* AND, OR, NOT and their mixing                                       */
/* ------------------------------------------------------------------ */

Test(query, and_or_not)
{
    expect_tree("a AND b", "(bool (must (term \"a\")) (must (term \"b\")))");
    expect_tree("a AND b AND c", "(bool (must (term \"a\")) (must (term \"b\")) (must (term \"c\")))");
    expect_tree("a OR b", "(bool (should (term \"a\")) (should (term \"b\")))");
    expect_tree("a OR b OR c", "(bool (should (term \"a\")) (should (term \"b\")) (should (term \"c\")))");
    expect_tree("NOT a b", "(bool (must_not (term \"a\")) (should (term \"b\")))");
    expect_tree("b NOT a", "(bool (should (term \"b\")) (must_not (term \"a\")))");
    expect_tree("a AND NOT b", "(bool (must (term \"a\")) (must_not (term \"b\")))");
    expect_tree("NOT a AND b", "(bool (must_not (term \"a\")) (must (term \"b\")))");
    expect_tree("a AND -b", "(bool (must (term \"a\")) (must_not (term \"b\")))");
    expect_tree("+a AND +b", "(bool (must (term \"a\")) (must (term \"b\")))");
    expect_tree("NOT(a b) c", "(bool (must_not (bool (should (term \"a\")) (should (term \"b\")))) (should (term \"c\")))");
    expect_tree("a AND(b)", "(bool (must (term \"a\")) (must (term \"b\")))");
}

Test(query, mixing_precedence)
{
    /* AND makes its operands required in the enclosing group (Lucene). */
    expect_tree("a b AND c", "(bool (should (term \"a\")) (must (term \"b\")) (must (term \"c\")))");
    expect_tree("a AND b c", "(bool (must (term \"a\")) (must (term \"b\")) (should (term \"c\")))");
    expect_tree("x NOT a AND NOT b", "(bool (should (term \"x\")) (must_not (term \"a\")) (must_not (term \"b\")))");
    /* AND binds tighter than OR. */
    expect_tree("a AND b OR c",
                "(bool (should (bool (must (term \"a\")) (must (term \"b\")))) (should (term \"c\")))");
    expect_tree("a OR b AND c",
                "(bool (should (term \"a\")) (should (bool (must (term \"b\")) (must (term \"c\")))))");
    expect_tree("a AND b OR c AND d",
                "(bool (should (bool (must (term \"a\")) (must (term \"b\")))) "
                "(should (bool (must (term \"c\")) (must (term \"d\")))))");
    expect_tree("a AND NOT b OR c",
                "(bool (should (bool (must (term \"a\")) (must_not (term \"b\")))) (should (term \"c\")))");
    /* OR binds tighter than juxtaposition; a union of unions is flattened. */
    expect_tree("a OR b c", "(bool (should (term \"a\")) (should (term \"b\")) (should (term \"c\")))");
    expect_tree("+x a OR b", "(bool (must (term \"x\")) (should (term \"a\")) (should (term \"b\")))");
    expect_tree("a OR b -c", "(bool (should (term \"a\")) (should (term \"b\")) (must_not (term \"c\")))");
    /* Parentheses. */
    expect_tree("(a OR b) AND c",
                "(bool (must (bool (should (term \"a\")) (should (term \"b\")))) (must (term \"c\")))");
    expect_tree("a AND (b OR c)",
                "(bool (must (term \"a\")) (must (bool (should (term \"b\")) (should (term \"c\")))))");
    expect_tree("+(a OR b) +(c OR d)",
                "(bool (must (bool (should (term \"a\")) (should (term \"b\")))) "
                "(must (bool (should (term \"c\")) (should (term \"d\")))))");
    /* NEAR binds tightest, then the prefix operators. */
    expect_tree("-a NEAR/2 b c",
                "(bool (must_not (near 2 (term \"a\") (term \"b\"))) (should (term \"c\")))");
    expect_tree("a NEAR/2 b AND c",
                "(bool (must (near 2 (term \"a\") (term \"b\"))) (must (term \"c\")))");
}

Test(query, groups_and_normalisation)
{
    expect_tree("(a)", "(bool (should (term \"a\")))");
    expect_tree("((a))", "(bool (should (term \"a\")))");
    expect_tree("+(a)", "(bool (must (term \"a\")))");
    expect_tree("x -(a)", "(bool (should (term \"x\")) (must_not (term \"a\")))");
    expect_tree("(a b)", "(bool (should (term \"a\")) (should (term \"b\")))");
    expect_tree("+(a b)", "(bool (should (term \"a\")) (should (term \"b\")))");
    expect_tree("a (b (c (d)))",
                "(bool (should (term \"a\")) (should (term \"b\")) (should (term \"c\")) (should (term \"d\")))");
    expect_tree("+(a b) c",
                "(bool (must (bool (should (term \"a\")) (should (term \"b\")))) (should (term \"c\")))");
    expect_tree("-(a b) c",
                "(bool (must_not (bool (should (term \"a\")) (should (term \"b\")))) (should (term \"c\")))");
    expect_tree("+(a -b) c",
                "(bool (must (bool (should (term \"a\")) (must_not (term \"b\")))) (should (term \"c\")))");
    expect_tree("+(+a -b) c", "(bool (must (term \"a\")) (must_not (term \"b\")) (should (term \"c\")))");
    expect_tree("(a -b) c",
                "(bool (should (bool (should (term \"a\")) (must_not (term \"b\")))) (should (term \"c\")))");
    expect_tree("(+a b) c",
                "(bool (should (bool (must (term \"a\")) (should (term \"b\")))) (should (term \"c\")))");
    expect_tree("(a AND b) AND c", "(bool (must (term \"a\")) (must (term \"b\")) (must (term \"c\")))");
    expect_tree("a(b)", "(bool (should (term \"a\")) (should (term \"b\")))");
}

/* ------------------------------------------------------------------ */
/* NEAR                                                                */
/* ------------------------------------------------------------------ */

Test(query, near)
{
    expect_tree("a NEAR/3 b", "(bool (should (near 3 (term \"a\") (term \"b\"))))");
    expect_tree("a NEAR/0 b", "(bool (should (near 0 (term \"a\") (term \"b\"))))");
    expect_tree("a NEAR/1000 b", "(bool (should (near 1000 (term \"a\") (term \"b\"))))");
    expect_tree("\"new york\" NEAR/5 \"big apple\"",
                "(bool (should (near 5 (phrase \"new\" \"york\") (phrase \"big\" \"appl\"))))");
    expect_tree("e-mail NEAR/2 spam", "(bool (should (near 2 (phrase \"e\" \"mail\") (term \"spam\"))))");
    expect_tree("+a NEAR/1 b -c",
                "(bool (must (near 1 (term \"a\") (term \"b\"))) (must_not (term \"c\")))");

    {
        cpq_query *q;
        cpq_errinfo e;
        const cpq_qnode *nr;

        cr_assert_eq(cpq_query_parse("a NEAR/7 b", 10, en, none, 0, &q, &e), CPQ_OK);
        nr = &cpq_query_root(q)->children[0];
        cr_assert_eq(nr->kind, CPQ_Q_NEAR);
        cr_assert_eq(nr->distance, 7);
        cr_assert_eq(nr->nchildren, 2);
        cr_assert_eq(nr->children[0].occur, CPQ_OCCUR_MUST);
        cr_assert_eq(nr->children[1].occur, CPQ_OCCUR_MUST);
        cr_assert_eq(nr->start, 0);
        cr_assert_eq(nr->end, 10);
        cpq_query_free(q);
    }
}

/* ------------------------------------------------------------------ */
/* All-words mode                                                      */
/* ------------------------------------------------------------------ */

Test(query, all_words)
{
    expect_tree_all("a b", "(bool (must (term \"a\")) (must (term \"b\")))");
    expect_tree_all("a -b", "(bool (must (term \"a\")) (must_not (term \"b\")))");
    expect_tree_all("\"a b\" c*", "(bool (must (phrase \"a\" \"b\")) (must (prefix \"c\")))");
    expect_tree_all("a OR b c",
                    "(bool (must (bool (should (term \"a\")) (should (term \"b\")))) (must (term \"c\")))");
    expect_tree_all("(a b) c", "(bool (must (term \"a\")) (must (term \"b\")) (must (term \"c\")))");
    expect_tree_all("(a OR b)", "(bool (should (term \"a\")) (should (term \"b\")))");
    expect_tree_all("a b AND c", "(bool (must (term \"a\")) (must (term \"b\")) (must (term \"c\")))");
    expect_tree_all("x (a OR b AND c)",
                    "(bool (must (term \"x\")) (must (bool (should (term \"a\")) "
                    "(should (bool (must (term \"b\")) (must (term \"c\")))))))");
    expect_tree_all("a NEAR/2 b", "(bool (must (near 2 (term \"a\") (term \"b\"))))");
    expect_tree_all("+a b", "(bool (must (term \"a\")) (must (term \"b\")))");
}

/* ------------------------------------------------------------------ */
/* Words that analyse to nothing                                       */
/* ------------------------------------------------------------------ */

Test(query, vanishing_words_are_not_errors)
{
    expect_tree_stop("the", "(bool)");
    expect_tree_stop("+the", "(bool)");
    expect_tree_stop("+the dog", "(bool (should (term \"dog\")))");
    expect_tree_stop("+the -cat dog", "(bool (must_not (term \"cat\")) (should (term \"dog\")))");
    expect_tree_stop("the -cat", "(bool)");
    expect_tree_stop("-the dog", "(bool (should (term \"dog\")))");
    expect_tree_stop("the AND dog", "(bool (must (term \"dog\")))");
    expect_tree_stop("the AND NOT dog", "(bool)");
    expect_tree_stop("x the AND NOT dog", "(bool (should (term \"x\")) (must_not (term \"dog\")))");
    expect_tree_stop("the OR dog", "(bool (should (term \"dog\")))");
    expect_tree_stop("x (the OR of)", "(bool (should (term \"x\")))");
    expect_tree_stop("NOT the dog", "(bool (should (term \"dog\")))");
    expect_tree_stop("the NEAR/2 cat", "(bool (should (term \"cat\")))");
    expect_tree_stop("cat NEAR/2 \"of the\"", "(bool (should (term \"cat\")))");
    expect_tree_stop("the NEAR/2 of x", "(bool (should (term \"x\")))");
    expect_tree_stop("(the) AND x", "(bool (must (term \"x\")))");
    expect_tree_stop("x (the -y)", "(bool (should (term \"x\")))");
    expect_tree_stop("+(the -y) x", "(bool (should (term \"x\")))");
    expect_tree("x , ; !", "(bool (should (term \"x\")))");
    expect_tree("...", "(bool)");
    /* Emptied by analysis is fine; syntactically empty is not. */
    cr_assert_eq(cpq_query_parse("the AND", 7, ens, none, 0, &(cpq_query *){NULL}, NULL), CPQ_EPARSE);
}

/* ------------------------------------------------------------------ */
/* Errors                                                              */
/* ------------------------------------------------------------------ */

Test(query, errors_with_columns)
{
    static const struct { const char *q, *msg; } cases[] = {
        { "(a", "column 1: unbalanced '('" },
        { "a (b c", "column 3: unbalanced '('" },
        { "((a) b", "column 1: unbalanced '('" },
        { "a)", "column 2: unbalanced ')'" },
        { "(a)) b", "column 4: unbalanced ')'" },
        { "\"a b", "column 1: unbalanced '\"'" },
        { "a \"b\" \"c", "column 7: unbalanced '\"'" },
        { "+", "column 1: '+' must be directly followed by a term, phrase or group" },
        { "a -", "column 3: '-' must be directly followed by a term, phrase or group" },
        { "+ a", "column 1: '+' must be directly followed by a term, phrase or group" },
        { "+-a", "column 1: '+' must be directly followed by a term, phrase or group" },
        { "a +)", "column 3: '+' must be directly followed by a term, phrase or group" },
        { "-AND a", "column 1: '-' must be directly followed by a term, phrase or group" },
        { "a AND", "column 3: AND has nothing on its right" },
        { "AND a", "column 1: AND has nothing on its left" },
        { "a AND OR b", "column 3: AND has nothing on its right" },
        { "(a AND) b", "column 4: AND has nothing on its right" },
        { "a OR", "column 3: OR has nothing on its right" },
        { "OR a", "column 1: OR has nothing on its left" },
        { "a OR OR b", "column 3: OR has nothing on its right" },
        { "(OR)", "column 2: OR has nothing on its left" },
        { "NOT", "column 1: NOT has nothing on its right" },
        { "a NOT", "column 3: NOT has nothing on its right" },
        { "a NOT AND b", "column 3: NOT has nothing on its right" },
        { "NOT -a", "column 1: NOT must be followed by a term, phrase or group" },
        { "*", "column 1: '*' needs at least one character before it" },
        { "a **", "column 3: '*' needs at least one character before it" },
        { "-*", "column 2: '*' needs at least one character before it" },
        { "\"a b\"*", "column 6: '*' needs at least one character before it" },
        { "e-ma*", "column 1: a prefix must be a single word, but this one analyses into 2 terms" },
        { "東京都*", "column 1: a prefix must be a single word, but this one analyses into 2 terms" },
        { "()", "column 1: empty group '()'" },
        { "a ( )", "column 3: empty group '()'" },
        { "-a", "column 1: a query needs at least one term that is not excluded" },
        { "  -a -b", "column 3: a query needs at least one term that is not excluded" },
        { "NOT a", "column 1: a query needs at least one term that is not excluded" },
        { "NOT a AND NOT b", "column 1: a query needs at least one term that is not excluded" },
        { "-(a b)", "column 1: a query needs at least one term that is not excluded" },
        { "x (-a)", "column 3: a group needs at least one term that is not excluded" },
        { "x AND (NOT a)", "column 7: a group needs at least one term that is not excluded" },
        { "a OR -b", "column 6: '-' cannot apply to an operand of OR" },
        { "+a OR b", "column 1: '+' cannot apply to an operand of OR" },
        { "a OR NOT b", "column 6: NOT cannot apply to an operand of OR" },
        { "a OR NOT b AND NOT c", "column 6: an operand of OR needs at least one term that is not excluded" },
        { "a NEAR/3", "column 3: NEAR/3 has nothing on its right" },
        { "NEAR/3 a", "column 1: NEAR/3 has nothing on its left" },
        { "a NEAR/3 OR b", "column 3: NEAR/3 has nothing on its right" },
        { "a NEAR/3 b NEAR/2 c", "column 12: NEAR cannot be chained: it joins exactly two terms or phrases" },
        { "a* NEAR/3 b", "column 4: the operands of NEAR/3 must be terms or phrases" },
        { "a NEAR/3 b*", "column 3: the operands of NEAR/3 must be terms or phrases" },
        { "(a b) NEAR/3 c", "column 7: the operands of NEAR/3 must be terms or phrases" },
        { "a NEAR/3 (b c)", "column 3: the operands of NEAR/3 must be terms or phrases" },
        { "a NEAR/3 -b", "column 3: the operands of NEAR/3 must be terms or phrases" },
        { "a NEAR/1001 b", "column 3: NEAR/k needs a distance k from 0 to 1000" },
        { "a NEAR/ b", "column 3: NEAR/k needs a distance k from 0 to 1000" },
        { "a NEAR/x b", "column 3: NEAR/k needs a distance k from 0 to 1000" },
        { "a NEAR/3x b", "column 3: NEAR/k needs a distance k from 0 to 1000" },
        { "a NEAR/99999999999999999999 b", "column 3: NEAR/k needs a distance k from 0 to 1000" },
        { "", "column 1: empty query" },
        { " \t\n ", "column 1: empty query" },
        /* Columns count characters, not bytes. */
        { "東京 (a", "column 4: unbalanced '('" },
        { "é AND", "column 3: AND has nothing on its right" },
        { "\xff\xfe (a", "column 4: unbalanced '('" },
    };
    size_t i;

    for (i = 0; i < sizeof cases / sizeof cases[0]; i++)
        expect_err(cases[i].q, CPQ_EPARSE, cases[i].msg);
}

Test(query, errors_do_not_depend_on_analysis)
{
    /* "the" vanishes with ens, but the syntax is judged before analysis. */
    static const char *bad[] = { "the AND", "+the +", "(the", "the OR -x", "-the", "the NEAR/2" };
    size_t i;

    for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cpq_query *q;
        cpq_errinfo e;

        cr_assert_eq(cpq_query_parse(bad[i], strlen(bad[i]), ens, none, 0, &q, &e), CPQ_EPARSE,
                     "[%s]", bad[i]);
        cr_assert_null(q);
    }
}

/* ------------------------------------------------------------------ */
/* Limits                                                              */
/* ------------------------------------------------------------------ */

Test(query, limit_length)
{
    char *s = malloc(CPQ_QUERY_MAX_BYTES + 2);

    memset(s, ' ', CPQ_QUERY_MAX_BYTES + 1);
    s[0] = 'a';
    s[CPQ_QUERY_MAX_BYTES + 1] = '\0';
    expect_err_len(s, CPQ_QUERY_MAX_BYTES + 1, CPQ_ELIMIT,
                   "the query is 4097 bytes long; the limit is 4096");
    s[CPQ_QUERY_MAX_BYTES] = '\0';
    expect_tree(s, "(bool (should (term \"a\")))");
    free(s);
}

static char *nested(unsigned depth, const char *inner)
{
    char *s = malloc(2 * depth + strlen(inner) + 1);
    unsigned i;

    for (i = 0; i < depth; i++)
        s[i] = '(';
    strcpy(s + depth, inner);
    for (i = 0; i < depth; i++)
        s[depth + strlen(inner) + i] = ')';
    s[2 * depth + strlen(inner)] = '\0';
    return s;
}

Test(query, limit_depth)
{
    char *ok = nested(CPQ_QUERY_MAX_DEPTH, "a b");
    char *deep = nested(CPQ_QUERY_MAX_DEPTH + 1, "a");
    char *huge = nested(2000, "a");

    expect_tree(ok, "(bool (should (term \"a\")) (should (term \"b\")))");
    expect_err(deep, CPQ_ELIMIT, "column 33: parentheses nested deeper than 32");
    expect_err(huge, CPQ_ELIMIT, "column 33: parentheses nested deeper than 32");
    /* Unbalanced beyond the limit: the limit is what is reported. */
    huge[2000] = '\0';
    expect_err(huge, CPQ_ELIMIT, "column 33: parentheses nested deeper than 32");
    free(ok);
    free(deep);
    free(huge);
}

Test(query, limit_terms)
{
    char buf[4096];
    cpq_query *q;
    cpq_errinfo e;
    size_t i, n = 0;

    for (i = 0; i < CPQ_QUERY_MAX_TERMS; i++)
        n += (size_t)snprintf(buf + n, sizeof buf - n, "a ");
    cr_assert_eq(cpq_query_parse(buf, n, en, none, 0, &q, &e), CPQ_OK, "%s", e.msg);
    cr_assert_eq(cpq_query_nterms(q), CPQ_QUERY_MAX_TERMS);
    cr_assert_eq(cpq_query_root(q)->nchildren, CPQ_QUERY_MAX_TERMS);
    cpq_query_free(q);

    n += (size_t)snprintf(buf + n, sizeof buf - n, "a");
    expect_err(buf, CPQ_ELIMIT, "column 513: the query has more than 256 terms");

    /* Phrase terms count one each. */
    n = (size_t)snprintf(buf, sizeof buf, "x \"");
    for (i = 0; i < CPQ_QUERY_MAX_TERMS; i++)
        n += (size_t)snprintf(buf + n, sizeof buf - n, "b ");
    snprintf(buf + n, sizeof buf - n, "\"");
    expect_err(buf, CPQ_ELIMIT, "column 3: the query has more than 256 terms");

    /* Stopwords do not count. */
    n = 0;
    for (i = 0; i < 600; i++)
        n += (size_t)snprintf(buf + n, sizeof buf - n, "the ");
    n += (size_t)snprintf(buf + n, sizeof buf - n, "x");
    cr_assert_eq(cpq_query_parse(buf, n, ens, none, 0, &q, &e), CPQ_OK, "%s", e.msg);
    cr_assert_eq(cpq_query_nterms(q), 1);
    cpq_query_free(q);
}

/* ------------------------------------------------------------------ */
/* API                                                                 */
/* ------------------------------------------------------------------ */

Test(query, api_arguments)
{
    cpq_query *q = (cpq_query *)&q;
    cpq_errinfo e;

    cr_assert_eq(cpq_query_parse("a", 1, en, none, 0, NULL, &e), CPQ_EINVAL);
    cr_assert_eq(cpq_query_parse("a", 1, NULL, none, 0, &q, &e), CPQ_EINVAL);
    cr_assert_null(q);
    cr_assert_eq(cpq_query_parse("a", 1, en, NULL, 0, &q, &e), CPQ_EINVAL);
    cr_assert_eq(cpq_query_parse(NULL, 1, en, none, 0, &q, &e), CPQ_EINVAL);
    cr_assert_eq(cpq_query_parse("a", 1, en, none, 2, &q, NULL), CPQ_EINVAL);
    cr_assert_eq(cpq_query_parse(NULL, 0, en, none, 0, &q, &e), CPQ_EPARSE);
    cr_assert_str_eq(e.msg, "column 1: empty query");
    /* Text need not be NUL-terminated: only len bytes count. */
    cr_assert_eq(cpq_query_parse("a b(", 3, en, none, 0, &q, &e), CPQ_OK);
    cr_assert_eq(cpq_query_nterms(q), 2);
    cpq_query_free(q);
    cpq_query_free(NULL);

    cr_assert_str_eq(cpq_qkind_name(CPQ_Q_PHRASE), "phrase");
    cr_assert_str_eq(cpq_qkind_name((cpq_qkind)99), "?");
    cr_assert_str_eq(cpq_occur_name(CPQ_OCCUR_MUST_NOT), "must_not");
    cr_assert_str_eq(cpq_occur_name((cpq_occur)7), "?");
}

Test(query, format_truncates_like_snprintf)
{
    cpq_query *q;
    cpq_errinfo e;
    char buf[80];
    size_t n, full;

    cr_assert_eq(cpq_query_parse("+don't c*", 9, en, none, 0, &q, &e), CPQ_OK);
    full = cpq_query_format(q, buf, sizeof buf);
    cr_assert_str_eq(buf, "(bool (must (term \"don't\")) (should (prefix \"c\")))");
    cr_assert_eq(full, strlen(buf));
    memset(buf, 'X', sizeof buf);
    n = cpq_query_format(q, buf, 10);
    cr_assert_eq(n, full);
    cr_assert_eq(buf[9], '\0');
    cr_assert_eq(strlen(buf), 9);
    cr_assert_eq(buf[10], 'X');
    cr_assert_eq(cpq_query_format(q, buf, 0), full);
    cr_assert_eq(cpq_query_format(q, NULL, 0), full);
    cr_assert_eq(cpq_query_format(q, buf, 1), full);
    cr_assert_eq(buf[0], '\0');
    cpq_query_free(q);
}

Test(query, source_ranges)
{
    const char *s = "+foo \"a b\" (c d) x NEAR/2 y -e-mail";
    cpq_query *q;
    cpq_errinfo e;
    const cpq_qnode *r, *c;
    size_t near_at = (size_t)(strstr(s, "x NEAR") - s);

    cr_assert_eq(cpq_query_parse(s, strlen(s), en, none, 0, &q, &e), CPQ_OK, "%s", e.msg);
    r = cpq_query_root(q);
    cr_assert_eq(r->kind, CPQ_Q_BOOL);
    cr_assert_eq(r->start, 0);
    cr_assert_eq(r->end, strlen(s));
    cr_assert_eq(r->nchildren, 6);
    c = r->children;
    cr_assert_eq(c[0].start, 1);   /* without the '+' */
    cr_assert_eq(c[0].end, 4);
    cr_assert_eq(c[1].kind, CPQ_Q_PHRASE);
    cr_assert_eq(c[1].start, 5);   /* with the quotes */
    cr_assert_eq(c[1].end, 10);
    cr_assert_eq(c[2].start, 12);  /* (c d) was spliced: c and d */
    cr_assert_eq(c[3].start, 14);
    cr_assert_eq(c[4].kind, CPQ_Q_NEAR);
    cr_assert_eq(c[4].start, near_at);
    cr_assert_eq(c[4].end, near_at + 10);
    cr_assert_eq(c[4].children[1].start, near_at + 9);
    cr_assert_eq(c[5].kind, CPQ_Q_PHRASE);
    cr_assert_eq(c[5].occur, CPQ_OCCUR_MUST_NOT);
    cr_assert_eq(c[5].start, strlen(s) - 6);
    cr_assert_eq(c[5].end, strlen(s));
    cr_assert_eq(cpq_query_nterms(q), 9);
    cpq_query_free(q);

    /* A group that stays a BOOL spans its parentheses. */
    s = "x +(a b)";
    cr_assert_eq(cpq_query_parse(s, strlen(s), en, none, 0, &q, &e), CPQ_OK);
    c = &cpq_query_root(q)->children[1];
    cr_assert_eq(c->kind, CPQ_Q_BOOL);
    cr_assert_eq(c->start, 3);
    cr_assert_eq(c->end, 8);
    cpq_query_free(q);
}

/* ------------------------------------------------------------------ */
/* Tree invariants (used by the AOL and fuzz tests)                    */
/* ------------------------------------------------------------------ */

static size_t check_node(const cpq_qnode *n, size_t len, unsigned depth, int is_root)
{
    size_t i, terms = 0, npos = 0;

    cr_assert_lt(depth, 4 * CPQ_QUERY_MAX_DEPTH + 8, "tree too deep");
    cr_assert_leq(n->start, n->end);
    cr_assert_leq(n->end, len);
    switch (n->kind) {
    case CPQ_Q_TERM:
    case CPQ_Q_PREFIX:
    case CPQ_Q_PHRASE:
        cr_assert_null(n->children);
        cr_assert_eq(n->nchildren, 0);
        if (n->kind == CPQ_Q_PHRASE)
            cr_assert_geq(n->nterms, 2);
        else
            cr_assert_eq(n->nterms, 1);
        for (i = 0; i < n->nterms; i++) {
            const cpq_qterm *t = &n->terms[i];

            cr_assert(t->len >= 1 && t->len <= CPQ_TERM_MAX);
            cr_assert_eq(strlen(t->bytes), t->len);
            if (n->kind != CPQ_Q_PHRASE)
                cr_assert_eq(t->pos, 0);
            else if (i == 0)
                cr_assert_eq(t->pos, 0);
            else
                cr_assert_gt(t->pos, n->terms[i - 1].pos);
        }
        return n->nterms;
    case CPQ_Q_NEAR:
        cr_assert_eq(n->nchildren, 2);
        cr_assert_leq(n->distance, CPQ_QUERY_MAX_NEAR);
        for (i = 0; i < 2; i++) {
            cr_assert(n->children[i].kind == CPQ_Q_TERM || n->children[i].kind == CPQ_Q_PHRASE);
            cr_assert_eq(n->children[i].occur, CPQ_OCCUR_MUST);
            terms += check_node(&n->children[i], len, depth + 1, 0);
        }
        return terms;
    case CPQ_Q_BOOL:
        cr_assert_null(n->terms);
        cr_assert_leq(n->nchildren, CPQ_QUERY_MAX_TERMS);
        if (!is_root)
            cr_assert_geq(n->nchildren, 2, "an inner BOOL has at least two children");
        for (i = 0; i < n->nchildren; i++) {
            cr_assert_leq((int)n->children[i].occur, (int)CPQ_OCCUR_MUST_NOT);
            npos += n->children[i].occur != CPQ_OCCUR_MUST_NOT;
            terms += check_node(&n->children[i], len, depth + 1, 0);
        }
        if (n->nchildren)
            cr_assert_gt(npos, 0, "a BOOL with only MUST_NOT children");
        return terms;
    }
    cr_assert_fail("bad kind %d", (int)n->kind);
    return 0;
}

static void check_query(const cpq_query *q, size_t len)
{
    const cpq_qnode *r = cpq_query_root(q);
    char small[16];
    size_t n1, n2;
    char *big;

    cr_assert_eq(r->kind, CPQ_Q_BOOL);
    cr_assert_eq(r->occur, CPQ_OCCUR_SHOULD);
    cr_assert_eq(check_node(r, len, 0, 1), cpq_query_nterms(q));
    cr_assert_leq(cpq_query_nterms(q), CPQ_QUERY_MAX_TERMS);
    n1 = cpq_query_format(q, small, sizeof small);
    big = malloc(n1 + 1);
    n2 = cpq_query_format(q, big, n1 + 1);
    cr_assert_eq(n1, n2);
    cr_assert_eq(strlen(big), n1);
    cr_assert_eq(strncmp(small, big, sizeof small - 1), 0);
    free(big);
}

/* ------------------------------------------------------------------ */
/* AOL queries                                                         */
/* ------------------------------------------------------------------ */

/* Forty queries from bench/queries-aol.jsonl with their trees under the
 * english analyser, so the common shapes are covered without ../shared. */
static const struct { const char *q, *tree; } aol[] = {
    { "the", "(bool (should (term \"the\")))" },
    { "+griffith +observatory", "(bool (must (term \"griffith\")) (must (term \"observatori\")))" },
    { "\"griffith observatory\"", "(bool (should (phrase \"griffith\" \"observatori\")))" },
    { "griffith observatory", "(bool (should (term \"griffith\")) (should (term \"observatori\")))" },
    { "+plus +size +clothing", "(bool (must (term \"plus\")) (must (term \"size\")) (must (term \"cloth\")))" },
    { "\"plus size clothing\"", "(bool (should (phrase \"plus\" \"size\" \"cloth\")))" },
    { "\"battle of the bulge\"", "(bool (should (phrase \"battl\" \"of\" \"the\" \"bulg\")))" },
    { "\"lord of the rings\"", "(bool (should (phrase \"lord\" \"of\" \"the\" \"ring\")))" },
    { "\"the english restoration\"", "(bool (should (phrase \"the\" \"english\" \"restor\")))" },
    { "\"jesus as a child\"", "(bool (should (phrase \"jesus\" \"as\" \"a\" \"child\")))" },
    { "+university +of +washington", "(bool (must (term \"univers\")) (must (term \"of\")) (must (term \"washington\")))" },
    { "\"city in iran\"", "(bool (should (phrase \"citi\" \"in\" \"iran\")))" },
    { "\"us coast guard\"", "(bool (should (phrase \"us\" \"coast\" \"guard\")))" },
    { "\"who dares wins\"", "(bool (should (phrase \"who\" \"dare\" \"win\")))" },
    { "\"west palm beach florida\"", "(bool (should (phrase \"west\" \"palm\" \"beach\" \"florida\")))" },
    { "+python -snake -monty", "(bool (must (term \"python\")) (must_not (term \"snake\")) (must_not (term \"monti\")))" },
    { "+python -snake", "(bool (must (term \"python\")) (must_not (term \"snake\")))" },
    { "+jaguar -car -football", "(bool (must (term \"jaguar\")) (must_not (term \"car\")) (must_not (term \"footbal\")))" },
    { "+mercury -planet -element", "(bool (must (term \"mercuri\")) (must_not (term \"planet\")) (must_not (term \"element\")))" },
    { "+java -coffee -island", "(bool (must (term \"java\")) (must_not (term \"coffe\")) (must_not (term \"island\")))" },
    { "+apple -fruit -tree", "(bool (must (term \"appl\")) (must_not (term \"fruit\")) (must_not (term \"tree\")))" },
    { "+puma -cat -shoes", "(bool (must (term \"puma\")) (must_not (term \"cat\")) (must_not (term \"shoe\")))" },
    { "+\"the who\" +uk", "(bool (must (phrase \"the\" \"who\")) (must (term \"uk\")))" },
    { "+climate policy", "(bool (must (term \"climat\")) (should (term \"polici\")))" },
    { "remote +work", "(bool (should (term \"remot\")) (must (term \"work\")))" },
    { "wildfire +risk maps", "(bool (should (term \"wildfir\")) (must (term \"risk\")) (should (term \"map\")))" },
    { "+renewable energy policy goals", "(bool (must (term \"renew\")) (should (term \"energi\")) (should (term \"polici\")) (should (term \"goal\")))" },
    { "search +engine ranking", "(bool (should (term \"search\")) (must (term \"engin\")) (should (term \"rank\")))" },
    { "+financial reporting standards", "(bool (must (term \"financi\")) (should (term \"report\")) (should (term \"standard\")))" },
    { "digital +marketing strategy", "(bool (should (term \"digit\")) (must (term \"market\")) (should (term \"strategi\")))" },
    { "chicken noodle soup", "(bool (should (term \"chicken\")) (should (term \"noodl\")) (should (term \"soup\")))" },
    { "american south", "(bool (should (term \"american\")) (should (term \"south\")))" },
    { "the daily breeze", "(bool (should (term \"the\")) (should (term \"daili\")) (should (term \"breez\")))" },
    { "kidney transplant", "(bool (should (term \"kidney\")) (should (term \"transplant\")))" },
    { "\"microsoft frontpage\"", "(bool (should (phrase \"microsoft\" \"frontpag\")))" },
    { "+bismarck +state +college", "(bool (must (term \"bismarck\")) (must (term \"state\")) (must (term \"colleg\")))" },
    { "\"united states constitution\"", "(bool (should (phrase \"unit\" \"state\" \"constitut\")))" },
    { "+good +luck", "(bool (must (term \"good\")) (must (term \"luck\")))" },
    { "\"third trimester\"", "(bool (should (phrase \"third\" \"trimest\")))" },
    { "a search engine is an information retrieval software system designed to help find "
      "information stored on one or more computer systems",
      "(bool (should (term \"a\")) (should (term \"search\")) (should (term \"engin\")) "
      "(should (term \"is\")) (should (term \"an\")) (should (term \"inform\")) "
      "(should (term \"retriev\")) (should (term \"softwar\")) (should (term \"system\")) "
      "(should (term \"design\")) (should (term \"to\")) (should (term \"help\")) "
      "(should (term \"find\")) (should (term \"inform\")) (should (term \"store\")) "
      "(should (term \"on\")) (should (term \"one\")) (should (term \"or\")) "
      "(should (term \"more\")) (should (term \"comput\")) (should (term \"system\")))" },
};

Test(query, aol_embedded)
{
    size_t i;

    for (i = 0; i < sizeof aol / sizeof aol[0]; i++)
        expect_tree(aol[i].q, aol[i].tree);
    /* With stopwords and in all-words mode. */
    expect_tree_stop("\"battle of the bulge\"", "(bool (should (phrase \"battl\" \"bulg\"@3)))");
    expect_tree_stop("+university +of +washington", "(bool (must (term \"univers\")) (must (term \"washington\")))");
    expect_tree_stop("+\"the who\" +uk", "(bool (must (term \"who\")) (must (term \"uk\")))");
    expect_tree_stop("the", "(bool)");
    expect_tree_all("search +engine ranking",
                    "(bool (must (term \"search\")) (must (term \"engin\")) (must (term \"rank\")))");
}

/* Decode the JSON string value of "query" in line into out (cap bytes).
 * Enough JSON for the bench file: the escapes \" \\ \/ \b \f \n \r \t and
 * \uXXXX in the BMP.  Returns the length or -1. */
static long json_query(const char *line, char *out, size_t cap)
{
    const char *p = strstr(line, "\"query\"");
    size_t n = 0;

    if (!p)
        return -1;
    p += 7;
    while (*p == ' ' || *p == ':')
        p++;
    if (*p++ != '"')
        return -1;
    for (; *p && *p != '"'; p++) {
        unsigned c = (unsigned char)*p;

        if (n + 4 >= cap)
            return -1;
        if (c == '\\') {
            p++;
            switch (*p) {
            case 'b': c = '\b'; break;
            case 'f': c = '\f'; break;
            case 'n': c = '\n'; break;
            case 'r': c = '\r'; break;
            case 't': c = '\t'; break;
            case 'u': {
                unsigned v = 0;
                int k;

                for (k = 1; k <= 4; k++) {
                    char h = p[k];

                    v = v * 16 + (unsigned)(h >= 'a' ? h - 'a' + 10 : h >= 'A' ? h - 'A' + 10 : h - '0');
                }
                p += 4;
                if (v < 0x80) {
                    out[n++] = (char)v;
                } else if (v < 0x800) {
                    out[n++] = (char)(0xc0 | v >> 6);
                    out[n++] = (char)(0x80 | (v & 0x3f));
                } else {
                    out[n++] = (char)(0xe0 | v >> 12);
                    out[n++] = (char)(0x80 | ((v >> 6) & 0x3f));
                    out[n++] = (char)(0x80 | (v & 0x3f));
                }
                continue;
            }
            case '\0': return -1;
            default: c = (unsigned char)*p; break;
            }
        }
        out[n++] = (char)c;
    }
    return *p == '"' ? (long)n : -1;
}

static int all_children(const cpq_qnode *r, cpq_occur o)
{
    size_t i;

    for (i = 0; i < r->nchildren; i++)
        if (r->children[i].occur != o)
            return 0;
    return r->nchildren > 0;
}

Test(query, aol_file)
{
    const char *path = CPQ_SOURCE_ROOT "/../shared/bench/queries-aol.jsonl";
    FILE *f = fopen(path, "r");
    char line[8192], text[8192];
    size_t nq = 0;

    if (!f)
        cr_skip_test("%s is absent", path);
    while (fgets(line, sizeof line, f)) {
        long len = json_query(line, text, sizeof text);
        cpq_analyzer *ans[2] = { en, ens };
        unsigned flags;
        int a;

        cr_assert_geq(len, 0, "line %zu: no \"query\" string", nq + 1);
        for (a = 0; a < 2; a++) {
            for (flags = 0; flags <= CPQ_QUERY_ALL_WORDS; flags++) {
                cpq_query *q;
                cpq_errinfo e;
                const cpq_qnode *r;
                int rc = parse_with(ans[a], none, text, (size_t)len, flags, &q, &e);

                cr_assert_eq(rc, CPQ_OK, "line %zu [%s]: %s", nq + 1, text, e.msg);
                check_query(q, (size_t)len);
                r = cpq_query_root(q);
                /* The shape the bench tags promise (english, no stopwords). */
                if (a == 0 && strstr(line, "\"phrase\"")) {
                    cr_assert_eq(r->nchildren, 1, "[%s]", text);
                    cr_assert(r->children[0].kind == CPQ_Q_PHRASE || r->children[0].kind == CPQ_Q_TERM);
                }
                if (a == 0 && strstr(line, "\"intersection\""))
                    cr_assert(all_children(r, CPQ_OCCUR_MUST), "[%s]", text);
                if (a == 0 && strstr(line, "\"union\""))
                    cr_assert(all_children(r, flags ? CPQ_OCCUR_MUST : CPQ_OCCUR_SHOULD), "[%s]", text);
                if (a == 0 && strstr(line, "\"negated\"")) {
                    cr_assert_eq(r->children[0].occur, CPQ_OCCUR_MUST, "[%s]", text);
                    cr_assert_eq(r->children[r->nchildren - 1].occur, CPQ_OCCUR_MUST_NOT, "[%s]", text);
                }
                cpq_query_free(q);
            }
        }
        nq++;
    }
    fclose(f);
    cr_assert_gt(nq, 0);
}

/* ------------------------------------------------------------------ */
/* Fuzz                                                                */
/* ------------------------------------------------------------------ */

static void fuzz_one(const char *text, size_t len, cpq_analyzer *a)
{
    cpq_query *q = (cpq_query *)&q;
    cpq_errinfo e;
    int rc = parse_with(a, none, text, len, (unsigned)(len & 1), &q, &e);

    if (rc == CPQ_OK) {
        cr_assert_not_null(q);
        check_query(q, len);
        cpq_query_free(q);
        return;
    }
    cr_assert(rc == CPQ_EPARSE || rc == CPQ_ELIMIT, "[%.*s]: rc %d %s", (int)len, text, rc, e.msg);
    cr_assert_null(q);
    cr_assert_eq(strncmp(e.msg, "column ", 7), 0, "[%.*s]: %s", (int)len, text, e.msg);
}

Test(query, fuzz_tokens)
{
    static const char *alpha[] = {
        "+", "-", "\"", "(", ")", "*", "/", "a", "b", "the", "NEAR", "NEAR/3", "NEAR/0",
        "NEAR/", "AND", "OR", "NOT", " ", " ", " ", "\xc3\xa9", "\xe6\x9d\xb1", "\xe3\x80\x80",
        "x86_64", "e-mail", "1000", "\xff", "\xc3", "\xe6\x9d", "\t", "\0",
    };
    const size_t na = sizeof alpha / sizeof alpha[0];
    uint64_t st = 0x9e3779b97f4a7c15ull;
    char buf[512];
    int iter;

    for (iter = 0; iter < 40000; iter++) {
        size_t n = 0, k, ntok = 1 + tu_rand(&st) % 40;

        for (k = 0; k < ntok; k++) {
            size_t t = tu_rand(&st) % na;
            size_t l = alpha[t][0] ? strlen(alpha[t]) : 1;  /* "\0" is one NUL byte */

            memcpy(buf + n, alpha[t], l);
            n += l;
        }
        fuzz_one(buf, n, iter & 2 ? ens : en);
    }
}

Test(query, fuzz_bytes)
{
    uint64_t st = 12345;
    char buf[256];
    int iter;

    for (iter = 0; iter < 20000; iter++) {
        size_t n = tu_rand(&st) % sizeof buf, k;

        for (k = 0; k < n; k++) {
            uint64_t r = tu_rand(&st);

            /* Half of the bytes from the syntax, half anything. */
            buf[k] = (char)(r & 1 ? "+-\"()* aN/"[(r >> 8) % 10] : (int)(r >> 16));
        }
        fuzz_one(buf, n, iter & 1 ? ens : en);
    }
}

Test(query, fuzz_long)
{
    static const char alpha[] = "(((()))) ab\"+-*";
    uint64_t st = 777;
    char *buf = malloc(CPQ_QUERY_MAX_BYTES + 400);
    int iter;

    for (iter = 0; iter < 300; iter++) {
        size_t n = CPQ_QUERY_MAX_BYTES - 200 + tu_rand(&st) % 400, k;

        for (k = 0; k < n; k++)
            buf[k] = alpha[tu_rand(&st) % (sizeof alpha - 1)];
        if (n > CPQ_QUERY_MAX_BYTES) {
            cpq_query *q;

            cr_assert_eq(cpq_query_parse(buf, n, en, none, 0, &q, NULL), CPQ_ELIMIT);
            continue;
        }
        fuzz_one(buf, n, en);
    }
    free(buf);
}

/* Random queries that are valid by the grammar of QUERY.md: every one must
 * parse, with either analyser, in either mode. */
typedef struct gen {
    char buf[8192];
    size_t n;
    uint64_t st;
} gen;

static void g_put(gen *g, const char *s)
{
    size_t l = strlen(s);
    size_t room = g->n < sizeof g->buf ? sizeof g->buf - 1 - g->n : 0;

    if (l <= room) {
        memcpy(g->buf + g->n, s, l);
        g->n += l;
    }
    g->buf[g->n < sizeof g->buf ? g->n : sizeof g->buf - 1] = '\0';
}

static const char *g_pick(gen *g, const char *const *v, size_t n)
{
    return v[tu_rand(&g->st) % n];
}

#define PICK(g, v) g_pick((g), (v), sizeof (v) / sizeof (v)[0])

static void g_list(gen *g, unsigned depth);

static void g_nearop(gen *g)
{
    static const char *const w[] = { "alpha", "beta", "x86_64", "e-mail", "\xe6\x9d\xb1\xe4\xba\xac\xe9\x83\xbd",
                                     "Caf\xc3\xa9", "the", "running", "\"new york\"", "\"of the\"", "\"x\"" };
    g_put(g, PICK(g, w));
}

static void g_primary(gen *g, unsigned depth)
{
    static const char *const pre[] = { "cyb*", "run*", "\u00e9c*", "the*", "q**" };

    switch (tu_rand(&g->st) % (depth < 3 ? 4 : 3)) {
    case 0: case 1: g_nearop(g); break;
    case 2: g_put(g, PICK(g, pre)); break;
    default:
        g_put(g, "(");
        g_list(g, depth + 1);
        g_put(g, ")");
        break;
    }
}

static void g_near(gen *g, unsigned depth)
{
    static const char *const op[] = { " NEAR/0 ", " NEAR/3 ", " NEAR/1000 " };

    if (tu_rand(&g->st) % 5 == 0) {
        g_nearop(g);
        g_put(g, PICK(g, op));
        g_nearop(g);
    } else {
        g_primary(g, depth);
    }
}

static void g_and(gen *g, unsigned depth)
{
    size_t i, n = 1 + tu_rand(&g->st) % 3;

    g_near(g, depth);
    for (i = 1; i < n; i++) {
        static const char *const neg[] = { "", "", "NOT ", "-", "+" };

        g_put(g, " AND ");
        g_put(g, PICK(g, neg));
        g_near(g, depth);
    }
}

static void g_or(gen *g, unsigned depth)
{
    size_t i, n = 1 + tu_rand(&g->st) % 3;

    g_and(g, depth);
    for (i = 1; i < n; i++) {
        g_put(g, " OR ");
        g_and(g, depth);
    }
}

static void g_list(gen *g, unsigned depth)
{
    static const char *const sign[] = { "", "", "", "+", "-", "NOT " };
    size_t i, n = 1 + tu_rand(&g->st) % 4;

    for (i = 0; i < n; i++) {
        const char *s = i == 0 ? (tu_rand(&g->st) & 1 ? "+" : "") : PICK(g, sign);

        if (i)
            g_put(g, tu_rand(&g->st) % 4 ? " " : "  ");
        g_put(g, s);
        if (*s)
            g_near(g, depth);   /* a sign applies to one operand, never to a chain */
        else
            g_or(g, depth);
    }
}

Test(query, fuzz_grammar)
{
    gen g;
    int iter, ran = 0;

    g.st = 4242;
    for (iter = 0; iter < 20000; iter++) {
        cpq_analyzer *a = iter & 1 ? ens : en;
        cpq_query *q;
        cpq_errinfo e;
        int rc;

        g.n = 0;
        g.buf[0] = '\0';
        g_list(&g, 0);
        if (g.n > 700)   /* stays clear of the term and length limits */
            continue;
        rc = parse_with(a, none, g.buf, g.n, (unsigned)(iter >> 1) & 1, &q, &e);
        cr_assert_eq(rc, CPQ_OK, "[%s]: %s", g.buf, e.msg);
        check_query(q, g.n);
        cpq_query_free(q);
        ran++;
    }
    cr_assert_gt(ran, 15000, "only %d of 20000 were short enough", ran);
}
