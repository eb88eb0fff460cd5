"""Data transfer through client and server: bulk with checksums, half-close both ways,
1,000 concurrent connections, resets, and the transparent-TCP client mode."""
import hashlib
import os
import queue
import selectors
import socket
import struct
import threading
import time

import pytest

from conftest import (CLIENT_ARGS, DataStream, closed_by_peer, dead_port, echo_roundtrip_ok,
                      hash_reply_handler, raise_nofile, read_hash, recv_exact, send_stream,
                      server_args, socks5_connect, socks5_handshake, socks5_read_reply)

QUICK = os.environ.get("WARREN_QUICK") == "1"
BULK = (20 if QUICK else 100) << 20


def read_line(sock, limit=400):
    line = b""
    while not line.endswith(b"\n") and len(line) < limit:
        chunk = sock.recv(limit)
        if not chunk:
            break
        line += chunk
    return line


# ---------------------------------------------------------------------------------------------
# Bulk
# ---------------------------------------------------------------------------------------------

def test_bulk_both_directions_sha256(tunnel, tcp_server):
    up = DataStream(1, BULK)
    down = DataStream(2, BULK)

    def target(server, sock, peer):
        sender_err = []

        def send():
            try:
                send_stream(sock, down)
                sock.shutdown(socket.SHUT_WR)
            except OSError as e:
                sender_err.append(repr(e))

        th = threading.Thread(target=send)
        th.start()
        got = read_hash(sock)
        th.join(timeout=300)
        server.results.put((got, sender_err))

    srv = tcp_server(target, sock_timeout=120)
    t = tunnel(srv.addr)
    s = t.connect(timeout=30)
    s.settimeout(120)
    up_err = []

    def upload():
        try:
            send_stream(s, up)
            s.shutdown(socket.SHUT_WR)
        except OSError as e:
            up_err.append(repr(e))

    t0 = time.monotonic()
    th = threading.Thread(target=upload)
    th.start()
    n, h = read_hash(s)
    th.join(timeout=300)
    s.close()
    assert not up_err, up_err
    assert (n, h) == (down.total, down.sha256), "client received %d bytes" % n
    (tn, th_), serr = srv.results.get(timeout=60)
    assert not serr, serr
    assert (tn, th_) == (up.total, up.sha256), "target received %d bytes" % tn
    # Not a performance test, but a stall would show here.
    assert time.monotonic() - t0 < 200


def test_many_sequential_connections(tunnel, tcp_server):
    srv = tcp_server(hash_reply_handler)
    t = tunnel(srv.addr)
    for i in range(50):
        data = os.urandom(1000 + i * 37)
        s = t.connect()
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        assert read_line(s) == ("%d %s\n" % (len(data), hashlib.sha256(data).hexdigest())).encode()
        s.close()
    assert srv.accepted == 50


# ---------------------------------------------------------------------------------------------
# Half-close
# ---------------------------------------------------------------------------------------------

def test_half_close_client_first(tunnel, tcp_server):
    """Client sends a request and shuts down its write side; the target reads to EOF, then
    replies; the client reads the reply to EOF."""
    srv = tcp_server(hash_reply_handler)
    t = tunnel(srv.addr)
    req = os.urandom(3 << 20)
    s = t.connect()
    s.sendall(req)
    s.shutdown(socket.SHUT_WR)
    s.settimeout(30)
    reply = b""
    while len(reply) < 1000:
        chunk = s.recv(1000)
        if not chunk:
            break
        reply += chunk
    s.close()
    assert reply == ("%d %s\n" % (len(req), hashlib.sha256(req).hexdigest())).encode()
    assert srv.results.get(timeout=10) == (len(req), hashlib.sha256(req).hexdigest())


def test_half_close_target_first(tunnel, tcp_server):
    """The target sends its data and shuts down its write side at once, then keeps reading;
    the client reads to EOF and only then sends its own data, which must all arrive."""
    down = os.urandom(2 << 20)

    def target(server, sock, peer):
        sock.sendall(down)
        sock.shutdown(socket.SHUT_WR)
        server.results.put(read_hash(sock))

    srv = tcp_server(target)
    t = tunnel(srv.addr)
    s = t.connect()
    s.settimeout(30)
    n, h = read_hash(s)
    assert (n, h) == (len(down), hashlib.sha256(down).hexdigest())
    up = os.urandom(3 << 20)
    time.sleep(0.3)                 # let any premature close show up
    s.sendall(up)
    s.shutdown(socket.SHUT_WR)
    got = srv.results.get(timeout=30)
    assert got == (len(up), hashlib.sha256(up).hexdigest())
    # and the client's connection is closed cleanly once both sides are done
    assert closed_by_peer(s, 10)
    s.close()


