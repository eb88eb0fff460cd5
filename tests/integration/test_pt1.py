"""tor's PT 1.0 managed-proxy protocol and the Extended ORPort, without tor (notes pt-ipc §2, §3,
Appendix A; README "Under tor (PT 1.0)"; docs/pt-ipc-decisions.md "PT 1.0 (tor)").

* The environment: TOR_PT_* variables as tor 0.4.9 sets them (conftest's base_env strips the
  caller's TOR_PT_*; every test here sets its own), VERSION negotiation, every ENV-ERROR and
  PROXY-ERROR of Appendix A that applies, all on stdout; unknown transports; TOR_PT_PROXY with a
  ':' in the password; exit on stdin close; an empty TOR_PT_EXTENDED_SERVER_PORT; server
  transport options with tor's escaping; LOG and STATUS lines in tor's form; the outbound bind
  address.
* The Extended ORPort: an in-test stub speaks tor's side byte-exactly (auth types, SAFE_COOKIE
  with the cookie file's secret, status, USERADDR/TRANSPORT/DONE, OKAY or DENY) and checks what
  warren sends. Each failure (wrong server hash, status 00, DENY, silence, no SAFE_COOKIE offered)
  must close that connection only: the next connection through the same warren works.

Everything runs on loopback; every socket has a timeout and every warren is stopped by pid.
"""
import hashlib
import hmac
import json
import os
import queue
import re
import socket
import stat
import struct
import subprocess
import threading
import time

import pytest

from conftest import (WARREN, TcpServer, base_env, closed_by_peer, dead_port, echo_roundtrip_ok,
                      have_ipv6_loopback, recv_exact, run_warren, socks5_connect,
                      socks5_connect_rep)

COOKIE_HEADER = b"! Extended ORPort Auth Cookie !\x0a"
S2C = b"ExtORPort authentication server-to-client hash"
C2S = b"ExtORPort authentication client-to-server hash"
EXTOR_DEADLINE = 5.0            # warren's (goptlib's) limit for the whole ExtORPort exchange
NO_SUCH = "no such transport is supported"

ENV_ERROR_RC = 64
PROXY_ERROR_RC = 69


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------

def state_dir(tmp_path):
    # tor sends <DataDirectory>/pt_state/ with a trailing slash
    return str(tmp_path / "pt_state") + "/"


def client_env(tmp_path, transports="plain", **kw):
    env = {"TOR_PT_MANAGED_TRANSPORT_VER": "1",
           "TOR_PT_STATE_LOCATION": state_dir(tmp_path),
           "TOR_PT_CLIENT_TRANSPORTS": transports}
    env.update(kw)
    return env


def server_env(tmp_path, transports="plain", bindaddr=None, orport=None, **kw):
    env = {"TOR_PT_MANAGED_TRANSPORT_VER": "1",
           "TOR_PT_STATE_LOCATION": state_dir(tmp_path),
           "TOR_PT_SERVER_TRANSPORTS": transports,
           "TOR_PT_SERVER_BINDADDR": bindaddr or ",".join(
               "%s-127.0.0.1:0" % t for t in transports.split(","))}
    if orport:
        env["TOR_PT_ORPORT"] = "%s:%d" % orport
    env.update(kw)
    return env


def drop(env, *names):
    return {k: v for k, v in env.items() if k not in names}


def write_cookie(path, cookie=None, header=COOKIE_HEADER, extra=b""):
    cookie = cookie if cookie is not None else os.urandom(32)
    path.write_bytes(header + cookie + extra)
    return cookie


def hostport(addr):
    host, port = addr[:2]
    return ("[%s]:%d" if ":" in host else "%s:%d") % (host, port)


def raw_connect(addr, timeout=10):
    return socket.create_connection(addr[:2], timeout=timeout)


def assert_only_stdout(r, last_prefix):
    """A PT 1.0 fatal error: the error is the last stdout line, only VERSION 1 may precede it,
    and stderr carries no protocol line (tor only logs stderr at info)."""
    assert r.out_lines, r
    assert r.out_lines[-1].startswith(last_prefix + " "), r
    assert all(ln == "VERSION 1" for ln in r.out_lines[:-1]), r
    for ln in r.err_lines:
        assert not re.match(r"^(VERSION|ENV-ERROR|PROXY|CMETHOD|SMETHOD)", ln), r


