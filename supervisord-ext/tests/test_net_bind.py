"""net_bind_programs: a program with ``user=`` starts as that user, never as root, and can still
bind a port below 1024 (ambient CAP_NET_BIND_SERVICE, nothing else)."""

import os
import re
import shlex
import socket
import tempfile

import pytest

from conftest import KRESD, dns_refused, fault_of, kresd_rundir

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="switching users needs root")

CAP_NET_BIND_SERVICE = 1 << 10

# Binds UDP 127.0.0.1:<port>, says so, then waits (the test reads its capabilities meanwhile).
BINDER = ("import socket, sys, time; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); "
          "s.bind(('127.0.0.1', int(sys.argv[1]))); "
          "print('bound', s.getsockname()[1], flush=True); time.sleep(60)")


def privileged_port():
    """A port below 1024 free for UDP and TCP on 127.0.0.1 (we are root here)."""
    for port in range(900, 1000):
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u, \
                    socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t:
                u.bind(("127.0.0.1", port))
                t.bind(("127.0.0.1", port))
                return port
        except OSError:
            continue
    raise RuntimeError("no free port below 1024")


def binder(name, port, user="nobody"):
    command = " ".join(shlex.quote(a) for a in ("/usr/bin/python3", "-c", BINDER, str(port)))
    return f"""
        [program:{name}]
        command = {command}
        user = {user}
        startsecs = 0
        startretries = 0
        autorestart = false
        stdout_logfile = NONE
        stderr_logfile = NONE
        """


def status(pid):
    """Uid line and capability sets of `pid` from /proc."""
    fields = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            key, _, value = line.partition(":")
            fields[key] = value.split()
    return {"uid": [int(u) for u in fields["Uid"]],
            **{k: int(fields[k][0], 16) for k in ("CapInh", "CapPrm", "CapEff", "CapAmb")}}


def test_unprivileged_program_binds_a_privileged_port(supervisord):
    port = privileged_port()
    s = supervisord(binder("web", port), net_bind_programs="web")
    s.wait_output(r"net bind programs web")
    pid = s.wait_state("web", "RUNNING")["pid"]
    s.wait_output(r"^web\[%d\]: bound %d$" % (pid, port))
    st = status(pid)
    nobody = __import__("pwd").getpwnam("nobody").pw_uid
    assert st["uid"] == [nobody] * 4, st
    # exactly one capability, and nothing from root's full set
    for key in ("CapInh", "CapPrm", "CapEff", "CapAmb"):
        assert st[key] == CAP_NET_BIND_SERVICE, (key, hex(st[key]))


def test_without_the_setting_the_program_cannot_bind(supervisord):
    port = privileged_port()
    s = supervisord(binder("web", port), net_bind_programs="other*")
    s.wait_state("web", "EXITED")
    s.wait_output(r"^web\[\d+\]: PermissionError: \[Errno 13\] Permission denied$")


def test_programs_without_user_are_left_alone(supervisord):
    # root stays root (with its full capability set): the setting only concerns user= programs
    port = privileged_port()
    programs = binder("web", port).replace("user = nobody\n", "")
    s = supervisord(programs, net_bind_programs="web")
    pid = s.wait_state("web", "RUNNING")["pid"]
    s.wait_output(r"^web\[%d\]: bound %d$" % (pid, port))
    st = status(pid)
    assert st["uid"] == [0] * 4 and st["CapAmb"] == 0 and st["CapEff"] != CAP_NET_BIND_SERVICE


def test_kresd_as_its_user_on_a_privileged_port(supervisord):
    # pytest's tmp_path is private to root: the worker's user needs a directory it can enter
    with tempfile.TemporaryDirectory() as top:
        os.chmod(top, 0o755)
        kresd_as_its_user(supervisord, top)


def kresd_as_its_user(supervisord, top):
    rundir, _ = kresd_rundir(top)
    port = privileged_port()
    lua = rundir / "worker.lua"
    lua.write_text(re.sub(r"net.listen\('127.0.0.1', \d+\)", "net.listen('127.0.0.1', %d)" % port,
                          lua.read_text()))
    os.chown(rundir, __import__("pwd").getpwnam("knot-resolver").pw_uid, -1)
    programs = f"""
        [program:kresd0]
        command = {KRESD} -n -c worker.lua {rundir}
        directory = {rundir}
        user = knot-resolver
        autostart = false
        startsecs = 0
        startretries = 0
        stdout_logfile = NONE
        stderr_logfile = NONE
        """
    s = supervisord(programs, notify_programs="kresd*", net_bind_programs="kresd*",
                    notify_socket=os.path.join(top, "notify.sock"))
    pid = s.rpc.kres.startProcess("kresd0", 10)
    assert dns_refused(port)
    st = status(pid)
    assert st["uid"][0] != 0 and st["CapEff"] == CAP_NET_BIND_SERVICE, st
    assert fault_of(s.rpc.kres.startProcess, "kresd0", 10).faultCode == 60  # ALREADY_STARTED
