"""The UDP modes of seed 004 §1.5: transparent-UDP and STUN, client and server, over plain,
obfs4 and shadow.

- echo: datagrams of 1, 1,400, 60,000 and 65,507 bytes come back exactly (never split or
  merged), alone and in a burst, through each transport;
- many flows at once: each source gets its own replies, and the server sees one connection per
  source;
- idle expiry (udpIdleTimeout) from either side, and a later datagram opens a new flow;
- what the client drops (empty datagrams, too many flows, a transport that does not keep up,
  a server that cannot be reached), with the log saying so and memory bounded;
- the server fed bad streams over a raw TCP connection (truncated frame then EOF, zero-length
  frame, lengths past 65,507, frames merged and cut into single bytes, non-STUN bytes in STUN
  mode);
- STUN mode against a real coturn on loopback: binding requests (RFC 5389) through the tunnel,
  non-STUN datagrams dropped, a TURN Allocate (the 401, then an authenticated one and a relayed
  datagram), and Debian's `stun` client, which speaks RFC 3489 (no magic cookie) and so is
  refused by warren's STUN mode: it gets no answer, by design.

Every socket has a timeout, every loop is bounded, every process is stopped by its own pid.
WARREN_QUICK=1 shrinks the loads.
"""
import hashlib
import hmac
import json
import os
import random
import selectors
import shutil
import signal
import socket
import struct
import subprocess
import threading
import time
from pathlib import Path

import pytest

from conftest import dead_port, have_ipv6_loopback, raise_nofile, recv_exact

QUICK = os.environ.get("WARREN_QUICK") == "1"
SIZES = (1, 1400, 60000, 65507)
MAX_DGRAM = 65507
TRANSPORTS = ("plain", "obfs4", "shadow")
SS_PASSWORD = "udp-test-password"
SS_CIPHER = "chacha20-ietf-poly1305"


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------

def hostport(addr):
    host, port = addr[:2]
    return ("[%s]:%d" % (host, port)) if ":" in host else ("%s:%d" % (host, port))


def wait_until(pred, timeout=5.0, step=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(step)
    return pred()


def udp_socket(host="127.0.0.1", timeout=5.0, rcvbuf=1 << 21):
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_DGRAM)
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    except OSError:
        pass
    s.bind((host, 0))
    s.settimeout(timeout)
    return s


def recv_dgram(sock, timeout):
    """One datagram, or None if none arrives within timeout."""
    sock.settimeout(timeout)
    try:
        return sock.recv(70000)
    except socket.timeout:
        return None


def fd_count(pid):
    try:
        return len(os.listdir("/proc/%d/fd" % pid))
    except OSError:
        return -1


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for ln in f:
            if ln.startswith("VmRSS:"):
                return int(ln.split()[1])
    return -1


def log_count(proc, needle):
    return proc.stderr_text().count(needle)


class UdpEcho:
    """A UDP echo (or sink) on loopback in one thread. Records every datagram it receives
    (length and sha256), so a test can say exactly what reached the target."""

    def __init__(self, host="127.0.0.1", reply=True, port=0):
        fam = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(fam, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 23)
        self.sock.bind((host, port))
        self.sock.settimeout(0.2)
        self.addr = self.sock.getsockname()[:2]
        self.reply = reply          # True: echo; False: sink; callable(d) -> list of replies
        self.got = []               # (len, sha256 hex, source address)
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._loop, daemon=True)
        self._t.start()

    def _loop(self):
        while not self._stop.is_set():
            try:
                d, a = self.sock.recvfrom(70000)
            except socket.timeout:
                continue
            except OSError:
                return
            self.got.append((len(d), hashlib.sha256(d).hexdigest(), a))
            replies = self.reply(d) if callable(self.reply) else [d] if self.reply else []
            for r in replies:
                try:
                    self.sock.sendto(r, a)
                except OSError:
                    pass

    def close(self):
        self._stop.set()
        self._t.join(timeout=5)
        self.sock.close()


@pytest.fixture
def udp_echo():
    echoes = []

    def make(host="127.0.0.1", reply=True, port=0):
        e = UdpEcho(host, reply, port)
        echoes.append(e)
        return e

    yield make
    for e in echoes:
        e.close()


# ---- warren in the UDP modes ----------------------------------------------------------------

def _server_opts(transport, extra):
    o = {}
    if transport == "shadow":
        o = {"password": SS_PASSWORD, "cipherName": SS_CIPHER}
    o.update(extra or {})
    return o


def start_udp_server(warren, tmp_path, transport, target, mode="transparent-UDP", opts=None,
                     name="server"):
    args = ["-server", "-transports", transport, "-mode", mode,
            "-bindaddr", "%s-127.0.0.1:0" % transport, "-target", hostport(target),
            "-logLevel", "INFO", "-state", str(Path(tmp_path) / ("%s-state" % name))]
    o = _server_opts(transport, opts)
    if o:
        args += ["-options", json.dumps({transport: o})]
    srv = warren(args, name=name)
    lines = [ln for ln in srv.method_lines if ln.startswith("SMETHOD %s " % transport)]
    assert lines, "warren server did not start %s: stdout %r; stderr:\n%s" % (
        transport, srv.lines, srv.stderr_text()[-2000:])
    srv.smethod = lines[0]
    return srv


def client_opts_for(transport, srv, extra=None):
    """The client options that reach `srv` (a server from start_udp_server)."""
    words = srv.smethod.split(" ")
    o = {"serverAddress": words[2]}
    if transport == "shadow":
        o.update(password=SS_PASSWORD, cipherName=SS_CIPHER)
    elif transport == "obfs4":
        args = [w for w in words if w.startswith("ARGS:")]
        assert args, "obfs4 SMETHOD without ARGS: %r" % srv.smethod
        kv = dict(p.split("=", 1) for p in args[0][5:].split(","))
        o.update(cert=kv["cert"], **{"iat-mode": kv["iat-mode"]})
    o.update(extra or {})
    return o