def test_request_data_and_fin_before_connect_reply(tunnel, tcp_server):
    """Greeting, CONNECT, the whole request and FIN all sent at once, before warren has even
    opened the transport connection: neither the data nor the EOF may be lost."""
    srv = tcp_server(hash_reply_handler)
    t = tunnel(srv.addr)
    req = os.urandom(200000)
    s = socket.create_connection(t.socks, timeout=30)
    s.sendall(b"\x05\x01\x00\x05\x01\x00\x01" + socket.inet_aton(t.server_addr[0]) +
              struct.pack(">H", t.server_addr[1]) + req)
    s.shutdown(socket.SHUT_WR)
    assert recv_exact(s, 2) == b"\x05\x00"
    rep, _ = socks5_read_reply(s)
    assert rep == 0
    assert read_line(s) == ("%d %s\n" % (len(req), hashlib.sha256(req).hexdigest())).encode()
    assert closed_by_peer(s, 10)
    s.close()


def test_transparent_data_and_fin_before_transport_ready(warren, tcp_server):
    srv_t = tcp_server(hash_reply_handler)
    srv = warren(server_args(srv_t.addr))
    cli = warren(["-client", "-mode", "transparent-TCP", "-transports", "plain",
                  "-proxylistenaddr", "127.0.0.1:0",
                  "-options", '{"serverAddress":"127.0.0.1:%d"}' % srv.addr[1]])
    req = os.urandom(100000)
    s = socket.create_connection(cli.addr, timeout=30)
    s.sendall(req)
    s.shutdown(socket.SHUT_WR)
    assert read_line(s) == ("%d %s\n" % (len(req), hashlib.sha256(req).hexdigest())).encode()
    s.close()


def test_target_speaks_first(tunnel, tcp_server):
    """A target that sends a banner on accept: the application gets the SOCKS reply first,
    then the banner, byte-exact."""
    banner = b"220 banner " + os.urandom(8).hex().encode() + b"\r\n"

    def target(server, sock, peer):
        sock.sendall(banner)
        server.results.put(recv_exact(sock, 4))

    srv = tcp_server(target)
    t = tunnel(srv.addr)
    s = socket.create_connection(t.socks, timeout=10)
    s.sendall(b"\x05\x01\x00")
    assert recv_exact(s, 2) == b"\x05\x00"
    time.sleep(0.3)      # give the banner every chance to overtake the reply
    s.sendall(b"\x05\x01\x00\x01" + socket.inet_aton(t.server_addr[0]) +
              struct.pack(">H", t.server_addr[1]))
    rep, _ = socks5_read_reply(s)
    assert rep == 0
    assert recv_exact(s, len(banner)) == banner
    s.sendall(b"QUIT")
    assert srv.results.get(timeout=10) == b"QUIT"
    s.close()


def test_half_close_transparent(warren, tcp_server):
    srv_t = tcp_server(hash_reply_handler)
    srv = warren(server_args(srv_t.addr))
    cli = warren(["-client", "-mode", "transparent-TCP", "-transports", "plain",
                  "-proxylistenaddr", "127.0.0.1:0",
                  "-options", '{"plain":{"serverAddress":"127.0.0.1:%d"}}' % srv.addr[1]])
    req = os.urandom(1 << 20)
    s = socket.create_connection(cli.addr, timeout=30)
    s.sendall(req)
    s.shutdown(socket.SHUT_WR)
    assert read_line(s) == ("%d %s\n" % (len(req), hashlib.sha256(req).hexdigest())).encode()
    assert closed_by_peer(s, 10)
    s.close()


# ---------------------------------------------------------------------------------------------
# 1,000 concurrent connections
# ---------------------------------------------------------------------------------------------

