#!/usr/bin/env bash
# bench/shadow.sh: warren's shadow transport against shadowsocks-libev 3.3.5, in one run, on
# loopback, client + server, one stream:
#   throughput    iperf3 through a port-forwarding client (ss-tunnel | warren transparent-TCP)
#                 and a server bound to the iperf3 server (ss-server | warren -server -target)
#   CPU s/GiB     user+system CPU of the client and server processes per GiB carried
#   conns/s       bench/loadgen connrate through the SOCKS5 client (ss-local | warren socks5)
# Targets (issue 4): throughput >= 2x shadowsocks-libev, CPU s/GiB <= 1/3 of it, conns/s >= 1.5x.
# Floors, measured in the same run, say what any implementation on this machine can reach:
#   CPU s/GiB  >= warren's plain transport (the same relay, no crypto) + two AEAD passes at the
#                 speed `openssl speed` reports (the client seals each byte, the server opens it);
#   conns/s    <= warren's plain transport (the same connections, no crypto, no key derivation).
# Usage: bash bench/shadow.sh      (BENCH_SECONDS per test, default 5; WARREN_BIN to use a binary)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd); root=$(dirname "$here")
SECS=${BENCH_SECONDS:-5}
OUT=$here/out
LOG_TAG=bench-shadow OUT_PREFIX=shadow-
. "$here/lib.sh"
for tool in iperf3 ss-server ss-tunnel ss-local cc; do
    command -v "$tool" >/dev/null || { log "needs $tool (bash scripts/install-deps.sh)"; exit 1; }
done
build_tool loadgen
build_warren
W=$WARREN LG=$OUT/loadgen
port() { "$LG" freeport; }
wait_port() { for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.05; done; echo "port $1 never opened" >&2; return 1; }
hz=$(getconf CLK_TCK)

# start_pair KIND METHOD TARGET_PORT MODE -> sets SRV CLI CLIPORT (MODE: tunnel | socks)
start_pair() {
    local kind=$1 m=$2 tport=$3 mode=$4 sport; sport=$(port); CLIPORT=$(port)
    if [ "$kind" = plain ]; then
        "$W" -server -transports plain -bindaddr "plain-127.0.0.1:$sport" -target "127.0.0.1:$tport" >"$OUT/w-server.log" 2>&1 </dev/null & SRV=$!
        # socks5 mode: the SOCKS destination is the server (see connrate).
        local mode_args=(-mode transparent-TCP -options "{\"serverAddress\":\"127.0.0.1:$sport\"}")
        [ "$mode" = tunnel ] || mode_args=()
        "$W" -client -transports plain "${mode_args[@]}" -proxylistenaddr "127.0.0.1:$CLIPORT" >"$OUT/w-client.log" 2>&1 </dev/null & CLI=$!
    elif [ "$kind" = libev ]; then
        ss-server -s 127.0.0.1 -p "$sport" -k benchpw -m "$m" >"$OUT/ss-server.log" 2>&1 </dev/null & SRV=$!
        if [ "$mode" = tunnel ]; then
            ss-tunnel -s 127.0.0.1 -p "$sport" -b 127.0.0.1 -l "$CLIPORT" -k benchpw -m "$m" -L "127.0.0.1:$tport" >"$OUT/ss-client.log" 2>&1 </dev/null & CLI=$!
        else
            ss-local -s 127.0.0.1 -p "$sport" -b 127.0.0.1 -l "$CLIPORT" -k benchpw -m "$m" >"$OUT/ss-client.log" 2>&1 </dev/null & CLI=$!
        fi
    else
        local o="{\"password\":\"benchpw\",\"cipherName\":\"$m\",\"serverAddress\":\"127.0.0.1:$sport\"}"
        "$W" -server -transports shadow -bindaddr "shadow-127.0.0.1:$sport" -target "127.0.0.1:$tport" -options "$o" >"$OUT/w-server.log" 2>&1 </dev/null & SRV=$!
        if [ "$mode" = tunnel ]; then
            "$W" -client -transports shadow -mode transparent-TCP -proxylistenaddr "127.0.0.1:$CLIPORT" -options "$o" >"$OUT/w-client.log" 2>&1 </dev/null & CLI=$!
        else
            "$W" -client -transports shadow -proxylistenaddr "127.0.0.1:$CLIPORT" -options "$o" >"$OUT/w-client.log" 2>&1 </dev/null & CLI=$!
        fi
    fi
    pids+=("$SRV" "$CLI"); SPORT=$sport
    # A probe of the client port would open a tunnel to the target (and use up iperf3's test).
    wait_port "$sport"; sleep 0.3
}
stop_pair() { kill "$SRV" "$CLI" 2>/dev/null || true; wait "$SRV" "$CLI" 2>/dev/null || true; }

