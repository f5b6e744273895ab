/*
 * passage.c - splitting a document into passages (see passage.h).
 *
 * One pass over the text classifies each code point (a table for ASCII,
 * utf8proc only for the categories of non-ASCII code points) and cuts it
 * into paragraphs and, inside them, sentences.  What comes out is a stream
 * of "units", each at most max_words words, packed greedily: a unit joins
 * the open passage while the sum stays within max_words, else the passage
 * is emitted and the unit starts the next one.
 *
 *   - A paragraph of at most max_words words is one unit.
 *   - A longer paragraph gives one unit per sentence, and a sentence longer
 *     than max_words is cut before its (max_words+1)-th, (2*max_words+1)-th,
 *     ... word.  Because these units go through the same packer, a short
 *     heading is kept with the first sentences of a long paragraph after it,
 *     and the tail of a long paragraph may share a passage with the short
 *     paragraph that follows.
 *
 * The sentences of a paragraph are buffered only until the paragraph turns
 * out to be long (at most max_words+1 entries, as sentences without words
 * are merged into the one before); after that they are emitted as they end.
 * Overlong sentences are scanned a second time to find their cut points.
 *
 * Plain ASCII, most of any text, is taken 16 (SSE2) or 8 (SWAR) bytes at a
 * time by ascii_run; the byte loop in cpq_passage_split takes the rest and
 * gives the same result alone (tests/test_passage.c compares the two).
 *
 * Bytes that are not valid UTF-8 are taken as maximal invalid subparts (as
 * cpq_utf8_repair does) and count as punctuation: content, but no word.
 * Every unit starts at a code point that is not whitespace and ends after
 * one, so passages are trimmed and never split a sequence.
 */
#include "passage.h"

#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>
#if defined(__GNUC__) && defined(__SSE2__)
#include <emmintrin.h>
#endif

/* Code point classes. */
enum {
    K_SPACE,   /* whitespace other than '\n' */
    K_NL,      /* '\n' */
    K_WORD,    /* letter or number, not CJK */
    K_MARK,    /* combining mark: continues a word, or starts one */
    K_CJK,     /* Han, Hiragana, Katakana or Hangul letter: one word each */
    K_TERM,    /* '.', '!', '?': ends a sentence when whitespace follows */
    K_CJKTERM, /* U+3002, U+FF01, U+FF1F, U+FF61: ends a sentence */
    K_OTHER,   /* punctuation, symbols, controls, invalid bytes */
    K_MB       /* (table only) a byte >= 0x80: decode to classify */
};

#define S_ K_SPACE
#define N_ K_NL
#define W_ K_WORD
#define T_ K_TERM
#define O_ K_OTHER
#define M_ K_MB
static const unsigned char byte_class[256] = {
    O_, O_, O_, O_, O_, O_, O_, O_, O_, S_, N_, S_, S_, S_, O_, O_, /* 0x00 */
    O_, O_, O_, O_, O_, O_, O_, O_, O_, O_, O_, O_, O_, O_, O_, O_, /* 0x10 */
    S_, T_, O_, O_, O_, O_, O_, O_, O_, O_, O_, O_, O_, O_, T_, O_, /* 0x20 */
    W_, W_, W_, W_, W_, W_, W_, W_, W_, W_, O_, O_, O_, O_, O_, T_, /* 0x30 */
    O_, W_, W_, W_, W_, W_, W_, W_, W_, W_, W_, W_, W_, W_, W_, W_, /* 0x40 */
    W_, W_, W_, W_, W_, W_, W_, W_, W_, W_, W_, O_, O_, O_, O_, O_, /* 0x50 */
    O_, W_, W_, W_, W_, W_, W_, W_, W_, W_, W_, W_, W_, W_, W_, W_, /* 0x60 */
    W_, W_, W_, W_, W_, W_, W_, W_, W_, W_, W_, O_, O_, O_, O_, O_, /* 0x70 */
    M_, M_, M_, M_, M_, M_, M_, M_, M_, M_, M_, M_, M_, M_, M_, M_, /* 0x80 */
    M_, M_, M_, M_, M_, M_, M_, M_, M_, M_, M_, M_, M_, M_, M_, M_,
    M_, M_, M_, M_, M_, M_, M_, M_, M_, M_, M_, M_, M_, M_, M_, M_,
    M_, M_, M_, M_, M_, M_, M_, M_, M_, M_, M_, M_, M_, M_, M_, M_,
    M_, M_, M_, M_, M_, M_, M_, M_, M_, M_, M_, M_, M_, M_, M_, M_,
    M_, M_, M_, M_, M_, M_, M_, M_, M_, M_, M_, M_, M_, M_, M_, M_,
    M_, M_, M_, M_, M_, M_, M_, M_, M_, M_, M_, M_, M_, M_, M_, M_,
    M_, M_, M_, M_, M_, M_, M_, M_, M_, M_, M_, M_, M_, M_, M_, M_,
};
#undef S_
#undef N_
#undef W_
#undef T_
#undef O_
#undef M_

