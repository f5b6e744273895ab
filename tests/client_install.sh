#!/bin/sh
# client_install.sh - libcpq as an outside program sees it: `meson install`
# into a DESTDIR, then build a small program through pkg-config against the
# installed header and library (shared and static) and run it; check the
# soname, that only cpq.h's functions are exported, that the tool and its
# man page are installed, and that cpq.h compiles as strict C99 and as C++.
#
#   client_install.sh BUILD_ROOT SOURCE_ROOT
set -eu

BUILD=$1
SRC=$2
CC=${CC:-cc}
CXX=${CXX:-c++}

T=$(mktemp -d "${TMPDIR:-/tmp}/cpqinst.XXXXXX")
trap 'rm -rf "$T"' EXIT INT TERM
D=$T/dest

fail() { echo "FAIL: $*"; exit 1; }

# A sanitizer build installs instrumented libraries: programs linked to them
# need the same runtime first.
SAN=""
san=$(meson introspect --buildoptions "$BUILD" 2>/dev/null \
      | tr '{' '\n' | sed -n 's/.*"name": "b_sanitize".*"value": "\([^"]*\)".*/\1/p' | head -1)
case $san in ""|none) ;; *) SAN="-fsanitize=$san" ;; esac

meson install -C "$BUILD" --no-rebuild --destdir "$D" >"$T/install.log" 2>&1 \
    || { cat "$T/install.log"; fail "meson install"; }

PC=$(find "$D" -name cpq.pc | head -1)
[ -n "$PC" ] || fail "no cpq.pc installed"
PCDIR=$(dirname "$PC")
LIBDIR=$(dirname "$PCDIR")
echo "cpq.pc in $PCDIR"

export PKG_CONFIG_PATH="$PCDIR"
export PKG_CONFIG_SYSROOT_DIR="$D"
export PKG_CONFIG_LIBDIR="$PCDIR"
pkg-config --exists cpq || fail "pkg-config does not find cpq"
[ "$(pkg-config --modversion cpq)" = "0.1.0" ] || fail "version $(pkg-config --modversion cpq)"
CFLAGS=$(pkg-config --cflags cpq)
LIBS=$(pkg-config --libs cpq)
echo "cflags: $CFLAGS"
echo "libs:   $LIBS"

# ---- the installed files ---------------------------------------------------
for f in "$LIBDIR/libcpq.so.0.1.0" "$LIBDIR/libcpq.a"; do
    [ -f "$f" ] || fail "missing $f"
done
[ -L "$LIBDIR/libcpq.so.0" ] || fail "no libcpq.so.0 symlink"
[ -L "$LIBDIR/libcpq.so" ] || fail "no libcpq.so symlink"
find "$D" -path '*/include/cpq.h' | grep -q . || fail "cpq.h not installed"
find "$D" -path '*/bin/cpq' | grep -q . || fail "the cpq tool is not installed"
find "$D" -path '*/man1/cpq.1*' | grep -q . || fail "cpq.1 is not installed"
if command -v readelf >/dev/null 2>&1; then
    readelf -d "$LIBDIR/libcpq.so.0.1.0" | grep -q 'SONAME.*\[libcpq.so.0\]' || fail "soname"
fi

# ---- only the public API is exported ----------------------------------------
if command -v nm >/dev/null 2>&1; then
    nm -D --defined-only "$LIBDIR/libcpq.so.0.1.0" | awk '$2 ~ /^[TDBRVW]$/ {print $3}' \
        | sed 's/@.*//' | sort -u >"$T/exported"
    [ -s "$T/exported" ] || fail "no exported symbols?"
    if grep -v -E '^(cpq_client_[a-z0-9_]+|cpq_version|cpq_version_number|cpq_strerror|cpq_rc_name)$' "$T/exported"; then
        fail "symbols exported beyond cpq.h (above)"
    fi
    # Every function declared in cpq.h is exported.
    grep -o -E 'CPQ_API [^(]*\b(cpq_[a-z0-9_]+)\(' "$SRC/client/cpq.h" \
        | grep -o -E 'cpq_[a-z0-9_]+\($' | tr -d '(' | sort -u >"$T/declared"
    missing=$(comm -23 "$T/declared" "$T/exported")
    [ -z "$missing" ] || fail "declared but not exported: $missing"
    echo "exported: $(wc -l <"$T/exported") symbols, all in cpq.h"
