"""The IPC protocol and flag handling of warren (seed 004 §1.1-1.2; notes pt-ipc §1.1, §1.2)."""
import os
import signal
import socket
import stat
import time
from pathlib import Path

import pytest

from conftest import (CLIENT_ARGS, echo_roundtrip_ok, run_warren, server_args,
                      socks5_connect)

PLAIN = ["-transports", "plain"]
LISTEN = ["-proxylistenaddr", "127.0.0.1:0"]
SERVER = ["-server", "-transports", "plain", "-bindaddr", "plain-127.0.0.1:0",
          "-target", "127.0.0.1:9"]

PROTOCOL_KEYWORDS = ("VERSION", "VERSION-ERROR", "ENV-ERROR", "PROXY", "PROXY-ERROR", "CMETHOD",
                     "CMETHODS", "CMETHOD-ERROR", "SMETHOD", "SMETHODS", "SMETHOD-ERROR", "LOG")


def protocol_lines(lines):
    return [ln for ln in lines if ln.split(" ", 1)[0] in PROTOCOL_KEYWORDS]


# ---------------------------------------------------------------------------------------------
# VERSION and -ptversion
# ---------------------------------------------------------------------------------------------

def test_version_is_first_line(warren):
    w = warren(["-client"] + PLAIN + LISTEN)
    assert w.lines[0] == "VERSION 3.0"
    assert w.lines[-1] == "CMETHODS DONE"
    assert len(w.method_lines) == 1
    assert w.method_lines[0].startswith("CMETHOD plain socks5 127.0.0.1:")


def test_server_version_first_and_smethod(warren):
    w = warren(SERVER)
    assert w.lines[0] == "VERSION 3.0"
    assert w.lines[-1] == "SMETHODS DONE"
    assert w.method_lines[0].startswith("SMETHOD plain 127.0.0.1:")
    host, port = w.addr
    assert host == "127.0.0.1" and port != 0


@pytest.mark.parametrize("versions,answer", [
    ("1,3.0", "3.0"),
    ("3.0", "3.0"),
    ("1,1a,2.2,this_is_a_valid_version", "2.2"),   # the spec's own example list
    ("2,3", "3"),
    ("2.1,2", "2.1"),
])
def test_ptversion_negotiated(warren, versions, answer):
    w = warren(["-ptversion", versions, "-client"] + PLAIN + LISTEN)
    assert w.lines[0] == "VERSION %s" % answer


@pytest.mark.parametrize("versions", ["1", "1,4.0", "", "3.0,", ",3.0", "1 3.0", "3.0,,2"])
def test_ptversion_no_match(versions):
    r = run_warren(["-ptversion", versions, "-client"] + PLAIN + LISTEN, timeout=5)
    assert r.rc == 78, r
    assert r.stdout == "", r
    assert "VERSION-ERROR no-version" in r.err_lines, r
    assert not any(ln.startswith("ENV-ERROR") for ln in r.err_lines), r


def test_version_error_wins_over_bad_flags():
    r = run_warren(["-ptversion", "1", "-bogus", "-client", "-server"])
    assert r.rc == 78, r
    assert r.stdout == "", r
    assert "VERSION-ERROR no-version" in r.err_lines, r


# ---------------------------------------------------------------------------------------------
# ENV-ERROR (exit 64)
# ---------------------------------------------------------------------------------------------