/* Decode the code point at s[0..n), n >= 1, s[0] >= 0x80.  Returns its
 * length and stores it in *cp, or returns the length of the maximal
 * invalid subpart with *cp = -1. */
static inline size_t decode_mb(const unsigned char *s, size_t n, int32_t *cp)
{
    unsigned c = s[0], lo = 0x80, hi = 0xBF;
    *cp = -1;
    if (c < 0xC2)
        return 1;
    if (c < 0xE0) {
        if (n < 2 || (s[1] & 0xC0) != 0x80)
            return 1;
        *cp = (int32_t)(((c & 0x1F) << 6) | (s[1] & 0x3F));
        return 2;
    }
    if (c < 0xF0) {
        if (c == 0xE0)
            lo = 0xA0;
        else if (c == 0xED)
            hi = 0x9F;
        if (n < 2 || s[1] < lo || s[1] > hi)
            return 1;
        if (n < 3 || (s[2] & 0xC0) != 0x80)
            return 2;
        *cp = (int32_t)(((c & 0x0F) << 12) | ((s[1] & 0x3Fu) << 6) | (s[2] & 0x3F));
        return 3;
    }
    if (c < 0xF5) {
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F;
        if (n < 2 || s[1] < lo || s[1] > hi)
            return 1;
        if (n < 3 || (s[2] & 0xC0) != 0x80)
            return 2;
        if (n < 4 || (s[3] & 0xC0) != 0x80)
            return 3;
        *cp = (int32_t)(((c & 0x07) << 18) | ((s[1] & 0x3Fu) << 12) | ((s[2] & 0x3Fu) << 6) | (s[3] & 0x3F));
        return 4;
    }
    return 1;
}

/* The scripts that count one word per character, by block.  Only code
 * points that utf8proc calls letters or numbers get here. */
static int is_cjk(int32_t cp)
{
    return (cp >= 0x1100 && cp <= 0x11FF)      /* Hangul Jamo */
        || (cp >= 0x2E80 && cp <= 0x2FDF)      /* CJK and Kangxi radicals */
        || (cp >= 0x3005 && cp <= 0x3007)      /* 々 〆 〇 */
        || (cp >= 0x3021 && cp <= 0x3029)      /* Hangzhou numerals */
        || (cp >= 0x3038 && cp <= 0x303C)
        || (cp >= 0x3040 && cp <= 0x30FF)      /* Hiragana, Katakana */
        || (cp >= 0x3130 && cp <= 0x318F)      /* Hangul compatibility Jamo */
        || (cp >= 0x31F0 && cp <= 0x31FF)      /* Katakana phonetic extensions */
        || (cp >= 0x3400 && cp <= 0x4DBF)      /* Han extension A */
        || (cp >= 0x4E00 && cp <= 0x9FFF)      /* Han */
        || (cp >= 0xA960 && cp <= 0xA97F)      /* Hangul Jamo extended A */
        || (cp >= 0xAC00 && cp <= 0xD7FF)      /* Hangul syllables, Jamo extended B */
        || (cp >= 0xF900 && cp <= 0xFAFF)      /* Han compatibility */
        || (cp >= 0xFF66 && cp <= 0xFFDC)      /* halfwidth Katakana and Hangul */
        || (cp >= 0x1B000 && cp <= 0x1B16F)    /* Kana supplement and extensions */
        || (cp >= 0x20000 && cp <= 0x3FFFF);   /* Han extensions B.. */
}

