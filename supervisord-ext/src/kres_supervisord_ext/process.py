"""Per-process behaviour: sd_notify readiness, clean child environment, output capture.

Every plain program process of supervisord (``supervisor.process.Subprocess`` in a
``ProcessGroup``) is switched to :class:`KresSubprocess` when the extension loads (and when a
group is added later).  The subclass only adds behaviour around supervisor's own methods:

* ``spawn``: records the pid, arms the READY=1 deadline, attaches output capture;
* ``spawn`` blocks supervisord's signals around fork, and ``_spawn_as_child`` (runs in the
  forked child only) cleans the environment, gives CAP_NET_BIND_SERVICE to the programs of
  ``net_bind_programs`` and clears the ambient capabilities of every other program (see
  netbind.py), arms the parent-death signal (see pdeathsig.py) and restores default signal
  handling before exec;
* ``transition``: a notify process in STARTING stays there until READY=1 arrives (supervisor's
  ``startsecs`` rule is not applied to it);
* ``finish``: an exit before READY=1 is a failed start (BACKOFF, and FATAL on a timeout);
* ``change_state``: tells the extension (wakes RPC callers waiting for this process).
"""

import os
import signal

from supervisor.dispatchers import POutputDispatcher
from supervisor.options import decode_wait_status
from supervisor.process import Subprocess
from supervisor.states import ProcessStates

from . import netbind
from .pdeathsig import arm_in_child


def child_environment(env, notify_path):
    """The environment a child really gets.

    supervisord's own sd_notify/watchdog variables (from systemd) never reach children: a
    stray WATCHDOG_PID makes kresd fail, a stray NOTIFY_SOCKET would make a child talk to
    systemd directly.  Notify programs get our socket instead.
    """
    env = {k: v for k, v in env.items()
           if k != "NOTIFY_SOCKET" and not k.startswith("WATCHDOG_")}
    if notify_path:
        env["NOTIFY_SOCKET"] = notify_path
    return env


# Signals for which supervisord installs Python handlers (options.setsignals).  They are blocked
# around fork: between fork and exec the child still runs supervisord's Python handlers, which
# would swallow e.g. a SIGTERM sent right after spawn (the program would then never see it).
SUPERVISORD_SIGNALS = {signal.SIGTERM, signal.SIGINT, signal.SIGQUIT, signal.SIGHUP,
                       signal.SIGCHLD, signal.SIGUSR2}
# Dispositions Python changes at start-up that exec would otherwise pass on (SIG_IGN survives
# exec); restored like subprocess.Popen(restore_signals=True) does.
RESTORED_SIGNALS = {signal.SIGPIPE, signal.SIGXFSZ}


def reset_child_signals():
    """In the forked child before exec: default dispositions, then unblock.

    A signal that arrived since fork is pending; once unblocked it acts with its default
    disposition, exactly as if it had been sent to the exec'd program.
    """
    try:
        signal.set_wakeup_fd(-1)
    except ValueError:
        pass
    for sig in SUPERVISORD_SIGNALS | RESTORED_SIGNALS:
        try:
            signal.signal(sig, signal.SIG_DFL)
        except (OSError, ValueError):
            pass
    signal.pthread_sigmask(signal.SIG_UNBLOCK, SUPERVISORD_SIGNALS)


class ProcState:
    """What the extension knows about one process (kept across restarts of the process)."""

    def __init__(self, ext, namespec, notify_timeout, is_manager, net_bind=False):
        self.ext = ext
        self.namespec = namespec
        self.notify = notify_timeout is not None
        self.notify_timeout = notify_timeout
        self.is_manager = is_manager
        self.net_bind = net_bind  # in net_bind_programs: may keep CAP_NET_BIND_SERVICE
        self.serial = 0        # incremented on every spawn attempt
        self.failure = ""      # why the last start failed ('' if it did not)
        self.reset(0)

    def reset(self, pid):
        self.pid = pid          # pid of the current spawn (0 before it exists)
        self.ready = False      # READY=1 received from that pid
        self.ready_at = 0.0     # time.time() of READY=1
        self.status = ""        # last STATUS= from that pid
        self.stopping = False   # STOPPING=1 received from that pid
        self.deadline = None    # time by which READY=1 must arrive (notify programs)
        self.timed_out = False  # the deadline passed and the process was killed


class ConfigView:
    """Read-only view of a ProcessConfig with some attributes overridden.

    Used for the duration of one call into supervisor's ``Subprocess.finish`` so that its
    "exited too quickly" rule (based on ``startsecs``) follows readiness instead of time.
    """

    def __init__(self, real, **overrides):
        object.__setattr__(self, "real", real)
        for key, value in overrides.items():
            object.__setattr__(self, key, value)

    def __getattr__(self, name):
        return getattr(self.real, name)

    def __setattr__(self, name, value):
        setattr(self.real, name, value)


