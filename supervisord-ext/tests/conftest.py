"""Fixtures: a real supervisord (from the venv) in a temporary directory.

Every supervisord is started in its own session (start_new_session), so every process it
starts (children call setpgrp but stay in the session) can be found through /proc and killed
in the finalizer, whatever happened in the test.
"""

import http.client
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
import xmlrpc.client
from pathlib import Path

import pytest
from supervisor.xmlrpc import SupervisorTransport

HERE = Path(__file__).resolve().parent
HELPER = HERE / "helper.py"
VENV_BIN = Path(sys.executable).parent
SUPERVISORD = VENV_BIN / "supervisord"
KRESD = "/usr/sbin/kresd"


def failing_prctl_launcher(fails):
    """`python -c` code that runs supervisord with the extension's prctl failing with EPERM when
    the expression `fails` (over `option` and `arg2`) is true; every other call goes through."""
    return ("import sys, ctypes, errno; import kres_supervisord_ext.core as core\n"
            "real = core.load_prctl\n"
            "def load_prctl():\n"
            "    prctl = real()\n"
            "    def fake(option, arg2=0, *args):\n"
            f"        if not ({fails}):\n"
            "            return prctl(option, arg2, *args)\n"
            "        ctypes.set_errno(errno.EPERM)\n"
            "        return -1\n"
            "    return fake\n"
            "core.load_prctl = load_prctl\n"
            "from supervisor.supervisord import main; sys.argv[0] = 'supervisord'; main()")


def helper_cmd(*args, python=sys.executable):
    """A supervisord `command=` running tests/helper.py with the given arguments."""
    return " ".join(shlex.quote(str(x)) for x in (python, "-u", HELPER) + args)