def start_udp_client(warren, tmp_path, transport, opts, mode="transparent-UDP",
                     listen="127.0.0.1:0", name="client", log_level="INFO", extra_args=()):
    args = ["-client", "-transports", transport, "-mode", mode, "-proxylistenaddr", listen,
            "-options", json.dumps({transport: opts}), "-logLevel", log_level,
            "-state", str(Path(tmp_path) / ("%s-state" % name))] + list(extra_args)
    cli = warren(args, name=name)
    lines = [ln for ln in cli.method_lines if ln.startswith("CMETHOD %s " % transport)]
    assert lines, "warren client did not start %s: stdout %r; stderr:\n%s" % (
        transport, cli.lines, cli.stderr_text()[-2000:])
    words = lines[0].split(" ")
    assert words[2] == mode, lines[0]
    return cli


class UdpTunnel:
    def __init__(self, client, server):
        self.client, self.server = client, server
        self.addr = client.addr


@pytest.fixture
def udp_tunnel(warren, tmp_path):
    """Factory: udp_tunnel(transport, target, mode, client_extra, server_extra) -> UdpTunnel."""

    def make(transport, target, mode="transparent-UDP", client_extra=None, server_extra=None,
             listen="127.0.0.1:0", client_args=()):
        srv = start_udp_server(warren, tmp_path, transport, target, mode, server_extra)
        cli = start_udp_client(warren, tmp_path, transport,
                               client_opts_for(transport, srv, client_extra), mode, listen,
                               extra_args=client_args)
        return UdpTunnel(cli, srv)

    return make


def echo_ok(sock, dst, payload, timeout=5.0):
    sock.sendto(payload, dst)
    got = recv_dgram(sock, timeout)
    assert got is not None, "no reply to a %d-byte datagram within %.0f s" % (len(payload), timeout)
    assert got == payload, "sent %d bytes, got %d back (%s)" % (
        len(payload), len(got), "different bytes" if len(got) == len(payload) else "other length")
    return True


def assert_silent(sock, secs, what):
    got = recv_dgram(sock, secs)
    assert got is None, "%s: got a %d-byte datagram back: %r" % (what, len(got), got[:40])


# ---------------------------------------------------------------------------------------------
# Echo through each transport
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("transport", TRANSPORTS)
def test_echo_sizes(udp_tunnel, udp_echo, transport):
    """1, 1,400, 60,000 and 65,507 bytes, one at a time, then a burst of mixed sizes from the
    same source: each datagram comes back whole, once, and nothing else comes back."""
    echo = udp_echo()
    t = udp_tunnel(transport, echo.addr)
    s = udp_socket()
    rng = random.Random(transport)
    singles = [rng.randbytes(n) for n in SIZES]
    for d in singles:
        echo_ok(s, t.addr, d, timeout=10)
    # A burst, sent without waiting: the client batches them onto one connection write, the
    # server cuts them apart again; sizes chosen so no two are alike.
    burst = [rng.randbytes(n) for n in
             rng.sample(range(1, 1401), 40) + [MAX_DGRAM, 60000, 30001, 2, 65000]]
    for d in burst:
        s.sendto(d, t.addr)
    back = []
    for _ in range(len(burst)):
        d = recv_dgram(s, 10)
        if d is None:
            break
        back.append(d)
    assert_silent(s, 0.3, "after the burst")
    assert sorted(back) == sorted(burst), (
        "burst of %d datagrams: %d came back; missing sizes %s, unexpected sizes %s" % (
            len(burst), len(back),
            sorted(len(d) for d in set(burst) - set(back)),
            sorted(len(d) for d in set(back) - set(burst))))
    assert back == burst, "same datagrams, but reordered on one flow"
    # What reached the target: exactly the datagrams sent, whole.
    got = sorted((n, h) for n, h, _ in echo.got)
    assert got == sorted((len(d), hashlib.sha256(d).hexdigest()) for d in singles + burst)
    # One source, one flow: a single target socket (one source address at the target).
    assert len({a for _, _, a in echo.got}) == 1
    s.close()


@pytest.mark.parametrize("transport", ["plain", "shadow"])
def test_many_flows(udp_tunnel, udp_echo, transport):
    """Many sources at once, their datagrams interleaved: every reply reaches the source that
    sent the datagram, and the server runs one flow (one UDP socket to the target) per
    source."""
    n_src = 20 if QUICK else 50
    per = 3
    echo = udp_echo()
    t = udp_tunnel(transport, echo.addr)
    socks = [udp_socket() for _ in range(n_src)]
    sent = {i: [] for i in range(n_src)}
    for k in range(per):
        for i, s in enumerate(socks):
            d = b"src%03d-dgram%d-" % (i, k) + os.urandom(8 + i)
            sent[i].append(d)
            s.sendto(d, t.addr)
    problems = []
    for i, s in enumerate(socks):
        got = []
        for _ in range(per):
            d = recv_dgram(s, 10)
            if d is None:
                break
            got.append(d)
        extra = recv_dgram(s, 0.05)
        if extra is not None:
            got.append(extra)
        if got != sent[i]:
            problems.append("source %d: sent %r, got %r" % (i, sent[i], got))
    assert not problems, "\n".join(problems[:10])
    sources = {a for _, _, a in echo.got}
    assert len(sources) == n_src, "the target saw %d source sockets for %d flows" % (
        len(sources), n_src)
    for s in socks:
        s.close()
    # Every flow ends (and says so) when the client stops.
    assert t.client.stop() == 0
    assert wait_until(lambda: log_count(t.server, "flow ended") == n_src, 5), (
        "server logged %d 'flow ended' for %d flows" % (log_count(t.server, "flow ended"), n_src))


