"""net_bind_programs: a program with ``user=`` starts as that user, never as root, and can still
bind a port below 1024 (ambient CAP_NET_BIND_SERVICE, nothing else); every program not listed
starts without the ambient capability an unprivileged supervisord would pass on."""

import os
import pwd
import re
import shlex
import shutil
import socket
import tempfile

import pytest

from conftest import HELPER, KRESD, dns_refused, failing_prctl_launcher, fault_of, helper_cmd, kresd_rundir

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="switching users needs root")

CAP_NET_BIND_SERVICE = 1 << 10

# Binds UDP 127.0.0.1:<port>, says so, then waits (the test reads its capabilities meanwhile).
BINDER = ("import socket, sys, time; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); "
          "s.bind(('127.0.0.1', int(sys.argv[1]))); "
          "print('bound', s.getsockname()[1], flush=True); time.sleep(60)")


def privileged_port(skip=()):
    """A port below 1024 free for UDP and TCP on 127.0.0.1 (we are root here)."""
    for port in range(900, 1000):
        if port in skip:
            continue
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
    nobody = pwd.getpwnam("nobody").pw_uid
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
    os.chown(rundir, pwd.getpwnam("knot-resolver").pw_uid, -1)
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


# --- supervisord itself unprivileged, with the capability as an ambient one (the whole tree
# runs as knot-resolver): every child would inherit it, only the listed ones may keep it.


@pytest.fixture
def user_dir():
    """A directory owned by knot-resolver (pytest's tmp_path is private to root)."""
    with tempfile.TemporaryDirectory() as top:
        user = pwd.getpwnam("knot-resolver")
        os.chown(top, user.pw_uid, user.pw_gid)
        yield top


def as_resolver_with_net_bind():
    """setpriv: supervisord as knot-resolver with ambient CAP_NET_BIND_SERVICE (and nothing
    else), as the service start will run it."""
    return ["setpriv", "--reuid=knot-resolver", "--regid=knot-resolver", "--init-groups",
            "--inh-caps=+net_bind_service", "--ambient-caps=+net_bind_service", "--"]


def probe(name, port, user_dir):
    """A program that tries to bind UDP 127.0.0.1:`port`, says how it went, and stays.

    The system's python and a copy of the helper in `user_dir`: the venv's python may be a link
    into a directory only root can search, and so may the checkout (under /root).
    """
    helper = os.path.join(user_dir, "helper.py")
    if not os.path.exists(helper):
        shutil.copy(HELPER, helper)
        os.chmod(helper, 0o644)
    command = " ".join(shlex.quote(str(x)) for x in ("/usr/bin/python3", "-u", helper, "--bind", port))
    return f"""
        [program:{name}]
        command = {command}
        startsecs = 0
        startretries = 0
        autorestart = false
        stdout_logfile = NONE
        stderr_logfile = NONE
        """


def test_unprivileged_supervisord_passes_the_capability_only_to_listed_programs(
        user_dir, supervisord):
    kresd_port = privileged_port()
    gc_port = privileged_port(skip={kresd_port})
    s = supervisord(probe("kresd1", kresd_port, user_dir) + probe("cache-gc", gc_port, user_dir),
                    workdir=user_dir, wrapper=as_resolver_with_net_bind(),
                    net_bind_programs="kresd* canary manager")
    resolver = pwd.getpwnam("knot-resolver").pw_uid
    supervisord_st = status(s.proc.pid)
    assert supervisord_st["uid"] == [resolver] * 4, supervisord_st
    assert supervisord_st["CapAmb"] == CAP_NET_BIND_SERVICE, supervisord_st

    kresd = s.wait_state("kresd1", "RUNNING")["pid"]
    s.wait_output(r"^kresd1\[%d\]: bound %d$" % (kresd, kresd_port))
    st = status(kresd)
    assert st["uid"] == [resolver] * 4, st
    for key in ("CapPrm", "CapEff", "CapAmb"):
        assert st[key] == CAP_NET_BIND_SERVICE, (key, hex(st[key]))

    gc = s.wait_state("cache-gc", "RUNNING")["pid"]
    s.wait_output(r"^cache-gc\[%d\]: bind failed: Permission denied$" % gc)
    st = status(gc)
    assert st["uid"] == [resolver] * 4, st
    for key in ("CapPrm", "CapEff", "CapAmb"):
        assert st[key] == 0, (key, hex(st[key]))


def test_unprivileged_supervisord_without_the_setting_passes_no_capability(
        user_dir, supervisord):
    # net_bind_programs empty: no program keeps what supervisord has
    port = privileged_port()
    s = supervisord(probe("web", port, user_dir), workdir=user_dir,
                    wrapper=as_resolver_with_net_bind())
    pid = s.wait_state("web", "RUNNING")["pid"]
    s.wait_output(r"^web\[%d\]: bind failed: Permission denied$" % pid)
    st = status(pid)
    assert (st["CapPrm"], st["CapEff"], st["CapAmb"]) == (0, 0, 0), st


def test_a_failing_clear_is_fatal_for_the_child(supervisord):
    # prctl(PR_CAP_AMBIENT (47), PR_CAP_AMBIENT_CLEAR_ALL (4)) fails: the program is not exec'd
    launcher = failing_prctl_launcher("(option, arg2) == (47, 4)")
    s = supervisord(f"""
        [program:gc]
        command = {helper_cmd("--lines", "1")}
        startsecs = 0
        startretries = 0
        autorestart = false
        stdout_logfile = NONE
        stderr_logfile = NONE
        """, python_args=["-c", launcher], net_bind_programs="kresd*")
    pid = int(s.wait_output(r"spawned: 'gc' with pid (\d+)").group(1))
    info = s.wait_state("gc", "EXITED")
    assert info["exitstatus"] == 126, info
    s.wait_output(r"^gc\[%d\]: kres: net_bind_programs: prctl\(PR_CAP_AMBIENT_CLEAR_ALL\) "
                  r"failed: Operation not permitted; not starting with the ambient "
                  r"capabilities of supervisord$" % pid)
    assert "line 0 of" not in s.output()
