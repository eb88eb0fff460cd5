"""warren under a real tor 0.4.9 (issue "Run under real tor"; notes pt-ipc §2, §3, §5).

Each test runs one whole scenario -- a tor bridge and a tor client on 127.0.0.1, with warren on
one or both sides -- inside a network namespace of its own: this file re-runs itself as a
driver under `unshare -n` (the namespace has only loopback, which the driver brings up, so no
tor can reach the real network or the directory authorities, and fixed ports cannot collide
with anything). The driver starts every process, waits with bounded deadlines, stops every
process by its pid (tor's managed proxies too: their pids come from tor's own log) and prints
a JSON summary; the test then reads the logs and asserts.

Scenarios:
  1. managed: `ServerTransportPlugin T exec warren` on a bridge with an ExtORPort, and
     `ClientTransportPlugin T exec warren` on the client (T = plain, obfs4);
  2. unmanaged: warren started by hand in PT 3.0 mode on both sides: the client tor gets
     `ClientTransportPlugin T socks5 127.0.0.1:<CMETHOD port>`, the bridge has an ExtORPort and
     no ServerTransportPlugin, and warren -server uses -extorport/-authcookie;
  3. obfs4proxy as the client's PT against a warren bridge, and warren as the client's PT
     against an obfs4proxy bridge.

A scenario passes when the client reaches `Bootstrapped 15% (handshake_done)` (the TLS and OR
handshakes went through both PT halves and the ExtORPort), no log says `failed the configuration
protocol`, the bridge's tor saw a legitimate ExtORPort authentication and a client on transport
T, and the PT-specific lines (STATUS, SMETHOD, warren's own log) are there. A lone bridge has no
consensus, so 100% is out of reach (notes §5.4).

Skips (with the reason) when tor is not installed or `unshare -n` is not permitted.
"""
import fcntl
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

TOR = shutil.which("tor") or "/usr/sbin/tor"
UNSHARE = shutil.which("unshare") or "/usr/bin/unshare"
OBFS4PROXY = shutil.which("obfs4proxy") or "/usr/bin/obfs4proxy"

# Fixed ports: each scenario has its own network namespace.
OR_PORT, EXTOR_PORT, PT_PORT, SOCKS_PORT = 19101, 19102, 19103, 19150
BRIDGE_READY_TIMEOUT = 60.0     # tor bridge: keys, fingerprint, transport registered
BOOTSTRAP_TIMEOUT = 60.0        # tor client: up to "Bootstrapped 15%"
SCENARIO_TIMEOUT = 170.0        # the whole driver run, from the test's side
HANDSHAKE_DONE = "Bootstrapped 15% (handshake_done)"


# =============================================================================================
# The driver: runs inside `unshare -n`, stdlib only.
# =============================================================================================

