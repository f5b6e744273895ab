/*
 * benchinput.c - JSON Lines and directory-tree reader for the benchmark peers.
 * The contract is in benchinput.h.
 *
 * Known weak spot: a directory tree is listed in full at open (one string
 * per file), which is fine for documentation trees and would not be for
 * millions of files.
 */
#include "benchinput.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define ERRCAP 512
#define READ_CHUNK ((size_t)1 << 20)

typedef struct buf {
    char *p;
    size_t len, cap;
} buf;

struct bench_input {
    char path[4096];
    int is_dir;
    char err[ERRCAP];

    /* JSON Lines: rb[start..end) holds read-ahead bytes. */
    int fd;
    char *rb;
    size_t rbcap, start, end;
    int eof;
    unsigned long lineno;

    /* Directory: sorted relative paths. */
    char **files;
    size_t nfiles, nfilecap, next;

    buf id, title, body, out, key;
};

static void seterr(bench_input *in, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

static void seterr(bench_input *in, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(in->err, sizeof in->err, fmt, ap);
    va_end(ap);
}

/* Make room for n more bytes plus a NUL.  Returns 0, or -1 on overflow or
 * allocation failure. */
static int buf_reserve(buf *b, size_t n)
{
    if (n > SIZE_MAX / 2 - b->len)
        return -1;
    if (b->len + n + 1 <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + n + 1)
        cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p)
        return -1;
    b->p = p;
    b->cap = cap;
    return 0;
}

static int buf_append(buf *b, const char *s, size_t n)
{
    if (buf_reserve(b, n) < 0)
        return -1;
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
    return 0;
}

static void buf_clear(buf *b)
{
    b->len = 0;
    if (b->p)
        b->p[0] = '\0';
}