def test_thousand_concurrent_connections(tunnel, echo_server):
    N = 1000
    have = raise_nofile(4 * N + 256)
    if have < 2 * N + 100:
        pytest.skip("cannot raise RLIMIT_NOFILE to %d (have %d)" % (2 * N + 100, have))
    t = tunnel(echo_server.addr)
    req = b"\x05\x01\x00" + b"\x05\x01\x00\x01" + socket.inet_aton(t.server_addr[0]) + \
        struct.pack(">H", t.server_addr[1])
    want_reply = b"\x05\x00" + b"\x05\x00\x00\x01"
    sel = selectors.DefaultSelector()
    conns = []
    deadline = time.monotonic() + 120
    MAX_INFLIGHT = 100
    pending = list(range(N))
    inflight = 0
    established = 0
    failures = []

    class C:
        __slots__ = ("i", "sock", "state", "buf", "payload", "out")

    def start(i):
        c = C()
        c.i, c.buf, c.out = i, b"", b""
        c.payload = b"conn-%04d-%s|" % (i, os.urandom(6).hex().encode())
        c.sock = socket.socket()
        c.sock.setblocking(False)
        err = c.sock.connect_ex(t.socks)
        assert err in (0, 115), err          # EINPROGRESS
        c.state = "connecting"
        sel.register(c.sock, selectors.EVENT_WRITE, c)
        conns.append(c)

    try:
        # Phase 1: open all N and finish their SOCKS handshakes (at most 100 in flight).
        while established + len(failures) < N:
            assert time.monotonic() < deadline, \
                "only %d of %d established in time (%d failed)" % (established, N, len(failures))
            while pending and inflight < MAX_INFLIGHT:
                start(pending.pop())
                inflight += 1
            for key, ev in sel.select(timeout=1.0):
                c = key.data
                try:
                    if c.state == "connecting":
                        err = c.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                        if err:
                            raise OSError(err, os.strerror(err))
                        c.sock.send(req)         # small: goes out whole
                        c.state = "reply"
                        sel.modify(c.sock, selectors.EVENT_READ, c)
                    elif c.state == "reply":
                        data = c.sock.recv(64)
                        if not data:
                            raise OSError("closed during the handshake")
                        c.buf += data
                        if len(c.buf) >= 12:
                            assert c.buf[:6] == want_reply, c.buf
                            assert len(c.buf) == 12, c.buf
                            c.state = "open"
                            c.buf = b""
                            sel.unregister(c.sock)
                            established += 1
                            inflight -= 1
                except (OSError, AssertionError) as e:
                    failures.append((c.i, repr(e)))
                    inflight -= 1
                    try:
                        sel.unregister(c.sock)
                    except (KeyError, ValueError):
                        pass
        assert not failures, "%d handshakes failed, e.g. %r" % (len(failures), failures[:5])
        assert established == N

        # Phase 2: all N are open at once; each sends its payload and reads it back.
        for c in conns:
            c.sock.send(c.payload)
            c.state = "echo"
            sel.register(c.sock, selectors.EVENT_READ, c)
        done = 0
        while done < N:
            assert time.monotonic() < deadline, "only %d of %d echoes back in time" % (done, N)
            events = sel.select(timeout=1.0)
            for key, ev in events:
                c = key.data
                data = c.sock.recv(256)
                if not data:
                    failures.append((c.i, "closed before the echo: %r" % c.buf))
                    sel.unregister(c.sock)
                    done += 1
                    continue
                c.buf += data
                if len(c.buf) >= len(c.payload):
                    if c.buf != c.payload:
                        failures.append((c.i, "echo mismatch %r != %r" % (c.buf, c.payload)))
                    sel.unregister(c.sock)
                    done += 1
        assert not failures, "%d echoes failed, e.g. %r" % (len(failures), failures[:5])
        assert echo_server.accepted == N
        assert t.client.alive() and t.server.alive()
    finally:
        for c in conns:
            c.sock.close()
        sel.close()
    # Still healthy afterwards.
    assert echo_roundtrip_ok(t.connect())


# ---------------------------------------------------------------------------------------------
# Resets and unreachable targets
# ---------------------------------------------------------------------------------------------

def rst_close(sock):
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def test_target_closes_immediately(tunnel, tcp_server):
    srv = tcp_server(lambda server, sock, peer: None)     # accept, then close (FIN)
    t = tunnel(srv.addr)
    s = t.connect()
    assert closed_by_peer(s, 10)
    s.close()


