#!/usr/bin/env bash
# bench/build.sh [BUILD_DIR] [CORPUS...] - indexing throughput and index size
# of cpq against SQLite FTS5 and Xapian, on the same text in the same run.
#
# BUILD_DIR defaults to build-release (configured with --buildtype=release
# when missing).  CORPUS is a .jsonl file or a directory tree; the defaults
# are ../shared/corpora/gcide/corpus.jsonl and
# ../shared/corpora/linux-doc/Documentation, relative to the repository root.
# With CPQ_BENCH_OUT=FILE the tables are also appended to FILE as markdown.
# See bench/README.md for what is measured.
set -euo pipefail

# Arguments are relative to where the script is called from; the defaults
# are relative to the repository root, where it runs.
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

# Reconfigure an existing build dir too: meson.build compiles an indexer
# module only if its file existed when meson last ran.
if [ -d "$build" ]; then
    meson setup --reconfigure "$build" >/dev/null
else
    meson setup "$build" --buildtype=release
fi
# Build only what is run, so a broken test elsewhere does not block the
# benchmark; a target absent from the build (its library missing) is skipped.
targets=()
known=$(ninja -C "$build" -t targets all 2>/dev/null | cut -d: -f1)
for t in indexer/cpq-index bench/peer_fts5 bench/peer_xapian; do
    if grep -qx "$t" <<<"$known"; then
        targets+=("$t")
    fi
