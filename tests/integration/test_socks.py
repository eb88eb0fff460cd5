"""The client's socks5 mode: curl end to end, method negotiation, the 09 JSON settings block
with its 0x10-0x13 replies, RFC 1929 PT arguments, request errors, robustness, IPv6."""
import hashlib
import os
import socket
import struct
import threading
import time

import pytest

from conftest import (CLIENT_ARGS, DataStream, closed_by_peer, dead_port, echo_roundtrip_ok,
                      encode_socks_addr, hash_reply_handler, have_ipv6_loopback, recv_exact,
                      server_args, socks5_connect, socks5_connect_rep, socks5_read_reply)


def reply_bytes(code):
    return bytes([5, code, 0, 1, 0, 0, 0, 0, 0, 0])


@pytest.fixture
def echo_tunnel(tunnel, echo_server):
    return tunnel(echo_server.addr)


def greet(sock, methods):
    sock.sendall(b"\x05" + bytes([len(methods)]) + methods)
    return recv_exact(sock, 2)


def connect_req(host, port, cmd=1):
    return b"\x05" + bytes([cmd]) + b"\x00" + encode_socks_addr(host, port)


# ---------------------------------------------------------------------------------------------
# curl end to end
# ---------------------------------------------------------------------------------------------

def test_curl_socks5_hostname(tunnel, http_target, curl):
    t = tunnel(http_target.addr)
    sh, sp = t.server_addr
    p = curl(["--socks5-hostname", "127.0.0.1:%d" % t.socks[1], "http://%s:%d/hello" % (sh, sp)])
    assert p.returncode == 0, p.stderr
    assert p.stdout == http_target.hello
    assert [r[0] for r in http_target.requests] == ["/hello"]


def test_curl_big_body(tunnel, http_target, curl):
    t = tunnel(http_target.addr)
    p = curl(["--socks5-hostname", "127.0.0.1:%d" % t.socks[1],
              "http://127.0.0.1:%d/big" % t.server_addr[1]])
    assert p.returncode == 0, p.stderr
    assert hashlib.sha256(p.stdout).hexdigest() == hashlib.sha256(http_target.big).hexdigest()


def test_curl_socks5_local_resolution(tunnel, http_target, curl):
    t = tunnel(http_target.addr)
    p = curl(["--socks5", "127.0.0.1:%d" % t.socks[1],
              "http://127.0.0.1:%d/hello" % t.server_addr[1]])
    assert p.returncode == 0, p.stderr
    assert p.stdout == http_target.hello


def test_curl_destination_as_name(tunnel, http_target, curl):
    """The SOCKS destination is a DNS name (ATYP 03 'localhost'): warren resolves it."""
    t = tunnel(http_target.addr)
    p = curl(["--socks5-hostname", "127.0.0.1:%d" % t.socks[1],
              "http://localhost:%d/hello" % t.server_addr[1]])
    assert p.returncode == 0, p.stderr
    assert p.stdout == http_target.hello


def test_name_lookups_do_not_block_other_connections(echo_tunnel):
    """While names are being resolved (several at once, including ones that fail), a
    connection by IP address is served promptly, and the named ones get their answers."""
    t = echo_tunnel
    results = {}

    def named(i, name):
        try:
            results[i] = socks5_connect_rep(t.socks, (name, t.server_addr[1]), timeout=40)
        except Exception as e:  # noqa: BLE001
            results[i] = repr(e)

    names = ["localhost", "doesnotexist.invalid", "localhost", "no-such-host.invalid"]
    threads = [threading.Thread(target=named, args=(i, n)) for i, n in enumerate(names)]
    for th in threads:
        th.start()
    t0 = time.monotonic()
    assert echo_roundtrip_ok(t.connect(timeout=10))
    assert time.monotonic() - t0 < 5
    for th in threads:
        th.join(timeout=45)
    assert results.get(0) == 0 and results.get(2) == 0, results
    assert isinstance(results.get(1), int) and results[1] != 0, results
    assert isinstance(results.get(3), int) and results[3] != 0, results