# ---------------------------------------------------------------------------------------------
# Idle expiry
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("side", ["client", "server"])
def test_idle_expiry_and_new_flow(udp_tunnel, udp_echo, side):
    """udpIdleTimeout=2 on one side: a flow without datagrams for 2 s ends (its transport
    connection closes: the server logs "flow ended" and drops the socket to the target), traffic
    keeps a flow alive, and a later datagram from the same source opens a new flow that works."""
    echo = udp_echo()
    idle = {"udpIdleTimeout": 2}
    t = udp_tunnel("plain", echo.addr, client_extra=idle if side == "client" else None,
                   server_extra=idle if side == "server" else None)
    srv_pid = t.server.pid
    base_fds = fd_count(srv_pid)
    s = udp_socket()
    echo_ok(s, t.addr, b"first")
    assert fd_count(srv_pid) == base_fds + 2, "a flow = a TCP connection + a UDP socket"
    # Traffic every 0.5 s for 3 s keeps the flow (timeout 2 s) open.
    for i in range(6):
        time.sleep(0.5)
        echo_ok(s, t.addr, b"keepalive %d" % i)
    assert log_count(t.server, "flow ended") == 0, t.server.stderr_text()[-1500:]
    t_last = time.monotonic()
    assert wait_until(lambda: log_count(t.server, "flow ended") == 1, 6), (
        "no 'flow ended' on the server within 6 s of the last datagram:\n%s"
        % t.server.stderr_text()[-1500:])
    took = time.monotonic() - t_last
    assert took >= 1.5, "the flow ended %.1f s after the last datagram (timeout 2 s)" % took
    assert wait_until(lambda: fd_count(srv_pid) == base_fds, 3), "server fds %d, want %d" % (
        fd_count(srv_pid), base_fds)
    # The client has removed the flow too (Table 1), and says so.
    assert wait_until(lambda: log_count(t.client, "ended:") == 1, 3), t.client.stderr_text()[-1500:]
    # Same source, new flow.
    echo_ok(s, t.addr, b"after expiry")
    assert fd_count(srv_pid) == base_fds + 2
    srcs = [a for _, _, a in echo.got]
    assert srcs[0] != srcs[-1], "the new flow should use a new socket to the target"
    s.close()


# ---------------------------------------------------------------------------------------------
# What the client drops
# ---------------------------------------------------------------------------------------------

def test_empty_datagram_dropped_flow_survives(udp_tunnel, udp_echo):
    """A zero-length datagram is dropped by the client (and counted), not carried as a
    zero-length frame; the flow goes on. (The server also drops zero-length frames, see
    test_server_zero_length_frame.)"""
    echo = udp_echo()
    t = udp_tunnel("plain", echo.addr)
    s = udp_socket()
    echo_ok(s, t.addr, b"before")
    s.sendto(b"", t.addr)
    assert_silent(s, 0.5, "empty datagram")
    echo_ok(s, t.addr, b"after")
    assert "empty datagram" in t.client.stderr_text()
    assert [n for n, _, _ in echo.got] == [6, 5]


@pytest.mark.skipif(not have_ipv6_loopback(), reason="no IPv6 loopback")
def test_ipv6_datagram_larger_than_ipv4_max_from_app(udp_tunnel, udp_echo):
    """Over IPv6 an application can send up to 65,527 bytes in a datagram, more than the
    65,507 the framing carries. Such a datagram must be dropped at the client (and logged),
    not framed: the server refuses any frame over 65,507 and closes the whole flow."""
    echo = udp_echo()
    t = udp_tunnel("plain", echo.addr, listen="[::1]:0")
    s = udp_socket("::1")
    echo_ok(s, t.addr, b"x" * 100)
    try:
        s.sendto(os.urandom(65527), t.addr)
    except OSError as e:
        pytest.skip("this kernel does not send a 65,527-byte UDP datagram on ::1: %s" % e)
    assert_silent(s, 0.5, "65,527-byte datagram")
    echo_ok(s, t.addr, b"y" * 100)
    assert "closing" not in t.server.stderr_text(), (
        "the server closed the flow:\n%s" % t.server.stderr_text()[-1500:])
    assert log_count(t.server, "flow ended") == 0
    assert [n for n, _, _ in echo.got] == [100, 100]


@pytest.mark.skipif(not have_ipv6_loopback(), reason="no IPv6 loopback")
def test_ipv6_datagram_larger_than_ipv4_max_from_target(udp_tunnel, udp_echo):
    """The same the other way: an IPv6 target answers with a 65,527-byte datagram. The server
    must drop it (and log it), and the flow must go on."""
    target = udp_echo("::1", reply=lambda d: [os.urandom(65527)] if d == b"big" else [d])
    t = udp_tunnel("plain", target.addr)
    s = udp_socket()
    echo_ok(s, t.addr, b"before")
    s.sendto(b"big", t.addr)
    assert_silent(s, 0.5, "65,527-byte reply")
    echo_ok(s, t.addr, b"after")
    assert "closing" not in t.client.stderr_text(), (
        "the client closed the flow:\n%s" % t.client.stderr_text()[-1500:])
    assert "ended" not in t.client.stderr_text()
    assert len({a for _, _, a in target.got}) == 1, "the flow was replaced by a new one"


