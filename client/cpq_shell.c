/*
 * cpq_shell.c - cpq with no command: an interactive shell on a terminal
 * (libedit line editing, history in ~/.cpq_history), or one command per
 * line from stdin otherwise.
 *
 * A line is a command as it would follow `cpq` on the command line
 * ("search --limit 3 quick fox", "get 12"), or, when its first word is not
 * a command, a query to search for.  Words are split on white space only:
 * quotes are kept, because they belong to the query language ("a phrase").
 * The connection is opened once and reopened if it breaks.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <editline/readline.h>

#include "cpq_tool.h"

#define SHELL_WORDS_MAX 256

static const char *const commands[] = {"search", "get", "doc", "count", "explain",
                                       "stats",  "info", "ping", "help"};

static int is_command(const char *w)
{
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(commands[i], w) == 0)
            return 1;
    return 0;
}

static void shell_help(void)
{
    fputs("Type a query to search for it, or a command:\n"
          "  search [--limit N] [--offset N] [--group] [--all] [--exact] QUERY\n"
          "  get PASSAGE | doc ID | doc --num N | count QUERY | explain PASSAGE QUERY\n"
          "  stats | info | ping | help [COMMAND] | quit\n"
          "`COMMAND --help` describes a command.\n",
          stdout);
}

/* Run one line.  Returns an exit status, or -1 for quit. */
static int run_line(cpqt *t, char *line)
{
    char *argv[SHELL_WORDS_MAX + 2];
    int argc = 1;   /* argv[0] is "search" when the line is a bare query */
    argv[0] = "search";
    for (char *p = strtok(line, " \t\r\n"); p != NULL; p = strtok(NULL, " \t\r\n")) {
        if (argc > SHELL_WORDS_MAX) {
            fprintf(stderr, "cpq: more than %d words\n", SHELL_WORDS_MAX);
            return CPQT_EXIT_USAGE;
        }
        argv[argc++] = p;
    }
    argv[argc] = NULL;
    if (argc == 1)
        return CPQT_EXIT_OK;
    const char *w = argv[1];
    if (strcmp(w, "quit") == 0 || strcmp(w, "exit") == 0 || strcmp(w, "\\q") == 0)
        return -1;
    if (strcmp(w, "help") == 0 && argc == 2) {
        shell_help();
        return CPQT_EXIT_OK;
    }
    if (is_command(w))
        return cpqt_run(t, argc - 1, argv + 1);
    /* A bare query: everything is query text, even words starting with "--". */
    char *qargv[SHELL_WORDS_MAX + 3];
    qargv[0] = "search";
    qargv[1] = "--";
    for (int i = 1; i < argc; i++)
        qargv[i + 1] = argv[i];
    qargv[argc + 1] = NULL;
    return cpqt_run(t, argc + 1, qargv);
}

static char *history_path(void)
{
    const char *home = getenv("HOME");
    if (home == NULL || home[0] == '\0')
        return NULL;
    size_t n = strlen(home) + sizeof "/.cpq_history";
    char *p = malloc(n);
    if (p != NULL)
        snprintf(p, n, "%s/.cpq_history", home);
    return p;
}

int cpqt_shell(cpqt *t, int interactive)
{
    int st = CPQT_EXIT_OK;
    t->shell = 1;
    if (!interactive) {
        char *line = NULL;
        size_t cap = 0;
        while (getline(&line, &cap, stdin) >= 0) {
            int r = run_line(t, line);
            if (r < 0)
                break;
            st = r;
            fflush(stdout);
        }
        free(line);
        return st;
    }

    char *hist = history_path();
    using_history();
    stifle_history(1000);
    if (hist != NULL)
        read_history(hist);
    printf("cpq %s - connected to %s port %u when you run a command; `help` lists them.\n",
           cpq_version(), t->host, t->port);
    char prompt[300];
    snprintf(prompt, sizeof prompt, "cpq %s:%u> ", t->host, t->port);
    for (;;) {
        char *line = readline(prompt);
        if (line == NULL) {
            putchar('\n');
            break;
        }
        if (line[strspn(line, " \t")] != '\0') {
            add_history(line);
            /* Saved at once: an interrupted shell keeps its history. */
            if (hist != NULL)
                write_history(hist);
        }
        int r = run_line(t, line);
        free(line);
        if (r < 0)
            break;
        st = r;
        fflush(stdout);
    }
    free(hist);
    /* The shell's own status: it ran; the last command's failure was shown. */
    return st == CPQT_EXIT_USAGE || st == CPQT_EXIT_NONE ? CPQT_EXIT_OK : st;
}