# ---------------------------------------------------------------------------------------------
# Method negotiation
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("methods,chosen", [
    (b"\x00", 0x00),
    (b"\x00\x02", 0x02),
    (b"\x02\x00", 0x02),
    (b"\x00\x02\x09", 0x09),
    (b"\x09\x00\x02", 0x09),
    (b"\x09", 0x09),
    (b"\x02", 0x02),
    (b"\x00\x01", 0x00),
    (b"\x01\x80\x00", 0x00),
])
def test_method_preference(echo_tunnel, methods, chosen):
    s = socket.create_connection(echo_tunnel.socks, timeout=10)
    try:
        assert greet(s, methods) == bytes([5, chosen])
    finally:
        s.close()


@pytest.mark.parametrize("methods", [b"\x01", b"\x03\x80\xfe", b""])
def test_no_acceptable_method(echo_tunnel, methods):
    s = socket.create_connection(echo_tunnel.socks, timeout=10)
    try:
        assert greet(s, methods) == b"\x05\xff"
        assert closed_by_peer(s, 5), "warren kept the connection open after 05 ff"
    finally:
        s.close()


def test_method_00_then_connect(echo_tunnel):
    assert echo_roundtrip_ok(echo_tunnel.connect(methods=b"\x00"))


def test_success_reply_format(echo_tunnel):
    s = socket.create_connection(echo_tunnel.socks, timeout=10)
    try:
        assert greet(s, b"\x00") == b"\x05\x00"
        s.sendall(connect_req(*echo_tunnel.server_addr))
        rep, bnd = socks5_read_reply(s)
        assert rep == 0
        assert echo_roundtrip_ok(s, close=False)
    finally:
        s.close()


def test_pipelined_greeting_request_and_data(echo_tunnel):
    """Greeting, CONNECT and early data in one segment: the data is held until the transport
    connection is up, then delivered."""
    s = socket.create_connection(echo_tunnel.socks, timeout=10)
    try:
        payload = os.urandom(8).hex().encode()
        s.sendall(b"\x05\x01\x00" + connect_req(*echo_tunnel.server_addr) + payload)
        assert recv_exact(s, 2) == b"\x05\x00"
        rep, _ = socks5_read_reply(s)
        assert rep == 0
        assert recv_exact(s, len(payload)) == payload
    finally:
        s.close()


# ---------------------------------------------------------------------------------------------
# Method 09: JSON per-connection settings
# ---------------------------------------------------------------------------------------------

def json_conn(t):
    s = socket.create_connection(t.socks, timeout=10)
    assert greet(s, b"\x09") == b"\x05\x09"
    return s


def expect_error_reply(s, code):
    got = recv_exact(s, 10)
    assert got == reply_bytes(code), "want %r got %r" % (reply_bytes(code), got)
    assert closed_by_peer(s, 5), "warren did not close after the 0x%02x reply" % code


def test_json_too_large(echo_tunnel):
    s = json_conn(echo_tunnel)
    try:
        s.sendall(struct.pack(">I", 64 * 1024 + 1))
        expect_error_reply(s, 0x10)
    finally:
        s.close()


def test_json_huge_length(echo_tunnel):
    s = json_conn(echo_tunnel)
    try:
        s.sendall(b"\xff\xff\xff\xff")
        expect_error_reply(s, 0x10)
    finally:
        s.close()


def test_json_exactly_64k_accepted(echo_tunnel):
    body = b'{"pad":"' + b"x" * (64 * 1024 - 11) + b'"}'
    body += b" " * (64 * 1024 - len(body))
    assert len(body) == 64 * 1024
    s = json_conn(echo_tunnel)
    try:
        s.sendall(struct.pack(">I", len(body)) + body)
        s.sendall(connect_req(*echo_tunnel.server_addr))
        rep, _ = socks5_read_reply(s)
        assert rep == 0
        assert echo_roundtrip_ok(s, close=False)
    finally:
        s.close()


@pytest.mark.parametrize("body", [b"{bad json", b"[1,2,3]", b'"a string"', b"42", b"null",
                                  b'{"a":1,"a":2}', b"\xff\xfe{}"])
