#!/usr/bin/env bash
# bench/run.sh: warren plain (client + server) against a direct connection, on loopback, in one
# run. Builds bench/loadgen.c (cc -O2) and, if needed, warren; starts a target, a warren server
# and two warren clients (socks5 and transparent-TCP); measures single-stream and 8-stream
# throughput, connections per second, time to first byte, and the RSS per idle tunnelled
# connection at 1,000 and 10,000 connections; prints one table with a pass/fail column for the
# targets. See bench/README.md. Every process it starts is stopped by its pid on exit.
#
# Environment (all optional):
#   BENCH_SECONDS=5        length of each throughput and connection-rate test
#   BENCH_TTFB_SECONDS=2   length of each unloaded (1 in flight) time-to-first-byte test
#   BENCH_INFLIGHT=64      connections in flight in the connection-rate test
#   BENCH_STREAMS=8        streams in the multi-stream throughput test
#   BENCH_HOLD="1000 10000" idle-connection counts for the RSS test
#   BENCH_IPERF=1          cross-check direct and tunnelled single-stream throughput with iperf3
#   BENCH_OUT=bench/out    where logs, the binaries and results.txt go
#   WARREN_BIN=...         use this warren instead of building build-bench/warren
#   BENCH_REBUILD=1        re-run the cmake configure step before the (incremental) build
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
SECS=${BENCH_SECONDS:-5}
TTFB_SECS=${BENCH_TTFB_SECONDS:-2}
INFLIGHT=${BENCH_INFLIGHT:-64}
STREAMS=${BENCH_STREAMS:-8}
HOLD_COUNTS=${BENCH_HOLD:-"1000 10000"}
OUT=${BENCH_OUT:-$here/out}
LG=$OUT/loadgen

# Targets from the issue.
T_SINGLE_RATIO=0.60     # plain single-stream >= 60% of direct loopback
T_CPS=7000              # connections/s
T_RSS_KIB=12            # KiB per idle tunnelled connection, client + server
T_HELD=10000            # concurrent connections held

LOG_TAG=bench OUT_PREFIX=
. "$here/lib.sh"
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
fdcount() { ls "/proc/$1/fd" 2>/dev/null | wc -l; }


# ---- build ----------------------------------------------------------------------------------
build_tool loadgen
build_warren

# Children inherit this; warren and loadgen also raise their own soft limit to the hard one.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
NOFILE_HARD=$(ulimit -Hn)

# ---- the processes under test ---------------------------------------------------------------
start target "$LG" target -l 127.0.0.1:0 -t 3600
TARGET_PID=$last_pid
TARGET=$(wait_line "$OUT/target.out" '^LISTEN ' | awk '{print $2}')

# start_pair PREFIX: a warren server and a socks5 client; sets SRV_PID SRV CLI_PID CLI.
start_pair() {
    local p=$1
    start "$p-server" "$WARREN" -server -transports plain -bindaddr plain-127.0.0.1:0 -target "$TARGET" \
        -state "$OUT/state-$p-server"
    SRV_PID=$last_pid
    SRV=$(wait_line "$OUT/$p-server.out" '^SMETHOD plain ' | awk '{print $3}')
    wait_line "$OUT/$p-server.out" '^SMETHODS DONE' >/dev/null
    start "$p-client" "$WARREN" -client -transports plain -proxylistenaddr 127.0.0.1:0 \
        -state "$OUT/state-$p-client"
    CLI_PID=$last_pid
    CLI=$(wait_line "$OUT/$p-client.out" '^CMETHOD plain ' | awk '{print $4}')
    wait_line "$OUT/$p-client.out" '^CMETHODS DONE' >/dev/null
}
start_pair main
TRANSP_CLI=
start transparent-client "$WARREN" -client -transports plain -mode transparent-TCP \
    -proxylistenaddr 127.0.0.1:0 -options "{\"serverAddress\":\"$SRV\"}" -state "$OUT/state-transparent"
TRANSP_PID=$last_pid
TRANSP_CLI=$(wait_line "$OUT/transparent-client.out" '^CMETHOD plain ' | awk '{print $4}')