def test_max_flows_flood(udp_tunnel, udp_echo):
    """udpMaxFlows=8: 8 sources get flows; a flood of new sources is dropped (no replies, no
    new connections), the log says so a bounded number of times, the client's memory and
    descriptors stay bounded, and the 8 flows keep working."""
    n_flood = 300 if QUICK else 1500
    raise_nofile(4096)
    echo = udp_echo()
    t = udp_tunnel("plain", echo.addr, client_extra={"udpMaxFlows": 8})
    cpid = t.client.pid
    keep = [udp_socket() for _ in range(8)]
    for i, s in enumerate(keep):
        echo_ok(s, t.addr, b"flow %d" % i)
    fds_before, rss_before = fd_count(cpid), rss_kib(cpid)
    srv_fds = fd_count(t.server.pid)
    # The flood: each new source sends 2 datagrams; sockets stay open (so a reply could land).
    sel = selectors.DefaultSelector()
    flood = []
    for i in range(n_flood):
        f = udp_socket(timeout=1, rcvbuf=4096)
        f.setblocking(False)
        try:
            f.sendto(b"flood %d" % i, t.addr)
            f.sendto(b"flood %d again" % i, t.addr)
        except BlockingIOError:
            pass
        sel.register(f, selectors.EVENT_READ)
        flood.append(f)
        if i % 100 == 99:       # keep the client's socket buffer from overflowing
            time.sleep(0.01)
    # Existing flows still work during and after the flood.
    for i, s in enumerate(keep):
        echo_ok(s, t.addr, b"flow %d still" % i)
    answered = [k.fileobj for k, _ in sel.select(timeout=1.0)]
    sel.close()
    for f in flood:
        f.close()
    assert not answered, "%d flood sources got replies" % len(answered)
    flood_at_target = len(echo.got) - 16
    assert flood_at_target == 0, "%d flood datagrams reached the target" % flood_at_target
    err = t.client.stderr_text()
    drops = [ln for ln in err.splitlines() if "too many flows (option udpMaxFlows)" in ln]
    assert drops, "no log line about udpMaxFlows:\n%s" % err[-1500:]
    assert len(drops) <= 2, "drop warnings are not rate-limited: %d lines" % len(drops)
    fds_after, rss_after = fd_count(cpid), rss_kib(cpid)
    assert fds_after == fds_before, "client fds %d -> %d" % (fds_before, fds_after)
    assert fd_count(t.server.pid) == srv_fds, "the server got new connections"
    assert rss_after - rss_before < 4096, "client RSS grew %d KiB during the flood" % (
        rss_after - rss_before)


def test_backlog_limit_drops(warren, tmp_path):
    """The transport connection does not keep up (a 'server' that accepts and never reads):
    once more than 1 MiB waits in warren, further datagrams are dropped with a WARN, and the
    client's memory stays bounded."""
    lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(4)
    lsock.settimeout(10)
    held = []
    try:
        cli = start_udp_client(warren, tmp_path, "plain",
                               {"serverAddress": hostport(lsock.getsockname())})
        s = udp_socket()
        s.sendto(b"open", cli.addr)
        c, _ = lsock.accept()
        held.append(c)
        time.sleep(0.3)                   # the connection is up: no more 'still opening' drops
        assert "dropping" not in cli.stderr_text(), cli.stderr_text()
        rss0 = rss_kib(cli.pid)
        payload = os.urandom(60000)
        total = (150 if QUICK else 400)
        for i in range(total):            # 400 x 60,000 = 24 MB, far past the socket buffers
            s.sendto(payload, cli.addr)
            if i % 16 == 15:
                time.sleep(0.002)
        assert wait_until(lambda: "not keeping up" in cli.stderr_text(), 5), (
            "no backlog WARN after %d MB:\n%s" % (total * 60000 >> 20, cli.stderr_text()[-1500:]))
        grew = rss_kib(cli.pid) - rss0
        assert grew < 8192, "client RSS grew %d KiB with a stalled connection" % grew
        warns = [ln for ln in cli.stderr_text().splitlines() if "not keeping up" in ln]
        assert len(warns) <= 2, "not rate-limited: %d lines" % len(warns)
        s.close()
    finally:
        for c in held:
            c.close()
        lsock.close()


class GatedSocks5:
    """A SOCKS5 proxy (no auth) for warren's -proxy that holds every CONNECT until release():
    while it waits, the warren client's flow is 'opening', deterministically."""

    def __init__(self, tcp_server):
        self.gate = threading.Event()
        self.waiting = 0
        self.srv = tcp_server(self._handle)
        self.url = "socks5://127.0.0.1:%d" % self.srv.addr[1]

    def release(self):
        self.gate.set()

    def _handle(self, server, sock, peer):
        assert recv_exact(sock, 3) == b"\x05\x01\x00"
        sock.sendall(b"\x05\x00")
        head = recv_exact(sock, 4)
        assert head[:2] == b"\x05\x01" and head[3] == 1, head
        dst = (socket.inet_ntoa(recv_exact(sock, 4)), struct.unpack(">H", recv_exact(sock, 2))[0])
        self.waiting += 1
        if not self.gate.wait(15):
            return
        up = socket.create_connection(dst, timeout=10)
        sock.sendall(b"\x05\x00\x00\x01" + b"\x00" * 6)
        up.settimeout(30)

        def pump(a, b):
            try:
                while True:
                    d = a.recv(65536)
                    if not d:
                        break
                    b.sendall(d)
            except OSError:
                pass
            finally:
                try:
                    b.shutdown(socket.SHUT_WR)
                except OSError:
                    pass

        th = threading.Thread(target=pump, args=(up, sock), daemon=True)
        th.start()
        pump(sock, up)
        th.join(timeout=30)
        up.close()