def test_json_parse_error(echo_tunnel, body):
    s = json_conn(echo_tunnel)
    try:
        s.sendall(struct.pack(">I", len(body)) + body)
        expect_error_reply(s, 0x12)
    finally:
        s.close()


def test_json_zero_length(echo_tunnel):
    s = json_conn(echo_tunnel)
    try:
        s.sendall(b"\x00\x00\x00\x00")
        expect_error_reply(s, 0x12)
    finally:
        s.close()


@pytest.mark.parametrize("body", [
    {"serverAddress": "nonsense"},
    {"serverAddress": "127.0.0.1:0"},
    {"serverAddress": "127.0.0.1:99999"},
    {"serverAddress": ["127.0.0.1:1"]},
    {"plain": {"serverAddress": "nonsense"}},
])
def test_json_invalid_settings(echo_tunnel, body):
    import json
    raw = json.dumps(body).encode()
    s = json_conn(echo_tunnel)
    try:
        s.sendall(struct.pack(">I", len(raw)) + raw)
        expect_error_reply(s, 0x13)
    finally:
        s.close()


@pytest.fixture
def short_handshake_tunnel(tunnel, echo_server):
    return tunnel(echo_server.addr, client_env={"WARREN_HANDSHAKE_TIMEOUT": "1"})


@pytest.mark.parametrize("sent", [b"", b"\x00\x00", b"\x00\x00\x00\x64" + b'{"serverAdd'])
def test_json_timeout(short_handshake_tunnel, sent):
    s = json_conn(short_handshake_tunnel)
    try:
        t0 = time.monotonic()
        if sent:
            s.sendall(sent)
        s.settimeout(8)
        expect_error_reply(s, 0x11)
        assert time.monotonic() - t0 < 6
    finally:
        s.close()


def test_json_good_then_connect(echo_tunnel):
    import json
    raw = json.dumps({"plain": {"serverAddress": "%s:%d" % echo_tunnel.server_addr}}).encode()
    s = json_conn(echo_tunnel)
    try:
        s.sendall(struct.pack(">I", len(raw)) + raw)
        # No reply to a good block: the next bytes come only after CONNECT.
        s.settimeout(0.5)
        with pytest.raises(socket.timeout):
            s.recv(1)
        s.settimeout(10)
        s.sendall(connect_req(*echo_tunnel.server_addr))
        rep, _ = socks5_read_reply(s)
        assert rep == 0
        assert echo_roundtrip_ok(s, close=False)
    finally:
        s.close()


@pytest.mark.parametrize("keyed", [True, False])
def test_json_server_address_used_for_unspecified_dst(echo_tunnel, keyed):
    """CONNECT 0.0.0.0:0: the server address comes from the JSON settings."""
    sa = {"serverAddress": "%s:%d" % echo_tunnel.server_addr}
    body = {"plain": sa} if keyed else sa
    s = socks5_connect(echo_tunnel.socks, ("0.0.0.0", 0), methods=b"\x09",
                       json_args=__import__("json").dumps(body))
    assert echo_roundtrip_ok(s)


def test_json_dst_wins_over_server_address(echo_tunnel):
    """A real SOCKS destination wins over serverAddress (tor always sends the bridge there)."""
    body = '{"serverAddress":"127.0.0.1:%d"}' % dead_port()
    s = socks5_connect(echo_tunnel.socks, echo_tunnel.server_addr, methods=b"\x09", json_args=body)
    assert echo_roundtrip_ok(s)


def test_json_overrides_options_key_by_key(warren, echo_server):
    """-options names a dead server; the per-connection JSON overrides serverAddress."""
    srv = warren(server_args(echo_server.addr))
    cli = warren(CLIENT_ARGS + ["-options", '{"plain":{"serverAddress":"127.0.0.1:%d"}}'
                                % dead_port()])
    assert socks5_connect_rep(cli.addr, ("0.0.0.0", 0)) == 0x05      # the -options server
    s = socks5_connect(cli.addr, ("0.0.0.0", 0), methods=b"\x09",
                       json_args='{"serverAddress":"127.0.0.1:%d"}' % srv.addr[1])
    assert echo_roundtrip_ok(s)


