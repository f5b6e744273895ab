/*
 * input.c - feeding files, directory trees, JSON Lines and standard input
 * to a builder (see cpq_input_add in cpqindex.h).
 *
 * JSON Lines files are streamed a chunk at a time, so a file larger than
 * memory is fine; one line may hold at most CPQ_LINE_MAX bytes.  A text file
 * is one document and is read whole (documents are limited to 4 GiB).
 * Directory trees are walked depth-first in byte order of names, hidden
 * entries (".name") skipped, symbolic links not followed, at most
 * CPQ_WALK_DEPTH levels deep.
 */
#include "cpqindex.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "jsonl.h"

#define CPQ_LINE_MAX ((size_t)256 << 20)
#define CPQ_WALK_DEPTH 64
#define CHUNK ((size_t)1 << 20)

typedef struct feeder {
    cpq_builder *b;
    int skip_bad;
    cpq_input_stats *st;
    cpq_errinfo *e;
    char *fix;               /* UTF-8 repair buffer */
    size_t fixcap;
    cpq_jsonl_rec rec;
    char *doc;               /* title + "\n\n" + text */
    size_t doccap;
} feeder;

static int grow(char **p, size_t *cap, size_t need)
{
    if (need <= *cap) return 0;
    size_t nc = *cap ? *cap : 4096;
    while (nc < need) {
        if (nc > SIZE_MAX / 2) return -1;
        nc *= 2;
    }
    char *np = realloc(*p, nc);
    if (!np) return -1;
    *p = np;
    *cap = nc;
    return 0;
}

/* Add a document, repairing invalid UTF-8 first. */
static int add_doc(feeder *f, const char *id, size_t idlen, const char *text, size_t len, const char *where)
{
    if (!cpq_utf8_valid(text, len)) {
        size_t nbad = 0;
        if (len > SIZE_MAX / 3 || grow(&f->fix, &f->fixcap, len * 3 + 1))
            return cpq_err_set(f->e, CPQ_ENOMEM, "%s: out of memory repairing UTF-8", where);
        len = cpq_utf8_repair(text, len, f->fix, &nbad);
        text = f->fix;
        f->st->repaired += nbad;
    }
    int rc = cpq_builder_add(f->b, id, idlen, text, len, f->e);
    if (rc) {
        if (f->e) {
            char m[CPQ_ERRMSG_MAX];
            snprintf(m, sizeof m, "%.200s: %.300s", where, f->e->msg);
            memcpy(f->e->msg, m, sizeof m);
        }
        return rc;
    }
    f->st->docs++;
    f->st->bytes += len;
    return CPQ_OK;
}