def test_datagrams_held_while_opening(udp_tunnel, udp_echo, tcp_server):
    """While a flow's connection opens (here: an upstream SOCKS5 proxy that holds its answer),
    its first 16 datagrams, 64 KiB at most, are held and then sent in order; the rest are
    dropped, and the log says so."""
    echo = udp_echo()
    proxy = GatedSocks5(tcp_server)
    t = udp_tunnel("plain", echo.addr, client_args=["-proxy", proxy.url])
    s = udp_socket()
    for i in range(20):
        s.sendto(b"held %02d" % i, t.addr)
    s2 = udp_socket()
    big_a, big_b = os.urandom(40000), os.urandom(30000)
    s2.sendto(big_a, t.addr)            # held: 40,002 bytes framed
    s2.sendto(big_b, t.addr)            # 70,004 > 64 KiB: dropped
    s2.sendto(b"small", t.addr)         # fits: held
    assert wait_until(lambda: proxy.waiting == 2, 5), "the proxy saw %d CONNECTs" % proxy.waiting
    time.sleep(0.3)                     # every datagram has been taken by the client
    assert not echo.got, "datagrams went out before the connection was ready"
    proxy.release()
    got = []
    for _ in range(16):
        d = recv_dgram(s, 5)
        if d is None:
            break
        got.append(d)
    assert got == [b"held %02d" % i for i in range(16)]
    assert_silent(s, 0.3, "datagrams 17-20 (dropped while opening)")
    assert recv_dgram(s2, 5) == big_a
    assert recv_dgram(s2, 5) == b"small"
    assert_silent(s2, 0.2, "the datagram over 64 KiB of held bytes")
    assert "still opening and its queue is full" in t.client.stderr_text()
    echo_ok(s, t.addr, b"open now")