def test_json_block_pipelined_with_connect_and_data(echo_tunnel):
    body = b'{"plain":{}}'
    payload = os.urandom(8).hex().encode()
    s = socket.create_connection(echo_tunnel.socks, timeout=10)
    try:
        s.sendall(b"\x05\x01\x09" + struct.pack(">I", len(body)) + body +
                  connect_req(*echo_tunnel.server_addr) + payload)
        assert recv_exact(s, 2) == b"\x05\x09"
        rep, _ = socks5_read_reply(s)
        assert rep == 0
        assert recv_exact(s, len(payload)) == payload
    finally:
        s.close()


def test_rfc1929_pipelined_with_connect(echo_tunnel):
    s = socket.create_connection(echo_tunnel.socks, timeout=10)
    try:
        s.sendall(b"\x05\x02\x00\x02" + b"\x01\x03k=v\x01\x00" +
                  connect_req(*echo_tunnel.server_addr))
        assert recv_exact(s, 4) == b"\x05\x02\x01\x00"
        rep, _ = socks5_read_reply(s)
        assert rep == 0
        assert echo_roundtrip_ok(s, close=False)
    finally:
        s.close()


def test_unspecified_dst_without_server_address_fails(echo_tunnel):
    rep = socks5_connect_rep(echo_tunnel.socks, ("0.0.0.0", 0), methods=b"\x00")
    assert rep != 0


def test_options_server_address_used_for_unspecified_dst(warren, echo_server):
    srv = warren(server_args(echo_server.addr))
    cli = warren(CLIENT_ARGS + ["-options", '{"plain":{"serverAddress":"127.0.0.1:%d"}}'
                                % srv.addr[1]])
    s = socks5_connect(cli.addr, ("0.0.0.0", 0))
    assert echo_roundtrip_ok(s)


# ---------------------------------------------------------------------------------------------
# Method 02: RFC 1929 carrying tor's k=v;k=v arguments
# ---------------------------------------------------------------------------------------------

def userpass_conn(t, uname, passwd):
    s = socket.create_connection(t.socks, timeout=10)
    assert greet(s, b"\x00\x02") == b"\x05\x02"
    s.sendall(b"\x01" + bytes([len(uname)]) + uname + bytes([len(passwd)]) + passwd)
    return s


@pytest.mark.parametrize("uname,passwd", [
    (b"k=v", b"\x00"),
    (b"k=v;x=y", b"\x00"),
    (b"cert=AAAA\\;x;iat-mode=0", b"\x00"),
    (b"k2=a=b:c\\\\d;k3=v", b"\x00"),
    (b"k=v;long=" + b"a" * 240, b"b" * 53),
])
def test_rfc1929_good_args(echo_tunnel, uname, passwd):
    s = userpass_conn(echo_tunnel, uname, passwd)
    try:
        assert recv_exact(s, 2) == b"\x01\x00"
        s.sendall(connect_req(*echo_tunnel.server_addr))
        rep, _ = socks5_read_reply(s)
        assert rep == 0
        assert echo_roundtrip_ok(s, close=False)
    finally:
        s.close()


@pytest.mark.parametrize("uname,passwd", [
    (b"novalue", b"\x00"),
    (b"=v", b"\x00"),
    (b"k=v;;", b"\x00"),
    (b"k=v\\", b"\x00"),
    (b"serverAddress=nonsense", b"\x00"),
])
def test_rfc1929_bad_args(echo_tunnel, uname, passwd):
    s = userpass_conn(echo_tunnel, uname, passwd)
    try:
        assert recv_exact(s, 2) == b"\x01\x01"
        assert closed_by_peer(s, 5)
    finally:
        s.close()


