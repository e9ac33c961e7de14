"""Extension 2: sd_notify readiness."""

import json
import socket
import time
import xmlrpc.client

from conftest import KRESD, dns_refused, fault_of, helper_cmd, kresd_rundir


def test_running_only_after_ready(supervisord):
    s = supervisord(f"""
        [program:slow]
        command = {helper_cmd('--ready-after', '0.8', '--status', 'serving')}
        startsecs = 0
        stdout_logfile = NONE
        stderr_logfile = NONE
        """, notify_programs="slow")
    # Without the extension startsecs=0 would make it RUNNING at once.
    time.sleep(0.4)
    assert s.rpc.supervisor.getProcessInfo("slow")["statename"] == "STARTING"
    info = s.rpc.kres.processInfo("slow")
    assert info["notify"] is True and info["ready"] is False and info["ready_ms"] == -1.0
    s.wait_state("slow", "RUNNING", timeout=3)
    info = s.rpc.kres.processInfo("slow")
    assert info["ready"] is True
    assert info["status"] == "serving"
    # RUNNING came with READY=1, which the helper sends 0.8 s after its own start
    assert 800 <= info["ready_ms"] < 3000
    s.wait_output(r"success: slow entered RUNNING state, READY=1 after \d+")


def test_no_ready_within_timeout_is_fatal(supervisord):
    s = supervisord(f"""
        [program:mute]
        command = {helper_cmd('--lines', '2', '--name', 'mute')}
        startsecs = 0
        startretries = 3
        stdout_logfile = NONE
        stderr_logfile = NONE
        """, notify_programs="mute=0.5", notify_timeout="30")
    t0 = time.monotonic()
    info = s.wait_state("mute", "FATAL", timeout=4)
    elapsed = time.monotonic() - t0
    # killed after 0.5 s and FATAL at once: no retries although startretries=3
    assert elapsed < 2.5, elapsed
    assert "no READY=1 within 0.5 s" in info["spawnerr"]
    assert s.output().count("spawned: 'mute'") == 1
    s.wait_output(r"kres: mute \(pid \d+\) sent no READY=1 within 0.5 s: killing it")
    s.wait_output(r"gave up: mute entered FATAL state: no READY=1 within 0.5 s")
    kinfo = s.rpc.kres.processInfo("mute")
    assert kinfo["pid"] == 0 and kinfo["failure"].startswith("no READY=1")


def test_ready_from_another_pid_is_ignored(supervisord):
    s = supervisord(f"""
        [program:liar]
        command = {helper_cmd('--ready-after', '0', '--ready-from-child')}
        startsecs = 0
        stdout_logfile = NONE
        stderr_logfile = NONE
        """, notify_programs="liar=0.6")
    info = s.wait_state("liar", "FATAL", timeout=4)
    assert "no READY=1" in info["spawnerr"]


def test_exit_before_ready_is_a_failed_start(supervisord):
    s = supervisord(f"""
        [program:broken]
        command = {helper_cmd('--stderr', 'config error: no such option', '--exit-after', '0.1',
                              '--exit-code', '3')}
        autostart = false
        startsecs = 0
        startretries = 0
        stdout_logfile = NONE
        stderr_logfile = NONE
        """, notify_programs="broken")
    t0 = time.monotonic()
    f = fault_of(s.rpc.kres.startProcess, "broken", 5)
    assert time.monotonic() - t0 < 2
    assert f.faultCode == 40  # ABNORMAL_TERMINATION
    assert "broken: exited before READY=1 (exit status 3)" in f.faultString
    assert "broken[" in f.faultString and "]: config error: no such option" in f.faultString
    info = s.wait_state("broken", "FATAL", timeout=3)
    assert "exited before READY=1" in info["spawnerr"]


def test_status_and_stopping_recorded(supervisord):
    s = supervisord(f"""
        [program:talker]
        command = {helper_cmd('--ready-after', '0', '--status', 'starting up',
                              '--usr1-status', 'phase two')}
        autostart = false
        startsecs = 0
        stdout_logfile = NONE
        stderr_logfile = NONE
        """, notify_programs="talker")
    pid = s.rpc.kres.startProcess("talker", 0)
    assert s.rpc.kres.processInfo("talker")["status"] == "starting up"
    s.rpc.supervisor.signalProcess("talker", "USR1")
    deadline = time.monotonic() + 3
    while s.rpc.kres.processInfo("talker")["status"] != "phase two":
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert s.rpc.kres.processInfo("talker")["stopping"] is False
    assert s.rpc.kres.stopProcess("talker", 0) is True
    info = s.rpc.kres.processInfo("talker")
    assert info["statename"] == "STOPPED" and info["stopping"] is True
    assert info["pid"] == 0 and pid > 0


