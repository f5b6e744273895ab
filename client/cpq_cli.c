/*
 * cpq_cli.c - cpq, the command line client of cpqd: main, the global
 * options and the tool's help.  The commands are in cpq_cmd.c, their
 * options in cpq_args.c, output in cpq_out.c, the shell in cpq_shell.c.
 * Everything it knows about the server it learns through libcpq (cpq.h);
 * doc/cpq.1 is its manual.
 *
 *   cpq [--host H] [--port P] [--json] [--timeout MS] [--color WHEN]
 *       [--password-file F] COMMAND [OPTIONS] ARGS...
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cpq_tool.h"

void cpqt_usage(FILE *f)
{
    fputs("usage: cpq [OPTIONS] COMMAND [COMMAND OPTIONS] ARGS...\n"
          "       cpq [OPTIONS]                  (no command: an interactive shell)\n"
          "\n"
          "Query a running cpqd passage search server.\n"
          "\n"
          "Commands:\n"
          "  search QUERY...         ranked passages with snippets\n"
          "  get PASSAGE             one passage's text and facts\n"
          "  doc ID                  a document's facts and text (--num N: by number)\n"
          "  count QUERY...          the exact number of matching passages\n"
          "  explain PASSAGE QUERY...  how a passage scores for a query\n"
          "  stats                   the server's statistics\n"
          "  info                    the index and server description\n"
          "  ping                    check that the server answers\n"
          "  help [COMMAND]          this text, or a command's help\n"
          "\n"
          "Options:\n"
          "  -H, --host HOST         server host name or address (default $CPQ_HOST or 127.0.0.1)\n"
          "  -p, --port PORT         server port (default $CPQ_PORT or 7878)\n"
          "  -j, --json              print JSON Lines (one object per hit or reply)\n"
          "  -t, --timeout MS        connect, read and write timeout in milliseconds\n"
          "      --color WHEN        highlight in colour: auto (default), always, never\n"
          "      --password-file F   send AUTH with the first line of F ($CPQ_PASSWORD)\n"
          "  -h, --help              this help;  -V, --version: the version\n"
          "\n"
          "`cpq COMMAND --help` describes a command.  Exit status: 0 success, 1 no results,\n"
          "2 usage error, 3 connection or server error.\n",
          f);
}


static char *read_password_file(const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return NULL;
    char *line = NULL;
    size_t cap = 0;
    ssize_t n = getline(&line, &cap, f);
    fclose(f);
    if (n < 0) {
        free(line);
        return strdup("");
    }
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = '\0';
    return line;
}

int main(int argc, char **argv)
{
    cpqt t;
    memset(&t, 0, sizeof t);
    t.host = getenv("CPQ_HOST");
    if (t.host == NULL || t.host[0] == '\0')
        t.host = "127.0.0.1";
    t.port = CPQ_CLIENT_PORT_DEFAULT;
    const char *color = "auto", *pwfile = NULL, *env_port = getenv("CPQ_PORT");
    unsigned long long u;
    if (env_port != NULL && env_port[0] != '\0') {
        if (cpqt_parse_uint(env_port, 65535, &u) != 0 || u == 0)
            return cpqt_usage_error(&t, NULL, "CPQ_PORT=%s is not a port", env_port);
        t.port = (unsigned)u;
    }

    int i = 1;
    for (; i < argc; i++) {
        char *a = argv[i];
        if (a[0] != '-')
            break;
        if (strcmp(a, "--") == 0) {
            i++;
            break;
        }
        const char *eq = strchr(a, '=');
        size_t nl = eq ? (size_t)(eq - a) : strlen(a);
        const char *val = eq ? eq + 1 : NULL;
#define OPT(s) (nl == strlen(s) && strncmp(a, s, nl) == 0)
#define NEED_VAL()                                                            \
    do {                                                                      \
        if (val == NULL) {                                                    \
            if (i + 1 >= argc)                                                \
                return cpqt_usage_error(&t, NULL, "option %s needs a value", a);   \
            val = argv[++i];                                                  \
        }                                                                     \
    } while (0)
        if (OPT("-h") || OPT("--help")) {
            cpqt_usage(stdout);
            return CPQT_EXIT_OK;
        } else if (OPT("-V") || OPT("--version")) {
            printf("cpq %s (libcpq %s)\n", CPQ_VERSION_STRING, cpq_version());
            return CPQT_EXIT_OK;
        } else if (OPT("-j") || OPT("--json")) {
            t.json = 1;
        } else if (OPT("-H") || OPT("--host")) {
            NEED_VAL();
            t.host = val;
        } else if (OPT("-p") || OPT("--port")) {
            NEED_VAL();
            if (cpqt_parse_uint(val, 65535, &u) != 0 || u == 0)
                return cpqt_usage_error(&t, NULL, "bad port %s", val);
            t.port = (unsigned)u;
        } else if (OPT("-t") || OPT("--timeout")) {
            NEED_VAL();
            if (cpqt_parse_uint(val, 86400000, &u) != 0 || u == 0)
                return cpqt_usage_error(&t, NULL, "bad timeout %s (milliseconds, > 0)", val);
            t.timeout_ms = (int)u;
        } else if (OPT("--color") || OPT("--colour")) {
            NEED_VAL();
            color = val;
            if (strcmp(color, "auto") && strcmp(color, "always") && strcmp(color, "never"))
                return cpqt_usage_error(&t, NULL, "--color takes auto, always or never, not %s", val);
        } else if (OPT("--password-file")) {
            NEED_VAL();
            pwfile = val;
        } else {
            return cpqt_usage_error(&t, NULL, "unknown option %s", a);
        }
#undef OPT
#undef NEED_VAL
    }

    if (strcmp(color, "always") == 0)
        t.color = 1;
    else if (strcmp(color, "auto") == 0) {
        const char *nc = getenv("NO_COLOR");
        t.color = isatty(STDOUT_FILENO) && (nc == NULL || nc[0] == '\0');
    }
    if (t.json)
        t.color = 0;

    if (pwfile != NULL) {
        t.password = read_password_file(pwfile);
        if (t.password == NULL) {
            fprintf(stderr, "cpq: %s: %s\n", pwfile, strerror(errno));
            return CPQT_EXIT_USAGE;
        }
    } else {
        const char *pw = getenv("CPQ_PASSWORD");
        if (pw != NULL && pw[0] != '\0')
            t.password = strdup(pw);
    }

    int st;
    if (i < argc)
        st = cpqt_run(&t, argc - i, argv + i);
    else
        st = cpqt_shell(&t, isatty(STDIN_FILENO));

    if (t.c != NULL && cpq_client_connected(t.c))
        cpq_client_close(t.c);
    cpq_client_free(t.c);
    free(t.password);
    if (fflush(stdout) != 0 && st == CPQT_EXIT_OK)
        st = CPQT_EXIT_FAIL;
    return st;
}