def test_target_unreachable_then_back(udp_tunnel, udp_echo):
    """The target's port is closed (ICMP port unreachable): datagrams are dropped, the server
    neither spins nor ends the flow, and once something listens there the same flow works."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    t = udp_tunnel("plain", ("127.0.0.1", port))
    s = udp_socket()
    ticks0 = int(open("/proc/%d/stat" % t.server.pid).read().rsplit(")", 1)[1].split()[11])
    for i in range(20):
        s.sendto(b"into the void %d" % i, t.addr)
        time.sleep(0.02)
    assert_silent(s, 0.5, "closed target port")
    fields = open("/proc/%d/stat" % t.server.pid).read().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12]) - ticks0
    assert ticks < 50, "the server used %d CPU ticks in ~1 s with a refusing target" % ticks
    # The ICMP errors come back on the server's socket: each is counted and logged (at most
    # once per 10 s) as the target refusing datagrams.
    for i in range(64):
        s.sendto(b"burst %d" % i, t.addr)
    assert_silent(s, 0.3, "closed target port, burst")
    assert wait_until(lambda: "the target refuses datagrams" in t.server.stderr_text(), 2), (
        t.server.stderr_text()[-1500:])
    try:
        echo = udp_echo(port=port)
    except OSError as e:
        pytest.skip("the port was taken meanwhile: %s" % e)
    echo_ok(s, t.addr, b"back again")
    assert [n for n, _, _ in echo.got] == [10]
    assert log_count(t.server, "flow ended") == 0


def test_unreachable_server_drops_then_retries(warren, tmp_path):
    """Table 1, 'Connection failed': the held datagrams are dropped, the flow removed, the log
    says why, and the next datagram tries again."""
    port = dead_port()
    cli = start_udp_client(warren, tmp_path, "plain", {"serverAddress": "127.0.0.1:%d" % port})
    s = udp_socket()
    s.sendto(b"one", cli.addr)
    s.sendto(b"two", cli.addr)
    assert wait_until(lambda: log_count(cli, "connection failed") == 1, 5), cli.stderr_text()
    assert "2 held datagrams dropped" in cli.stderr_text()
    s.sendto(b"three", cli.addr)
    assert wait_until(lambda: log_count(cli, "connection failed") == 2, 5), cli.stderr_text()
    assert_silent(s, 0.2, "unreachable server")
    s.close()


# ---------------------------------------------------------------------------------------------
# The server fed bad streams (raw TCP to a plain server)
# ---------------------------------------------------------------------------------------------

def frame(d):
    return struct.pack(">H", len(d)) + d


def read_frame(sock, timeout=5.0):
    sock.settimeout(timeout)
    n = struct.unpack(">H", recv_exact(sock, 2))[0]
    return recv_exact(sock, n)


def peer_closed(sock, timeout=5.0):
    """True if the peer closes (EOF or reset) within timeout without sending anything."""
    sock.settimeout(timeout)
    try:
        d = sock.recv(100)
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False
    assert not d, "unexpected bytes %r" % d[:40]
    return True


@pytest.fixture
def raw_server(warren, tmp_path, udp_echo):
    """A plain transparent-UDP server in front of a UDP echo, for raw TCP connections."""
    echo = udp_echo()
    srv = start_udp_server(warren, tmp_path, "plain", echo.addr)
    srv.echo = echo
    return srv


def test_server_backlog_limit(warren, tmp_path, udp_echo):
    """The client side of the transport connection stops reading while the target floods
    replies: once more than 1 MiB waits in the server, it drops datagrams with a WARN, its
    memory stays bounded, and it keeps serving other connections."""
    n = 200 if QUICK else 500
    blob = os.urandom(60000)
    target = udp_echo(reply=lambda d: [blob] * n if d == b"flood" else [d])
    srv = start_udp_server(warren, tmp_path, "plain", target.addr)
    rss0 = rss_kib(srv.pid)
    c = socket.create_connection(srv.addr, timeout=5)
    c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    c.sendall(frame(b"flood"))          # ~30 MB comes back; c never reads
    assert wait_until(lambda: "not keeping up" in srv.stderr_text(), 10), (
        srv.stderr_text()[-1500:])
    grew = rss_kib(srv.pid) - rss0
    assert grew < 8192, "server RSS grew %d KiB with a client that does not read" % grew
    other = socket.create_connection(srv.addr, timeout=5)
    other.sendall(frame(b"still here"))
    assert read_frame(other) == b"still here"
    other.close()
    c.close()


def test_server_frames_merged_and_cut(raw_server):
    """Frames written all at once come out as separate datagrams; a frame cut into single
    bytes comes out as one datagram; the echoes come back framed."""
    c = socket.create_connection(raw_server.addr, timeout=5)
    ds = [os.urandom(n) for n in (1, 5, 1400, 60000, MAX_DGRAM, 3)]
    c.sendall(b"".join(frame(d) for d in ds))
    for d in ds:
        assert read_frame(c) == d
    one = frame(os.urandom(300))
    for b in one:
        c.send(bytes([b]))
        time.sleep(0.002)
    assert read_frame(c) == one[2:]
    assert [n for n, _, _ in raw_server.echo.got] == [len(d) for d in ds] + [300]
    c.close()


def test_server_truncated_frame_then_eof(raw_server):
    """A good frame, then a frame whose length runs past the end of the stream, then EOF: the
    good one is delivered, nothing of the partial one is, the connection closes and the flow
    ends; the server serves the next connection."""
    c = socket.create_connection(raw_server.addr, timeout=5)
    c.sendall(frame(b"good"))
    assert read_frame(c) == b"good"
    c.sendall(struct.pack(">H", 1000) + b"0123456789")
    c.shutdown(socket.SHUT_WR)
    assert peer_closed(c), "the server kept the connection open after EOF"
    c.close()
    assert wait_until(lambda: log_count(raw_server, "flow ended: 1 datagrams to the target") == 1,
                      3), raw_server.stderr_text()[-1500:]
    time.sleep(0.1)
    assert [n for n, _, _ in raw_server.echo.got] == [4]
    c2 = socket.create_connection(raw_server.addr, timeout=5)
    c2.sendall(frame(b"next"))
    assert read_frame(c2) == b"next"
    c2.close()


def test_server_zero_length_frame(raw_server):
    """A zero-length frame is dropped (nothing goes to the target), the connection survives
    and the next frame works."""
    c = socket.create_connection(raw_server.addr, timeout=5)
    c.sendall(b"\x00\x00")
    c.sendall(frame(b"after-empty"))
    assert read_frame(c) == b"after-empty"
    c.sendall(b"\x00\x00" + frame(b"again") + b"\x00\x00")
    assert read_frame(c) == b"again"
    assert [n for n, _, _ in raw_server.echo.got] == [11, 5]
    assert "empty datagram" in raw_server.stderr_text()
    c.close()


@pytest.mark.parametrize("length", [MAX_DGRAM + 1, 0xFFFF])
def test_server_frame_longer_than_a_datagram(raw_server, length):
    """A length over 65,507 cannot be a datagram: the stream is corrupt, the connection closes
    at once (without waiting for the bytes) and the log says why."""
    c = socket.create_connection(raw_server.addr, timeout=5)
    c.sendall(frame(b"ok"))
    assert read_frame(c) == b"ok"
    c.sendall(struct.pack(">H", length) + b"abc")
    assert peer_closed(c), "a %d-byte frame length did not close the connection" % length
    c.close()
    assert wait_until(lambda: "framed length larger than any datagram" in
                      raw_server.stderr_text(), 3), raw_server.stderr_text()[-1500:]
    assert [n for n, _, _ in raw_server.echo.got] == [2]


# ---------------------------------------------------------------------------------------------
# STUN
# ---------------------------------------------------------------------------------------------

COOKIE = 0x2112A442
BINDING_REQ, BINDING_OK = 0x0001, 0x0101
ALLOCATE_REQ, ALLOCATE_OK, ALLOCATE_ERR = 0x0003, 0x0103, 0x0113
REFRESH_REQ, REFRESH_OK = 0x0004, 0x0104
PERMISSION_REQ, PERMISSION_OK = 0x0008, 0x0108
SEND_IND, DATA_IND = 0x0016, 0x0017
A_USERNAME, A_MI, A_ERROR, A_LIFETIME = 0x0006, 0x0008, 0x0009, 0x000D
A_PEER, A_DATA, A_REALM, A_NONCE, A_RELAYED = 0x0012, 0x0013, 0x0014, 0x0015, 0x0016
A_REQ_TRANSPORT, A_XOR_MAPPED, A_SOFTWARE, A_FINGERPRINT = 0x0019, 0x0020, 0x8022, 0x8028


def stun_attr(t, v):
    return struct.pack(">HH", t, len(v)) + v + b"\x00" * (-len(v) % 4)


def stun_msg(mtype, txid, attrs=b""):
    return struct.pack(">HHI", mtype, len(attrs), COOKIE) + txid + attrs


def stun_msg_mi(mtype, txid, attrs, key):
    """attrs + MESSAGE-INTEGRITY (RFC 5389 §15.4)."""
    head = struct.pack(">HHI", mtype, len(attrs) + 24, COOKIE) + txid
    mac = hmac.new(key, head + attrs, hashlib.sha1).digest()
    return head + attrs + stun_attr(A_MI, mac)


def stun_parse(d):
    """(type, txid, {attr type: [values]}); asserts a well-formed RFC 5389 message."""
    assert len(d) >= 20, "short STUN message %r" % d
    mtype, ln, cookie = struct.unpack(">HHI", d[:8])
    assert cookie == COOKIE and ln == len(d) - 20, "bad STUN header %r" % d[:20]
    attrs, p = {}, 20
    while p + 4 <= len(d):
        t, n = struct.unpack(">HH", d[p:p + 4])
        attrs.setdefault(t, []).append(d[p + 4:p + 4 + n])
        p += 4 + n + (-n % 4)
    return mtype, d[8:20], attrs


def xor_addr(v):
    fam, xport = struct.unpack(">xBH", v[:4])
    assert fam == 1
    port = xport ^ (COOKIE >> 16)
    ip = struct.unpack(">I", v[4:8])[0] ^ COOKIE
    return socket.inet_ntoa(struct.pack(">I", ip)), port


def xor_addr_value(host, port):
    ip = struct.unpack(">I", socket.inet_aton(host))[0] ^ COOKIE
    return struct.pack(">xBHI", 1, port ^ (COOKIE >> 16), ip)


def stun_ask(sock, dst, msg, timeout=3.0, want_txid=True):
    sock.sendto(msg, dst)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        d = recv_dgram(sock, max(deadline - time.monotonic(), 0.01))
        if d is None:
            return None
        if not want_txid or d[8:20] == msg[8:20]:
            return d
    return None


def udp_port_free(port):
    for typ in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
        s = socket.socket(socket.AF_INET, typ)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        finally:
            s.close()
    return True


class Coturn:
    USER, PASS, REALM = "ptuser", "ptpass", "pt.test"

    def __init__(self, tmp):
        exe = shutil.which("turnserver")
        if not exe:
            pytest.skip("coturn (turnserver) is not installed")
        rng = random.Random()
        for _ in range(50):
            port = rng.randrange(20000, 30000, 2)
            if udp_port_free(port) and udp_port_free(port + 1):
                break
        else:
            pytest.skip("no free port pair for coturn")
        relay = rng.randrange(40000, 48000)
        self.dir = Path(tmp)
        self.port = port
        self.addr = ("127.0.0.1", port)
        conf = self.dir / "turnserver.conf"
        conf.write_text("\n".join([
            "listening-ip=127.0.0.1", "relay-ip=127.0.0.1", "listening-port=%d" % port,
            "min-port=%d" % relay, "max-port=%d" % (relay + 40), "realm=%s" % self.REALM,
            "lt-cred-mech", "user=%s:%s" % (self.USER, self.PASS), "fingerprint", "no-tls",
            "no-dtls", "no-cli", "allow-loopback-peers", "log-file=stdout", "simple-log",
            "pidfile=%s" % (self.dir / "turnserver.pid"), "userdb=%s" % (self.dir / "turndb"),
            ""]))
        self.log = open(self.dir / "turn.log", "wb")
        self.proc = subprocess.Popen([exe, "-c", str(conf)], stdin=subprocess.DEVNULL,
                                     stdout=self.log, stderr=subprocess.STDOUT)
        s = udp_socket()
        try:
            for _ in range(40):
                if self.proc.poll() is not None:
                    break
                if stun_ask(s, self.addr, stun_msg(BINDING_REQ, os.urandom(12)), 0.25):
                    return
        finally:
            s.close()
        text = (self.dir / "turn.log").read_text(errors="replace")[-2000:]
        self.stop()
        pytest.skip("coturn did not answer on 127.0.0.1:%d:\n%s" % (port, text))

    def key(self):
        return hashlib.md5(("%s:%s:%s" % (self.USER, self.REALM, self.PASS)).encode()).digest()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self.log.close()


@pytest.fixture(scope="module")
def coturn(tmp_path_factory):
    c = Coturn(tmp_path_factory.mktemp("coturn"))
    yield c
    c.stop()


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_stun_binding_through_tunnel(udp_tunnel, coturn, transport):
    """RFC 5389 binding requests through a STUN-mode client and server to coturn: each gets
    its success response (same transaction ID), whose XOR-MAPPED-ADDRESS is the warren
    server's socket, not ours."""
    t = udp_tunnel(transport, coturn.addr, mode="STUN")
    s = udp_socket()
    mapped = set()
    for i in range(3):
        txid = os.urandom(12)
        d = stun_ask(s, t.addr, stun_msg(BINDING_REQ, txid), timeout=5)
        assert d is not None, "no binding response through %s (request %d)" % (transport, i)
        mtype, rtx, attrs = stun_parse(d)
        assert (mtype, rtx) == (BINDING_OK, txid)
        assert A_XOR_MAPPED in attrs, attrs
        mapped.add(xor_addr(attrs[A_XOR_MAPPED][0]))
    assert len(mapped) == 1, "one flow, one socket at the server: %r" % mapped
    (host, port), = mapped
    assert host == "127.0.0.1" and port != s.getsockname()[1]
    s.close()


