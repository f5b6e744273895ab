/*
 * test_cli.c - the cpq-index tool, driven as a user would: build, info and
 * verify, their exit statuses (0 ok, 1 failure, 2 usage), what they print,
 * and what they leave on disk.
 *
 * Every run spawns the built binary with stdout and stderr captured to
 * files in the test's temporary directory.  The binary is built with the
 * same sanitizers as the tests, and a sanitizer report exits 1 - the same
 * status as an ordinary failure - so every run also checks that stderr
 * holds no sanitizer report.
 */
#include <criterion/criterion.h>
#include <sys/resource.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cpqindex.h"
#include "jsonl.h"
#include "testutil.h"

extern char **environ;

#define TOOL CPQ_BUILD_ROOT "/indexer/cpq-index"
#define CORPUS CPQ_SOURCE_ROOT "/corpus"
#define MAXARGS 32

typedef struct run_result {
    int status;              /* exit status, or 128 + signal */
    char *out, *err;         /* captured stdout / stderr, NUL-terminated */
    size_t outlen, errlen;
} run_result;

/* Everything a test allocates is kept here and released by the suite's
 * fini, with the test's temporary directory, so that a failed assertion
 * (which leaves the test at once) leaks nothing and leaves no files. */
static void *arena[2048];
static int narena;
static char *testdir;

static void *keep(void *p)
{
    cr_assert_not_null(p);
    cr_assert_lt(narena, 2048);
    return arena[narena++] = p;
}

static void suite_init(void)
{
    testdir = tu_tempdir();
    cr_assert_not_null(testdir);
}

static void suite_fini(void)
{
    while (narena) free(arena[--narena]);
    tu_rmrf(testdir);
    free(testdir);
    testdir = NULL;
}

TestSuite(cli, .init = suite_init, .fini = suite_fini);

/* The buffers stay in the arena; this only marks the result as used up. */
static void run_free(run_result *r) { memset(r, 0, sizeof *r); }

/* Run the tool with args (NULL-terminated) and stdin_data on its standard
 * input (NULL: /dev/null), capturing its output in files under dir.  Fails
 * the test if the tool cannot be started, dies of a signal or a sanitizer
 * reports an error. */
static run_result run_tool_v(const char *dir, const char *stdin_data, const char *const *args)
{
    char *argv[MAXARGS + 2];
    int argc = 0;
    argv[argc++] = (char *)TOOL;
    for (; *args; args++) {
        cr_assert_lt(argc, MAXARGS);
        argv[argc++] = (char *)*args;
    }
    argv[argc] = NULL;

    char outp[4200], errp[4200];
    snprintf(outp, sizeof outp, "%s/stdout.txt", dir);
    snprintf(errp, sizeof errp, "%s/stderr.txt", dir);
    int pfd[2] = { -1, -1 };
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    if (stdin_data) {
        cr_assert_eq(pipe(pfd), 0);
        posix_spawn_file_actions_adddup2(&fa, pfd[0], 0);
        posix_spawn_file_actions_addclose(&fa, pfd[0]);
        posix_spawn_file_actions_addclose(&fa, pfd[1]);
    } else {
        posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    }
    posix_spawn_file_actions_addopen(&fa, 1, outp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&fa, 2, errp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    pid_t pid;
    int rc = posix_spawn(&pid, TOOL, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    cr_assert_eq(rc, 0, "cannot start %s: %s", TOOL, strerror(rc));
    if (stdin_data) {
        /* A tool that exits without reading its input must not kill us. */
        signal(SIGPIPE, SIG_IGN);
        close(pfd[0]);
        size_t n = strlen(stdin_data), done = 0;
        while (done < n) {
            ssize_t w = write(pfd[1], stdin_data + done, n - done);
            if (w < 0 && errno == EINTR) continue;
            if (w < 0 && errno == EPIPE) break;
            cr_assert_gt(w, 0, "writing the tool's stdin: %s", strerror(errno));
            done += (size_t)w;
        }
        close(pfd[1]);
    }
    int ws;
    while (waitpid(pid, &ws, 0) < 0) cr_assert_eq(errno, EINTR);
    run_result r = { 0 };
    r.status = WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
    r.out = keep(tu_read_file(outp, &r.outlen));
    r.err = keep(tu_read_file(errp, &r.errlen));
    cr_assert(r.out && r.err);
    unlink(outp);
    unlink(errp);
    cr_assert(!strstr(r.err, "Sanitizer") && !strstr(r.err, "runtime error"),
              "sanitizer report from %s %s:\n%s", argc > 1 ? argv[1] : "", argc > 2 ? argv[2] : "", r.err);
    cr_assert_lt(r.status, 128, "%s %s died of signal %d:\n%s", argc > 1 ? argv[1] : "", argc > 2 ? argv[2] : "",
                 r.status - 128, r.err);
    return r;
}

/* run_tool_v with the arguments listed, ending with NULL. */
static run_result run_tool(const char *dir, const char *stdin_data, ...)
{
    const char *args[MAXARGS + 1];
    int n = 0;
    va_list ap;
    va_start(ap, stdin_data);
    const char *a;
    while ((a = va_arg(ap, const char *)) != NULL) {
        cr_assert_lt(n, MAXARGS);
        args[n++] = a;
    }
    va_end(ap);
    args[n] = NULL;
    return run_tool_v(dir, stdin_data, args);
}

/* ---- small helpers -------------------------------------------------------- */

static char *path_in(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    cr_assert_not_null(p);
    snprintf(p, n, "%s/%s", dir, name);
    return keep(p);
}

static void write_text(const char *path, const char *text)
{
    cr_assert_eq(tu_write_file(path, text, strlen(text)), 0, "cannot write %s", path);
}

static void make_dir(const char *path)
{
    cr_assert_eq(mkdir(path, 0755), 0, "mkdir %s: %s", path, strerror(errno));
}

static int exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

/* Names in dir (not . and ..), sorted, joined by spaces. */
static char *listing(const char *dir)
{
    DIR *d = opendir(dir);
    cr_assert_not_null(d);
    char *names[64];
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
        cr_assert_lt(n, 64);
        names[n++] = strdup(de->d_name);
    }
    closedir(d);
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--) {
            char *t = names[j];
            names[j] = names[j - 1];
            names[j - 1] = t;
        }
    size_t cap = 1;
    for (size_t i = 0; i < n; i++) cap += strlen(names[i]) + 1;
    char *s = calloc(1, cap);
    for (size_t i = 0; i < n; i++) {
        if (i) strcat(s, " ");
        strcat(s, names[i]);
        free(names[i]);
    }
    return keep(s);
}

