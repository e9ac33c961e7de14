"""Extension 4: manager lifecycle, plus refusal to load on bad settings or internals."""

import signal
import socket
import time

from conftest import helper_cmd, session_pids


def manager_programs(tmp_path, manager_args=(), worker_count=2, manager_extra=""):
    text = f"""
        [program:manager]
        command = {helper_cmd('--name', 'manager', *manager_args)}
        priority = 1
        startsecs = 0
        startretries = 1
        stopwaitsecs = 5
        stdout_logfile = NONE
        stderr_logfile = NONE
        {manager_extra}
        """
    for i in range(worker_count):
        text += f"""
        [program:worker{i}]
        command = {helper_cmd('--name', f'worker{i}', '--ready-after', '0')}
        priority = 100
        startsecs = 0
        stopwaitsecs = 5
        stdout_logfile = NONE
        stderr_logfile = NONE
        """
    return text


def test_sighup_goes_to_the_manager(supervisord, tmp_path):
    hup = tmp_path / "hup"
    s = supervisord(manager_programs(tmp_path, ("--ready-after", "0", "--hup-file", hup)),
                    notify_programs="manager worker*", manager_program="manager")
    s.wait_state("manager", "RUNNING")
    time.sleep(0.2)  # the helper installs its SIGHUP handler at start-up
    before = {i["namespec"]: i["pid"] for i in s.rpc.kres.getAllProcessInfo()}
    assert all(before.values())
    s.signal(signal.SIGHUP)
    s.wait_output(r"^manager\[%d\]: got SIGHUP$" % before["manager"])
    s.wait_output(r"kres: received SIGHUP: forwarded to the manager manager \(pid %d\)"
                  % before["manager"])
    assert hup.read_text() == "HUP\n"
    # supervisord did not reload itself: same processes, still running
    after = {i["namespec"]: i["pid"] for i in s.rpc.kres.getAllProcessInfo()}
    assert after == before
    assert s.proc.poll() is None
    assert "restart request" not in s.output()


def test_readiness_relayed_and_ordered_shutdown(supervisord, tmp_path):
    systemd = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    systemd.bind(str(tmp_path / "systemd.sock"))
    systemd.settimeout(5)
    try:
        s = supervisord(manager_programs(tmp_path, ("--ready-after", "0.2",
                                                    "--status", "manager up")),
                        notify_programs="manager worker*", manager_program="manager",
                        extra_env={"NOTIFY_SOCKET": str(tmp_path / "systemd.sock")})
        msg = systemd.recv(4096).decode()
        assert msg.split("\n") == ["READY=1", "STATUS=manager up"]
        for w in ("worker0", "worker1"):
            s.wait_state(w, "RUNNING")
        t0 = time.monotonic()
        s.signal(signal.SIGTERM)
        assert systemd.recv(4096).decode() == "STOPPING=1"
        assert s.wait_exit(10) == 0
        assert time.monotonic() - t0 < 3
        out = s.output().split("\n")
        stopped = [i for i, line in enumerate(out) if "INFO stopped: " in line]
        names = [out[i].split("INFO stopped: ")[1].split(" ")[0] for i in stopped]
        # workers first, the manager last
        assert names[-1] == "manager" and sorted(names[:-1]) == ["worker0", "worker1"], names
        # the manager's STOPPING=1 is relayed while it stops
        assert systemd.recv(4096).decode() == "STOPPING=1"
    finally:
        systemd.close()


def test_manager_fatal_stops_everything_and_exits_nonzero(supervisord, tmp_path):
    s = supervisord(manager_programs(tmp_path, ("--stderr", "manager: bad config",
                                                "--exit-after", "0.05", "--exit-code", "2")),
                    notify_programs="manager worker*", manager_program="manager",
                    manager_fatal_exit_code="3", wait=False)
    t0 = time.monotonic()
    code = s.wait_exit(15)
    elapsed = time.monotonic() - t0
    assert code == 3, s.output()
    assert elapsed < 8, elapsed
    out = s.output()
    assert "kres: the manager manager entered FATAL state (exited before READY=1 (exit status 2))" \
        in out
    assert "manager: bad config" in out
    # supervisord exited: nothing it started is still alive
    assert session_pids(s.sid) == []