def test_stun_mode_drops_non_stun(udp_tunnel, coturn):
    """The STUN client refuses datagrams that are not whole RFC 5389 messages: no reply, the
    log counts them, and the same source's valid requests still work."""
    t = udp_tunnel("plain", coturn.addr, mode="STUN")
    s = udp_socket()
    txid = os.urandom(12)
    good = stun_msg(BINDING_REQ, txid)
    bad = [
        b"hello, not STUN",
        b"\x00\x01\x00\x00" + os.urandom(4) + txid,                 # RFC 3489: no cookie
        b"\xc0\x01\x00\x00" + good[4:],                              # first two bits set
        stun_msg(BINDING_REQ, txid, b"\x00" * 4)[:22],               # length says 4, 2 there
        struct.pack(">HHI", BINDING_REQ, 2, COOKIE) + txid + b"ab",  # length not a multiple of 4
        good + b"\x00\x00\x00\x00",                                  # 4 bytes more than it says
    ]
    for b in bad:
        s.sendto(b, t.addr)
    assert_silent(s, 0.7, "non-STUN datagrams")
    d = stun_ask(s, t.addr, good, timeout=5)
    assert d is not None and stun_parse(d)[:2] == (BINDING_OK, txid)
    err = t.client.stderr_text()
    assert "not a STUN message" in err, err[-1500:]
    # The first drop is logged with the count so far; later ones are rate-limited.
    assert "(1 dropped in all)" in err, err[-1500:]
    # None of them opened a flow before the good one: one flow, nothing dropped on it.
    t.client.stop()
    assert wait_until(lambda: "1 datagrams out, 1 back, 0 dropped" in t.client.stderr_text(), 3), (
        t.client.stderr_text()[-1500:])