/* Value of the "key N" line of info's output, or -1. */
static long long info_value(const char *out, const char *key)
{
    size_t kl = strlen(key);
    for (const char *l = out; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
        if (!strncmp(l, key, kl) && l[kl] == ' ') return atoll(l + kl + 1);
    }
    return -1;
}

static long long info_docs(const char *dir, const char *index)
{
    run_result r = run_tool(dir, NULL, "info", index, NULL);
    cr_assert_eq(r.status, 0, "info %s: %s", index, r.err);
    long long v = info_value(r.out, "documents");
    run_free(&r);
    return v;
}

static void expect_verify_ok(const char *dir, const char *index)
{
    run_result r = run_tool(dir, NULL, "verify", index, NULL);
    cr_assert_eq(r.status, 0, "verify %s: %s", index, r.err);
    cr_assert_str_eq(r.out, "ok\n");
    run_free(&r);
}

/* The test's temporary directory (made by the suite's init). */
static char *setup(void) { return testdir; }

/* ---- build, info, verify on the sample corpus ------------------------------- */

Test(cli, build_info_verify_corpus)
{
    char *d = setup();
    char *x = path_in(d, "corpus.cpq");
    run_result r = run_tool(d, NULL, "build", "-o", x, CORPUS, NULL);
    cr_assert_eq(r.status, 0, "build: %s", r.err);
    cr_assert(strstr(r.out, ": 1 documents ("), "summary: %s", r.out);
    cr_assert(strstr(r.out, "passages"), "summary: %s", r.out);
    cr_assert_eq(r.errlen, 0, "stderr: %s", r.err);
    run_free(&r);

    r = run_tool(d, NULL, "info", x, NULL);
    cr_assert_eq(r.status, 0, "info: %s", r.err);
    cr_assert(strstr(r.out, "\ndocuments 1\n"), "info: %s", r.out);
    cr_assert_eq(info_value(r.out, "format_version"), 1);
    long long passages = info_value(r.out, "passages");
    cr_assert_gt(passages, 1, "info: %s", r.out);
    cr_assert_gt(info_value(r.out, "terms"), 10);
    cr_assert(strstr(r.out, "\nlanguage english\n"), "info: %s", r.out);

    /* The 12 sections, each once, with bytes and a percentage; header,
     * sections and TOC make up the whole file. */
    static const char *const names[] = { "meta", "termindex", "terms", "postings", "positions", "lengths",
                                         "passages", "docs", "docids", "docmap", "store", "zdict" };
    int seen[12] = { 0 };
    unsigned long long total = 0;
    int nsec = 0;
    for (const char *l = r.out; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
        if (strncmp(l, "section ", 8)) continue;
        char name[64], pct[8];
        unsigned long long bytes;
        double p;
        cr_assert_eq(sscanf(l, "section %63s %llu %lf%7[%]", name, &bytes, &p, pct), 4, "line: %.80s", l);
        int k = -1;
        for (int i = 0; i < 12; i++)
            if (!strcmp(name, names[i])) k = i;
        cr_assert_geq(k, 0, "unknown section %s", name);
        seen[k]++;
        total += bytes;
        nsec++;
        cr_assert(p >= 0 && p < 1000);
    }
    cr_assert_eq(nsec, 12, "info: %s", r.out);
    for (int i = 0; i < 12; i++) cr_assert_eq(seen[i], 1, "section %s listed %d times", names[i], seen[i]);
    struct stat st;
    cr_assert_eq(stat(x, &st), 0);
    cr_assert_eq(total + 64 + 12 * 32, (unsigned long long)st.st_size);
    cr_assert_eq(info_value(r.out, "file_bytes"), (long long)st.st_size);
    run_free(&r);

    expect_verify_ok(d, x);

    /* The library agrees with the tool. */
    cpq_index *ix;
    cpq_errinfo e = { 0 };
    cr_assert_eq(cpq_index_open(x, 0, &ix, &e), CPQ_OK, "%s", e.msg);
    cr_assert_eq(cpq_index_get_info(ix)->passages, (uint64_t)passages);
    uint32_t doc;
    cr_assert_eq(cpq_index_doc_find(ix, CORPUS "/000_95a09b20b076929a.txt", strlen(CORPUS "/000_95a09b20b076929a.txt"), &doc),
                 CPQ_OK, "a walked file's id is the path as given joined with its name");
    cpq_index_close(ix);
}

Test(cli, quiet_prints_nothing)
{
    char *d = setup();
    char *x = path_in(d, "q.cpq");
    run_result r = run_tool(d, NULL, "build", "-q", "-o", x, CORPUS, NULL);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert_eq(r.outlen, 0, "stdout: %s", r.out);
    cr_assert_eq(r.errlen, 0, "stderr: %s", r.err);
    run_free(&r);
    cr_assert_eq(info_docs(d, x), 1);
}

