#!/usr/bin/env bash
# bench/query.sh [BUILD_DIR] [CORPUS...] - top-10 query latency of cpq
# against SQLite FTS5 and Xapian, in-process, on the same queries and the
# same text in the same run; then how cpq's latency grows with the corpus.
#
# BUILD_DIR defaults to build-release (configured with --buildtype=release
# when missing).  CORPUS is a .jsonl file or a directory tree; the defaults
# are ../shared/corpora/gcide/corpus.jsonl and
# ../shared/corpora/linux-doc/Documentation, relative to the repository
# root; a missing one is skipped.  See bench/README.md, "Query latency".
#
# Environment:
#   CPQ_QB_QUERIES=FILE      the queries (default ../shared/bench/queries-aol.jsonl)
#   CPQ_QB_WARMUP=N          untimed passes (default 2)
#   CPQ_QB_PASSES=N          timed passes; a query's latency is their median (default 5)
#   CPQ_QB_SLOWEST=N         slowest queries listed per engine (default 10)
#   CPQ_QB_CLOCK=cpu         time with the thread's CPU time instead of the wall
#                            clock (CLOCK_MONOTONIC): figures that a busy machine's
#                            preemption does not inflate
#   CPQ_QB_SCALE="1 2 4 8"   corpus copies for the scaling table ("" to skip it)
#   CPQ_QB_SCALE_CORPUS=F    corpus copied (default ../shared/corpora/gcide/corpus.jsonl)
#   CPQ_QB_SCALE_PEERS=1     also scale FTS5 and Xapian (slow: minutes per size),
#                            with CPQ_QB_SCALE_PEER_PASSES timed passes (default 1)
#                            after one warm-up pass
#   CPQ_QB_INDEX_DIR=DIR     keep the indexes in DIR and reuse them on later runs
#                            (delete them after changing an engine's index format)
#   CPQ_BENCH_OUT=FILE       also append the tables to FILE as markdown
set -euo pipefail

