"""The `shadow` transport (Shadowsocks AEAD, SIP004/SIP007) against shadowsocks-libev 3.3.5 and
against itself, for aes-128-gcm, aes-256-gcm and chacha20-ietf-poly1305:

* warren client -> ss-server -> target, ss-local -> warren server -> target and
  warren client -> warren server -> target, 10 MiB each way with sha256;
* option handling (native JSON values, flat form, upper-case cipher names, per-connection
  settings over SOCKS5 method 09 and 02, the start-up errors);
* the server's anti-probing: a wrong password, random bytes and a replayed first flight get no
  reply, the connection stays open and the server keeps reading, and nothing reaches the target;
  the same cases against ss-server show that this is what ss-server does.

Every process is started here or by the `warren` fixture and stopped by its own pid; every
socket operation has a timeout. Wire notes: /work/shared/notes/wire-formats.md section 3.
"""
import base64
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import threading
import time
from pathlib import Path

import pytest

from conftest import (WARREN, DataStream, EchoServer, assert_probe_ignored, banner_handler,
                      encode_socks_addr, recv_exact, send_stream, socks5_connect, watch_silent)

CIPHERS = ["aes-128-gcm", "aes-256-gcm", "chacha20-ietf-poly1305"]
SALT_LEN = {"aes-128-gcm": 16, "aes-256-gcm": 32, "chacha20-ietf-poly1305": 32}
PASSWORD = "test-password"
BULK = 10 << 20                  # bytes each way in the bulk tests
SS_SERVER = shutil.which("ss-server") or "/usr/bin/ss-server"
SS_LOCAL = shutil.which("ss-local") or "/usr/bin/ss-local"

needs_libev = pytest.mark.skipif(not (os.access(SS_SERVER, os.X_OK) and os.access(SS_LOCAL, os.X_OK)),
                                 reason="shadowsocks-libev (ss-server, ss-local) is not installed")


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------

def hostport(addr):
    return "%s:%d" % tuple(addr[:2])