static int class_of_cp(int32_t cp)
{
    if ((cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0xAC00 && cp <= 0xD7A3))
        return K_CJK; /* the common case of CJK text, without a lookup */
    switch (cp) {
    case 0x3002: case 0xFF01: case 0xFF1F: case 0xFF61:
        return K_CJKTERM;
    case 0x85: /* NEL is a control, but whitespace */
        return K_SPACE;
    default:
        break;
    }
    switch (utf8proc_category(cp)) {
    case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM: case UTF8PROC_CATEGORY_LO:
    case UTF8PROC_CATEGORY_ND: case UTF8PROC_CATEGORY_NL: case UTF8PROC_CATEGORY_NO:
        return is_cjk(cp) ? K_CJK : K_WORD;
    case UTF8PROC_CATEGORY_MN: case UTF8PROC_CATEGORY_MC: case UTF8PROC_CATEGORY_ME:
        return K_MARK;
    case UTF8PROC_CATEGORY_ZS: case UTF8PROC_CATEGORY_ZL: case UTF8PROC_CATEGORY_ZP:
        return K_SPACE;
    default:
        return K_OTHER;
    }
}

/* Class of the code point at s[0..n), n >= 1; its length goes to *len. */
static inline int class_at(const unsigned char *s, size_t n, size_t *len)
{
    int k = byte_class[s[0]];
    if (k != K_MB) {
        *len = 1;
        return k;
    }
    int32_t cp;
    *len = decode_mb(s, n, &cp);
    return cp < 0 ? K_OTHER : class_of_cp(cp);
}

/* Past the closing quotes and brackets that may follow a sentence's
 * terminator at s[i..len). */
static size_t skip_closers(const unsigned char *s, size_t len, size_t i)
{
    while (i < len) {
        unsigned c = s[i];
        if (c < 0x80) {
            if (c != '"' && c != '\'' && c != ')' && c != ']' && c != '}')
                break;
            i++;
            continue;
        }
        int32_t cp;
        size_t n = decode_mb(s + i, len - i, &cp);
        if (cp < 0)
            break;
        utf8proc_category_t cat = utf8proc_category(cp);
        if (cat != UTF8PROC_CATEGORY_PE && cat != UTF8PROC_CATEGORY_PF)
            break;
        i += n;
    }
    return i;
}

/* Word boundaries: returns 1 when a code point of class k starts a word. */
static inline int word_step(int k, int *in_word, int *after_cjk)
{
    switch (k) {
    case K_WORD: {
        int starts = !*in_word || *after_cjk;
        *in_word = 1;
        *after_cjk = 0;
        return starts;
    }
    case K_MARK: /* a mark stays with what it follows, CJK included */
        if (*in_word)
            return 0;
        *in_word = 1;
        *after_cjk = 0;
        return 1;
    case K_CJK:
        *in_word = 1;
        *after_cjk = 1;
        return 1;
    default:
        *in_word = 0;
        return 0;
    }
}

typedef struct sent {
    size_t start, end;
    uint64_t words;
} sent;

typedef struct splitter {
    const unsigned char *s;
    uint64_t max;
    cpq_spans *out;
    int rc;                  /* sticky: 0, or -1 once an allocation failed */
    /* the open passage */
    int have;
    size_t cur_start, cur_end;
    uint64_t cur_words;
    /* the open paragraph */
    uint64_t para_words;     /* in its closed sentences */
    int para_long;           /* more than max words: sentences go straight out */
    sent *sv;                /* its sentences while it may still be short */
    size_t sn, scap;
    sent *sv_local;          /* sv at first, on the caller's stack (scap entries):
                              * most paragraphs need no malloc */
} splitter;

static void push_span(splitter *sp, size_t start, size_t end)
{
    cpq_spans *o = sp->out;
    if (sp->rc)
        return;
    if (o->n == o->cap) {
        size_t nc = o->cap ? o->cap * 2 : 16;
        cpq_span *nv = nc <= SIZE_MAX / sizeof *nv ? realloc(o->v, nc * sizeof *nv) : NULL;
        if (!nv) {
            sp->rc = -1;
            return;
        }
        o->v = nv;
        o->cap = nc;
    }
    o->v[o->n].start = start;
    o->v[o->n].len = end - start;
    o->n++;
}

