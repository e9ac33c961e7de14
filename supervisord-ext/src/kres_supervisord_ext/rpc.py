"""The ``kres.*`` XML-RPC namespace (see README.md for the contract)."""

import time

from supervisor.http import NOT_DONE_YET
from supervisor.options import BadCommand, NoPermission, NotExecutable, NotFound, split_namespec
from supervisor.states import (
    RUNNING_STATES,
    STOPPED_STATES,
    ProcessStates,
    SupervisorStates,
    getProcessStateDescription,
)
from supervisor.xmlrpc import Faults, RPCError

from .process import KresSubprocess

API_VERSION = 1
FAULT_TAIL_LINES = 20
XMLRPC_MAXINT = 2 ** 31 - 1


def _capped(value):
    return max(-XMLRPC_MAXINT - 1, min(XMLRPC_MAXINT, int(value)))


def _seconds(value, what="timeout"):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise RPCError(Faults.BAD_ARGUMENTS, "%s must be a number of seconds, got %r"
                       % (what, value))
    if value != value or value < 0 or value > 86400:
        raise RPCError(Faults.BAD_ARGUMENTS, "%s must be within 0..86400 seconds" % what)
    return float(value)


class KresRPCInterface:
    def __init__(self, ext):
        self._ext = ext

    # ------------------------------------------------------------------ helpers

    def _update(self):
        mood = self._ext.options.mood
        if isinstance(mood, int) and mood < SupervisorStates.RUNNING:
            raise RPCError(Faults.SHUTDOWN_STATE)

    def _lookup(self, name):
        if not isinstance(name, str) or not name:
            raise RPCError(Faults.BAD_NAME, repr(name))
        group_name, process_name = split_namespec(name)
        group = self._ext.supervisord.process_groups.get(group_name)
        if group is None:
            raise RPCError(Faults.BAD_NAME, name)
        if process_name is None:
            raise RPCError(Faults.BAD_NAME, "%s: a single process is required, not a group"
                           % name)
        process = group.processes.get(process_name)
        if process is None:
            raise RPCError(Faults.BAD_NAME, name)
        if not isinstance(process, KresSubprocess):
            raise RPCError(Faults.FAILED, "%s: not managed by the kres extension" % name)
        return group, process

    def _failure(self, code, process, pid, reason):
        st = process.kres
        text = "%s: %s" % (st.namespec, reason)
        lines = self._ext.output.last_lines(st.namespec, FAULT_TAIL_LINES, pid=pid)
        if lines:
            text += "; last output:\n" + "\n".join(lines)
        else:
            text += "; no output"
        return RPCError(code, text)

    def _start_result(self, process, serial, pid):
        st = process.kres
        state = process.get_state()
        if st.serial != serial:
            raise self._failure(Faults.FAILED, process, pid,
                                "was restarted by someone else while starting")
        if not st.notify:
            if process.pid == pid and state in (ProcessStates.STARTING, ProcessStates.RUNNING):
                return pid
        elif st.ready:
            if process.pid == pid and state == ProcessStates.RUNNING:
                return pid
            raise self._failure(Faults.ABNORMAL_TERMINATION, process, pid,
                                "sent READY=1 but is now %s" % getProcessStateDescription(state))
        elif st.timed_out:
            raise self._failure(Faults.FAILED, process, pid, st.failure)
        elif state == ProcessStates.STARTING and process.pid == pid:
            return NOT_DONE_YET
        reason = st.failure or process.spawnerr or (
            "stopped or exited before it was ready (now %s)" % getProcessStateDescription(state))
        raise self._failure(Faults.ABNORMAL_TERMINATION, process, pid, reason)

    def _info(self, group, process):
        st = process.kres
        state = process.get_state()
        if st.notify:
            ready = st.ready and state == ProcessStates.RUNNING
        else:
            ready = state == ProcessStates.RUNNING
        return {
            "name": process.config.name,
            "group": group.config.name,
            "namespec": st.namespec,
            "pid": process.pid or 0,
            "state": state,
            "statename": getProcessStateDescription(state),
            "start": _capped(process.laststart),
            "stop": _capped(process.laststop),
            "now": _capped(time.time()),
            "exitstatus": process.exitstatus or 0,
            "spawnerr": process.spawnerr or "",
            "notify": st.notify,
            "ready": bool(ready),
            "ready_ms": (st.ready_at - process.laststart) * 1000.0 if st.ready else -1.0,
            "status": st.status,
            "stopping": st.stopping,
            "failure": st.failure,
            "manager": st.is_manager,
        }

    # ------------------------------------------------------------------ RPC methods

    def getVersion(self):
        """Versions of this extension and of supervisor.

        @return struct {extension: string, supervisor: string, api: int}
        """
        from supervisor.options import VERSION

        from . import __version__

        return {"extension": __version__, "supervisor": VERSION, "api": API_VERSION}

    def startProcess(self, name, timeout=0):
        """Start one process and answer as soon as it is ready.

        @param string name     process namespec (group:name, or name)
        @param double timeout  seconds to wait for READY=1 (0: the configured notify timeout)
        @return int pid
        """
        self._update()
        group, process = self._lookup(name)
        timeout = _seconds(timeout)
        try:
            process.get_execv_args()
        except NotFound as why:
            raise RPCError(Faults.NO_FILE, why.args[0])
        except (BadCommand, NotExecutable, NoPermission) as why:
            raise RPCError(Faults.NOT_EXECUTABLE, why.args[0])
        state = process.get_state()
        if state in (ProcessStates.STARTING, ProcessStates.RUNNING):
            raise RPCError(Faults.ALREADY_STARTED, name)
        if state == ProcessStates.STOPPING:
            raise RPCError(Faults.FAILED, "%s is still stopping" % name)
        if state == ProcessStates.UNKNOWN:
            raise RPCError(Faults.FAILED, "%s is in an unknown process state" % name)

        st = process.kres
        pid = process.spawn()
        if not pid:
            raise RPCError(Faults.SPAWN_ERROR, "%s: %s" % (st.namespec,
                                                           process.spawnerr or "spawn failed"))
        serial = st.serial
        if timeout and st.notify:
            st.deadline = min(st.deadline, process.laststart + timeout)
        # Quick feedback for a child that died at once, and STARTING -> RUNNING for a
        # non-notify program with startsecs=0.
        self._ext.supervisord.reap()
        process.transition()

        result = self._start_result(process, serial, pid)
        if result is not NOT_DONE_YET:
            return result

        def onwait():
            return self._start_result(process, serial, pid)

        # The extension wakes this callback on every state change and notify message; the
        # delay is only a fallback.
        onwait.delay = 0.1
        onwait.rpcinterface = self
        return onwait

    def stopProcess(self, name, timeout=0):
        """Stop one process and answer as soon as it has exited.

        @param string name     process namespec
        @param double timeout  seconds before SIGKILL (0: the program's stopwaitsecs)
        @return boolean True
        """
        self._update()
        group, process = self._lookup(name)
        timeout = _seconds(timeout)
        if process.get_state() not in RUNNING_STATES:
            raise RPCError(Faults.NOT_RUNNING, name)
        msg = process.stop()
        if msg is not None:
            raise RPCError(Faults.FAILED, msg)
        if timeout and process.get_state() == ProcessStates.STOPPING:
            process.delay = min(process.delay, time.time() + timeout)
        self._ext.supervisord.reap()
        if process.get_state() in STOPPED_STATES:
            return True

        def onwait():
            if process.get_state() in STOPPED_STATES:
                return True
            return NOT_DONE_YET

        onwait.delay = 0.1
        onwait.rpcinterface = self
        return onwait

    def processInfo(self, name):
        """Status of one process, with sd_notify details.

        @param string name  process namespec
        @return struct info
        """
        group, process = self._lookup(name)
        return self._info(group, process)

    def getAllProcessInfo(self):
        """Status of every managed process, sorted by namespec.

        @return array of struct info
        """
        infos = []
        for group in self._ext.supervisord.process_groups.values():
            for process in group.processes.values():
                if isinstance(process, KresSubprocess):
                    infos.append(self._info(group, process))
        infos.sort(key=lambda i: i["namespec"])
        return infos

    def tail(self, name, nlines=50):
        """The last lines a process wrote (stdout and stderr merged), oldest first.

        @param string name   process namespec
        @param int nlines    how many lines at most (0..tail_lines)
        @return array of string, each "namespec[pid]: text"
        """
        group, process = self._lookup(name)
        if isinstance(nlines, bool) or not isinstance(nlines, int) or nlines < 0:
            raise RPCError(Faults.BAD_ARGUMENTS, "nlines must be an integer >= 0")
        return self._ext.output.last_lines(process.kres.namespec, nlines)
