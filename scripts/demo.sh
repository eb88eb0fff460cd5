#!/usr/bin/env bash
# The main job, on loopback: a local HTTP server, a warren server in front of it, a warren client,
# and real fetches through the tunnel with curl (SOCKS5, as an application would do it), checked
# byte for byte and timed against the same fetch made directly.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "${WARREN_SKIP_DEPS:-0}" = 1 ] || bash scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)" --target warren >/dev/null
W=$PWD/build/warren
work=$(mktemp -d /tmp/warren-demo.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

# Reads a process's stdout until the line starting with $2 appears; prints that line.
wait_line() {
    local file=$1 prefix=$2 i
    for i in $(seq 1 100); do
        if grep -q "^$prefix" "$file" 2>/dev/null; then grep -m1 "^$prefix" "$file"; return 0; fi
        sleep 0.05
    done
    echo "timed out waiting for '$prefix' in $file" >&2; cat "$file" >&2; return 1
}

mkdir -p "$work/www"
head -c $((64 * 1024 * 1024)) /dev/urandom > "$work/www/blob.bin"
echo "hello through warren" > "$work/www/index.html"
python3 -m http.server 0 --bind 127.0.0.1 --directory "$work/www" > "$work/http.log" 2>&1 &
pids+=($!)
for i in $(seq 1 100); do
    port=$(grep -o 'port [0-9]*' "$work/http.log" | head -1 | cut -d' ' -f2 || true)
    [ -n "$port" ] && break; sleep 0.05
done
echo "HTTP server on 127.0.0.1:$port"

"$W" -server -transports plain -bindaddr plain-127.0.0.1:0 -target "127.0.0.1:$port" \
     -state "$work/server-state" -ipcLogLevel INFO > "$work/server.out" 2> "$work/server.err" < /dev/null &
pids+=($!)
smethod=$(wait_line "$work/server.out" "SMETHOD plain")
saddr=${smethod##* }
"$W" -client -transports plain -proxylistenaddr 127.0.0.1:0 -state "$work/client-state" \
     -ipcLogLevel INFO > "$work/client.out" 2> "$work/client.err" < /dev/null &
pids+=($!)
cmethod=$(wait_line "$work/client.out" "CMETHOD plain")
caddr=${cmethod##* }
wait_line "$work/client.out" "CMETHODS DONE" >/dev/null
echo
echo "warren server says:"; sed 's/^/    /' "$work/server.out"
echo "warren client says:"; sed 's/^/    /' "$work/client.out"
echo
# With plain in socks5 mode the SOCKS destination is the warren server, which forwards to its -target.
echo "curl --socks5-hostname $caddr http://$saddr/index.html:"
body=$(curl -sS --max-time 10 --socks5-hostname "$caddr" "http://$saddr/index.html")
echo "    $body"
[ "$body" = "hello through warren" ] || { echo "FAILED: unexpected body"; exit 1; }

fetch() { # $1 = label, rest = curl args; prints time to first byte, total time, speed
    curl -sS --max-time 60 -o "$work/got.bin" -w '%{time_starttransfer} %{time_total} %{speed_download}\n' "${@:2}"
}
want=$(sha256sum < "$work/www/blob.bin" | cut -d' ' -f1)
read -r d_ttfb d_total d_speed < <(fetch direct "http://127.0.0.1:$port/blob.bin")
read -r t_ttfb t_total t_speed < <(fetch tunnel --socks5-hostname "$caddr" "http://$saddr/blob.bin")
got=$(sha256sum < "$work/got.bin" | cut -d' ' -f1)
[ "$got" = "$want" ] || { echo "FAILED: checksum mismatch through the tunnel"; exit 1; }
echo
echo "64 MiB fetched with curl (sha256 through the tunnel matches: ${got:0:16}...):"
awk -v dt="$d_ttfb" -v ds="$d_speed" -v tt="$t_ttfb" -v ts="$t_speed" 'BEGIN {
    printf "    %-22s %12s %14s\n", "", "first byte", "throughput";
    printf "    %-22s %9.2f ms %9.1f MiB/s\n", "direct", dt*1000, ds/1048576;
    printf "    %-22s %9.2f ms %9.1f MiB/s\n", "through warren plain", tt*1000, ts/1048576 }'
echo "(the HTTP server is Python's http.server, so it, not warren, limits these figures; bench/run.sh measures warren itself)"
echo
echo "what the warren client reported for each tunnelled connection (LOG lines on its stdout):"
grep "closed" "$work/client.out" | sed 's/^/    /' | tail -5
echo "demo: OK"
