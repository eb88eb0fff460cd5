"""Shared fixtures and helpers for warren's integration tests.

Everything runs on loopback (127.0.0.1, and ::1 where a test asks for it). Every blocking
operation has a timeout, every loop is bounded, and every process that a test starts is
stopped by its own pid at teardown.

The binary comes from $WARREN_BIN (default: /work/main/build/warren, falling back to
build-it/warren next to it when that does not exist).
"""
import hashlib
import http.server
import os
import queue
import random
import resource
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

REPO = Path(__file__).resolve().parents[2]
SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "LeakSanitizer", "runtime error")
STARTUP_TIMEOUT = 20.0      # seconds to wait for the *METHODS DONE line (ASan start-up is slow)
STOP_TIMEOUT = 10.0         # seconds a warren may take to exit after SIGTERM
IO_TIMEOUT = 15.0           # default socket timeout


def warren_bin():
    env = os.environ.get("WARREN_BIN")
    if env:
        return env
    for cand in (REPO / "build" / "warren", REPO / "build-it" / "warren"):
        if cand.is_file() and os.access(cand, os.X_OK):
            return str(cand)
    return str(REPO / "build" / "warren")


WARREN = warren_bin()


def pytest_report_header(config):
    return "warren binary: %s" % WARREN


def sanitizer_problems(text):
    """The lines of a stderr capture that show a sanitizer report."""
    return [ln for ln in text.splitlines() if any(m in ln for m in SANITIZER_MARKERS)]


def base_env(extra=None):
    # PT 1.0 variables would switch a dispatcher to tor's environment protocol; these tests
    # speak the PT 3.0 command-line protocol only.
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOR_PT_")}
    # Sanitizer reports must go to stderr (where we look for them), and must not abort silently.
    env.setdefault("ASAN_OPTIONS", "detect_leaks=1")
    env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1")
    if extra:
        env.update(extra)
    return env


def parse_addr(text):
    """'127.0.0.1:5' or '[::1]:5' -> (host, port)."""
    host, _, port = text.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host, int(port)


# --------------------------------------------------------------------------------------------
# Running warren
# --------------------------------------------------------------------------------------------