log "machine: $(nproc) CPUs ($(awk -F': ' '/model name/{print $2; exit}' /proc/cpuinfo)), kernel $(uname -r)"
log "warren: $WARREN ($(git -C "$root" describe --always --dirty 2>/dev/null || echo '?')), libevent $(pkg-config --modversion libevent_core 2>/dev/null || echo '?')"
log "target $TARGET; warren server $SRV; socks5 client $CLI; transparent-TCP client $TRANSP_CLI"
log "open files: soft $(ulimit -n), hard $NOFILE_HARD; each test ${SECS}s"
b0=$(sys_busy); sleep 1; BACKGROUND=$(( ($(sys_busy) - b0) * 100 / $(getconf CLK_TCK) ))
log "CPU busy before starting (other processes): ${BACKGROUND}% of one core"
[ "$BACKGROUND" -lt 20 ] || log "WARNING: the machine is not idle; the figures will be lower and noisier than they should be"

declare -A R   # results

# ---- throughput -----------------------------------------------------------------------------
cpu_pids=("$TARGET_PID")
log "single-stream throughput: direct"
lg tp1-direct throughput -a "$TARGET" -n 1 -t "$SECS"; R[s1_direct]=$(kv "$LG_RES" mibps)
R[s1_direct_cpu]=$cpu_note
cpu_pids=("$TARGET_PID" "$CLI_PID" "$SRV_PID")
log "single-stream throughput: warren socks5"
lg tp1-socks throughput -a "$CLI" -s "$SRV" -n 1 -t "$SECS"; R[s1_socks]=$(kv "$LG_RES" mibps)
R[s1_socks_cpu]=$cpu_note
cpu_pids=("$TARGET_PID" "$TRANSP_PID" "$SRV_PID")
log "single-stream throughput: warren transparent-TCP"
lg tp1-transp throughput -a "$TRANSP_CLI" -n 1 -t "$SECS"; R[s1_transp]=$(kv "$LG_RES" mibps)
R[s1_transp_cpu]=$cpu_note

cpu_pids=("$TARGET_PID")
log "$STREAMS-stream throughput: direct"
lg tp8-direct throughput -a "$TARGET" -n "$STREAMS" -t "$SECS"; R[s8_direct]=$(kv "$LG_RES" mibps)
R[s8_direct_cpu]=$cpu_note
cpu_pids=("$TARGET_PID" "$CLI_PID" "$SRV_PID")
log "$STREAMS-stream throughput: warren socks5"
lg tp8-socks throughput -a "$CLI" -s "$SRV" -n "$STREAMS" -t "$SECS"; R[s8_socks]=$(kv "$LG_RES" mibps)
R[s8_socks_cpu]=$cpu_note
cpu_pids=("$TARGET_PID" "$TRANSP_PID" "$SRV_PID")
log "$STREAMS-stream throughput: warren transparent-TCP"
lg tp8-transp throughput -a "$TRANSP_CLI" -n "$STREAMS" -t "$SECS"; R[s8_transp]=$(kv "$LG_RES" mibps)
R[s8_transp_cpu]=$cpu_note

# ---- connection rate and time to first byte ---------------------------------------------------
connrate() { # KEY NAME ARGS...
    local key=$1 name=$2; shift 2
    lg "$name" connrate "$@"
    local res=$LG_RES
    R[${key}]=$(kv "$res" cps)
    R[${key}_p50]=$(kv "$res" ttfb_p50_ms)
    R[${key}_p99]=$(kv "$res" ttfb_p99_ms)
    local e f
    e=$(kv "$res" errors); f=$(kv "$res" open_failures)
    R[${key}_err]=$(( ${e:-0} + ${f:-0} ))
    R[${key}_cpu]=$cpu_note
}
tw_count() { ss -tan state time-wait 2>/dev/null | tail -n +2 | wc -l; }
TW_BEFORE=$(tw_count)
cpu_pids=("$TARGET_PID")
log "connections/s ($INFLIGHT in flight): direct"
connrate cr_direct cr-direct -a "$TARGET" -c "$INFLIGHT" -t "$SECS"
cpu_pids=("$TARGET_PID" "$CLI_PID" "$SRV_PID")
log "connections/s ($INFLIGHT in flight): warren socks5"
connrate cr_socks cr-socks -a "$CLI" -s "$SRV" -c "$INFLIGHT" -t "$SECS"
cpu_pids=("$TARGET_PID" "$TRANSP_PID" "$SRV_PID")
log "connections/s ($INFLIGHT in flight): warren transparent-TCP"
connrate cr_transp cr-transp -a "$TRANSP_CLI" -c "$INFLIGHT" -t "$SECS"
log "time to first byte (1 in flight): direct, warren socks5, warren transparent-TCP"
cpu_pids=("$TARGET_PID")
connrate tt_direct tt-direct -a "$TARGET" -c 1 -t "$TTFB_SECS"
cpu_pids=("$TARGET_PID" "$CLI_PID" "$SRV_PID")
connrate tt_socks tt-socks -a "$CLI" -s "$SRV" -c 1 -t "$TTFB_SECS"
cpu_pids=("$TARGET_PID" "$TRANSP_PID" "$SRV_PID")
connrate tt_transp tt-transp -a "$TRANSP_CLI" -c 1 -t "$TTFB_SECS"

