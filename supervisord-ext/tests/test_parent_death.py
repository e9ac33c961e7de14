"""Children die with supervisord (parent_death_signal, prctl(PR_SET_PDEATHSIG) before exec)."""

import os
import signal
import time

import pytest

from conftest import (KRESD, alive, failing_prctl_launcher, helper_cmd, kresd_rundir, session_pids,
                      wait_gone)


def programs(rundir, extra=""):
    text = f"""
        [program:plain]
        command = {helper_cmd('--name', 'plain')}
        startsecs = 0
        stdout_logfile = NONE
        stderr_logfile = NONE

        [program:svc]
        command = {helper_cmd('--name', 'svc', '--ready-after', '0')}
        startsecs = 0
        stdout_logfile = NONE
        stderr_logfile = NONE

        [program:kresd]
        process_name = kresd%(process_num)d
        numprocs = 1
        command = {KRESD} -n -c worker.lua {rundir}
        directory = {rundir}
        autostart = false
        startsecs = 0
        startretries = 0
        stopwaitsecs = 5
        stdout_logfile = NONE
        stderr_logfile = NONE
        """
    if os.geteuid() == 0:
        # supervisor's set_uid runs in the child before exec, and a uid change clears the
        # parent-death signal: it must be armed after it
        text += """
        [program:unprivileged]
        command = /bin/sleep 60
        user = nobody
        startsecs = 0
        stdout_logfile = NONE
        stderr_logfile = NONE
        """
    return text + extra


def start_all(s):
    """Start everything; returns {namespec: pid} of the children."""
    pids = {"kresd:kresd0": s.rpc.kres.startProcess("kresd:kresd0", 10)}
    names = ["plain", "svc"] + (["unprivileged"] if os.geteuid() == 0 else [])
    for name in names:
        pids[name] = s.wait_state(name, "RUNNING", timeout=5)["pid"]
    assert s.rpc.kres.processInfo("kresd:kresd0")["ready"] is True
    assert sorted(session_pids(s.sid)) == sorted([s.proc.pid] + list(pids.values()))
    return pids


def kill9(s):
    s.signal(signal.SIGKILL)
    # not s.wait_exit(): a child that has not exec'd yet still holds supervisord's stdout, and
    # the output reader would wait for it
    assert s.proc.wait(5) == -signal.SIGKILL


def test_children_die_when_supervisord_is_killed(supervisord, tmp_path):
    rundir, _ = kresd_rundir(tmp_path)
    s = supervisord(programs(rundir), notify_programs="svc kresd:*")
    pids = start_all(s)
    s.wait_output(r"kres: extensions loaded: .* parent death signal SIGKILL")
    kill9(s)
    t0 = time.monotonic()
    assert wait_gone(list(pids.values()), 1.0) == [], pids
    assert time.monotonic() - t0 < 1.0


def test_children_survive_without_parent_death_signal(supervisord, tmp_path):
    # The same as above without the feature: every child outlives supervisord (what
    # supervisord does on its own, as children are in process groups of their own).
    rundir, _ = kresd_rundir(tmp_path)
    s = supervisord(programs(rundir), notify_programs="svc kresd:*", parent_death_signal="none")
    pids = start_all(s)
    try:
        kill9(s)
        time.sleep(1.0)
        assert [p for p in pids.values() if alive(p)] == list(pids.values())
    finally:
        for pid in pids.values():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    assert wait_gone(list(pids.values()), 2.0) == []


def test_parent_death_signal_term(supervisord, tmp_path):
    s = supervisord(f"""
        [program:polite]
        command = {helper_cmd('--name', 'polite')}
        startsecs = 0
        stdout_logfile = NONE
        stderr_logfile = NONE

        [program:stubborn]
        command = {helper_cmd('--name', 'stubborn', '--ignore-term', '--lines', '1')}
        startsecs = 0
        stdout_logfile = NONE
        stderr_logfile = NONE
        """, parent_death_signal="TERM")
    polite = s.wait_state("polite", "RUNNING")["pid"]
    stubborn = s.wait_state("stubborn", "RUNNING")["pid"]
    s.wait_output(r"^stubborn\[%d\]: line 0 of stubborn$" % stubborn)  # SIGTERM ignored by now
    try:
        kill9(s)
        # SIGTERM runs the program's handler (the helper exits 0)...
        assert wait_gone([polite], 1.0) == []
        # ...and a program that ignores SIGTERM survives: that is why KILL is the default
        time.sleep(0.3)
        assert alive(stubborn)
    finally:
        try:
            os.kill(stubborn, signal.SIGKILL)
        except ProcessLookupError:
            pass


