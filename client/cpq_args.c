/*
 * cpq_args.c - the commands' options and help texts, and the small
 * parsers the tool shares.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cpq_tool.h"

static const struct cpqt_cmdhelp cmdhelp[] = {
    {"search", "cpq search [--limit N] [--offset N] [--snippet N] [--group] [--all] [--exact]\n"
               "           [--k1 F] [--b F] [--budget MS] [--] QUERY...",
     "Search the index and print the best passages, best first: rank, score,\n"
     "document id, passage number, and a snippet with the query's words\n"
     "highlighted.  QUERY is cpq's query language (words, \"phrases\", +required,\n"
     "-excluded, prefix*, OR, NEAR); the words are joined with spaces.\n"
     "  --limit N     hits to print (0..1000, default 10)\n"
     "  --offset N    hits to skip first (offset + limit <= 10000)\n"
     "  --snippet N   snippet window in bytes (0: none, or 16..65536; default 200)\n"
     "  --group       one hit per document: its best passage\n"
     "  --all         all-words mode: every bare word is required\n"
     "  --exact       count every match exactly (slower)\n"
     "  --k1 F, --b F BM25 parameters (default: the server's)\n"
     "  --budget MS   time budget for the query\n"
     "Exit status 1 when nothing matches."},
    {"get", "cpq get PASSAGE", "Print one passage (by its number, as search shows it): its document,\n"
                               "ordinal, byte range and text.  Exit status 1 when there is none."},
    {"doc", "cpq doc [--passages] ID | cpq doc [--passages] --num N",
     "Print a document by its id (or by its number with --num): its facts and\n"
     "whole text.  --passages lists its passages instead of the text.\n"
     "Exit status 1 when there is none."},
    {"count", "cpq count [--group] [--all] [--] QUERY...",
     "Print the exact number of passages matching QUERY (documents with\n"
     "--group).  Exit status 1 when it is 0."},
    {"explain", "cpq explain [--k1 F] [--b F] PASSAGE QUERY...",
     "Show how PASSAGE scores for QUERY: each scoring term with its document\n"
     "frequency, idf, term frequency, length normalisation and share of the score."},
    {"stats", "cpq stats", "Print the server's statistics, one `name value` per line."},
    {"info", "cpq info", "Print the index's and server's description, one `name value` per line."},
    {"ping", "cpq ping", "Check that the server answers; prints PONG and the round trip."},
    {"help", "cpq help [COMMAND]", "Print the tool's help, or a command's."},
};

const struct cpqt_cmdhelp *cpqt_find_help(const char *name)
{
    for (size_t i = 0; i < sizeof cmdhelp / sizeof cmdhelp[0]; i++)
        if (strcmp(cmdhelp[i].name, name) == 0)
            return &cmdhelp[i];
    return NULL;
}

void cpqt_command_help(const struct cpqt_cmdhelp *h, FILE *f)
{
    fprintf(f, "usage: %s\n\n%s\n", h->usage, h->text);
}

int cpqt_usage_error(const cpqt *t, const char *cmd, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "cpq%s%s: %s\n", cmd ? " " : "", cmd ? cmd : "", msg);
    if (!t->shell)
        fprintf(stderr, "Try `cpq %s%s--help`.\n", cmd ? cmd : "", cmd ? " " : "");
    return CPQT_EXIT_USAGE;
}

int cpqt_parse_uint(const char *s, unsigned long long max, unsigned long long *out)
{
    if (s == NULL || *s < '0' || *s > '9')
        return -1;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0' || v > max)
        return -1;
    *out = v;
    return 0;
}

static int parse_double(const char *s, double *out)
{
    if (s == NULL || *s == '\0')
        return -1;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno != 0 || *end != '\0' || !(v >= 0))
        return -1;
    *out = v;
    return 0;
}

/* Parse the options of command cmd from argv (argv[0] is the command),
 * leaving the arguments in argv[*first..argc).  Which options a command
 * takes is given by allow (a string of letters: l o s g a e k b u n p). */
