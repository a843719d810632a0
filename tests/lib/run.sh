#!/usr/bin/env bash
# The library suite: exported symbols of libmilkit.so are exactly milkit.h's functions, `make
# install` into a temp DESTDIR (pkg-config builds and runs examples/run_model.c against it;
# uninstall removes everything), the man page and bash completion against each --help, then
# the Python tests (python/tests) on this build's libmilkit.so. Last line: N passed, N failed,
# N skipped.  usage: tests/lib/run.sh BUILD_DIR   (make test-lib)
set -uo pipefail
cd "$(dirname "$0")/../.."
O=${1:-build/debug}
SO=$O/libmilkit.so BIN=$O/milkit
pass=0 fail=0 skip=0
ok() { echo "ok   $1"; pass=$((pass+1)); }
bad() { echo "FAIL $1"; fail=$((fail+1)); }
skp() { echo "skip $1"; skip=$((skip+1)); }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

# exports: every dynamic symbol is a function declared in milkit.h, and every one declared is there
nm -D --defined-only "$SO" | awk '{print $3}' | sort -u >"$tmp/exported"
grep -oE '\bmk_[a-z0-9_]+\(' include/milkit.h | tr -d '(' | sort -u >"$tmp/declared"
extra=$(comm -23 "$tmp/exported" "$tmp/declared"); missing=$(comm -13 "$tmp/exported" "$tmp/declared")
if [ -s "$tmp/exported" ] && [ -z "$extra" ] && [ -z "$missing" ]; then
    ok "libmilkit.so exports exactly milkit.h's $(wc -l <"$tmp/exported") functions"
else bad "libmilkit.so exports: not declared: [$extra] declared, not exported: [$missing]"; fi
soname=$(readelf -d "$SO" | sed -nE 's/.*SONAME.*\[(.*)\].*/\1/p')
[ "$soname" = libmilkit.so.0 ] && [ "$(readlink "$O/libmilkit.so.0")" = "libmilkit.so.$(sed -nE 's/^#define MK_VERSION "(.*)"/\1/p' include/milkit.h)" ] &&
    ok "soname $soname -> $(readlink "$O/libmilkit.so.0")" || bad "soname '$soname'"

if printf '#include "milkit.h"\nint main(void) { return mk_program_spec_version(0) * 0; }\n' |
    c++ -x c++ -Wall -Werror -Iinclude -fsyntax-only - 2>"$tmp/cxx.log"; then
    ok "milkit.h compiles as C++ (extern \"C\" around the visibility pragmas)"
elif ! command -v c++ >/dev/null; then skp "no C++ compiler"; else bad "milkit.h as C++: $(head -3 "$tmp/cxx.log")"; fi

# install, pkg-config, example, uninstall
d=$tmp/dest
if make -s --no-print-directory O="$O" install DESTDIR="$d" PREFIX=/usr/local >"$tmp/inst.log" 2>&1; then
    n=0
    for f in bin/milkit lib/libmilkit.a lib/libmilkit.so lib/libmilkit.so.0 include/milkit.h \
        lib/pkgconfig/milkit.pc share/man/man1/milkit.1 share/bash-completion/completions/milkit; do
        [ -e "$d/usr/local/$f" ] && n=$((n+1)) || echo "  missing $f"
    done
    [ $n -eq 8 ] && ok "make install: 8 files under DESTDIR" || bad "make install: $n of 8 files"
    export PKG_CONFIG_PATH=$d/usr/local/lib/pkgconfig PKG_CONFIG_SYSROOT_DIR=$d
    flags=$(pkg-config --cflags --libs milkit)
    san=""; case "$O" in *asan*) san="-fsanitize=address,undefined";; esac
    if cc -std=c11 -Wall -Werror $san examples/run_model.c $flags -o "$tmp/run_model" 2>"$tmp/cc.log" &&
        out=$(LD_LIBRARY_PATH=$d/usr/local/lib "$tmp/run_model" examples/vocoder_upsampler.onnx) &&
        want=$("$BIN" run examples/vocoder_upsampler.onnx -j 1 | head -1) &&
        [ "$(LD_LIBRARY_PATH=$d/usr/local/lib ldd "$tmp/run_model" | grep -c "$d/usr/local/lib/libmilkit.so.0")" = 1 ] &&
        [ "$(echo "$out" | sed -E 's/ first: ([^ ]+).*/ \1/')" = "$(echo "$want" | sed -E 's/ fp32 .*first: ([^ ]+).*/ \1/')" ]; then
        ok "example built with pkg-config ($flags) against the installed .so: $out"
    else bad "example: $(cat "$tmp/cc.log") out='${out:-}' want='${want:-}'"; fi
    make -s --no-print-directory O="$O" uninstall DESTDIR="$d" PREFIX=/usr/local >/dev/null 2>&1
    left=$(find "$d" -type f -o -type l)
    [ -z "$left" ] && ok "make uninstall removes every installed file" || bad "uninstall left: $left"
