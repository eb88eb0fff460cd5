#!/usr/bin/env bash
# bench/mux.sh: the mux (docs/spec/mux.md) over obfs4 against obfs4 without it, on loopback, in
# one run: connections per second and time to first byte (p50, p99), single-stream throughput,
# and how evenly 8 parallel streams in one session share the bandwidth. Prints one table with a
# pass/fail column for the targets (issue 7). See bench/README.md. Every process it starts is
# stopped by its pid on exit.
#
# Environment (all optional):
#   BENCH_SECONDS=5        length of each throughput and connection-rate test
#   BENCH_TTFB_SECONDS=2   length of each unloaded (1 in flight) time-to-first-byte test
#   BENCH_INFLIGHT=64      connections in flight in the connection-rate test
#   BENCH_STREAMS=8        parallel streams in the bandwidth-sharing test
#   BENCH_OUT=bench/out    where logs, the binaries and mux-results.txt go
#   WARREN_BIN=...         use this warren instead of building build-bench/warren
#   BENCH_REBUILD=1        re-run the cmake configure step before the (incremental) build
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
SECS=${BENCH_SECONDS:-5}
TTFB_SECS=${BENCH_TTFB_SECONDS:-2}
INFLIGHT=${BENCH_INFLIGHT:-64}
STREAMS=${BENCH_STREAMS:-8}
OUT=${BENCH_OUT:-$here/out}
LG=$OUT/loadgen

# Targets (issue 7), obfs4 with the mux against obfs4 without it, same run, loopback.
T_CPS_RATIO=5           # connections/s at least 5x
T_TTFB_P50_MS=0.3       # time to first byte p50 below 0.3 ms (1 in flight)
T_SINGLE_RATIO=0.90     # single-stream throughput at least 90%
T_SPREAD_PCT=10         # parallel streams in one session within 10% of each other

LOG_TAG=bench-mux OUT_PREFIX=mux-
. "$here/lib.sh"
carriers_to() { ss -Htn state established dst "$1" 2>/dev/null | wc -l; }


# ---- build ----------------------------------------------------------------------------------
build_tool loadgen
build_warren
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

# ---- the processes under test ---------------------------------------------------------------
# One target; per variant ("obfs4", "mux") a warren obfs4 server (-state of its own, the mux
# variant with -options {"mux":true}) and a socks5 client given the server's cert and iat-mode
# (and mux). Clients are bound (no serverAddress): the SOCKS destination is the server, which
# sends every connection / stream to the target.
start target "$LG" target -l 127.0.0.1:0 -t 3600
TARGET_PID=$last_pid
TARGET=$(wait_line "$OUT/mux-target.out" '^LISTEN ' | awk '{print $2}')

declare -A SRV SRV_PID CLI CLI_PID
for v in obfs4 mux; do
    state=$OUT/mux-state-$v
    rm -rf "$state"
    sopts='{}'; [ $v = mux ] && sopts='{"mux":true}'
    start "$v-server" "$WARREN" -server -transports obfs4 -bindaddr obfs4-127.0.0.1:0 -target "$TARGET" \
        -state "$state" -options "$sopts"
    SRV_PID[$v]=$last_pid
    line=$(wait_line "$OUT/mux-$v-server.out" '^SMETHOD obfs4 ')
    SRV[$v]=$(awk '{print $3}' <<<"$line")
    cert=$(sed -n 's/.*ARGS:.*cert=\([^,]*\).*/\1/p' <<<"$line")
    iat=$(sed -n 's/.*ARGS:.*iat-mode=\([0-9]\).*/\1/p' <<<"$line")
    [ -n "$cert" ] && [ -n "$iat" ] || { log "no cert/iat-mode in: $line"; exit 1; }
    copts="{\"cert\":\"$cert\",\"iat-mode\":\"$iat\""; [ $v = mux ] && copts+=',"mux":true'; copts+='}'
    start "$v-client" "$WARREN" -client -transports obfs4 -proxylistenaddr 127.0.0.1:0 \
        -state "$OUT/mux-state-$v-client" -options "$copts"
    CLI_PID[$v]=$last_pid
    CLI[$v]=$(wait_line "$OUT/mux-$v-client.out" '^CMETHOD obfs4 ' | awk '{print $4}')
done

log "machine: $(nproc) CPUs ($(awk -F': ' '/model name/{print $2; exit}' /proc/cpuinfo)), kernel $(uname -r)"
log "warren: $WARREN ($(git -C "$root" describe --always --dirty 2>/dev/null || echo '?'))"
log "target $TARGET; obfs4 server ${SRV[obfs4]} client ${CLI[obfs4]}; obfs4+mux server ${SRV[mux]} client ${CLI[mux]}"
b0=$(sys_busy); sleep 1; BACKGROUND=$(( ($(sys_busy) - b0) * 100 / $(getconf CLK_TCK) ))
log "CPU busy before starting (other processes): ${BACKGROUND}% of one core"
[ "$BACKGROUND" -lt 20 ] || log "WARNING: the machine is not idle; the figures will be lower and noisier than they should be"

