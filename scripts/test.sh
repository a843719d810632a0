#!/usr/bin/env bash
# Sets up a fresh Debian machine and runs every milkit test: the unit/golden/differential
# suite (debug build), the same suite under AddressSanitizer + UBSan, and the fuzz corpora
# (replayed with gcc, then a bounded libFuzzer run with clang). The last line printed is the
# combined "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh || exit 2
[ -f tests/fetch_models.sh ] && { bash tests/fetch_models.sh || echo "test: model fetch failed; model tests will skip"; }
if [ ! -d tests/.cache/node/node_modules/onnxruntime-node ]; then
    (mkdir -p tests/.cache/node && npm install --silent --prefix tests/.cache/node onnxruntime-node@1.20.1 \
        --ignore-scripts --no-audit --no-fund) || echo "test: onnxruntime-node unavailable; differential tests will skip"
fi
JOBS=$(nproc)
total_pass=0; total_fail=0; total_skip=0
suite() { # name, make args...
    local name=$1; shift
    echo "== $name"
    if ! make -j"$JOBS" "$@" >"build/$name.build.log" 2>&1; then
        tail -30 "build/$name.build.log"; echo "test: $name build failed"; total_fail=$((total_fail+1)); return
    fi
    make -s --no-print-directory "$@" "${SUITE_TARGET:-test}" 2>&1 | tee "build/$name.log" | grep -vE '^ok ' || true
    local last; last=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "build/$name.log" | tail -1)
    if [ -z "$last" ]; then echo "test: $name produced no summary"; total_fail=$((total_fail+1)); return; fi
    local p f s
    p=$(echo "$last" | sed -E 's/^([0-9]+) passed.*/\1/')
    f=$(echo "$last" | sed -E 's/^[0-9]+ passed, ([0-9]+) failed.*/\1/')
    s=$(echo "$last" | sed -nE 's/.*, ([0-9]+) skipped.*/\1/p'); s=${s:-0}
    total_pass=$((total_pass+p)); total_fail=$((total_fail+f)); total_skip=$((total_skip+s))
}
mkdir -p build
# warning-free builds: gcc release (-O2 finds more) and clang, both with -Werror
for variant in "gcc-release BUILD=release" "clang CC=clang"; do
    set -- $variant; name=$1; shift
    if make -j"$JOBS" O="build/werror-$name" WERROR=1 "$@" >"build/werror-$name.log" 2>&1; then
        echo "ok   $name build without warnings"; total_pass=$((total_pass+1))
    else
        grep -E '(warning|error):' "build/werror-$name.log" | head -20; echo "FAIL $name build"; total_fail=$((total_fail+1))
    fi
done
# the tree is clang-formatted (.clang-format): `make format` fixes what this finds
if command -v clang-format >/dev/null 2>&1; then
    if make -s format-check >build/format.log 2>&1; then
        echo "ok   clang-format leaves no diff"; total_pass=$((total_pass+1))
    else
        grep -E 'error:' build/format.log | head -10; echo "FAIL format check (run make format)"; total_fail=$((total_fail+1))
    fi
else
    echo "skip format check: clang-format is not installed"; total_skip=$((total_skip+1))
fi
suite debug BUILD=debug
suite asan BUILD=asan
# allocation failures injected into the reader, writer, importer, fixer, compress and interpreter
# tests under ASan+UBSan with LeakSanitizer on, each test rerun failing at up to FAULT_POINTS
# allocations, persistently and once: a crash, a sanitizer report or a leak fails it. Interpreter
# tests fail only inside their session/run calls (tests/unit/fault_scope.h); objects a test owns
# when it returns early are marked (mk_test_owned), so a leak is memory the library lost. Tests
# slower than 200 ms are left out. About a minute on 2 cores.
echo "== fault injection"
if [ -x build/asan/milkit_tests ] && ASAN_OPTIONS=detect_leaks=1 MILKIT_BIN="$PWD/build/asan/milkit" \
    build/asan/milkit_tests --fail-alloc --points="${FAULT_POINTS:-8}" --max-ms=200 \
    test_coreml.c,test_coreml_bad.c,test_read_scope.c,test_onnx.c,test_onnx_loop.c,test_fix.c,test_compress,test_interp.c,test_interp_perf.c,test_opsem,test_state.c,test_const_eval.c,test_lint_fix_agree.c \
    >build/fault.log 2>&1; then
    echo "ok   fault injection ($(grep -c '^fault ' build/fault.log) tests, $(grep -c '^fault-skip' build/fault.log) left out)"
    total_pass=$((total_pass+1))
else
    tail -30 build/fault.log; echo "FAIL fault injection"; total_fail=$((total_fail+1))
fi
# shared library, install, man page, completion and Python tests (debug, then under ASan)
SUITE_TARGET=test-lib suite lib BUILD=debug
SUITE_TARGET=test-lib suite lib-asan BUILD=asan
# fuzz corpora: replay with gcc under ASan, then a bounded libFuzzer run with clang
if ls tests/fuzz/fuzz_*.c >/dev/null 2>&1; then
    echo "== fuzz"
    if make -j"$JOBS" BUILD=asan fuzz >build/fuzz-replay.build.log 2>&1; then
        for f in tests/fuzz/fuzz_*.c; do
            n=$(basename "$f" .c); corpus="tests/fuzz/corpus/${n#fuzz_}"
            if build/asan/"$n" "$corpus" >"build/$n.replay.log" 2>&1; then
                echo "ok   $n replay ($(ls "$corpus" | wc -l) inputs)"; total_pass=$((total_pass+1))
            else echo "FAIL $n replay"; tail -20 "build/$n.replay.log"; total_fail=$((total_fail+1)); fi
        done
    else tail -20 build/fuzz-replay.build.log; echo "FAIL fuzz replay build"; total_fail=$((total_fail+1)); fi
    if make -j"$JOBS" BUILD=fuzz fuzz >build/fuzz.build.log 2>&1; then
        for f in tests/fuzz/fuzz_*.c; do
            n=$(basename "$f" .c); corpus="tests/fuzz/corpus/${n#fuzz_}"; work=$(mktemp -d)
            rss=2048; [ "$n" = fuzz_npz ] && rss=512 # tensor files: a bomb must not get far
            # a fixed seed and run count make the run reproducible; the time cap bounds CI
            if build/fuzz/"$n" -seed="${FUZZ_SEED:-1}" -runs="${FUZZ_RUNS:-1000000}" -max_total_time="${FUZZ_SECONDS:-120}" -rss_limit_mb="$rss" "$work" "$corpus" >"build/$n.fuzz.log" 2>&1; then
                echo "ok   $n libFuzzer seed ${FUZZ_SEED:-1} ($(grep -oE 'Done [0-9]+ runs in [0-9]+ second' "build/$n.fuzz.log" | tail -1)s)"; total_pass=$((total_pass+1))
            else echo "FAIL $n libFuzzer"; tail -30 "build/$n.fuzz.log"; total_fail=$((total_fail+1)); fi
            rm -rf "$work"
        done
    else tail -20 build/fuzz.build.log; echo "FAIL libFuzzer build"; total_fail=$((total_fail+1)); fi
fi
echo "$total_pass passed, $total_fail failed, $total_skip skipped"
[ "$total_fail" -eq 0 ]
