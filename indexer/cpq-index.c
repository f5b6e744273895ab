/*
 * cpq-index - build, describe and verify cpq index files.
 *
 *   cpq-index build -o INDEX [options] INPUT...
 *   cpq-index info INDEX
 *   cpq-index verify INDEX
 *
 * Exit status: 0 success, 1 failure (bad input, damaged index, I/O), 2 usage.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cpqindex.h"
#include "progress.h"

#define EXIT_USAGE 2

static const char build_usage[] =
    "usage: cpq-index build -o INDEX [options] INPUT...\n"
    "\n"
    "Index INPUTs (files, directory trees, or - for standard input) into INDEX.\n"
    "The index is written to a temporary file beside INDEX and renamed over it\n"
    "only when complete, so an existing INDEX stays intact on any failure.\n"
    "\n"
    "  -o, --output INDEX      the index file to write (required)\n"
    "  -f, --format FMT        auto (default: .jsonl/.ndjson are JSON Lines, other\n"
    "                          files are text), text, or jsonl\n"
    "      --skip-bad          skip malformed JSON lines (counted) instead of failing\n"
    "  -l, --language LANG     Snowball stemmer language (default english; none\n"
    "                          disables stemming; --language list shows all)\n"
    "      --strip-accents     fold accented letters to their base letters\n"
    "      --stopwords FILE    whitespace-separated words to drop (default: none)\n"
    "  -w, --passage-words N   maximum words per passage (default %d)\n"
    "  -m, --memory SIZE       memory budget, e.g. 256M, 2G (default 512M); past it\n"
    "                          the builder spills sorted runs to temporary files\n"
    "  -j, --threads N         analysis threads (default: number of CPUs)\n"
    "      --zstd-level N      store compression level 1..19 (default 3)\n"
    "      --tmpdir DIR        directory for spill files (default: beside INDEX)\n"
    "  -q, --quiet             no progress bar and no summary\n"
    "  -h, --help              this help\n";

static const char info_usage[] =
    "usage: cpq-index info INDEX\n"
    "\n"
    "Print the index's counts, analysis settings and the size of every section\n"
    "(bytes and percent of the indexed text).  Opens without checking the large\n"
    "sections' checksums; use verify for that.\n";

static const char verify_usage[] =
    "usage: cpq-index verify INDEX\n"
    "\n"
    "Check every checksum and structural invariant of INDEX: every posting,\n"
    "position, skip entry, table and stored passage.  Prints 'ok' and exits 0\n"
    "only when the index is sound; otherwise names the first problem and exits 1.\n";

static const char main_usage[] =
    "usage: cpq-index COMMAND [options]\n"
    "\n"
    "Commands:\n"
    "  build -o INDEX [options] INPUT...   index files, directories, JSON Lines\n"
    "  info INDEX                          counts, settings, section sizes\n"
    "  verify INDEX                        check every checksum and invariant\n"
    "\n"
    "Run 'cpq-index COMMAND --help' for a command's options.\n";

static int parse_uint(const char *s, unsigned long max, unsigned long *out)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || end == s || *end || *s == '-' || v > max) return -1;
    *out = v;
    return 0;
}

static char *read_small_file(const char *path, size_t max)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = malloc(max + 1);
    size_t n = buf ? fread(buf, 1, max + 1, f) : 0;
    fclose(f);
    if (!buf || n > max) { free(buf); errno = EFBIG; return NULL; }
    buf[n] = 0;
    return buf;
}

/* Bytes under path, for the progress bar's ETA (0 if unknown). */
static uint64_t input_size(const char *path, int depth)
{
    struct stat st;
    if (!strcmp(path, "-") || depth > 64 || lstat(path, &st)) return 0;
    if (S_ISREG(st.st_mode)) return (uint64_t)st.st_size;
    if (!S_ISDIR(st.st_mode)) return 0;
    uint64_t total = 0;
    DIR *d = opendir(path);
    if (!d) return 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.') continue;
        size_t n = strlen(path) + strlen(de->d_name) + 2;
        char *p = malloc(n);
        if (!p) break;
        snprintf(p, n, "%s/%s", path, de->d_name);
        total += input_size(p, depth + 1);
        free(p);
    }
    closedir(d);
    return total;
}