def test_stun_client_rfc3489_tool_gets_no_answer(udp_tunnel, coturn):
    """Debian's `stun` (stun-client 0.97) speaks RFC 3489: its requests have no magic cookie.
    It gets an answer from coturn directly, but warren's STUN mode refuses such datagrams (they
    are not RFC 5389 STUN, so the stream framing could not carry them), so through the tunnel
    it gets none; the client logs the drops. An RFC 5389 request works (test above)."""
    exe = shutil.which("stun")
    if not exe:
        pytest.skip("stun-client is not installed")
    direct = subprocess.run([exe, hostport(coturn.addr)], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=30)
    assert b"Primary: Open" in direct.stdout or b"Primary: Independ" in direct.stdout, direct
    t = udp_tunnel("plain", coturn.addr, mode="STUN")
    via = subprocess.run([exe, hostport(t.addr)], stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=30)
    assert b"Blocked or could not reach STUN server" in via.stdout, via
    assert "not a STUN message" in t.client.stderr_text()
    assert log_count(t.server, "flow ended") == 0 and "datagrams out" not in \
        t.client.stderr_text(), "a non-STUN datagram opened a flow"


def test_turn_allocate_through_tunnel(udp_tunnel, udp_echo, coturn):
    """TURN through the tunnel (STUN mode, obfs4): Allocate gets coturn's 401 with REALM and
    NONCE; the authenticated Allocate succeeds; a Send indication to a UDP echo peer comes back
    as a Data indication; Refresh with lifetime 0 releases the allocation."""
    peer = udp_echo()
    t = udp_tunnel("obfs4", coturn.addr, mode="STUN")
    s = udp_socket()
    rt = stun_attr(A_REQ_TRANSPORT, b"\x11\x00\x00\x00")
    tx = os.urandom(12)
    d = stun_ask(s, t.addr, stun_msg(ALLOCATE_REQ, tx, rt), timeout=5)
    assert d is not None, "no answer to Allocate"
    mtype, _, attrs = stun_parse(d)
    assert mtype == ALLOCATE_ERR, hex(mtype)
    code = attrs[A_ERROR][0]
    assert code[2] * 100 + code[3] == 401, code
    assert attrs[A_REALM][0] == coturn.REALM.encode()
    nonce = attrs[A_NONCE][0]
    key = coturn.key()
    auth = (stun_attr(A_USERNAME, coturn.USER.encode()) + stun_attr(A_REALM, coturn.REALM.encode())
            + stun_attr(A_NONCE, nonce))
    tx = os.urandom(12)
    d = stun_ask(s, t.addr, stun_msg_mi(ALLOCATE_REQ, tx, rt + auth, key), timeout=5)
    assert d is not None, "no answer to the authenticated Allocate"
    mtype, _, attrs = stun_parse(d)
    assert mtype == ALLOCATE_OK, "Allocate: 0x%04x %r" % (mtype, attrs.get(A_ERROR))
    relayed = xor_addr(attrs[A_RELAYED][0])
    assert relayed[0] == "127.0.0.1"
    peer_v = xor_addr_value(*peer.addr)
    d = stun_ask(s, t.addr, stun_msg_mi(PERMISSION_REQ, os.urandom(12),
                                        stun_attr(A_PEER, peer_v) + auth, key), timeout=5)
    assert d is not None and stun_parse(d)[0] == PERMISSION_OK, d
    payload = os.urandom(500)
    d = stun_ask(s, t.addr, stun_msg(SEND_IND, os.urandom(12),
                                     stun_attr(A_PEER, peer_v) + stun_attr(A_DATA, payload)),
                 timeout=5, want_txid=False)
    assert d is not None, "no Data indication back from the relay"
    mtype, _, attrs = stun_parse(d)
    assert mtype == DATA_IND and attrs[A_DATA][0] == payload
    assert peer.got and peer.got[0][2][1] == relayed[1], "the peer saw another source"
    d = stun_ask(s, t.addr, stun_msg_mi(REFRESH_REQ, os.urandom(12),
                                        stun_attr(A_LIFETIME, b"\x00\x00\x00\x00") + auth, key),
                 timeout=5)
    assert d is not None and stun_parse(d)[0] == REFRESH_OK
    s.close()


def test_stun_server_raw_stream(warren, tmp_path, coturn):
    """A plain STUN-mode server read directly over TCP: STUN messages go unframed both ways
    (two requests in one write come back as two responses); bytes that are not STUN close
    the connection."""
    srv = start_udp_server(warren, tmp_path, "plain", coturn.addr, mode="STUN")
    c = socket.create_connection(srv.addr, timeout=5)
    t1, t2 = os.urandom(12), os.urandom(12)
    c.sendall(stun_msg(BINDING_REQ, t1) + stun_msg(BINDING_REQ, t2))
    seen = set()
    for _ in range(2):
        head = recv_exact(c, 20)
        body = recv_exact(c, struct.unpack(">H", head[2:4])[0])
        mtype, tx, _ = stun_parse(head + body)
        assert mtype == BINDING_OK
        seen.add(tx)
    assert seen == {t1, t2}
    c.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert peer_closed(c), "non-STUN bytes did not close the connection"
    c.close()
    assert wait_until(lambda: "no magic cookie" in srv.stderr_text() or
                      "first two bits" in srv.stderr_text(), 3), srv.stderr_text()[-1500:]
