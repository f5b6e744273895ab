/*
 * cpqd.c - the cpq search daemon: options, start-up and shut-down.
 *
 * main: parse the options (a bad one: a message naming it, exit 2) ->
 * open and verify the index as generation 1 (failure: exit 1) -> bind and
 * start the workers (server.c) -> serve until SIGTERM/SIGINT -> tear down
 * in reverse order -> exit 0.  See doc/cpqd.8 for the user's view.
 */
#define _GNU_SOURCE 1 /* sched_getaffinity, CPU_COUNT */
#include <errno.h>
#include <getopt.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cpqd.h"
#include "cpqproto.h"
#include "gen.h"
#include "log.h"
#include "server.h"

static const char usage[] =
    "usage: cpqd --index FILE [options]\n"
    "\n"
    "Serve a cpq index over the cpq line protocol (see cpqd(8) and protocol/PROTOCOL.md).\n"
    "\n"
    "  --index FILE              the index to serve (required); RELOAD and SIGHUP reopen it\n"
    "  --listen HOST:PORT        address to listen on (default 127.0.0.1:7878; port 0 picks\n"
    "                            a free port; IPv6 as [::1]:7878)\n"
    "  --threads N               worker threads (default: the CPUs cpqd may run on)\n"
    "  --max-clients N           open connections at most (default 1024)\n"
    "  --idle-timeout S          close connections idle for S seconds (default 300; 0 = never)\n"
    "  --query-budget MS         time budget of one query in ms (default 1000)\n"
    "  --max-reply BYTES         largest reply (default 16777216)\n"
    "  --passage-cache SIZE      keep this much recently fetched passage text decompressed,\n"
    "                            all workers together, e.g. 64M (the default) or 0 (off)\n"
    "  --password-file F         require AUTH with the first line of F\n"
    "  --admin-password-file F   RELOAD needs AUTH with the first line of F\n"
    "  --no-remote-reload        refuse RELOAD over the network (SIGHUP still reloads)\n"
    "  --slow-ms MS              log queries slower than MS ms (default 100)\n"
    "  --log-level LEVEL         error, warn, info (default) or debug\n"
    "  --help                    this text\n"
    "  --version                 the version\n";

static int bad_arg(const char *opt, const char *val, const char *why)
{
    fprintf(stderr, "cpqd: %s%s%s: %s\n", opt, val ? " " : "", val ? val : "", why);
    fprintf(stderr, "Try 'cpqd --help'.\n");
    return 2;
}

/* A decimal number in [lo, hi]; 0 or -1. */
static int parse_num(const char *s, unsigned long long lo, unsigned long long hi, unsigned long long *out)
{
    if (!s || *s < '0' || *s > '9') return -1;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

/* HOST:PORT, [V6]:PORT.  0 or -1. */
static int parse_listen(const char *s, cpqd_config *cfg)
{
    const char *colon;
    size_t hl;
    const char *h = s;
    if (*s == '[') {
        const char *rb = strchr(s, ']');
        if (!rb || rb[1] != ':') return -1;
        h = s + 1;
        hl = (size_t)(rb - h);
        colon = rb + 1;
    } else {
        colon = strrchr(s, ':');
        if (!colon || memchr(s, ':', (size_t)(colon - s))) return -1;   /* a bare IPv6 needs [] */
        hl = (size_t)(colon - s);
    }
    unsigned long long port;
    if (hl == 0 || hl >= sizeof cfg->host || parse_num(colon + 1, 0, 65535, &port) != 0) return -1;
    memcpy(cfg->host, h, hl);
    cfg->host[hl] = '\0';
    snprintf(cfg->port, sizeof cfg->port, "%llu", port);
    return 0;
}

/* The first line of path, without its line end.  0 or -1 with why. */
static int read_password(const char *path, char **out, size_t *len, const char **why)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        *why = strerror(errno);
        return -1;
    }
    char buf[4096];
    char *line = fgets(buf, sizeof buf, f);
    fclose(f);
    if (!line) {
        *why = "the file is empty";
        return -1;
    }
    size_t n = strlen(buf);
    if (n == sizeof buf - 1 && buf[n - 1] != '\n') {
        *why = "the first line is longer than 4095 bytes";
        return -1;
    }
    while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r')) n--;
    if (n == 0) {
        *why = "the password (the first line) is empty";
        return -1;
    }
    *out = malloc(n + 1);
    if (!*out) {
        *why = "out of memory";
        return -1;
    }
    memcpy(*out, buf, n);
    (*out)[n] = '\0';
    *len = n;
    explicit_bzero(buf, sizeof buf);
    return 0;
}