static int cmd_build(int argc, char **argv)
{
    static const struct option lo[] = {
        { "output", required_argument, 0, 'o' },   { "format", required_argument, 0, 'f' },
        { "skip-bad", no_argument, 0, 'S' },        { "language", required_argument, 0, 'l' },
        { "strip-accents", no_argument, 0, 'A' },   { "stopwords", required_argument, 0, 'W' },
        { "passage-words", required_argument, 0, 'w' }, { "memory", required_argument, 0, 'm' },
        { "threads", required_argument, 0, 'j' },   { "zstd-level", required_argument, 0, 'Z' },
        { "tmpdir", required_argument, 0, 'T' },    { "quiet", no_argument, 0, 'q' },
        { "help", no_argument, 0, 'h' },            { 0, 0, 0, 0 },
    };
    cpq_build_opts o;
    cpq_build_opts_default(&o);
    const char *out = NULL, *stopfile = NULL;
    int format = CPQ_FMT_AUTO, skip_bad = 0, quiet = 0, c;
    unsigned long v;
    char *stopwords = NULL;
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:f:l:w:m:j:qh", lo, NULL)) != -1) {
        switch (c) {
        case 'o': out = optarg; break;
        case 'f':
            if (!strcmp(optarg, "auto")) format = CPQ_FMT_AUTO;
            else if (!strcmp(optarg, "text")) format = CPQ_FMT_TEXT;
            else if (!strcmp(optarg, "jsonl")) format = CPQ_FMT_JSONL;
            else { fprintf(stderr, "cpq-index: --format: '%s' is not auto, text or jsonl\n", optarg); return EXIT_USAGE; }
            break;
        case 'S': skip_bad = 1; break;
        case 'l':
            if (!strcmp(optarg, "list")) {
                for (const char **l = cpq_analyzer_languages(); *l; l++) printf("%s\n", *l);
                printf("none\n");
                return 0;
            }
            if (strlen(optarg) >= CPQ_LANG_MAX) { fprintf(stderr, "cpq-index: --language: name too long\n"); return EXIT_USAGE; }
            snprintf(o.analysis.language, sizeof o.analysis.language, "%s", optarg);
            break;
        case 'A': o.analysis.strip_accents = 1; break;
        case 'W': stopfile = optarg; break;
        case 'w':
            if (parse_uint(optarg, 100000, &v) || v < 8) {
                fprintf(stderr, "cpq-index: --passage-words: '%s' is not a number from 8 to 100000\n", optarg);
                return EXIT_USAGE;
            }
            o.passage_words = (uint32_t)v;
            break;
        case 'm':
            if (cpq_parse_size(optarg, &o.memory) || o.memory < CPQ_MEMORY_MIN) {
                fprintf(stderr, "cpq-index: --memory: '%s' is not a size of at least 1M (e.g. 256M, 2G)\n", optarg);
                return EXIT_USAGE;
            }
            break;
        case 'j':
            if (parse_uint(optarg, 64, &v) || v < 1) {
                fprintf(stderr, "cpq-index: --threads: '%s' is not a number from 1 to 64\n", optarg);
                return EXIT_USAGE;
            }
            o.threads = (int)v;
            break;
        case 'Z':
            if (parse_uint(optarg, 19, &v) || v < 1) {
                fprintf(stderr, "cpq-index: --zstd-level: '%s' is not a number from 1 to 19\n", optarg);
                return EXIT_USAGE;
            }
            o.zstd_level = (int)v;
            break;
        case 'T': o.tmpdir = optarg; break;
        case 'q': quiet = 1; break;
        case 'h': printf(build_usage, CPQ_PASSAGE_WORDS_DEFAULT); return 0;
        default: fprintf(stderr, "Try 'cpq-index build --help'.\n"); return EXIT_USAGE;
        }
    }
    if (!out) { fprintf(stderr, "cpq-index build: -o INDEX is required\nTry 'cpq-index build --help'.\n"); return EXIT_USAGE; }
    if (optind >= argc) { fprintf(stderr, "cpq-index build: no INPUT given\nTry 'cpq-index build --help'.\n"); return EXIT_USAGE; }
    if (stopfile) {
        stopwords = read_small_file(stopfile, 1 << 20);
        if (!stopwords) {
            fprintf(stderr, "cpq-index: --stopwords %s: %s\n", stopfile, errno == EFBIG ? "larger than 1 MiB" : strerror(errno));
            return 1;
        }
        o.analysis.stopwords = stopwords;
    }
    int tty = isatty(2) && !quiet;
    cpq_bar bar;
    uint64_t total = 0;
    if (tty)
        for (int i = optind; i < argc; i++) total += input_size(argv[i], 0);
    cpq_bar_init(&bar, stderr, total);
    if (tty) {
        o.progress = cpq_bar_update;
        o.progress_ctx = &bar;
    }
    cpq_errinfo e;
    memset(&e, 0, sizeof e);
    cpq_builder *b = NULL;
    cpq_input_stats st;
    memset(&st, 0, sizeof st);
    int rc = cpq_builder_create(&o, out, &b, &e);
    for (int i = optind; i < argc && !rc; i++) rc = cpq_input_add(b, argv[i], format, skip_bad, &st, &e);
    if (!rc) rc = cpq_builder_finish(b, &e);
    if (tty) cpq_bar_clear(&bar);
    if (rc) {
        fprintf(stderr, "cpq-index: %s\n", e.msg[0] ? e.msg : cpq_err_str(rc));
        if (b) fprintf(stderr, "cpq-index: no index written; %s is unchanged\n", out);
        cpq_builder_free(b);
        free(stopwords);
        return 1;
    }
    cpq_build_stats bs;
    cpq_builder_stats(b, &bs);
    double dt = cpq_bar_now() - bar.t0;
    if (!quiet) {
        char h1[32], h2[32];
        printf("%s: %llu documents (%s of text", out, (unsigned long long)bs.docs,
               cpq_human_bytes((double)bs.bytes_in, h1, sizeof h1));
        if (st.repaired) printf(", %llu invalid UTF-8 sequences repaired", (unsigned long long)st.repaired);
        if (st.skipped_bad) printf(", %llu bad lines skipped", (unsigned long long)st.skipped_bad);
        printf("), %llu passages, %llu terms; index %s (%.1f%% of text) in %.2f s, %.1f MB/s\n",
               (unsigned long long)bs.passages, (unsigned long long)bs.terms,
               cpq_human_bytes((double)bs.index_bytes, h2, sizeof h2),
               bs.bytes_in ? 100.0 * (double)bs.index_bytes / (double)bs.bytes_in : 0.0, dt,
               dt > 0 ? (double)bs.bytes_in / dt / 1e6 : 0.0);
    }
    cpq_builder_free(b);
    free(stopwords);
    return 0;
}