/* ---- help and usage errors ----------------------------------------------------- */

Test(cli, help_exits_zero_with_usage)
{
    char *d = setup();
    static const char *const cases[][3] = {
        { "--help", NULL }, { "-h", NULL }, { "help", NULL },
        { "build", "--help" }, { "build", "-h" }, { "info", "--help" }, { "info", "-h" },
        { "verify", "--help" }, { "verify", "-h" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        run_result r = run_tool(d, NULL, cases[i][0], cases[i][1], NULL);
        cr_assert_eq(r.status, 0, "%s %s: exit %d", cases[i][0], cases[i][1] ? cases[i][1] : "", r.status);
        cr_assert(!strncmp(r.out, "usage: cpq-index", 16), "%s %s printed: %s", cases[i][0],
                  cases[i][1] ? cases[i][1] : "", r.out);
        if (cases[i][1]) cr_assert(strstr(r.out, cases[i][0]), "usage of %s: %s", cases[i][0], r.out);
        cr_assert_eq(r.errlen, 0);
        run_free(&r);
    }
    /* The build help lists the options users need. */
    run_result r = run_tool(d, NULL, "build", "--help", NULL);
    static const char *const opts[] = { "--output", "--format", "--skip-bad", "--language", "--passage-words",
                                        "--memory", "--threads", "--zstd-level", "--tmpdir", "--quiet" };
    for (size_t i = 0; i < sizeof opts / sizeof *opts; i++) cr_assert(strstr(r.out, opts[i]), "no %s in build help", opts[i]);
    char dflt[64];
    snprintf(dflt, sizeof dflt, "(default %d)", CPQ_PASSAGE_WORDS_DEFAULT);
    cr_assert(strstr(r.out, dflt), "the passage words default is not printed as %s: %s", dflt, r.out);
    run_free(&r);
    r = run_tool(d, NULL, "--version", NULL);
    cr_assert_eq(r.status, 0);
    cr_assert(!strncmp(r.out, "cpq-index ", 10), "%s", r.out);
    run_free(&r);
    r = run_tool(d, NULL, "build", "--language", "list", NULL);
    cr_assert_eq(r.status, 0);
    cr_assert(strstr(r.out, "english\n") && strstr(r.out, "\nnone\n"), "%s", r.out);
    run_free(&r);
}

typedef struct usage_case {
    const char *args[8];
    const char *stderr_has;  /* what the message must name */
} usage_case;

Test(cli, usage_errors_exit_2)
{
    char *d = setup();
    char *x = path_in(d, "u.cpq");
    const usage_case cases[] = {
        { { NULL }, "usage: cpq-index" },
        { { "frobnicate" }, "unknown command 'frobnicate'" },
        { { "build", CORPUS }, "-o INDEX is required" },
        { { "build", "-o", x }, "no INPUT" },
        { { "build", "-o", x, "--memory", "12Q", CORPUS }, "--memory: '12Q'" },
        { { "build", "-o", x, "--memory", "512K", CORPUS }, "--memory: '512K'" },
        { { "build", "-o", x, "--memory", "-1G", CORPUS }, "--memory" },
        { { "build", "-o", x, "--memory", "99999999999T", CORPUS }, "--memory" },
        { { "build", "-o", x, "--threads", "0", CORPUS }, "--threads: '0'" },
        { { "build", "-o", x, "--threads", "65", CORPUS }, "--threads: '65'" },
        { { "build", "-o", x, "-j", "abc", CORPUS }, "--threads: 'abc'" },
        { { "build", "-o", x, "--threads", "", CORPUS }, "--threads" },
        { { "build", "-o", x, "--passage-words", "3", CORPUS }, "--passage-words: '3'" },
        { { "build", "-o", x, "-w", "100001", CORPUS }, "--passage-words" },
        { { "build", "-o", x, "--format", "xml", CORPUS }, "--format: 'xml'" },
        { { "build", "-o", x, "--zstd-level", "0", CORPUS }, "--zstd-level" },
        { { "build", "-o", x, "--zstd-level", "20", CORPUS }, "--zstd-level" },
        { { "build", "-o", x, "--frobnicate", CORPUS }, "frobnicate" },
        { { "build", "-o" }, "requires an argument" },
        { { "info" }, "usage: cpq-index info" },
        { { "info", x, x }, "usage: cpq-index info" },
        { { "info", "--bogus" }, "usage: cpq-index info" },
        { { "verify" }, "usage: cpq-index verify" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const char *const *a = cases[i].args;
        run_result r = run_tool_v(d, NULL, a);
        cr_expect_eq(r.status, 2, "case %zu (%s %s ...): exit %d, stderr: %s", i, a[0] ? a[0] : "", a[1] ? a[1] : "",
                     r.status, r.err);
        cr_expect(strstr(r.err, cases[i].stderr_has), "case %zu: stderr does not name '%s': %s", i,
                  cases[i].stderr_has, r.err);
        cr_expect_eq(r.outlen, 0, "case %zu: stdout: %s", i, r.out);
        cr_expect(!exists(x), "case %zu left %s behind", i, x);
        run_free(&r);
    }
    char *l = listing(d);
    cr_assert_str_eq(l, "", "left behind: %s", l);
}

Test(cli, unknown_language_fails_naming_it)
{
    char *d = setup();
    char *x = path_in(d, "l.cpq");
    run_result r = run_tool(d, NULL, "build", "-o", x, "--language", "klingon", CORPUS, NULL);
    /* The name is checked by the library when the builder is created. */
    cr_assert_eq(r.status, 1, "exit %d: %s", r.status, r.err);
    cr_assert(strstr(r.err, "klingon"), "stderr: %s", r.err);
    run_free(&r);
    char *l = listing(d);
    cr_assert_str_eq(l, "", "left behind: %s", l);
    /* A name too long for the format is a usage error. */
    r = run_tool(d, NULL, "build", "-o", x, "-l", "an-implausibly-long-language-name-over-32", CORPUS, NULL);
    cr_assert_eq(r.status, 2, "exit %d: %s", r.status, r.err);
    cr_assert(strstr(r.err, "--language"), "stderr: %s", r.err);
    run_free(&r);
    /* Other languages and none work. */
    r = run_tool(d, NULL, "build", "-q", "-o", x, "-l", "none", CORPUS, NULL);
    cr_assert_eq(r.status, 0, "%s", r.err);
    run_free(&r);
    r = run_tool(d, NULL, "info", x, NULL);
    cr_assert(strstr(r.out, "\nlanguage none\n"), "%s", r.out);
    run_free(&r);
}

/* ---- errors name what was wrong and where ---------------------------------------- */

static const char good_jsonl[] =
    "{\"_id\":\"r1\",\"title\":\"First\",\"text\":\"The first record of the file.\"}\n"
    "{\"_id\":\"r2\",\"text\":\"The second record.\"}\n"
    "{\"_id\":\"r3\",\"text\":\"The third record.\"}\n";

static const char bad_jsonl[] =
    "{\"_id\":\"r1\",\"text\":\"The first record.\"}\n"
    "{\"_id\":\"r2\",\"text\":\"The second record.\"}\n"
    "{\"_id\":\"r3\",\"text\": \"unterminated}\n"
    "{\"_id\":\"r4\",\"text\":\"The fourth record.\"}\n";

Test(cli, malformed_jsonl_line_names_file_and_line)
{
    char *d = setup();
    char *in = path_in(d, "in"), *out = path_in(d, "out");
    make_dir(in);
    make_dir(out);
    char *bad = path_in(in, "bad.jsonl"), *x = path_in(out, "j.cpq");
    write_text(bad, bad_jsonl);

    run_result r = run_tool(d, NULL, "build", "-o", x, bad, NULL);
    cr_assert_eq(r.status, 1, "exit %d: %s", r.status, r.err);
    char want[4400];
    snprintf(want, sizeof want, "%s:3:", bad);
    cr_assert(strstr(r.err, want), "stderr does not name %s: %s", want, r.err);
    cr_assert(strstr(r.err, "no index written"), "stderr: %s", r.err);
    run_free(&r);
    char *l = listing(out);
    cr_assert_str_eq(l, "", "left behind: %s", l);

    /* The same with --format jsonl on a file without the extension. */
    char *bad2 = path_in(in, "records.data");
    write_text(bad2, bad_jsonl);
    r = run_tool(d, NULL, "build", "-f", "jsonl", "-o", x, bad2, NULL);
    cr_assert_eq(r.status, 1, "exit %d: %s", r.status, r.err);
    snprintf(want, sizeof want, "%s:3:", bad2);
    cr_assert(strstr(r.err, want), "stderr: %s", r.err);
    run_free(&r);

    /* --skip-bad: the line is counted, the rest indexed. */
    r = run_tool(d, NULL, "build", "--skip-bad", "-o", x, bad, NULL);
    cr_assert_eq(r.status, 0, "exit %d: %s", r.status, r.err);
    cr_assert(strstr(r.out, "3 documents"), "summary: %s", r.out);
    cr_assert(strstr(r.out, "1 bad lines skipped"), "summary: %s", r.out);
    run_free(&r);
    cr_assert_eq(info_docs(d, x), 3);
    expect_verify_ok(d, x);
    l = listing(out);
    cr_assert_str_eq(l, "j.cpq", "directory holds: %s", l);
}

Test(cli, missing_input_is_named)
{
    char *d = setup();
    char *x = path_in(d, "m.cpq"), *missing = path_in(d, "no-such-input.txt");
    run_result r = run_tool(d, NULL, "build", "-o", x, CORPUS, missing, NULL);
    cr_assert_eq(r.status, 1, "exit %d: %s", r.status, r.err);
    cr_assert(strstr(r.err, missing), "stderr does not name the input: %s", r.err);
    cr_assert(!exists(x));
    run_free(&r);
    char *l = listing(d);
    cr_assert_str_eq(l, "", "left behind: %s", l);
    /* A missing stopwords file, a missing output directory. */
    r = run_tool(d, NULL, "build", "-o", x, "--stopwords", missing, CORPUS, NULL);
    cr_assert_eq(r.status, 1, "exit %d: %s", r.status, r.err);
    cr_assert(strstr(r.err, missing) && strstr(r.err, "--stopwords"), "stderr: %s", r.err);
    run_free(&r);
    char *nodir = path_in(d, "no-such-dir/x.cpq");
    r = run_tool(d, NULL, "build", "-o", nodir, CORPUS, NULL);
    cr_assert_eq(r.status, 1, "exit %d: %s", r.status, r.err);
    cr_assert(strstr(r.err, "no-such-dir"), "stderr: %s", r.err);
    run_free(&r);
}

Test(cli, jsonl_line_without_id_fails)
{
    char *d = setup();
    char *in = path_in(d, "noid.jsonl"), *x = path_in(d, "n.cpq");
    write_text(in, "{\"_id\":\"a\",\"text\":\"fine\"}\n{\"title\":\"t\",\"text\":\"no id here\"}\n");
    run_result r = run_tool(d, NULL, "build", "-o", x, in, NULL);
    cr_assert_eq(r.status, 1, "exit %d: %s", r.status, r.err);
    char want[4400];
    snprintf(want, sizeof want, "%s:2:", in);
    cr_assert(strstr(r.err, want), "stderr does not name %s: %s", want, r.err);
    cr_assert(strstr(r.err, "_id"), "stderr does not name _id: %s", r.err);
    cr_assert(!exists(x));
    run_free(&r);
    /* An empty id is no better. */
    write_text(in, "{\"_id\":\"\",\"text\":\"empty id\"}\n");
    r = run_tool(d, NULL, "build", "-o", x, in, NULL);
    cr_assert_eq(r.status, 1, "exit %d: %s", r.status, r.err);
    snprintf(want, sizeof want, "%s:1:", in);
    cr_assert(strstr(r.err, want) && strstr(r.err, "_id"), "stderr: %s", r.err);
    run_free(&r);
}

Test(cli, invalid_utf8_is_repaired)
{
    char *d = setup();
    char *in = path_in(d, "latin1.txt"), *x = path_in(d, "u.cpq");
    /* Latin-1 bytes, a lone continuation byte, a truncated sequence at the end. */
    write_text(in, "Caf\xe9 cr\xe8me and na\xefve words.\n\nA stray \x80 byte, then a cut sequence \xe2\x82");
    run_result r = run_tool(d, NULL, "build", "-o", x, in, NULL);
    cr_assert_eq(r.status, 0, "exit %d: %s", r.status, r.err);
    cr_assert(strstr(r.out, "invalid UTF-8 sequences repaired"), "summary: %s", r.out);
    run_free(&r);
    expect_verify_ok(d, x);
    cpq_index *ix;
    cpq_errinfo e = { 0 };
    cr_assert_eq(cpq_index_open(x, 0, &ix, &e), CPQ_OK, "%s", e.msg);
    cpq_fetch *f;
    cr_assert_eq(cpq_fetch_create(ix, &f), CPQ_OK);
    const char *t;
    size_t n;
    cr_assert_eq(cpq_fetch_doc(f, 0, &t, &n), CPQ_OK);
    char *copy = keep(strndup(t, n));
    cr_assert(strstr(copy, "Caf\xef\xbf\xbd cr\xef\xbf\xbd" "me"), "stored text: %s", copy);
    cr_assert(cpq_utf8_valid(t, n));
    cpq_fetch_free(f);
    cpq_index_close(ix);

    /* Raw invalid bytes inside a JSON string. */
    char *j = path_in(d, "bytes.jsonl");
    write_text(j, "{\"_id\":\"b\",\"text\":\"bad \xff\xfe bytes\"}\n");
    r = run_tool(d, NULL, "build", "-o", x, j, NULL);
    cr_assert_eq(r.status, 0, "exit %d: %s", r.status, r.err);
    cr_assert(strstr(r.out, "invalid UTF-8 sequences repaired"), "summary: %s", r.out);
    run_free(&r);
    expect_verify_ok(d, x);
}

/* ---- the output file is replaced atomically ----------------------------------------- */

Test(cli, failed_build_leaves_the_old_index)
{
    char *d = setup();
    char *in = path_in(d, "in"), *out = path_in(d, "out");
    make_dir(in);
    make_dir(out);
    char *x = path_in(out, "X.cpq"), *bad = path_in(in, "bad.jsonl"), *good = path_in(in, "good.jsonl");
    write_text(bad, bad_jsonl);
    write_text(good, good_jsonl);

    run_result r = run_tool(d, NULL, "build", "-o", x, CORPUS, NULL);
    cr_assert_eq(r.status, 0, "%s", r.err);
    run_free(&r);
    size_t n0;
    char *before = keep(tu_read_file(x, &n0));
    cr_assert_not_null(before);

    /* Fails on line 3, after two documents went into the builder. */
    r = run_tool(d, NULL, "build", "-o", x, bad, NULL);
    cr_assert_eq(r.status, 1, "exit %d: %s", r.status, r.err);
    cr_assert(strstr(r.err, "is unchanged"), "stderr: %s", r.err);
    run_free(&r);
    /* Fails on a missing input after a good one. */
    char *missing = path_in(in, "missing.txt");
    r = run_tool(d, NULL, "build", "-o", x, good, missing, NULL);
    cr_assert_eq(r.status, 1, "exit %d: %s", r.status, r.err);
    run_free(&r);
    /* Fails at create time. */
    r = run_tool(d, NULL, "build", "-o", x, "-l", "klingon", good, NULL);
    cr_assert_eq(r.status, 1, "exit %d: %s", r.status, r.err);
    run_free(&r);

    size_t n1;
    char *after = keep(tu_read_file(x, &n1));
    cr_assert_not_null(after);
    cr_assert(n0 == n1 && memcmp(before, after, n0) == 0, "the old index was modified");
    char *l = listing(out);
    cr_assert_str_eq(l, "X.cpq", "the output directory holds: %s", l);
    expect_verify_ok(d, x);
    cr_assert_eq(info_docs(d, x), 1);

    /* A successful build replaces it. */
    r = run_tool(d, NULL, "build", "-o", x, good, NULL);
    cr_assert_eq(r.status, 0, "%s", r.err);
    run_free(&r);
    after = keep(tu_read_file(x, &n1));
    cr_assert(n0 != n1 || memcmp(before, after, n0) != 0, "the index was not replaced");
    cr_assert_eq(info_docs(d, x), 3);
    expect_verify_ok(d, x);
    l = listing(out);
    cr_assert_str_eq(l, "X.cpq", "the output directory holds: %s", l);
}

/* Disk full, as a file-size limit: the build fails with the reason, the
 * old index is untouched and no temporary file is left behind. */
Test(cli, disk_full_leaves_the_old_index)
{
    char *d = setup();
    char *in = path_in(d, "in"), *out = path_in(d, "out");
    make_dir(in);
    make_dir(out);
    char *x = path_in(out, "X.cpq"), *big = path_in(in, "big.txt");
    run_result r = run_tool(d, NULL, "build", "-o", x, CORPUS, NULL);
    cr_assert_eq(r.status, 0, "%s", r.err);
    run_free(&r);
    size_t n0;
    char *before = keep(tu_read_file(x, &n0));
    cr_assert_not_null(before);

    /* About 3 MB of text: its index is far over the 256 KiB limit. */
    size_t cap = 3u << 20, len = 0;
    char *text = keep(malloc(cap + 64));
    uint64_t st = 7;
    while (len < cap) {
        len += (size_t)snprintf(text + len, 64, "w%u%s", (unsigned)(tu_rand(&st) % 50000),
                                tu_rand(&st) % 12 ? " " : ".\n\n");
    }
    cr_assert_eq(tu_write_file(big, text, len), 0);

    struct rlimit old, lim;
    cr_assert_eq(getrlimit(RLIMIT_FSIZE, &old), 0);
    lim = old;
    lim.rlim_cur = 256 << 10;
    void (*prev)(int) = signal(SIGXFSZ, SIG_IGN);   /* writes fail with EFBIG instead */
    cr_assert_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
    r = run_tool(d, NULL, "build", "-o", x, big, NULL);
    setrlimit(RLIMIT_FSIZE, &old);
    signal(SIGXFSZ, prev);
    cr_assert_eq(r.status, 1, "exit %d: %s", r.status, r.err);
    cr_assert(strstr(r.err, "File too large") || strstr(r.err, "No space"), "stderr: %s", r.err);
    cr_assert(strstr(r.err, "is unchanged"), "stderr: %s", r.err);
    run_free(&r);

    size_t n1;
    char *after = keep(tu_read_file(x, &n1));
    cr_assert(after && n0 == n1 && memcmp(before, after, n0) == 0, "the old index was modified");
    char *l = listing(out);
    cr_assert_str_eq(l, "X.cpq", "the output directory holds: %s", l);
    expect_verify_ok(d, x);
}

/* ---- standard input and directory trees ------------------------------------------------ */

Test(cli, stdin_input)
{
    char *d = setup();
    char *x = path_in(d, "s.cpq");
    run_result r = run_tool(d, "{\"_id\":\"a\",\"text\":\"hello world\"}\n", "build", "-f", "jsonl", "-o", x, "-", NULL);
    cr_assert_eq(r.status, 0, "exit %d: %s", r.status, r.err);
    cr_assert(strstr(r.out, "1 documents"), "summary: %s", r.out);
    run_free(&r);
    cr_assert_eq(info_docs(d, x), 1);
    expect_verify_ok(d, x);
    cpq_index *ix;
    cpq_errinfo e = { 0 };
    cr_assert_eq(cpq_index_open(x, 0, &ix, &e), CPQ_OK, "%s", e.msg);
    uint32_t doc;
    cr_assert_eq(cpq_index_doc_find(ix, "a", 1, &doc), CPQ_OK);
    cpq_term t;
    cr_assert_eq(cpq_index_term(ix, "hello", 5, &t), CPQ_OK);
    cpq_index_close(ix);

    /* Plain text on stdin is one document. */
    r = run_tool(d, "just some text\n\nin two paragraphs\n", "build", "-o", x, "-", NULL);
    cr_assert_eq(r.status, 0, "exit %d: %s", r.status, r.err);
    run_free(&r);
    cr_assert_eq(info_docs(d, x), 1);

    /* A malformed line on stdin is named too. */
    r = run_tool(d, "{\"_id\":\"a\",\"text\":\"ok\"}\n{oops\n", "build", "-f", "jsonl", "-o", x, "-", NULL);
    cr_assert_eq(r.status, 1, "exit %d: %s", r.status, r.err);
    cr_assert(strstr(r.err, "<stdin>:2:"), "stderr: %s", r.err);
    run_free(&r);
}

Test(cli, directory_tree_input)
{
    char *d = setup();
    char *tree = path_in(d, "tree"), *out = path_in(d, "out");
    make_dir(tree);
    make_dir(out);
    char *p;
#define FILE_IN(rel, text) (p = path_in(tree, rel), write_text(p, text))
#define DIR_IN(rel) (p = path_in(tree, rel), make_dir(p))
    FILE_IN("a.txt", "Alpha document about rivers.");
    DIR_IN("sub");
    FILE_IN("sub/b.txt", "Beta document about mountains.");
    DIR_IN("sub/deeper");
    FILE_IN("sub/deeper/c.md", "Gamma document about the sea.");
    FILE_IN(".hidden", "Hidden file that must not be indexed.");
    DIR_IN(".hiddendir");
    FILE_IN(".hiddendir/x.txt", "Inside a hidden directory.");
    FILE_IN("recs.jsonl", "{\"_id\":\"j1\",\"text\":\"json one\"}\n{\"_id\":\"j2\",\"text\":\"json two\"}\n"
                          "{\"_id\":\"j3\",\"text\":\"json three\"}\n");
    FILE_IN("sub/more.ndjson", "{\"_id\":\"n1\",\"text\":\"ndjson one\"}\n");
#undef FILE_IN
#undef DIR_IN
    char *target = path_in(tree, "a.txt"), *link = path_in(tree, "link.txt");
    cr_assert_eq(symlink(target, link), 0);

    char *x = path_in(out, "t.cpq");
    run_result r = run_tool(d, NULL, "build", "-o", x, tree, NULL);
    cr_assert_eq(r.status, 0, "exit %d: %s", r.status, r.err);
    cr_assert(strstr(r.out, "7 documents"), "summary: %s", r.out);
    run_free(&r);
    /* a, b, c + three JSONL records + one NDJSON record; no hidden entries,
     * no symbolic link. */
    cr_assert_eq(info_docs(d, x), 7);
    expect_verify_ok(d, x);

    cpq_index *ix;
    cpq_errinfo e = { 0 };
    cr_assert_eq(cpq_index_open(x, 0, &ix, &e), CPQ_OK, "%s", e.msg);
    static const char *const want[] = { "a.txt", "sub/b.txt", "sub/deeper/c.md" };
    char id[4400];
    uint32_t doc;
    for (size_t i = 0; i < 3; i++) {
        snprintf(id, sizeof id, "%s/%s", tree, want[i]);
        cr_assert_eq(cpq_index_doc_find(ix, id, strlen(id), &doc), CPQ_OK, "no document %s", id);
    }
    static const char *const ids[] = { "j1", "j2", "j3", "n1" };
    for (size_t i = 0; i < 4; i++) cr_assert_eq(cpq_index_doc_find(ix, ids[i], strlen(ids[i]), &doc), CPQ_OK, "%s", ids[i]);
    cpq_term t;
    cr_assert_eq(cpq_index_term(ix, "hidden", 6, &t), CPQ_ENOTFOUND, "a hidden file was indexed");
    cr_assert_eq(cpq_index_term(ix, "insid", 5, &t), CPQ_ENOTFOUND, "a hidden directory was indexed");
    cpq_index_close(ix);

    /* --format text reads the JSON Lines files as text: 5 files, 5 documents. */
    r = run_tool(d, NULL, "build", "-f", "text", "-o", x, tree, NULL);
    cr_assert_eq(r.status, 0, "exit %d: %s", r.status, r.err);
    run_free(&r);
    cr_assert_eq(info_docs(d, x), 5);

}

/* Inputs with nothing in them give valid (if useless) indexes. */
Test(cli, empty_inputs)
{
    char *d = setup();
    char *in = path_in(d, "in");
    make_dir(in);
    char *x = path_in(d, "e.cpq"), *p;
    struct { const char *name, *text; long long docs; } files[] = {
        { "empty.jsonl", "", 0 },           /* no records */
        { "blank.jsonl", "\n  \n\t\r\n", 0 }, /* blank lines only */
        { "empty.txt", "", 1 },             /* a document with no passages */
        { "spaces.txt", " \n\n \t", 1 },
    };
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        p = path_in(in, files[i].name);
        write_text(p, files[i].text);
        run_result r = run_tool(d, NULL, "build", "-o", x, p, NULL);
        cr_assert_eq(r.status, 0, "%s: exit %d: %s", files[i].name, r.status, r.err);
        run_free(&r);
        cr_assert_eq(info_docs(d, x), files[i].docs, "%s", files[i].name);
        expect_verify_ok(d, x);
        }
    /* Empty standard input. */
    run_result r = run_tool(d, "", "build", "-f", "jsonl", "-o", x, "-", NULL);
    cr_assert_eq(r.status, 0, "exit %d: %s", r.status, r.err);
    run_free(&r);
    cr_assert_eq(info_docs(d, x), 0);
    /* An empty directory (sorting its zero names must be well defined). */
    p = path_in(in, "nothing");
    make_dir(p);
    r = run_tool(d, NULL, "build", "-o", x, p, NULL);
    cr_assert_eq(r.status, 0, "exit %d: %s", r.status, r.err);
    run_free(&r);
    cr_assert_eq(info_docs(d, x), 0);
    expect_verify_ok(d, x);
}

/* The builder's temporary file is created beside the output at once; when
 * the output lies inside a directory being indexed, the walk must not pick
 * up that half-written file (nor should the index have a document for it). */
Test(cli, output_inside_the_input_tree)
{
    char *d = setup();
    char *tree = path_in(d, "tree");
    make_dir(tree);
    char *a = path_in(tree, "a.txt"), *b = path_in(tree, "b.txt"), *x = path_in(tree, "out.cpq");
    write_text(a, "hello there");
    write_text(b, "second file");
    run_result r = run_tool(d, NULL, "build", "-o", x, tree, NULL);
    cr_assert_eq(r.status, 0, "exit %d: %s", r.status, r.err);
    run_free(&r);
    cr_expect_eq(info_docs(d, x), 2, "the index holds a document for its own temporary file");
    cpq_index *ix;
    cpq_errinfo e = { 0 };
    cr_assert_eq(cpq_index_open(x, 0, &ix, &e), CPQ_OK, "%s", e.msg);
    for (uint32_t i = 0; i < cpq_index_get_info(ix)->docs; i++) {
        cpq_doc_info di;
        cr_assert_eq(cpq_index_doc(ix, i, &di), CPQ_OK);
        char *id = keep(strndup(di.id, di.idlen));
        cr_expect(!strstr(id, ".tmp."), "document %u is %s", i, id);
    }
    cpq_index_close(ix);
    char *l = listing(tree);
    cr_assert_str_eq(l, "a.txt b.txt out.cpq", "the tree holds: %s", l);
}

/* ---- verify on damaged and missing files ----------------------------------------------- */

Test(cli, verify_damaged_and_missing)
{
    char *d = setup();
    char *x = path_in(d, "v.cpq");
    run_result r = run_tool(d, NULL, "build", "-q", "-o", x, CORPUS, NULL);
    cr_assert_eq(r.status, 0, "%s", r.err);
    run_free(&r);
    size_t n;
    char *data = keep(tu_read_file(x, &n));
    cr_assert_not_null(data);

    /* One byte in the middle of the file: inside a section. */
    char *dmg = path_in(d, "damaged.cpq");
    data[n / 2] ^= 0x20;
    cr_assert_eq(tu_write_file(dmg, data, n), 0);
    r = run_tool(d, NULL, "verify", dmg, NULL);
    cr_assert_eq(r.status, 1, "exit %d: %s", r.status, r.err);
    cr_assert(strstr(r.err, "section '"), "stderr names no section: %s", r.err);
    cr_assert(strstr(r.err, dmg), "stderr names no file: %s", r.err);
    cr_assert_eq(r.outlen, 0, "stdout: %s", r.out);
    run_free(&r);
    data[n / 2] ^= 0x20;

    /* The header. */
    data[10] ^= 1;
    cr_assert_eq(tu_write_file(dmg, data, n), 0);
    r = run_tool(d, NULL, "verify", dmg, NULL);
    cr_assert_eq(r.status, 1, "exit %d: %s", r.status, r.err);
    cr_assert(strstr(r.err, "header"), "stderr: %s", r.err);
    run_free(&r);
    r = run_tool(d, NULL, "info", dmg, NULL);
    cr_assert_eq(r.status, 1, "exit %d: %s", r.status, r.err);
    run_free(&r);
    data[10] ^= 1;

    /* Truncated. */
    cr_assert_eq(tu_write_file(dmg, data, n - 1), 0);
    r = run_tool(d, NULL, "verify", dmg, NULL);
    cr_assert_eq(r.status, 1, "exit %d: %s", r.status, r.err);
    cr_assert(strstr(r.err, "truncated"), "stderr: %s", r.err);
    run_free(&r);

    /* Missing, a directory, not an index. */
    char *missing = path_in(d, "missing.cpq");
    r = run_tool(d, NULL, "verify", missing, NULL);
    cr_assert_eq(r.status, 1, "exit %d: %s", r.status, r.err);
    cr_assert(strstr(r.err, missing), "stderr: %s", r.err);
    run_free(&r);
    r = run_tool(d, NULL, "info", missing, NULL);
    cr_assert_eq(r.status, 1, "exit %d: %s", r.status, r.err);
    run_free(&r);
    r = run_tool(d, NULL, "verify", d, NULL);
    cr_assert_eq(r.status, 1, "exit %d: %s", r.status, r.err);
    run_free(&r);
    r = run_tool(d, NULL, "verify", CORPUS "/000_95a09b20b076929a.txt", NULL);
    cr_assert_eq(r.status, 1, "exit %d: %s", r.status, r.err);
    cr_assert(strstr(r.err, "magic"), "stderr: %s", r.err);
    run_free(&r);

    /* The pristine file is still fine. */
    expect_verify_ok(d, x);
}

/* ---- a build killed with SIGKILL ----------------------------------------------------------- */

/* The previous index survives a build killed at random moments, and the
 * killed build's hidden temporary file is removed by the next build. */
Test(cli, killed_build_keeps_old_index_and_next_build_cleans_up, .timeout = 120)
{
    char *d = setup();
    char *out = path_in(d, "killed");
    make_dir(out);
    char *x = path_in(out, "X.cpq"), *big = path_in(d, "big.jsonl");
    /* About 6 MB of JSON Lines: enough to take a while. */
    tu_doc *docs = tu_make_corpus(12000, 80, 11);
    FILE *f = fopen(big, "w");
    cr_assert_not_null(f);
    for (size_t i = 0; i < 12000; i++) {
        fprintf(f, "{\"_id\": \"%s\", \"text\": \"", docs[i].id);
        for (size_t k = 0; k < docs[i].len; k++) {
            char c = docs[i].text[k];
            if (c == '\n') fputs("\\n", f);
            else if (c == '"' || c == '\\') fprintf(f, "\\%c", c);
            else fputc(c, f);
        }
        fputs("\"}\n", f);
    }
    fclose(f);
    tu_free_corpus(docs, 12000);
    run_result r = run_tool(d, NULL, "build", "-q", "-o", x, CORPUS, NULL);
    cr_assert_eq(r.status, 0, "%s", r.err);
    run_free(&r);
    size_t n0;
    char *before = keep(tu_read_file(x, &n0));

    uint64_t seed = 2024;
    for (int round = 0; round < 5; round++) {
        pid_t pid = fork();
        cr_assert(pid >= 0);
        if (pid == 0) {
            int nul = open("/dev/null", O_WRONLY);
            dup2(nul, 1);
            dup2(nul, 2);
            execl(TOOL, TOOL, "build", "-q", "-j", "2", "-o", x, big, (char *)NULL);
            _exit(127);
        }
        /* Kill it somewhere between 1 and 300 ms in. */
        usleep((useconds_t)(1000 + tu_rand(&seed) % 300000));
        kill(pid, SIGKILL);
        int st;
        waitpid(pid, &st, 0);
        size_t n1;
        char *after = keep(tu_read_file(x, &n1));
        /* Either the kill came after the rename (a complete new index) or
         * the old index is untouched; never anything in between. */
        if (WIFSIGNALED(st) && (n1 != n0 || memcmp(before, after, n0)))
            cr_assert_eq(info_docs(d, x), 12000, "round %d: X is neither the old nor a complete new index", round);
        expect_verify_ok(d, x);
    }
    /* Some kill landed mid-build and left a temporary file behind... */
    char *l0 = listing(out);
    cr_assert(strstr(l0, ".X.cpq.tmp."), "no build was killed mid-way: %s", l0);
    /* ...which the next build removes. */
    r = run_tool(d, NULL, "build", "-q", "-o", x, CORPUS, NULL);
    cr_assert_eq(r.status, 0, "%s", r.err);
    run_free(&r);
    char *l = listing(out);
    cr_assert_str_eq(l, "X.cpq", "the output directory holds: %s", l);
    expect_verify_ok(d, x);
}
