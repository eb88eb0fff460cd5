#!/usr/bin/env bash
# Builds warren and runs every test: the unit tests and the integration suite against the
# optimised build, the same again under AddressSanitizer + UndefinedBehaviorSanitizer, then each
# libFuzzer harness for FUZZ_SECONDS (default 60). Installs what it needs first (Debian, as root);
# set WARREN_SKIP_DEPS=1 to skip that step on a machine that already has everything.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "${WARREN_SKIP_DEPS:-0}" = 1 ] || bash scripts/install-deps.sh
jobs=$(nproc)

echo "== optimised build: unit and integration tests"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$jobs"
ctest --test-dir build --output-on-failure

echo "== ASan+UBSan build: unit and integration tests"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DWARREN_SANITIZE=ON >/dev/null
cmake --build build-asan -j"$jobs"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1 \
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
WARREN_QUICK=1 ctest --test-dir build-asan --output-on-failure

echo "== fuzzers, ${FUZZ_SECONDS:-60} s each"
FUZZ_SECONDS=${FUZZ_SECONDS:-60} bash fuzz/run.sh build-fuzz
echo "== all tests passed"