# ---------------------------------------------------------------------------------------------
# VERSION
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("ver", ["1", "1,2", "2,1", "3.0,1"])
def test_version_1(warren, tmp_path, ver):
    w = warren([], env=client_env(tmp_path, TOR_PT_MANAGED_TRANSPORT_VER=ver))
    assert w.lines[0] == "VERSION 1", w.lines
    assert re.match(r"^CMETHOD plain socks5 127\.0\.0\.1:\d+$", w.lines[1]), w.lines
    assert w.lines[-1] == "CMETHODS DONE", w.lines
    # the state directory is made, 0700, with the trailing slash taken off
    st = os.stat(tmp_path / "pt_state")
    assert stat.S_ISDIR(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o700


def test_version_1_server(warren, tmp_path, echo_server):
    w = warren([], env=server_env(tmp_path, orport=echo_server.addr))
    assert w.lines[0] == "VERSION 1", w.lines
    assert re.match(r"^SMETHOD plain 127\.0\.0\.1:\d+$", w.lines[1]), w.lines
    assert w.lines[-1] == "SMETHODS DONE", w.lines
    assert echo_roundtrip_ok(raw_connect(w.addr))


@pytest.mark.parametrize("ver", ["2,3", "3.0", "2"])
def test_version_error(tmp_path, ver):
    r = run_warren([], env=client_env(tmp_path, TOR_PT_MANAGED_TRANSPORT_VER=ver))
    assert r.rc != 0, r
    assert r.out_lines == ["VERSION-ERROR no-version"], r
    assert "VERSION-ERROR" not in r.stderr, r


def test_ptversion_on_argv_means_pt3(warren, tmp_path):
    """-ptversion wins over TOR_PT_MANAGED_TRANSPORT_VER: PT 3.0, flags, no CMETHOD-ERROR for
    an unknown name (PT 3.0 skips it silently), the TOR_PT_* variables ignored."""
    env = client_env(tmp_path, transports="obfs4,bogus")
    w = warren(["-ptversion", "3.0", "-client", "-transports", "plain,bogus",
                "-proxylistenaddr", "127.0.0.1:0"], env=env)
    assert w.lines[0] == "VERSION 3.0", w.lines
    assert [ln.split()[:3] for ln in w.method_lines] == [["CMETHOD", "plain", "socks5"]]
    assert w.lines[-1] == "CMETHODS DONE", w.lines
    assert not any("ERROR" in ln for ln in w.lines), w.lines


def test_ptversion_on_argv_errors_go_to_stderr(tmp_path):
    """PT 3.0 chosen by -ptversion: TOR_PT_CLIENT_TRANSPORTS does not stand in for
    -transports, and the ENV-ERROR goes to stderr as PT 3.0 says."""
    r = run_warren(["-ptversion", "3.0", "-client", "-proxylistenaddr", "127.0.0.1:0"],
                   env=client_env(tmp_path))
    assert r.rc == ENV_ERROR_RC, r
    assert r.out_lines == ["VERSION 3.0"], r
    assert any(ln.startswith("ENV-ERROR ") for ln in r.err_lines), r


def test_empty_managed_transport_ver_is_not_pt1(warren, tmp_path):
    """notes R1: PT 1.0 only when TOR_PT_MANAGED_TRANSPORT_VER is non-empty; otherwise the
    command line (PT 3.0 with an implicit version)."""
    env = client_env(tmp_path, TOR_PT_MANAGED_TRANSPORT_VER="")
    w = warren(["-client", "-transports", "plain", "-proxylistenaddr", "127.0.0.1:0"], env=env,
               wait=False)
    first = w.next_line(timeout=10)
    assert first == "VERSION 3.0", (first, w.stderr_text())
    w.wait_done()


def test_environment_wins_over_exec_line_flags(warren, tmp_path, echo_server):
    """tor's exec line may carry flags; in PT 1.0 the environment decides the role and the
    transports (docs/pt-ipc-decisions.md), -logLevel and the like still apply."""
    w = warren(["-client", "-transports", "obfs4", "-logLevel", "DEBUG"],
               env=server_env(tmp_path, orport=echo_server.addr))
    assert w.lines[0] == "VERSION 1"
    assert [ln.split()[:2] for ln in w.method_lines] == [["SMETHOD", "plain"]], w.lines
    assert echo_roundtrip_ok(raw_connect(w.addr))


# ---------------------------------------------------------------------------------------------
# ENV-ERROR (Appendix A), all on stdout
# ---------------------------------------------------------------------------------------------

def _env_error_cases(tmp_path):
    c = client_env(tmp_path)
    s = server_env(tmp_path, orport=("127.0.0.1", 9))
    cookie = tmp_path / "cookie"
    write_cookie(cookie)
    ext = dict(drop(s, "TOR_PT_ORPORT"), TOR_PT_EXTENDED_SERVER_PORT="127.0.0.1:9")
    return {
        # (environment, the exact line obfs4proxy prints, or a regex for warren's own text)
        "both-transports-set": (dict(c, TOR_PT_SERVER_TRANSPORTS="plain",
                                     TOR_PT_SERVER_BINDADDR="plain-127.0.0.1:0",
                                     TOR_PT_ORPORT="127.0.0.1:9"),
                                "ENV-ERROR TOR_PT_[CLIENT,SERVER]_TRANSPORTS both set"),
        "neither-transports-set": (drop(c, "TOR_PT_CLIENT_TRANSPORTS"),
                                   re.compile(r"^ENV-ERROR .*TRANSPORTS")),
        "client-no-state": (drop(c, "TOR_PT_STATE_LOCATION"),
                            "ENV-ERROR no TOR_PT_STATE_LOCATION environment variable"),
        "client-empty-state": (dict(c, TOR_PT_STATE_LOCATION=""),
                               "ENV-ERROR no TOR_PT_STATE_LOCATION environment variable"),
        "server-no-state": (drop(s, "TOR_PT_STATE_LOCATION"),
                            "ENV-ERROR no TOR_PT_STATE_LOCATION environment variable"),
        "server-no-orport": (drop(s, "TOR_PT_ORPORT"),
                             "ENV-ERROR need TOR_PT_ORPORT or TOR_PT_EXTENDED_SERVER_PORT "
                             "environment variable"),
        "server-no-orport-empty-ext": (dict(drop(s, "TOR_PT_ORPORT"),
                                            TOR_PT_EXTENDED_SERVER_PORT=""),
                                       "ENV-ERROR need TOR_PT_ORPORT or "
                                       "TOR_PT_EXTENDED_SERVER_PORT environment variable"),
        "ext-without-cookie": (ext, "ENV-ERROR need TOR_PT_AUTH_COOKIE_FILE environment "
                                    "variable with TOR_PT_EXTENDED_SERVER_PORT"),
        "ext-with-empty-cookie": (dict(ext, TOR_PT_AUTH_COOKIE_FILE=""),
                                  "ENV-ERROR need TOR_PT_AUTH_COOKIE_FILE environment "
                                  "variable with TOR_PT_EXTENDED_SERVER_PORT"),
        "server-no-bindaddr": (drop(s, "TOR_PT_SERVER_BINDADDR"),
                               re.compile(r"^ENV-ERROR .*TOR_PT_SERVER_BINDADDR")),
        "options-no-colon": (dict(s, TOR_PT_SERVER_TRANSPORT_OPTIONS="obfs4"),
                             re.compile(r"^ENV-ERROR TOR_PT_SERVER_TRANSPORT_OPTIONS: .*obfs4")),
        "options-no-equals": (dict(s, TOR_PT_SERVER_TRANSPORT_OPTIONS="obfs4:iat-mode"),
                              re.compile(r"^ENV-ERROR TOR_PT_SERVER_TRANSPORT_OPTIONS")),
        "options-lone-backslash": (dict(s, TOR_PT_SERVER_TRANSPORT_OPTIONS="obfs4:k=v\\"),
                                   re.compile(r"^ENV-ERROR TOR_PT_SERVER_TRANSPORT_OPTIONS")),
        "outbound-v4-not-ipv4": (dict(c, TOR_PT_OUTBOUND_BIND_ADDRESS_V4="localhost"),
                                 re.compile(r"^ENV-ERROR TOR_PT_OUTBOUND_BIND_ADDRESS_V4")),
        "outbound-v6-not-ipv6": (dict(c, TOR_PT_OUTBOUND_BIND_ADDRESS_V6="127.0.0.1"),
                                 re.compile(r"^ENV-ERROR TOR_PT_OUTBOUND_BIND_ADDRESS_V6")),
    }


ENV_ERROR_CASES = ["both-transports-set", "neither-transports-set", "client-no-state",
                   "client-empty-state", "server-no-state", "server-no-orport",
                   "server-no-orport-empty-ext", "ext-without-cookie", "ext-with-empty-cookie",
                   "server-no-bindaddr", "options-no-colon", "options-no-equals",
                   "options-lone-backslash", "outbound-v4-not-ipv4", "outbound-v6-not-ipv6"]


@pytest.mark.parametrize("case", ENV_ERROR_CASES)
def test_env_error(tmp_path, case):
    env, want = _env_error_cases(tmp_path)[case]
    r = run_warren(["-logLevel", "DEBUG"], env=env)
    assert r.rc == ENV_ERROR_RC, r
    assert_only_stdout(r, "ENV-ERROR")
    if isinstance(want, str):
        assert r.out_lines[-1] == want, r
    else:
        assert want.search(r.out_lines[-1]), r


def _cookie_cases(tmp_path):
    d = tmp_path
    cases = {}
    for name, data in (("empty", b""),
                       ("63-bytes", COOKIE_HEADER + os.urandom(31)),
                       ("65-bytes", COOKIE_HEADER + os.urandom(33)),
                       ("32-bytes-header-only", COOKIE_HEADER),
                       ("wrong-header", b"! Extended ORPort Auth Cookie ?\x0a" + os.urandom(32)),
                       ("header-without-newline", COOKIE_HEADER[:-1] + b" " + os.urandom(32)),
                       ("4096-bytes", COOKIE_HEADER + os.urandom(4064))):
        p = d / ("cookie-" + name)
        p.write_bytes(data)
        cases[name] = str(p)
    cases["missing"] = str(d / "no-such-cookie")
    cases["directory"] = str(d)
    return cases


COOKIE_CASES = ["empty", "63-bytes", "65-bytes", "32-bytes-header-only", "wrong-header",
                "header-without-newline", "4096-bytes", "missing", "directory"]


@pytest.mark.parametrize("case", COOKIE_CASES)
def test_bad_cookie_file_is_env_error_at_start(tmp_path, case):
    """warren reads the cookie once at start (docs/pt-ipc-decisions.md); a bad one is an
    ENV-ERROR then, with no SMETHOD printed."""
    path = _cookie_cases(tmp_path)[case]
    env = server_env(tmp_path, TOR_PT_EXTENDED_SERVER_PORT="127.0.0.1:9",
                     TOR_PT_AUTH_COOKIE_FILE=path)
    r = run_warren([], env=env)
    assert r.rc == ENV_ERROR_RC, r
    assert_only_stdout(r, "ENV-ERROR")
    assert "cookie" in r.out_lines[-1].lower(), r


def test_bad_cookie_file_pt3_flags(tmp_path):
    """The same check for -authcookie in PT 3.0 (the error on stderr there)."""
    bad = tmp_path / "cookie"
    bad.write_bytes(COOKIE_HEADER + os.urandom(31))
    r = run_warren(["-server", "-transports", "plain", "-bindaddr", "plain-127.0.0.1:0",
                    "-extorport", "127.0.0.1:9", "-authcookie", str(bad)])
    assert r.rc == ENV_ERROR_RC, r
    assert r.out_lines == ["VERSION 3.0"], r
    assert any(ln.startswith("ENV-ERROR ") and "cookie" in ln.lower() for ln in r.err_lines), r


# ---------------------------------------------------------------------------------------------
# TOR_PT_PROXY (Appendix A)
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("uri,want", [
    ("ftp://127.0.0.1:21", re.compile(r"^PROXY-ERROR .*scheme")),
    ("socks4a://user:pass@127.0.0.1:1080", re.compile(r"^PROXY-ERROR .*(SOCKS4a|socks4a)")),
    ("socks5://proxy.example:1080", re.compile(r"^PROXY-ERROR .*(host|IP|address)")),
    ("socks5://127.0.0.1", re.compile(r"^PROXY-ERROR ")),
    ("http://127.0.0.1:99999", re.compile(r"^PROXY-ERROR ")),
])
def test_proxy_error_on_stdout(tmp_path, uri, want):
    r = run_warren([], env=client_env(tmp_path, TOR_PT_PROXY=uri))
    assert r.rc == PROXY_ERROR_RC, r
    assert_only_stdout(r, "PROXY-ERROR")
    assert want.search(r.out_lines[-1]), r


def test_proxy_done_order(warren, tmp_path):
    w = warren([], env=client_env(tmp_path, TOR_PT_PROXY="socks5://127.0.0.1:1080"))
    kinds = [ln.split()[0] for ln in w.lines]
    assert w.lines[:2] == ["VERSION 1", "PROXY DONE"], w.lines
    assert kinds[2:] == ["CMETHOD", "CMETHODS"], w.lines


def socks5_auth_stub(server, sock, peer):
    """A SOCKS5 proxy that requires RFC 1929 user/password, records what it got, and on
    CONNECT dials the destination and relays (one thread per direction)."""
    head = recv_exact(sock, 2)
    methods = recv_exact(sock, head[1])
    if 2 not in methods:
        sock.sendall(b"\x05\xff")
        server.results.put(("methods", methods))
        return
    sock.sendall(b"\x05\x02")
    _, ulen = recv_exact(sock, 2)
    user = recv_exact(sock, ulen)
    pw = recv_exact(sock, recv_exact(sock, 1)[0])
    server.results.put(("auth", user, pw))
    if (user, pw) != server.creds:
        sock.sendall(b"\x01\x01")
        return
    sock.sendall(b"\x01\x00")
    _, cmd, _, atyp = recv_exact(sock, 4)
    assert atyp == 1, atyp
    host = socket.inet_ntoa(recv_exact(sock, 4))
    port = struct.unpack(">H", recv_exact(sock, 2))[0]
    server.results.put(("connect", host, port))
    up = socket.create_connection((host, port), timeout=10)
    sock.sendall(b"\x05\x00\x00\x01\x7f\x00\x00\x01\x00\x00")

    def pump(a, b):
        try:
            while True:
                d = a.recv(65536)
                if not d:
                    break
                b.sendall(d)
            b.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    t = threading.Thread(target=pump, args=(up, sock), daemon=True)
    t.start()
    pump(sock, up)
    t.join(timeout=20)
    up.close()


@pytest.mark.parametrize("password", ["pass:word", "p%41ss:w:x"])
def test_tor_pt_proxy_password_with_colon(warren, tmp_path, echo_server, password):
    """tor writes TOR_PT_PROXY's userinfo as is (notes §2.1): split at the first ':', no
    percent-decoding. The proxy sees exactly that user and password."""
    px = TcpServer(socks5_auth_stub)
    px.creds = (b"user1", password.encode())
    try:
        srv = warren(["-server", "-transports", "plain", "-bindaddr", "plain-127.0.0.1:0",
                      "-target", hostport(echo_server.addr)], name="server")
        uri = "socks5://user1:%s@127.0.0.1:%d" % (password, px.addr[1])
        cli = warren([], env=client_env(tmp_path, TOR_PT_PROXY=uri), name="client")
        assert cli.lines[:2] == ["VERSION 1", "PROXY DONE"], cli.lines
        assert echo_roundtrip_ok(socks5_connect(cli.addr, srv.addr))
        got = []
        while not px.results.empty():
            got.append(px.results.get())
        assert ("auth", b"user1", password.encode()) in got, got
        assert ("connect", "127.0.0.1", srv.addr[1]) in got, got
    finally:
        px.close()


# ---------------------------------------------------------------------------------------------
# Unknown transports
# ---------------------------------------------------------------------------------------------

def test_unknown_client_transport_cmethod_error(warren, tmp_path):
    w = warren([], env=client_env(tmp_path, transports="plain,bogus,obfs4"))
    assert w.lines[0] == "VERSION 1"
    assert re.match(r"^CMETHOD plain socks5 127\.0\.0\.1:\d+$", w.lines[1]), w.lines
    assert w.lines[2] == "CMETHOD-ERROR bogus " + NO_SUCH, w.lines
    assert re.match(r"^CMETHOD obfs4 socks5 127\.0\.0\.1:\d+$", w.lines[3]), w.lines
    assert w.lines[4:] == ["CMETHODS DONE"], w.lines
    assert "ERROR" not in w.stderr_text().replace("DEBUG", "")


def test_unknown_server_transport_smethod_error(warren, tmp_path, echo_server):
    env = server_env(tmp_path, transports="bogus,plain", orport=echo_server.addr)
    w = warren([], env=env)
    assert w.lines[0] == "VERSION 1"
    assert w.lines[1] == "SMETHOD-ERROR bogus " + NO_SUCH, w.lines
    assert re.match(r"^SMETHOD plain 127\.0\.0\.1:\d+$", w.lines[2]), w.lines
    assert w.lines[3:] == ["SMETHODS DONE"], w.lines
    assert echo_roundtrip_ok(raw_connect(w.addr))


def test_star_transports(warren, tmp_path):
    """TOR_PT_CLIENT_TRANSPORTS=* starts every client transport; no `*` error line, and every
    CMETHOD says socks5 (tor rejects other proxy types)."""
    w = warren([], env=client_env(tmp_path, transports="*"))
    names = [ln.split()[1] for ln in w.method_lines]
    assert "plain" in names and "obfs4" in names, w.lines
    assert all(ln.split()[2] == "socks5" for ln in w.method_lines), w.lines
    assert not any(ln.startswith("CMETHOD-ERROR *") for ln in w.lines), w.lines


# ---------------------------------------------------------------------------------------------
# TOR_PT_EXIT_ON_STDIN_CLOSE
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("side", ["client", "server"])
def test_exit_on_stdin_close(warren, tmp_path, side):
    env = (client_env(tmp_path) if side == "client"
           else server_env(tmp_path, orport=("127.0.0.1", 9)))
    env["TOR_PT_EXIT_ON_STDIN_CLOSE"] = "1"
    w = warren([], env=env)
    time.sleep(0.2)
    assert w.alive()
    w.close_stdin()
    rc = w.wait(timeout=5)
    assert rc == 0, (rc, w.stderr_text())


@pytest.mark.parametrize("value", [None, "0", ""])
def test_stdin_close_ignored_without_the_variable(warren, tmp_path, value):
    env = client_env(tmp_path)
    if value is not None:
        env["TOR_PT_EXIT_ON_STDIN_CLOSE"] = value
    w = warren([], env=env)
    w.close_stdin()
    time.sleep(1.5)
    assert w.alive(), "exited with %r after stdin closed, without TOR_PT_EXIT_ON_STDIN_CLOSE=1" \
        % w.proc.poll()
    rep = socks5_connect_rep(w.addr, ("127.0.0.1", dead_port()))
    assert rep == 0x05    # still serving (the destination refuses)


def test_exit_on_stdin_close_with_stdin_at_eof_from_the_start(tmp_path):
    """stdin that is /dev/null is closed from the start: with TOR_PT_EXIT_ON_STDIN_CLOSE=1
    warren must exit 0 at once (warren.c means to: "A file or /dev/null cannot be polled")."""
    env = base_env(client_env(tmp_path, TOR_PT_EXIT_ON_STDIN_CLOSE="1"))
    with open(os.devnull, "rb") as devnull:
        p = subprocess.Popen([WARREN], stdin=devnull, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, env=env)
        try:
            out, err = p.communicate(timeout=5)
        except subprocess.TimeoutExpired:
            os.kill(p.pid, 9)
            out, err = p.communicate(timeout=5)
            pytest.fail("still running 5 s after start with stdin=/dev/null; stdout %r stderr %r"
                        % (out, err))
    assert p.returncode == 0, (p.returncode, out, err)
    assert b"Epoll" not in err, err


# ---------------------------------------------------------------------------------------------
# Server: ORPORT and an empty TOR_PT_EXTENDED_SERVER_PORT
# ---------------------------------------------------------------------------------------------

def test_empty_extended_server_port_means_orport(warren, tmp_path, echo_server):
    env = server_env(tmp_path, orport=echo_server.addr, TOR_PT_EXTENDED_SERVER_PORT="",
                     TOR_PT_AUTH_COOKIE_FILE="")
    w = warren([], env=env)
    assert w.lines[0] == "VERSION 1"
    assert echo_roundtrip_ok(raw_connect(w.addr))
    assert echo_server.accepted == 1


def test_server_bindaddr_fixed_port_and_two_transports(warren, tmp_path, echo_server):
    """TOR_PT_SERVER_BINDADDR as tor writes it with ServerTransportListenAddr, two transports."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    env = server_env(tmp_path, transports="plain,obfs4", orport=echo_server.addr,
                     bindaddr="plain-127.0.0.1:%d,obfs4-127.0.0.1:0" % port)
    w = warren([], env=env)
    assert w.methods["plain"] == ("127.0.0.1", port), w.lines
    assert re.match(r"^SMETHOD obfs4 127\.0\.0\.1:\d+ ARGS:cert=[A-Za-z0-9+/]+,iat-mode=0$",
                    w.method_lines[1]), w.lines
    assert echo_roundtrip_ok(raw_connect(w.methods["plain"]))


# ---------------------------------------------------------------------------------------------
# TOR_PT_SERVER_TRANSPORT_OPTIONS
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("iat", ["1", "2"])
def test_server_transport_options_iat_mode(warren, tmp_path, echo_server, iat):
    env = server_env(tmp_path, transports="obfs4", orport=echo_server.addr,
                     TOR_PT_SERVER_TRANSPORT_OPTIONS="obfs4:iat-mode=%s" % iat)
    w = warren([], env=env)
    assert re.match(r"^SMETHOD obfs4 127\.0\.0\.1:\d+ ARGS:cert=[A-Za-z0-9+/]+,iat-mode=%s$"
                    % iat, w.method_lines[0]), w.lines
    bl = (tmp_path / "pt_state" / "obfs4_bridgeline.txt").read_text()
    assert re.search(r"cert=\S+ iat-mode=%s" % iat, bl), bl


def test_server_transport_options_bad_value_is_smethod_error(warren, tmp_path, echo_server):
    env = server_env(tmp_path, transports="obfs4,plain", orport=echo_server.addr,
                     TOR_PT_SERVER_TRANSPORT_OPTIONS="obfs4:iat-mode=7")
    w = warren([], env=env)
    assert w.lines[1].startswith("SMETHOD-ERROR obfs4 "), w.lines
    assert w.lines[2].startswith("SMETHOD plain "), w.lines


def test_server_transport_options_escaping_reaches_transport(warren, tmp_path, echo_server):
    """tor escapes '\\', ':' and ';' (not '='): `ServerTransportOptions shadow
    password=a:b;c\\d=e` becomes `shadow:password=a\\:b\\;c\\\\d=e`. A Shadowsocks client with
    the unescaped password gets through, so the transport got exactly that password (a wrong
    one gets silence)."""
    password = "a:b;c\\d=e"
    opts = "shadow:cipherName=aes-128-gcm;shadow:password=a\\:b\\;c\\\\d=e"
    srv = warren([], env=server_env(tmp_path, transports="shadow", orport=echo_server.addr,
                                    TOR_PT_SERVER_TRANSPORT_OPTIONS=opts), name="server")
    assert srv.method_lines[0].startswith("SMETHOD shadow 127.0.0.1:"), srv.lines
    cli = warren(["-client", "-transports", "shadow", "-proxylistenaddr", "127.0.0.1:0",
                  "-options", json.dumps({"shadow": {"password": password,
                                                     "cipherName": "aes-128-gcm"}})],
                 name="client")
    assert echo_roundtrip_ok(socks5_connect(cli.addr, srv.addr))


# ---------------------------------------------------------------------------------------------
# LOG and STATUS lines in tor's form
# ---------------------------------------------------------------------------------------------

LOG_RE = re.compile(r'^LOG SEVERITY=(error|warning|notice|info|debug) MESSAGE="(?:[^"\\]|\\.)*"$')


def test_log_lines_in_tor_form(warren, tmp_path):
    w = warren(["-ipcLogLevel", "DEBUG"], env=client_env(tmp_path))
    logs = [ln for ln in w.lines if ln.startswith("LOG")]
    assert logs, w.lines
    for ln in logs:
        assert LOG_RE.match(ln), ln
    assert any(ln.startswith('LOG SEVERITY=info MESSAGE="plain client (socks5) listening on')
               for ln in logs), logs


def test_log_warning_severity(warren, tmp_path):
    """A WARN event (the ORPort does not answer) becomes SEVERITY=warning."""
    w = warren(["-ipcLogLevel", "WARN"], env=server_env(tmp_path,
                                                        orport=("127.0.0.1", dead_port())))
    assert not any(ln.startswith("LOG") for ln in w.lines), w.lines   # nothing at WARN yet
    try:
        c = raw_connect(w.addr)
    except ConnectionResetError:
        pass            # warren reset it before connect() looked (the ORPort is down)
    else:
        assert closed_by_peer(c, timeout=10)
        c.close()
    line = w.expect("LOG", timeout=10)
    assert LOG_RE.match(line) and line.startswith("LOG SEVERITY=warning "), line


def test_loglevel_alone_keeps_stdout_clean(warren, tmp_path):
    """-logLevel is the human log (stderr); only -ipcLogLevel makes LOG lines."""
    w = warren(["-logLevel", "DEBUG"], env=client_env(tmp_path))
    rep = socks5_connect_rep(w.addr, ("127.0.0.1", dead_port()))
    assert rep != 0
    w.expect("STATUS", timeout=10)
    assert not any(ln.startswith("LOG") for ln in w.stdout_lines_after(0.3)), w.lines
    assert "plain client (socks5) listening on" in w.stderr_text()


def test_status_success_and_failure(warren, tmp_path, echo_server):
    srv = warren(["-server", "-transports", "plain", "-bindaddr", "plain-127.0.0.1:0",
                  "-target", hostport(echo_server.addr)], name="server")
    cli = warren([], env=client_env(tmp_path), name="client")
    assert echo_roundtrip_ok(socks5_connect(cli.addr, srv.addr))
    line = cli.expect("STATUS", timeout=10)
    assert line == "STATUS TRANSPORT=plain ADDRESS=%s CONNECT=Success" % hostport(srv.addr), line

    dead = dead_port()
    rep = socks5_connect_rep(cli.addr, ("127.0.0.1", dead))
    assert rep == 0x05, rep         # connection refused
    line = cli.expect("STATUS", timeout=10)
    m = re.match(r'^STATUS TRANSPORT=plain ADDRESS=127\.0\.0\.1:%d CONNECT=Failed '
                 r'ERRSTR="([^"\\]+)"$' % dead, line)
    assert m, line


def test_status_failure_obfs4_bad_bridge(warren, tmp_path, counting_listener):
    """obfs4 towards something that never answers the handshake: CONNECT=Failed with a
    reason (WARREN_HANDSHAKE_TIMEOUT keeps it short)."""
    cert = "AAECAwQFBgcICQoLDA0ODxAREhOKMc6ZPldnF756NgqQ5QGUXcfS5S7VxRylYZB/b+o3KQ"
    env = client_env(tmp_path, transports="obfs4", WARREN_HANDSHAKE_TIMEOUT="2")
    cli = warren([], env=env)
    s = socket.create_connection(cli.addr, timeout=15)
    try:
        s.sendall(b"\x05\x01\x02")
        assert recv_exact(s, 2) == b"\x05\x02"
        u = ("cert=%s;iat-mode=0" % cert).encode()
        s.sendall(b"\x01" + bytes([len(u)]) + u + b"\x01\x00")
        assert recv_exact(s, 2) == b"\x01\x00"
        host, port = counting_listener.addr
        s.sendall(b"\x05\x01\x00\x01" + socket.inet_aton(host) + struct.pack(">H", port))
        rep = recv_exact(s, 10)
        assert rep[1] != 0, rep
    finally:
        s.close()
    line = cli.expect("STATUS", timeout=10)
    assert re.match(r'^STATUS TRANSPORT=obfs4 ADDRESS=127\.0\.0\.1:%d CONNECT=Failed '
                    r'ERRSTR="[^"\\]+"$' % counting_listener.addr[1], line), line


# ---------------------------------------------------------------------------------------------
# TOR_PT_OUTBOUND_BIND_ADDRESS_V4 / _V6
# ---------------------------------------------------------------------------------------------

def _peer_recorder(server, sock, peer):
    server.results.put(peer)
    try:
        while True:
            d = sock.recv(65536)
            if not d:
                break
            sock.sendall(d)
    except OSError:
        pass


def test_outbound_bind_server_to_orport(warren, tmp_path, tcp_server):
    target = tcp_server(_peer_recorder)
    env = server_env(tmp_path, orport=target.addr, TOR_PT_OUTBOUND_BIND_ADDRESS_V4="127.0.0.5")
    w = warren([], env=env)
    assert echo_roundtrip_ok(raw_connect(w.addr))
    assert target.results.get(timeout=5)[0] == "127.0.0.5"


def test_outbound_bind_client_to_bridge(warren, tmp_path, tcp_server):
    bridge = tcp_server(_peer_recorder)
    env = client_env(tmp_path, TOR_PT_OUTBOUND_BIND_ADDRESS_V4="127.0.0.5")
    w = warren([], env=env)
    assert echo_roundtrip_ok(socks5_connect(w.addr, bridge.addr))
    assert bridge.results.get(timeout=5)[0] == "127.0.0.5"


def test_outbound_bind_v6_bracketed(warren, tmp_path, tcp_server):
    """tor brackets the V6 address ([::1]); IPv4 connections are not affected by it."""
    target = tcp_server(_peer_recorder)
    env = server_env(tmp_path, orport=target.addr, TOR_PT_OUTBOUND_BIND_ADDRESS_V6="[::1]")
    w = warren([], env=env)
    assert echo_roundtrip_ok(raw_connect(w.addr))
    assert target.results.get(timeout=5)[0] == "127.0.0.1"
    if have_ipv6_loopback():
        t6 = tcp_server(_peer_recorder, host="::1")
        env6 = server_env(tmp_path, orport=None, TOR_PT_OUTBOUND_BIND_ADDRESS_V6="[::1]",
                          TOR_PT_ORPORT="[::1]:%d" % t6.addr[1])
        w6 = warren([], env=env6, name="v6")
        assert echo_roundtrip_ok(raw_connect(w6.addr))
        assert t6.results.get(timeout=5)[0] == "::1"


def _outside_ipv4():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.connect(("192.0.2.1", 9))       # no packet is sent
        ip = s.getsockname()[0]
    except OSError:
        return None
    finally:
        s.close()
    return None if ip.startswith("127.") else ip


def test_outbound_bind_outside_address_not_forced_onto_loopback(warren, tmp_path, tcp_server):
    """An operator's outside address as OutboundBindAddressPT must not be used towards a
    loopback ORPort (docs/pt-ipc-decisions.md): the ORPort sees 127.0.0.1."""
    ip = _outside_ipv4()
    if not ip:
        pytest.skip("this host has no non-loopback IPv4 address")
    target = tcp_server(_peer_recorder)
    env = server_env(tmp_path, orport=target.addr, TOR_PT_OUTBOUND_BIND_ADDRESS_V4=ip)
    w = warren([], env=env)
    assert echo_roundtrip_ok(raw_connect(w.addr))
    assert target.results.get(timeout=5)[0] == "127.0.0.1"


# ---------------------------------------------------------------------------------------------
# The Extended ORPort stub (tor's side, byte-exact)
# ---------------------------------------------------------------------------------------------

def hmac256(key, *parts):
    return hmac.new(key, b"".join(parts), hashlib.sha256).digest()


def _read_cmd(sock):
    head = recv_exact(sock, 4)
    cmd, ln = struct.unpack(">HH", head)
    return cmd, recv_exact(sock, ln)


def _rest_until_eof(sock, timeout):
    """(bytes received, True if EOF/reset came, seconds waited)."""
    t0 = time.monotonic()
    sock.settimeout(timeout)
    got = b""
    try:
        while time.monotonic() - t0 < timeout:
            d = sock.recv(65536)
            if not d:
                return got, True, time.monotonic() - t0
            got += d
    except (ConnectionResetError, BrokenPipeError):
        return got, True, time.monotonic() - t0
    except socket.timeout:
        pass
    return got, False, time.monotonic() - t0


class ExtOrStub:
    """tor's Extended ORPort. `behaviours` is consumed one per connection ("good" after it is
    exhausted). Each connection's observations go to .obs (a queue of dicts)."""

    def __init__(self, cookie, behaviours=(), host="127.0.0.1"):
        self.cookie = cookie
        self.behaviours = list(behaviours)
        self.lock = threading.Lock()
        self.obs = queue.Queue()
        self.server = TcpServer(self._handle, host=host, sock_timeout=20)
        self.addr = self.server.addr

    def close(self):
        self.server.close()

    def next_obs(self, timeout=15):
        return self.obs.get(timeout=timeout)

    def _handle(self, server, sock, peer):
        with self.lock:
            b = self.behaviours.pop(0) if self.behaviours else "good"
        o = {"behaviour": b, "commands": [], "t_accept": time.monotonic()}
        try:
            self._run(sock, b, o)
        except Exception as e:  # noqa: BLE001 - reported through the observation
            o["exception"] = repr(e)
        finally:
            self.obs.put(o)

    def _run(self, sock, b, o):
        if b == "silent":
            o["after"], o["eof"], o["waited"] = _rest_until_eof(sock, EXTOR_DEADLINE + 5)
            return
        auth_types = {"no-type-1": b"\x02\x00", "no-types": b"\x00"}.get(b, b"\x01\x00")
        sock.sendall(auth_types)
        if b in ("no-type-1", "no-types"):
            o["after"], o["eof"], o["waited"] = _rest_until_eof(sock, EXTOR_DEADLINE + 3)
            return
        o["auth_type"] = recv_exact(sock, 1)
        cn = recv_exact(sock, 32)
        o["client_nonce"] = cn
        sn = os.urandom(32)
        sh = hmac256(self.cookie, S2C, cn, sn)
        if b == "wrong-hash":
            sh = bytes([sh[0] ^ 1]) + sh[1:]
        sock.sendall(sh + sn)
        if b == "wrong-hash":
            o["after"], o["eof"], o["waited"] = _rest_until_eof(sock, EXTOR_DEADLINE + 3)
            return
        ch = recv_exact(sock, 32)
        o["client_hash_ok"] = ch == hmac256(self.cookie, C2S, cn, sn)
        if b == "status-0" or not o["client_hash_ok"]:
            sock.sendall(b"\x00")
            o["after"], o["eof"], o["waited"] = _rest_until_eof(sock, EXTOR_DEADLINE + 3)
            return
        sock.sendall(b"\x01")
        for _ in range(16):
            cmd, body = _read_cmd(sock)
            o["commands"].append((cmd, body))
            if cmd == 0x0000:
                break
        if b == "deny":
            sock.sendall(b"\x10\x01\x00\x00")
            o["after"], o["eof"], o["waited"] = _rest_until_eof(sock, EXTOR_DEADLINE + 3)
            return
        # Nothing of the client's data may arrive before OKAY.
        o["before_okay"], o["eof_before_okay"], _ = _rest_until_eof(sock, 0.3)
        pre = {"unknown-0003": b"\x00\x03\x00\x04abcd",
               "control-1002": b"\x10\x02\x00\x02hi",
               "unknown-0003-empty": b"\x00\x03\x00\x00"}.get(b, b"")
        greeting = b"tor speaks first " if b == "okay-with-data" else b""
        sock.sendall(pre + b"\x10\x00\x00\x00" + greeting)
        o["okay_sent"] = True
        # echo until EOF
        sock.settimeout(15)
        while True:
            try:
                d = sock.recv(65536)
            except (ConnectionResetError, socket.timeout):
                break
            if not d:
                break
            o.setdefault("echoed", b"")
            o["echoed"] += d
            sock.sendall(d)
        try:
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass


@pytest.fixture
def cookie_file(tmp_path):
    path = tmp_path / "extended_orport_auth_cookie"
    cookie = write_cookie(path)
    return path, cookie


@pytest.fixture
def extor(cookie_file):
    stubs = []

    def make(behaviours=(), host="127.0.0.1"):
        s = ExtOrStub(cookie_file[1], behaviours, host=host)
        stubs.append(s)
        return s

    yield make
    for s in stubs:
        s.close()


def extor_server(warren, tmp_path, stub, cookie_path, how="flags", name="server",
                 bind="127.0.0.1:0"):
    if how == "flags":
        return warren(["-server", "-transports", "plain", "-bindaddr", "plain-" + bind,
                       "-extorport", hostport(stub.addr), "-authcookie", str(cookie_path),
                       "-logLevel", "DEBUG"], name=name)
    env = server_env(tmp_path, bindaddr="plain-" + bind,
                     TOR_PT_EXTENDED_SERVER_PORT=hostport(stub.addr),
                     TOR_PT_AUTH_COOKIE_FILE=str(cookie_path))
    if how == "env+orport":
        env["TOR_PT_ORPORT"] = "127.0.0.1:%d" % dead_port()
    return warren(["-logLevel", "DEBUG"], env=env, name=name)


def useraddr_of(client_sock):
    """What USERADDR must say for this client: its own address and port, as the server sees
    them."""
    return hostport(client_sock.getsockname())