/* The packer: a unit of at most max words joins the open passage or
 * starts the next one. */
static void add_unit(splitter *sp, size_t start, size_t end, uint64_t words)
{
    if (sp->have && sp->cur_words + words <= sp->max) {
        sp->cur_end = end;
        sp->cur_words += words;
        return;
    }
    if (sp->have)
        push_span(sp, sp->cur_start, sp->cur_end);
    sp->have = 1;
    sp->cur_start = start;
    sp->cur_end = end;
    sp->cur_words = words;
}

/* Cut the sentence s[start..end), longer than max words, before every
 * (max+1)-th word start, trimming each piece's trailing whitespace. */
static void cut_sentence(splitter *sp, size_t start, size_t end)
{
    const unsigned char *s = sp->s;
    size_t i = start, piece = start, last = start;
    uint64_t words = 0;
    int in_word = 0, after_cjk = 0;

    while (i < end) {
        size_t n;
        int k = class_at(s + i, end - i, &n);
        if (k == K_SPACE || k == K_NL) {
            in_word = 0;
        } else {
            if (word_step(k, &in_word, &after_cjk)) {
                if (words == sp->max) {
                    add_unit(sp, piece, last, words);
                    piece = i;
                    words = 0;
                }
                words++;
            }
            last = i + n;
        }
        i += n;
    }
    add_unit(sp, piece, end, words);
}

static void emit_sentence(splitter *sp, size_t start, size_t end, uint64_t words)
{
    if (words <= sp->max)
        add_unit(sp, start, end, words);
    else
        cut_sentence(sp, start, end);
}

static void close_sentence(splitter *sp, size_t start, size_t end, uint64_t words)
{
    sp->para_words += words;
    if (sp->para_long) {
        emit_sentence(sp, start, end, words);
        return;
    }
    if (words == 0 && sp->sn > 0) {
        /* A sentence without words always packs with the unit before it. */
        sp->sv[sp->sn - 1].end = end;
    } else {
        if (sp->sn == sp->scap) {
            size_t nc = sp->scap * 2;
            sent *nv = nc <= SIZE_MAX / sizeof *nv
                     ? realloc(sp->sv == sp->sv_local ? NULL : sp->sv, nc * sizeof *nv) : NULL;
            if (!nv) {
                sp->rc = -1;
                return;
            }
            if (sp->sv == sp->sv_local)
                memcpy(nv, sp->sv_local, sp->scap * sizeof *nv);
            sp->sv = nv;
            sp->scap = nc;
        }
        sp->sv[sp->sn].start = start;
        sp->sv[sp->sn].end = end;
        sp->sv[sp->sn].words = words;
        sp->sn++;
    }
    if (sp->para_words > sp->max) {
        sp->para_long = 1;
        for (size_t j = 0; j < sp->sn; j++)
            emit_sentence(sp, sp->sv[j].start, sp->sv[j].end, sp->sv[j].words);
        sp->sn = 0;
    }
}

/* The paragraph s[start..end) has ended (its last sentence closed). */
static void end_paragraph(splitter *sp, size_t start, size_t end)
{
    if (!sp->para_long)
        add_unit(sp, start, end, sp->para_words);
    sp->para_long = 0;
    sp->para_words = 0;
    sp->sn = 0;
}

/* Where the main loop stands: the open paragraph and sentence, and the
 * state of the current word and line. */
typedef struct scan {
    size_t last;             /* end of the last content code point */
    size_t para_start, sent_start;
    uint64_t sent_words;     /* in the open sentence so far */
    int in_word, after_cjk;  /* see word_step */
    int line_content;        /* the current line has content */
    int blank_line;          /* a blank line came after the last content */
    int para_open, sent_open;
} scan;

/* Content at byte i with no sentence open and no blank line pending: it
 * starts a sentence, and a paragraph if none is open. */
static inline void open_sentence(scan *c, size_t i)
{
    c->sent_open = 1;
    c->sent_start = i;
    c->sent_words = 0;
    if (!c->para_open) {
        c->para_open = 1;
        c->para_start = i;
    }
}

/* Content at byte i when a blank line is pending or no sentence is open:
 * the paragraph before (if any) ends at last, its open sentence having
 * words words; i starts a sentence, and a paragraph if none is open.
 * Sets sp->rc on allocation failure. */
