# bench/lib.sh: what every bench script needs, sourced after it has set
#   here, root   the bench/ folder and the checkout
#   OUT          where logs and built tools go
#   LOG_TAG      the tag of its log lines ("bench", "udp-bench", ...)
#   OUT_PREFIX   prefix of the files start() writes in OUT (may be empty)
#   LG           the loadgen binary, for lg()
# Every process started with start() is stopped by its pid when the script exits, also on
# Ctrl-C or SIGTERM: SIGTERM first, SIGKILL after 3 s.

mkdir -p "$OUT"
log() { printf '[%s] %s\n' "$LOG_TAG" "$*" >&2; }

pids=()
cleanup() {
    local p i
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for i in $(seq 1 30); do
        local alive=0
        for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
        [ $alive = 0 ] && break
        sleep 0.1
    done
    for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# start NAME CMD...: runs CMD in the background, stdout and stderr in
# $OUT/$OUT_PREFIX$NAME.out and .err; sets $last_pid.
last_pid=
start() {
    local name=$1; shift
    "$@" > "$OUT/${OUT_PREFIX:-}$name.out" 2> "$OUT/${OUT_PREFIX:-}$name.err" < /dev/null &
    last_pid=$!
    pids+=("$last_pid")
}
# stop PID: SIGTERM, and wait for it (it is our child).
stop() {
    kill -TERM "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}
# wait_line FILE REGEX [SECONDS]: prints the first line matching REGEX once it appears.
wait_line() {
    local file=$1 re=$2 limit=${3:-10} i
    for i in $(seq 1 $((limit * 20))); do
        if grep -Eq "$re" "$file" 2>/dev/null; then grep -Em1 "$re" "$file"; return 0; fi
        sleep 0.05
    done
    log "timed out waiting for /$re/ in $file"; cat "$file" "${file%.out}.err" >&2 2>/dev/null || true
    return 1
}
# kv LINE KEY: the value of KEY=value in a RESULT line.
kv() { sed -n "s/.*[ ]$2=\([^ ]*\).*/\1/p" <<<" $1"; }
# cpu_ticks PID: user + system CPU of a process so far, in clock ticks.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# Busy CPU ticks of the whole machine (user nice system irq softirq steal), from /proc/stat.
sys_busy() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8 + $9}' /proc/stat; }

# lg NAME ARGS...: runs a loadgen client to completion; leaves its RESULT line in $LG_RES and
# the CPU used meanwhile by loadgen itself and by the processes in $cpu_pids, in % of one core,
# "loadgen/pid1/pid2... +other", in $cpu_note, where other is the rest of the whole machine's
# busy time over the same interval (other processes, and interrupts charged to no process).
cpu_pids=()
cpu_note=
cpu_other=0
disturbed=()
LG_RES=
lg() {
    local name=$1; shift
    local before=() p i=0 hz t0 t1 pid rc=0 d
    hz=$(getconf CLK_TCK)
    for p in "${cpu_pids[@]}"; do before+=("$(cpu_ticks "$p")"); done
    local sb; sb=$(sys_busy)
    t0=$(date +%s%N)
    start "lg-$name" "$LG" "$@"
    pid=$last_pid
    wait "$pid" || rc=$?
    t1=$(date +%s%N)
    LG_RES=$(grep -m1 '^RESULT' "$OUT/${OUT_PREFIX:-}lg-$name.out" || true)
    local ms pc sum whole; ms=$(kv "$LG_RES" cpu_ms)
    pc=$(awk -v d="${ms:-0}" -v ns=$((t1 - t0)) 'BEGIN{printf "%.0f", 100*d/1e3/(ns/1e9)}')
    cpu_note=$pc; sum=$pc
    for p in "${cpu_pids[@]}"; do
        d=$(( $(cpu_ticks "$p") - before[i] ))
        pc=$(awk -v d="$d" -v hz="$hz" -v ns=$((t1 - t0)) 'BEGIN{printf "%.0f", 100*d/hz/(ns/1e9)}')
        cpu_note+="/$pc"; sum=$((sum + pc))
        i=$((i + 1))
    done
    d=$(( $(sys_busy) - sb ))
    whole=$(awk -v d="$d" -v hz="$hz" -v ns=$((t1 - t0)) 'BEGIN{printf "%.0f", 100*d/hz/(ns/1e9)}')
    cpu_other=$((whole - sum))
    [ $cpu_other -ge 0 ] || cpu_other=0
    cpu_note+=" +$cpu_other"
    [ $cpu_other -lt 40 ] || disturbed+=("$name (+$cpu_other%)")
    if [ -z "$LG_RES" ]; then
        log "loadgen $name failed (exit $rc): $(cat "$OUT/${OUT_PREFIX:-}lg-$name.err")"
        LG_RES="RESULT failed=1"
    elif [ $rc != 0 ]; then
        log "loadgen $name exited $rc: $(cat "$OUT/${OUT_PREFIX:-}lg-$name.err")"
    fi
}

# Comparisons for the pass/fail column: an empty figure fails.
pf() { if "$@"; then echo PASS; else echo FAIL; fi; }
ge() { awk -v a="$1" -v b="$2" 'BEGIN{ exit !(a != "" && a + 0 >= b + 0) }'; }
lt() { awk -v a="$1" -v b="$2" 'BEGIN{ exit !(a != "" && a + 0 < b + 0) }'; }
le() { awk -v a="$1" -v b="$2" 'BEGIN{ exit !(a != "" && a + 0 <= b + 0) }'; }

# build_tool NAME: compiles bench/NAME.c with cc -O2 into $OUT/NAME when the source is newer.
build_tool() {
    if [ ! -x "$OUT/$1" ] || [ "$here/$1.c" -nt "$OUT/$1" ]; then
        log "building $1"
        cc -O2 -std=c11 -Wall -Wextra -o "$OUT/$1" "$here/$1.c"
    fi
}

# build_warren: unless WARREN_BIN names a binary, builds warren (Release, incrementally: only
# what changed) in $root/build-bench; BENCH_REBUILD=1 re-runs the configure step. A tree that
# does not build is an error: figures from an older binary would be reported as this tree's.
# Sets WARREN and WARREN_BUILT (when the binary was built, for the result header).
build_warren() {
    local build=$root/build-bench
    WARREN=${WARREN_BIN:-$build/warren}
    if [ -z "${WARREN_BIN:-}" ]; then
        log "building warren (Release, incremental) in $build"
        if [ ! -f "$build/CMakeCache.txt" ] || [ "${BENCH_REBUILD:-0}" = 1 ]; then
            cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
        fi
        if ! cmake --build "$build" -j"$(nproc)" --target warren > "$OUT/${OUT_PREFIX:-}build.log" 2>&1; then
            cat "$OUT/${OUT_PREFIX:-}build.log" >&2
            log "warren does not build"
            exit 1
        fi
    fi
    [ -x "$WARREN" ] || { log "no warren binary at $WARREN"; exit 1; }
    WARREN_BUILT=$(date -u -r "$WARREN" '+%H:%M UTC')
}
