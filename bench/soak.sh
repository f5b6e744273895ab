#!/usr/bin/env bash
# bench/soak.sh [BUILD_DIR] [CORPUS] - run cpqd for a while (default 10
# minutes) under mixed load from many connections - good clients checking
# every answer against a reference, bad clients (garbage, invalid UTF-8,
# overlong lines, half lines and abrupt disconnects, slow readers,
# trickles, absurd options) - while the index is reloaded every few
# seconds (RELOAD and SIGHUP by turns, every other time after replacing the
# file).  Prints requests served, errors by kind, wrong answers, crashes
# and resident memory; exits 0 only when there was no wrong answer, no
# crash, memory grew by at most 10% (median of the last fifth of per-second
# samples against the median of the first fifth), and cpqd then exited 0 on
# SIGTERM.
#
# BUILD_DIR defaults to build-release; CORPUS to
# ../shared/corpora/scifact/corpus.jsonl, falling back to corpus/.
#
# Environment: CPQ_SOAK_SECONDS (600), CPQ_SOAK_GOOD (16), CPQ_SOAK_BAD (8),
# CPQ_SOAK_RELOAD_EVERY (3), CPQ_SOAK_QUERIES (../shared/bench/queries-aol.jsonl,
# falling back to a few built-in queries).
set -euo pipefail
here=$PWD
abs() { case $1 in /*) printf '%s\n' "$1" ;; *) printf '%s\n' "$here/$1" ;; esac; }
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
build=build-release
[ $# -gt 0 ] && { build=$(abs "$1"); shift; }
corpus=../shared/corpora/scifact/corpus.jsonl
[ -e "$corpus" ] || corpus=corpus
[ $# -gt 0 ] && { corpus=$(abs "$1"); shift; }

[ -d "$build" ] || meson setup "$build" --buildtype=release >/dev/null
ninja -C "$build" indexer/cpq-index daemon/cpqd bench/soak >/dev/null

tmp=$(mktemp -d)
cpqd_pid=""
trap '[ -n "$cpqd_pid" ] && kill "$cpqd_pid" 2>/dev/null; rm -rf "$tmp"' EXIT
queries=${CPQ_SOAK_QUERIES:-../shared/bench/queries-aol.jsonl}
if [ ! -f "$queries" ]; then
  queries=$tmp/queries.jsonl
  printf '%s\n' '{"query":"the"}' '{"query":"water light"}' '{"query":"\"of the\""}' \
    '{"query":"+cell +protein"}' '{"query":"comput*"}' >"$queries"
fi
"$build/indexer/cpq-index" build -o "$tmp/index.cpqx" "$corpus" >/dev/null
"$build/daemon/cpqd" --index "$tmp/index.cpqx" --listen 127.0.0.1:0 --log-level warn \
  >"$tmp/cpqd.out" 2>"$tmp/cpqd.err" &
cpqd_pid=$!
for _ in $(seq 100); do grep -q listening "$tmp/cpqd.out" 2>/dev/null && break; sleep 0.1; done
port=$(sed -n 's/^cpqd listening on .*:\([0-9]*\)$/\1/p' "$tmp/cpqd.out")
[ -n "$port" ] || { cat "$tmp/cpqd.err" >&2; exit 1; }

status=0
"$build/bench/soak" --port "$port" --pid "$cpqd_pid" --queries "$queries" --index "$tmp/index.cpqx" \
  --seconds "${CPQ_SOAK_SECONDS:-600}" --good "${CPQ_SOAK_GOOD:-16}" --bad "${CPQ_SOAK_BAD:-8}" \
  --reload-every "${CPQ_SOAK_RELOAD_EVERY:-3}" || status=1
kill -TERM "$cpqd_pid"
rc=0; wait "$cpqd_pid" || rc=$?
cpqd_pid=""
echo "  cpqd exit status on SIGTERM $rc"
echo "  cpqd log lines: $(wc -l <"$tmp/cpqd.err") (errors: $(grep -c ' ERROR ' "$tmp/cpqd.err" || true))"
[ "$rc" -eq 0 ] || status=1
exit $status