def test_sighup_without_manager_keeps_supervisord_behaviour(supervisord):
    s = supervisord("""
        [program:plain]
        command = /bin/sleep 60
        startsecs = 0
        stdout_logfile = NONE
        stderr_logfile = NONE
        """)
    s.wait_state("plain", "RUNNING")
    s.signal(signal.SIGHUP)
    s.wait_output(r"received SIGHUP indicating restart request")
    # after its own reload the extension is loaded again and works
    deadline = time.monotonic() + 5
    while s.output().count("kres: extensions loaded") < 2:
        assert time.monotonic() < deadline, s.output()
        time.sleep(0.02)
    while True:
        try:
            if s.rpc.kres.processInfo("plain")["statename"] == "RUNNING":
                break
        except Exception:
            s.transport.close()  # the old connection died with the reload
        assert time.monotonic() < deadline, s.output()
        time.sleep(0.02)


def refused(s):
    code = s.wait_exit(10)
    assert code != 0
    return s.output()


def test_refuses_manager_without_lowest_priority(supervisord, tmp_path):
    programs = manager_programs(tmp_path).replace("priority = 1\n", "priority = 500\n")
    out = refused(supervisord(programs, manager_program="manager", wait=False))
    assert "must have the lowest priority" in out
    assert "Could not make kres rpc interface" in out


def test_refuses_unknown_settings(supervisord):
    out = refused(supervisord("""
        [program:plain]
        command = /bin/sleep 60
        """, notfy_programs="plain", wait=False))
    assert "unknown key(s) in the kres rpcinterface section: notfy_programs" in out


def test_refuses_unknown_manager(supervisord):
    out = refused(supervisord("""
        [program:plain]
        command = /bin/sleep 60
        """, manager_program="boss", wait=False))
    assert "manager_program 'boss' is not a program of this supervisord" in out


def test_refuses_supervisor_with_unexpected_internals(supervisord):
    # Simulate a supervisor whose Subprocess lost a method the extension hooks.
    launcher = ("import sys; import supervisor.process as p; del p.Subprocess._spawn_as_child; "
                "from supervisor.supervisord import main; sys.argv[0] = 'supervisord'; main()")
    out = refused(supervisord("""
        [program:plain]
        command = /bin/sleep 60
        """, wait=False, python_args=["-c", launcher]))
    assert "kres_supervisord_ext cannot be loaded into supervisor" in out
    assert "[sd_notify] Subprocess._spawn_as_child is missing" in out


def test_watchdog_pings_service_manager(supervisord, tmp_path):
    systemd = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    systemd.bind(str(tmp_path / "systemd.sock"))
    systemd.settimeout(3)
    try:
        supervisord("""
            [program:plain]
            command = /bin/sleep 60
            startsecs = 0
            stdout_logfile = NONE
            stderr_logfile = NONE
            """, extra_env={"NOTIFY_SOCKET": str(tmp_path / "systemd.sock"),
                            "WATCHDOG_USEC": "200000"})
        t0 = time.monotonic()
        pings = 0
        while pings < 4:
            if systemd.recv(4096) == b"WATCHDOG=1":
                pings += 1
        # every WATCHDOG_USEC/2 = 0.1 s, although the main loop polls with a 1 s timeout
        assert time.monotonic() - t0 < 0.9
    finally:
        systemd.close()


def test_shutdown_does_not_wait_for_poll_timeouts(supervisord):
    programs = ""
    for i, autostart in enumerate(["true", "false", "false", "true", "false"]):
        programs += f"""
        [program:p{i}]
        command = /bin/sleep 60
        priority = {10 * (i + 1)}
        autostart = {autostart}
        startsecs = 10
        stdout_logfile = NONE
        stderr_logfile = NONE
        """
    s = supervisord(programs)
    s.wait_output(r"spawned: 'p3'")
    t0 = time.monotonic()
    s.signal(signal.SIGTERM)
    assert s.wait_exit(10) == 0
    # supervisord stops one group per main-loop pass and sleeps in poll (1 s) after each
    # group that had nothing to stop; with the extension no pass waits for nothing
    assert time.monotonic() - t0 < 0.8, s.output()