def _env_error_cases(tmp, write=True):
    optfile = tmp / "opts.json"
    if write:
        optfile.write_text('{"plain":{}}')
    return {
        "unknown-flag": ["-client"] + PLAIN + ["-frobnicate"],
        "unknown-flag-with-value": ["-client"] + PLAIN + ["-frobnicate=1"],
        "client-and-server": ["-client", "-server"] + PLAIN + ["-bindaddr", "plain-127.0.0.1:0",
                                                               "-target", "127.0.0.1:9"],
        "transport-and-transports": ["-client", "-transport", "plain", "-transports", "plain"],
        "no-transport": ["-client"] + LISTEN,
        "bad-mode": ["-client", "-mode", "carrier-pigeon"] + PLAIN,
        "mode-and-transparent": ["-client", "-mode", "socks5", "-transparent"] + PLAIN,
        "options-bad-json": ["-client"] + PLAIN + ["-options", "{plain: nope"],
        "options-not-object": ["-client"] + PLAIN + ["-options", "[1,2]"],
        "options-and-optionsFile": ["-client"] + PLAIN + ["-options", "{}", "-optionsFile",
                                                          str(optfile)],
        "optionsFile-missing": ["-client"] + PLAIN + ["-optionsFile", str(tmp / "nope.json")],
        "optionsFile-is-dir": ["-client"] + PLAIN + ["-optionsFile", str(tmp)],
        "server-no-bindaddr": ["-server"] + PLAIN + ["-target", "127.0.0.1:9"],
        "server-no-target": ["-server"] + PLAIN + ["-bindaddr", "plain-127.0.0.1:0"],
        "bindhost-without-bindport": ["-server", "-transport", "plain", "-bindhost", "127.0.0.1",
                                      "-target", "127.0.0.1:9"],
        "bindaddr-no-dash": ["-server"] + PLAIN + ["-bindaddr", "127.0.0.1:0",
                                                   "-target", "127.0.0.1:9"],
        "bindaddr-hostname": ["-server"] + PLAIN + ["-bindaddr", "plain-localhost:0",
                                                    "-target", "127.0.0.1:9"],
        "extorport-without-authcookie": ["-server"] + PLAIN + ["-bindaddr", "plain-127.0.0.1:0",
                                                               "-extorport", "127.0.0.1:9"],
        "proxylistenaddr-hostname": ["-client"] + PLAIN + ["-proxylistenaddr", "localhost:0"],
        "proxylistenaddr-and-host": ["-client"] + PLAIN + ["-proxylistenaddr", "127.0.0.1:0",
                                                           "-proxylistenhost", "127.0.0.1"],
        "proxylistenhost-alone": ["-client"] + PLAIN + ["-proxylistenhost", "127.0.0.1"],
        "bad-ipcLogLevel": ["-client"] + PLAIN + ["-ipcLogLevel", "CHATTY"],
        "proxy-on-server": SERVER + ["-proxy", "socks5://127.0.0.1:1080"],
        "positional-argument": ["-client"] + PLAIN + ["bogus"],
        "flag-missing-value": ["-client"] + PLAIN + ["-options"],
        "bad-bool-value": ["-client=maybe"] + PLAIN,
        "state-not-creatable": ["-client"] + PLAIN + ["-state", "/dev/null/state"],
        "udp-server-without-target": ["-server", "-mode", "transparent-UDP"] + PLAIN + [
            "-bindaddr", "plain-127.0.0.1:0"],
        "bindaddr-duplicate-name": ["-server"] + PLAIN + [
            "-bindaddr", "plain-127.0.0.1:0,PLAIN-127.0.0.1:0", "-target", "127.0.0.1:9"],
        "targethost-without-targetport": ["-server"] + PLAIN + [
            "-bindaddr", "plain-127.0.0.1:0", "-targethost", "127.0.0.1"],
        "target-and-targethost": ["-server"] + PLAIN + [
            "-bindaddr", "plain-127.0.0.1:0", "-target", "127.0.0.1:9", "-targethost", "127.0.0.1",
            "-targetport", "9"],
        "target-port-zero": ["-server"] + PLAIN + ["-bindaddr", "plain-127.0.0.1:0",
                                                   "-target", "127.0.0.1:0"],
        "authcookie-without-extorport": ["-server"] + PLAIN + [
            "-bindaddr", "plain-127.0.0.1:0", "-target", "127.0.0.1:9", "-authcookie",
            "/nonexistent/cookie"],
        "server-flag-on-client": ["-client"] + PLAIN + ["-bindhost", "127.0.0.1"],
        "bad-logLevel": ["-client"] + PLAIN + ["-logLevel", "LOUD"],
        "bad-port": ["-client"] + PLAIN + ["-proxylistenaddr", "127.0.0.1:65536"],
    }


ENV_ERROR_IDS = sorted(_env_error_cases(Path("/nonexistent"), write=False))

ENV_ERROR_TEXT = {
    "extorport-without-authcookie": "ENV-ERROR No -authcookie when -extorport set",
}