def free_port():
    """A loopback TCP port that was free a moment ago (for the peers, which want a number)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
    finally:
        s.close()


def tcp_listening(port):
    """True if something listens on 127.0.0.1:port (read from /proc: no probe connection)."""
    want = "0100007F:%04X" % port
    try:
        with open("/proc/net/tcp") as f:
            next(f)
            for line in f:
                w = line.split()
                if len(w) > 3 and w[1] == want and w[3] == "0A":
                    return True
    except OSError:
        pass
    return False


class PeerProcs:
    """ss-server / ss-local processes: output to a log in tmp_path, stopped by pid."""

    def __init__(self, tmp_path):
        self.tmp_path = Path(tmp_path)
        self.procs = []

    def start(self, name, args, port, timeout=10.0):
        log = self.tmp_path / ("%s.log" % name)
        f = open(log, "wb")
        p = subprocess.Popen([str(a) for a in args], stdin=subprocess.DEVNULL, stdout=f,
                             stderr=subprocess.STDOUT)
        self.procs.append((p, f, log))
        deadline = time.monotonic() + timeout
        while not tcp_listening(port):
            if p.poll() is not None or time.monotonic() > deadline:
                pytest.fail("%s (pid %d, rc %r) is not listening on 127.0.0.1:%d; log:\n%s"
                            % (name, p.pid, p.poll(), port, log.read_text(errors="replace")[-3000:]))
            time.sleep(0.02)
        p.log = log
        return p

    def ss_server(self, method, password=PASSWORD, name="ss-server"):
        port = free_port()
        p = self.start(name, [SS_SERVER, "-s", "127.0.0.1", "-p", port, "-k", password,
                              "-m", method, "-v"], port)
        p.addr = ("127.0.0.1", port)
        return p

    def ss_local(self, server_addr, method, password=PASSWORD, name="ss-local"):
        port = free_port()
        p = self.start(name, [SS_LOCAL, "-s", server_addr[0], "-p", server_addr[1], "-b",
                              "127.0.0.1", "-l", port, "-k", password, "-m", method, "-v"], port)
        p.addr = ("127.0.0.1", port)
        return p

    def stop(self):
        for p, f, _ in self.procs:
            if p.poll() is None:
                try:
                    os.kill(p.pid, signal.SIGTERM)
                    p.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    os.kill(p.pid, signal.SIGKILL)
                    p.wait(timeout=5)
                except ProcessLookupError:
                    pass
            f.close()


@pytest.fixture
def peers(tmp_path):
    pp = PeerProcs(tmp_path)
    yield pp
    pp.stop()


def log_text(p):
    return p.log.read_text(errors="replace")


def wait_log(p, needle, timeout=3.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if needle in log_text(p):
            return True
        time.sleep(0.05)
    return needle in log_text(p)


def shadow_opts(cipher, password=PASSWORD, **extra):
    o = {"password": password, "cipherName": cipher}
    o.update(extra)
    return o


def client_args(opts, keyed=True, mode=None):
    a = ["-client", "-transports", "shadow", "-proxylistenaddr", "127.0.0.1:0",
         "-options", json.dumps({"shadow": opts} if keyed else opts)]
    if mode:
        a += ["-mode", mode]
    return a


def start_client(warren, opts, keyed=True, mode=None, name="client"):
    cli = warren(client_args(opts, keyed, mode), name=name)
    if "shadow" not in cli.methods:
        pytest.fail("warren client did not start shadow: stdout %r; stderr:\n%s"
                    % (cli.lines, cli.stderr_text()[-2000:]))
    return cli


def start_server(warren, target, opts, name="server"):
    srv = warren(["-server", "-transports", "shadow", "-bindaddr", "shadow-127.0.0.1:0",
                  "-target", hostport(target), "-options", json.dumps({"shadow": opts})],
                 name=name)
    if "shadow" not in srv.methods:
        pytest.fail("warren server did not start shadow: stdout %r; stderr:\n%s"
                    % (srv.lines, srv.stderr_text()[-2000:]))
    return srv


def stderr_lines(proc, prefix, timeout=3.0):
    """stderr lines of a WarrenProc starting with prefix (waits a little for them)."""
    deadline = time.monotonic() + timeout
    while True:
        found = [ln for ln in proc.stderr_text().splitlines() if ln.startswith(prefix)]
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


# ---- targets ----

class BulkTarget:
    """A target for one bulk exchange: it reads exactly up.total bytes (hashing them) while it
    sends down, then waits for the client to close. Nothing depends on half-close, which
    ss-server and ss-local do not carry (they close both ways on the first EOF)."""

    def __init__(self, tcp_server, up, down):
        self.up, self.down = up, down
        self.srv = tcp_server(self._handle, sock_timeout=60)
        self.addr = self.srv.addr

    def _handle(self, server, sock, peer):
        errs = []

        def send():
            try:
                send_stream(sock, self.down)
            except OSError as e:
                errs.append("target send: %r" % e)

        th = threading.Thread(target=send, daemon=True)
        th.start()
        got = read_exact_hash(sock, self.up.total)
        th.join(timeout=60)
        server.results.put((got, errs))
        try:        # hold the connection until the client has everything and closes
            sock.settimeout(30)
            while sock.recv(65536):
                pass
        except OSError:
            pass


class RecordingEcho:
    """An echo target that records what each connection sent (live)."""

    def __init__(self, tcp_server):
        self.data = []
        self.lock = threading.Lock()
        self.srv = tcp_server(self._handle, sock_timeout=30)
        self.addr = self.srv.addr

    def _handle(self, server, sock, peer):
        buf = bytearray()
        with self.lock:
            self.data.append(buf)
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            buf += chunk
            sock.sendall(chunk)

    @property
    def accepted(self):
        return self.srv.accepted

    def received(self):
        with self.lock:
            return [bytes(b) for b in self.data]


def read_exact_hash(sock, total):
    """(count, sha256) of the first `total` bytes, or of fewer if the peer closes first."""
    h = hashlib.sha256()
    n = 0
    while n < total:
        chunk = sock.recv(min(1 << 18, total - n))
        if not chunk:
            break
        h.update(chunk)
        n += len(chunk)
    return n, h.hexdigest()


def bulk_exchange(sock, target, timeout=60):
    """Sends target.up and reads target.down at the same time; checks both hashes."""
    up, down = target.up, target.down
    sock.settimeout(timeout)
    errs = []

    def upload():
        try:
            send_stream(sock, up)
        except OSError as e:
            errs.append("client send: %r" % e)

    th = threading.Thread(target=upload, daemon=True)
    th.start()
    try:
        n, h = read_exact_hash(sock, down.total)
    except OSError as e:
        n, h = -1, repr(e)
    th.join(timeout=timeout)
    sock.close()
    assert not errs, errs
    assert (n, h) == (down.total, down.sha256), \
        "client received %d of %d bytes (or hash differs): %s" % (n, down.total, h)
    (tn, th_), terr = target.srv.results.get(timeout=timeout)
    assert not terr, terr
    assert (tn, th_) == (up.total, up.sha256), \
        "target received %d of %d bytes (or hash differs)" % (tn, up.total)


def echo_ok(sock, payload=None, timeout=10):
    payload = payload or ("shadow echo %s\n" % os.urandom(8).hex()).encode()
    sock.settimeout(timeout)
    try:
        sock.sendall(payload)
        got = recv_exact(sock, len(payload))
    finally:
        sock.close()
    assert got == payload
    return True


# ---- probing ----

def capture_flight(warren, relay, cipher, password, payload, socks_dst=None, opts_extra=None):
    """What a warren shadow client sends for one connection (salt, then one chunk holding the
    address header and the payload), captured by a sink that never answers. socks_dst=None: the SOCKS destination is the sink
    itself (the header then says 0.0.0.0:0)."""
    sink = relay(None)
    extra = dict(opts_extra or {})
    if socks_dst is not None:
        extra["serverAddress"] = hostport(sink.addr)
    cli = start_client(warren, shadow_opts(cipher, password, **extra), name="capture-client")
    s = socks5_connect(cli.addr, socks_dst or sink.addr, timeout=10)
    try:
        s.sendall(payload)
        header = 7      # ATYP 1: 1 + 4 + 2
        want = SALT_LEN[cipher] + 2 + 16 + header + len(payload) + 16
        flight = sink.wait_bytes(0, want)
    finally:
        s.close()
    return flight


# ---------------------------------------------------------------------------------------------
# 1-3. Bulk: 10 MiB each way
# ---------------------------------------------------------------------------------------------

@needs_libev
@pytest.mark.parametrize("cipher", CIPHERS)
def test_bulk_warren_client_to_ss_server(warren, peers, tcp_server, cipher):
    target = BulkTarget(tcp_server, DataStream(11, BULK), DataStream(12, BULK))
    ss = peers.ss_server(cipher)
    cli = start_client(warren, shadow_opts(cipher, serverAddress=hostport(ss.addr)))
    s = socks5_connect(cli.addr, target.addr, timeout=10)
    bulk_exchange(s, target)
    assert target.srv.accepted == 1
    log = log_text(ss)
    assert "authentication error" not in log and "repeat salt" not in log, log[-2000:]


@needs_libev
@pytest.mark.parametrize("cipher", CIPHERS)
def test_bulk_ss_local_to_warren_server(warren, peers, tcp_server, cipher):
    target = BulkTarget(tcp_server, DataStream(21, BULK), DataStream(22, BULK))
    srv = start_server(warren, target.addr, shadow_opts(cipher))
    local = peers.ss_local(srv.addr, cipher)
    # ss-local's SOCKS5 has no authentication; the header it sends names the target, and the
    # warren server (bound mode) forwards to its -target after stripping it.
    s = socks5_connect(local.addr, target.addr, timeout=10)
    bulk_exchange(s, target)
    assert target.srv.accepted == 1


@pytest.mark.parametrize("cipher", CIPHERS)
def test_bulk_warren_client_to_warren_server(warren, tcp_server, cipher):
    target = BulkTarget(tcp_server, DataStream(31, BULK), DataStream(32, BULK))
    srv = start_server(warren, target.addr, shadow_opts(cipher))
    cli = start_client(warren, shadow_opts(cipher))
    # PT style: the SOCKS destination is the server; the header says 0.0.0.0:0.
    s = socks5_connect(cli.addr, srv.addr, timeout=10)
    bulk_exchange(s, target)
    assert target.srv.accepted == 1


@pytest.mark.parametrize("cipher", CIPHERS)
def test_warren_client_free_mode_to_warren_server(warren, tcp_server, cipher):
    """With serverAddress the SOCKS destination goes into the header; a bound server still
    forwards to its own -target."""
    echo = RecordingEcho(tcp_server)
    srv = start_server(warren, echo.addr, shadow_opts(cipher))
    cli = start_client(warren, shadow_opts(cipher, serverAddress=hostport(srv.addr)))
    assert echo_ok(socks5_connect(cli.addr, echo.addr, timeout=10))
    assert echo.accepted == 1


# ---------------------------------------------------------------------------------------------
# 4. Options
# ---------------------------------------------------------------------------------------------

FORMS = ["keyed-strings", "flat", "native-json", "upper-case"]


@needs_libev
@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("cipher", CIPHERS)
def test_client_option_forms(warren, peers, tcp_server, cipher, form):
    echo = RecordingEcho(tcp_server)
    password = 31337 if form == "native-json" else PASSWORD
    ss = peers.ss_server(cipher, password=str(password))
    opts = {"password": password, "cipherName": cipher.upper() if form == "upper-case" else cipher,
            "serverAddress": hostport(ss.addr)}
    cli = start_client(warren, opts, keyed=form != "flat")
    assert echo_ok(socks5_connect(cli.addr, echo.addr, timeout=10))
    assert echo.accepted == 1


@needs_libev
@pytest.mark.parametrize("cipher", CIPHERS)
def test_client_option_target_pt_style(warren, peers, tcp_server, cipher):
    """Without serverAddress the SOCKS destination is the server and the header carries the
    option target (how a PT 1.0 parent drives a free server)."""
    echo = RecordingEcho(tcp_server)
    ss = peers.ss_server(cipher)
    cli = start_client(warren, shadow_opts(cipher, target=hostport(echo.addr)))
    assert echo_ok(socks5_connect(cli.addr, ss.addr, timeout=10))
    assert echo.accepted == 1


@needs_libev
@pytest.mark.parametrize("cipher", CIPHERS)
def test_client_transparent_tcp(warren, peers, tcp_server, cipher):
    echo = RecordingEcho(tcp_server)
    ss = peers.ss_server(cipher)
    cli = start_client(warren, shadow_opts(cipher, serverAddress=hostport(ss.addr),
                                           target=hostport(echo.addr)), mode="transparent-TCP")
    assert "transparent-TCP" in cli.method_lines[0]
    assert echo_ok(socket.create_connection(cli.addr, timeout=10))
    assert echo.accepted == 1


@needs_libev
@pytest.mark.parametrize("cipher", CIPHERS)
def test_per_connection_json_overrides_options(warren, peers, tcp_server, cipher):
    """-options hold a wrong password and the wrong cipher; method 09 gives the right ones."""
    echo = RecordingEcho(tcp_server)
    ss = peers.ss_server(cipher)
    other = CIPHERS[(CIPHERS.index(cipher) + 1) % len(CIPHERS)]
    cli = start_client(warren, shadow_opts(other, "wrong-password", serverAddress=hostport(ss.addr)))
    # Control: with -options alone ss-server cannot decrypt, so nothing comes back.
    ctl = socks5_connect(cli.addr, echo.addr, timeout=10)
    # 64 bytes: with a 16-byte salt taken for a 32-byte one, ss-server needs 34 more bytes
    # before it can try (and fail) to authenticate a length.
    ctl.sendall(b"control\n" * 8)
    body = json.dumps({"shadow": {"password": PASSWORD, "cipherName": cipher}})
    good = socks5_connect(cli.addr, echo.addr, timeout=10, methods=b"\x09", json_args=body)
    payload = b"per-connection settings %s\n" % os.urandom(4).hex().encode()
    assert echo_ok(good, payload)
    (data, _closed), = watch_silent([ctl], 1.0)
    ctl.close()
    assert data == b"", "the connection with the -options password got an answer: %r" % data
    assert echo.accepted == 1 and echo.received() == [payload], echo.received()
    assert wait_log(ss, "authentication error"), log_text(ss)[-2000:]


@needs_libev
def test_per_connection_json_flat_and_pt_args(warren, peers, tcp_server):
    """Flat 09 JSON, and tor's RFC 1929 k=v arguments (method 02), override -options too."""
    cipher = "chacha20-ietf-poly1305"
    echo = RecordingEcho(tcp_server)
    ss = peers.ss_server(cipher)
    cli = start_client(warren, shadow_opts("aes-128-gcm", "wrong-password",
                                           serverAddress=hostport(ss.addr)))
    s = socks5_connect(cli.addr, echo.addr, timeout=10, methods=b"\x09",
                       json_args=json.dumps({"password": PASSWORD, "cipherName": cipher}))
    assert echo_ok(s)
    args = "password=%s;cipherName=%s" % (PASSWORD, cipher)
    s = socks5_connect(cli.addr, echo.addr, timeout=10, methods=b"\x02",
                       userpass=(args.encode(), b"\x00"))
    assert echo_ok(s)
    assert echo.accepted == 2