class WarrenProc:
    """A running warren with its stdout read line by line in a background thread."""

    _counter = 0

    def __init__(self, args, tmp_path, env=None, cwd=None, name=None):
        WarrenProc._counter += 1
        self.name = name or "warren%d" % WarrenProc._counter
        self.args = [WARREN] + [str(a) for a in args]
        self.stderr_path = Path(tmp_path) / ("%s.stderr" % self.name)
        self._stderr_f = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen(self.args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self._stderr_f, env=base_env(env),
                                     cwd=str(cwd) if cwd else None)
        self.pid = self.proc.pid
        self.lines = []                 # every stdout line seen so far (without '\n')
        self._q = queue.Queue()
        self._eof = threading.Event()
        self.methods = {}               # transport name -> (host, port)
        self.method_lines = []
        self.returncode = None
        self._reader = threading.Thread(target=self._read_stdout, daemon=True)
        self._reader.start()

    def _read_stdout(self):
        try:
            for raw in iter(self.proc.stdout.readline, b""):
                line = raw.decode("ascii", "replace").rstrip("\n")
                self.lines.append(line)
                self._q.put(line)
        except (OSError, ValueError):
            pass
        finally:
            self._eof.set()
            self._q.put(None)

    # ---- stdout protocol lines ----
    def next_line(self, timeout=STARTUP_TIMEOUT):
        """The next stdout line, or None at EOF. Fails the test on timeout."""
        try:
            line = self._q.get(timeout=timeout)
        except queue.Empty:
            pytest.fail("%s: no stdout line within %.0f s; so far %r; stderr:\n%s"
                        % (self.name, timeout, self.lines, self.stderr_text()[-3000:]))
        if line is None:
            self._q.put(None)   # keep reporting EOF
        return line

    def expect(self, pred, timeout=STARTUP_TIMEOUT):
        """Reads lines until one satisfies pred (a prefix string or a callable)."""
        check = (lambda ln: ln.startswith(pred)) if isinstance(pred, str) else pred
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                pytest.fail("%s: no line matching %r within %.0f s; lines %r"
                            % (self.name, pred, timeout, self.lines))
            line = self.next_line(timeout=left)
            if line is None:
                pytest.fail("%s: stdout closed before a line matching %r; lines %r; rc %r; "
                            "stderr:\n%s" % (self.name, pred, self.lines, self.proc.poll(),
                                             self.stderr_text()[-3000:]))
            if check(line):
                return line

    def wait_done(self, timeout=STARTUP_TIMEOUT):
        """Reads up to CMETHODS DONE / SMETHODS DONE; records CMETHOD/SMETHOD addresses."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            line = self.expect(lambda ln: True, timeout=max(left, 0.01))
            words = line.split(" ")
            if words[0] == "CMETHOD" and len(words) >= 4:
                self.methods[words[1]] = parse_addr(words[3])
                self.method_lines.append(line)
            elif words[0] == "SMETHOD" and len(words) >= 3:
                self.methods[words[1]] = parse_addr(words[2])
                self.method_lines.append(line)
            elif line in ("CMETHODS DONE", "SMETHODS DONE"):
                return self

    @property
    def addr(self):
        """The address of the first CMETHOD/SMETHOD."""
        assert self.method_lines, "%s printed no CMETHOD/SMETHOD: %r" % (self.name, self.lines)
        words = self.method_lines[0].split(" ")
        return parse_addr(words[3] if words[0] == "CMETHOD" else words[2])

    def stdout_lines_after(self, delay):
        """Lets the reader collect for `delay` seconds and returns all lines."""
        time.sleep(delay)
        return list(self.lines)

    def stderr_text(self):
        try:
            self._stderr_f.flush()
        except ValueError:
            pass
        try:
            return self.stderr_path.read_text(errors="replace")
        except OSError:
            return ""

    # ---- lifetime ----
    def alive(self):
        return self.proc.poll() is None

    def close_stdin(self):
        try:
            self.proc.stdin.close()
        except OSError:
            pass

    def wait(self, timeout=STOP_TIMEOUT):
        """Waits for exit; returns the exit code, or None if it is still running."""
        try:
            self.returncode = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
        self._reader.join(timeout=5)
        return self.returncode

    def kill(self):
        if self.proc.poll() is None:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass

    def stop(self, sig=signal.SIGTERM, timeout=STOP_TIMEOUT):
        """Sends sig and waits for the exit code; kills the process if it hangs (returns None)."""
        if self.proc.poll() is None:
            try:
                os.kill(self.pid, sig)
            except ProcessLookupError:
                pass
        rc = self.wait(timeout)
        if rc is None:
            self.kill()
        return rc

    def cleanup(self):
        self.kill()
        self.close_stdin()
        try:
            self._stderr_f.close()
        except OSError:
            pass


@pytest.fixture
def warren(tmp_path):
    """Factory: warren(args, env=None, cwd=None, wait=True) -> WarrenProc.

    With wait=True it reads stdout up to *METHODS DONE. At teardown every process still
    running gets SIGTERM and must exit 0 within 10 s; every process's stderr must be free of
    sanitizer reports."""
    procs = []

    def start(args, env=None, cwd=None, wait=True, name=None):
        p = WarrenProc(args, tmp_path, env=env, cwd=cwd, name=name)
        procs.append(p)
        if wait:
            p.wait_done()
        return p

    yield start

    problems = []
    for p in procs:
        if p.proc.poll() is None:
            rc = p.stop()
            if rc is None:
                problems.append("%s (pid %d) did not exit within %.0f s of SIGTERM; killed"
                                % (p.name, p.pid, STOP_TIMEOUT))
            elif rc != 0:
                problems.append("%s exited with %r after SIGTERM (want 0); stderr tail:\n%s"
                                % (p.name, rc, p.stderr_text()[-2000:]))
        else:
            p.wait(1)
        san = sanitizer_problems(p.stderr_text())
        if san:
            problems.append("%s: sanitizer report in stderr:\n%s\n%s"
                            % (p.name, "\n".join(san), p.stderr_text()[-6000:]))
        p.cleanup()
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


class Result:
    def __init__(self, rc, stdout, stderr):
        self.rc, self.stdout, self.stderr = rc, stdout, stderr
        self.out_lines = stdout.splitlines()
        self.err_lines = stderr.splitlines()

    def __repr__(self):
        return "Result(rc=%r, stdout=%r, stderr=%r)" % (self.rc, self.stdout, self.stderr[-2000:])


def run_warren(args, timeout=10, env=None, cwd=None, merge_stderr=False, stdin_data=b""):
    """Runs warren to completion (it is expected to exit by itself). stdin gets stdin_data
    and is then closed. Fails the test if it does not exit within `timeout` or if stderr has a
    sanitizer report."""
    cmd = [WARREN] + [str(a) for a in args]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT if merge_stderr else subprocess.PIPE,
                            env=base_env(env), cwd=str(cwd) if cwd else None)
    try:
        out, err = proc.communicate(stdin_data, timeout=timeout)
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
        out, err = proc.communicate(timeout=10)
        pytest.fail("warren %r did not exit within %d s; stdout %r stderr %r"
                    % (args, timeout, out, err))
    out = out.decode("ascii", "replace")
    err = (err or b"").decode("ascii", "replace")
    san = sanitizer_problems(out + err)
    assert not san, "sanitizer report from %r:\n%s" % (args, out + err)
    return Result(proc.returncode, out, err)


def server_args(target, bind="127.0.0.1:0", transport="plain"):
    host, port = target
    if ":" in host:
        host = "[%s]" % host
    return ["-server", "-transports", transport, "-bindaddr", "%s-%s" % (transport, bind),
            "-target", "%s:%d" % (host, port)]


CLIENT_ARGS = ["-client", "-transports", "plain", "-proxylistenaddr", "127.0.0.1:0"]


class Tunnel:
    """A warren server forwarding to a target plus a socks5 warren client."""

    def __init__(self, client, server):
        self.client, self.server = client, server
        self.socks = client.addr
        self.server_addr = server.addr

    def connect(self, timeout=IO_TIMEOUT, **kw):
        """A socket connected through client and server to the target."""
        return socks5_connect(self.socks, self.server_addr, timeout=timeout, **kw)


@pytest.fixture
def tunnel(warren):
    """Factory: tunnel(target_addr, client_args=(), server_args=(), client_env, server_env)."""

    def make(target, client_extra=(), server_extra=(), client_env=None, server_env=None):
        srv = warren(server_args(target) + list(server_extra), env=server_env, name="server")
        cli = warren(CLIENT_ARGS + list(client_extra), env=client_env, name="client")
        return Tunnel(cli, srv)

    return make


# --------------------------------------------------------------------------------------------
# Socket helpers and a small SOCKS5 client
# --------------------------------------------------------------------------------------------

def recv_exact(sock, n):
    """Exactly n bytes; raises EOFError if the peer closes first (socket timeout applies)."""
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise EOFError("connection closed after %d of %d bytes: %r" % (len(buf), n, bytes(buf)))
        buf += chunk
    return bytes(buf)


def recv_all(sock, limit=1 << 30, timeout=IO_TIMEOUT):
    """Everything up to EOF (bounded by `limit` bytes and the socket timeout)."""
    sock.settimeout(timeout)
    buf = bytearray()
    while len(buf) < limit:
        chunk = sock.recv(min(1 << 18, limit - len(buf)))
        if not chunk:
            break
        buf += chunk
    return bytes(buf)


def closed_by_peer(sock, timeout=10.0, max_bytes=1 << 20):
    """True if the peer closes (EOF or reset) within `timeout`; data read meanwhile is ignored
    (up to max_bytes; more than that counts as not closed)."""
    sock.settimeout(timeout)
    deadline = time.monotonic() + timeout
    got = 0
    try:
        while time.monotonic() < deadline and got < max_bytes:
            chunk = sock.recv(65536)
            if not chunk:
                return True
            got += len(chunk)
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False
    return False


def encode_socks_addr(host, port):
    try:
        return b"\x01" + socket.inet_pton(socket.AF_INET, host) + struct.pack(">H", port)
    except OSError:
        pass
    try:
        return b"\x04" + socket.inet_pton(socket.AF_INET6, host) + struct.pack(">H", port)
    except OSError:
        pass
    name = host.encode("ascii")
    return b"\x03" + bytes([len(name)]) + name + struct.pack(">H", port)


class SocksError(Exception):
    def __init__(self, stage, code, msg=""):
        super().__init__("%s failed with code 0x%02x %s" % (stage, code, msg))
        self.stage, self.code = stage, code


def socks5_read_reply(sock):
    """Reads a SOCKS5 reply; returns (rep, (bnd_host, bnd_port))."""
    head = recv_exact(sock, 4)
    assert head[0] == 5, "bad reply version: %r" % head
    atyp = head[3]
    if atyp == 1:
        a = recv_exact(sock, 4)
        host = socket.inet_ntop(socket.AF_INET, a)
    elif atyp == 4:
        a = recv_exact(sock, 16)
        host = socket.inet_ntop(socket.AF_INET6, a)
    elif atyp == 3:
        ln = recv_exact(sock, 1)[0]
        host = recv_exact(sock, ln).decode("ascii", "replace")
    else:
        raise AssertionError("bad reply ATYP %d in %r" % (atyp, head))
    port = struct.unpack(">H", recv_exact(sock, 2))[0]
    return head[1], (host, port)


def socks5_handshake(sock, dst, methods=b"\x00", json_args=None, userpass=None, cmd=1):
    """Runs greeting [+ auth] + request on a connected socket. Returns the reply code."""
    host, port = dst
    sock.sendall(b"\x05" + bytes([len(methods)]) + methods)
    ver, method = recv_exact(sock, 2)
    assert ver == 5, "bad method reply version %d" % ver
    if method == 0xFF:
        raise SocksError("method negotiation", method)
    if method == 0x09:
        body = json_args if isinstance(json_args, bytes) else (json_args or "{}").encode()
        sock.sendall(struct.pack(">I", len(body)) + body)
    elif method == 0x02:
        u, p = userpass if userpass else (b"x", b"\x00")
        u = u.encode() if isinstance(u, str) else u
        p = p.encode() if isinstance(p, str) else p
        sock.sendall(b"\x01" + bytes([len(u)]) + u + bytes([len(p)]) + p)
        ver, status = recv_exact(sock, 2)
        if status != 0:
            raise SocksError("RFC 1929 auth", status)
    sock.sendall(b"\x05" + bytes([cmd]) + b"\x00" + encode_socks_addr(host, port))
    rep, _ = socks5_read_reply(sock)
    return rep


def socks5_connect(proxy, dst, timeout=IO_TIMEOUT, **kw):
    """A socket connected to dst through the SOCKS5 proxy; raises SocksError on failure."""
    sock = socket.create_connection(proxy, timeout=timeout)
    try:
        rep = socks5_handshake(sock, dst, **kw)
        if rep != 0:
            raise SocksError("CONNECT", rep)
    except BaseException:
        sock.close()
        raise
    return sock


def socks5_connect_rep(proxy, dst, timeout=IO_TIMEOUT, **kw):
    """The CONNECT reply code (0 = success; the socket is closed either way)."""
    sock = socket.create_connection(proxy, timeout=timeout)
    try:
        return socks5_handshake(sock, dst, **kw)
    finally:
        sock.close()


def echo_roundtrip_ok(sock, payload=None, close=True):
    """Sends a unique payload on a socket whose far end echoes; True if it comes back intact."""
    payload = payload or os.urandom(16).hex().encode()
    try:
        sock.sendall(payload)
        got = recv_exact(sock, len(payload))
    finally:
        if close:
            sock.close()
    assert got == payload, "echo mismatch: sent %r got %r" % (payload, got)
    return True


_reserved_ports = []


def dead_port():
    """A loopback port that refuses connections for the rest of the session: the socket is
    bound (so nobody else can take the port) but never listens."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    _reserved_ports.append(s)
    return s.getsockname()[1]