@pytest.mark.parametrize("case", ENV_ERROR_IDS)
def test_env_error(tmp_path, case):
    args = _env_error_cases(tmp_path)[case]
    r = run_warren(args)
    assert r.rc == 64, r
    # stdout carries exactly the VERSION line; the error is on stderr.
    assert r.out_lines == ["VERSION 3.0"], r
    errs = [ln for ln in r.err_lines if ln.startswith("ENV-ERROR")]
    assert len(errs) == 1, r
    assert len(errs[0]) > len("ENV-ERROR "), r
    if case in ENV_ERROR_TEXT:
        assert errs[0] == ENV_ERROR_TEXT[case], r
    assert not any(ln.startswith(("CMETHOD", "SMETHOD")) for ln in r.out_lines + r.err_lines), r
    # With both streams on one pipe, VERSION comes before ENV-ERROR.
    m = run_warren(args, merge_stderr=True)
    assert m.rc == 64, m
    proto = protocol_lines(m.out_lines)
    assert proto[0] == "VERSION 3.0", m
    assert proto[1].startswith("ENV-ERROR"), m


def test_unknown_flag_message_names_it():
    r = run_warren(["-client"] + PLAIN + ["-frobnicate"])
    assert r.rc == 64
    assert any(ln.startswith("ENV-ERROR") and "frobnicate" in ln for ln in r.err_lines), r


# ---------------------------------------------------------------------------------------------
# Go flag syntax
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("args", [
    ["--transports=plain"],
    ["--transports", "plain"],
    ["-transports=plain"],
    ["-transports", "plain"],
    ["-transport", "plain"],
    ["managed", "-transports", "plain"],
    ["-transports", "plain", "managed"],
    ["-transports", "foo", "-transports", "plain"],           # the last value wins
    ["-client=true", "-transports", "plain"],
    ["-server=false", "-transports", "plain"],
    ["-exit-on-stdin-close", "1", "-transports", "plain"],   # the '1' does not stop parsing
    ["-enableLocket", "-transports", "plain"],
    ["-transports", "plain", "--"],
])
def test_go_flag_syntax(warren, args):
    w = warren(LISTEN + args)
    assert w.lines[0] == "VERSION 3.0"
    assert [ln.split(" ")[:3] for ln in w.method_lines] == [["CMETHOD", "plain", "socks5"]]


@pytest.mark.parametrize("flag", [["-exit-on-stdin-close"], ["-exit-on-stdin-close=true"],
                                  ["-exit-on-stdin-close=1"], ["--exit-on-stdin-close=True"],
                                  ["-exit-on-stdin-close", "1"], ["-exit-on-stdin-close", "true"]])
def test_exit_on_stdin_close(warren, flag):
    w = warren(flag + ["-client"] + PLAIN + LISTEN)
    assert w.alive()
    w.close_stdin()
    t0 = time.monotonic()
    rc = w.wait(timeout=5)
    assert rc == 0, "exit code %r %.1f s after closing stdin" % (rc, time.monotonic() - t0)


@pytest.mark.parametrize("flag", [[], ["-exit-on-stdin-close=false"],
                                  ["-exit-on-stdin-close", "0"]])
def test_stdin_close_ignored_without_flag(warren, flag):
    w = warren(flag + ["-client"] + PLAIN + LISTEN)
    w.close_stdin()
    assert w.wait(timeout=2) is None, "warren exited (rc %r) although stdin EOF must be ignored" \
                                       % w.returncode
    # ...and it still serves.
    s = socket.create_connection(w.addr, timeout=5)
    s.sendall(b"\x05\x01\x00")
    assert s.recv(2) == b"\x05\x00"
    s.close()


def test_exit_on_stdin_close_server(warren):
    w = warren(["-exit-on-stdin-close"] + SERVER)
    w.close_stdin()
    assert w.wait(timeout=5) == 0


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_exits_zero(warren, sig):
    w = warren(["-client"] + PLAIN + LISTEN)
    assert w.stop(sig) == 0


def test_sigterm_with_live_connections(warren, echo_server):
    srv = warren(server_args(echo_server.addr))
    cli = warren(CLIENT_ARGS)
    s = socks5_connect(cli.addr, srv.addr)
    s.sendall(b"ping")
    assert s.recv(4) == b"ping"
    assert cli.stop() == 0
    assert srv.stop() == 0
    s.close()


def test_sighup_does_not_exit(warren):
    w = warren(["-client"] + PLAIN + LISTEN)
    os.kill(w.pid, signal.SIGHUP)
    assert w.wait(timeout=1.5) is None, "SIGHUP made warren exit with %r" % w.returncode