@pytest.mark.parametrize("body", [{"shadow": {"cipherName": "rc4-md5"}},
                                  {"shadow": {"password": ""}},
                                  {"shadow": {"serverAddress": "127.0.0.1:0"}},
                                  {"shadow": {"cipherName": ["aes-128-gcm"]}}],
                         ids=["bad-cipher", "empty-password", "port-0", "cipher-not-string"])
def test_per_connection_json_rejected(warren, body):
    cli = start_client(warren, shadow_opts("aes-256-gcm", serverAddress="127.0.0.1:9"))
    s = socket.create_connection(cli.addr, timeout=10)
    try:
        s.sendall(b"\x05\x01\x09")
        assert recv_exact(s, 2) == b"\x05\x09"
        raw = json.dumps(body).encode()
        s.sendall(struct.pack(">I", len(raw)) + raw)
        assert recv_exact(s, 10) == bytes([5, 0x13, 0, 1, 0, 0, 0, 0, 0, 0])
    finally:
        s.close()


@pytest.mark.parametrize("case", ["no-options", "empty-password", "flat-no-password",
                                  "bad-cipher", "transparent-no-server", "bad-server-address"])
def test_client_start_errors(warren, case):
    opts = {"no-options": None,
            "empty-password": {"shadow": {"password": "", "cipherName": "aes-128-gcm"}},
            "flat-no-password": {"cipherName": "aes-128-gcm", "serverAddress": "127.0.0.1:9"},
            "bad-cipher": {"shadow": {"password": PASSWORD, "cipherName": "aes-128-cfb"}},
            "transparent-no-server": {"shadow": {"password": PASSWORD}},
            "bad-server-address": {"shadow": {"password": PASSWORD, "serverAddress": "nope"}},
            }[case]
    args = ["-client", "-transports", "shadow,plain", "-proxylistenaddr", "127.0.0.1:0"]
    if opts is not None:
        args += ["-options", json.dumps(opts)]
    if case == "transparent-no-server":
        args += ["-mode", "transparent-TCP"]
    cli = warren(args, name="client")
    assert "CMETHODS DONE" in cli.lines
    assert "shadow" not in cli.methods, cli.lines
    errs = stderr_lines(cli, "CMETHOD-ERROR ")
    assert errs and errs[0].startswith("CMETHOD-ERROR shadow "), cli.stderr_text()
    want = {"no-options": "password", "empty-password": "password",
            "flat-no-password": "password", "bad-cipher": "cipherName",
            "transparent-no-server": "serverAddress", "bad-server-address": "serverAddress"}[case]
    assert want in errs[0], errs
    # The other transport goes on (plain takes its server from the SOCKS destination).
    if case != "transparent-no-server":
        assert "plain" in cli.methods, cli.lines


