"""The client's upstream proxy (-proxy): real dante (SOCKS5) and tinyproxy (HTTP CONNECT) on
loopback, plus small in-test SOCKS5 (with RFC 1929 auth) and SOCKS4a stubs.

Every outgoing transport connection must go through the proxy; when the proxy fails, the
SOCKS CONNECT fails with a non-zero reply and nothing reaches the server directly.

The proxies bind their outgoing sockets to 127.0.0.2 where they can, so a target can tell a
proxied connection (peer 127.0.0.2) from a direct one (peer 127.0.0.1)."""
import hashlib
import os
import shutil
import signal
import socket
import struct
import subprocess
import threading
import time

import pytest

from conftest import (CLIENT_ARGS, closed_by_peer, dead_port, echo_roundtrip_ok, recv_exact,
                      server_args, socks5_connect, socks5_connect_rep)

DANTED = "/usr/sbin/danted"
TINYPROXY = shutil.which("tinyproxy") or "/usr/bin/tinyproxy"
PROXY_OUT_IP = "127.0.0.2"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_listening(port, proc, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


def stop_pid(proc, timeout=10):
    if proc.poll() is None:
        try:
            os.kill(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


def pipe_both(a, b):
    """Copies a<->b until both directions see EOF (with half-close), bounded by socket timeouts."""
    def copy(src, dst):
        try:
            while True:
                data = src.recv(1 << 16)
                if not data:
                    break
                dst.sendall(data)
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    th = threading.Thread(target=copy, args=(b, a), daemon=True)
    th.start()
    copy(a, b)
    th.join(timeout=120)


def length_hash_handler(server, sock, peer):
    """Reads an 8-byte length and that many bytes, answers b"<count> <sha256>\\n", closes.
    (No half-close: tinyproxy closes both sides when one side ends.)"""
    n = struct.unpack(">Q", recv_exact(sock, 8))[0]
    h = hashlib.sha256()
    left = n
    while left:
        chunk = sock.recv(min(left, 1 << 16))
        if not chunk:
            raise EOFError("short body")
        h.update(chunk)
        left -= len(chunk)
    server.results.put((n, h.hexdigest()))
    sock.sendall(("%d %s\n" % (n, h.hexdigest())).encode())


def ask_hash(sock, data):
    """Sends a length-prefixed body and checks the target's hash answer."""
    sock.sendall(struct.pack(">Q", len(data)) + data)
    sock.settimeout(20)
    reply = b""
    while len(reply) < 500:
        c = sock.recv(500)
        if not c:
            break
        reply += c
    sock.close()
    return reply == ("%d %s\n" % (len(data), hashlib.sha256(data).hexdigest())).encode()


class Proc:
    def __init__(self, args, log_path, port):
        self.log_path = log_path
        self.port = port
        self._out = open(log_path.with_suffix(".out"), "wb")
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=self._out,
                                     stderr=subprocess.STDOUT)

    def log(self):
        text = ""
        for p in (self.log_path, self.log_path.with_suffix(".out")):
            try:
                text += p.read_text(errors="replace")
            except OSError:
                pass
        return text

    def stop(self):
        stop_pid(self.proc)
        self._out.close()


# ---------------------------------------------------------------------------------------------
# dante
# ---------------------------------------------------------------------------------------------

@pytest.fixture
def dante(tmp_path):
    if not os.access(DANTED, os.X_OK):
        pytest.skip("dante (%s) is not installed" % DANTED)
    procs = []

    def start(block_port=None):
        port = free_port()
        d = tmp_path / ("dante%d" % len(procs))
        d.mkdir()
        log = d / "danted.log"
        block = ""
        if block_port:
            block = ("socks block {\n  from: 127.0.0.0/8 to: 127.0.0.1/32 port = %d\n"
                     "  log: connect error\n}\n" % block_port)
        conf = d / "danted.conf"
        conf.write_text(
            "logoutput: %s\n"
            "internal: 127.0.0.1 port = %d\n"
            "external: %s\n"
            "clientmethod: none\n"
            "socksmethod: none\n"
            "user.privileged: root\n"
            "user.unprivileged: nobody\n"
            "client pass {\n  from: 127.0.0.0/8 to: 0.0.0.0/0\n  log: connect disconnect error\n}\n"
            "%s"
            "socks pass {\n  from: 127.0.0.0/8 to: 0.0.0.0/0\n  command: connect\n"
            "  log: connect disconnect error\n}\n" % (log, port, PROXY_OUT_IP, block))
        p = Proc([DANTED, "-f", str(conf), "-p", str(d / "danted.pid")], log, port)
        procs.append(p)
        if not wait_listening(port, p.proc):
            pytest.fail("danted did not start listening on %d:\n%s" % (port, p.log()))
        return p

    yield start
    for p in procs:
        p.stop()


# ---------------------------------------------------------------------------------------------
# tinyproxy
# ---------------------------------------------------------------------------------------------

@pytest.fixture
def tinyproxy(tmp_path):
    if not os.access(TINYPROXY, os.X_OK):
        pytest.skip("tinyproxy (%s) is not installed" % TINYPROXY)
    procs = []

    def start(connect_ports=(), auth=None):
        port = free_port()
        d = tmp_path / ("tinyproxy%d" % len(procs))
        d.mkdir()
        log = d / "tinyproxy.log"
        lines = ["Port %d" % port, "Listen 127.0.0.1", "Bind %s" % PROXY_OUT_IP,
                 "Allow 127.0.0.1", "LogLevel Info", "MaxClients 50", "Timeout 30"]
        lines += ["ConnectPort %d" % p for p in connect_ports]
        if auth:
            lines.append("BasicAuth %s %s" % auth)
        conf = d / "tinyproxy.conf"
        conf.write_text("\n".join(lines) + "\n")
        p = Proc([TINYPROXY, "-d", "-c", str(conf)], log, port)
        procs.append(p)
        if not wait_listening(port, p.proc):
            pytest.fail("tinyproxy did not start listening on %d:\n%s" % (port, p.log()))
        return p

    yield start
    for p in procs:
        p.stop()


# ---------------------------------------------------------------------------------------------
# In-test SOCKS5 / SOCKS4a stubs
# ---------------------------------------------------------------------------------------------

def socks5_stub_handler(creds=None, fail_code=None, drop=False):
    """A SOCKS5 proxy: optional RFC 1929 check against creds=(user, pass); fail_code answers
    every CONNECT with that reply; drop closes right after the greeting."""
    def handler(server, sock, peer):
        head = recv_exact(sock, 2)
        methods = recv_exact(sock, head[1])
        if drop:
            return
        if creds:
            if 2 not in methods:
                sock.sendall(b"\x05\xff")
                return
            sock.sendall(b"\x05\x02")
            ver, ulen = recv_exact(sock, 2)
            user = recv_exact(sock, ulen)
            plen = recv_exact(sock, 1)[0]
            pw = recv_exact(sock, plen)
            server.results.put(("auth", user, pw))
            if (user, pw) != creds:
                sock.sendall(b"\x01\x01")
                return
            sock.sendall(b"\x01\x00")
        else:
            if 0 not in methods:
                sock.sendall(b"\x05\xff")
                return
            sock.sendall(b"\x05\x00")
        ver, cmd, _, atyp = recv_exact(sock, 4)
        if atyp == 1:
            host = socket.inet_ntoa(recv_exact(sock, 4))
        elif atyp == 4:
            host = socket.inet_ntop(socket.AF_INET6, recv_exact(sock, 16))
        else:
            host = recv_exact(sock, recv_exact(sock, 1)[0]).decode()
        port = struct.unpack(">H", recv_exact(sock, 2))[0]
        server.results.put(("connect", host, port))
        if fail_code is not None:
            sock.sendall(bytes([5, fail_code, 0, 1, 0, 0, 0, 0, 0, 0]))
            return
        try:
            up = socket.create_connection((host, port), timeout=10,
                                          source_address=(PROXY_OUT_IP, 0))
        except OSError:
            sock.sendall(b"\x05\x05\x00\x01\x00\x00\x00\x00\x00\x00")
            return
        sock.sendall(b"\x05\x00\x00\x01\x7f\x00\x00\x02\x00\x00")
        up.settimeout(60)
        with up:
            pipe_both(sock, up)
    return handler


def socks4a_stub_handler(reject=False):
    def handler(server, sock, peer):
        ver, cmd, pport = struct.unpack(">BBH", recv_exact(sock, 4))
        ip = recv_exact(sock, 4)
        userid = b""
        while len(userid) < 512:
            c = recv_exact(sock, 1)
            if c == b"\x00":
                break
            userid += c
        host = socket.inet_ntoa(ip)
        if ip[:3] == b"\x00\x00\x00" and ip[3] != 0:
            name = b""
            while len(name) < 256:
                c = recv_exact(sock, 1)
                if c == b"\x00":
                    break
                name += c
            host = name.decode()
        server.results.put(("connect", ver, cmd, userid, host, pport))
        if reject:
            sock.sendall(b"\x00\x5b\x00\x00\x00\x00\x00\x00")
            return
        try:
            up = socket.create_connection((host, pport), timeout=10,
                                          source_address=(PROXY_OUT_IP, 0))
        except OSError:
            sock.sendall(b"\x00\x5b\x00\x00\x00\x00\x00\x00")
            return
        sock.sendall(b"\x00\x5a\x00\x00\x00\x00\x00\x00")
        up.settimeout(60)
        with up:
            pipe_both(sock, up)
    return handler


def results_of(server, timeout=5):
    out = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            out.append(server.results.get(timeout=0.1))
        except Exception:  # queue.Empty
            if out:
                break
    return out


# ---------------------------------------------------------------------------------------------
# dante tests
# ---------------------------------------------------------------------------------------------

def test_dante_full_path_curl(dante, warren, http_target, curl):
    px = dante()
    srv = warren(server_args(http_target.addr))
    cli = warren(CLIENT_ARGS + ["-proxy", "socks5://127.0.0.1:%d" % px.port])
    assert cli.lines[1] == "PROXY DONE"
    p = curl(["--socks5-hostname", "127.0.0.1:%d" % cli.addr[1],
              "http://127.0.0.1:%d/hello" % srv.addr[1]])
    assert p.returncode == 0, p.stderr
    assert p.stdout == http_target.hello
    time.sleep(0.3)
    log = px.log()
    # dante logged the connection to the warren server, made from its external address
    assert "127.0.0.1.%d" % srv.addr[1] in log, log
    assert PROXY_OUT_IP in log, log


def test_dante_connection_comes_from_proxy(dante, warren, tcp_server):
    px = dante()
    target = tcp_server(length_hash_handler)      # stands in for the warren server
    cli = warren(CLIENT_ARGS + ["-proxy", "socks5://127.0.0.1:%d" % px.port])
    for _ in range(3):
        assert ask_hash(socks5_connect(cli.addr, target.addr), os.urandom(200000))
    assert target.accepted == 3
    assert all(peer[0] == PROXY_OUT_IP for peer in target.peers), target.peers


def test_dante_block_rule_fails_closed(dante, warren, counting_listener):
    px = dante(block_port=counting_listener.addr[1])
    cli = warren(CLIENT_ARGS + ["-proxy", "socks5://127.0.0.1:%d" % px.port])
    rep = socks5_connect_rep(cli.addr, counting_listener.addr)
    assert rep != 0
    time.sleep(0.5)
    assert counting_listener.count() == 0, "a connection reached the server despite the proxy"
    assert "block" in px.log(), px.log()


# ---------------------------------------------------------------------------------------------
# tinyproxy tests
# ---------------------------------------------------------------------------------------------

def test_tinyproxy_full_path_curl(tinyproxy, warren, http_target, curl):
    srv = warren(server_args(http_target.addr))
    px = tinyproxy(connect_ports=[srv.addr[1]])
    cli = warren(CLIENT_ARGS + ["-proxy", "http://127.0.0.1:%d" % px.port])
    assert cli.lines[1] == "PROXY DONE"
    p = curl(["--socks5-hostname", "127.0.0.1:%d" % cli.addr[1],
              "http://127.0.0.1:%d/hello" % srv.addr[1]])
    assert p.returncode == 0, p.stderr
    assert p.stdout == http_target.hello
    time.sleep(0.3)
    assert "CONNECT 127.0.0.1:%d" % srv.addr[1] in px.log(), px.log()


def test_tinyproxy_connection_comes_from_proxy(tinyproxy, warren, tcp_server):
    target = tcp_server(length_hash_handler)
    px = tinyproxy(connect_ports=[target.addr[1]])
    cli = warren(CLIENT_ARGS + ["-proxy", "http://127.0.0.1:%d" % px.port])
    assert ask_hash(socks5_connect(cli.addr, target.addr), os.urandom(300000))
    assert [p[0] for p in target.peers] == [PROXY_OUT_IP]


def test_tinyproxy_refused_port_fails_closed(tinyproxy, warren, counting_listener):
    px = tinyproxy(connect_ports=[443])
    cli = warren(CLIENT_ARGS + ["-proxy", "http://127.0.0.1:%d" % px.port])
    rep = socks5_connect_rep(cli.addr, counting_listener.addr)
    assert rep != 0
    assert rep == 0x02, "403 from the proxy should map to 'not allowed' (02), got %d" % rep
    time.sleep(0.5)
    assert counting_listener.count() == 0


def test_tinyproxy_basic_auth(tinyproxy, warren, tcp_server):
    target = tcp_server(length_hash_handler)
    px = tinyproxy(connect_ports=[target.addr[1]], auth=("alice", "s3cret"))
    cli = warren(CLIENT_ARGS + ["-proxy", "http://alice:s3cret@127.0.0.1:%d" % px.port])
    assert ask_hash(socks5_connect(cli.addr, target.addr), os.urandom(1000))
    assert target.accepted == 1


@pytest.mark.parametrize("userinfo", ["alice:wrong@", ""])
def test_tinyproxy_bad_auth_fails_closed(tinyproxy, warren, counting_listener, userinfo):
    px = tinyproxy(connect_ports=[counting_listener.addr[1]], auth=("alice", "s3cret"))
    cli = warren(CLIENT_ARGS + ["-proxy", "http://%s127.0.0.1:%d" % (userinfo, px.port)])
    rep = socks5_connect_rep(cli.addr, counting_listener.addr)
    assert rep != 0
    if not userinfo:
        # tinyproxy answers 407 without credentials (and 401 to wrong ones)
        assert rep == 0x02, "407 from the proxy should map to 'not allowed' (02), got %d" % rep
    time.sleep(0.5)
    assert counting_listener.count() == 0


# ---------------------------------------------------------------------------------------------
# Closed proxy port
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("scheme", ["socks5", "socks4a", "http"])
def test_proxy_down_fails_closed(warren, counting_listener, scheme):
    port = dead_port()
    cli = warren(CLIENT_ARGS + ["-proxy", "%s://127.0.0.1:%d" % (scheme, port)])
    for _ in range(3):
        rep = socks5_connect_rep(cli.addr, counting_listener.addr)
        assert rep != 0
    time.sleep(0.3)
    assert counting_listener.count() == 0


def test_proxy_down_transparent_fails_closed(warren, counting_listener):
    port = dead_port()
    cli = warren(["-client", "-mode", "transparent-TCP", "-transports", "plain",
                  "-proxylistenaddr", "127.0.0.1:0", "-proxy", "socks5://127.0.0.1:%d" % port,
                  "-options", '{"serverAddress":"127.0.0.1:%d"}' % counting_listener.addr[1]])
    try:
        s = socket.create_connection(cli.addr, timeout=10)
    except ConnectionResetError:
        # The reset can beat the end of a connect() that has a timeout (Python polls, then
        # reads SO_ERROR): closed, which is what is asserted below.
        s = None
    if s:
        assert closed_by_peer(s, 10)
        s.close()
    time.sleep(0.3)
    assert counting_listener.count() == 0


# ---------------------------------------------------------------------------------------------
# SOCKS5 stub: RFC 1929 authentication towards the proxy, and error codes
# ---------------------------------------------------------------------------------------------

def test_socks5_proxy_auth_good(warren, tcp_server):
    target = tcp_server(length_hash_handler)
    px = tcp_server(socks5_stub_handler(creds=(b"bob", b"p:a@ss")))
    cli = warren(CLIENT_ARGS + ["-proxy", "socks5://bob:p%%3Aa%%40ss@127.0.0.1:%d" % px.addr[1]])
    assert ask_hash(socks5_connect(cli.addr, target.addr), os.urandom(100000))
    got = results_of(px)
    assert ("auth", b"bob", b"p:a@ss") in got, got
    assert ("connect", "127.0.0.1", target.addr[1]) in got, got
    assert [p[0] for p in target.peers] == [PROXY_OUT_IP]


def test_socks5_proxy_auth_bad(warren, tcp_server, counting_listener):
    px = tcp_server(socks5_stub_handler(creds=(b"bob", b"right")))
    cli = warren(CLIENT_ARGS + ["-proxy", "socks5://bob:wrong@127.0.0.1:%d" % px.addr[1]])
    rep = socks5_connect_rep(cli.addr, counting_listener.addr)
    assert rep == 0x02, rep
    time.sleep(0.3)
    assert counting_listener.count() == 0
    assert ("auth", b"bob", b"wrong") in results_of(px)


def test_socks5_proxy_requires_auth_none_given(warren, tcp_server, counting_listener):
    px = tcp_server(socks5_stub_handler(creds=(b"bob", b"right")))
    cli = warren(CLIENT_ARGS + ["-proxy", "socks5://127.0.0.1:%d" % px.addr[1]])
    rep = socks5_connect_rep(cli.addr, counting_listener.addr)
    assert rep != 0
    time.sleep(0.3)
    assert counting_listener.count() == 0


@pytest.mark.parametrize("code", [0x02, 0x04, 0x05])
def test_socks5_proxy_error_code_passed_on(warren, tcp_server, counting_listener, code):
    px = tcp_server(socks5_stub_handler(fail_code=code))
    cli = warren(CLIENT_ARGS + ["-proxy", "socks5://127.0.0.1:%d" % px.addr[1]])
    rep = socks5_connect_rep(cli.addr, counting_listener.addr)
    assert rep == code
    assert counting_listener.count() == 0


def test_socks5_proxy_drops_connection(warren, tcp_server, counting_listener):
    px = tcp_server(socks5_stub_handler(drop=True))
    cli = warren(CLIENT_ARGS + ["-proxy", "socks5://127.0.0.1:%d" % px.addr[1]])
    rep = socks5_connect_rep(cli.addr, counting_listener.addr)
    assert rep != 0
    assert counting_listener.count() == 0


def test_socks5_proxy_gets_name_destination(warren, tcp_server):
    """A destination given as a name is passed to the proxy as a name (ATYP 03)."""
    target = tcp_server(length_hash_handler)
    px = tcp_server(socks5_stub_handler())
    cli = warren(CLIENT_ARGS + ["-proxy", "socks5://127.0.0.1:%d" % px.addr[1]])
    assert ask_hash(socks5_connect(cli.addr, ("localhost", target.addr[1])), b"named")
    assert ("connect", "localhost", target.addr[1]) in results_of(px)


# ---------------------------------------------------------------------------------------------
# SOCKS4a stub
# ---------------------------------------------------------------------------------------------

def test_socks4a_proxy(warren, tcp_server):
    target = tcp_server(length_hash_handler)
    px = tcp_server(socks4a_stub_handler())
    cli = warren(CLIENT_ARGS + ["-proxy", "socks4a://someone@127.0.0.1:%d" % px.addr[1]])
    assert cli.lines[1] == "PROXY DONE"
    assert ask_hash(socks5_connect(cli.addr, target.addr), os.urandom(200000))
    got = results_of(px)
    assert ("connect", 4, 1, b"someone", "127.0.0.1", target.addr[1]) in got, got
    assert [p[0] for p in target.peers] == [PROXY_OUT_IP]


def test_socks4a_proxy_name_destination(warren, tcp_server):
    target = tcp_server(length_hash_handler)
    px = tcp_server(socks4a_stub_handler())
    cli = warren(CLIENT_ARGS + ["-proxy", "socks4a://127.0.0.1:%d" % px.addr[1]])
    assert ask_hash(socks5_connect(cli.addr, ("localhost", target.addr[1])), b"hello")
    got = results_of(px)
    assert ("connect", 4, 1, b"", "localhost", target.addr[1]) in got, got


def test_socks4a_proxy_rejects(warren, tcp_server, counting_listener):
    px = tcp_server(socks4a_stub_handler(reject=True))
    cli = warren(CLIENT_ARGS + ["-proxy", "socks4a://127.0.0.1:%d" % px.addr[1]])
    rep = socks5_connect_rep(cli.addr, counting_listener.addr)
    assert rep != 0
    time.sleep(0.3)
    assert counting_listener.count() == 0


def test_socks4a_proxy_ipv6_destination_refused(warren, tcp_server):
    px = tcp_server(socks4a_stub_handler())
    cli = warren(CLIENT_ARGS + ["-proxy", "socks4a://127.0.0.1:%d" % px.addr[1]])
    rep = socks5_connect_rep(cli.addr, ("::1", 9))
    assert rep == 0x08
    assert px.accepted <= 1 and results_of(px, timeout=0.5) == []


# ---------------------------------------------------------------------------------------------
# Whole path through a proxy with the real warren server, many connections
# ---------------------------------------------------------------------------------------------

def test_proxy_many_connections(dante, warren, echo_server):
    px = dante()
    srv = warren(server_args(echo_server.addr))
    cli = warren(CLIENT_ARGS + ["-proxy", "socks5://127.0.0.1:%d" % px.port])
    socks = [socks5_connect(cli.addr, srv.addr) for _ in range(20)]
    for s in socks:
        assert echo_roundtrip_ok(s)
    assert echo_server.accepted == 20