def test_rfc1929_server_address_split_over_user_and_password(echo_tunnel):
    """UNAME and PASSWD are concatenated (tor splits long argument strings at 255 bytes)."""
    arg = ("serverAddress=%s:%d" % echo_tunnel.server_addr).encode()
    s = userpass_conn(echo_tunnel, arg[:17], arg[17:])
    try:
        assert recv_exact(s, 2) == b"\x01\x00"
        s.sendall(connect_req("0.0.0.0", 0))
        rep, _ = socks5_read_reply(s)
        assert rep == 0
        assert echo_roundtrip_ok(s, close=False)
    finally:
        s.close()


def test_rfc1929_bad_version_byte(echo_tunnel):
    s = socket.create_connection(echo_tunnel.socks, timeout=10)
    try:
        assert greet(s, b"\x02") == b"\x05\x02"
        s.sendall(b"\x05\x01k\x01v")
        data = b""
        try:
            data = s.recv(16)
        except ConnectionResetError:
            pass
        assert data in (b"", b"\x01\x01"), data
        assert data == b"" or closed_by_peer(s, 5)
    finally:
        s.close()


# ---------------------------------------------------------------------------------------------
# Request errors
# ---------------------------------------------------------------------------------------------

def test_connect_closed_port_refused(echo_tunnel):
    rep = socks5_connect_rep(echo_tunnel.socks, ("127.0.0.1", dead_port()))
    assert rep == 0x05


@pytest.mark.parametrize("cmd", [2, 3, 0x7f])
def test_unsupported_command(echo_tunnel, cmd):
    s = socket.create_connection(echo_tunnel.socks, timeout=10)
    try:
        assert greet(s, b"\x00") == b"\x05\x00"
        s.sendall(connect_req(*echo_tunnel.server_addr, cmd=cmd))
        assert recv_exact(s, 10) == reply_bytes(0x07)
        assert closed_by_peer(s, 5)
    finally:
        s.close()


@pytest.mark.parametrize("atyp", [0x00, 0x02, 0x05, 0xff])
def test_unsupported_address_type(echo_tunnel, atyp):
    s = socket.create_connection(echo_tunnel.socks, timeout=10)
    try:
        assert greet(s, b"\x00") == b"\x05\x00"
        s.sendall(b"\x05\x01\x00" + bytes([atyp]) + b"\x7f\x00\x00\x01\x00\x50")
        assert recv_exact(s, 10) == reply_bytes(0x08)
        assert closed_by_peer(s, 5)
    finally:
        s.close()


def test_nonexistent_name_fails_fast(echo_tunnel):
    t0 = time.monotonic()
    rep = socks5_connect_rep(echo_tunnel.socks, ("doesnotexist.invalid", 80), timeout=40)
    assert rep != 0
    assert rep in (0x01, 0x04), rep
    assert time.monotonic() - t0 < 35


def test_handshake_timeout_closes_silent_client(short_handshake_tunnel):
    s = socket.create_connection(short_handshake_tunnel.socks, timeout=10)
    try:
        s.sendall(b"\x05\x01")          # half a greeting, then silence
        t0 = time.monotonic()
        assert closed_by_peer(s, 8)
        assert time.monotonic() - t0 < 6
    finally:
        s.close()


def test_socks4_request_rejected(echo_tunnel):
    s = socket.create_connection(echo_tunnel.socks, timeout=10)
    try:
        s.sendall(b"\x04\x01" + struct.pack(">H", echo_tunnel.server_addr[1]) +
                  socket.inet_aton("127.0.0.1") + b"\x00")
        assert closed_by_peer(s, 5)
    finally:
        s.close()


# ---------------------------------------------------------------------------------------------
# Misbehaving clients next to a healthy transfer
# ---------------------------------------------------------------------------------------------