# throughput KIND METHOD: sets RATE (MiB/s) and CPU (CPU seconds per GiB)
throughput() {
    local ip; ip=$(port)
    iperf3 -s -p "$ip" >/dev/null 2>&1 & local ipid=$!; pids+=("$ipid")
    sleep 0.3
    start_pair "$1" "$2" "$ip" tunnel
    local t0=$(( $(cpu_ticks "$SRV") + $(cpu_ticks "$CLI") ))
    # iperf3 may exit non-zero when the tunnel closes its control connection at the end; the
    # figure it printed still counts (a missing one shows as 0).
    local r; r=$(iperf3 -c 127.0.0.1 -p "$CLIPORT" -t "$SECS" -f M 2>/dev/null | awk '/receiver/ {print $7}') || true
    local t1=$(( $(cpu_ticks "$SRV") + $(cpu_ticks "$CLI") ))
    stop_pair; kill "$ipid" 2>/dev/null || true; wait "$ipid" 2>/dev/null || true
    RATE=${r:-0}
    CPU=$(awk -v r="$RATE" -v c=$((t1 - t0)) -v hz="$hz" -v s="$SECS" \
              'BEGIN { gib = r * s / 1024; printf "%.2f", (gib > 0 ? (c / hz) / gib : 0) }')
}

# connrate KIND METHOD: sets CPS (connections per second)
connrate() {
    local tp; tp=$(port)
    "$LG" echo -l "127.0.0.1:$tp" >/dev/null 2>&1 & local epid=$!; pids+=("$epid")
    wait_port "$tp"
    start_pair "$1" "$2" "$tp" socks
    local dest=$tp; [ "$1" = plain ] && dest=$SPORT
    local r; r=$("$LG" connrate -a "127.0.0.1:$CLIPORT" -s "127.0.0.1:$dest" -c 64 -t "$SECS" 2>/dev/null |
                 sed -n 's/.* cps=\([0-9.]*\).*/\1/p') || true
    stop_pair; kill "$epid" 2>/dev/null || true; wait "$epid" 2>/dev/null || true
    CPS=${r:-0}
}

printf '%-24s %-22s %-22s %s\n' "cipher / metric" "shadowsocks-libev" "warren shadow" "ratio (target)"
for m in aes-256-gcm chacha20-ietf-poly1305 aes-128-gcm; do
    throughput libev "$m"; lt=$RATE lc=$CPU
    throughput warren "$m"; wt=$RATE wc=$CPU
    awk -v m="$m" -v lt="$lt" -v wt="$wt" -v lc="$lc" -v wc="$wc" 'BEGIN {
        printf "%-24s %-22s %-22s %.2fx (>= 2x)\n", m " MiB/s", lt, wt, (lt > 0 ? wt / lt : 0);
        printf "%-24s %-22s %-22s %.2f (<= 0.33)\n", m " CPU s/GiB", lc, wc, (lc > 0 ? wc / lc : 0) }'
done
connrate libev aes-256-gcm; lr=$CPS
connrate warren aes-256-gcm; wr=$CPS
connrate plain none; pr=$CPS
awk -v l="$lr" -v w="$wr" 'BEGIN { printf "%-24s %-22s %-22s %.2fx (>= 1.5x)\n", "conns/s (aes-256-gcm)", l, w, (l > 0 ? w / l : 0) }'
throughput plain none; pc=$CPU
echo
echo "floors on this machine (see the top of this script):"
for m in aes-256-gcm chacha20-ietf-poly1305; do
    case $m in aes-256-gcm) evp=aes-256-gcm ;; *) evp=chacha20-poly1305 ;; esac
    kbs=$(openssl speed -seconds 1 -bytes 16384 -evp "$evp" 2>/dev/null | awk '$2 ~ /^[0-9.]+k$/ {v=$2} END {sub("k", "", v); print v}')
    awk -v m="$m" -v pc="$pc" -v kbs="${kbs:-0}" 'BEGIN { c = kbs > 0 ? 2 * 1073741824 / (kbs * 1000) : 0;
        printf "%-24s %.2f = relay %.2f + 2 x %.2f (openssl speed %.0f MB/s)\n", m " CPU s/GiB >=", pc + c, pc, c / 2, kbs / 1000 }'
done
awk -v p="$pr" -v l="$lr" 'BEGIN { printf "%-24s %s (%.2fx shadowsocks-libev)\n", "conns/s <=", p, (l > 0 ? p / l : 0) }'