@pytest.mark.parametrize("case", ["no-password", "bad-cipher"])
def test_server_start_errors(warren, case):
    opts = {"no-password": {"cipherName": "aes-256-gcm"},
            "bad-cipher": {"password": PASSWORD, "cipherName": "AES-256-CTR"}}[case]
    srv = warren(["-server", "-transports", "shadow", "-bindaddr", "shadow-127.0.0.1:0",
                  "-target", "127.0.0.1:9", "-options", json.dumps({"shadow": opts})],
                 name="server")
    assert "SMETHODS DONE" in srv.lines
    assert "shadow" not in srv.methods, srv.lines
    errs = stderr_lines(srv, "SMETHOD-ERROR ")
    assert errs and errs[0].startswith("SMETHOD-ERROR shadow "), srv.stderr_text()
    assert ("password" if case == "no-password" else "cipherName") in errs[0], errs


@pytest.mark.parametrize("form", ["strings", "native-json", "upper-case", "flat"])
def test_server_option_forms(warren, tcp_server, form):
    """The server reads the same forms; the client uses the canonical spelling."""
    cipher = "aes-128-gcm"
    echo = RecordingEcho(tcp_server)
    pw = 4242 if form == "native-json" else PASSWORD
    sopts = {"password": pw, "cipherName": cipher.upper() if form == "upper-case" else cipher}
    srv = warren(["-server", "-transports", "shadow", "-bindaddr", "shadow-127.0.0.1:0",
                  "-target", hostport(echo.addr),
                  "-options", json.dumps(sopts if form == "flat" else {"shadow": sopts})],
                 name="server")
    assert "shadow" in srv.methods, "no SMETHOD shadow: %r; stderr:\n%s" % (
        srv.lines, srv.stderr_text()[-2000:])
    cli = start_client(warren, shadow_opts(cipher, str(pw)))
    assert echo_ok(socks5_connect(cli.addr, srv.addr, timeout=10))
    assert echo.accepted == 1