@pytest.mark.parametrize("when", ["after-data", "immediately"])
def test_target_reset_reaches_client(tunnel, tcp_server, when):
    def target(server, sock, peer):
        if when == "after-data":
            recv_exact(sock, 5)
            sock.sendall(b"hello")
            time.sleep(0.2)
        rst_close(sock)
        server.results.put("reset")

    srv = tcp_server(target)
    t = tunnel(srv.addr)
    s = t.connect()
    if when == "after-data":
        s.sendall(b"hello")
        assert recv_exact(s, 5) == b"hello"
    assert srv.results.get(timeout=10) == "reset"
    t0 = time.monotonic()
    assert closed_by_peer(s, 10), "the client application never saw the reset"
    assert time.monotonic() - t0 < 10
    # Sending now must fail or at least not hang.
    s.close()
    assert t.client.alive() and t.server.alive()


def test_client_reset_reaches_target(tunnel, tcp_server):
    def target(server, sock, peer):
        sock.settimeout(10)
        sock.sendall(b"ready")
        try:
            while sock.recv(4096):
                pass
            server.results.put("eof")
        except ConnectionResetError:
            server.results.put("reset")
        except socket.timeout:
            server.results.put("timeout")

    srv = tcp_server(target)
    t = tunnel(srv.addr)
    s = t.connect()
    assert recv_exact(s, 5) == b"ready"
    rst_close(s)
    assert srv.results.get(timeout=15) in ("eof", "reset")


def test_unreachable_target_closes_client(warren):
    """The server cannot reach its -target: the client application's connection is closed
    promptly instead of hanging."""
    dead = ("127.0.0.1", dead_port())
    srv = warren(server_args(dead))
    cli = warren(CLIENT_ARGS)
    for _ in range(5):
        s = socket.create_connection(cli.addr, timeout=10)
        t0 = time.monotonic()
        rep = socks5_handshake(s, srv.addr)
        # Either the CONNECT already fails (the server reset the transport connection before
        # the client answered), or it succeeds and the connection is closed right after.
        if rep == 0:
            try:
                s.sendall(b"anyone there?")
            except OSError:
                pass
            assert closed_by_peer(s, 10)
        assert time.monotonic() - t0 < 10
        s.close()


def test_target_given_as_name(warren, echo_server):
    srv = warren(["-server", "-transports", "plain", "-bindaddr", "plain-127.0.0.1:0",
                  "-target", "localhost:%d" % echo_server.addr[1]])
    cli = warren(CLIENT_ARGS)
    assert echo_roundtrip_ok(socks5_connect(cli.addr, srv.addr))


# ---------------------------------------------------------------------------------------------
# transparent-TCP client mode
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("options", ['{"plain":{"serverAddress":"127.0.0.1:%d"}}',
                                     '{"serverAddress":"127.0.0.1:%d"}'])
def test_transparent_tcp_carries_data(warren, tcp_server, options):
    srv_t = tcp_server(hash_reply_handler)
    srv = warren(server_args(srv_t.addr))
    cli = warren(["-client", "-mode", "transparent-TCP", "-transports", "plain",
                  "-proxylistenaddr", "127.0.0.1:0", "-options", options % srv.addr[1]])
    assert cli.method_lines[0].startswith("CMETHOD plain transparent-TCP 127.0.0.1:"), cli.lines
    stream = DataStream(5, 8 << 20)
    s = socket.create_connection(cli.addr, timeout=30)
    send_stream(s, stream)
    s.shutdown(socket.SHUT_WR)
    assert read_line(s) == ("%d %s\n" % (stream.total, stream.sha256)).encode()
    s.close()
    # several connections in parallel
    results = queue.Queue()

    def one(i):
        data = os.urandom(50000 + i)
        c = socket.create_connection(cli.addr, timeout=30)
        c.sendall(data)
        c.shutdown(socket.SHUT_WR)
        want = ("%d %s\n" % (len(data), hashlib.sha256(data).hexdigest())).encode()
        results.put(read_line(c) == want)
        c.close()

    ths = [threading.Thread(target=one, args=(i,)) for i in range(20)]
    for th in ths:
        th.start()
    for th in ths:
        th.join(timeout=60)
    oks = [results.get(timeout=1) for _ in range(20)]
    assert all(oks), oks


def test_transparent_tcp_old_flag_spelling(warren, echo_server):
    srv = warren(server_args(echo_server.addr))
    cli = warren(["-client", "-transparent", "-transports", "plain", "-proxylistenaddr",
                  "127.0.0.1:0", "-options", '{"serverAddress":"127.0.0.1:%d"}' % srv.addr[1]])
    assert cli.method_lines[0].startswith("CMETHOD plain transparent-TCP "), cli.lines
    assert echo_roundtrip_ok(socket.create_connection(cli.addr, timeout=10))