static int jsonl_line(feeder *f, const char *line, size_t len, const char *path, uint64_t lineno)
{
    char err[256], where[4200];
    /* Blank lines are allowed between records. */
    size_t i = 0;
    while (i < len && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r')) i++;
    if (i == len) return CPQ_OK;
    int r = cpq_jsonl_parse(line, len, &f->rec, err, sizeof err);
    if (r == -2) return cpq_err_set(f->e, CPQ_ENOMEM, "%s:%llu: out of memory", path, (unsigned long long)lineno);
    if (r == 0 && f->rec.id.len == 0) {
        r = -1;
        snprintf(err, sizeof err, "empty \"_id\"");
    }
    if (r) {
        if (f->skip_bad) {
            f->st->skipped_bad++;
            return CPQ_OK;
        }
        return cpq_err_set(f->e, CPQ_EPARSE, "%s:%llu: %s", path, (unsigned long long)lineno, err);
    }
    f->st->repaired += f->rec.repairs;
    const char *text = f->rec.text.p ? f->rec.text.p : "";
    size_t tlen = f->rec.text.len;
    if (f->rec.title.len) {
        size_t need = f->rec.title.len + 2 + tlen;
        if (grow(&f->doc, &f->doccap, need + 1))
            return cpq_err_set(f->e, CPQ_ENOMEM, "%s:%llu: out of memory", path, (unsigned long long)lineno);
        memcpy(f->doc, f->rec.title.p, f->rec.title.len);
        memcpy(f->doc + f->rec.title.len, "\n\n", 2);
        memcpy(f->doc + f->rec.title.len + 2, text, tlen);
        text = f->doc;
        tlen = need;
    }
    snprintf(where, sizeof where, "%s:%llu", path, (unsigned long long)lineno);
    return add_doc(f, f->rec.id.p, f->rec.id.len, text, tlen, where);
}

static int read_jsonl(feeder *f, int fd, const char *path)
{
    char *buf = NULL;
    size_t cap = 0, len = 0, start = 0;
    uint64_t lineno = 0;
    int rc = CPQ_OK, eof = 0;
    while (!eof) {
        /* Compact, then read more. */
        if (start) {
            memmove(buf, buf + start, len - start);
            len -= start;
            start = 0;
        }
        if (len + CHUNK > cap && grow(&buf, &cap, len + CHUNK)) {
            rc = cpq_err_set(f->e, CPQ_ENOMEM, "%s: out of memory", path);
            break;
        }
        ssize_t r = read(fd, buf + len, cap - len);
        if (r < 0) {
            if (errno == EINTR) continue;
            rc = cpq_err_set(f->e, CPQ_EIO, "%s: read error: %s", path, strerror(errno));
            break;
        }
        if (r == 0) eof = 1;
        len += (size_t)r;
        for (;;) {
            char *nl = memchr(buf + start, '\n', len - start);
            if (!nl && !(eof && start < len)) break;
            size_t end = nl ? (size_t)(nl - buf) : len;
            lineno++;
            if ((rc = jsonl_line(f, buf + start, end - start, path, lineno))) goto done;
            start = nl ? end + 1 : len;
        }
        if (len - start > CPQ_LINE_MAX) {
            rc = cpq_err_set(f->e, CPQ_ELIMIT, "%s:%llu: line longer than %zu MiB", path,
                             (unsigned long long)lineno + 1, CPQ_LINE_MAX >> 20);
            break;
        }
    }
done:
    free(buf);
    return rc;
}

static int read_text(feeder *f, int fd, const char *path, const char *id)
{
    char *buf = NULL;
    size_t cap = 0, len = 0;
    int rc = CPQ_OK;
    /* Size the buffer from fstat so a regular file is read without
     * reallocation; pipes and files that grow meanwhile still work. */
    struct stat st;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0 && (uint64_t)st.st_size < UINT32_MAX)
        if (grow(&buf, &cap, (size_t)st.st_size + 1)) {
            rc = cpq_err_set(f->e, CPQ_ENOMEM, "%s: out of memory", path);
            goto done;
        }
    for (;;) {
        if (len == cap && grow(&buf, &cap, len + CHUNK)) {
            rc = cpq_err_set(f->e, CPQ_ENOMEM, "%s: out of memory", path);
            goto done;
        }
        ssize_t r = read(fd, buf + len, cap - len);
        if (r < 0) {
            if (errno == EINTR) continue;
            rc = cpq_err_set(f->e, CPQ_EIO, "%s: read error: %s", path, strerror(errno));
            goto done;
        }
        if (r == 0) break;
        len += (size_t)r;
        if (len >= UINT32_MAX) {
            rc = cpq_err_set(f->e, CPQ_ELIMIT, "%s: larger than the 4 GiB document limit", path);
            goto done;
        }
    }
    rc = add_doc(f, id, strlen(id), buf ? buf : "", len, path);
done:
    free(buf);
    return rc;
}

static int has_ext(const char *path, const char *ext)
{
    size_t n = strlen(path), k = strlen(ext);
    return n > k && !strcmp(path + n - k, ext);
}