# ---------------------------------------------------------------------------------------------
# 5. The warren server against probes
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("cipher", CIPHERS)
def test_client_header_rides_with_first_data(warren, relay, cipher):
    """The address header and the application's first bytes share the first chunk, as ss-local
    sends them: exactly salt + one chunk, with no fixed-size lone header ahead of the data."""
    sink = relay(None)
    cli = start_client(warren, shadow_opts(cipher))
    s = socks5_connect(cli.addr, sink.addr, timeout=10)
    try:
        payload = b"first bytes " + os.urandom(20)
        s.sendall(payload)
        one_chunk = SALT_LEN[cipher] + 2 + 16 + 7 + len(payload) + 16
        assert len(sink.wait_bytes(0, one_chunk)) == one_chunk
        time.sleep(0.3)
        assert len(sink.flights[0]) == one_chunk, "more than one chunk for one write"
    finally:
        s.close()


@needs_libev
@pytest.mark.parametrize("peer", ["warren", "ss-server"])
def test_server_speaks_first(warren, peers, tcp_server, peer):
    """A target that speaks first (SMTP, FTP): the client has nothing to send, so the header
    leaves alone after its short wait, and the banner comes back."""
    cipher = "aes-256-gcm"
    target = tcp_server(banner_handler(b"220 the target speaks first\r\n"))
    if peer == "warren":
        srv = start_server(warren, target.addr, shadow_opts(cipher))
        cli = start_client(warren, shadow_opts(cipher))
        s = socks5_connect(cli.addr, srv.addr, timeout=10)
    else:
        ss = peers.ss_server(cipher)
        cli = start_client(warren, shadow_opts(cipher, serverAddress=hostport(ss.addr)))
        s = socks5_connect(cli.addr, target.addr, timeout=10)
    try:
        t0 = time.monotonic()
        assert recv_exact(s, 29) == b"220 the target speaks first\r\n"
        assert time.monotonic() - t0 < 2.0
        assert echo_ok(s)
    finally:
        s.close()