static void buf_free(buf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

/* ---- JSON ------------------------------------------------------------- */

/* Parsing state of one line; a failure records its column in in->err. */
typedef struct jp {
    const char *s, *p, *e;
    bench_input *in;
} jp;

static int jfail(jp *j, const char *what)
{
    seterr(j->in, "%s:%lu: column %zu: %s", j->in->path, j->in->lineno,
           (size_t)(j->p - j->s) + 1, what);
    return -1;
}

static void jws(jp *j)
{
    while (j->p < j->e && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
        j->p++;
}

static int hex4(const char *p, unsigned *v)
{
    unsigned x = 0;
    for (int i = 0; i < 4; i++) {
        unsigned c = (unsigned char)p[i], d;
        if (c >= '0' && c <= '9')
            d = c - '0';
        else if (c >= 'a' && c <= 'f')
            d = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            d = c - 'A' + 10;
        else
            return -1;
        x = x << 4 | d;
    }
    *v = x;
    return 0;
}

static int put_utf8(buf *b, unsigned cp)
{
    char u[4];
    size_t n;
    if (cp < 0x80) {
        u[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        u[0] = (char)(0xC0 | cp >> 6);
        u[1] = (char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        u[0] = (char)(0xE0 | cp >> 12);
        u[1] = (char)(0x80 | (cp >> 6 & 0x3F));
        u[2] = (char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        u[0] = (char)(0xF0 | cp >> 18);
        u[1] = (char)(0x80 | (cp >> 12 & 0x3F));
        u[2] = (char)(0x80 | (cp >> 6 & 0x3F));
        u[3] = (char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    return buf_append(b, u, n);
}

/* Parse the string at j->p (which is at the opening quote) into *out, or
 * only skip it when out is NULL. */
static int jstring(jp *j, buf *out)
{
    j->p++;
    for (;;) {
        const char *run = j->p;
        while (j->p < j->e && *j->p != '"' && *j->p != '\\' && (unsigned char)*j->p >= 0x20)
            j->p++;
        if (out && buf_append(out, run, (size_t)(j->p - run)) < 0)
            return jfail(j, "out of memory");
        if (j->p >= j->e)
            return jfail(j, "unterminated string");
        char c = *j->p;
        if (c == '"') {
            j->p++;
            return 0;
        }
        if (c != '\\')
            return jfail(j, "raw control character in string");
        if (j->p + 1 >= j->e)
            return jfail(j, "unterminated escape");
        char x = j->p[1], lit;
        j->p += 2;
        switch (x) {
        case '"': lit = '"'; break;
        case '\\': lit = '\\'; break;
        case '/': lit = '/'; break;
        case 'b': lit = '\b'; break;
        case 'f': lit = '\f'; break;
        case 'n': lit = '\n'; break;
        case 'r': lit = '\r'; break;
        case 't': lit = '\t'; break;
        case 'u': {
            unsigned cp, lo;
            if (j->e - j->p < 4 || hex4(j->p, &cp) < 0)
                return jfail(j, "bad \\u escape");
            j->p += 4;
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                if (j->e - j->p >= 6 && j->p[0] == '\\' && j->p[1] == 'u'
                    && hex4(j->p + 2, &lo) == 0 && lo >= 0xDC00 && lo <= 0xDFFF) {
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                    j->p += 6;
                } else {
                    cp = 0xFFFD;  /* lone high surrogate */
                }
            } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                cp = 0xFFFD;      /* lone low surrogate */
            }
            if (out && put_utf8(out, cp) < 0)
                return jfail(j, "out of memory");
            continue;
        }
        default:
            j->p -= 2;
            return jfail(j, "bad escape");
        }
        if (out && buf_append(out, &lit, 1) < 0)
            return jfail(j, "out of memory");
    }
}

/* A number or true/false/null: the run of bytes up to a delimiter. */
static int jscalar(jp *j, buf *out)
{
    const char *s = j->p;
    while (j->p < j->e && *j->p != ',' && *j->p != '}' && *j->p != ']' && *j->p != ' '
           && *j->p != '\t' && *j->p != '\r' && *j->p != '\n')
        j->p++;
    if (j->p == s)
        return jfail(j, "expected a value");
    if (out && buf_append(out, s, (size_t)(j->p - s)) < 0)
        return jfail(j, "out of memory");
    return 0;
}

/* Skip any value, nested at most BENCH_INPUT_MAX_DEPTH deep, without
 * recursion: only brackets need counting once strings are skipped. */
static int jskip(jp *j)
{
    int depth = 0;
    do {
        jws(j);
        if (j->p >= j->e)
            return jfail(j, "unexpected end of line");
        char c = *j->p;
        if (c == '"') {
            if (jstring(j, NULL) < 0)
                return -1;
        } else if (c == '{' || c == '[') {
            if (++depth > BENCH_INPUT_MAX_DEPTH)
                return jfail(j, "nested too deep");
            j->p++;
        } else if (c == '}' || c == ']') {
            if (depth == 0)
                return jfail(j, "unexpected bracket");
            depth--;
            j->p++;
        } else if (c == ',' || c == ':') {
            if (depth == 0)
                return jfail(j, "expected a value");
            j->p++;
        } else if (jscalar(j, NULL) < 0) {
            return -1;
        }
    } while (depth > 0);
    return 0;
}

/* Parse one BEIR record into in->id, in->title, in->body. */
static int parse_record(bench_input *in, const char *line, size_t len)
{
    jp j = { line, line, line + len, in };
    int have_id = 0;
    buf_clear(&in->id);
    buf_clear(&in->title);
    buf_clear(&in->body);

    jws(&j);
    if (j.p >= j.e || *j.p != '{')
        return jfail(&j, "expected '{'");
    j.p++;
    jws(&j);
    if (j.p < j.e && *j.p == '}') {
        j.p++;
    } else {
        for (;;) {
            jws(&j);
            if (j.p >= j.e || *j.p != '"')
                return jfail(&j, "expected a member name");
            buf_clear(&in->key);
            if (jstring(&j, &in->key) < 0)
                return -1;
            jws(&j);
            if (j.p >= j.e || *j.p != ':')
                return jfail(&j, "expected ':' after member name");
            j.p++;
            jws(&j);
            if (j.p >= j.e)
                return jfail(&j, "expected a value");
            const char *k = in->key.p;
            int is_str = *j.p == '"';
            if (strcmp(k, "_id") == 0) {
                buf_clear(&in->id);
                if (*j.p == '{' || *j.p == '[')
                    return jfail(&j, "\"_id\" must be a string or a number");
                if ((is_str ? jstring(&j, &in->id) : jscalar(&j, &in->id)) < 0)
                    return -1;
                have_id = 1;
            } else if (strcmp(k, "title") == 0 || strcmp(k, "text") == 0) {
                if (!is_str)
                    return jfail(&j, "\"title\" and \"text\" must be strings");
                buf *b = k[1] == 'i' ? &in->title : &in->body;
                buf_clear(b);
                if (jstring(&j, b) < 0)
                    return -1;
            } else if (jskip(&j) < 0) {
                return -1;
            }
            jws(&j);
            if (j.p < j.e && *j.p == ',') {
                j.p++;
                continue;
            }
            if (j.p < j.e && *j.p == '}') {
                j.p++;
                break;
            }
            return jfail(&j, "expected ',' or '}'");
        }
    }
    jws(&j);
    if (j.p != j.e)
        return jfail(&j, "trailing bytes after the object");
    if (!have_id)
        return jfail(&j, "missing \"_id\"");
    return 0;
}

/* Point *line at the next line of the file (without its "\n"), inside
 * in->rb.  Returns 1, 0 at end of file, -1 on error. */
static int next_line(bench_input *in, const char **line, size_t *len)
{
    for (;;) {
        char *nl = memchr(in->rb + in->start, '\n', in->end - in->start);
        if (nl || (in->eof && in->end > in->start)) {
            size_t n = nl ? (size_t)(nl - (in->rb + in->start)) : in->end - in->start;
            *line = in->rb + in->start;
            *len = n;
            in->start += n + (nl != NULL);
            in->lineno++;
            return 1;
        }
        if (in->eof)
            return 0;
        if (in->end - in->start > BENCH_INPUT_MAX_LINE) {
            seterr(in, "%s:%lu: line longer than %zu bytes", in->path, in->lineno + 1,
                   BENCH_INPUT_MAX_LINE);
            return -1;
        }
        /* Slide the partial line to the front, grow if it fills the buffer. */
        memmove(in->rb, in->rb + in->start, in->end - in->start);
        in->end -= in->start;
        in->start = 0;
        if (in->rbcap - in->end < READ_CHUNK) {
            size_t cap = in->rbcap * 2;
            char *p = realloc(in->rb, cap);
            if (!p) {
                seterr(in, "%s: out of memory", in->path);
                return -1;
            }
            in->rb = p;
            in->rbcap = cap;
        }
        ssize_t r = read(in->fd, in->rb + in->end, in->rbcap - in->end);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            seterr(in, "%s: read: %s", in->path, strerror(errno));
            return -1;
        }
        if (r == 0)
            in->eof = 1;
        in->end += (size_t)r;
    }
}

static int next_jsonl(bench_input *in)
{
    const char *line;
    size_t len;
    for (;;) {
        int r = next_line(in, &line, &len);
        if (r <= 0)
            return r;
        size_t i = 0;
        while (i < len && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r'))
            i++;
        if (i < len)
            break;  /* not a blank line */
    }
    if (parse_record(in, line, len) < 0)
        return -1;
    buf_clear(&in->out);
    if (in->title.len) {
        if (buf_append(&in->out, in->title.p ? in->title.p : "", in->title.len) < 0
            || buf_append(&in->out, "\n\n", 2) < 0)
            goto nomem;
    }
    if (buf_append(&in->out, in->body.p ? in->body.p : "", in->body.len) < 0)
        goto nomem;
    if (buf_reserve(&in->id, 0) < 0)
        goto nomem;
    in->id.p[in->id.len] = '\0';
    return 1;
nomem:
    seterr(in, "%s:%lu: out of memory", in->path, in->lineno);
    return -1;
}

/* ---- directory trees ------------------------------------------------- */

static int add_file(bench_input *in, const char *rel)
{
    if (in->nfiles == in->nfilecap) {
        size_t cap = in->nfilecap ? in->nfilecap * 2 : 1024;
        char **f = realloc(in->files, cap * sizeof *f);
        if (!f)
            return -1;
        in->files = f;
        in->nfilecap = cap;
    }
    char *s = strdup(rel);
    if (!s)
        return -1;
    in->files[in->nfiles++] = s;
    return 0;
}

/* List the regular files under in->path + "/" + rel (rel "" is the root). */
static int walk(bench_input *in, const char *rel, int depth)
{
    char full[8192];
    if (depth > BENCH_INPUT_MAX_DEPTH) {
        seterr(in, "%s/%s: directories nested too deep", in->path, rel);
        return -1;
    }
    snprintf(full, sizeof full, "%s/%s", in->path, rel);
    DIR *d = opendir(full);
    if (!d) {
        seterr(in, "%s: %s", full, strerror(errno));
        return -1;
    }
    int rc = 0;
    struct dirent *de;
    while (rc == 0 && (de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        char sub[4096];
        int n = snprintf(sub, sizeof sub, "%s%s%s", rel, *rel ? "/" : "", de->d_name);
        if (n < 0 || (size_t)n >= sizeof sub) {
            seterr(in, "%s/%s/%s: path too long", in->path, rel, de->d_name);
            rc = -1;
            break;
        }
        snprintf(full, sizeof full, "%s/%s", in->path, sub);
        struct stat st;
        if (lstat(full, &st) < 0) {
            seterr(in, "%s: %s", full, strerror(errno));
            rc = -1;
        } else if (S_ISDIR(st.st_mode)) {
            rc = walk(in, sub, depth + 1);
        } else if (S_ISREG(st.st_mode) && add_file(in, sub) < 0) {
            seterr(in, "%s: out of memory", in->path);
            rc = -1;
        }
    }
    closedir(d);
    return rc;
}

static int cmp_path(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int next_file(bench_input *in)
{
    if (in->next >= in->nfiles)
        return 0;
    const char *rel = in->files[in->next++];
    char full[8192];
    snprintf(full, sizeof full, "%s/%s", in->path, rel);
    buf_clear(&in->id);
    buf_clear(&in->out);
    if (buf_append(&in->id, rel, strlen(rel)) < 0 || buf_reserve(&in->out, 0) < 0) {
        seterr(in, "%s: out of memory", full);
        return -1;
    }
    int fd = open(full, O_RDONLY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0) {
        seterr(in, "%s: %s", full, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    if ((uintmax_t)st.st_size > BENCH_INPUT_MAX_FILE) {
        seterr(in, "%s: larger than %zu bytes", full, BENCH_INPUT_MAX_FILE);
        close(fd);
        return -1;
    }
    /* Read to end of file rather than trusting st_size: the file may change. */
    for (;;) {
        if (buf_reserve(&in->out, READ_CHUNK) < 0) {
            seterr(in, "%s: out of memory", full);
            close(fd);
            return -1;
        }
        ssize_t r = read(fd, in->out.p + in->out.len, READ_CHUNK);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            seterr(in, "%s: read: %s", full, strerror(errno));
            close(fd);
            return -1;
        }
        if (r == 0)
            break;
        in->out.len += (size_t)r;
        if (in->out.len > BENCH_INPUT_MAX_FILE) {
            seterr(in, "%s: larger than %zu bytes", full, BENCH_INPUT_MAX_FILE);
            close(fd);
            return -1;
        }
    }
    close(fd);
    in->out.p[in->out.len] = '\0';
    return 1;
}

/* ---- public ----------------------------------------------------------- */

bench_input *bench_input_open(const char *path, char *err, size_t errcap)
{
    bench_input *in = calloc(1, sizeof *in);
    struct stat st;
    if (!in) {
        snprintf(err, errcap, "out of memory");
        return NULL;
    }
    in->fd = -1;
    if (strlen(path) >= sizeof in->path) {
        snprintf(err, errcap, "%s: path too long", path);
        goto fail;
    }
    strcpy(in->path, path);
    if (stat(path, &st) < 0) {
        snprintf(err, errcap, "%s: %s", path, strerror(errno));
        goto fail;
    }
    if (S_ISDIR(st.st_mode)) {
        size_t n = strlen(in->path);
        while (n > 1 && in->path[n - 1] == '/')
            in->path[--n] = '\0';
        in->is_dir = 1;
        if (walk(in, "", 0) < 0) {
            snprintf(err, errcap, "%s", in->err);
            goto fail;
        }
        if (in->nfiles)
            qsort(in->files, in->nfiles, sizeof *in->files, cmp_path);
        return in;
    }
    in->fd = open(path, O_RDONLY);
    if (in->fd < 0) {
        snprintf(err, errcap, "%s: %s", path, strerror(errno));
        goto fail;
    }
    in->rbcap = 4 * READ_CHUNK;
    in->rb = malloc(in->rbcap);
    if (!in->rb) {
        snprintf(err, errcap, "out of memory");
        goto fail;
    }
    return in;
fail:
    bench_input_close(in);
    return NULL;
}

int bench_input_next(bench_input *in, const char **id, size_t *idlen,
                     const char **text, size_t *textlen)
{
    int r = in->is_dir ? next_file(in) : next_jsonl(in);
    if (r != 1)
        return r;
    *id = in->id.p;
    *idlen = in->id.len;
    *text = in->out.p;
    *textlen = in->out.len;
    return 1;
}

const char *bench_input_error(const bench_input *in)
{
    return in->err;
}

void bench_input_close(bench_input *in)
{
    if (!in)
        return;
    for (size_t i = 0; i < in->nfiles; i++)
        free(in->files[i]);
    free(in->files);
    if (in->fd >= 0)
        close(in->fd);
    free(in->rb);
    buf_free(&in->id);
    buf_free(&in->title);
    buf_free(&in->body);
    buf_free(&in->out);
    buf_free(&in->key);
    free(in);
}