def session_pids(sid, include_zombies=False):
    """Pids of processes in session `sid` (supervisord and everything it started)."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        state, session = fields[0], int(fields[3])
        if session == sid and (include_zombies or state != "Z"):
            pids.append(int(entry))
    return pids


def kill_session(sid):
    for _ in range(50):
        pids = session_pids(sid)
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.02)


def alive(pid):
    """Whether `pid` exists and is not a zombie (an orphan's zombie waits for init to reap it)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def wait_gone(pids, timeout):
    """Wait until none of `pids` is alive; returns those still alive after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        left = [p for p in pids if alive(p)]
        if not left or time.monotonic() >= deadline:
            return left
        time.sleep(0.01)


def free_port():
    """A port free for both UDP and TCP on 127.0.0.1."""
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t:
            t.bind(("127.0.0.1", 0))
            port = t.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
                try:
                    u.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return port
    raise RuntimeError("no free port")


def kresd_rundir(tmp_path, name="kresd"):
    """A run directory with a minimal kresd worker config; returns (dir, UDP/TCP port).

    Offline: no trust anchor, no priming; every query is REFUSED by the last policy rule.
    """
    port = free_port()
    rundir = Path(tmp_path) / name
    rundir.mkdir()
    (rundir / "worker.lua").write_text(f"""
trust_anchors.remove('.')
modules.unload('priming')
modules.unload('ta_signal_query')
modules.unload('detect_time_skew')
modules.unload('ta_sentinel')
cache.open(10 * MB, 'lmdb://{rundir}/cache')
net.listen('127.0.0.1', {port})
policy.add(policy.all(policy.REFUSE))
""")
    return rundir, port


def dns_refused(port):
    """Send one query to 127.0.0.1:port; True when the answer is REFUSED (kresd answers)."""
    query = bytes.fromhex("abcd01000001000000000000") + b"\x03foo\x07example\x00\x00\x01\x00\x01"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as c:
        c.settimeout(3)
        c.sendto(query, ("127.0.0.1", port))
        answer = c.recv(512)
    return answer[:2] == b"\xab\xcd" and answer[3] & 0x0F == 5


class Supervisord:
    def __init__(self, workdir, programs, kres_settings, extra_env=None, load_ext=True,
                 python_args=None, wrapper=None):
        self.dir = Path(workdir)
        self.sock = self.dir / "supervisor.sock"
        self.conf = self.dir / "supervisord.conf"
        self.childlogdir = self.dir / "childlog"
        self.childlogdir.mkdir(exist_ok=True)
        self.kres_settings = dict(kres_settings)
        self.write_config(programs, kres_settings, load_ext)
        env = dict(os.environ)
        for key in list(env):
            if key == "NOTIFY_SOCKET" or key.startswith("WATCHDOG_"):
                del env[key]
        env.update(extra_env or {})
        cmd = [str(SUPERVISORD), "-c", str(self.conf)]
        if python_args is not None:
            cmd = [sys.executable] + python_args + ["-c", str(self.conf)]
        if wrapper:
            cmd = list(wrapper) + cmd  # e.g. setpriv, to start supervisord as another user
        self.lines = []
        self.cond = threading.Condition()
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, env=env, cwd=str(self.dir),
                                     start_new_session=True)
        self.sid = self.proc.pid
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        self.transport = SupervisorTransport(None, None, "unix://%s" % self.sock)
        self.rpc = xmlrpc.client.ServerProxy("http://127.0.0.1", transport=self.transport)

    def write_config(self, programs, kres_settings, load_ext=True):
        """(Re)write supervisord.conf; used at start and by tests of supervisor.reloadConfig."""
        kres = ""
        if load_ext:
            kres = "[rpcinterface:kres]\n" \
                   "supervisor.rpcinterface_factory = kres_supervisord_ext:make_rpcinterface\n"
            for key, value in kres_settings.items():
                kres += "%s = %s\n" % (key, value)
        self.conf.write_text(textwrap.dedent("""\
            [unix_http_server]
            file = {sock}
            chmod = 0600

            [supervisord]
            nodaemon = true
            logfile = /dev/null
            logfile_maxbytes = 0
            pidfile = {dir}/supervisord.pid
            childlogdir = {childlogdir}
            directory = {dir}
            loglevel = info

            [rpcinterface:supervisor]
            supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

            """).format(sock=self.sock, dir=self.dir, childlogdir=self.childlogdir)
            + kres + "\n" + textwrap.dedent(programs))

    def _read(self):
        for raw in self.proc.stdout:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            with self.cond:
                self.lines.append(line)
                self.cond.notify_all()
        with self.cond:
            self.cond.notify_all()

    def wait_ready(self, timeout=10):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("supervisord exited with %s:\n%s"
                                     % (self.proc.returncode, self.output()))
            if self.sock.exists():
                try:
                    if self.rpc.supervisor.getState()["statename"] == "RUNNING":
                        return self
                except (OSError, xmlrpc.client.Error, http.client.HTTPException):
                    # the socket may exist before supervisord listens on it; a failed request
                    # leaves the transport's connection unusable: start a new one
                    self.transport.close()
            time.sleep(0.02)
        raise AssertionError("supervisord not ready:\n%s" % self.output())

    def output(self):
        with self.cond:
            return "\n".join(self.lines)

    def wait_output(self, pattern, timeout=5):
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for line in self.lines:
                    m = rx.search(line)
                    if m:
                        return m
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError("no output line matches %r:\n%s"
                                         % (pattern, "\n".join(self.lines)))
                self.cond.wait(left)

    def wait_state(self, name, statename, timeout=5):
        deadline = time.monotonic() + timeout
        while True:
            info = self.rpc.supervisor.getProcessInfo(name)
            if info["statename"] == statename:
                return info
            if time.monotonic() > deadline:
                raise AssertionError("%s is %s, not %s" % (name, info["statename"], statename))
            time.sleep(0.01)

    def wait_exit(self, timeout=10):
        try:
            return self.proc.wait(timeout)
        finally:
            self.reader.join(2)

    def signal(self, sig):
        os.kill(self.proc.pid, sig)

    def close(self):
        try:
            self.transport.close()
        except Exception:
            pass
        if self.proc.poll() is None:
            try:
                self.proc.send_signal(signal.SIGTERM)
                self.proc.wait(5)
            except (subprocess.TimeoutExpired, ProcessLookupError):
                pass
        kill_session(self.sid)
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
        self.reader.join(2)
        if self.proc.stdout:
            self.proc.stdout.close()


@pytest.fixture
def supervisord(tmp_path):
    """Factory: supervisord(programs_ini, **kres_settings) -> a running Supervisord.

    `workdir` replaces tmp_path (which only root can enter); `wrapper` is a command put in
    front of supervisord's (e.g. setpriv, to start it as another user).
    """
    started = []

    def start(programs, extra_env=None, wait=True, load_ext=True, python_args=None,
              workdir=None, wrapper=None, **settings):
        s = Supervisord(workdir or tmp_path, programs, settings, extra_env=extra_env,
                        load_ext=load_ext, python_args=python_args, wrapper=wrapper)
        started.append(s)
        if wait:
            s.wait_ready()
        return s

    yield start
    for s in started:
        s.close()
    for s in started:
        left = session_pids(s.sid)
        assert not left, "processes left behind: %s" % left


def fault_of(call, *args):
    try:
        call(*args)
    except xmlrpc.client.Fault as f:
        return f
    raise AssertionError("no fault from %r%r" % (call, args))