static void start_content(splitter *sp, scan *c, size_t i, size_t last, uint64_t words)
{
    if (c->blank_line && c->para_open) {
        if (c->sent_open)
            close_sentence(sp, c->sent_start, last, words);
        end_paragraph(sp, c->para_start, last);
        c->para_open = c->sent_open = 0;
    }
    c->blank_line = 0;
    if (!c->sent_open)
        open_sentence(c, i);
}

/*
 * ASCII a block at a time.  Most text is ASCII words, spaces, punctuation
 * and line breaks, where a byte loop spends its time mispredicting where
 * each word and each space ends.  ascii_run takes such text BLOCK bytes at
 * a time instead: it classifies a block into bit masks (byte j of the block
 * is the bit LOW << STEP*j) and counts word starts with mask arithmetic;
 * only sentence ends, blank lines and non-ASCII bytes branch.
 *
 * With SSE2 (every x86-64) a block is 16 bytes, one mask bit a byte.  On
 * other little-endian GCC/clang targets it is 8 bytes in a uint64_t, bit 7
 * of each byte (SWAR, as analyze.c does).  Elsewhere the byte loop does all
 * the work.  Defining CPQ_PASSAGE_NO_SSE2 or CPQ_PASSAGE_NO_SWAR turns fast
 * paths off (tests/test_passage.c builds this file once more without them).
 *
 * Measured, in bytes per second of CPU time at max_words 200 (-O2, gcc 12,
 * best of 5-7 interleaved runs, a 2 GHz EPYC shared with other work): the
 * byte loop alone, SWAR, SSE2: gcide texts 185, 280, 495 MB/s; linux-doc
 * files 190, 350, 720 MB/s.  The slower gcide has a sentence end every 40
 * bytes (each a close_sentence) and a new text every 315.
 */
#if defined(__GNUC__) && defined(__SSE2__) && !defined(CPQ_PASSAGE_NO_SSE2) \
    && !defined(CPQ_PASSAGE_NO_SWAR)
#define ASCII_RUN 1
#define BLOCK 16
#define STEP 1
typedef uint32_t bmask;
#define LOW ((bmask)1)
#define ALL ((bmask)0xFFFF)

static const unsigned char popcount8[256] = {
#define B2(n) n, n + 1, n + 1, n + 2
#define B4(n) B2(n), B2(n + 1), B2(n + 1), B2(n + 2)
#define B6(n) B4(n), B4(n + 1), B4(n + 1), B4(n + 2)
    B6(0), B6(1), B6(1), B6(2)
#undef B2
#undef B4
#undef B6
};

static inline unsigned mask_count(bmask m) /* bytes marked */
{
    return (unsigned)popcount8[m & 0xFF] + popcount8[m >> 8];
}

static inline size_t mask_first(bmask m) /* the first byte marked, m != 0 */
{
    return (size_t)__builtin_ctz(m);
}

static inline size_t mask_last(bmask m) /* the last byte marked, m != 0 */
{
    return (size_t)(31 - __builtin_clz(m));
}
#elif defined(__GNUC__) && defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ \
    && !defined(CPQ_PASSAGE_NO_SWAR)
#define ASCII_RUN 1
#define SWAR 1
#define BLOCK 8
#define STEP 8
typedef uint64_t bmask;
#define ONES UINT64_C(0x0101010101010101)
#define LOW ((bmask)0x80)
#define ALL (ONES * 0x80)

/* Bit 7 of each byte is set where (byte & 0x7f) >= c, 0 < c < 0x80, for
 * low7 = x & 0x7f7f...; the other bits are junk.  No carry crosses a byte. */
static inline uint64_t swar_ge(uint64_t low7, unsigned c)
{
    return low7 + ONES * (0x80 - c);
}

static inline uint64_t swar_eq(uint64_t low7, unsigned c)
{
    return swar_ge(low7, c) & ~swar_ge(low7, c + 1);
}

static inline unsigned mask_count(bmask m)
{
    return (unsigned)(((m >> 7) * ONES) >> 56);
}

static inline size_t mask_first(bmask m)
{
    return (size_t)(__builtin_ctzll(m) >> 3);
}

static inline size_t mask_last(bmask m)
{
    return (size_t)((63 - __builtin_clzll(m)) >> 3);
}
#endif