fi

# ---- a program built through pkg-config -----------------------------------------
cat >"$T/prog.c" <<'EOF'
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <unistd.h>
#include <cpq.h>

int main(void)
{
    if (strcmp(cpq_version(), CPQ_VERSION_STRING) != 0)
        return 10;
    cpq_client_opts o;
    cpq_client_opts_init(&o);
    o.connect_timeout_ms = 2000;
    cpq_client *c = cpq_client_new(&o);
    if (c == NULL)
        return 11;
    /* A port nobody listens on: bind one, then close it. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t sl = sizeof a;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || getsockname(fd, (struct sockaddr *)&a, &sl) != 0)
        return 12;
    close(fd);
    int rc = cpq_client_connect(c, "127.0.0.1", ntohs(a.sin_port));
    printf("libcpq %s: connect: %s (%s): %s\n", cpq_version(), cpq_rc_name(rc), cpq_strerror(rc),
           cpq_client_errmsg(c));
    cpq_client_free(c);
    return rc == CPQ_RC_CONNECT ? 0 : 13;
}
EOF
# shellcheck disable=SC2086
$CC -std=c99 -Wall -Wextra -Werror -D_DEFAULT_SOURCE $SAN $CFLAGS -o "$T/prog" "$T/prog.c" $LIBS \
    || fail "building against the installed shared library"
LD_LIBRARY_PATH="$LIBDIR" "$T/prog" || fail "the program linked to the shared library ($?)"
LD_LIBRARY_PATH="$LIBDIR" ldd "$T/prog" 2>/dev/null | grep -q "$LIBDIR/libcpq.so.0" \
    || fail "the program does not use the installed libcpq.so.0"

# The static library carries the codec: it links with nothing else.
# shellcheck disable=SC2086
$CC -std=c99 -Wall -Wextra -Werror -D_DEFAULT_SOURCE $SAN $CFLAGS -o "$T/prog_static" "$T/prog.c" \
    "$LIBDIR/libcpq.a" $(pkg-config --static --libs-only-l cpq | sed 's/-lcpq//') \
    || fail "building against the installed static library"
"$T/prog_static" || fail "the program linked to the static library ($?)"

# ---- the header alone: strict C99, C11 and C++ --------------------------------------
INC=$(dirname "$(find "$D" -path '*/include/cpq.h' | head -1)")
printf '#include <cpq.h>\nint main(void) { cpq_client_opts o; cpq_client_opts_init(&o); return o.connect_timeout_ms > 0 ? 0 : 1; }\n' >"$T/h.c"
$CC -std=c99 -pedantic -Werror -Wall -Wextra -I"$INC" -c -o "$T/h99.o" "$T/h.c" || fail "cpq.h as C99"
$CC -std=c11 -pedantic -Werror -Wall -Wextra -I"$INC" -c -o "$T/h11.o" "$T/h.c" || fail "cpq.h as C11"
if command -v "$CXX" >/dev/null 2>&1; then
    printf '#include <cpq.h>\nint main() { cpq_client_search_opts o; cpq_client_search_opts_init(&o); return (int)o.limit - 10; }\n' >"$T/h.cc"
    $CXX -x c++ -std=c++11 -pedantic -Werror -Wall -Wextra -I"$INC" -c -o "$T/hxx.o" "$T/h.cc" \
        || fail "cpq.h as C++"
    $CXX $SAN -o "$T/hxx" "$T/hxx.o" -L"$LIBDIR" -lcpq || fail "linking C++ against libcpq"
    LD_LIBRARY_PATH="$LIBDIR" "$T/hxx" || fail "the C++ program"
fi

echo "install test passed"