int cpqt_parse_cmdopts(const cpqt *t, const char *cmd, const char *allow, int argc, char **argv,
                         cpqt_opts *o, int *first)
{
    memset(o, 0, sizeof *o);
    cpq_client_search_opts_init(&o->so);
    int i = 1;
    for (; i < argc; i++) {
        char *a = argv[i];
        if (strcmp(a, "--") == 0) {
            i++;
            break;
        }
        if (a[0] != '-' || a[1] == '\0')
            break;
        /* A negative number or an excluded -word is a query, not an option:
         * options are long (--x) or -h. */
        if (a[1] != '-' && strcmp(a, "-h") != 0)
            break;
        char name[32];
        const char *val = NULL;
        const char *eq = strchr(a, '=');
        size_t nl = eq ? (size_t)(eq - a) : strlen(a);
        if (nl >= sizeof name)
            return cpqt_usage_error(t, cmd, "unknown option %s", a);
        memcpy(name, a, nl);
        name[nl] = '\0';
        if (eq)
            val = eq + 1;
        struct {
            const char *name;
            char letter;
            int takes;
        } const table[] = {
            {"--limit", 'l', 1},   {"--offset", 'o', 1}, {"--snippet", 's', 1},
            {"--group", 'g', 0},   {"--all", 'a', 0},    {"--exact", 'e', 0},
            {"--k1", 'k', 1},      {"--b", 'b', 1},      {"--budget", 'u', 1},
            {"--num", 'n', 1},     {"--passages", 'p', 0}, {"--help", 'h', 0},
            {"-h", 'h', 0},
        };
        char letter = 0;
        int takes = 0;
        for (size_t k = 0; k < sizeof table / sizeof table[0]; k++)
            if (strcmp(table[k].name, name) == 0) {
                letter = table[k].letter;
                takes = table[k].takes;
            }
        if (letter == 0 || (letter != 'h' && strchr(allow, letter) == NULL))
            return cpqt_usage_error(t, cmd, "unknown option %s", name);
        if (takes && val == NULL) {
            if (i + 1 >= argc)
                return cpqt_usage_error(t, cmd, "option %s needs a value", name);
            val = argv[++i];
        } else if (!takes && val != NULL) {
            return cpqt_usage_error(t, cmd, "option %s takes no value", name);
        }
        unsigned long long u = 0;
        double d = 0;
        int bad = 0;
        switch (letter) {
        case 'h': o->help = 1; break;
        case 'g': o->so.group = 1; break;
        case 'a': o->so.all = 1; break;
        case 'e': o->so.exact = 1; break;
        case 'p': o->passages = 1; break;
        case 'l': bad = cpqt_parse_uint(val, 1000, &u); o->so.limit = (unsigned)u; break;
        case 'o': bad = cpqt_parse_uint(val, 10000, &u); o->so.offset = (unsigned)u; break;
        case 's':
            bad = cpqt_parse_uint(val, 65536, &u) || (u != 0 && u < 16);
            o->so.snippet = (unsigned)u;
            break;
        case 'u': bad = cpqt_parse_uint(val, 60000, &u) || u == 0; o->so.budget_ms = (unsigned)u; break;
        case 'k': bad = parse_double(val, &d) || d > 10; o->so.k1 = d; break;
        case 'b': bad = parse_double(val, &d) || d > 1; o->so.b = d; break;
        case 'n': bad = cpqt_parse_uint(val, UINT32_MAX, &o->docnum); o->num = 1; break;
        default: break;
        }
        if (bad)
            return cpqt_usage_error(t, cmd, "bad value for %s", name);
    }
    if (o->so.offset + o->so.limit > 10000)
        return cpqt_usage_error(t, cmd, "%s", "offset + limit is above 10000");
    *first = i;
    return CPQT_EXIT_OK;
}

/* argv[from..argc) joined with single spaces (malloc'd), or NULL. */
char *cpqt_join(int argc, char **argv, int from)
{
    size_t n = 1;
    for (int i = from; i < argc; i++)
        n += strlen(argv[i]) + 1;
    char *s = malloc(n), *p = s;
    if (s == NULL)
        return NULL;
    for (int i = from; i < argc; i++) {
        size_t k = strlen(argv[i]);
        if (i > from)
            *p++ = ' ';
        memcpy(p, argv[i], k);
        p += k;
    }
    *p = '\0';
    return s;
}
