"""Extension 1: kres.startProcess / stopProcess / processInfo / getAllProcessInfo / tail."""

import time

from conftest import fault_of, helper_cmd

PLAIN = """
    [program:{name}]
    command = {cmd}
    autostart = false
    startsecs = {startsecs}
    startretries = 0
    stopwaitsecs = {stopwaitsecs}
    stdout_logfile = NONE
    stderr_logfile = NONE
"""


def program(name, cmd, startsecs=0, stopwaitsecs=10):
    return PLAIN.format(name=name, cmd=cmd, startsecs=startsecs, stopwaitsecs=stopwaitsecs)


def test_start_non_notify_does_not_wait_for_startsecs(supervisord):
    s = supervisord(program("plain", helper_cmd(), startsecs=5))
    t0 = time.monotonic()
    pid = s.rpc.kres.startProcess("plain", 0)
    elapsed = time.monotonic() - t0
    # supervisor.startProcess would wait startsecs=5 s here
    assert elapsed < 0.5, elapsed
    info = s.rpc.supervisor.getProcessInfo("plain")
    assert info["pid"] == pid and info["statename"] in ("STARTING", "RUNNING")


def test_start_notify_returns_when_ready(supervisord):
    s = supervisord(program("svc", helper_cmd("--ready-after", "0.3"), startsecs=10),
                    notify_programs="svc")
    t0 = time.monotonic()
    pid = s.rpc.kres.startProcess("svc", 5)
    elapsed = time.monotonic() - t0
    assert 0.3 <= elapsed < 1.5, elapsed
    info = s.rpc.supervisor.getProcessInfo("svc")
    # RUNNING at once although startsecs=10: readiness comes from READY=1
    assert info["statename"] == "RUNNING" and info["pid"] == pid


def test_start_timeout_kills_and_reports_output(supervisord):
    s = supervisord(program("hang", helper_cmd("--lines", "3", "--name", "hang")),
                    notify_programs="hang", notify_timeout="30")
    t0 = time.monotonic()
    f = fault_of(s.rpc.kres.startProcess, "hang", 0.5)
    elapsed = time.monotonic() - t0
    assert 0.45 <= elapsed < 1.5, elapsed
    assert f.faultCode == 30  # FAILED
    assert f.faultString.startswith("FAILED: hang: no READY=1 within 0.5 s (killed); last output:")
    assert "]: line 2 of hang" in f.faultString
    info = s.wait_state("hang", "FATAL", timeout=3)
    assert info["pid"] == 0


def test_start_faults(supervisord, tmp_path):
    s = supervisord(program("one", helper_cmd("--ready-after", "0"))
                    + program("missing", str(tmp_path / "no-such-binary"))
                    + """
    [program:grp]
    process_name = grp%(process_num)d
    numprocs = 2
    command = /bin/sleep 60
    autostart = false
    stdout_logfile = NONE
    stderr_logfile = NONE
    """, notify_programs="one")
    assert fault_of(s.rpc.kres.startProcess, "nosuch", 0).faultCode == 10  # BAD_NAME
    assert fault_of(s.rpc.kres.startProcess, "grp:*", 0).faultCode == 10
    assert fault_of(s.rpc.kres.startProcess, "grp", 0).faultCode == 10
    assert fault_of(s.rpc.kres.startProcess, "one", -1).faultCode == 3  # BAD_ARGUMENTS
    assert fault_of(s.rpc.kres.startProcess, "one", "x").faultCode == 3
    assert fault_of(s.rpc.kres.startProcess, "missing", 0).faultCode == 20  # NO_FILE
    pid = s.rpc.kres.startProcess("one", 0)
    assert pid > 0
    assert fault_of(s.rpc.kres.startProcess, "one", 0).faultCode == 60  # ALREADY_STARTED
    assert s.rpc.kres.startProcess("grp:grp1", 0) > 0
    assert fault_of(s.rpc.kres.stopProcess, "grp:grp0", 0).faultCode == 70  # NOT_RUNNING
    assert fault_of(s.rpc.kres.tail, "one", -1).faultCode == 3
    assert fault_of(s.rpc.kres.processInfo, "nosuch").faultCode == 10


def test_stop_is_fast_and_escalates(supervisord):
    s = supervisord(program("nice", helper_cmd())
                    + program("stubborn", helper_cmd("--ignore-term"), stopwaitsecs=30))
    s.rpc.kres.startProcess("nice", 0)
    s.rpc.kres.startProcess("stubborn", 0)
    time.sleep(0.3)  # let the helpers install their signal handlers
    t0 = time.monotonic()
    assert s.rpc.kres.stopProcess("nice", 0) is True
    assert time.monotonic() - t0 < 0.5
    assert s.rpc.supervisor.getProcessInfo("nice")["statename"] == "STOPPED"
    t0 = time.monotonic()
    # ignores SIGTERM: SIGKILL after the given 0.4 s instead of stopwaitsecs=30
    assert s.rpc.kres.stopProcess("stubborn", 0.4) is True
    elapsed = time.monotonic() - t0
    assert 0.35 <= elapsed < 1.5, elapsed
    s.wait_output(r"killing 'stubborn' \(\d+\) with SIGKILL")


def test_restart_cycle_and_info(supervisord):
    s = supervisord(program("a", helper_cmd("--ready-after", "0", "--status", "up"))
                    + program("b", helper_cmd()), notify_programs="a")
    pids = set()
    t0 = time.monotonic()
    for _ in range(5):
        pids.add(s.rpc.kres.startProcess("a", 5))
        assert s.rpc.kres.stopProcess("a", 0) is True
    # 5 start/stop cycles of a python program: no 1 s polls anywhere
    assert time.monotonic() - t0 < 3.0
    assert len(pids) == 5
    s.rpc.kres.startProcess("a", 5)
    infos = s.rpc.kres.getAllProcessInfo()
    assert [i["namespec"] for i in infos] == ["a", "b"]
    a, b = infos
    assert a["statename"] == "RUNNING" and a["ready"] and a["notify"] and a["status"] == "up"
    assert not b["notify"] and not b["ready"] and b["statename"] == "STOPPED"
    assert set(a) == {"name", "group", "namespec", "pid", "state", "statename", "start", "stop",
                      "now", "exitstatus", "spawnerr", "notify", "ready", "ready_ms", "status",
                      "stopping", "failure", "manager"}
    v = s.rpc.kres.getVersion()
    assert v["api"] == 1 and v["supervisor"].startswith("4.")


def test_stop_while_starting_fails_the_waiting_start(supervisord):
    import threading
    import xmlrpc.client

    from conftest import SupervisorTransport

    s = supervisord(program("slowpoke", helper_cmd("--ready-after", "5")),
                    notify_programs="slowpoke")
    result = {}

    def starter():
        rpc = xmlrpc.client.ServerProxy(
            "http://127.0.0.1", transport=SupervisorTransport(None, None, "unix://%s" % s.sock))
        try:
            result["pid"] = rpc.kres.startProcess("slowpoke", 10)
        except xmlrpc.client.Fault as f:
            result["fault"] = f

    t = threading.Thread(target=starter)
    t.start()
    s.wait_state("slowpoke", "STARTING")
    time.sleep(0.2)
    assert s.rpc.kres.stopProcess("slowpoke", 0) is True
    t.join(3)
    assert not t.is_alive()
    f = result["fault"]
    assert f.faultCode == 40, f
    assert "slowpoke: stopped or exited before it was ready (now STOPP" in f.faultString