def _loopback_up():
    """ip link set lo up, without iproute2: SIOCGIFFLAGS / SIOCSIFFLAGS |= IFF_UP."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        ifr = struct.pack("16sH14x", b"lo", 0)
        flags = struct.unpack("16sH14x", fcntl.ioctl(s, 0x8913, ifr))[1]
        fcntl.ioctl(s, 0x8914, struct.pack("16sH14x", b"lo", flags | 0x1))
    finally:
        s.close()


def _die_with_parent():
    # If the driver is killed, its children must not outlive it (PR_SET_PDEATHSIG = 1).
    try:
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)
    except Exception:  # noqa: BLE001 - best effort
        pass


class _Driver:
    def __init__(self, cfg):
        self.cfg = cfg
        self.dir = Path(cfg["dir"])
        self.warren = cfg["warren"]
        self.t = cfg["transport"]
        self.procs = {}             # name -> Popen
        self.out = {"events": [], "errors": [], "lingering": [], "exit": {}}
        self.t0 = time.monotonic()

    def event(self, what):
        self.out["events"].append("%.2f %s" % (time.monotonic() - self.t0, what))

    def error(self, what):
        self.event("ERROR " + what)
        self.out["errors"].append(what)

    # ---- processes ----
    def spawn(self, name, argv, stdin=subprocess.DEVNULL, stdout=None, env=None):
        out = stdout if stdout is not None else open(self.dir / ("%s.out" % name), "wb")
        if env is None:
            # The caller's own TOR_PT_* (a test run under tor) must not reach warren or tor.
            env = {k: v for k, v in os.environ.items() if not k.startswith("TOR_PT_")}
        p = subprocess.Popen(argv, stdin=stdin, stdout=out, stderr=subprocess.STDOUT
                             if stdout is None else open(self.dir / ("%s.stderr" % name), "wb"),
                             env=env, preexec_fn=_die_with_parent, cwd=str(self.dir))
        self.procs[name] = p
        self.event("started %s pid %d: %s" % (name, p.pid, " ".join(argv)))
        return p

    def stop(self, name, sig=signal.SIGTERM, timeout=10.0):
        p = self.procs[name]
        if p.poll() is None:
            try:
                os.kill(p.pid, sig)
            except ProcessLookupError:
                pass
            try:
                p.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.error("%s (pid %d) did not exit within %.0f s of signal %d; killed"
                           % (name, p.pid, timeout, sig))
                os.kill(p.pid, signal.SIGKILL)
                p.wait(timeout=10)
        self.out["exit"][name] = p.returncode

    def tor(self, name, torrc_lines):
        data = self.dir / name
        data.mkdir(mode=0o700, exist_ok=True)
        os.chmod(data, 0o700)
        torrc = self.dir / ("%s.torrc" % name)
        torrc.write_text("\n".join(["DataDirectory %s" % data] + torrc_lines) + "\n")
        return self.spawn(name, [TOR, "-f", str(torrc), "--RunAsDaemon", "0",
                                 "--ShutdownWaitLength", "0"])

    def log(self, name):
        try:
            return (self.dir / ("%s.log" % name)).read_text(errors="replace")
        except OSError:
            return ""

    def wait_for(self, what, pred, timeout, watch=()):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if pred():
                self.event("reached: " + what)
                return True
            for w in watch:
                if self.procs[w].poll() is not None:
                    self.error("%s exited (%r) while waiting for %s"
                               % (w, self.procs[w].returncode, what))
                    return False
            time.sleep(0.1)
        self.error("timed out after %.0f s waiting for %s" % (timeout, what))
        return False

    def read_methods(self, name, proc, timeout=20.0):
        """A PT 3.0 warren's stdout up to *METHODS DONE; returns the lines."""
        lines, buf = [], b""
        fd = proc.stdout.fileno()
        os.set_blocking(fd, False)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                chunk = os.read(fd, 4096)
            except BlockingIOError:
                chunk = None
            if chunk == b"":
                break
            if chunk:
                buf += chunk
                while b"\n" in buf:
                    ln, buf = buf.split(b"\n", 1)
                    lines.append(ln.decode("ascii", "replace"))
                    if lines[-1] in ("CMETHODS DONE", "SMETHODS DONE"):
                        self.out.setdefault("stdout", {})[name] = lines
                        return lines
            else:
                time.sleep(0.05)
        self.out.setdefault("stdout", {})[name] = lines
        self.error("%s: no *METHODS DONE within %.0f s; stdout %r" % (name, timeout, lines))
        return None

    # ---- the torrc parts ----
    def bridge_torrc(self, plugin):
        lines = ["SocksPort 0",
                 "ORPort 127.0.0.1:%d" % OR_PORT,
                 "ExtORPort 127.0.0.1:%d" % EXTOR_PORT,
                 "BridgeRelay 1",
                 "PublishServerDescriptor 0",
                 "AssumeReachable 1",
                 "Log info file %s" % (self.dir / "bridge.log"),
                 "Log debug file %s" % (self.dir / "bridge-debug.log")]
        if plugin:
            lines += ["ServerTransportPlugin %s exec %s" % (self.t, plugin),
                      "ServerTransportListenAddr %s 127.0.0.1:%d" % (self.t, PT_PORT)]
        return lines

    def client_torrc(self, plugin_line, bridge_line):
        return ["SocksPort 127.0.0.1:%d" % SOCKS_PORT,
                "UseBridges 1",
                plugin_line,
                bridge_line,
                "Log info file %s" % (self.dir / "client.log")]

    def fingerprint(self):
        try:
            return (self.dir / "bridge" / "fingerprint").read_text().split()[1]
        except (OSError, IndexError):
            return None

    def pt_pids(self):
        """Pids of the managed proxies tor says it spawned (they are ours to stop)."""
        pids = set()
        for name in ("bridge", "client"):
            for m in re.finditer(r"has spawned with PID '(\d+)'", self.log(name)):
                pids.add(int(m.group(1)))
        return sorted(pids)

    # ---- scenarios ----
    def run(self):
        _loopback_up()
        self.event("loopback up")
        kind = self.cfg["scenario"]
        try:
            getattr(self, "scenario_" + kind)()
        finally:
            self.teardown()
        return self.out

    def bridge_line_from_state(self, state_dir):
        """cert=... iat-mode=N from obfs4_bridgeline.txt (the obfs4proxy format)."""
        path = Path(state_dir) / "obfs4_bridgeline.txt"
        if not self.wait_for("%s written" % path, path.is_file, 10.0):
            return None
        for ln in path.read_text().splitlines():
            # "Bridge obfs4 <IP ADDRESS>:<PORT> <FINGERPRINT> cert=... iat-mode=N"
            m = re.match(r"^Bridge obfs4 .*? (cert=\S+ iat-mode=\d)\s*$", ln)
            if m:
                return m.group(1)
        self.error("no Bridge line in %s" % path)
        return None

    def managed_bridge(self, server_pt):
        self.tor("bridge", self.bridge_torrc(server_pt))
        ok = self.wait_for("bridge registered its transport and wrote its fingerprint",
                           lambda: self.fingerprint() and
                           "Registered server transport" in self.log("bridge"),
                           BRIDGE_READY_TIMEOUT, watch=["bridge"])
        if not ok:
            return None
        args = ""
        if self.t == "obfs4":
            args = self.bridge_line_from_state(self.dir / "bridge" / "pt_state")
            if args is None:
                return None
        return ("Bridge %s 127.0.0.1:%d %s %s" % (self.t, PT_PORT, self.fingerprint(),
                                                   args)).rstrip()

    def run_client(self, plugin_line, bridge_line):
        self.out["bridge_line"] = bridge_line
        self.tor("client", self.client_torrc(plugin_line, bridge_line))
        self.wait_for("client " + HANDSHAKE_DONE, lambda: HANDSHAKE_DONE in self.log("client"),
                      BOOTSTRAP_TIMEOUT, watch=["client", "bridge"])
        time.sleep(0.5)     # the bridge's debug lines of the same moment

    def scenario_managed(self):
        wl = "%s -logLevel DEBUG -enableLogging" % self.warren
        server_pt = OBFS4PROXY if self.cfg.get("bridge_pt") == "obfs4proxy" else wl
        client_pt = OBFS4PROXY if self.cfg.get("client_pt") == "obfs4proxy" else wl
        bridge_line = self.managed_bridge(server_pt)
        if bridge_line:
            self.run_client("ClientTransportPlugin %s exec %s" % (self.t, client_pt), bridge_line)

    def scenario_unmanaged(self):
        self.tor("bridge", self.bridge_torrc(None))
        cookie = self.dir / "bridge" / "extended_orport_auth_cookie"
        ok = self.wait_for("bridge wrote its fingerprint and ExtORPort cookie, and listens",
                           lambda: self.fingerprint() and cookie.is_file() and
                           cookie.stat().st_size == 64 and
                           "Opened Extended OR listener" in self.log("bridge"),
                           BRIDGE_READY_TIMEOUT, watch=["bridge"])
        if not ok:
            return
        state = self.dir / "warren-server-state"
        srv = self.spawn("warren-server",
                         [self.warren, "-server", "-transports", self.t,
                          "-bindaddr", "%s-127.0.0.1:%d" % (self.t, PT_PORT),
                          "-extorport", "127.0.0.1:%d" % EXTOR_PORT,
                          "-authcookie", str(cookie), "-state", str(state),
                          "-logLevel", "DEBUG"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        lines = self.read_methods("warren-server", srv)
        if lines is None:
            return
        args = ""
        sm = [ln for ln in lines if ln.startswith("SMETHOD %s " % self.t)]
        if not sm:
            self.error("warren-server printed no SMETHOD for %s: %r" % (self.t, lines))
            return
        m = re.search(r" ARGS:(\S*)", sm[0])
        if m:
            args = " ".join(_split_smethod_args(m.group(1)))
        cli = self.spawn("warren-client",
                         [self.warren, "-client", "-transports", self.t,
                          "-proxylistenaddr", "127.0.0.1:0", "-logLevel", "DEBUG"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        lines = self.read_methods("warren-client", cli)
        if lines is None:
            return
        cm = [ln.split() for ln in lines if ln.startswith("CMETHOD %s socks5 " % self.t)]
        if not cm:
            self.error("warren-client printed no CMETHOD for %s: %r" % (self.t, lines))
            return
        bridge_line = ("Bridge %s 127.0.0.1:%d %s %s" % (self.t, PT_PORT, self.fingerprint(),
                                                          args)).rstrip()
        self.run_client("ClientTransportPlugin %s socks5 %s" % (self.t, cm[0][3]), bridge_line)

    def teardown(self):
        pts = self.pt_pids()
        for name in ("client", "bridge", "warren-client", "warren-server"):
            if name in self.procs:
                self.stop(name)
        # tor stops its managed proxies (SIGTERM, then stdin closes); give them 5 s.
        deadline = time.monotonic() + 5.0
        for pid in pts:
            while time.monotonic() < deadline and _alive(pid):
                time.sleep(0.05)
            if _alive(pid):
                self.out["lingering"].append(pid)
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        self.out["pt_pids"] = pts
        self.event("done")


def _alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def _split_smethod_args(text):
    """'cert=a\\,b,iat-mode=0' -> ['cert=a,b', 'iat-mode=0'] (pt-spec: ',' separates, '\\'
    escapes)."""
    out, cur, i = [], "", 0
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text):
            cur += text[i + 1]
            i += 2
            continue
        if c == ",":
            out.append(cur)
            cur = ""
        else:
            cur += c
        i += 1
    if cur:
        out.append(cur)
    return out


if __name__ == "__main__" and len(sys.argv) == 3 and sys.argv[1] == "--driver":
    result = _Driver(json.loads(sys.argv[2])).run()
    sys.stdout.write(json.dumps(result) + "\n")
    sys.exit(0)


# =============================================================================================
# The tests (pytest side)
# =============================================================================================

import pytest  # noqa: E402

from conftest import WARREN, sanitizer_problems  # noqa: E402

_UNSHARE_OK = None


def _need_tor_netns():
    global _UNSHARE_OK
    if not os.access(TOR, os.X_OK):
        pytest.skip("tor is not installed (looked for %s)" % TOR)
    if _UNSHARE_OK is None:
        try:
            p = subprocess.run([UNSHARE, "-n", "true"], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, timeout=10)
            _UNSHARE_OK = (p.returncode == 0, p.stderr.decode(errors="replace").strip())
        except (OSError, subprocess.TimeoutExpired) as e:
            _UNSHARE_OK = (False, repr(e))
    if not _UNSHARE_OK[0]:
        pytest.skip("`unshare -n` is not permitted here (needs root or CAP_SYS_ADMIN): %s"
                    % _UNSHARE_OK[1])


class Scenario:
    def __init__(self, tmp_path, summary):
        self.dir = tmp_path
        self.s = summary

    def log(self, name):
        try:
            return (self.dir / name).read_text(errors="replace")
        except OSError:
            return ""

    def report(self):
        parts = ["driver events:\n  " + "\n  ".join(self.s["events"])]
        for name, grep in (("bridge.log", r"Registered|Bootstrapped|[Mm]anaged proxy|\[warn\]|"
                                          r"\[err\]|transport"),
                           ("client.log", r"Bootstrapped|[Mm]anaged proxy|\[warn\]|\[err\]|"
                                          r"STATUS|transport"),
                           ("bridge/pt_state/warren.log", "."),
                           ("client/pt_state/warren.log", "."),
                           ("warren-server.stderr", "."), ("warren-client.stderr", ".")):
            text = self.log(name)
            if text:
                sel = [ln[:220] for ln in text.splitlines() if re.search(grep, ln)]
                parts.append("--- %s (%d lines shown) ---\n%s"
                             % (name, min(len(sel), 40), "\n".join(sel[-40:])))
        return "\n".join(parts)

    def check(self, cond, what):
        assert cond, "%s\n%s" % (what, self.report())


def run_scenario(tmp_path, **cfg):
    _need_tor_netns()
    cfg.update(dir=str(tmp_path), warren=WARREN)
    cmd = [UNSHARE, "-n", sys.executable, os.path.abspath(__file__), "--driver", json.dumps(cfg)]
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    try:
        out, err = p.communicate(timeout=SCENARIO_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.kill(p.pid, signal.SIGKILL)      # its children die with it (PR_SET_PDEATHSIG)
        out, err = p.communicate(timeout=10)
        pytest.fail("the scenario driver did not finish within %.0f s; stderr %r"
                    % (SCENARIO_TIMEOUT, err[-3000:]))
    assert p.returncode == 0 and out.strip(), \
        "driver failed (rc %r): stderr %s" % (p.returncode, err.decode(errors="replace")[-3000:])
    sc = Scenario(tmp_path, json.loads(out.decode().strip().splitlines()[-1]))
    return sc


def assert_common(sc, t, bridge_registers=True):
    """What every scenario must show: no driver errors, bootstrap to 15%, no configuration
    failure, the bridge's ExtORPort saw a legitimate client on transport t."""
    sc.check(not sc.s["errors"], "driver errors: %r" % sc.s["errors"])
    client, bridge, debug = sc.log("client.log"), sc.log("bridge.log"), sc.log("bridge-debug.log")
    sc.check(HANDSHAKE_DONE in client, "client tor never reached %r" % HANDSHAKE_DONE)
    for name, text in (("client", client), ("bridge", bridge)):
        sc.check("failed the configuration protocol" not in text,
                 "%s tor: a managed proxy failed the configuration protocol" % name)
    if bridge_registers:
        sc.check("Registered server transport '%s' at '127.0.0.1:%d'" % (t, PT_PORT) in bridge,
                 "bridge tor did not register server transport %s" % t)
    # The bridge-side PT went through tor's ExtORPort: SAFE_COOKIE accepted, USERADDR, the
    # transport name (tor counts the client under it).
    sc.check("Got client's hash and it was legit" in debug,
             "bridge tor: no successful ExtORPort authentication")
    sc.check("Received USERADDR" in debug and "Received DONE" in debug,
             "bridge tor: no USERADDR/DONE on the ExtORPort")
    sc.check("with transport '%s'" % t in debug,
             "bridge tor: no client seen with transport %r on the ExtORPort" % t)
    sc.check("Got Extended ORPort command we don't recognize" not in debug,
             "bridge tor: the PT sent an ExtORPort command tor does not know")
    for name in ("client.log", "bridge.log", "bridge/pt_state/warren.log",
                 "client/pt_state/warren.log", "warren-server.stderr", "warren-client.stderr",
                 "bridge.out", "client.out"):
        san = sanitizer_problems(sc.log(name))
        sc.check(not san, "sanitizer report in %s:\n%s" % (name, "\n".join(san[:20])))
    sc.check(not sc.s["lingering"],
             "managed proxies still running 5 s after tor stopped (killed): %r"
             % sc.s["lingering"])


# ---------------------------------------------------------------------------------------------
# 1. Managed proxies on both sides
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("t", ["plain", "obfs4"])
def test_managed_bridge_and_client(tmp_path, t):
    sc = run_scenario(tmp_path, scenario="managed", transport=t)
    assert_common(sc, t)
    client = sc.log("client.log")
    # The client's managed proxy reported the connection to the bridge (STATUS, PT 1.0 only).
    sc.check(re.search(r"STATUS TRANSPORT=%s ADDRESS=127\.0\.0\.1:%d CONNECT=Success"
                       % (t, PT_PORT), client),
             "client tor log has no STATUS TRANSPORT=%s ... CONNECT=Success line" % t)
    sc.check("Successfully registered transport %s" % t in client,
             "client tor did not register transport %s" % t)
    sc.check("Managed proxy tried to negotiate on version" not in client + sc.log("bridge.log"),
             "tor rejected the managed proxy's VERSION")
    wlog = sc.log("bridge/pt_state/warren.log")
    sc.check("forwarding to tor's ExtORPort" in wlog,
             "the bridge-side warren does not say it forwards to tor's ExtORPort")
    for name in ("bridge/pt_state/warren.log", "client/pt_state/warren.log"):
        text = sc.log(name)
        sc.check(text, "%s is missing or empty (-enableLogging)" % name)
        sc.check(not re.search(r" (ERROR|WARN): ", text), "%s has warnings or errors" % name)
    if t == "obfs4":
        sc.check(re.search(r"^Bridge obfs4 127\.0\.0\.1:%d [0-9A-F]{40} cert=\S+ iat-mode=0$"
                           % PT_PORT, sc.s["bridge_line"]),
                 "unexpected bridge line %r" % sc.s["bridge_line"])


# ---------------------------------------------------------------------------------------------
# 2. warren started by hand (PT 3.0) on both sides; tor uses it as unmanaged proxies
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("t", ["plain", "obfs4"])
def test_unmanaged_pt3_bridge_and_client(tmp_path, t):
    sc = run_scenario(tmp_path, scenario="unmanaged", transport=t)
    assert_common(sc, t, bridge_registers=False)
    out = sc.s.get("stdout", {})
    srv, cli = out.get("warren-server", []), out.get("warren-client", [])
    sc.check(srv[:1] == ["VERSION 3.0"] and cli[:1] == ["VERSION 3.0"],
             "warren did not answer VERSION 3.0: %r %r" % (srv, cli))
    sm = [ln for ln in srv if ln.startswith("SMETHOD ")]
    sc.check(len(sm) == 1 and sm[0].startswith("SMETHOD %s 127.0.0.1:%d" % (t, PT_PORT)),
             "unexpected SMETHOD lines %r" % sm)
    if t == "obfs4":
        sc.check(re.search(r" ARGS:cert=\S+,iat-mode=0$", sm[0]), "no cert in %r" % sm[0])
        # The state directory's bridge line carries the same cert.
        bl = sc.log("warren-server-state/obfs4_bridgeline.txt")
        cert = re.search(r"cert=([^,\s]+)", sm[0]).group(1)
        sc.check("cert=%s iat-mode=0" % cert in bl, "obfs4_bridgeline.txt: %r" % bl[-300:])
    # PT 3.0: no STATUS lines, and both warrens exit 0 on SIGTERM.
    sc.check(not any(ln.startswith("STATUS") for ln in srv + cli), "STATUS in PT 3.0 mode")
    sc.check(sc.s["exit"].get("warren-server") == 0 and sc.s["exit"].get("warren-client") == 0,
             "warren exit codes after SIGTERM: %r" % sc.s["exit"])
    stderr = sc.log("warren-server.stderr")
    sc.check("forwarding to tor's ExtORPort" in stderr,
             "warren -server does not say it forwards to tor's ExtORPort")
    sc.check(not re.search(r" (ERROR|WARN): ", stderr + sc.log("warren-client.stderr")),
             "warren logged warnings or errors")


# ---------------------------------------------------------------------------------------------
# 3. obfs4proxy against warren, and warren against obfs4proxy
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("client_pt,bridge_pt", [("obfs4proxy", "warren"),
                                                 ("warren", "obfs4proxy")])
def test_obfs4proxy_interop_under_tor(tmp_path, client_pt, bridge_pt):
    if not os.access(OBFS4PROXY, os.X_OK):
        pytest.skip("obfs4proxy is not installed (looked for %s)" % OBFS4PROXY)
    sc = run_scenario(tmp_path, scenario="managed", transport="obfs4", client_pt=client_pt,
                      bridge_pt=bridge_pt)
    assert_common(sc, "obfs4")
    if bridge_pt == "warren":
        sc.check("forwarding to tor's ExtORPort" in sc.log("bridge/pt_state/warren.log"),
                 "the bridge-side warren does not say it forwards to tor's ExtORPort")
    else:
        sc.check(re.search(r"STATUS TRANSPORT=obfs4 ADDRESS=127\.0\.0\.1:%d CONNECT=Success"
                           % PT_PORT, sc.log("client.log")),
                 "client tor log has no STATUS ... CONNECT=Success line from warren")