# ---- iperf3 cross-check (single stream) -----------------------------------------------------
if [ "${BENCH_IPERF:-1}" = 1 ] && command -v iperf3 >/dev/null; then
    IPORT=$("$LG" freeport)
    start iperf3-server iperf3 -s -B 127.0.0.1 -p "$IPORT" --forceflush
    IPERF_PID=$last_pid
    wait_line "$OUT/iperf3-server.out" 'listening' >/dev/null || true
    start iperf-wserver "$WARREN" -server -transports plain -bindaddr plain-127.0.0.1:0 \
        -target "127.0.0.1:$IPORT" -state "$OUT/state-iperf-server"
    IWS_PID=$last_pid
    IWS=$(wait_line "$OUT/iperf-wserver.out" '^SMETHOD plain ' | awk '{print $3}')
    start iperf-wclient "$WARREN" -client -transports plain -mode transparent-TCP \
        -proxylistenaddr 127.0.0.1:0 -options "{\"serverAddress\":\"$IWS\"}" -state "$OUT/state-iperf-client"
    IWC_PID=$last_pid
    IWC=$(wait_line "$OUT/iperf-wclient.out" '^CMETHOD plain ' | awk '{print $4}')
    iperf_rate() { # ADDR PORT NAME: receiver MiB/s (iperf3 -f M uses 1024-based units)
        start "$3" iperf3 -c "$1" -p "$2" -t "$SECS" -f M --forceflush
        wait "$last_pid" || true
        awk '/receiver/ { for (i = 1; i < NF; i++) if ($(i+1) == "MBytes/sec") v = $i } END { print v ? v : "?" }' "$OUT/$3.out"
    }
    log "iperf3 cross-check: direct"
    R[ip_direct]=$(iperf_rate 127.0.0.1 "$IPORT" iperf3-direct)
    log "iperf3 cross-check: warren transparent-TCP"
    R[ip_transp]=$(iperf_rate "${IWC%:*}" "${IWC##*:}" iperf3-warren)
    stop "$IWC_PID"; stop "$IWS_PID"; stop "$IPERF_PID"
fi