@pytest.mark.parametrize("cipher", CIPHERS)
def test_server_wrong_password_no_reply(warren, relay, tcp_server, cipher):
    echo = RecordingEcho(tcp_server)
    srv = start_server(warren, echo.addr, shadow_opts(cipher))
    flight = capture_flight(warren, relay, cipher, "another-password", b"GET / HTTP/1.0\r\n\r\n")
    s = socket.create_connection(srv.addr, timeout=10)
    try:
        s.sendall(flight)
        res, = watch_silent([s])
        assert_probe_ignored("wrong password", res, s)
    finally:
        s.close()
    assert echo.accepted == 0, "a connection with a wrong password reached the target"


@pytest.mark.parametrize("cipher", CIPHERS)
def test_server_random_bytes_no_reply(warren, tcp_server, cipher):
    echo = RecordingEcho(tcp_server)
    srv = start_server(warren, echo.addr, shadow_opts(cipher))
    socks = [socket.create_connection(srv.addr, timeout=10) for _ in range(3)]
    try:
        socks[0].sendall(os.urandom(1024))                  # salt + garbage
        socks[1].sendall(os.urandom(SALT_LEN[cipher] + 1))  # less than a length chunk: waits
        socks[2].sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" * 4)
        res = watch_silent(socks)
        for i, (name, r) in enumerate(zip(["random 1 KiB", "salt + 1 byte", "HTTP request"], res)):
            assert_probe_ignored(name, r, socks[i])
    finally:
        for s in socks:
            s.close()
    assert echo.accepted == 0, "random bytes reached the target"


@pytest.mark.parametrize("cipher", CIPHERS)
def test_server_replay_no_reply(warren, relay, tcp_server, cipher):
    echo = RecordingEcho(tcp_server)
    srv = start_server(warren, echo.addr, shadow_opts(cipher))
    rel = relay(srv.addr)
    cli = start_client(warren, shadow_opts(cipher))
    payload = ("replay me %s\n" % os.urandom(8).hex()).encode()
    assert echo_ok(socks5_connect(cli.addr, rel.addr, timeout=10), payload)
    assert rel.done[0].wait(10), "the relayed connection did not end"
    flight = bytes(rel.flights[0])
    assert len(flight) >= SALT_LEN[cipher] + 41 + len(payload)
    assert echo.received() == [payload]
    s = socket.create_connection(srv.addr, timeout=10)
    try:
        s.sendall(flight)
        res, = watch_silent([s])
        assert_probe_ignored("replayed first flight", res, s)
    finally:
        s.close()
    assert echo.accepted == 1 and echo.received() == [payload], \
        "the replay reached the target: %d connections, data %r" % (echo.accepted, echo.received())
    # The genuine client still works afterwards.
    assert echo_ok(socks5_connect(cli.addr, srv.addr, timeout=10))


@pytest.mark.parametrize("cipher", CIPHERS)
def test_server_reflected_reply_no_reply(warren, relay, tcp_server, cipher):
    """The server's own reply stream sent back to it decrypts with the same key; its salt must
    be refused (ss-libev keeps its own salts in the filter too). The payload is made to look
    like an address header, so a server without this check would forward the rest."""
    echo = RecordingEcho(tcp_server)
    srv = start_server(warren, echo.addr, shadow_opts(cipher))
    rel = relay(srv.addr)
    cli = start_client(warren, shadow_opts(cipher))
    payload = encode_socks_addr(*echo.addr) + ("reflected %s\n" % os.urandom(8).hex()).encode()
    assert echo_ok(socks5_connect(cli.addr, rel.addr, timeout=10), payload)
    back = rel.wait_bytes(0, SALT_LEN[cipher] + 18 + len(payload) + 16, replies=True)
    s = socket.create_connection(srv.addr, timeout=10)
    try:
        s.sendall(back)
        res, = watch_silent([s])
        assert_probe_ignored("reflected server reply", res, s)
    finally:
        s.close()
    assert echo.accepted == 1 and echo.received() == [payload], \
        "the reflection reached the target: %d connections, data %r" % (echo.accepted,
                                                                        echo.received())