declare -A R
use() { cpu_pids=("$TARGET_PID" "${CLI_PID[$1]}" "${SRV_PID[$1]}"); }

# ---- throughput -----------------------------------------------------------------------------
for v in obfs4 mux; do
    use $v
    log "single-stream throughput: $v"
    lg "tp1-$v" throughput -a "${CLI[$v]}" -s "${SRV[$v]}" -n 1 -t "$SECS"
    R[s1_$v]=$(kv "$LG_RES" mibps); R[s1_${v}_cpu]=$cpu_note
done
for v in obfs4 mux; do
    use $v
    log "$STREAMS parallel streams, bandwidth shares: $v"
    lg "share-$v" share -a "${CLI[$v]}" -s "${SRV[$v]}" -n "$STREAMS" -t "$SECS"
    R[sh_$v]=$(kv "$LG_RES" mibps); R[sh_${v}_spread]=$(kv "$LG_RES" spread_pct)
    R[sh_${v}_min]=$(kv "$LG_RES" min_mibps); R[sh_${v}_max]=$(kv "$LG_RES" max_mibps)
    R[sh_${v}_per]=$(kv "$LG_RES" per_stream); R[sh_${v}_cpu]=$cpu_note
    # While the streams were open: one session (one TCP connection) for the mux.
done
R[carriers_share]=$(carriers_to "${SRV[mux]}")

# ---- connection rate and time to first byte ---------------------------------------------------
connrate() { # KEY NAME ARGS...
    local key=$1 name=$2; shift 2
    lg "$name" connrate "$@"
    R[$key]=$(kv "$LG_RES" cps)
    R[${key}_p50]=$(kv "$LG_RES" ttfb_p50_ms)
    R[${key}_p99]=$(kv "$LG_RES" ttfb_p99_ms)
    local e f; e=$(kv "$LG_RES" errors); f=$(kv "$LG_RES" open_failures)
    R[${key}_err]=$(( ${e:-0} + ${f:-0} ))
    R[${key}_cpu]=$cpu_note
}
# Unloaded first: the rate test leaves tens of thousands of loopback sockets in TIME_WAIT, and
# every later connect() then searches longer for a free port (measured: +0.05 ms here).
for v in obfs4 mux; do
    use $v
    log "time to first byte (1 in flight): $v"
    connrate "tt_$v" "tt-$v" -a "${CLI[$v]}" -s "${SRV[$v]}" -c 1 -t "$TTFB_SECS"
done
# What the machine itself costs: the same measurement straight to the target (2 process
# hand-offs, where the tunnelled one takes 12), and 1-byte round trips on a connection that is
# already open, direct and through an open mux stream.
cpu_pids=("$TARGET_PID")
log "time to first byte and round trips, direct and on an open stream"
connrate "tt_direct" "tt-direct" -a "$TARGET" -c 1 -t "$TTFB_SECS"
lg "rtt-direct" rtt -a "$TARGET" -t "$TTFB_SECS"; R[rtt_direct]=$(kv "$LG_RES" rtt_p50_us)
use mux
lg "rtt-mux" rtt -a "${CLI[mux]}" -s "${SRV[mux]}" -t "$TTFB_SECS"; R[rtt_mux]=$(kv "$LG_RES" rtt_p50_us)
for v in obfs4 mux; do
    use $v
    log "connections/s ($INFLIGHT in flight): $v"
    connrate "cr_$v" "cr-$v" -a "${CLI[$v]}" -s "${SRV[$v]}" -c "$INFLIGHT" -t "$SECS"
done
R[carriers_cr]=$(carriers_to "${SRV[mux]}")

# ---- the table ------------------------------------------------------------------------------
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (a == "" || b == "" || b == 0) print ""; else printf "%.2f", a/b }'; }
pct() { awk -v a="$1" -v b="$2" 'BEGIN{ if (a == "" || b == "" || b == 0) print "?"; else printf "%.0f%%", 100*a/b }'; }