# ---- RSS per idle tunnelled connection ------------------------------------------------------
# A fresh server + socks5 client for each count, so memory left over from earlier tests does
# not hide the cost; baseline = VmRSS(client) + VmRSS(server) before, held = the same with N
# idle connections open (each proved live by an echo), per connection = (held - baseline) / N.
stop "$TRANSP_PID"
stop "$CLI_PID"; stop "$SRV_PID"
for n in $HOLD_COUNTS; do
    log "idle connections: $n through a fresh warren server + socks5 client"
    start_pair "hold$n"
    sleep 0.3
    b_c=$(rss_kib "$CLI_PID"); b_s=$(rss_kib "$SRV_PID")
    start "lg-hold$n" "$LG" hold -a "$CLI" -s "$SRV" -n "$n" -c 100 -w 5 -t 300
    HOLD_PID=$last_pid
    line=$(wait_line "$OUT/lg-hold$n.out" '^HOLD ' 90) || line="HOLD established=0"
    sleep 1    # let the last relays settle
    h_c=$(rss_kib "$CLI_PID"); h_s=$(rss_kib "$SRV_PID")
    f_c=$(fdcount "$CLI_PID"); f_s=$(fdcount "$SRV_PID")
    kill -USR1 "$HOLD_PID" 2>/dev/null || true
    wait "$HOLD_PID" || true
    res=$(grep -m1 '^RESULT' "$OUT/lg-hold$n.out" || echo "RESULT alive=0")
    est=$(kv " $line" established); alive=$(kv "$res" alive)
    R[h${n}_est]=$est; R[h${n}_alive]=$alive
    R[h${n}_fds]="$f_c+$f_s"
    R[h${n}_warn]=$(grep -hm1 'WARN' "$OUT/hold$n-client.err" "$OUT/hold$n-server.err" 2>/dev/null | head -1 | cut -c1-150 || true)
    if [ "${est:-0}" -gt 0 ]; then
        R[h${n}_kib]=$(awk -v a=$((h_c + h_s - b_c - b_s)) -v n="$est" 'BEGIN{printf "%.2f", a/n}')
        R[h${n}_c]=$(awk -v a=$((h_c - b_c)) -v n="$est" 'BEGIN{printf "%.2f", a/n}')
        R[h${n}_s]=$(awk -v a=$((h_s - b_s)) -v n="$est" 'BEGIN{printf "%.2f", a/n}')
    fi
    R[h${n}_base]="$b_c+$b_s"; R[h${n}_held]="$h_c+$h_s"
    stop "$CLI_PID"; stop "$SRV_PID"
done

# ---- the table ------------------------------------------------------------------------------
pct() { awk -v a="$1" -v b="$2" 'BEGIN{ if (a == "" || b == "" || b == 0) print "?"; else printf "%.1f%%", 100*a/b }'; }

