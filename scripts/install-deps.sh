#!/usr/bin/env bash
# Installs everything warren needs to build, test, fuzz and benchmark on Debian 12, as root.
# Idempotent; safe to run on a machine that already has some of it.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends \
    build-essential cmake pkg-config clang libclang-rt-14-dev \
    libevent-dev libssl-dev libsodium-dev libjansson-dev libcmocka-dev \
    python3 python3-pytest curl procps iproute2 \
    dante-server tinyproxy iperf3 shadowsocks-libev obfs4proxy tor coturn stun-client >/dev/null
# The Debian packages of dante, tinyproxy and shadowsocks-libev start system services; the
# tests run their own instances on loopback and need none of those.
for svc in danted tinyproxy shadowsocks-libev tor coturn; do
    $SUDO systemctl disable --now "$svc" >/dev/null 2>&1 || $SUDO service "$svc" stop >/dev/null 2>&1 || true
done
echo "install-deps: done"