cps_x=$(ratio "${R[cr_mux]}" "${R[cr_obfs4]}")
s1_r=$(ratio "${R[s1_mux]}" "${R[s1_obfs4]}")
{
echo
printf 'warren mux bench (obfs4, iat-mode 0): tree %s (binary built %s), %s CPUs, kernel %s, %s s per test, %s\n' \
    "$(git -C "$root" describe --always --dirty 2>/dev/null || echo '?')" "$WARREN_BUILT" "$(nproc)" "$(uname -r)" \
    "$SECS" "$(date -u '+%Y-%m-%d %H:%M UTC')"
printf '%-36s %16s %24s %-20s %s\n' "metric" "obfs4" "obfs4 + mux" "target" "result"
printf '%-36s %16s %24s %-20s %s\n' "------------------------------------" "----------------" "------------------------" "--------------------" "------"
row() { printf '%-36s %16s %24s %-20s %s\n' "$@"; }
row "connections/s ($INFLIGHT in flight)" "${R[cr_obfs4]}" "${R[cr_mux]} (${cps_x:-?}x)" ">= ${T_CPS_RATIO}x obfs4" \
    "$(pf ge "$cps_x" "$T_CPS_RATIO")"
row "TTFB p50/p99 ms, $INFLIGHT in flight" "${R[cr_obfs4_p50]}/${R[cr_obfs4_p99]}" \
    "${R[cr_mux_p50]}/${R[cr_mux_p99]}" "-" "-"
row "TTFB p50/p99 ms, 1 in flight" "${R[tt_obfs4_p50]}/${R[tt_obfs4_p99]}" \
    "${R[tt_mux_p50]}/${R[tt_mux_p99]}" "p50 < $T_TTFB_P50_MS ms" "$(pf lt "${R[tt_mux_p50]}" "$T_TTFB_P50_MS")"
row "  the same, direct to the target" "${R[tt_direct_p50]}/${R[tt_direct_p99]}" "" "-" "-"
row "round trip p50 us, open connection" "${R[rtt_direct]} (direct)" "${R[rtt_mux]} (open stream)" "-" "-"
floor=$(awk -v r="${R[rtt_direct]}" 'BEGIN{ if (r == "") print "?"; else printf "%.3f", 6 * r / 1000 }')
row "  TTFB floor, 12 hand-offs (6 x rtt)" "" "$floor" "-" "-"
row "single-stream MiB/s" "${R[s1_obfs4]}" "${R[s1_mux]} ($(pct "${R[s1_mux]}" "${R[s1_obfs4]}"))" \
    ">= $(awk -v r=$T_SINGLE_RATIO 'BEGIN{printf "%.0f", r*100}')% of obfs4" "$(pf ge "$s1_r" "$T_SINGLE_RATIO")"
row "$STREAMS streams MiB/s (all together)" "${R[sh_obfs4]}" "${R[sh_mux]} ($(pct "${R[sh_mux]}" "${R[sh_obfs4]}"))" "-" "-"
row "$STREAMS streams min..max MiB/s each" "${R[sh_obfs4_min]}..${R[sh_obfs4_max]}" \
    "${R[sh_mux_min]}..${R[sh_mux_max]}" "-" "-"
row "$STREAMS streams spread (max-min)/min" "${R[sh_obfs4_spread]}%" "${R[sh_mux_spread]}%" \
    "<= $T_SPREAD_PCT% (mux)" "$(pf le "${R[sh_mux_spread]}" "$T_SPREAD_PCT")"
echo
echo "obfs4: $STREAMS separate obfs4 connections; obfs4 + mux: $STREAMS streams of one session."
echo "TTFB, 1 in flight: connect, SOCKS greeting and request, 1-byte echo. Through the mux that is 12"
echo "hand-offs from one process to another (loadgen, client, server, target); direct it is 2."
echo "A round trip on an open connection is 2 hand-offs with nothing else to do, so 6 of them bound"
echo "from below what any relay that answers SOCKS after the far end's reply can reach here."
echo "per-stream MiB/s, obfs4: ${R[sh_obfs4_per]}"
echo "per-stream MiB/s, mux:   ${R[sh_mux_per]}"
echo "TCP connections to the mux server after the sharing test: ${R[carriers_share]}, after the connection-rate test: ${R[carriers_cr]} (one session each time means 1)"
echo "CPU used during each test, % of one core ($(nproc) cores = $(( $(nproc) * 100 ))%): loadgen/target/warren client/warren server +rest of the machine"
printf '  %-22s %-22s %s\n' "" obfs4 "obfs4 + mux"
printf '  %-22s %-22s %s\n' "single-stream" "${R[s1_obfs4_cpu]}" "${R[s1_mux_cpu]}"
printf '  %-22s %-22s %s\n' "$STREAMS streams" "${R[sh_obfs4_cpu]}" "${R[sh_mux_cpu]}"
printf '  %-22s %-22s %s\n' "connections/s" "${R[cr_obfs4_cpu]}" "${R[cr_mux_cpu]}"
printf '  %-22s %-22s %s\n' "TTFB, 1 in flight" "${R[tt_obfs4_cpu]}" "${R[tt_mux_cpu]}"
errs="${R[cr_obfs4_err]}/${R[cr_mux_err]}/${R[tt_obfs4_err]}/${R[tt_mux_err]}"
[ "$errs" = "0/0/0/0" ] || echo "connection errors (obfs4/mux under load, obfs4/mux 1 in flight): $errs (see $OUT/mux-lg-*.out)"
if [ ${#disturbed[@]} -gt 0 ]; then
    echo "WARNING: something else used the CPU (the machine was ${BACKGROUND}% busy before the start) during: ${disturbed[*]}."
    echo "  Those figures are too low; rerun on an idle machine."
fi
echo "logs and loadgen output: $OUT/mux-*"
} | tee "$OUT/mux-results.txt"
