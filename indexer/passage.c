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
 * Bytes that are not valid UTF-8 are taken as maximal invalid subparts (as
 * cpq_utf8_repair does) and count as punctuation: content, but no word.
 * Every unit starts at a code point that is not whitespace and ends after
 * one, so passages are trimmed and never split a sequence.
 */
#include "passage.h"

#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

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
            size_t nc = sp->scap ? sp->scap * 2 : 32;
            sent *nv = nc <= SIZE_MAX / sizeof *nv ? realloc(sp->sv, nc * sizeof *nv) : NULL;
            if (!nv) {
                sp->rc = -1;
                return;
            }
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

/* Content at byte i with no sentence open (and no blank line pending):
 * it starts a sentence, and a paragraph if none is open. */
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

/* Eight bytes at a time: on little-endian GCC/clang targets, the plain
 * ASCII stretches of the text (spaces, words, punctuation, line breaks that
 * end a line with content) are taken a machine word at a time, counting
 * word starts with bit masks instead of branching at every word and space.
 * Measured at max 200 words, -O2: gcide texts 185 -> 620 MB/s, linux-doc
 * files 197 -> 760 MB/s.  Elsewhere, or with CPQ_PASSAGE_NO_SWAR defined (so
 * the byte loop can be tested here too), the byte loop below does the same
 * work one code point at a time, with the same result. */
#if defined(__GNUC__) && defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ \
    && !defined(CPQ_PASSAGE_NO_SWAR)
#define SWAR 1
#define ONES UINT64_C(0x0101010101010101)
#define HIGHS UINT64_C(0x8080808080808080)

/* Bit 7 of each byte is set where lo < byte < hi (lo, hi <= 128); bytes
 * >= 0x80 never match.  Exact per byte: no carry crosses a byte. */
static inline uint64_t swar_between(uint64_t x, unsigned lo, unsigned hi)
{
    uint64_t low7 = x & (ONES * 127);

    return (ONES * (127 + hi) - low7) & ~x & (low7 + ONES * (127 - lo)) & HIGHS;
}

static inline uint64_t swar_eq(uint64_t x, unsigned c)
{
    return swar_between(x, c - 1, c + 1);
}

/* The classes of the eight bytes of x, as bit 7 of each byte. */
typedef struct chunk {
    uint64_t nl;      /* '\n' */
    uint64_t space;   /* K_SPACE */
    uint64_t word;    /* K_WORD */
    uint64_t stop;    /* what plain_run leaves to the byte loop */
    uint64_t nl_run;  /* the nearest byte before that is not a space is a
                       * '\n', or there is none and the line had no content */
} chunk;

static inline chunk classify(uint64_t x, int line_content)
{
    chunk k;
    uint64_t d;

    k.nl = swar_eq(x, '\n');
    k.space = (swar_between(x, '\b', '\r' + 1) ^ k.nl) | swar_eq(x, ' ');
    k.word = swar_between(x | (ONES * 0x20), 'a' - 1, 'z' + 1) | swar_between(x, '0' - 1, '9' + 1);
    /* nl_run: carry "is a '\n'" across runs of spaces, doubling the reach. */
    k.nl_run = (k.nl << 8) | (line_content ? 0 : 0x80);
    d = ((~k.space & HIGHS) << 8) | 0x80;
    k.nl_run |= (k.nl_run << 8) & ~d;
    d |= d << 8;
    k.nl_run |= (k.nl_run << 16) & ~d;
    d |= d << 16;
    k.nl_run |= (k.nl_run << 32) & ~d;
    /* Stops: non-ASCII bytes, terminators that may end a sentence (a letter
     * or digit right after one means they do not; anything else is left to
     * skip_closers), and line breaks that make a blank line. */
    k.stop = (x & HIGHS)
           | ((swar_eq(x, '.') | swar_eq(x, '!') | swar_eq(x, '?')) & ~(k.word >> 8))
           | (k.nl & k.nl_run);
    return k;
}

/* Apply the bytes marked in below (the first few of the chunk at i, none of
 * them a stop) to the state: words counted in *words, *joined (bit 7) set
 * when the last of them is a word byte. */
static inline void take(scan *c, const chunk *k, uint64_t below, size_t i,
                        uint64_t *words, uint64_t *joined, uint64_t *any_word)
{
    uint64_t content = below & ~k->space & ~k->nl, word = k->word & below;

    if (content) {
        if (!c->sent_open) {
            open_sentence(c, i + (size_t)(__builtin_ctzll(content) >> 3));
            *words = 0;
        }
        c->last = i + (size_t)((71 - __builtin_clzll(content)) >> 3);
    }
    *words += (((word & ~((word << 8) | *joined)) >> 7) * ONES) >> 56;
    *any_word |= word;
    *joined = (word & ~(below >> 8)) ? 0x80 : 0;
}

/* Take the plain ASCII text from s[i] on, eight bytes at a time, up to the
 * first stop (see classify).  Requires !c->blank_line, which holds after.
 * Returns the new i: at a stop, or with fewer than 8 bytes left. */
__attribute__((noinline)) static size_t plain_run(scan *c, const unsigned char *s, size_t i, size_t len)
{
    uint64_t words = c->sent_words, any_word = 0, x;
    uint64_t joined = (uint64_t)(c->in_word && !c->after_cjk) << 7;
    int line_content = c->line_content;
    size_t i0 = i;
    chunk k;

    for (;;) {
        if (len - i < 8)
            goto done;
        memcpy(&x, s + i, 8);
        k = classify(x, line_content);
        if (k.stop)
            break;
        take(c, &k, HIGHS, i, &words, &joined, &any_word);
        /* The last byte has content, or is a space after content. */
        line_content = (int)(((~k.nl & ~k.space) | (k.space & ~k.nl_run)) >> 63);
        i += 8;
    }
    {
        uint64_t first = k.stop & (0 - k.stop), below = (first - 1) & HIGHS;

        if (below) {
            take(c, &k, below, i, &words, &joined, &any_word);
            i += (size_t)(__builtin_ctzll(first) >> 3);
        }
        line_content = !(k.nl_run & first);
    }
done:
    c->sent_words = words;
    c->line_content = line_content;
    if (i != i0) {
        c->in_word = joined != 0;
        if (any_word)
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
    size_t n0 = out->n;
    size_t i = 0;

    memset(&sp, 0, sizeof sp);
    sp.s = s;
    sp.max = max_words ? max_words : 1; /* 0 is out of contract; take it as 1 */
    sp.out = out;
    memset(&c, 0, sizeof c);

    while (i < len) {
#ifdef SWAR
        if (!c.blank_line && len - i >= 8) {
            i = plain_run(&c, s, i, len);
            if (i >= len)
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
            if (c.blank_line && c.para_open) {
                if (c.sent_open)
                    close_sentence(&sp, c.sent_start, c.last, c.sent_words);
                end_paragraph(&sp, c.para_start, c.last);
                c.para_open = c.sent_open = 0;
                if (sp.rc)
                    break;
            }
            c.blank_line = 0;
            if (!c.sent_open)
                open_sentence(&c, i);
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