# Slows down every child between fork and the rest of supervisor's _spawn_as_child (setpgrp is
# the first thing the child does), to kill supervisord inside the fork..prctl window.
SLOW_CHILD = ("import sys, time; import supervisor.options as o; "
              "real = o.ServerOptions.setpgrp; "
              "o.ServerOptions.setpgrp = lambda self: (time.sleep(1.0), real(self))[1]; "
              "from supervisor.supervisord import main; sys.argv[0] = 'supervisord'; main()")


@pytest.mark.parametrize("setting", ["KILL", "none"])
def test_supervisord_killed_between_fork_and_prctl(supervisord, tmp_path, setting):
    marker = tmp_path / "executed.json"
    s = supervisord(f"""
        [program:late]
        command = {helper_cmd('--name', 'late', '--env-dump', marker)}
        autostart = false
        startsecs = 0
        stdout_logfile = NONE
        stderr_logfile = NONE
        """, python_args=["-c", SLOW_CHILD], parent_death_signal=setting)
    pid = s.rpc.kres.startProcess("late", 0)  # answers right after fork
    kill9(s)
    assert alive(pid)  # still asleep in setpgrp, now an orphan: no parent-death signal will come
    try:
        if setting == "KILL":
            # it notices that supervisord is gone (getppid) and exits instead of exec
            assert wait_gone([pid], 3.0) == []
            time.sleep(0.2)
            assert not marker.exists()
        else:
            # without the feature it execs and lives on
            deadline = time.monotonic() + 5
            while not marker.exists():
                assert time.monotonic() < deadline
                time.sleep(0.02)
            assert alive(pid)
    finally:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def test_prctl_failure_is_logged_and_the_child_runs(supervisord):
    # only PR_SET_PDEATHSIG (1) fails: the child's other prctl calls must work
    launcher = failing_prctl_launcher("option == 1")
    s = supervisord(f"""
        [program:plain]
        command = {helper_cmd('--name', 'plain', '--lines', '1')}
        startsecs = 0
        stdout_logfile = NONE
        stderr_logfile = NONE
        """, python_args=["-c", launcher])
    pid = s.wait_state("plain", "RUNNING")["pid"]
    s.wait_output(r"^plain\[%d\]: kres: prctl\(PR_SET_PDEATHSIG, SIGKILL\) failed: Operation not "
                  r"permitted; this process will not die with supervisord$" % pid)
    s.wait_output(r"^plain\[%d\]: line 0 of plain$" % pid)


def refused(s):
    assert s.wait_exit(10) != 0
    return s.output()


def test_refuses_unknown_parent_death_signal(supervisord):
    out = refused(supervisord("""
        [program:plain]
        command = /bin/sleep 60
        """, parent_death_signal="HUP", wait=False))
    assert "parent_death_signal: 'HUP' is not one of KILL, TERM, none" in out
    assert "Could not make kres rpc interface" in out


def test_refuses_without_prctl(supervisord):
    launcher = ("import sys; import kres_supervisord_ext.pdeathsig as p; "
                "p.libc_name = lambda: 'libkres-test-no-such-libc.so.6'; "
                "from supervisor.supervisord import main; sys.argv[0] = 'supervisord'; main()")
    out = refused(supervisord("""
        [program:plain]
        command = /bin/sleep 60
        """, wait=False, python_args=["-c", launcher]))
    assert "cannot find prctl() in the C library 'libkres-test-no-such-libc.so.6' through " \
           "ctypes" in out
    assert "Could not make kres rpc interface" in out