def raise_nofile(want):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < want:
        new = want if hard == resource.RLIM_INFINITY else min(want, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def have_ipv6_loopback():
    try:
        s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        try:
            s.bind(("::1", 0))
            s.listen(1)
            c = socket.create_connection(s.getsockname()[:2], timeout=2)
            c.close()
        finally:
            s.close()
        return True
    except OSError:
        return False


# --------------------------------------------------------------------------------------------
# Deterministic data streams
# --------------------------------------------------------------------------------------------

class DataStream:
    """`total` bytes in chunks; each chunk starts with its index so reordering or duplication
    changes the hash."""

    CHUNK = 256 * 1024

    def __init__(self, seed, total):
        self.total = total
        block = random.Random(seed).randbytes(self.CHUNK)
        self.block = block
        h = hashlib.sha256()
        for c in self.chunks():
            h.update(c)
        self.sha256 = h.hexdigest()

    def chunks(self):
        sent, i = 0, 0
        while sent < self.total:
            n = min(self.CHUNK, self.total - sent)
            c = (struct.pack(">Q", i) + self.block[8:])[:n]
            yield c
            sent += n
            i += 1


def send_stream(sock, stream):
    for c in stream.chunks():
        sock.sendall(c)


def read_hash(sock, limit=1 << 40):
    """(byte count, sha256 hex) of everything up to EOF."""
    h = hashlib.sha256()
    n = 0
    while n < limit:
        chunk = sock.recv(1 << 18)
        if not chunk:
            break
        h.update(chunk)
        n += len(chunk)
    return n, h.hexdigest()


# --------------------------------------------------------------------------------------------
# In-process targets
# --------------------------------------------------------------------------------------------

class TcpServer:
    """A threaded TCP server on loopback. handler(server, sock, peer) runs in its own thread per
    connection; the socket has a timeout and is closed after the handler returns."""

    def __init__(self, handler, host="127.0.0.1", backlog=1024, sock_timeout=60.0):
        fam = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.lsock = socket.socket(fam, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind((host, 0))
        self.lsock.listen(backlog)
        self.lsock.settimeout(0.2)
        self.addr = self.lsock.getsockname()[:2]
        self.handler = handler
        self.sock_timeout = sock_timeout
        self.accepted = 0
        self.peers = []
        self.results = queue.Queue()    # handlers put what they observed here
        self.errors = []
        self._conns = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = []
        self._acceptor = threading.Thread(target=self._accept_loop, daemon=True)
        self._acceptor.start()

    def _accept_loop(self):
        while not self._stop.is_set():
            try:
                s, peer = self.lsock.accept()
            except socket.timeout:
                continue
            except OSError:
                break
            s.settimeout(self.sock_timeout)
            with self._lock:
                self.accepted += 1
                self.peers.append(peer)
                self._conns.append(s)
            t = threading.Thread(target=self._run, args=(s, peer), daemon=True)
            self._threads.append(t)
            t.start()

    def _run(self, s, peer):
        try:
            self.handler(self, s, peer)
        except Exception as e:  # noqa: BLE001 - recorded for the test to inspect
            self.errors.append(repr(e))
        finally:
            try:
                s.close()
            except OSError:
                pass

    def close(self):
        self._stop.set()
        self._acceptor.join(timeout=5)
        try:
            self.lsock.close()
        except OSError:
            pass
        with self._lock:
            for s in self._conns:
                try:
                    s.close()
                except OSError:
                    pass
        for t in self._threads:
            t.join(timeout=2)


def banner_handler(tag):
    """A TcpServer handler for a target that speaks first: it sends tag, then echoes."""
    def handler(server, sock, peer):
        sock.sendall(tag)
        while True:
            data = sock.recv(65536)
            if not data:
                break
            sock.sendall(data)
    return handler


def hash_reply_handler(server, sock, peer):
    """TcpServer handler: reads to EOF, then answers b"<count> <sha256>\\n" and closes."""
    n, h = read_hash(sock)
    server.results.put((n, h))
    sock.sendall(("%d %s\n" % (n, h)).encode())
    sock.shutdown(socket.SHUT_WR)


class EchoServer:
    """A single-threaded selector echo server for many connections. On EOF from a peer it
    flushes what is pending, then closes."""

    def __init__(self, host="127.0.0.1", backlog=4096):
        fam = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.lsock = socket.socket(fam, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind((host, 0))
        self.lsock.listen(backlog)
        self.lsock.setblocking(False)
        self.addr = self.lsock.getsockname()[:2]
        self.accepted = 0
        self.sel = selectors.DefaultSelector()
        self.sel.register(self.lsock, selectors.EVENT_READ, None)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self):
        conns = {}
        while not self._stop.is_set():
            for key, ev in self.sel.select(timeout=0.2):
                if key.data is None:
                    for _ in range(256):
                        try:
                            s, _ = self.lsock.accept()
                        except (BlockingIOError, OSError):
                            break
                        s.setblocking(False)
                        self.accepted += 1
                        st = {"out": bytearray(), "eof": False}
                        conns[s] = st
                        self.sel.register(s, selectors.EVENT_READ, st)
                    continue
                s, st = key.fileobj, key.data
                try:
                    if ev & selectors.EVENT_READ and not st["eof"]:
                        data = s.recv(1 << 16)
                        if data:
                            st["out"] += data
                        else:
                            st["eof"] = True
                    if st["out"]:
                        n = s.send(st["out"])
                        del st["out"][:n]
                except BlockingIOError:
                    pass
                except OSError:
                    st["eof"], st["out"] = True, bytearray()
                if st["eof"] and not st["out"]:
                    self.sel.unregister(s)
                    s.close()
                    del conns[s]
                    continue
                want = (0 if st["eof"] else selectors.EVENT_READ) | \
                       (selectors.EVENT_WRITE if st["out"] else 0)
                self.sel.modify(s, want, st)
        for s in list(conns):
            s.close()

    def close(self):
        self._stop.set()
        self._thread.join(timeout=5)
        self.sel.close()
        self.lsock.close()


class _HTTPHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"
    timeout = 30            # socket timeout for each request

    def do_GET(self):  # noqa: N802 - http.server's naming
        srv = self.server
        srv.requests.append((self.path, self.client_address, dict(self.headers)))
        body = srv.pages.get(self.path)
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass


class HttpTarget:
    """http.server on 127.0.0.1:0 serving /hello (a small unique text) and /big (1 MiB)."""

    def __init__(self):
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _HTTPHandler)
        self.httpd.daemon_threads = True
        self.httpd.timeout = 10
        token = os.urandom(8).hex()
        self.hello = ("hello from the warren test target %s\n" % token).encode()
        self.big = random.Random(7).randbytes(1 << 20)
        self.httpd.pages = {"/hello": self.hello, "/big": self.big}
        self.httpd.requests = []
        self.addr = self.httpd.server_address[:2]
        self._thread = threading.Thread(target=self.httpd.serve_forever,
                                        kwargs={"poll_interval": 0.1}, daemon=True)
        self._thread.start()

    @property
    def requests(self):
        return self.httpd.requests

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join(timeout=5)


@pytest.fixture
def echo_server():
    s = EchoServer()
    yield s
    s.close()


@pytest.fixture
def http_target():
    h = HttpTarget()
    yield h
    h.close()


@pytest.fixture
def tcp_server():
    """Factory: tcp_server(handler, host='127.0.0.1') -> TcpServer, closed at teardown."""
    servers = []

    def make(handler, host="127.0.0.1", **kw):
        s = TcpServer(handler, host=host, **kw)
        servers.append(s)
        return s

    yield make
    for s in servers:
        s.close()


class CountingListener:
    """A listening socket standing in for a warren server: count() is how many TCP connections
    reached it (it accepts them and holds them open)."""

    def __init__(self):
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(64)
        self.lsock.setblocking(False)
        self.addr = self.lsock.getsockname()[:2]
        self.taken = []

    def count(self):
        for _ in range(1000):
            try:
                c, peer = self.lsock.accept()
            except (BlockingIOError, OSError):
                break
            self.taken.append((c, peer))
        return len(self.taken)

    def close(self):
        for c, _ in self.taken:
            c.close()
        self.lsock.close()


@pytest.fixture
def counting_listener():
    c = CountingListener()
    yield c
    c.close()


@pytest.fixture
def curl():
    path = shutil.which("curl") or "/usr/bin/curl"
    if not os.path.exists(path):
        pytest.skip("curl is not installed (/usr/bin/curl)")

    def run(args, timeout=30):
        p = subprocess.run([path, "-sS", "--max-time", str(timeout - 5)] + list(args),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
        return p

    return run


# --------------------------------------------------------------------------------------------
# Counting TCP connections; SOCKS5 outcomes
# --------------------------------------------------------------------------------------------

def tcp_established_to(port, host="127.0.0.1", ports=False):
    """The established TCP connections whose remote end is host:port, as `ss -tn` lists them:
    their number, or (ports=True) the list of their local ports. Only the connecting side of
    each connection is counted (the listening side has host:port as its local address)."""
    out = subprocess.run(["ss", "-Htn", "state", "established", "dst", "%s:%d" % (host, port)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=10,
                         check=True).stdout.decode("ascii", "replace")
    local = []
    for ln in out.splitlines():
        words = ln.split()
        # Recv-Q Send-Q Local:Port Peer:Port
        if len(words) >= 4 and parse_addr(words[3]) == (host, port):
            local.append(parse_addr(words[2])[1])
    return local if ports else len(local)


def socks5_outcome(proxy, dst, method=b"\x00", payload=None, timeout=15):
    """One SOCKS5 CONNECT exchange. method b"\\x02": payload is the RFC 1929 USER (PASSWD is
    NUL, as tor sends it); method b"\\x09": payload is the JSON settings text. Returns
    ('auth', status) for a failed RFC 1929 exchange, ('reply', rep) for a CONNECT (or settings)
    reply, ('closed', None) when the proxy hung up without one. The socket is closed."""
    s = socket.create_connection(proxy, timeout=timeout)
    try:
        s.sendall(b"\x05\x01" + method)
        ver, chosen = recv_exact(s, 2)
        if chosen != method[0]:
            return ("method", chosen)
        if method == b"\x02":
            u = payload.encode() if isinstance(payload, str) else payload
            s.sendall(b"\x01" + bytes([len(u)]) + u + b"\x01\x00")
            ver, status = recv_exact(s, 2)
            if status != 0:
                return ("auth", status)
        elif method == b"\x09":
            body = payload.encode() if isinstance(payload, str) else payload
            s.sendall(struct.pack(">I", len(body)) + body)
        s.sendall(b"\x05\x01\x00" + encode_socks_addr(dst[0], dst[1]))
        rep, _ = socks5_read_reply(s)
        return ("reply", rep)
    except (EOFError, ConnectionResetError):
        return ("closed", None)
    finally:
        s.close()


# ---------------------------------------------------------------------------------------------
# Probe resistance (obfs4, shadow): a server given junk, replays or a wrong key must answer
# nothing, keep the connection open for SILENCE seconds and go on reading DRAIN more bytes.
# ---------------------------------------------------------------------------------------------

SILENCE = 2.0                    # seconds a probed server must stay silent and open
DRAIN = 4 << 20                  # bytes a probed server must go on reading afterwards


class Relay:
    """A TCP relay on 127.0.0.1:0 that records, per connection, the bytes going upstream
    (flights) and coming back (replies). With upstream=None it is a sink: it accepts, records
    and never answers. The probe tests use it to capture what a client sends and replay it."""

    def __init__(self, upstream=None):
        self.upstream = upstream
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(16)
        self.lsock.settimeout(0.2)
        self.addr = self.lsock.getsockname()[:2]
        self.flights = []       # bytearray per connection, client -> upstream
        self.replies = []       # bytearray per connection, upstream -> client
        self.done = []          # threading.Event per connection: the client side hit EOF
        self._socks = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._accept, daemon=True)]
        self._threads[0].start()

    def _accept(self):
        while not self._stop.is_set():
            try:
                c, _ = self.lsock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            c.settimeout(60)
            rec, back, ev = bytearray(), bytearray(), threading.Event()
            self.flights.append(rec)
            self.replies.append(back)
            self.done.append(ev)
            self._socks.append(c)
            u = None
            if self.upstream:
                try:
                    u = socket.create_connection(self.upstream, timeout=10)
                    u.settimeout(60)
                    self._socks.append(u)
                except OSError:
                    c.close()
                    ev.set()
                    continue
                t = threading.Thread(target=self._pump, args=(u, c, back, None), daemon=True)
                t.start()
                self._threads.append(t)
            t = threading.Thread(target=self._pump, args=(c, u, rec, ev), daemon=True)
            t.start()
            self._threads.append(t)

    def _pump(self, src, dst, rec, ev):
        up = ev is not None             # the client -> upstream pump is the one with an event
        try:
            for _ in range(1 << 20):
                d = src.recv(65536)
                if not d:
                    break
                if rec is not None:
                    d = self._tamper(d, rec, up)
                    rec += d
                if dst is not None:
                    dst.sendall(d)
        except OSError:
            pass
        finally:
            if ev is not None:
                ev.set()
            for s, how in ((dst, socket.SHUT_WR), (src, socket.SHUT_RD)):
                if s is not None:
                    try:
                        s.shutdown(how)
                    except OSError:
                        pass

    def _tamper(self, data, rec, up):
        """What a subclass changes in data on its way (rec: what came before it). Nothing here."""
        return data

    def wait_for(self, i, complete, what, timeout=10, replies=False):
        """Waits until complete(bytes of connection i so far) gives a true value; returns it."""
        recs = self.replies if replies else self.flights
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(recs) > i:
                got = complete(bytes(recs[i]))
                if got:
                    return got
            time.sleep(0.02)
        have = len(recs[i]) if len(recs) > i else None
        pytest.fail("relay: connection %d brought %r bytes %s; %s"
                    % (i, have, "back" if replies else "upstream", what))

    def wait_bytes(self, i, n, timeout=10, replies=False):
        return self.wait_for(i, lambda b: b if len(b) >= n else None, "want >= %d" % n,
                             timeout, replies)

    def close(self):
        self._stop.set()
        try:
            self.lsock.close()
        except OSError:
            pass
        for s in self._socks:
            try:
                s.shutdown(socket.SHUT_RDWR)    # wakes a pump blocked in recv
            except OSError:
                pass
            try:
                s.close()
            except OSError:
                pass
        for t in self._threads:
            t.join(timeout=2)


@pytest.fixture
def relay():
    made = []

    def make(upstream=None):
        r = Relay(upstream)
        made.append(r)
        return r

    yield make
    for r in made:
        r.close()


def watch_silent(socks, secs=SILENCE):
    """Watches sockets together for `secs`; returns [(bytes received, closed by peer)]."""
    sel = selectors.DefaultSelector()
    got = [bytearray() for _ in socks]
    closed = [False] * len(socks)
    for i, s in enumerate(socks):
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ, i)
    deadline = time.monotonic() + secs
    try:
        while sel.get_map():
            left = deadline - time.monotonic()
            if left <= 0:
                break
            for key, _ in sel.select(timeout=left):
                i = key.data
                try:
                    d = key.fileobj.recv(65536)
                except BlockingIOError:
                    continue
                except OSError:
                    d = b""
                if d:
                    got[i] += d
                else:
                    closed[i] = True
                    sel.unregister(key.fileobj)
    finally:
        sel.close()
        for s in socks:
            s.settimeout(10)
    return [(bytes(g), c) for g, c in zip(got, closed)]


def keeps_reading(sock, n=DRAIN, timeout=10):
    """Sends n more random bytes; '' if the peer took them all, else why not."""
    sock.settimeout(timeout)
    block = os.urandom(1 << 16)
    try:
        for _ in range(n // len(block)):
            sock.sendall(block)
    except socket.timeout:
        return "the send of %d bytes stalled for %d s: the server stopped reading" % (n, timeout)
    except OSError as e:
        return "the send failed: %r (the server closed)" % (e,)
    return ""


def assert_probe_ignored(name, result, sock):
    data, closed = result
    assert data == b"", "%s: the server answered %d bytes: %r" % (name, len(data), data[:64])
    assert not closed, "%s: the server closed the connection within %.0f s (want: keep it open " \
                       "and keep reading, as obfs4proxy and ss-server do)" % (name, SILENCE)
    why = keeps_reading(sock)
    assert not why, "%s: %s" % (name, why)