def test_garbage_clients_do_not_disturb_transfer(tunnel, tcp_server):
    target = tcp_server(hash_reply_handler)
    t = tunnel(target.addr)
    stream = DataStream(11, 16 << 20)
    outcome = {}
    halfway, garbage_done = threading.Event(), threading.Event()

    def transfer():
        # Sends half the stream, waits while the garbage clients run, then sends the rest:
        # the healthy connection is mid-transfer during all of the misbehaviour.
        try:
            s = t.connect(timeout=30)
            s.settimeout(60)
            chunks = list(stream.chunks())
            for c in chunks[:len(chunks) // 2]:
                s.sendall(c)
            halfway.set()
            garbage_done.wait(timeout=60)
            for c in chunks[len(chunks) // 2:]:
                s.sendall(c)
            s.shutdown(socket.SHUT_WR)
            line = b""
            while not line.endswith(b"\n") and len(line) < 200:
                chunk = s.recv(200)
                if not chunk:
                    break
                line += chunk
            s.close()
            outcome["reply"] = line
        except Exception as e:  # noqa: BLE001
            outcome["error"] = repr(e)
        finally:
            halfway.set()

    th = threading.Thread(target=transfer)
    th.start()
    assert halfway.wait(timeout=60)

    bad_inputs = [
        os.urandom(64),
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        b"\x05",
        b"\x05\x01\x00",
        b"\x05\x01\x00\x05\x01\x00\x03",
        b"\x05\x01\x00\x05\x01\x00\x01\x7f\x00",
        b"\x05\x01\x09\x00\x00\x10\x00{",
        b"\x05\x01\x02\x01\x05ab",
        b"\x05\xff" + bytes(range(255)),
        b"\x00" * 1000,
        b"\x05\x01\x00" + os.urandom(700),
        b"",
    ]
    try:
        for rnd in range(4):
            socks = []
            for i, data in enumerate(bad_inputs):
                s = socket.create_connection(t.socks, timeout=10)
                try:
                    if data:
                        s.sendall(data)
                except OSError:
                    pass                       # warren may reset it mid-send: fine
                if (i + rnd) % 3 == 0:
                    # abortive close: RST
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    s.close()
                elif (i + rnd) % 3 == 1:
                    s.close()
                else:
                    socks.append(s)
            for s in socks:
                try:
                    s.shutdown(socket.SHUT_WR)     # may already be reset by warren
                except OSError:
                    pass
                s.close()
    finally:
        garbage_done.set()

    th.join(timeout=120)
    assert not th.is_alive(), "the healthy transfer hung"
    assert "error" not in outcome, outcome
    assert outcome["reply"] == ("%d %s\n" % (stream.total, stream.sha256)).encode(), outcome
    # warren still serves new connections, and is still alive.
    assert t.client.alive() and t.server.alive()
    s = t.connect()
    s.sendall(b"x" * 10)
    s.shutdown(socket.SHUT_WR)
    reply = b""
    s.settimeout(10)
    while True:
        c = s.recv(200)
        if not c:
            break
        reply += c
    s.close()
    assert reply == ("10 %s\n" % hashlib.sha256(b"x" * 10).hexdigest()).encode()


# ---------------------------------------------------------------------------------------------
# IPv6
# ---------------------------------------------------------------------------------------------

needs_ipv6 = pytest.mark.skipif(not have_ipv6_loopback(), reason="no usable ::1 on this machine")


@needs_ipv6
def test_ipv6_server_and_destination(warren, echo_server):
    srv = warren(server_args(echo_server.addr, bind="[::1]:0"))
    assert srv.method_lines[0].startswith("SMETHOD plain [::1]:"), srv.lines
    host, port = srv.addr
    assert host == "::1"
    cli = warren(CLIENT_ARGS)
    s = socks5_connect(cli.addr, ("::1", port))
    assert echo_roundtrip_ok(s)


@needs_ipv6
def test_ipv6_client_listener_and_target(warren):
    from conftest import EchoServer
    echo6 = EchoServer(host="::1")
    try:
        srv = warren(server_args(echo6.addr))
        cli = warren(["-client", "-transports", "plain", "-proxylistenaddr", "[::1]:0"])
        assert cli.method_lines[0].startswith("CMETHOD plain socks5 [::1]:"), cli.lines
        s = socks5_connect(cli.addr, srv.addr)
        assert echo_roundtrip_ok(s)
        assert echo6.accepted == 1
    finally:
        echo6.close()