here=$PWD
abs() {
    case $1 in
    /*) printf '%s\n' "$1" ;;
    *) printf '%s\n' "$here/$1" ;;
    esac
}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

build="build-release"
if [ $# -gt 0 ]; then
    build=$(abs "$1")
    shift
fi
corpora=()
if [ $# -gt 0 ]; then
    for c in "$@"; do
        corpora+=("$(abs "$c")")
    done
else
    corpora=(../shared/corpora/gcide/corpus.jsonl ../shared/corpora/linux-doc/Documentation)
fi
queries=${CPQ_QB_QUERIES:-../shared/bench/queries-aol.jsonl}
[ -n "${CPQ_QB_QUERIES:-}" ] && queries=$(abs "$queries")
warmup=${CPQ_QB_WARMUP:-2}
passes=${CPQ_QB_PASSES:-5}
slowest=${CPQ_QB_SLOWEST:-10}
clock=${CPQ_QB_CLOCK:-wall}
case $clock in
wall) clock_name="wall-clock time" ;;
cpu) clock_name="thread CPU time" ;;
*) echo "query.sh: CPQ_QB_CLOCK must be wall or cpu" >&2; exit 2 ;;
esac
scale=${CPQ_QB_SCALE-1 2 4 8}
scale_corpus=${CPQ_QB_SCALE_CORPUS:-../shared/corpora/gcide/corpus.jsonl}
[ -n "${CPQ_QB_SCALE_CORPUS:-}" ] && scale_corpus=$(abs "$scale_corpus")
scale_peers=${CPQ_QB_SCALE_PEERS:-0}
scale_peer_passes=${CPQ_QB_SCALE_PEER_PASSES:-1}

if [ ! -f "$queries" ]; then
    echo "query.sh: $queries: not found" >&2
    exit 1
fi

if [ -d "$build" ]; then
    meson setup --reconfigure "$build" >/dev/null
else
    meson setup "$build" --buildtype=release
fi
targets=()
known=$(ninja -C "$build" -t targets all 2>/dev/null | cut -d: -f1)
for t in bench/query_bench bench/peer_fts5_query bench/peer_xapian_query; do
    if grep -qx "$t" <<<"$known"; then
        targets+=("$t")
    fi
done
if [ ${#targets[@]} -gt 0 ]; then
    ninja -C "$build" "${targets[@]}"
fi
cpq=$build/bench/query_bench
fts5=$build/bench/peer_fts5_query
xapian=$build/bench/peer_xapian_query
for exe in "$cpq" "$fts5" "$xapian"; do
    [ -x "$exe" ] || echo "note: $exe not built; its rows will be missing" >&2
done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if [ -n "${CPQ_QB_INDEX_DIR:-}" ]; then
    idxdir=$(abs "$CPQ_QB_INDEX_DIR")
    mkdir -p "$idxdir"
else
    idxdir=$tmp/indexes
    mkdir -p "$idxdir"
fi

rev=$(git describe --always --dirty 2>/dev/null || echo unknown)

# A file-name-safe tag for a corpus: its parent directory and its name.
tag() {
    local p=${1%/}
    printf '%s-%s' "$(basename "$(dirname "$p")")" "$(basename "$p")" | tr -c 'A-Za-z0-9._-' '_'
}

# run NAME EXE EXT CORPUS COPIES WARMUP PASSES: measure one engine on CORPUS
# x COPIES, building its index unless it is already there; append its lines
# to $tmp/NAME.out (cleared first) and print nothing.  A failure is reported
# and leaves the output empty.
run() {
    local name=$1 exe=$2 ext=$3 corpus=$4 copies=$5 w=$6 p=$7
    local idx
    idx=$idxdir/$(tag "$corpus").x$copies.$ext
    : >"$tmp/$name.out"
    [ -x "$exe" ] || return 0
    local args=(--warmup "$w" --passes "$p" --slowest "$slowest" --clock "$clock")
    if [ ! -e "$idx" ]; then
        args+=(--build "$corpus" --copies "$copies")
    fi
    echo "  $name x$copies ..." >&2
    if ! "$exe" "${args[@]}" "$idx" "$queries" >"$tmp/$name.out" 2>"$tmp/$name.err"; then
        rm -rf "$idx" "$idx.build"
        # A kept index may be of an older format: build it once more.
        if [[ " ${args[*]} " != *" --build "* ]]; then
            echo "  $name: the kept $idx did not work; rebuilding it" >&2
            args+=(--build "$corpus" --copies "$copies")
            "$exe" "${args[@]}" "$idx" "$queries" >"$tmp/$name.out" 2>"$tmp/$name.err" || {
                echo "$name failed on $corpus x$copies:" >&2
                tail -n 5 "$tmp/$name.err" >&2
                : >"$tmp/$name.out"
                rm -rf "$idx" "$idx.build"
            }
        else
            echo "$name failed on $corpus x$copies:" >&2
            tail -n 5 "$tmp/$name.err" >&2
            : >"$tmp/$name.out"
        fi
    fi
    grep 'built' "$tmp/$name.err" >&2 || true
}

# render FMT LINES: the latency table of one corpus from the engines' row
# lines, kinds in the order term, union, intersection, phrase, then the
# others as they come; ratios are the peers' p50 and p99 over each cpq row's.
render() {
    awk -F '\t' -v fmt="$1" '
    $1 != "row" { next }
    { k = $3; e = $2
      if (!(k in seen)) { seen[k] = 1; kinds[++nk] = k }
      key = k SUBSEP e; has[key] = 1
      if (!(e in eseen)) { eseen[e] = 1; engines[++ne] = e }
      n[key] = $4; p50[key] = $5; p99[key] = $6; mx[key] = $7; mean[key] = $8
      zero[key] = $9; err[key] = $10 }
    function ratio(a, b) { return (a == "" || b == "" || a == "-" || b == "-" || b == 0) ? "" : sprintf("%.1f", a / b) }
    function ms(x) { return x == "-" ? "-" : sprintf("%.3f", x) }
    function line(c, m,   i, s) {
        if (fmt == "md") {
            s = "|"
            for (i = 1; i <= m; i++) s = s " " c[i] " |"
            print s
        } else {
            printf "%-18s %-12s %5s %9s %9s %9s %9s %5s %4s %8s %8s %8s %8s\n", c[1], c[2], c[3], c[4], c[5], c[6], c[7], c[8], c[9], c[10], c[11], c[12], c[13]
        }
    }
    END {
        split("kind engine n p50 p99 max mean zero err xap/cpq@p50 xap/cpq@p99 fts5/cpq@p50 fts5/cpq@p99", h, " ")
        line(h, 13)
        if (fmt == "md") print "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|"
        split("term union intersection phrase", pref, " ")
        m = 0
        for (i = 1; i <= 4; i++) if (pref[i] in seen) order[++m] = pref[i]
        for (i = 1; i <= nk; i++) if (kinds[i] !~ /^(term|union|intersection|phrase)$/) order[++m] = kinds[i]
        for (i = 1; i <= m; i++) {
            k = order[i]
            for (j = 1; j <= ne; j++) {
                e = engines[j]; key = k SUBSEP e
                if (!(key in has)) continue
                c[1] = k; c[2] = e; c[3] = n[key]; c[4] = ms(p50[key]); c[5] = ms(p99[key])
                c[6] = ms(mx[key]); c[7] = ms(mean[key]); c[8] = zero[key]; c[9] = err[key]
                c[10] = c[11] = c[12] = c[13] = ""
                if (e ~ /^cpq/) {
                    x = k SUBSEP "xapian"; f = k SUBSEP "fts5"
                    c[10] = ratio(p50[x], p50[key]); c[11] = ratio(p99[x], p99[key])
                    c[12] = ratio(p50[f], p50[key]); c[13] = ratio(p99[f], p99[key])
                }
                line(c, 13)
            }
        }
    }' "$2"
}

# notes LINES: the slowest queries of each cpq row, then every error and
# partial result, of any engine.
notes() {
    awk -F '\t' -v fmt="$1" '
    function q(s) { return fmt == "md" ? "`" s "`" : s }
    $1 == "slow" && $2 ~ /^cpq/ {
        if (!($2 in head)) { head[$2] = 1; printf "%sslowest %s queries (ms, kind, query):\n", (fmt == "md" ? "\n" : ""), $2
                             if (fmt == "md") print "" }
        printf "%s%9.3f  %-18s %s\n", (fmt == "md" ? "    " : "  "), $4, $3, $5 }
    $1 == "error" || $1 == "partial" {
        bad[++nb] = sprintf("%s%s %s %s: %s: %s", (fmt == "md" ? "- " : "  "), $2, $1, $3, q($4), $5) }
    END { if (nb) { printf "%serrors and partial results:\n", (fmt == "md" ? "\n" : ""); for (i = 1; i <= nb; i++) print bad[i] } }
    ' "$2"
}

emit() {  # emit TITLE LINES: the table and notes, as text and maybe as markdown
    echo
    echo "$1"
    render text "$2"
    notes text "$2"
    if [ -n "${CPQ_BENCH_OUT:-}" ]; then
        {
            echo
            echo "### $1"
            echo
            echo "cpq $rev, $(date -u +%Y-%m-%dT%H:%MZ), $(uname -n), $(nproc) CPUs," \
                "load average $(cut -d' ' -f1-3 /proc/loadavg)," \
                "warmup $warmup, passes $passes, $clock_name"
            echo
            render md "$2"
            notes md "$2"
        } >>"$CPQ_BENCH_OUT"
    fi
}

info() {  # info LINES: "engine docs=N" of each engine
    awk -F '\t' '$1 == "info" { split($3, a, " "); printf "%s%s %s", sep, $2, a[1]; sep = ", " }' "$1"
}

for corpus in "${corpora[@]}"; do
    if [ ! -e "$corpus" ]; then
        echo "skipping $corpus: not found" >&2
        continue
    fi
    echo "== $corpus" >&2
    run cpq "$cpq" cpqx "$corpus" 1 "$warmup" "$passes"
    run fts5 "$fts5" fts5.db "$corpus" 1 "$warmup" "$passes"
    run xapian "$xapian" xapian "$corpus" 1 "$warmup" "$passes"
    lines=$tmp/$(tag "$corpus").lines
    cat "$tmp/cpq.out" "$tmp/fts5.out" "$tmp/xapian.out" >"$lines"
    emit "$corpus: top-10 latency in ms ($clock_name), $(wc -l <"$queries") queries, median of $passes passes after $warmup warm-up ($(info "$lines"); cpq $rev; load average $(cut -d' ' -f1-3 /proc/loadavg))" "$lines"
done

# Scaling: the same queries on 1x, 2x, 4x, 8x copies of one corpus.
if [ -n "$scale" ]; then
    if [ ! -e "$scale_corpus" ]; then
        echo "skipping the scaling table: $scale_corpus not found" >&2
    else
        echo "== scaling $scale_corpus x{$scale}" >&2
        all=$tmp/scale.lines
        : >"$all"
        for k in $scale; do
            run cpq "$cpq" cpqx "$scale_corpus" "$k" "$warmup" "$passes"
            sed "s/^/$k\t/" "$tmp/cpq.out" >>"$all"
            if [ "$scale_peers" = 1 ]; then
                run fts5 "$fts5" fts5.db "$scale_corpus" "$k" 1 "$scale_peer_passes"
                run xapian "$xapian" xapian "$scale_corpus" "$k" 1 "$scale_peer_passes"
                sed "s/^/$k\t/" "$tmp/fts5.out" "$tmp/xapian.out" >>"$all"
            fi
            # A copy is only needed for its own size.
            [ -n "${CPQ_QB_INDEX_DIR:-}" ] || [ "$k" = 1 ] \
                || rm -rf "$idxdir/$(tag "$scale_corpus").x$k."*
        done
        scale_render() {
            awk -F '\t' -v fmt="$1" '
            $2 == "info" { split($4, a, " "); sub("docs=", "", a[1]); docs[$1 SUBSEP $3] = a[1] }
            $2 != "row" { next }
            { c = $1; e = $3; k = $4
              if (!(k in ks)) { ks[k] = 1; kinds[++nk] = k }
              if (!(e in es)) { es[e] = 1; engines[++ne] = e }
              if (!(c in cs)) { cs[c] = 1; copies[++nc] = c }
              key = k SUBSEP e SUBSEP c; has[key] = 1
              n[key] = $5; p50[key] = $6; p99[key] = $7; mx[key] = $8 }
            function g(a, b) { return (a == "-" || b == "-" || b == 0) ? "" : sprintf("%.2f", a / b) }
            function ms(x) { return x == "-" ? "-" : sprintf("%.3f", x) }
            function line(c) {
                if (fmt == "md") print "| " c[1] " | " c[2] " | " c[3] " | " c[4] " | " c[5] " | " c[6] " | " c[7] " | " c[8] " | " c[9] " | " c[10] " |"
                else printf "%-13s %-12s %6s %8s %5s %9s %9s %9s %9s %9s\n", c[1], c[2], c[3], c[4], c[5], c[6], c[7], c[8], c[9], c[10]
            }
            END {
                split("kind engine copies docs n p50 p99 max p50/1x p99/1x", h, " "); line(h)
                if (fmt == "md") print "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|"
                split("union term intersection phrase", pref, " ")
                for (i = 1; i <= 4; i++) {
                    k = pref[i]; if (!(k in ks)) continue
                    for (j = 1; j <= ne; j++) {
                        e = engines[j]; base = k SUBSEP e SUBSEP copies[1]
                        for (x = 1; x <= nc; x++) {
                            key = k SUBSEP e SUBSEP copies[x]
                            if (!(key in has)) continue
                            dk = copies[x] SUBSEP (e == "cpq-grouped" ? "cpq" : e)
                            r[1] = k; r[2] = e; r[3] = "x" copies[x]; r[4] = docs[dk]; r[5] = n[key]
                            r[6] = ms(p50[key]); r[7] = ms(p99[key]); r[8] = ms(mx[key])
                            r[9] = (base in has) ? g(p50[key], p50[base]) : ""
                            r[10] = (base in has) ? g(p99[key], p99[base]) : ""
                            line(r)
                        }
                    }
                }
            }' "$2"
        }
        # The slowest cpq queries at the largest size, then every error and
        # partial result at any size.
        scale_slow() {
            awk -F '\t' -v fmt="$1" -v last="$(awk '{ print $NF }' <<<"$scale")" '
            $1 == last && $2 == "slow" && $3 == "cpq" {
                if (!h) { h = 1; printf "%sslowest cpq queries at x%s (ms, kind, query):\n%s", (fmt == "md" ? "\n" : ""), last, (fmt == "md" ? "\n" : "") }
                printf "%s%9.3f  %-18s %s\n", (fmt == "md" ? "    " : "  "), $5, $4, $6 }
            $2 == "error" || $2 == "partial" { bad[++nb] = sprintf("%sx%s %s %s %s: %s: %s", (fmt == "md" ? "- " : "  "), $1, $3, $2, $4, $5, $6) }
            END { if (nb) { printf "%serrors and partial results:\n", (fmt == "md" ? "\n" : ""); for (i = 1; i <= nb; i++) print bad[i] } }' "$2"
        }
        title="Scaling: $scale_corpus copied x{$scale} (unique ids), top-10 latency in ms ($clock_name); growth relative to the first size"
        echo
        echo "$title"
        scale_render text "$all"
        scale_slow text "$all"
        if [ -n "${CPQ_BENCH_OUT:-}" ]; then
            { echo; echo "### $title"; echo; scale_render md "$all"; scale_slow md "$all"; } >>"$CPQ_BENCH_OUT"
        fi
    fi
fi