# ---------------------------------------------------------------------------------------------
# 6. The same probes against ss-server: what the reference does
# ---------------------------------------------------------------------------------------------

@needs_libev
@pytest.mark.parametrize("cipher", CIPHERS)
def test_ss_server_ignores_probes(warren, peers, relay, tcp_server, cipher):
    echo = RecordingEcho(tcp_server)
    ss = peers.ss_server(cipher)
    # A genuine connection through a recording relay, to capture a flight to replay.
    rel = relay(ss.addr)
    cli = start_client(warren, shadow_opts(cipher, serverAddress=hostport(rel.addr)))
    # The payload looks like an address header (naming the target), for the reflection.
    payload = encode_socks_addr(*echo.addr) + ("replay me %s\n" % os.urandom(8).hex()).encode()
    assert echo_ok(socks5_connect(cli.addr, echo.addr, timeout=10), payload)
    assert rel.done[0].wait(10)
    replay = bytes(rel.flights[0])
    reflected = bytes(rel.replies[0])
    assert len(reflected) >= SALT_LEN[cipher] + 18 + len(payload) + 16
    wrong = capture_flight(warren, relay, cipher, "another-password", payload,
                           socks_dst=echo.addr)
    names = ["replayed first flight", "reflected reply", "wrong password", "random bytes"]
    socks = [socket.create_connection(ss.addr, timeout=10) for _ in names]
    try:
        for s, data in zip(socks, [replay, reflected, wrong, os.urandom(1024)]):
            s.sendall(data)
        res = watch_silent(socks)
        for name, r, s in zip(names, res, socks):
            assert_probe_ignored("ss-server, " + name, r, s)
    finally:
        for s in socks:
            s.close()
    assert echo.accepted == 1 and echo.received() == [payload], echo.received()
    assert wait_log(ss, "repeat salt"), log_text(ss)[-2000:]
    assert wait_log(ss, "authentication error"), log_text(ss)[-2000:]


# --------------------------------------------------------------------------------------------
# Free server (no -target) and its destination policy; SIP002 URIs; SIP003 plugin mode
# --------------------------------------------------------------------------------------------

def start_free_server(warren, opts, name="free-server"):
    srv = warren(["-server", "-transports", "shadow", "-bindaddr", "shadow-127.0.0.1:0",
                  "-logLevel", "INFO", "-options", json.dumps({"shadow": opts})], name=name)
    if "shadow" not in srv.methods:
        pytest.fail("free server did not start: %r\n%s" % (srv.lines, srv.stderr_text()[-2000:]))
    return srv


def test_free_server_refuses_loopback_by_default(warren):
    """Without -target the server goes where the header says, but never to loopback unless
    allowed: the connection is reset and the target sees nothing."""
    target = EchoServer()
    try:
        srv = start_free_server(warren, shadow_opts("aes-256-gcm"))
        cli = start_client(warren, shadow_opts("aes-256-gcm", serverAddress=hostport(srv.addr)))
        for dst in (target.addr, ("localhost", target.addr[1])):
            sock = socks5_connect(cli.addr, dst, timeout=10)
            sock.settimeout(5)
            try:
                sock.sendall(b"hello")
                got = sock.recv(16)
            except OSError:
                got = b""
            sock.close()
            assert got == b"", "a loopback destination was reached through a free server"
        assert target.accepted == 0
        assert wait_until(lambda: "destination refused" in srv.stderr_text())
    finally:
        target.close()


def test_free_server_allows_private_when_told(warren):
    target = EchoServer()
    try:
        srv = start_free_server(warren, shadow_opts("chacha20-ietf-poly1305", allowPrivateDestinations=True))
        cli = start_client(warren, shadow_opts("chacha20-ietf-poly1305", serverAddress=hostport(srv.addr)))
        assert echo_ok(socks5_connect(cli.addr, target.addr, timeout=10))
        assert echo_ok(socks5_connect(cli.addr, ("localhost", target.addr[1]), timeout=10))
    finally:
        target.close()


def test_free_server_needs_target_for_plain(warren):
    """plain cannot take destinations from clients: SMETHOD-ERROR plain, shadow still runs."""
    srv = warren(["-server", "-transports", "plain,shadow", "-bindaddr",
                  "plain-127.0.0.1:0,shadow-127.0.0.1:0", "-options",
                  json.dumps({"shadow": shadow_opts("aes-128-gcm")})], name="mixed")
    assert "shadow" in srv.methods and "plain" not in srv.methods
    assert "SMETHOD-ERROR plain" in srv.stderr_text()


