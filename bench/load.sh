#!/usr/bin/env bash
# bench/load.sh [BUILD_DIR] [CORPUS] - cpqd under load over loopback, beside
# redis-server in the same run: PING (one at a time and pipelined 16 deep)
# and SEARCH with the AOL queries, at 1, 16, 64 and 256 connections;
# requests per second, p50/p99 latency, the server's CPU time per request,
# and cpqd's PING rate as a share of redis-server's.  See bench/README.md,
# "Daemon load".
#
# PING is a contest of per-request overhead, so by default (CPQ_LOAD_PIN=1,
# on a machine with 2 or more CPUs) the generator runs on CPU 0 and both
# servers on the other CPUs (taskset): each server gets the same cores and
# neither shares them with the generator.  cpqd then starts one worker per
# CPU it may use.  SEARCH runs unpinned, with cpqd's default workers on all
# the cores, the generator beside them.
#
# BUILD_DIR defaults to build-release (configured with --buildtype=release
# when missing); CORPUS to ../shared/corpora/gcide/corpus.jsonl.
#
# Environment:
#   CPQ_LOAD_CONNS="1 16 64 256"   connection counts
#   CPQ_LOAD_DURATION=5            measured seconds per run (after 1 s warm-up)
#   CPQ_LOAD_THREADS=              cpqd --threads (default: cpqd's, one per CPU it may use)
#   CPQ_LOAD_PIN=1                 PING: generator on CPU 0, servers on CPUs 1..n-1 (0: no pinning)
#   CPQ_LOAD_ROUNDS=3              PING: runs per server and row, taking turns; the median is shown
#   CPQ_LOAD_GEN_THREADS=1         load generator threads
#   CPQ_LOAD_SEARCH_OPTS=          options for every SEARCH (e.g. ":snippet=0")
#   CPQ_LOAD_CPQD_ARGS=            more cpqd options (e.g. "--passage-cache 0")
#   CPQ_LOAD_NICE=5                SEARCH is also run with the generator at this nice
#                                  level ("" to skip those rows; see bench/README.md)
#   CPQ_LOAD_RATES="10000 15000 20000"  SEARCH open loop (load --rate): offered
#                                  queries/s at CPQ_LOAD_RATE_CONNS=64 connections
#                                  ("" to skip)
#   CPQ_LOAD_QUERIES=FILE          default ../shared/bench/queries-aol.jsonl
#   CPQ_LOAD_INDEX=FILE            index to serve (built from CORPUS when missing;
#                                  default /tmp/cpq-load/gcide.cpqx)
#   CPQ_BENCH_OUT=FILE             also append the tables to FILE as markdown
set -euo pipefail

here=$PWD
abs() { case $1 in /*) printf '%s\n' "$1" ;; *) printf '%s\n' "$here/$1" ;; esac; }
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

build=build-release
[ $# -gt 0 ] && { build=$(abs "$1"); shift; }
corpus=../shared/corpora/gcide/corpus.jsonl
[ $# -gt 0 ] && { corpus=$(abs "$1"); shift; }
queries=${CPQ_LOAD_QUERIES:-../shared/bench/queries-aol.jsonl}
conns=${CPQ_LOAD_CONNS:-1 16 64 256}
duration=${CPQ_LOAD_DURATION:-5}
gen_threads=${CPQ_LOAD_GEN_THREADS:-1}
search_opts=${CPQ_LOAD_SEARCH_OPTS:-}
read -r -a cpqd_args <<<"${CPQ_LOAD_CPQD_ARGS:-}"
rates=${CPQ_LOAD_RATES-10000 15000 20000}
gen_nice=${CPQ_LOAD_NICE-5}
rate_conns=${CPQ_LOAD_RATE_CONNS:-64}
index=${CPQ_LOAD_INDEX:-/tmp/cpq-load/gcide.cpqx}
out=${CPQ_BENCH_OUT:-}
rounds=${CPQ_LOAD_ROUNDS:-3}
ncpu=$(nproc)
pin=${CPQ_LOAD_PIN:-1}
[ "$ncpu" -ge 2 ] || pin=0
gen_pin=() srv_pin=()
if [ "$pin" = 1 ]; then
    command -v taskset >/dev/null || { echo "load.sh: taskset (util-linux) missing; set CPQ_LOAD_PIN=0" >&2; exit 1; }
    gen_pin=(taskset -c 0) srv_pin=(taskset -c "1-$((ncpu - 1))")
fi

[ -d "$build" ] || meson setup "$build" --buildtype=release >/dev/null
ninja -C "$build" indexer/cpq-index daemon/cpqd bench/load >/dev/null

if [ ! -f "$index" ]; then
    [ -e "$corpus" ] || { echo "load.sh: no corpus at $corpus and no index at $index" >&2; exit 1; }
    mkdir -p "$(dirname "$index")"
    echo "building $index from $corpus" >&2
    "$build/indexer/cpq-index" build -o "$index" "$corpus" >&2
fi
[ -f "$queries" ] || { echo "load.sh: no query file at $queries" >&2; exit 1; }

tmp=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT

# Start a cpqd on a free port (it prints "cpqd listening on HOST:PORT"),
# under the command prefix given (taskset, or nothing); sets spid, sport
# and sworkers.  NAME names its output files.
threads_arg=()
[ -n "${CPQ_LOAD_THREADS:-}" ] && threads_arg=(--threads "$CPQ_LOAD_THREADS")
start_cpqd() { # NAME [PREFIX...]
    local name=$1; shift
    "$@" "$build/daemon/cpqd" --index "$index" --listen 127.0.0.1:0 --max-clients 4096 \
        --log-level info "${threads_arg[@]}" "${cpqd_args[@]}" >"$tmp/$name.out" 2>"$tmp/$name.err" &
    spid=$!
    pids+=("$spid")
    for _ in $(seq 100); do grep -q listening "$tmp/$name.out" 2>/dev/null && break; sleep 0.1; done
    sport=$(sed -n 's/^cpqd listening on .*:\([0-9]*\)$/\1/p' "$tmp/$name.out")
    [ -n "$sport" ] || { echo "load.sh: cpqd did not start:" >&2; cat "$tmp/$name.err" >&2; exit 1; }
    sworkers=$(sed -n 's/.*with \([0-9]*\) worker thread.*/\1/p' "$tmp/$name.err")
}