@pytest.mark.parametrize("flag,expect", [
    ("-h", "Usage"), ("-help", "Usage"), ("--help", "Usage"),
    ("-showVersion", "warren "), ("-version", "warren "),
])
def test_help_and_version(flag, expect):
    r = run_warren([flag])
    assert r.rc == 0, r
    assert expect in r.stdout, r
    assert protocol_lines(r.out_lines + r.err_lines) == [], r


def test_help_wins_over_other_flags():
    r = run_warren(["-client", "-transports", "plain", "-h"])
    assert r.rc == 0, r
    assert "Usage" in r.stdout
    assert protocol_lines(r.out_lines + r.err_lines) == [], r


# ---------------------------------------------------------------------------------------------
# Transport names
# ---------------------------------------------------------------------------------------------

def test_unknown_transport_ignored(warren):
    w = warren(["-client", "-transports", "foo,plain,bar_2"] + LISTEN)
    assert [ln.split(" ")[1] for ln in w.method_lines] == ["plain"]
    assert "CMETHOD-ERROR" not in w.stderr_text()
    assert not any("foo" in ln or "bar_2" in ln for ln in w.lines)


def test_only_unknown_transports(warren):
    w = warren(["-client", "-transports", "foo"] + LISTEN)
    assert w.lines == ["VERSION 3.0", "CMETHODS DONE"]
    assert "CMETHOD-ERROR" not in w.stderr_text()
    assert w.wait(timeout=1.0) is None, "warren exited (rc %r) with no transports" % w.returncode


def test_only_unknown_transports_server(warren):
    w = warren(["-server", "-transports", "foo", "-bindaddr", "foo-127.0.0.1:0",
                "-target", "127.0.0.1:9"])
    assert w.lines == ["VERSION 3.0", "SMETHODS DONE"]
    assert "SMETHOD-ERROR" not in w.stderr_text()
    assert w.wait(timeout=1.0) is None


@pytest.mark.parametrize("spelling", ["PLAIN", "Plain", "pLaIn"])
def test_transport_name_case_insensitive(warren, echo_server, spelling):
    srv = warren(["-server", "-transports", spelling,
                  "-bindaddr", "%s-127.0.0.1:0" % spelling.lower(),
                  "-target", "%s:%d" % echo_server.addr])
    assert srv.method_lines[0].startswith("SMETHOD %s 127.0.0.1:" % spelling), srv.lines
    cli = warren(["-client", "-transports", spelling] + LISTEN)
    assert cli.method_lines[0].startswith("CMETHOD %s socks5 127.0.0.1:" % spelling), cli.lines
    assert echo_roundtrip_ok(socks5_connect(cli.addr, srv.addr))


def test_transports_star(warren):
    w = warren(["-client", "-transports", "*"] + LISTEN)
    assert "plain" in w.methods, w.lines


def test_bad_transport_name_env_error():
    r = run_warren(["-client", "-transports", "bad-name"] + LISTEN)
    assert r.rc == 64, r
    assert any(ln.startswith("ENV-ERROR") for ln in r.err_lines), r


# ---------------------------------------------------------------------------------------------
# Method errors (not fatal)
# ---------------------------------------------------------------------------------------------

def test_transparent_client_without_server_address(warren):
    w = warren(["-client", "-mode", "transparent-TCP"] + PLAIN + LISTEN)
    assert w.lines == ["VERSION 3.0", "CMETHODS DONE"]
    errs = [ln for ln in w.stderr_text().splitlines() if ln.startswith("CMETHOD-ERROR")]
    assert len(errs) == 1 and errs[0].startswith("CMETHOD-ERROR plain "), errs
    assert len(errs[0]) > len("CMETHOD-ERROR plain "), errs
    assert w.wait(timeout=1.0) is None


def test_client_listen_port_in_use(warren):
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    port = busy.getsockname()[1]
    try:
        w = warren(["-client"] + PLAIN + ["-proxylistenaddr", "127.0.0.1:%d" % port])
        assert w.lines == ["VERSION 3.0", "CMETHODS DONE"]
        errs = [ln for ln in w.stderr_text().splitlines() if ln.startswith("CMETHOD-ERROR")]
        assert len(errs) == 1 and errs[0].startswith("CMETHOD-ERROR plain "), w.stderr_text()
    finally:
        busy.close()


