#!/usr/bin/env bash
# bench/udp.sh: warren transparent-UDP (plain, client + server) against sending the same
# datagrams straight to the target, on loopback, in one run. Builds bench/udpgen.c (cc -O2)
# and, if needed, warren; starts a UDP echo and a UDP sink (udpgen), and for each a warren
# server (-mode transparent-UDP -target it) and a warren client in front of that server; then,
# for each datagram size and offered rate, sends for BENCH_UDP_SECONDS from one socket:
#   one-way:    udpgen send -> [warren client -> warren server ->] sink (the sink counts)
#   round trip: udpgen send -> [warren client -> warren server ->] echo -> back the same way
# and prints one table: datagrams/s sent and received, loss %, latency, where datagrams were
# lost, and the CPU each process used. See bench/README.md. Every process it starts is
# stopped by its pid on exit.
#
# Environment (all optional):
#   BENCH_UDP_SECONDS=5            length of each run
#   BENCH_UDP_SIZES="100 1400"     datagram sizes (bytes, 24 to 65507)
#   BENCH_UDP_RATES="50000 100000 150000 max"   offered datagrams/s ("max": as fast as one
#                                  sender thread goes)
#   BENCH_UDP_KINDS="oneway echo"  which measurements
#   BENCH_UDP_WARM_MS=300          each run first sends one warm-up datagram and waits this long, so
#                                  the tunnel's flow is open when the clock starts (0: cold starts)
#   BENCH_UDP_COLD=1               also one cold-start run (no warm-up, 100 B at 100,000/s, 1 s):
#                                  what a new flow loses while its connection opens
#   BENCH_OUT=bench/out            where logs, the binaries and udp-results.txt go
#   WARREN_BIN=...                 use this warren instead of building build-bench/warren
#   BENCH_REBUILD=1                re-run the cmake configure step before the (incremental) build
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
SECS=${BENCH_UDP_SECONDS:-5}
SIZES=${BENCH_UDP_SIZES:-"100 1400"}
RATES=${BENCH_UDP_RATES:-"50000 100000 150000 max"}
KINDS=${BENCH_UDP_KINDS:-"oneway echo"}
WARM_MS=${BENCH_UDP_WARM_MS:-300}
COLD=${BENCH_UDP_COLD:-1}
OUT=${BENCH_OUT:-$here/out}
UG=$OUT/udpgen

# Target from the issue: 100,000 datagrams/s of 100 bytes through client + server, no loss.
T_SIZE=100
T_RATE=100000