def test_children_get_clean_environment(supervisord, tmp_path):
    # supervisord itself runs as if under systemd with a watchdog: none of it may leak.
    systemd = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    systemd.bind(str(tmp_path / "systemd.sock"))
    try:
        s = supervisord(f"""
            [program:plain]
            command = {helper_cmd('--env-dump', tmp_path / 'plain.json')}
            environment = WATCHDOG_USEC="5000000",FOO="bar"
            startsecs = 0
            stdout_logfile = NONE
            stderr_logfile = NONE

            [program:notified]
            command = {helper_cmd('--env-dump', tmp_path / 'notified.json', '--ready-after', '0')}
            startsecs = 0
            stdout_logfile = NONE
            stderr_logfile = NONE
            """, notify_programs="notified",
            extra_env={"NOTIFY_SOCKET": str(tmp_path / "systemd.sock"),
                       "WATCHDOG_USEC": "60000000", "WATCHDOG_PID": ""})
        s.wait_state("notified", "RUNNING")
        s.wait_state("plain", "RUNNING")
        deadline = time.monotonic() + 3
        while not ((tmp_path / "plain.json").exists() and (tmp_path / "notified.json").exists()):
            assert time.monotonic() < deadline
            time.sleep(0.01)
        plain = json.loads((tmp_path / "plain.json").read_text())
        notified = json.loads((tmp_path / "notified.json").read_text())
        assert plain["FOO"] == "bar"
        for env in (plain, notified):
            assert not [k for k in env if k.startswith("WATCHDOG_")], env
        assert "NOTIFY_SOCKET" not in plain
        assert notified["NOTIFY_SOCKET"] == str(tmp_path / "kres-notify.sock")
    finally:
        systemd.close()


def test_unknown_sender_is_ignored(supervisord, tmp_path):
    s = supervisord(f"""
        [program:waiter]
        command = {helper_cmd()}
        startsecs = 0
        stdout_logfile = NONE
        stderr_logfile = NONE
        """, notify_programs="waiter=1.0")
    # READY=1 from the test process (not the program's pid) must not make it RUNNING.
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as c:
        c.sendto(b"READY=1", str(tmp_path / "kres-notify.sock"))
    time.sleep(0.3)
    assert s.rpc.supervisor.getProcessInfo("waiter")["statename"] == "STARTING"
    s.wait_state("waiter", "FATAL", timeout=3)


def test_kresd_sends_ready(supervisord, tmp_path):
    rundir, port = kresd_rundir(tmp_path)
    s = supervisord(f"""
        [program:kresd]
        process_name = kresd%(process_num)d
        numprocs = 2
        command = {KRESD} -n -c worker.lua {rundir}
        directory = {rundir}
        autostart = false
        startsecs = 0
        startretries = 0
        stopwaitsecs = 5
        stdout_logfile = NONE
        stderr_logfile = NONE
        """, notify_programs="kresd:*=10",
        # a stray empty WATCHDOG_PID makes kresd fail at start-up if it leaks through
        extra_env={"WATCHDOG_USEC": "60000000", "WATCHDOG_PID": ""})
    pids = []
    for name in ("kresd:kresd0", "kresd:kresd1"):
        t0 = time.monotonic()
        pid = s.rpc.kres.startProcess(name, 10)
        elapsed = time.monotonic() - t0
        assert elapsed < 3, elapsed
        info = s.rpc.kres.processInfo(name)
        assert info["statename"] == "RUNNING" and info["ready"] and info["pid"] == pid
        assert info["ready_ms"] > 0
        pids.append(pid)
    # ready means it answers: a query is REFUSED by the final policy rule
    assert dns_refused(port)
    for name in ("kresd:kresd0", "kresd:kresd1"):
        t0 = time.monotonic()
        assert s.rpc.kres.stopProcess(name, 0) is True
        assert time.monotonic() - t0 < 2
        assert s.rpc.supervisor.getProcessInfo(name)["statename"] == "STOPPED"
    # kresd's output went to the merged stream with its pid
    s.wait_output(r"^kresd:kresd0\[%d\]: " % pids[0])