def assert_good_session(o, useraddr, transport="plain"):
    assert "exception" not in o, o
    assert o["auth_type"] == b"\x01", o
    assert o["client_hash_ok"], o
    assert o["commands"] == [(0x0001, useraddr.encode()), (0x0002, transport.encode()),
                             (0x0000, b"")], o["commands"]
    assert o["before_okay"] == b"" and not o["eof_before_okay"], o


@pytest.mark.parametrize("how", ["flags", "env", "env+orport"])
def test_extorport_good_session(warren, tmp_path, extor, cookie_file, how):
    """SAFE_COOKIE, USERADDR = the client's real address and port, TRANSPORT = the method
    name, DONE; the client's early bytes wait for OKAY and then arrive; replies come back. With
    TOR_PT_ORPORT set too, the ExtORPort is used."""
    stub = extor()
    w = extor_server(warren, tmp_path, stub, cookie_file[0], how=how)
    if how != "flags":
        assert w.lines[0] == "VERSION 1"
    c = raw_connect(w.addr)
    ua = useraddr_of(c)
    payload = os.urandom(3000)
    c.sendall(payload)              # before tor's OKAY: warren must hold it
    got = recv_exact(c, len(payload))
    assert got == payload
    assert echo_roundtrip_ok(c, close=False)
    c.shutdown(socket.SHUT_WR)
    assert closed_by_peer(c, timeout=10)
    o = stub.next_obs()
    assert_good_session(o, ua)
    c.close()
    assert stub.server.accepted == 1