# The SEARCH cpqd, unpinned.
start_cpqd cpqd
cpid=$spid cport=$sport workers=$sworkers
# The PING cpqd: on the servers' CPUs when pinning (then its default is a
# worker per CPU it may use), else the same as the first.
start_cpqd cpqd1 "${srv_pin[@]}"
cpid1=$spid cport1=$sport workers1=$sworkers

rport=""
if command -v redis-server >/dev/null; then
    # redis-server cannot pick a free port itself: take one the kernel gave.
    rport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    "${srv_pin[@]}" redis-server --bind 127.0.0.1 --port "$rport" --save '' --appendonly no \
        --maxclients 4096 >"$tmp/redis.log" 2>&1 &
    pids+=($!)
    rpid=$!
    for _ in $(seq 50); do grep -q "Ready to accept" "$tmp/redis.log" 2>/dev/null && break; sleep 0.1; done
else
    echo "load.sh: redis-server not installed (apt-get install redis-server): PING has no peer" >&2
fi

gen() { "${pinned[@]}" "$build/bench/load" --threads "$gen_threads" --duration "$duration" "$@"; }
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }   # utime + stime of a process
hz=$(getconf CLK_TCK)
declare -A rps p50 p99 errs cpu
run() { # key, server pid, then load arguments
    local key=$1 spid=$2; shift 2
    local line t0 t1
    t0=$(ticks "$spid")
    line=$(gen "$@")
    t1=$(ticks "$spid")
    read -r _ _ _ _ _ _ r a b _ e <<<"$line"
    rps[$key]=$r p50[$key]=$a p99[$key]=$b errs[$key]=$e
    # Server CPU per request (the warm-up second included on both sides).
    cpu[$key]=$(awk -v t=$((t1 - t0)) -v hz="$hz" -v r="$r" -v d="$duration" \
        'BEGIN { if (r > 0) printf "%.1f", t / hz * 1e6 / (r * (d + 1)); else printf "-" }')
}

# Copy the median round of key's rounds (by rate) to key itself.
median() {
    local key=$1 i m
    m=$(for ((i = 1; i <= rounds; i++)); do echo "${rps[$key $i]} $i"; done | sort -n | awk -v n="$rounds" 'NR == int((n + 1) / 2) { print $2 }')
    rps[$key]=${rps[$key $m]} p50[$key]=${p50[$key $m]} p99[$key]=${p99[$key $m]} errs[$key]=${errs[$key $m]} cpu[$key]=${cpu[$key $m]}
}