#ifdef ASCII_RUN
/* The classes of a block's bytes.  A byte >= 0x80 is in none but high, so
 * looking a byte or two ahead never takes one for ASCII. */
typedef struct block {
    bmask high;   /* >= 0x80 */
    bmask word;   /* ASCII letters and digits: K_WORD */
    bmask ws;     /* K_SPACE or K_NL */
    bmask nl;     /* '\n' */
    bmask term;   /* '.', '!', '?': K_TERM */
    bmask close;  /* the ASCII closers skip_closers takes: " ' ) ] } */
} block;

#ifdef SWAR
static inline void classify(const unsigned char *p, block *b)
{
    uint64_t x, low7, ascii, lower;

    memcpy(&x, p, 8);
    low7 = x & (ONES * 0x7F);
    ascii = ~x & ALL;
    lower = low7 | (ONES * 0x20);
    b->high = x & ALL;
    b->nl = swar_eq(low7, '\n') & ascii;
    b->ws = ((swar_ge(low7, '\t') & ~swar_ge(low7, '\r' + 1)) | swar_eq(low7, ' ')) & ascii;
    b->word = ((swar_ge(lower, 'a') & ~swar_ge(lower, 'z' + 1))
               | (swar_ge(low7, '0') & ~swar_ge(low7, '9' + 1))) & ascii;
    b->term = (swar_eq(low7, '!') | swar_eq(low7, '.') | swar_eq(low7, '?')) & ascii;
    b->close = (swar_eq(low7, '"') | swar_eq(low7, '\'') | swar_eq(low7, ')')
                | swar_eq(lower, '}')) & ascii; /* ']' | 0x20 == '}' */
}
#else
static inline void classify(const unsigned char *p, block *b)
{
    /* Signed compares: bytes >= 0x80 are negative and match nothing. */
    __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
    __m128i lower = _mm_or_si128(v, _mm_set1_epi8(0x20));
    __m128i ws = _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8(' ')),
                              _mm_and_si128(_mm_cmpgt_epi8(v, _mm_set1_epi8('\t' - 1)),
                                            _mm_cmpgt_epi8(_mm_set1_epi8('\r' + 1), v)));
    __m128i alpha = _mm_and_si128(_mm_cmpgt_epi8(lower, _mm_set1_epi8('a' - 1)),
                                  _mm_cmpgt_epi8(_mm_set1_epi8('z' + 1), lower));
    __m128i digit = _mm_and_si128(_mm_cmpgt_epi8(v, _mm_set1_epi8('0' - 1)),
                                  _mm_cmpgt_epi8(_mm_set1_epi8('9' + 1), v));
    __m128i term = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('.')),
                                             _mm_cmpeq_epi8(v, _mm_set1_epi8('!'))),
                                _mm_cmpeq_epi8(v, _mm_set1_epi8('?')));
    __m128i close = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')),
                                              _mm_cmpeq_epi8(v, _mm_set1_epi8('\''))),
                                 _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8(')')),
                                              _mm_cmpeq_epi8(lower, _mm_set1_epi8('}'))));

    b->high = (bmask)_mm_movemask_epi8(v);
    b->nl = (bmask)_mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8('\n')));
    b->ws = (bmask)_mm_movemask_epi8(ws);
    b->word = (bmask)_mm_movemask_epi8(_mm_or_si128(alpha, digit));
    b->term = (bmask)_mm_movemask_epi8(term);
    b->close = (bmask)_mm_movemask_epi8(close);
}
#endif

/* Classify the block at s[i], for i < len and len >= BLOCK.  Bytes past len
 * count as 0x80 (a stop): the last block is read ending at len and shifted
 * down. */
static inline void classify_at(const unsigned char *s, size_t i, size_t len, block *b)
{
    unsigned d;

    if (len - i >= BLOCK) {
        classify(s + i, b);
        return;
    }
    d = STEP * (unsigned)(BLOCK - (len - i)); /* 0 < d < STEP * BLOCK */
    classify(s + len - BLOCK, b);
    b->high = (b->high >> d) | (ALL & ~(ALL >> d));
    b->word >>= d;
    b->ws >>= d;
    b->nl >>= d;
    b->term >>= d;
    b->close >>= d;
}