def test_extorport_useraddr_ipv6_port(warren, tmp_path, extor, cookie_file):
    if not have_ipv6_loopback():
        pytest.skip("no IPv6 loopback")
    stub = extor()
    w = extor_server(warren, tmp_path, stub, cookie_file[0], bind="[::1]:0")
    c = socket.create_connection(w.addr, timeout=10)
    port = c.getsockname()[1]
    assert echo_roundtrip_ok(c, close=False)
    c.close()
    o = stub.next_obs()
    assert o["commands"][0] == (0x0001, b"[::1]:%d" % port), o["commands"]


def test_extorport_data_after_okay_in_the_same_segment(warren, tmp_path, extor, cookie_file):
    """tor may send relay bytes right behind OKAY: they reach the client."""
    stub = extor(["okay-with-data"])
    w = extor_server(warren, tmp_path, stub, cookie_file[0])
    c = raw_connect(w.addr)
    ua = useraddr_of(c)
    assert recv_exact(c, len(b"tor speaks first ")) == b"tor speaks first "
    assert echo_roundtrip_ok(c, close=False)
    c.close()
    assert_good_session(stub.next_obs(), ua)


def test_extorport_bulk(warren, tmp_path, extor, cookie_file):
    """4 MiB each way through the ExtORPort session, intact."""
    stub = extor()
    w = extor_server(warren, tmp_path, stub, cookie_file[0])
    c = raw_connect(w.addr, timeout=30)
    data = os.urandom(4 << 20)
    got = bytearray()

    def reader():
        while len(got) < len(data):
            d = c.recv(1 << 18)
            if not d:
                break
            got.extend(d)

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    c.sendall(data)
    t.join(timeout=30)
    assert hashlib.sha256(got).hexdigest() == hashlib.sha256(data).hexdigest(), len(got)
    c.close()


