"""Lifecycle under stress: the parent process dying, and file descriptors running out."""
import os
import resource
import signal
import socket
import subprocess
import time

import pytest

from conftest import (WARREN, EchoServer, base_env, echo_roundtrip_ok, server_args,
                      socks5_connect)


def process_gone(pid):
    """True once pid has exited (gone, or a zombie nobody reaps in this container)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def test_exits_when_parent_dies(tmp_path):
    # sh starts warren in the background, prints its pid, then waits; killing sh orphans warren.
    out = tmp_path / "w.out"
    script = '"$0" -client -transports plain -proxylistenaddr 127.0.0.1:0 > "$1" 2>&1 </dev/null & echo $!; exec sleep 60'
    sh = subprocess.Popen(["/bin/sh", "-c", script, WARREN, str(out)], stdout=subprocess.PIPE,
                          env=base_env())
    try:
        pid = int(sh.stdout.readline())
        def started():
            return out.exists() and b"CMETHODS DONE" in out.read_bytes()
        deadline = time.monotonic() + 20
        while not started() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert started()
        assert not process_gone(pid)
        sh.kill()
        sh.wait(5)
        deadline = time.monotonic() + 5
        while not process_gone(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert process_gone(pid), "warren kept running after its parent died"
    finally:
        if sh.poll() is None:
            sh.kill()
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, UnboundLocalError):
            pass


def test_accept_pauses_at_fd_limit_and_resumes(warren):
    target = EchoServer()
    try:
        srv = warren(server_args(target.addr), name="server")
        cli = warren(["-client", "-transports", "plain", "-proxylistenaddr", "127.0.0.1:0",
                      "-logLevel", "WARN"], name="client")
        # Few descriptors: the loop, the listener and a handful of connections.
        resource.prlimit(cli.pid, resource.RLIMIT_NOFILE, (32, 32))
        hogs = []
        try:
            for _ in range(60):             # more than the limit allows
                s = socket.create_connection(cli.addr, timeout=5)
                hogs.append(s)
            time.sleep(0.5)
            assert cli.alive()
            assert "pausing new connections" in cli.stderr_text()
            # A healthy tunnel cannot be opened now; free the descriptors and it can.
        finally:
            for s in hogs:
                s.close()
        deadline = time.monotonic() + 10
        ok = False
        while time.monotonic() < deadline and not ok:
            try:
                sock = socks5_connect(cli.addr, srv.addr, timeout=3)
                ok = echo_roundtrip_ok(sock)
            except OSError:
                time.sleep(0.2)
        assert ok, "warren did not resume accepting after descriptors were freed"
        assert cli.alive()
    finally:
        target.close()
