"""Groups added and removed while supervisord runs (supervisor.reloadConfig/addProcessGroup/
removeProcessGroup), the way the manager changes the number of kresd workers."""

import signal
import time

from conftest import (KRESD, alive, dns_refused, fault_of, helper_cmd, kresd_rundir,
                      wait_gone)

SETTINGS = {"notify_programs": "kresd* canary", "notify_timeout": "10"}


def canary():
    return f"""
        [program:canary]
        command = {helper_cmd('--name', 'canary', '--lines', '2', '--ready-after', '0')}
        priority = 50
        autostart = false
        startsecs = 0
        stdout_logfile = NONE
        stderr_logfile = NONE
        """


def kresd_program(i, rundir):
    # One program (and so one group) per worker, as the manager renders them.
    return f"""
        [program:kresd{i}]
        command = {KRESD} -n -c worker.lua {rundir}
        directory = {rundir}
        priority = 100
        autostart = false
        autorestart = false
        startsecs = 0
        startretries = 0
        stopwaitsecs = 5
        stdout_logfile = NONE
        stderr_logfile = NONE
        """


def test_kresd_groups_added_and_removed_at_runtime(supervisord, tmp_path):
    rundir, port = kresd_rundir(tmp_path)
    s = supervisord(canary(), **SETTINGS)
    canary_pid = s.rpc.kres.startProcess("canary", 0)
    s.wait_output(r"^canary\[%d\]: line 1 of canary$" % canary_pid)
    before = s.rpc.kres.processInfo("canary")
    assert before["ready"] and before["ready_ms"] >= 0

    # The manager grows to 2 workers: rewrite the config, reloadConfig, addProcessGroup.
    s.write_config(canary() + kresd_program(0, rundir) + kresd_program(1, rundir), SETTINGS)
    assert s.rpc.supervisor.reloadConfig() == [[["kresd0", "kresd1"], [], []]]
    for name in ("kresd0", "kresd1"):
        assert s.rpc.supervisor.addProcessGroup(name) is True

    # reloadConfig did not load the extension again, nor touch its state
    assert s.output().count("kres: extensions loaded") == 1
    assert "kres rpc interface" not in s.output().split("kres: extensions loaded", 1)[1]
    after = s.rpc.kres.processInfo("canary")
    assert after["ready"] and after["pid"] == canary_pid
    assert after["ready_ms"] == before["ready_ms"]
    assert s.rpc.kres.tail("canary", 5) == ["canary[%d]: line %d of canary" % (canary_pid, i)
                                           for i in range(2)]

    infos = {i["namespec"]: i for i in s.rpc.kres.getAllProcessInfo()}
    assert sorted(infos) == ["canary", "kresd0", "kresd1"]
    for name in ("kresd0", "kresd1"):
        assert infos[name]["notify"] is True and infos[name]["statename"] == "STOPPED"

    pids = {}
    for name in ("kresd0", "kresd1"):
        pid = s.rpc.kres.startProcess(name, 10)
        info = s.rpc.kres.processInfo(name)
        assert info["statename"] == "RUNNING" and info["ready"] and info["pid"] == pid
        assert info["ready_ms"] > 0
        pids[name] = pid
        s.wait_output(r"success: %s entered RUNNING state, READY=1 after" % name)
    assert dns_refused(port)
    # output merged with the namespec prefix, and in the tail
    for name, pid in pids.items():
        s.wait_output(r"^%s\[%d\]: " % (name, pid))
        tail = s.rpc.kres.tail(name, 50)
        assert tail and all(line.startswith("%s[%d]: " % (name, pid)) for line in tail)

    # The manager shrinks to 1 worker: stop, reloadConfig, removeProcessGroup.
    s.write_config(canary() + kresd_program(0, rundir), SETTINGS)
    assert s.rpc.supervisor.reloadConfig() == [[[], [], ["kresd1"]]]
    assert s.rpc.kres.stopProcess("kresd1", 0) is True
    assert not alive(pids["kresd1"])
    assert s.rpc.supervisor.removeProcessGroup("kresd1") is True
    assert [i["namespec"] for i in s.rpc.kres.getAllProcessInfo()] == ["canary", "kresd0"]
    assert fault_of(s.rpc.kres.processInfo, "kresd1").faultCode == 10  # BAD_NAME
    assert fault_of(s.rpc.kres.startProcess, "kresd1", 0).faultCode == 10
    assert fault_of(s.rpc.kres.tail, "kresd1", 5).faultCode == 10

    # ... and grows again: the re-added group is a fresh, managed process
    s.write_config(canary() + kresd_program(0, rundir) + kresd_program(1, rundir), SETTINGS)
    assert s.rpc.supervisor.reloadConfig() == [[["kresd1"], [], []]]
    assert s.rpc.supervisor.addProcessGroup("kresd1") is True
    assert s.rpc.kres.tail("kresd1", 50) == []
    pids["kresd1"] = s.rpc.kres.startProcess("kresd1", 10)
    assert s.rpc.kres.processInfo("kresd1")["ready"] is True

    # Programs added at runtime also die with supervisord (parent-death signal).
    s.signal(signal.SIGKILL)
    s.wait_exit(5)
    children = [canary_pid] + list(pids.values())
    assert wait_gone(children, 1.0) == []


def test_reload_config_with_changed_kres_section(supervisord, tmp_path):
    s = supervisord(canary(), **SETTINGS)
    canary_pid = s.rpc.kres.startProcess("canary", 0)

    # A changed [rpcinterface:kres] section is not applied by reloadConfig: the running
    # extension keeps its settings and state, and says so.
    changed = dict(SETTINGS, notify_programs="kresd* canary other", tail_lines="5")
    s.write_config(canary() + f"""
        [program:other]
        command = {helper_cmd('--name', 'other')}
        autostart = false
        startsecs = 0
        stdout_logfile = NONE
        stderr_logfile = NONE
        """, changed)
    assert s.rpc.supervisor.reloadConfig() == [[["other"], [], []]]
    s.wait_output(r"kres: the \[rpcinterface:kres\] section changed \(notify_programs, "
                  r"tail_lines\): not applied until supervisord restarts")
    assert s.output().count("kres: extensions loaded") == 1
    assert s.rpc.supervisor.addProcessGroup("other") is True
    # still the old notify_programs: `other` is not a notify program
    assert s.rpc.kres.processInfo("other")["notify"] is False
    pid = s.rpc.kres.startProcess("other", 0)
    assert pid > 0
    assert s.rpc.kres.processInfo("canary")["pid"] == canary_pid

    # An invalid new section is reported too (supervisord would refuse to start with it).
    s.write_config(canary(), dict(SETTINGS, notify_timeout="soon"))
    assert s.rpc.supervisor.reloadConfig() == [[[], [], ["other"]]]
    s.wait_output(r"kres: the \[rpcinterface:kres\] section changed \(notify_timeout\) and is "
                  r"invalid: notify_timeout: 'soon' is not a number of seconds")
    # ... and so is a removed section
    s.write_config(canary(), {}, load_ext=False)
    s.rpc.supervisor.reloadConfig()
    s.wait_output(r"kres: the \[rpcinterface:kres\] section was removed from the configuration: "
                  r"the extensions stay loaded")
    assert s.rpc.kres.processInfo("canary")["pid"] == canary_pid
    # and nothing is logged when it is back to what is running
    s.write_config(canary(), SETTINGS)
    n = s.output().count("kres: the [rpcinterface:kres] section")
    s.rpc.supervisor.reloadConfig()
    time.sleep(0.1)
    assert s.output().count("kres: the [rpcinterface:kres] section") == n