static int add_file(feeder *f, const char *path, int format)
{
    int fd = strcmp(path, "-") ? open(path, O_RDONLY | O_CLOEXEC) : 0;
    if (fd < 0) return cpq_err_set(f->e, CPQ_EIO, "cannot open %s: %s", path, strerror(errno));
    int rc;
    if (format == CPQ_FMT_AUTO)
        format = has_ext(path, ".jsonl") || has_ext(path, ".ndjson") ? CPQ_FMT_JSONL : CPQ_FMT_TEXT;
    f->st->files++;
    const char *name = fd == 0 ? "<stdin>" : path;
    if (format == CPQ_FMT_JSONL) rc = read_jsonl(f, fd, name);
    else rc = read_text(f, fd, name, fd == 0 ? "stdin" : path);
    if (fd) close(fd);
    return rc;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int walk(feeder *f, const char *dir, int format, int depth)
{
    if (depth > CPQ_WALK_DEPTH)
        return cpq_err_set(f->e, CPQ_ELIMIT, "%s: directories nested deeper than %d", dir, CPQ_WALK_DEPTH);
    DIR *d = opendir(dir);
    if (!d) return cpq_err_set(f->e, CPQ_EIO, "cannot open directory %s: %s", dir, strerror(errno));
    char **names = NULL;
    size_t n = 0, cap = 0;
    int rc = CPQ_OK;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.') continue;
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 64;
            char **nn = realloc(names, nc * sizeof *nn);
            if (!nn) { rc = cpq_err_set(f->e, CPQ_ENOMEM, "out of memory"); goto done; }
            names = nn;
            cap = nc;
        }
        if (!(names[n] = strdup(de->d_name))) { rc = cpq_err_set(f->e, CPQ_ENOMEM, "out of memory"); goto done; }
        n++;
    }
    if (n > 1) qsort(names, n, sizeof *names, cmp_str);
    for (size_t i = 0; i < n && !rc; i++) {
        size_t pl = strlen(dir) + strlen(names[i]) + 2;
        char *p = malloc(pl);
        if (!p) { rc = cpq_err_set(f->e, CPQ_ENOMEM, "out of memory"); break; }
        snprintf(p, pl, "%s%s%s", dir, dir[strlen(dir) - 1] == '/' ? "" : "/", names[i]);
        struct stat st;
        if (lstat(p, &st)) rc = cpq_err_set(f->e, CPQ_EIO, "cannot stat %s: %s", p, strerror(errno));
        else if (S_ISDIR(st.st_mode)) rc = walk(f, p, format, depth + 1);
        else if (S_ISREG(st.st_mode)) rc = add_file(f, p, format);
        else f->st->skipped_files++;
        free(p);
    }
done:
    for (size_t i = 0; i < n; i++) free(names[i]);
    free(names);
    closedir(d);
    return rc;
}

int cpq_input_add(cpq_builder *b, const char *path, int format, int skip_bad, cpq_input_stats *st, cpq_errinfo *e)
{
    cpq_input_stats dummy;
    feeder f;
    memset(&f, 0, sizeof f);
    f.b = b;
    f.skip_bad = skip_bad;
    f.st = st ? st : (memset(&dummy, 0, sizeof dummy), &dummy);
    f.e = e;
    int rc;
    if (format < CPQ_FMT_AUTO || format > CPQ_FMT_JSONL) return cpq_err_set(e, CPQ_EINVAL, "unknown input format %d", format);
    if (!strcmp(path, "-")) {
        rc = add_file(&f, path, format);
    } else {
        struct stat s;
        if (stat(path, &s)) rc = cpq_err_set(e, CPQ_EIO, "cannot read %s: %s", path, strerror(errno));
        else if (S_ISDIR(s.st_mode)) rc = walk(&f, path, format, 0);
        else rc = add_file(&f, path, format);
    }
    free(f.fix);
    free(f.doc);
    cpq_jsonl_rec_free(&f.rec);
    return rc;
}