def test_transparent_tcp_server_down(warren):
    port = dead_port()
    cli = warren(["-client", "-mode", "transparent-TCP", "-transports", "plain",
                  "-proxylistenaddr", "127.0.0.1:0",
                  "-options", '{"serverAddress":"127.0.0.1:%d"}' % port])
    s = socket.create_connection(cli.addr, timeout=10)
    assert closed_by_peer(s, 10), "connection to an unreachable server was not closed"
    s.close()


# ---------------------------------------------------------------------------------------------
# Flow control
# ---------------------------------------------------------------------------------------------

def test_backpressure_slow_reader(tunnel, tcp_server):
    """The application does not read for a while: warren must stop reading from the target
    (bounded buffering) rather than queue everything, and deliver it all once reading resumes."""
    total = 160 << 20
    stream = DataStream(9, total)
    progress = {"sent": 0}

    def target(server, sock, peer):
        try:
            for c in stream.chunks():
                sock.sendall(c)
                progress["sent"] += len(c)
            sock.shutdown(socket.SHUT_WR)
            server.results.put("sent all")
        except OSError as e:
            server.results.put(repr(e))

    srv = tcp_server(target, sock_timeout=120)
    t = tunnel(srv.addr)
    s = t.connect(timeout=30)
    time.sleep(3)
    stalled_at = progress["sent"]
    print("target managed to send %d MiB while the application was not reading"
          % (stalled_at >> 20))
    assert stalled_at < 64 << 20, \
        "warren buffered %d MiB for a reader that reads nothing" % (stalled_at >> 20)
    s.settimeout(120)
    n, h = read_hash(s)
    s.close()
    assert (n, h) == (stream.total, stream.sha256)
    assert srv.results.get(timeout=30) == "sent all"


# ---------------------------------------------------------------------------------------------
# Shutdown with work in progress
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("which", ["client", "server"])
def test_sigterm_during_transfer(tunnel, tcp_server, which):
    """SIGTERM while a transfer is running: warren exits 0 (no sanitizer report, checked at
    teardown) and the application sees its connection end instead of hanging."""
    stream = DataStream(3, 64 << 20)

    def target(server, sock, peer):
        try:
            send_stream(sock, stream)
        except OSError:
            pass

    srv = tcp_server(target)
    t = tunnel(srv.addr)
    s = t.connect()
    recv_exact(s, 1 << 20)               # the transfer is under way
    proc = t.client if which == "client" else t.server
    assert proc.stop() == 0
    assert closed_by_peer(s, 15, max_bytes=stream.total), \
        "the application connection outlived warren"
    s.close()


def test_sigterm_with_connections_in_every_state(warren, echo_server, tcp_server):
    """Connections mid-greeting, waiting for the JSON block, in RFC 1929, relaying, and
    half-closed: SIGTERM must still exit 0 with nothing leaked."""
    srv = warren(server_args(echo_server.addr))
    cli = warren(CLIENT_ARGS)
    held = []
    try:
        for partial in (b"\x05", b"\x05\x02", b"\x05\x01\x09", b"\x05\x01\x09\x00\x00\x01\x00{",
                        b"\x05\x01\x02", b"\x05\x01\x02\x01\x03k=v", b"\x05\x01\x00\x05\x01"):
            for _ in range(5):
                s = socket.create_connection(cli.addr, timeout=10)
                s.sendall(partial)
                held.append(s)
        for _ in range(5):
            s = socks5_connect(cli.addr, srv.addr)
            s.sendall(b"x" * 100000)
            held.append(s)
        for _ in range(5):
            s = socks5_connect(cli.addr, srv.addr)
            s.shutdown(socket.SHUT_WR)
            held.append(s)
        time.sleep(0.5)
        assert cli.stop() == 0
        assert srv.stop() == 0
    finally:
        for s in held:
            s.close()


def test_stdin_close_with_live_connections(warren, echo_server):
    srv = warren(server_args(echo_server.addr) + ["-exit-on-stdin-close"])
    cli = warren(CLIENT_ARGS + ["-exit-on-stdin-close"])
    socks = [socks5_connect(cli.addr, srv.addr) for _ in range(10)]
    for s in socks:
        assert echo_roundtrip_ok(s, close=False)
    cli.close_stdin()
    srv.close_stdin()
    assert cli.wait(10) == 0
    assert srv.wait(10) == 0
    for s in socks:
        assert closed_by_peer(s, 10)
        s.close()