enum {
    OPT_INDEX = 256, OPT_LISTEN, OPT_THREADS, OPT_MAX_CLIENTS, OPT_IDLE, OPT_BUDGET, OPT_MAX_REPLY,
    OPT_PASSAGE_CACHE, OPT_PASSWORD, OPT_ADMIN_PASSWORD, OPT_NO_REMOTE_RELOAD, OPT_SLOW, OPT_LOG_LEVEL, OPT_HELP, OPT_VERSION,
};

static const struct option longopts[] = {
    { "index", required_argument, NULL, OPT_INDEX },
    { "listen", required_argument, NULL, OPT_LISTEN },
    { "threads", required_argument, NULL, OPT_THREADS },
    { "max-clients", required_argument, NULL, OPT_MAX_CLIENTS },
    { "idle-timeout", required_argument, NULL, OPT_IDLE },
    { "query-budget", required_argument, NULL, OPT_BUDGET },
    { "max-reply", required_argument, NULL, OPT_MAX_REPLY },
    { "passage-cache", required_argument, NULL, OPT_PASSAGE_CACHE },
    { "password-file", required_argument, NULL, OPT_PASSWORD },
    { "admin-password-file", required_argument, NULL, OPT_ADMIN_PASSWORD },
    { "no-remote-reload", no_argument, NULL, OPT_NO_REMOTE_RELOAD },
    { "slow-ms", required_argument, NULL, OPT_SLOW },
    { "log-level", required_argument, NULL, OPT_LOG_LEVEL },
    { "help", no_argument, NULL, OPT_HELP },
    { "version", no_argument, NULL, OPT_VERSION },
    { NULL, 0, NULL, 0 },
};

/* The CPUs this process may run on: its affinity mask, which taskset,
 * cpusets and container limits narrow (as nproc(1) counts them); the
 * online CPUs if the mask cannot be read. */
static long usable_cpus(void)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0) return CPU_COUNT(&set);
    return sysconf(_SC_NPROCESSORS_ONLN);
}

/* Fill cfg from argv.  Returns -1 to go on, or an exit status (0 after
 * --help/--version, 2 after a bad argument). */