def test_server_announces_sip002_uri_and_client_imports_it(warren):
    target = EchoServer()
    try:
        srv = warren(["-server", "-transports", "shadow", "-bindaddr", "shadow-127.0.0.1:0",
                      "-target", hostport(target.addr), "-logLevel", "INFO", "-options",
                      json.dumps({"shadow": shadow_opts("aes-128-gcm", password="p@ss:w/rd;x")})],
                     name="uri-server")
        assert wait_until(lambda: "ss://" in srv.stderr_text())
        uri = re.search(r"ss://\S+", srv.stderr_text()).group(0)
        assert uri.endswith("@%s" % hostport(srv.addr))
        cli = start_client(warren, {"uri": uri})
        assert echo_ok(socks5_connect(cli.addr, srv.addr, timeout=10))
        # A URI in standard base64 with padding, as other tools write it, works too.
        std = "ss://%s@%s" % (base64.b64encode(b"aes-128-gcm:p@ss:w/rd;x").decode(), hostport(srv.addr))
        cli2 = start_client(warren, {"uri": std}, name="client2")
        assert echo_ok(socks5_connect(cli2.addr, srv.addr, timeout=10))
    finally:
        target.close()


@needs_libev
@pytest.mark.parametrize("transport", ["plain", "shadow"])
def test_sip003_plugin_under_ss_local_and_ss_server(peers, transport):
    """warren as the SIP003 plugin of both ss-server and ss-local: ss traffic inside warren's
    transport, 256 KiB echoed back intact."""
    target = EchoServer()
    try:
        extra = "" if transport == "plain" else \
            "transport=shadow;password=inner\\;pw;cipherName=aes-128-gcm"
        sport = free_port()
        srv = peers.start("ss-server-sip003",
                          [SS_SERVER, "-s", "127.0.0.1", "-p", sport, "-k", PASSWORD, "-m",
                           "aes-256-gcm", "--plugin", WARREN, "--plugin-opts",
                           "server" + (";" + extra if extra else "")], sport)
        lport = free_port()
        peers.start("ss-local-sip003",
                    [SS_LOCAL, "-s", "127.0.0.1", "-p", sport, "-b", "127.0.0.1", "-l", lport,
                     "-k", PASSWORD, "-m", "aes-256-gcm", "--plugin", WARREN]
                    + (["--plugin-opts", extra] if extra else []), lport)
        time.sleep(0.5)   # the client-side plugin listens on the port ss-local gave it
        payload = os.urandom(256 << 10)
        sock = socks5_connect(("127.0.0.1", lport), target.addr, timeout=10)
        assert echo_ok(sock, payload=payload)
        assert target.accepted == 1
        assert "plugin" in log_text(srv).lower()
    finally:
        target.close()


@needs_libev
def test_sip003_plugin_obfs4(peers, tmp_path):
    """obfs4 as the SIP003 plugin: the server plugin keeps its identity in state=DIR, the
    client plugin takes the cert from there; Shadowsocks traffic inside obfs4, 256 KiB echoed."""
    target = EchoServer()
    try:
        state = tmp_path / "obfs4-state"
        sport = free_port()
        peers.start("ss-server-obfs4",
                    [SS_SERVER, "-s", "127.0.0.1", "-p", sport, "-k", PASSWORD, "-m",
                     "aes-256-gcm", "--plugin", WARREN, "--plugin-opts",
                     "server;transport=obfs4;state=%s" % state], sport)
        line = [ln for ln in (state / "obfs4_bridgeline.txt").read_text().splitlines()
                if ln.startswith("Bridge obfs4 ")][0]
        cert = re.search(r"cert=(\S+)", line).group(1)
        lport = free_port()
        peers.start("ss-local-obfs4",
                    [SS_LOCAL, "-s", "127.0.0.1", "-p", sport, "-b", "127.0.0.1", "-l", lport,
                     "-k", PASSWORD, "-m", "aes-256-gcm", "--plugin", WARREN, "--plugin-opts",
                     "transport=obfs4;cert=%s;iat-mode=0" % cert], lport)
        time.sleep(0.5)
        payload = os.urandom(256 << 10)
        sock = socks5_connect(("127.0.0.1", lport), target.addr, timeout=10)
        assert echo_ok(sock, payload=payload)
        assert target.accepted == 1
        assert json.loads((state / "obfs4_state.json").read_text())["node-id"]
    finally:
        target.close()


def wait_until(pred, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.05)
    return pred()
