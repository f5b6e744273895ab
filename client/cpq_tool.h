/*
 * cpq_tool.h - the cpq command line tool's private interface:
 *   cpq_cli.c    main, global options, the tool's help
 *   cpq_args.c   command options, help texts, small parsers
 *   cpq_cmd.c    the commands and their exit statuses
 *   cpq_out.c    output for people (colour on a terminal) and JSON Lines
 *   cpq_shell.c  the interactive shell (libedit) and the stdin loop
 */
#ifndef CPQ_TOOL_H
#define CPQ_TOOL_H

#include <stdio.h>

#include "cpq.h"

/* Exit statuses (doc/cpq.1, EXIT STATUS). */
enum {
    CPQT_EXIT_OK = 0,
    CPQT_EXIT_NONE = 1,      /* no results: 0 hits, count 0, no such passage/document */
    CPQT_EXIT_USAGE = 2,     /* bad command line, or a request the server rejects as malformed */
    CPQT_EXIT_FAIL = 3       /* connection or server error */
};

typedef struct cpqt {
    const char *host;
    unsigned port;
    int json;
    int color;               /* highlight with ANSI colour */
    int timeout_ms;          /* 0: the library's defaults */
    char *password;          /* from --password-file or CPQ_PASSWORD; NULL: none */
    cpq_client *c;           /* connected on first use */
    int shell;               /* running inside the shell: errors do not exit */
} cpqt;

/* Run one command (argv[0] is its name).  Returns an exit status. */
int cpqt_run(cpqt *t, int argc, char **argv);
/* The shell: interactive with libedit when stdin is a terminal, else one
 * command per line from stdin.  Returns an exit status. */
int cpqt_shell(cpqt *t, int interactive);
/* Print the tool's help (the command list) to f. */
void cpqt_usage(FILE *f);

/* cpq_args.c */

/* The options of one command. */
typedef struct cpqt_opts {
    cpq_client_search_opts so;
    int help;
    int num;            /* doc --num */
    int passages;       /* doc --passages */
    unsigned long long docnum;
} cpqt_opts;

struct cpqt_cmdhelp {
    const char *name, *usage, *text;
};

/* The help of command name, or NULL when there is no such command. */
const struct cpqt_cmdhelp *cpqt_find_help(const char *name);
void cpqt_command_help(const struct cpqt_cmdhelp *h, FILE *f);
/* "cpq CMD: message" (and a hint outside the shell) on stderr; returns
 * CPQT_EXIT_USAGE. */
int cpqt_usage_error(const cpqt *t, const char *cmd, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
/* A decimal <= max: 0 and *out, or -1. */
int cpqt_parse_uint(const char *s, unsigned long long max, unsigned long long *out);
/* Parse the options of command cmd (argv[0]) that allow lists (letters,
 * see cpq_args.c) into *o; the arguments are argv[*first..argc).  Returns
 * CPQT_EXIT_OK or CPQT_EXIT_USAGE (reported). */
int cpqt_parse_cmdopts(const cpqt *t, const char *cmd, const char *allow, int argc, char **argv,
                       cpqt_opts *o, int *first);
/* argv[from..argc) joined with single spaces (malloc'd), or NULL. */
char *cpqt_join(int argc, char **argv, int from);

/* cpq_out.c */
void cpqt_json_str(FILE *f, const char *s, size_t n);
/* A value from STATS/INFO: a JSON number when it is one, else a string. */
void cpqt_json_value(FILE *f, const char *s);
void cpqt_print_hits(const cpqt *t, const cpq_client_hits *r);
void cpqt_print_passage(const cpqt *t, const cpq_client_passage *p);
void cpqt_print_document(const cpqt *t, const cpq_client_document *d, int passages);
void cpqt_print_explain(const cpqt *t, const cpq_client_explanation *e);
void cpqt_print_kv(const cpqt *t, const char *type, const cpq_client_kvlist *l);
void cpqt_print_count(const cpqt *t, uint64_t n, uint64_t gen);
/* An error: "cpq: message" on stderr, and with --json also an error
 * object on stdout. */
void cpqt_print_error(const cpqt *t, int rc, const char *code, const char *msg);

#endif