done
if [ ${#targets[@]} -gt 0 ]; then
    ninja -C "$build" "${targets[@]}"
fi

cpq=$build/indexer/cpq-index
fts5=$build/bench/peer_fts5
xapian=$build/bench/peer_xapian
for exe in "$cpq" "$fts5" "$xapian"; do
    [ -x "$exe" ] || echo "note: $exe not built; its rows will read n/a" >&2
done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

rev=$(git describe --always --dirty 2>/dev/null || echo unknown)

# field KEY LINE: the value of KEY=... in a peer's output line.
field() {
    tr ' ' '\n' <<<"$2" | sed -n "s/^$1=//p"
}

now() {
    date +%s.%N
}

sum() {
    awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a + b }'
}

# Run a peer; print its output line, or nothing if it failed.
run_peer() {
    local name=$1 exe=$2 out=$3 input=$4
    [ -x "$exe" ] || return 0
    if "$exe" "$out" "$input" >"$tmp/$name.out" 2>"$tmp/$name.err"; then
        grep "^$name " "$tmp/$name.out" | tail -n 1
    else
        echo "$name failed:" >&2
        tail -n 5 "$tmp/$name.err" >&2
    fi
}

# Run cpq-index build with THREADS; print "seconds size", or nothing.
run_cpq() {
    local threads=$1 input=$2 out=$3
    [ -x "$cpq" ] || return 0
    local t0 t1
    t0=$(now)
    if "$cpq" build -o "$out" --threads "$threads" "$input" >"$tmp/cpq$threads.log" 2>&1; then
        t1=$(now)
        echo "$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }') $(stat -c %s "$out")"
    else
        echo "cpq-index --threads $threads failed:" >&2
        tail -n 5 "$tmp/cpq$threads.log" >&2
    fi
}

# render FORMAT ROWS: print the table in ROWS (tab-separated: engine,
# seconds, size; "-" when unknown) as text or markdown, with ratios of each
# cpq row to the fts5 and xapian rows.
render() {
    awk -F '\t' -v fmt="$1" -v bytes="$bytes_in" '
    function mbps(s) { return (s == "-" || s <= 0) ? "-" : bytes / 1e6 / s }
    function pct(z) { return z == "-" ? "-" : 100 * z / bytes }
    function num(x, p) { return x == "-" ? "n/a" : sprintf("%." p "f", x) }
    function ratio(a, b) { return (a == "-" || b == "-" || b == 0) ? "" : sprintf("%.2f", a / b) }
    { n++; eng[n] = $1; m[n] = mbps($2); p[n] = pct($3)
      if ($1 == "fts5") { fm = m[n]; fp = p[n] }
      if ($1 == "xapian") { xm = m[n]; xp = p[n] } }
    END {
        h[1] = "engine"; h[2] = "MB/s"; h[3] = "size %"; h[4] = "MB/s / fts5"
        h[5] = "MB/s / xapian"; h[6] = "size / fts5"; h[7] = "size / xapian"
        if (fmt == "md") {
            print "| " h[1] " | " h[2] " | " h[3] " | " h[4] " | " h[5] " | " h[6] " | " h[7] " |"
            print "|---|--:|--:|--:|--:|--:|--:|"
        } else {
            printf "%-20s %8s %8s %12s %14s %12s %14s\n", h[1], h[2], h[3], h[4], h[5], h[6], h[7]
        }
        for (i = 1; i <= n; i++) {
            c[1] = eng[i]; c[2] = num(m[i], 2); c[3] = num(p[i], 1)
            c[4] = c[5] = c[6] = c[7] = ""
            if (eng[i] ~ /^cpq/) {
                c[4] = ratio(m[i], fm); c[5] = ratio(m[i], xm)
                c[6] = ratio(p[i], fp); c[7] = ratio(p[i], xp)
            }
            if (fmt == "md")
                print "| " c[1] " | " c[2] " | " c[3] " | " c[4] " | " c[5] " | " c[6] " | " c[7] " |"
            else
                printf "%-20s %8s %8s %12s %14s %12s %14s\n", c[1], c[2], c[3], c[4], c[5], c[6], c[7]
        }
    }' "$2"
}

for corpus in "${corpora[@]}"; do
    if [ ! -e "$corpus" ]; then
        echo "skipping $corpus: not found" >&2
        continue
    fi
    echo "== $corpus" >&2
    rm -rf "${tmp:?}"/*
    # Warm the page cache so no engine pays for the first read from disk.
    if [ -d "$corpus" ]; then
        find "$corpus" -type f -exec cat {} + >/dev/null
    else
        cat "$corpus" >/dev/null
    fi

    rows=$tmp/rows.tsv
    : >"$rows"
    c1=$(run_cpq 1 "$corpus" "$tmp/t1.cpqx")
    c2=$(run_cpq 2 "$corpus" "$tmp/t2.cpqx")
    f=$(run_peer fts5 "$fts5" "$tmp/fts5.db" "$corpus")
    x=$(run_peer xapian "$xapian" "$tmp/xapian" "$corpus")
    [ -n "$f" ] && echo "$f" >&2
    [ -n "$x" ] && echo "$x" >&2

    # The peers count the document text they indexed; cpq reads the same text.
    bytes_in=
    [ -n "$f" ] && bytes_in=$(field bytes_in "$f")
    [ -z "$bytes_in" ] && [ -n "$x" ] && bytes_in=$(field bytes_in "$x")
    if [ -z "$bytes_in" ] && [ -d "$corpus" ]; then
        bytes_in=$(find "$corpus" -type f -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }')
    fi
    if [ -z "$bytes_in" ] || [ "$bytes_in" = 0 ]; then
        echo "skipping $corpus: no peer ran, so the size of its text is unknown" >&2
        continue
    fi

    printf 'cpq (1 thread)\t%s\t%s\n' "${c1% *}" "${c1#* }" >>"$rows"
    printf 'cpq (2 threads)\t%s\t%s\n' "${c2% *}" "${c2#* }" >>"$rows"
    # A peer's second row adds its clean-up pass (VACUUM, compaction) to its
    # time and shows the size after it.
    if [ -n "$f" ]; then
        printf 'fts5\t%s\t%s\n' "$(field seconds "$f")" "$(field size "$f")" >>"$rows"
        printf 'fts5 + vacuum\t%s\t%s\n' \
            "$(sum "$(field seconds "$f")" "$(field vacuum_seconds "$f")")" \
            "$(field vacuum_size "$f")" >>"$rows"
    fi
    if [ -n "$x" ]; then
        printf 'xapian\t%s\t%s\n' "$(field seconds "$x")" "$(field size "$x")" >>"$rows"
        printf 'xapian + compact\t%s\t%s\n' \
            "$(sum "$(field seconds "$x")" "$(field compact_seconds "$x")")" \
            "$(field compact_size "$x")" >>"$rows"
    fi
    sed -i 's/\t\t/\t-\t/g; s/\t$/\t-/' "$rows"  # a failed cpq run leaves empty fields

    sections=
    if [ -n "$c1" ]; then
        sections=$("$cpq" info "$tmp/t1.cpqx" 2>/dev/null | grep '^section ' || true)
        [ -z "$sections" ] && echo "note: cpq-index info gave no section sizes" >&2
    fi

    title="$corpus: $(awk -v b="$bytes_in" 'BEGIN { printf "%.1f", b / 1e6 }') MB of text"
    echo
    echo "$title (cpq $rev)"
    render text "$rows"
    if [ -n "$sections" ]; then
        echo "cpq sections (1 thread):"
        awk '{ printf "  %-18s %12s %8s\n", $2, $3, $4 }' <<<"$sections"
    fi

    if [ -n "${CPQ_BENCH_OUT:-}" ]; then
        {
            echo
            echo "### $title"
            echo
            echo "cpq $rev, $(date -u +%Y-%m-%dT%H:%MZ), $(uname -n), $(nproc) CPUs"
            echo
            render md "$rows"
            if [ -n "$sections" ]; then
                echo
                echo "| cpq section (1 thread) | bytes | % of text |"
                echo "|---|--:|--:|"
                awk '{ print "| " $2 " | " $3 " | " $4 " |" }' <<<"$sections"
            fi
        } >>"$CPQ_BENCH_OUT"
    fi
done
