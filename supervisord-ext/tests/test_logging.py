"""Extension 3: merged, prefixed output; no log files; in-memory tail."""

import os
import socket
import time

from conftest import helper_cmd


def test_output_merged_with_name_and_pid(supervisord, tmp_path):
    s = supervisord(f"""
        [program:alpha]
        command = {helper_cmd('--lines', '3', '--name', 'alpha', '--stderr', 'alpha complains',
                              '--partial', 'alpha unterminated', '--exit-after', '0.2')}
        startsecs = 0
        autorestart = false
        stdout_logfile = NONE
        stderr_logfile = NONE

        [group:workers]
        programs = beta

        [program:beta]
        command = {helper_cmd('--lines', '2', '--name', 'beta')}
        redirect_stderr = true
        startsecs = 0
        stdout_logfile = NONE
        """)
    s.wait_state("alpha", "EXITED", timeout=5)
    apid = s.rpc.supervisor.getProcessInfo("alpha")["pid"] or None
    m = s.wait_output(r"^alpha\[(\d+)\]: line 0 of alpha$")
    pid = int(m.group(1))
    assert apid is None  # exited
    for line in ("line 1 of alpha", "line 2 of alpha", "alpha complains",
                 "alpha unterminated"):
        s.wait_output(r"^alpha\[%d\]: %s$" % (pid, line))
    bpid = s.rpc.supervisor.getProcessInfo("workers:beta")["pid"]
    s.wait_output(r"^workers:beta\[%d\]: line 1 of beta$" % bpid)

    tail = s.rpc.kres.tail("alpha", 100)
    assert tail == ["alpha[%d]: %s" % (pid, t) for t in
                    ("line 0 of alpha", "line 1 of alpha", "line 2 of alpha", "alpha complains",
                     "alpha unterminated")]
    assert s.rpc.kres.tail("alpha", 2) == tail[-2:]
    assert s.rpc.kres.tail("alpha", 0) == []
    assert s.rpc.kres.tail("workers:beta", 5) == ["workers:beta[%d]: line %d of beta" % (bpid, i)
                                                  for i in range(2)]
    # no log files anywhere: not in childlogdir, not in the work dir
    assert os.listdir(tmp_path / "childlog") == []
    names = {p.name for p in tmp_path.iterdir()}
    assert not [n for n in names if n.endswith(".log")], names


def test_tail_buffer_is_bounded_and_survives_restarts(supervisord):
    s = supervisord(f"""
        [program:chatty]
        command = {helper_cmd('--lines', '8', '--name', 'chatty', '--ready-after', '0.1')}
        autostart = false
        startsecs = 0
        stdout_logfile = NONE
        stderr_logfile = NONE
        """, notify_programs="chatty", tail_lines="10")
    p1 = s.rpc.kres.startProcess("chatty", 5)
    s.rpc.kres.stopProcess("chatty", 0)
    p2 = s.rpc.kres.startProcess("chatty", 5)
    tail = s.rpc.kres.tail("chatty", 1000)
    assert len(tail) == 10
    # p1 wrote 8 lines and "stopping chatty" when stopped; p2 wrote 8 lines
    assert tail[:2] == ["chatty[%d]: line 7 of chatty" % p1, "chatty[%d]: stopping chatty" % p1]
    assert tail[-1] == "chatty[%d]: line 7 of chatty" % p2


def test_syslog_target(supervisord, tmp_path):
    logsock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    logsock.bind(str(tmp_path / "log.sock"))
    logsock.settimeout(5)
    try:
        s = supervisord(f"""
            [program:sys]
            command = {helper_cmd('--lines', '1', '--name', 'sys', '--stderr', 'to stderr')}
            startsecs = 0
            stdout_logfile = NONE
            stderr_logfile = NONE
            """, log_target="syslog", syslog_socket=str(tmp_path / "log.sock"))
        got = [logsock.recv(4096).decode(), logsock.recv(4096).decode()]
        pid = s.rpc.supervisor.getProcessInfo("sys")["pid"]
        assert any(m.startswith("<30>") and m.endswith(" sys[%d]: line 0 of sys" % pid)
                   for m in got), got
        assert any(m.startswith("<30>") and m.endswith(" sys[%d]: to stderr" % pid)
                   for m in got), got
        assert s.rpc.kres.tail("sys", 5)  # tail still kept
        time.sleep(0.1)
        assert "line 0 of sys" not in s.output()
    finally:
        logsock.close()