for c in $conns; do
    pinned=("${gen_pin[@]}")
    # The two servers take turns, rounds times; each row shows its median
    # round (rates on this shared machine move by tens of percent between
    # runs a few seconds apart).
    for d in 1 16; do
        for ((i = 1; i <= rounds; i++)); do
            run "cpq ping $c $d $i" "$cpid1" --port "$cport1" --conns "$c" --pipeline "$d"
            [ -n "$rport" ] && run "redis ping $c $d $i" "$rpid" --port "$rport" --proto redis --conns "$c" --pipeline "$d"
        done
        median "cpq ping $c $d"
        [ -n "$rport" ] && median "redis ping $c $d"
    done
    pinned=()
    run "cpq search $c 1" "$cpid" --port "$cport" --conns "$c" --pipeline 1 --mode search \
        --queries "$queries" --search-opts "$search_opts"
    run "cpq nosnip $c 1" "$cpid" --port "$cport" --conns "$c" --pipeline 1 --mode search \
        --queries "$queries" --search-opts ":snippet=0${search_opts:+ $search_opts}"
    if [ -n "$gen_nice" ]; then
        pinned=(nice -n "$gen_nice")
        run "cpq nice $c 1" "$cpid" --port "$cport" --conns "$c" --pipeline 1 --mode search \
            --queries "$queries" --search-opts "$search_opts"
        pinned=()
    fi
done

for rt in $rates; do
    run "cpq rate $rt" "$cpid" --port "$cport" --conns "$rate_conns" --pipeline 1 --mode search \
        --queries "$queries" --search-opts "$search_opts" --rate "$rt"
done

# One table row: LABEL, then run KEY's rate, p50, p99 (ms), CPU and errors.
row() { printf '| %s | %s | %s | %s | %s | %s |\n' "$1" "${rps[$2]}" "$(ms "${p50[$2]}")" "$(ms "${p99[$2]}")" "${cpu[$2]}" "${errs[$2]}"; }
ms() { awk -v u="$1" 'BEGIN { printf "%.3f", u / 1000 }'; }
ratio() { [ -n "$2" ] && [ "$2" != 0 ] && awk -v a="$1" -v b="$2" 'BEGIN { printf "%.0f%%", 100 * a / b }' || printf -- '-'; }
{
    echo
    if [ "$pin" = 1 ]; then
        echo "### PING, requests/s (p50 / p99 ms; server CPU us per request) - generator on CPU 0, servers on CPUs 1-$((ncpu - 1)); median of $rounds alternating runs"
    else
        echo "### PING, requests/s (p50 / p99 ms; server CPU us per request) - no pinning; median of $rounds alternating runs"
    fi
    echo
    echo "| conns | depth | cpqd ($workers1 worker(s)) | redis-server | cpqd/redis |"
    echo "|---|---|---|---|---|"
    for c in $conns; do
        for d in 1 16; do
            k="cpq ping $c $d"; r="redis ping $c $d"
            printf '| %s | %s | %s (%s / %s; %s) | %s | %s |\n' "$c" "$d" \
                "${rps[$k]}" "$(ms "${p50[$k]}")" "$(ms "${p99[$k]}")" "${cpu[$k]}" \
                "$( [ -n "$rport" ] && printf '%s (%s / %s; %s)' "${rps[$r]}" "$(ms "${p50[$r]}")" "$(ms "${p99[$r]}")" "${cpu[$r]}" || printf -- '-')" \
                "$(ratio "${rps[$k]}" "${rps[$r]:-}")"
        done
    done
    echo
    echo "### SEARCH top-10 with snippets${search_opts:+ ($search_opts)}, AOL queries on $(basename "$index"); cpqd with $workers worker(s), unpinned"
    echo
    echo "| conns | queries/s | p50 ms | p99 ms | server CPU us/query | errors | without snippets (:snippet=0): q/s | p50 ms | p99 ms | us/query |"
    echo "|---|---|---|---|---|---|---|---|---|---|"
    for c in $conns; do
        k="cpq search $c 1"; n="cpq nosnip $c 1"
        printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$c" "${rps[$k]}" "$(ms "${p50[$k]}")" "$(ms "${p99[$k]}")" "${cpu[$k]}" "${errs[$k]}" \
            "${rps[$n]}" "$(ms "${p50[$n]}")" "$(ms "${p99[$n]}")" "${cpu[$n]}"
    done
    if [ -n "$gen_nice" ]; then
        echo
        echo "### SEARCH with snippets, the generator at nice $gen_nice (cpqd at 0): the scheduler prefers cpqd's workers when both want a core"
        echo
        echo "| conns | queries/s | p50 ms | p99 ms | server CPU us/query | errors |"
        echo "|---|---|---|---|---|---|"
        for c in $conns; do row "$c" "cpq nice $c 1"; done
    fi
    if [ -n "$rates" ]; then
        echo
        echo "### SEARCH with snippets, open loop: $rate_conns connections offered a fixed rate (load --rate; latency from when each query was due)"
        echo
        echo "| offered q/s | achieved q/s | p50 ms | p99 ms | server CPU us/query | errors |"
        echo "|---|---|---|---|---|---|"
        for rt in $rates; do row "$rt" "cpq rate $rt"; done
    fi
} | tee -a "${out:-/dev/null}"