@pytest.mark.parametrize("behaviour", ["unknown-0003", "unknown-0003-empty", "control-1002"])
def test_extorport_unknown_command_before_okay_is_skipped(warren, tmp_path, extor, cookie_file,
                                                          behaviour):
    stub = extor([behaviour])
    w = extor_server(warren, tmp_path, stub, cookie_file[0])
    c = raw_connect(w.addr)
    ua = useraddr_of(c)
    assert echo_roundtrip_ok(c, close=False)
    c.close()
    assert_good_session(stub.next_obs(), ua)


FAILURES = {
    # behaviour: (what warren may send after the stub's last message, max seconds to close)
    "wrong-hash": (b"", 3.0),           # nothing after its nonce: no client hash
    "status-0": (b"", 3.0),             # no USERADDR etc. after a failed status
    "deny": (b"", 3.0),
    "no-type-1": (b"", 3.0),            # offers only type 2: warren must not choose
    "no-types": (b"", 3.0),             # an empty list
    "silent": (b"", EXTOR_DEADLINE + 2.0),
}


@pytest.mark.parametrize("behaviour", sorted(FAILURES))
def test_extorport_failure_closes_only_that_connection(warren, tmp_path, extor, cookie_file,
                                                       behaviour):
    after_ok, max_close = FAILURES[behaviour]
    stub = extor([behaviour])
    w = extor_server(warren, tmp_path, stub, cookie_file[0])
    c = raw_connect(w.addr)
    c.sendall(b"early client bytes")
    o = stub.next_obs(timeout=max_close + 10)
    assert "exception" not in o, o
    assert o["eof"], "warren kept the ExtORPort connection open %.1f s (%s); got %r" \
        % (o["waited"], behaviour, o["after"])
    assert o["after"] == after_ok, "warren sent %r after the stub's %s" % (o["after"], behaviour)
    assert o["waited"] <= max_close, "closed only after %.1f s" % o["waited"]
    if behaviour == "silent":
        assert o["waited"] >= EXTOR_DEADLINE - 1.5, \
            "closed after %.1f s, before the %.0f s deadline" % (o["waited"], EXTOR_DEADLINE)
    if behaviour in ("wrong-hash", "no-type-1", "no-types"):
        # with a wrong server hash / no SAFE_COOKIE warren must never send its client hash
        assert "client_hash_ok" not in o
    if behaviour in ("no-type-1", "no-types"):
        assert "auth_type" not in o
    if behaviour == "deny":
        assert [cmd for cmd, _ in o["commands"]] == [0x0001, 0x0002, 0x0000], o
    # the client's connection is closed too, without a byte of reply
    got, eof, _ = _rest_until_eof(c, 5)
    assert eof and got == b"", (got, eof)
    c.close()
    # ... and the next connection works
    c2 = raw_connect(w.addr)
    ua = useraddr_of(c2)
    assert echo_roundtrip_ok(c2, close=False)
    c2.close()
    assert_good_session(stub.next_obs(), ua)
    assert w.alive()