static int parse_args(int argc, char **argv, cpqd_config *cfg)
{
    unsigned long long v;
    const char *why;
    long cpus = usable_cpus();
    memset(cfg, 0, sizeof *cfg);
    snprintf(cfg->host, sizeof cfg->host, "127.0.0.1");
    snprintf(cfg->port, sizeof cfg->port, "%d", CPQ_PROTO_PORT_DEFAULT);
    cfg->threads = cpus > 0 ? (cpus > 256 ? 256 : (int)cpus) : 1;
    cfg->max_clients = CPQD_MAX_CLIENTS_DEFAULT;
    cfg->idle_timeout_s = CPQD_IDLE_TIMEOUT_DEFAULT;
    cfg->budget_ms = CPQD_QUERY_BUDGET_DEFAULT;
    cfg->max_reply = CPQ_PROTO_REPLY_MAX;
    cfg->slow_ms = CPQD_SLOW_MS_DEFAULT;
    cfg->passage_cache = CPQD_PASSAGE_CACHE_DEFAULT;

    opterr = 0;
    int ch;
    while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        const char *name = optind > 0 && optind <= argc ? argv[optind - 1] : "?";
        switch (ch) {
        case OPT_INDEX:
            if (!*optarg) return bad_arg("--index", NULL, "needs a file name");
            cfg->index_path = optarg;
            break;
        case OPT_LISTEN:
            if (parse_listen(optarg, cfg) != 0)
                return bad_arg("--listen", optarg, "expected HOST:PORT or [IPV6]:PORT, port 0..65535");
            break;
        case OPT_THREADS:
            if (parse_num(optarg, 1, 256, &v) != 0) return bad_arg("--threads", optarg, "expected 1..256");
            cfg->threads = (int)v;
            break;
        case OPT_MAX_CLIENTS:
            if (parse_num(optarg, 1, 1000000, &v) != 0)
                return bad_arg("--max-clients", optarg, "expected 1..1000000");
            cfg->max_clients = (long)v;
            break;
        case OPT_IDLE:
            if (parse_num(optarg, 0, 86400 * 365, &v) != 0)
                return bad_arg("--idle-timeout", optarg, "expected seconds, 0..31536000 (0 = never)");
            cfg->idle_timeout_s = (unsigned)v;
            break;
        case OPT_BUDGET:
            if (parse_num(optarg, 1, CPQ_PROTO_BUDGET_MAX, &v) != 0)
                return bad_arg("--query-budget", optarg, "expected milliseconds, 1..60000");
            cfg->budget_ms = (unsigned)v;
            break;
        case OPT_MAX_REPLY:
            if (parse_num(optarg, 4096, (unsigned long long)1 << 30, &v) != 0)
                return bad_arg("--max-reply", optarg, "expected bytes, 4096..1073741824");
            cfg->max_reply = (size_t)v;
            break;
        case OPT_PASSAGE_CACHE:
            if (cpq_parse_size(optarg, &cfg->passage_cache) != 0 || cfg->passage_cache > ((size_t)1 << 40))
                return bad_arg("--passage-cache", optarg, "expected a size up to 1T, e.g. 64M, 1G or 0");
            break;
        case OPT_PASSWORD:
            free(cfg->password);
            cfg->password = NULL;
            if (read_password(optarg, &cfg->password, &cfg->password_len, &why) != 0)
                return bad_arg("--password-file", optarg, why);
            break;
        case OPT_ADMIN_PASSWORD:
            free(cfg->admin_password);
            cfg->admin_password = NULL;
            if (read_password(optarg, &cfg->admin_password, &cfg->admin_password_len, &why) != 0)
                return bad_arg("--admin-password-file", optarg, why);
            break;
        case OPT_NO_REMOTE_RELOAD:
            cfg->no_remote_reload = 1;
            break;
        case OPT_SLOW:
            if (parse_num(optarg, 0, 3600000, &v) != 0)
                return bad_arg("--slow-ms", optarg, "expected milliseconds, 0..3600000");
            cfg->slow_ms = (unsigned)v;
            break;
        case OPT_LOG_LEVEL: {
            int l = cpqd_log_level_parse(optarg);
            if (l < 0) return bad_arg("--log-level", optarg, "expected error, warn, info or debug");
            cpqd_log_set_level((cpqd_log_level)l);
            break;
        }
        case OPT_HELP:
            fputs(usage, stdout);
            return 0;
        case OPT_VERSION:
            printf("cpqd %s (protocol %d)\n", CPQD_VERSION, CPQ_PROTO_VERSION);
            return 0;
        case ':':
            return bad_arg(name, NULL, "needs a value");
        default:
            if (optopt) return bad_arg(name, NULL, "needs a value");
            return bad_arg(name, NULL, "unknown option");
        }
    }
    if (optind < argc) return bad_arg(argv[optind], NULL, "unexpected argument");
    if (!cfg->index_path) return bad_arg("--index", NULL, "missing: the index file to serve is required");
    return -1;
}

int main(int argc, char **argv)
{
    cpqd_config cfg;
    cpqd_server *srv = NULL;
    char why[CPQ_ERRMSG_MAX + 64];
    int status = parse_args(argc, argv, &cfg);
    if (status >= 0) goto done;
    status = 1;
    if (cpqd_gen_init(cfg.index_path, why, sizeof why) != 0) {
        cpqd_error("cannot serve %s: %s", cfg.index_path, why);
        goto done;
    }
    if (cpqd_server_start(&cfg, &srv) != 0) goto done_gen;
    status = cpqd_server_run(srv);
    cpqd_server_free(srv);
done_gen:
    cpqd_gen_shutdown();
done:
    if (cfg.password) explicit_bzero(cfg.password, cfg.password_len);
    if (cfg.admin_password) explicit_bzero(cfg.admin_password, cfg.admin_password_len);
    free(cfg.password);
    free(cfg.admin_password);
    return status;
}