/*
 * Take the text from s[i] on (len >= BLOCK), a block at a time, as the byte
 * loop in cpq_passage_split would.  The bytes between "stops" go into the
 * state by mask arithmetic.  The stops are:
 *   - a '\n' not right after content, which may make a blank line: dealt
 *     with here;
 *   - a terminator followed by whitespace, or by one closer and whitespace:
 *     its sentence ends, here;
 *   - any other terminator, except one followed by a letter, a digit or
 *     other ASCII punctuation (maybe after one closer), which ends no
 *     sentence and is no stop: left to the byte loop, once seen from a
 *     block starting at it;
 *   - a byte >= 0x80, and the end of the text: left to the byte loop.
 * Returns the new i: at a stop left to the byte loop, at len, or anywhere
 * once sp->rc is set.  Not inlined: it gets registers of its own.
 */
__attribute__((noinline))
static size_t ascii_run(splitter *sp, scan *c, const unsigned char *s, size_t i, size_t len)
{
    uint64_t words = c->sent_words;
    size_t last = c->last, i0 = i;
    int lc = c->line_content;
    bmask joined = c->in_word && !c->after_cjk ? LOW : 0; /* byte i-1 continues a word */
    bmask prev_content = last == i ? LOW : 0;             /* byte i-1 is content */

    while (i < len) {
        block b;
        bmask content, plain, stop, todo = ALL;

        classify_at(s, i, len, &b);
        content = ALL & ~b.ws & ~b.high;
        plain = content & ~b.close;
        stop = b.high | (b.nl & ~((content << STEP) | prev_content))
             | (b.term & ~(plain >> STEP) & ~(b.close >> STEP & plain >> (2 * STEP)));
        if (!stop && content && c->sent_open && !c->blank_line) {
            /* The common case, in short (the loop below does it all). */
            last = i + mask_last(content) + 1;
            lc = content > b.nl; /* as below, content being != 0 */
            words += mask_count(b.word & ~((b.word << STEP) | joined));
            joined = b.word >> (STEP * (BLOCK - 1)) & LOW;
            prev_content = content >> (STEP * (BLOCK - 1)) & LOW;
            i += BLOCK;
            continue;
        }
        for (;;) { /* over the stops of the block; todo: the bytes after the last */
            bmask first = stop & todo, below, w, cb;
            size_t j, q;

            first &= 0 - first;
            below = (first - 1) & todo; /* to take before the stop */
            cb = content & below;
            w = b.word & below;
            if (cb) {
                if (c->blank_line) {
                    start_content(sp, c, i + mask_first(cb), last, words);
                    words = 0;
                    if (sp->rc)
                        goto out;
                } else if (!c->sent_open) {
                    open_sentence(c, i + mask_first(cb));
                    words = 0;
                }
                last = i + mask_last(cb) + 1;
            }
            /* Content after the last '\n', or no '\n' and content before:
             * masks compare as the places of their highest bits. */
            lc = (cb > (b.nl & below)) | (lc & !(b.nl & below));
            words += mask_count(w & ~((b.word << STEP) | joined));
            if (!first)
                break;
            j = mask_first(first);
            if (first & b.nl) {
                if (!lc)
                    c->blank_line = 1;
                lc = 0;
                todo = 0 - (first << STEP);
                continue;
            }
            if (first & b.term) {
                if (first & b.ws >> STEP) {
                    q = 1;
                } else if (first & b.close >> STEP & b.ws >> (2 * STEP)) {
                    q = 2;
                } else if (j) {
                    /* Undecided: look again from a block starting at it. */
                    joined = b.word >> (STEP * (j - 1)) & LOW;
                    prev_content = content >> (STEP * (j - 1)) & LOW;
                    i += j;
                    goto next_block;
                } else {
                    goto leave;
                }
                /* The sentence ends after it (and the closer). */
                if (c->blank_line || !c->sent_open) {
                    start_content(sp, c, i + j, last, words);
                    words = 0;
                }
                last = i + j + q;
                lc = 1;
                close_sentence(sp, c->sent_start, last, words);
                c->sent_open = 0;
                if (sp->rc) {
                    i = last;
                    goto out;
                }
                todo = 0 - (first << (STEP * q));
                continue;
            }
        leave:
            if (j)
                joined = b.word >> (STEP * (j - 1)) & LOW;
            i += j;
            goto out;
        }
        joined = b.word >> (STEP * (BLOCK - 1)) & LOW;
        prev_content = content >> (STEP * (BLOCK - 1)) & LOW;
        i += BLOCK;
    next_block:;
    }
out:
    c->sent_words = words;
    c->line_content = lc;
    c->last = last;
    if (i != i0) {
        /* The last byte taken is ASCII: a word's, which clears after_cjk,
         * or not, and then after_cjk is not read before it is set again. */
        c->in_word = joined != 0;
        c->after_cjk = 0;
    }
    return i;
}
#endif