static int open_index(const char *path, unsigned flags, cpq_index **ix)
{
    cpq_errinfo e;
    memset(&e, 0, sizeof e);
    int rc = cpq_index_open(path, flags, ix, &e);
    if (rc) fprintf(stderr, "cpq-index: %s: %s\n", path, e.msg[0] ? e.msg : cpq_err_str(rc));
    return rc;
}

static int one_arg(int argc, char **argv, const char *usage, const char **path)
{
    if (argc == 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) { fputs(usage, stdout); return 0; }
    if (argc != 2 || argv[1][0] == '-') { fputs(usage, stderr); return EXIT_USAGE; }
    *path = argv[1];
    return -1;
}

static int cmd_info(int argc, char **argv)
{
    const char *path;
    int r = one_arg(argc, argv, info_usage, &path);
    if (r >= 0) return r;
    cpq_index *ix;
    if (open_index(path, CPQ_OPEN_NO_CHECKSUM, &ix)) return 1;
    const cpq_index_info *in = cpq_index_get_info(ix);
    double text = in->text_bytes ? (double)in->text_bytes : 1;
    printf("index %s\n", path);
    printf("format_version %u\n", in->version);
    printf("documents %llu\n", (unsigned long long)in->docs);
    printf("passages %llu\n", (unsigned long long)in->passages);
    printf("terms %llu\n", (unsigned long long)in->terms);
    printf("tokens %llu\n", (unsigned long long)in->tokens);
    printf("avg_passage_tokens %.2f\n", in->avg_len);
    printf("text_bytes %llu\n", (unsigned long long)in->text_bytes);
    printf("file_bytes %llu %.1f%%\n", (unsigned long long)in->file_bytes, 100.0 * (double)in->file_bytes / text);
    printf("language %s\n", in->analysis.language);
    printf("strip_accents %s\n", in->analysis.strip_accents ? "yes" : "no");
    printf("stopwords %s\n", in->analysis.stopwords && *in->analysis.stopwords ? in->analysis.stopwords : "(none)");
    printf("passage_words %u\n", in->passage_words);
    cpq_section_info s[64];
    size_t n = cpq_index_sections(ix, s, 64);
    for (size_t i = 0; i < n && i < 64; i++)
        printf("section %s %llu %.2f%%\n", s[i].name, (unsigned long long)s[i].length, 100.0 * (double)s[i].length / text);
    cpq_index_close(ix);
    return 0;
}

static int cmd_verify(int argc, char **argv)
{
    const char *path;
    int r = one_arg(argc, argv, verify_usage, &path);
    if (r >= 0) return r;
    cpq_index *ix;
    if (open_index(path, CPQ_OPEN_DEFAULT, &ix)) return 1;
    cpq_errinfo e;
    memset(&e, 0, sizeof e);
    int rc = cpq_index_verify(ix, &e);
    if (rc) fprintf(stderr, "cpq-index: %s: %s\n", path, e.msg[0] ? e.msg : cpq_err_str(rc));
    else printf("ok\n");
    cpq_index_close(ix);
    return rc ? 1 : 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) { fputs(main_usage, stderr); return EXIT_USAGE; }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help")) { fputs(main_usage, stdout); return 0; }
    if (!strcmp(cmd, "--version")) { printf("cpq-index %d.%d.%d\n", CPQ_INDEX_VERSION_MAJOR, CPQ_INDEX_VERSION_MINOR, CPQ_INDEX_VERSION_PATCH); return 0; }
    if (!strcmp(cmd, "build")) return cmd_build(argc - 1, argv + 1);
    if (!strcmp(cmd, "info")) return cmd_info(argc - 1, argv + 1);
    if (!strcmp(cmd, "verify")) return cmd_verify(argc - 1, argv + 1);
    fprintf(stderr, "cpq-index: unknown command '%s'\n%s", cmd, main_usage);
    return EXIT_USAGE;
}