def test_extorport_down_closes_client(warren, tmp_path, cookie_file):
    """An ExtORPort that refuses: the client's connection is closed, warren keeps serving."""
    path = cookie_file[0]
    port = dead_port()
    w = warren(["-server", "-transports", "plain", "-bindaddr", "plain-127.0.0.1:0",
                "-extorport", "127.0.0.1:%d" % port, "-authcookie", str(path)])
    for _ in range(3):
        try:
            c = raw_connect(w.addr)
        except ConnectionResetError:
            continue        # reset before connect() looked: closed, as it should be
        got, eof, _ = _rest_until_eof(c, 8)
        assert eof and got == b""
        c.close()
    assert w.alive()


def test_extorport_concurrent_sessions(warren, tmp_path, extor, cookie_file):
    """Several clients at once, one of them against a silent stub connection: the others are
    not held up by it."""
    stub = extor(["silent"])
    w = extor_server(warren, tmp_path, stub, cookie_file[0])
    stuck = raw_connect(w.addr)
    time.sleep(0.2)                     # the silent one is the first stub connection
    t0 = time.monotonic()
    socks = [raw_connect(w.addr) for _ in range(8)]
    for s in socks:
        assert echo_roundtrip_ok(s, close=False)
    assert time.monotonic() - t0 < 3.0
    for s in socks:
        s.close()
    stuck.close()