else bad "make install: $(tail -3 "$tmp/inst.log")"; fi

# man page (docs/milkit.1, and the generated one) names every subcommand and option of --help
opts() { grep -oE '(^|[^[:alnum:]_-])--?[[:alpha:]][[:alnum:]-]*' | sed -E 's/^[^-]+//' | sort -u; }
cmds=$("$BIN" --help | awk '/^commands:/ {f = 1; next} /^$/ {if (f) exit} f {print $1}')
for page in docs/milkit.1 "$O/milkit.1"; do
    [ "$page" = "$O/milkit.1" ] && { make -s --no-print-directory O="$O" "$O/milkit.1" >/dev/null 2>&1 || { bad "man page build"; continue; }; }
    text=$(sed 's/\\-/-/g' "$page"); nmiss=0; nopts=0
    for c in $cmds; do
        grep -q "^\.SS milkit $c\$" <<<"$text" || { echo "  $page: no section for $c"; nmiss=$((nmiss+1)); }
        sect=$(awk -v c="$c" '$0 == ".SS milkit " c {f = 1; next} /^\.SS/ {f = 0} f' <<<"$text")
        for o in $("$BIN" "$c" --help | opts); do
            nopts=$((nopts+1)); grep -qe "$o" <<<"$sect" || { echo "  $page: milkit $c $o missing (run make man)"; nmiss=$((nmiss+1)); }
        done
    done
    [ $nmiss -eq 0 ] && [ $nopts -gt 20 ] && ok "$page: $(wc -w <<<"$cmds") subcommands, $nopts options, as --help" || bad "$page: $nmiss missing"
done
if man -l "$O/milkit.1" >/dev/null 2>&1 || ! command -v man >/dev/null; then ok "man -l renders"; else bad "man -l"; fi

# bash completion
comp() { bash -c 'source scripts/milkit.bash-completion; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _milkit; echo "${COMPREPLY[*]}"' _ "$@"; }
c1=$(comp "$BIN" "")
c2=$(comp "$BIN" run --fp)
c3=$(comp "$BIN" convert --pre)
[ "$(echo "$c1" | wc -w)" -eq "$(($(wc -w <<<"$cmds") + 1))" ] && [ "$c2" = "--fp16-emulate" ] && [ "$c3" = "--precision" ] &&
    ok "bash completion: subcommands ($c1), run --fp -> $c2, convert --pre -> $c3" || bad "completion: '$c1' '$c2' '$c3'"

# Python
PY=${PYTHON:-/usr/bin/python3}
if ! "$PY" -c 'import numpy' 2>/dev/null; then skp "python tests: $PY has no numpy (apt-get install python3-numpy)"
else
    pre=""
    case "$O" in *asan*) pre="$(cc -print-file-name=libasan.so) $(cc -print-file-name=libubsan.so)";; esac
    LD_PRELOAD="$pre" ASAN_OPTIONS=detect_leaks=0:${ASAN_OPTIONS:-} MILKIT_LIB=$(readlink -f "$SO") MILKIT_BIN=$(readlink -f "$BIN") \
        PYTHONPATH=python "$PY" python/tests/run.py >"$tmp/py.log" 2>&1
    grep -vE '^ok ' "$tmp/py.log" | grep -vE '^[0-9]+ passed, ' ; grep -cE '^ok ' "$tmp/py.log" | sed 's/^/ok   python: /;s/$/ tests passed/'
    last=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$tmp/py.log" | tail -1)
    if [ -z "$last" ]; then bad "python tests: no summary"; tail -20 "$tmp/py.log"
    else
        read -r p _ f _ s _ <<<"$(echo "$last" | tr -d ',')"
        pass=$((pass+p)); fail=$((fail+f)); skip=$((skip+s))
    fi
fi
echo "$pass passed, $fail failed, $skip skipped"
[ $fail -eq 0 ]