class KresSubprocess(Subprocess):
    kres = None  # ProcState, set when the process is adopted
    kres_parent_pid = 0  # supervisord's pid, taken before fork (read by the child)

    def spawn(self):
        st = self.kres
        st.serial += 1
        st.failure = ""
        st.reset(0)
        self.kres_parent_pid = os.getpid()
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, SUPERVISORD_SIGNALS)
        try:
            pid = Subprocess.spawn(self)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        # Only the parent gets here (the child execs or _exits inside spawn).
        if pid:
            st.pid = pid
            for dispatcher in self.dispatchers.values():
                if type(dispatcher) is POutputDispatcher:
                    dispatcher.__class__ = KresOutputDispatcher
                    dispatcher.kres_init(st, pid)
            if st.notify:
                st.deadline = self.laststart + st.notify_timeout
        elif self.spawnerr:
            st.failure = self.spawnerr
        return pid

    def _spawn_as_child(self, filename, argv):
        # Runs in the forked child only: patching `options` here changes nothing in supervisord.
        options = self.config.options
        real_execve = options.execve
        ext = self.kres.ext
        notify_path = ext.notify_path if self.kres.notify else None
        death_signal = ext.settings.parent_death_signal
        parent_pid = self.kres_parent_pid
        listed = self.kres.net_bind
        net_bind = listed and netbind.applies(self.config.uid)
        if net_bind:
            netbind.keep_across_setuid(ext.prctl)

        def execve(filename, argv, env):
            env = child_environment(env, notify_path)
            if net_bind:
                netbind.make_ambient(ext.prctl, ext.capset)
            elif not listed:
                netbind.clear_ambient(ext.prctl)
            if death_signal is not None:
                # After set_uid (a uid/gid change clears it), while supervisord's signals are
                # still blocked: a SIGTERM parent-death signal stays pending until
                # reset_child_signals unblocks it with its default action.
                arm_in_child(ext.prctl, death_signal, parent_pid)
            reset_child_signals()
            return real_execve(filename, argv, env)

        options.execve = execve
        return Subprocess._spawn_as_child(self, filename, argv)

    def transition(self):
        st = self.kres
        if st.notify and self.state == ProcessStates.STARTING and not st.ready:
            # RUNNING only on READY=1 (see Extension.on_notify); the READY=1 deadline is
            # enforced by Extension.run_timers.  Nothing else in Subprocess.transition
            # applies to a STARTING process.
            return
        return Subprocess.transition(self)

    def change_state(self, new_state, expected=True):
        result = Subprocess.change_state(self, new_state, expected)
        self.kres.ext.on_state_change(self, new_state)
        return result

    def finish(self, pid, sts):
        st = self.kres
        real = self.config
        if st.notify and self.state == ProcessStates.STARTING and not st.ready \
                and not self.killing:
            # Exited (or was killed by our READY timeout) before READY=1: a failed start,
            # whatever startsecs says.  supervisor's rule "exited within startsecs" gives
            # exactly that transition (STARTING -> BACKOFF), so make it apply.
            _, msg = decode_wait_status(sts)
            self.config = ConfigView(real, startsecs=float("inf"))
            try:
                Subprocess.finish(self, pid, sts)
            finally:
                self.config = real
            logger = real.options.logger
            if st.timed_out:
                reason = st.failure
                self.spawnerr = reason
                if self.state == ProcessStates.BACKOFF:
                    self.give_up()  # BACKOFF -> FATAL: no retry after a READY timeout
                logger.warn("gave up: %s entered FATAL state: %s" % (st.namespec, reason))
            else:
                reason = "exited before READY=1 (%s)" % msg
                st.failure = reason
                self.spawnerr = reason
                logger.warn("kres: %s %s" % (st.namespec, reason))
            return None
        if st.notify and st.ready and self.state == ProcessStates.RUNNING:
            # RUNNING came from READY=1, possibly sooner than startsecs: an exit now is an
            # exit of a running process, not "too quickly".
            self.config = ConfigView(real, startsecs=0)
            try:
                return Subprocess.finish(self, pid, sts)
            finally:
                self.config = real
        return Subprocess.finish(self, pid, sts)

    def mark_ready(self, now):
        """READY=1 from the current pid while STARTING: STARTING -> RUNNING."""
        st = self.kres
        st.ready = True
        st.ready_at = now
        st.deadline = None
        self.delay = 0
        self.backoff = 0
        self.change_state(ProcessStates.RUNNING)
        self.config.options.logger.info(
            "success: %s entered RUNNING state, READY=1 after %.1f ms"
            % (st.namespec, (now - self.laststart) * 1000.0))


class KresOutputDispatcher(POutputDispatcher):
    """supervisor's output dispatcher plus line capture into the merged stream and the tail."""

    kres = None
    kres_pid = 0
    kres_buf = None
    kres_stderr = False

    def kres_init(self, st, pid):
        self.kres = st
        self.kres_pid = pid
        self.kres_buf = bytearray()
        self.kres_stderr = self.channel == "stderr"

    def _log(self, data):
        POutputDispatcher._log(self, data)
        if data:
            if isinstance(data, str):
                data = data.encode("utf-8")
            self.kres.ext.output.feed(self.kres_buf, data, self.kres.namespec, self.kres_pid,
                                      self.kres_stderr)

    def close(self):
        if not self.closed and self.kres_buf:
            self.kres.ext.output.flush(self.kres_buf, self.kres.namespec, self.kres_pid,
                                       self.kres_stderr)
        POutputDispatcher.close(self)