int cpq_passage_split(const char *text, size_t len, uint32_t max_words, cpq_spans *out)
{
    const unsigned char *s = (const unsigned char *)text;
    splitter sp;
    scan c;
    sent sv_local[32];
    size_t n0 = out->n;
    size_t i = 0;

    memset(&sp, 0, sizeof sp);
    sp.s = s;
    sp.max = max_words ? max_words : 1; /* 0 is out of contract; take it as 1 */
    sp.out = out;
    sp.sv = sp.sv_local = sv_local;
    sp.scap = sizeof sv_local / sizeof sv_local[0];
    memset(&c, 0, sizeof c);

    while (i < len) {
#ifdef ASCII_RUN
        if (s[i] < 0x80 && len >= BLOCK) {
            i = ascii_run(&sp, &c, s, i, len);
            if (sp.rc || i >= len)
                break;
        }
#endif
        int k = byte_class[s[i]];
        size_t n = 1;

        if (k == K_SPACE) {
            c.in_word = 0;
            do
                i++;
            while (i < len && byte_class[s[i]] == K_SPACE);
            continue;
        }
        if (k == K_NL) {
            if (!c.line_content)
                c.blank_line = 1;
            c.line_content = 0;
            c.in_word = 0;
            i++;
            continue;
        }
        if (k == K_MB) {
            int32_t cp;
            n = decode_mb(s + i, len - i, &cp);
            k = cp < 0 ? K_OTHER : class_of_cp(cp);
            if (k == K_SPACE) {
                c.in_word = 0;
                i += n;
                continue;
            }
        }

        /* Content: first see which paragraph and sentence it belongs to
         * (no open sentence means no open paragraph, or one just ended). */
        c.line_content = 1;
        if (c.blank_line || !c.sent_open) {
            start_content(&sp, &c, i, c.last, c.sent_words);
            if (sp.rc)
                break;
        }

        if (k == K_WORD && n == 1) {
            /* ASCII word: take the whole run at once. */
            c.sent_words += (uint64_t)word_step(K_WORD, &c.in_word, &c.after_cjk);
            i++;
            while (i < len && byte_class[s[i]] == K_WORD)
                i++;
            c.last = i;
            continue;
        }
        if (k == K_OTHER) {
            c.in_word = 0;
            c.last = i += n;
            continue;
        }
        if (k == K_TERM || k == K_CJKTERM) {
            c.in_word = 0;
            size_t q = skip_closers(s, len, i + n);
            size_t qn;
            int next = q < len ? class_at(s + q, len - q, &qn) : K_SPACE;
            if (k == K_CJKTERM || next == K_SPACE || next == K_NL) {
                close_sentence(&sp, c.sent_start, q, c.sent_words);
                if (sp.rc)
                    break;
                c.sent_open = 0;
                c.last = i = q;
                continue;
            }
            c.last = i += n;
            continue;
        }
        c.sent_words += (uint64_t)word_step(k, &c.in_word, &c.after_cjk);
        c.last = i += n;
    }
    if (!sp.rc && c.para_open) {
        if (c.sent_open)
            close_sentence(&sp, c.sent_start, c.last, c.sent_words);
        end_paragraph(&sp, c.para_start, c.last);
    }
    if (sp.have)
        push_span(&sp, sp.cur_start, sp.cur_end);
    if (sp.sv != sp.sv_local)
        free(sp.sv);
    if (sp.rc) {
        out->n = n0;
        return -1;
    }
    return 0;
}

void cpq_spans_free(cpq_spans *s)
{
    if (!s)
        return;
    free(s->v);
    s->v = NULL;
    s->n = s->cap = 0;
}
