#!/bin/sh
# fuzz/run.sh [BUILD_DIR]: builds the libFuzzer harnesses with clang into BUILD_DIR (default
# build-fuzz, relative to the repository) and runs each for ${FUZZ_SECONDS:-60} seconds, as
# many at once as there are cores.
# New corpus entries go to BUILD_DIR/fuzz-corpus/<name> (the seeds in fuzz/corpus/<name> are
# only read); crashes, leaks and timeouts go to BUILD_DIR/fuzz-artifacts/<name>/ and the logs to
# BUILD_DIR/fuzz-logs/<name>.log. Exits non-zero if any harness fails to build or finds anything.
set -u

root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-build-fuzz}
case $build in
    /*) ;;
    *) build=$root/$build ;;
esac
secs=${FUZZ_SECONDS:-60}
harnesses=${FUZZ_HARNESSES:-"socks5 kv options flags proxy endpoint shadow sip003 obfs4_frame obfs4_handshake pt1 extorport udp_frame mux_frame"}
jobs=$(nproc 2>/dev/null || echo 2)

CC=clang cmake -S "$root" -B "$build" -DWARREN_FUZZ=ON -DWARREN_TESTS=OFF >/dev/null || {
    echo "run.sh: cmake configure failed" >&2
    exit 2
}
cmake --build "$build" -j"$jobs" || {
    echo "run.sh: build failed" >&2
    exit 2
}

# Sanitizer findings must stop the harness so libFuzzer saves the input.
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}

# One harness: runs it and writes its summary to BUILD_DIR/fuzz-logs/<name>.result (first line
# "ok" or "FAILED").
run_one() {
    h=$1
    bin=$build/fuzz/fuzz_$h
    corpus=$build/fuzz-corpus/$h
    artifacts=$build/fuzz-artifacts/$h
    log=$build/fuzz-logs/$h.log
    result=$build/fuzz-logs/$h.result
    mkdir -p "$corpus" "$artifacts" "$(dirname "$log")"
    rm -f "$artifacts"/crash-* "$artifacts"/leak-* "$artifacts"/timeout-* "$artifacts"/oom-* \
          "$artifacts"/slow-unit-*
    seeds=$root/fuzz/corpus/$h
    [ -d "$seeds" ] || seeds=
    "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$artifacts/" "$corpus" $seeds >"$log" 2>&1
    rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    found=$(ls "$artifacts" 2>/dev/null | grep -E '^(crash|leak|timeout|oom)-' || true)
    if [ $rc -ne 0 ] || [ -n "$found" ]; then
        {
            echo "FAILED (exit $rc) after ${execs:-?} runs; log: $log"
            for f in $found; do
                echo "   $artifacts/$f: $(od -An -tx1 -v "$artifacts/$f" | tr -d ' \n' | cut -c1-400)"
            done
            grep -E '^(==[0-9]+==ERROR|SUMMARY|.*invariant failed|.*runtime error)' "$log" | head -n 5 | sed 's/^/   /'
        } >"$result"
    else
        echo "ok: ${execs:-?} runs, corpus $(ls "$corpus" | wc -l) files" >"$result"
    fi
}

# As many harnesses at once as there are cores; each still gets its full time.
echo "== ${secs}s each, $jobs at a time: $harnesses"
running=0
for h in $harnesses; do
    run_one "$h" &
    running=$((running + 1))
    if [ $running -ge "$jobs" ]; then
        wait
        running=0
    fi
done
wait
status=0
for h in $harnesses; do
    result=$build/fuzz-logs/$h.result
    echo "== fuzz_$h: $(cat "$result" 2>/dev/null || echo 'FAILED: no result')"
    head -n 1 "$result" 2>/dev/null | grep -q '^ok' || status=1
done
exit $status