def test_server_bind_port_in_use(warren):
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    port = busy.getsockname()[1]
    try:
        w = warren(["-server"] + PLAIN + ["-bindaddr", "plain-127.0.0.1:%d" % port,
                                          "-target", "127.0.0.1:9"])
        assert w.lines == ["VERSION 3.0", "SMETHODS DONE"]
        errs = [ln for ln in w.stderr_text().splitlines() if ln.startswith("SMETHOD-ERROR")]
        assert len(errs) == 1 and errs[0].startswith("SMETHOD-ERROR plain "), w.stderr_text()
    finally:
        busy.close()


def test_fixed_listen_address_used(warren):
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    w = warren(["-client"] + PLAIN + ["-proxylistenhost", "127.0.0.1",
                                      "-proxylistenport", str(port)])
    assert w.methods["plain"] == ("127.0.0.1", port)


def test_bindaddr_entry_for_other_transport_dropped(warren):
    w = warren(["-server", "-transports", "plain", "-bindaddr",
                "other-127.0.0.1:0,plain-127.0.0.1:0", "-target", "127.0.0.1:9"])
    assert [ln.split(" ")[1] for ln in w.method_lines] == ["plain"]


def test_repeated_transport_listed_once(warren):
    w = warren(["-client", "-transports", "plain,PLAIN,plain"] + LISTEN)
    assert [ln.split(" ")[1] for ln in w.method_lines] == ["plain"]


def test_old_spellings_orport_and_client_bindaddr(warren, echo_server):
    """-orport is -target; on a client, -bindaddr name-addr is the listen address and
    -target the server address (old dispatcher spellings)."""
    srv = warren(["-server", "-transports", "plain", "-bindaddr", "plain-127.0.0.1:0",
                  "-orport", "%s:%d" % echo_server.addr])
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    cli = warren(["-client", "-transports", "plain", "-mode", "transparent-TCP",
                  "-bindaddr", "plain-127.0.0.1:%d" % port, "-target", "%s:%d" % srv.addr])
    assert cli.methods["plain"] == ("127.0.0.1", port), cli.lines
    assert echo_roundtrip_ok(socket.create_connection(cli.addr, timeout=10))


@pytest.mark.parametrize("tok,answer", [("2", "VERSION 2"), ("3.0", "VERSION 3.0")])
def test_version_with_token_is_ptversion(warren, tok, answer):
    w = warren(["-version", tok, "-client"] + PLAIN + LISTEN)
    assert w.lines[0] == answer


def test_options_file(warren, tmp_path, echo_server):
    srv = warren(server_args(echo_server.addr))
    f = tmp_path / "opts.json"
    f.write_text('{"plain": {"serverAddress": "127.0.0.1:%d"}}' % srv.addr[1])
    cli = warren(["-client", "-transports", "plain", "-mode", "transparent-TCP",
                  "-optionsFile", str(f)] + LISTEN)
    assert echo_roundtrip_ok(socket.create_connection(cli.addr, timeout=10))


def test_server_transparent_mode_same_as_socks5(warren, echo_server):
    srv = warren(server_args(echo_server.addr) + ["-mode", "transparent-TCP"])
    cli = warren(CLIENT_ARGS)
    assert echo_roundtrip_ok(socks5_connect(cli.addr, srv.addr))


def test_bindhost_bindport(warren):
    w = warren(["-server", "-transport", "plain", "-bindhost", "127.0.0.1", "-bindport", "0",
                "-targethost", "127.0.0.1", "-targetport", "9"])
    assert w.method_lines[0].startswith("SMETHOD plain 127.0.0.1:")


# ---------------------------------------------------------------------------------------------
# -state
# ---------------------------------------------------------------------------------------------

def _tree(root):
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        for n in dirnames + filenames:
            out.append(os.path.relpath(os.path.join(dirpath, n), root))
    return sorted(out)


def test_state_dir_created_0700(warren, tmp_path):
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    w = warren(["-client", "-state", "st/inner"] + PLAIN + LISTEN, cwd=cwd)
    st = cwd / "st" / "inner"
    assert st.is_dir()
    assert stat.S_IMODE(os.stat(st).st_mode) == 0o700, oct(os.stat(st).st_mode)
    assert stat.S_IMODE(os.stat(cwd / "st").st_mode) == 0o700
    assert w.stop() == 0
    # nothing was created in the working directory except the state directory itself
    assert _tree(cwd) == ["st", "st/inner"], _tree(cwd)