LOG_TAG=udp-bench OUT_PREFIX=
. "$here/lib.sh"
sys_busy() { awk '/^cpu / {print $2 + $3 + $4 + $9}' /proc/stat; }      # user nice system steal
sys_irq() { awk '/^cpu / {print $7 + $8}' /proc/stat; }                  # irq softirq
# The UDP sockets of the machine: "inode local_port remote_port drops" (drops: datagrams the
# kernel dropped for that socket, its receive buffer being full).
udp_snap() { awk 'function hex(s,  i, v) { v = 0; for (i = 1; i <= length(s); i++) v = v * 16 + index("0123456789ABCDEF", toupper(substr(s, i, 1))) - 1; return v }
    NR > 1 { split($2, l, ":"); split($3, r, ":"); print $10, hex(l[2]), hex(r[2]), $NF }' /proc/net/udp; }
# udp_drops BEFORE AFTER CLI_PORT TGT_PORT: "cli/srv/tgt" drops between two snapshots: the warren
# client's socket (local CLI_PORT), the warren server's sockets to the target (remote TGT_PORT),
# the target's socket (local TGT_PORT). Keyed by inode, so sockets closed meanwhile do not count.
udp_drops() { awk -v c="$3" -v t="$4" 'NR == FNR { b[$1] = $4; next }
    { d = $4 - ($1 in b ? b[$1] : 0); if ($2 == c) cli += d; else if ($2 == t) tgt += d; else if ($3 == t) srv += d }
    END { printf "%d/%d/%d", cli, srv, tgt }' "$1" "$2"; }
# flow_end FILE N: the numbers of the N-th "flow ... ended: A datagrams ..., B back, C dropped"
# line of a warren log ("A B C"), waiting up to 5 s for it; "? ? ?" if it does not come.
flow_end() {
    local i line
    for i in $(seq 1 100); do
        line=$(grep -E 'flow .*ended: ' "$1" 2>/dev/null | sed -n "${2}p")
        if [ -n "$line" ]; then
            sed -E 's/.*ended: ([0-9]+) datagrams[^,]*, ([0-9]+) back, ([0-9]+) dropped.*/\1 \2 \3/' <<<"$line"
            return
        fi
        sleep 0.05
    done
    echo "? ? ?"
}
flows_ended() { grep -cE 'flow .*ended: ' "$1" 2>/dev/null || true; }

# ---- build ----------------------------------------------------------------------------------
build_tool udpgen
build_warren

# ---- the processes under test ---------------------------------------------------------------
hz=$(getconf CLK_TCK)
b0=$(( $(sys_busy) + $(sys_irq) )); sleep 1; b1=$(( $(sys_busy) + $(sys_irq) ))
BACKGROUND=$(( (b1 - b0) * 100 / hz ))

start udp-echo "$UG" echo -l 127.0.0.1:0; ECHO_PID=$last_pid
ECHO=$(wait_line "$OUT/udp-echo.out" '^LISTEN ' | awk '{print $2}')
start udp-sink "$UG" sink -l 127.0.0.1:0 -q 300; SINK_PID=$last_pid
SINK=$(wait_line "$OUT/udp-sink.out" '^LISTEN ' | awk '{print $2}')

start_pair() {  # start_pair NAME TARGET: sets PAIR_CLI PAIR_CLI_PID PAIR_SRV_PID
    local name=$1 target=$2 srv
    start "udp-$name-server" "$WARREN" -server -transports plain -mode transparent-UDP \
        -bindaddr plain-127.0.0.1:0 -target "$target" -logLevel INFO -state "$OUT/state-udp-$name-server"
    PAIR_SRV_PID=$last_pid
    srv=$(wait_line "$OUT/udp-$name-server.out" '^SMETHOD plain ' | awk '{print $3}')
    start "udp-$name-client" "$WARREN" -client -transports plain -mode transparent-UDP \
        -proxylistenaddr 127.0.0.1:0 -options "{\"serverAddress\":\"$srv\",\"udpIdleTimeout\":1}" -logLevel INFO \
        -state "$OUT/state-udp-$name-client"
    PAIR_CLI_PID=$last_pid
    PAIR_CLI=$(wait_line "$OUT/udp-$name-client.out" '^CMETHOD plain transparent-UDP ' | awk '{print $4}')
}
start_pair sink "$SINK"; W_SINK=$PAIR_CLI; WS_CLI_PID=$PAIR_CLI_PID; WS_SRV_PID=$PAIR_SRV_PID
start_pair echo "$ECHO"; W_ECHO=$PAIR_CLI; WE_CLI_PID=$PAIR_CLI_PID; WE_SRV_PID=$PAIR_SRV_PID
WLOGS_SINK=("$OUT/udp-sink-client.err" "$OUT/udp-sink-server.err")
WLOGS_ECHO=("$OUT/udp-echo-client.err" "$OUT/udp-echo-server.err")

# ---- one run --------------------------------------------------------------------------------
# one_run KIND PATH SIZE RATE [WARM_MS] [SECONDS]: stores "send_pps recv_pps loss p50 p99
# kernel-drops warren-drops cpu +si bad/dup" in R[KIND,PATH,SIZE,RATE], the RESULT in $RUN_RES
declare -A R
run_id=1000
RUN_RES=
FLOW_NOTE=
disturbed=()
one_run() {
    local kind=$1 path=$2 size=$3 rate=$4 addr pids_cpu=() logs=() r warm=${5:-$WARM_MS} secs=${6:-$SECS}
    [ "$rate" = max ] && r=0 || r=$rate
    if [ "$kind" = oneway ]; then
        pids_cpu=("$SINK_PID")
        if [ "$path" = direct ]; then addr=$SINK; else addr=$W_SINK; pids_cpu+=("$WS_CLI_PID" "$WS_SRV_PID"); logs=("${WLOGS_SINK[@]}"); fi
    else
        pids_cpu=("$ECHO_PID")
        if [ "$path" = direct ]; then addr=$ECHO; else addr=$W_ECHO; pids_cpu+=("$WE_CLI_PID" "$WE_SRV_PID"); logs=("${WLOGS_ECHO[@]}"); fi
    fi
    run_id=$((run_id + 1))
    local name="udp-$kind-$path-$size-$rate" before=() p i=0 t0 t1 sb rb wb res
    for p in "${pids_cpu[@]}"; do before+=("$(cpu_ticks "$p")"); done
    sb=$(sys_busy); local ib; ib=$(sys_irq)
    udp_snap > "$OUT/udp-snap-before"
    local ce=0 se=0
    if [ "$path" = warren ]; then ce=$(flows_ended "${logs[0]}"); se=$(flows_ended "${logs[1]}"); fi
    t0=$(date +%s%N)
    if [ "$kind" = oneway ]; then
        "$UG" send -a "$addr" -s "$size" -r "$r" -t "$secs" -i "$run_id" -W "$warm" > "$OUT/$name.out" 2> "$OUT/$name.err" || true
        res=$(grep -m1 '^RESULT' "$OUT/$name.out" || echo "RESULT failed=1")
        local line sent recv span first last t0s
        line=$(wait_line "$OUT/udp-sink.out" "^RUN id=$run_id " 15 || echo "RUN recv=0")
        echo "$line" >> "$OUT/$name.out"
        sent=$(kv "$res" sent); recv=$(kv "$line" recv); last=$(kv "$line" last_ns); t0s=$(kv "$res" t0_ns)
        res+=" recv=$recv p50_us=$(kv "$line" p50_us) p99_us=$(kv "$line" p99_us) bad=$(kv "$line" bad) dup=$(kv "$line" dup)"
        res+=" $(awk -v s="${sent:-0}" -v n="${recv:-0}" -v l="${last:-0}" -v t="${t0s:-0}" -v secs="$secs" 'BEGIN {
            span = (l > t) ? (l - t) / 1e9 : secs; if (span < secs) span = secs;
            printf "recv_pps=%.0f loss_pct=%.3f", n / span, s ? 100 * (s - n) / s : 0 }')"
    else
        "$UG" send -a "$addr" -s "$size" -r "$r" -t "$secs" -e -w 1000 -i "$run_id" -W "$warm" > "$OUT/$name.out" 2> "$OUT/$name.err" || true
        res=$(grep -m1 '^RESULT' "$OUT/$name.out" || echo "RESULT failed=1")
    fi
    t1=$(date +%s%N)
    udp_snap > "$OUT/udp-snap-after"
    # warren's own drops, exact: the flow ends (udpIdleTimeout 1 s on the client) and both sides
    # log what it carried and dropped.
    local wd="-"
    if [ "$path" = warren ]; then
        local cf sf
        cf=($(flow_end "${logs[0]}" $((ce + 1)))); sf=($(flow_end "${logs[1]}" $((se + 1))))
        wd="${cf[2]}/${sf[2]}"
        FLOW_NOTE="client: ${cf[0]} out, ${cf[1]} back, ${cf[2]} dropped; server: ${sf[0]} to the target, ${sf[1]} back, ${sf[2]} dropped"
        echo "FLOW $FLOW_NOTE" >> "$OUT/$name.out"
    fi
    local tport cport drops
    if [ "$kind" = oneway ]; then tport=${SINK##*:}; cport=${W_SINK##*:}; else tport=${ECHO##*:}; cport=${W_ECHO##*:}; fi
    [ "$path" = warren ] || cport=-1
    drops="$(udp_drops "$OUT/udp-snap-before" "$OUT/udp-snap-after" "$cport" "$tport")/$(kv "$res" rxdrops)"
    [ "$kind" = echo ] || drops="${drops%/*}/-"
    local ns=$((t1 - t0)) cpu sum d whole gen
    gen=$(awk -v d="$(kv "$res" cpu_ms)" -v ns=$ns 'BEGIN{printf "%.0f", 100*d/1e3/(ns/1e9)}')
    cpu=$gen; sum=$gen
    for p in "${pids_cpu[@]}"; do
        d=$(( $(cpu_ticks "$p") - before[i] ))
        pc=$(awk -v d="$d" -v hz="$hz" -v ns=$ns 'BEGIN{printf "%.0f", 100*d/hz/(ns/1e9)}')
        cpu+="/$pc"; sum=$((sum + pc)); i=$((i + 1))
    done
    whole=$(awk -v d="$(( $(sys_busy) - sb ))" -v hz="$hz" -v ns=$ns 'BEGIN{printf "%.0f", 100*d/hz/(ns/1e9)}')
    local other=$((whole - sum)); [ $other -ge 0 ] || other=0
    [ $other -lt 40 ] || disturbed+=("$name (+$other%)")
    local si; si=$(awk -v d="$(( $(sys_irq) - ib ))" -v hz="$hz" -v ns=$ns 'BEGIN{printf "%.0f", 100*d/hz/(ns/1e9)}')
    RUN_RES=$res
    R[$kind,$path,$size,$rate]="$(kv "$res" send_pps) $(kv "$res" recv_pps) $(kv "$res" loss_pct) $(kv "$res" p50_us) $(kv "$res" p99_us) $drops $wd $cpu +$si $(kv "$res" bad)/$(kv "$res" dup)"
    log "$(printf '%-6s %-6s %5s B %6s/s: %s' "$kind" "$path" "$size" "$rate" "${R[$kind,$path,$size,$rate]}")"
}

for kind in $KINDS; do
    for size in $SIZES; do
        for rate in $RATES; do
            one_run "$kind" direct "$size" "$rate"
            one_run "$kind" warren "$size" "$rate"
        done
    done
done

COLD_LINE=
if [ "$COLD" = 1 ]; then
    log "cold start: 100 B at 100,000/s for 1 s from a new source, no warm-up"
    saved=${R[oneway,warren,$T_SIZE,$T_RATE]:-}
    one_run oneway warren "$T_SIZE" "$T_RATE" 0 1
    read -r _ _ cl _ _ cdr _ _ _ _ <<<"${R[oneway,warren,$T_SIZE,$T_RATE]}"
    R[oneway,warren,$T_SIZE,$T_RATE]=$saved
    cs=$(kv "$RUN_RES" sent); cr=$(kv "$RUN_RES" recv)
    COLD_LINE="cold start (new flow, no warm-up, 100 B at 100,000/s for 1 s): sent $cs, received $cr, lost $((cs - cr)) ($cl%); kernel drops cli/srv/tgt $cdr; $FLOW_NOTE"
fi

# ---- the table ------------------------------------------------------------------------------
fmt() { awk -v v="$1" 'BEGIN{ if (v == "" || v == "?") print "?"; else { s = sprintf("%.0f", v); out = ""; n = length(s); for (i = 1; i <= n; i++) { out = out substr(s, i, 1); if ((n - i) % 3 == 0 && i < n) out = out "," } print out } }'; }
{
echo
printf 'warren UDP bench: tree %s (binary built %s), %s CPUs, kernel %s, %s s per run, %s\n' \
    "$(git -C "$root" describe --always --dirty 2>/dev/null || echo '?')" "$WARREN_BUILT" "$(nproc)" \
    "$(uname -r)" "$SECS" "$(date -u '+%Y-%m-%d %H:%M UTC')"
echo "plain, transparent-UDP; one flow (one source socket) per run; offered = paced send rate, max = one sender thread flat out"
W='%-7s %5s %8s | %9s %9s %7s %11s | %9s %9s %7s %13s %-21s %-11s | %-22s %s\n'
printf '%-7s %5s %8s | %-40s | %-76s | %s\n' "" "" "" "direct to the target" "through warren client + server (plain)" ""
printf "$W" kind bytes offered "sent/s" "recv/s" "loss%" "p50/p99us" "sent/s" "recv/s" "loss%" "p50/p99us" \
    "drops cli/srv/tgt/gen" "w c/s" "CPU% gen/tgt/cli/srv+si" result
for kind in $KINDS; do
    for size in $SIZES; do
        for rate in $RATES; do
            read -r ds dr dl d50 d99 ddr dwl dcpu doth dbd <<<"${R[$kind,direct,$size,$rate]}"
            read -r ws wr wl w50 w99 wdr wwl wcpu woth wbd <<<"${R[$kind,warren,$size,$rate]}"
            result=-
            if [ "$size" = "$T_SIZE" ] && [ "$rate" = "$T_RATE" ]; then
                if awk -v s="$ws" -v l="$wl" -v t="$T_RATE" 'BEGIN{exit !(s + 0 >= 0.99 * t && l + 0 == 0)}'; then
                    result=PASS; else result=FAIL; fi
            fi
            printf "$W" "$kind" "$size" "$( [ "$rate" = max ] && echo max || fmt "$rate")" \
                "$(fmt "$ds")" "$(fmt "$dr")" "$dl" "$d50/$d99" \
                "$(fmt "$ws")" "$(fmt "$wr")" "$wl" "$w50/$w99" "$wdr" "$wwl" "$wcpu$woth" "$result"
            [ "$wbd" = "0/0" ] || [ "$wbd" = "/" ] || echo "    ! warren path: bad/duplicate datagrams $wbd"
            [ "$dbd" = "0/0" ] || [ "$dbd" = "/" ] || echo "    ! direct path: bad/duplicate datagrams $dbd"
            [ "$ddr" = "0/0/0/0" ] || [ "$ddr" = "0/0/0/-" ] || echo "    direct path drops cli/srv/tgt/gen: $ddr"
        done
    done
done
echo
echo "recv/s: datagrams received / (last arrival - first send), at least the send period. loss%: 1 - received/sent."
echo "p50/p99us: one-way latency (oneway) or round-trip time (echo), microseconds (10 us buckets; 200005 = over 200 ms)."
echo "drops: datagrams the kernel dropped because a socket's receive buffer was full (/proc/net/udp), in the warren"
echo "  client's socket / the warren server's sockets to the target / the target's socket / the sender's socket (echo"
echo "  replies). w c/s: datagrams warren itself dropped in the run's flow, client/server (from the 'flow ended'"
echo "  lines: the hold queue while the connection opens, a transport backlog over 1 MiB, a full socket on send)."
echo "CPU%: % of one core ($(nproc) cores = $(( $(nproc) * 100 ))%): sender/target[/warren client/warren server], then"
echo "  +si: interrupt and softirq time (the loopback network stack, charged to no process)."
[ -z "$COLD_LINE" ] || echo "$COLD_LINE"
echo "warm-up: each run first sent one datagram and waited ${WARM_MS} ms, so the tunnel's flow was open when the clock started."
echo "target (issue): >= $(fmt $T_RATE) datagrams/s of $T_SIZE bytes with no loss at that rate (judged on sent/s >= 99% of offered and loss 0)."
if [ ${#disturbed[@]} -gt 0 ]; then
    echo "WARNING: other processes used the CPU (the machine was ${BACKGROUND}% busy before the start) during: ${disturbed[*]}."
    echo "  Those figures are too low: rerun on an idle machine."
fi
echo "net.core.rmem_max $(cat /proc/sys/net/core/rmem_max) (warren asks for 4 MiB socket buffers; the kernel caps them at this)"
echo "logs and udpgen output: $OUT"
} | tee "$OUT/udp-results.txt"