{
echo
printf 'warren bench: tree %s (binary built %s), %s CPUs, kernel %s, libevent %s, %s s per test, %s\n' \
    "$(git -C "$root" describe --always --dirty 2>/dev/null || echo '?')" "$WARREN_BUILT" "$(nproc)" "$(uname -r)" \
    "$(pkg-config --modversion libevent_core 2>/dev/null || echo '?')" "$SECS" "$(date -u '+%Y-%m-%d %H:%M UTC')"
printf '%-34s %11s %21s %21s %-22s %s\n' "metric" "direct" "warren socks5" "warren transp-TCP" "target" "result"
printf '%-34s %11s %21s %21s %-22s %s\n' "----------------------------------" "-----------" "---------------------" "---------------------" "----------------------" "------"
row() { printf '%-34s %11s %21s %21s %-22s %s\n' "$@"; }
row "single-stream MiB/s" "${R[s1_direct]}" "${R[s1_socks]} ($(pct "${R[s1_socks]}" "${R[s1_direct]}"))" \
    "${R[s1_transp]} ($(pct "${R[s1_transp]}" "${R[s1_direct]}"))" ">= 60% of direct" \
    "$(pf ge "$(awk -v a="${R[s1_socks]}" -v b="${R[s1_direct]}" 'BEGIN{print (b > 0 ? a/b : 0)}')" "$T_SINGLE_RATIO")"
row "$STREAMS-stream MiB/s" "${R[s8_direct]}" "${R[s8_socks]} ($(pct "${R[s8_socks]}" "${R[s8_direct]}"))" \
    "${R[s8_transp]} ($(pct "${R[s8_transp]}" "${R[s8_direct]}"))" "-" "-"
if [ -n "${R[ip_direct]:-}" ]; then
    row "iperf3 single-stream MiB/s" "${R[ip_direct]}" "-" "${R[ip_transp]} ($(pct "${R[ip_transp]}" "${R[ip_direct]}"))" "(cross-check)" "-"
fi
row "connections/s ($INFLIGHT in flight)" "${R[cr_direct]}" "${R[cr_socks]}" "${R[cr_transp]}" ">= $T_CPS" \
    "$(pf ge "${R[cr_socks]}" "$T_CPS")"
row "TTFB p50/p99 ms, $INFLIGHT in flight" "${R[cr_direct_p50]}/${R[cr_direct_p99]}" \
    "${R[cr_socks_p50]}/${R[cr_socks_p99]}" "${R[cr_transp_p50]}/${R[cr_transp_p99]}" "-" "-"
row "TTFB p50/p99 ms, 1 in flight" "${R[tt_direct_p50]}/${R[tt_direct_p99]}" \
    "${R[tt_socks_p50]}/${R[tt_socks_p99]}" "${R[tt_transp_p50]}/${R[tt_transp_p99]}" "-" "-"
for n in $HOLD_COUNTS; do
    if [ -n "${R[h${n}_kib]:-}" ]; then
        v="${R[h${n}_kib]} (c ${R[h${n}_c]} + s ${R[h${n}_s]})"
        res=$(pf awk -v a="${R[h${n}_kib]}" -v b="$T_RSS_KIB" 'BEGIN{exit !(a <= b)}')
    else
        v="?"; res=FAIL
    fi
    [ "${R[h${n}_est]:-0}" = "$n" ] || v="$v *"
    row "RSS KiB/idle conn @ $n" "-" "$v" "-" "<= $T_RSS_KIB KiB (c+s)" "$res"
done
for n in $HOLD_COUNTS; do
    row "connections held @ $n" "-" "${R[h${n}_est]:-0} est, ${R[h${n}_alive]:-0} alive" "-" \
        "$( [ "$n" = "$T_HELD" ] && echo "$T_HELD held" || echo "-")" \
        "$( if [ "$n" = "$T_HELD" ]; then pf [ "${R[h${n}_est]:-0}" = "$n" -a "${R[h${n}_alive]:-0}" = "$n" ]; else echo "-"; fi)"
done
echo
echo "CPU used during each test, % of one core ($(nproc) cores = $(( $(nproc) * 100 ))%): loadgen/target[/warren client/warren server] +rest of the machine"
printf '  %-16s %-18s %-24s %s\n' "" direct "warren socks5" "warren transp-TCP"
printf '  %-16s %-18s %-24s %s\n' "single-stream" "${R[s1_direct_cpu]}" "${R[s1_socks_cpu]}" "${R[s1_transp_cpu]}"
printf '  %-16s %-18s %-24s %s\n' "$STREAMS-stream" "${R[s8_direct_cpu]}" "${R[s8_socks_cpu]}" "${R[s8_transp_cpu]}"
printf '  %-16s %-18s %-24s %s\n' "connections/s" "${R[cr_direct_cpu]}" "${R[cr_socks_cpu]}" "${R[cr_transp_cpu]}"
if [ ${#disturbed[@]} -gt 0 ]; then
    echo "WARNING: something else used the CPU (the machine was ${BACKGROUND}% busy before the start) during: ${disturbed[*]}."
    echo "  Those figures are too low; rerun on an idle machine."
fi
echo "TIME_WAIT sockets on the machine before the connection tests: $TW_BEFORE, after: $(tw_count)" \
     "(net.ipv4.tcp_max_tw_buckets $(cat /proc/sys/net/ipv4/tcp_max_tw_buckets 2>/dev/null || echo '?');" \
     "warren's own dials, from 127.0.0.1, share the port range with them)"
errs="${R[cr_direct_err]}/${R[cr_socks_err]}/${R[cr_transp_err]}"
[ "$errs" = "0/0/0" ] || echo "connection-rate errors (direct/socks5/transp): $errs (see $OUT/lg-cr-*.out)"
for n in $HOLD_COUNTS; do
    echo "idle @ $n: RSS KiB client+server baseline ${R[h${n}_base]}, held ${R[h${n}_held]}; open fds client+server ${R[h${n}_fds]}"
    if [ "${R[h${n}_est]:-0}" != "$n" ]; then
        echo "  * only ${R[h${n}_est]:-0} of $n established (per-connection RSS is over those). Open-files hard limit: $NOFILE_HARD;" \
             "each warren process needs 2 fds per tunnelled connection, so about $(( (NOFILE_HARD - 10) / 2 )) at most here."
        [ -z "${R[h${n}_warn]}" ] || echo "    warren said: ${R[h${n}_warn]}"
    fi
done
echo "logs and loadgen output: $OUT"
} | tee "$OUT/results.txt"