def test_nothing_written_outside_state(warren, tmp_path, echo_server):
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    state = tmp_path / "state"
    before = _tree(cwd)
    srv = warren(server_args(echo_server.addr) + ["-state", str(state), "-enableLogging",
                                                  "-logLevel", "DEBUG"], cwd=cwd)
    cli = warren(CLIENT_ARGS + ["-state", str(state / "c"), "-enableLogging", "-logLevel", "DEBUG"],
                 cwd=cwd)
    assert echo_roundtrip_ok(socks5_connect(cli.addr, srv.addr))
    assert cli.stop() == 0 and srv.stop() == 0
    assert _tree(cwd) == before == []
    assert (state / "warren.log").is_file()
    assert (state / "warren.log").stat().st_size > 0
    assert stat.S_IMODE(os.stat(state).st_mode) == 0o700


def test_state_existing_dir_ok(warren, tmp_path):
    st = tmp_path / "exists"
    st.mkdir(mode=0o755)
    w = warren(["-client", "-state", str(st)] + PLAIN + LISTEN)
    assert "plain" in w.methods


# ---------------------------------------------------------------------------------------------
# LOG lines
# ---------------------------------------------------------------------------------------------

def test_ipc_log_level_info(warren):
    w = warren(["-client", "-ipcLogLevel", "INFO"] + PLAIN + LISTEN)
    assert w.lines[0] == "VERSION 3.0"
    logs = [ln for ln in w.lines if ln.startswith("LOG ")]
    assert logs, w.lines
    assert all(ln.split(" ")[1] in ("ERROR", "WARN", "INFO") for ln in logs), logs
    assert any(ln.startswith("LOG INFO ") for ln in logs), logs


def test_ipc_log_level_default_none(warren):
    w = warren(["-client", "-logLevel", "DEBUG"] + PLAIN + LISTEN)
    assert not any(ln.startswith("LOG") for ln in w.lines), w.lines
    assert w.stop() == 0
    assert not any(ln.startswith("LOG") for ln in w.lines), w.lines


def test_ipc_log_level_error_filters_info(warren):
    w = warren(["-client", "-ipcLogLevel", "ERROR"] + PLAIN + LISTEN)
    assert w.stop() == 0
    assert not any(ln.startswith(("LOG INFO", "LOG WARN", "LOG DEBUG")) for ln in w.lines), w.lines


def test_ipc_log_debug_on_shutdown(warren):
    w = warren(["-client", "-ipcLogLevel", "DEBUG"] + PLAIN + LISTEN)
    assert w.stop() == 0
    logs = [ln for ln in w.lines if ln.startswith("LOG ")]
    assert any(ln.startswith("LOG INFO") and "shutting down" in ln for ln in logs), w.lines


# ---------------------------------------------------------------------------------------------
# -proxy
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("uri", [
    "ftp://1.2.3.4:5",
    "socks4a://u:p@127.0.0.1:1",
    "socks5://proxy.example:1080",
    "http://localhost:3128",
    "socks5://127.0.0.1",
    "socks5://127.0.0.1:0",
    "127.0.0.1:1080",
    "socks5://127.0.0.1:1080/path",
])
def test_proxy_error(uri):
    r = run_warren(["-client", "-proxy", uri] + PLAIN + LISTEN)
    assert r.rc == 69, r
    assert r.out_lines == ["VERSION 3.0"], r
    errs = [ln for ln in r.err_lines if ln.startswith("PROXY-ERROR")]
    assert len(errs) == 1 and len(errs[0]) > len("PROXY-ERROR "), r


@pytest.mark.parametrize("uri", [
    "socks5://127.0.0.1:1080",
    "socks5://user:pass@127.0.0.1:1080",
    "socks4a://127.0.0.1:1080",
    "socks4a://someone@127.0.0.1:1080",
    "http://127.0.0.1:3128",
    "http://user:pa%3Ass@127.0.0.1:3128",
    "socks5://[::1]:1080",
])
def test_proxy_done_before_cmethod(warren, uri):
    w = warren(["-client", "-proxy", uri] + PLAIN + LISTEN)
    assert w.lines[0] == "VERSION 3.0"
    assert w.lines[1] == "PROXY DONE", w.lines
    assert w.lines[2].startswith("CMETHOD plain socks5 "), w.lines
    assert w.lines[-1] == "CMETHODS DONE"


def test_no_proxy_no_proxy_line(warren):
    w = warren(["-client"] + PLAIN + LISTEN)
    assert not any(ln.startswith("PROXY") for ln in w.lines)
