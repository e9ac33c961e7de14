"""The extension object: installs the hooks into one running supervisord.

Hook points (all inside supervisord's process, set up when supervisord calls our
rpcinterface factory, which happens after the process groups exist and before the main loop):

* process objects of plain programs are switched to :class:`KresSubprocess`
  (``supervisord.add_process_group`` is wrapped so later groups are adopted too, and
  ``supervisord.remove_process_group`` so that a removed group's tail buffers are dropped);
* ``options.process_config`` (what ``supervisor.reloadConfig`` calls) is wrapped to notice a
  changed ``[rpcinterface:kres]`` section, which is not applied before supervisord restarts;
* two dispatchers join the asyncore socket map: the sd_notify socket and a signal wake-up pipe;
* ``options.poller.poll`` is wrapped: the poll timeout is shortened to the next deadline
  (READY=1 timeouts, startsecs, stop/backoff delays), and expired READY=1 deadlines are handled
  right after each poll;
* ``options.get_signal`` is wrapped: SIGHUP is forwarded to the manager program;
* ``options.cleanup`` is wrapped: our sockets are closed, and supervisord exits with a non-zero
  status after the manager went FATAL;
* an event subscription notices the manager entering FATAL.
"""

import os
import signal
import time

from supervisor import events
from supervisor.datatypes import RestartUnconditionally
from supervisor.options import make_namespec
from supervisor.process import ProcessGroup, Subprocess
from supervisor.states import ProcessStates, SupervisorStates, getProcessStateDescription

from . import compat
from .loop import NotifySocket, SystemdNotifier, WakeupPipe
from .output import OutputRouter, make_sink
from .netbind import load_capset
from .pdeathsig import PrctlUnavailable, libc_name, load_prctl
from .process import KresSubprocess, ProcState
from .settings import DEFAULTS, Settings, SettingsError, default_socket_dir

# Keys of the manager's sd_notify messages that are relayed to the service manager.
RELAYED_KEYS = ("READY", "RELOADING", "STOPPING", "STATUS", "ERRNO", "BUSERROR",
                "MONOTONIC_USEC", "EXTEND_TIMEOUT_USEC")

_service_env = None


def take_service_environment():
    """Remove NOTIFY_SOCKET and WATCHDOG_* from supervisord's environment (once per process).

    They belong to supervisord (set by systemd when it runs supervisord); children must not
    inherit them.  The values are kept for relaying readiness to systemd.
    """
    global _service_env
    if _service_env is None:
        _service_env = {}
        for key in list(os.environ):
            if key == "NOTIFY_SOCKET" or key.startswith("WATCHDOG_"):
                _service_env[key] = os.environ.pop(key)
    return _service_env


class Extension:
    def __init__(self, supervisord, settings):
        self.supervisord = supervisord
        self.options = supervisord.options
        self.logger = self.options.logger
        self.settings = settings
        # Resolved here, in supervisord, so that a missing prctl refuses the load instead of
        # failing in every child; children only call it (every child that is not in
        # net_bind_programs clears its ambient capabilities, see netbind.py).
        self.prctl = load_prctl()
        self.capset = None
        if settings.net_bind_programs:
            self.capset = load_capset(libc_name())
            if self.capset is None:
                raise PrctlUnavailable(
                    "net_bind_programs: cannot find capset() in the C library %r through ctypes"
                    % libc_name())
        self.notify_path = settings.notify_socket
        self.socket_map = self.options.get_socket_map()
        self.output = OutputRouter(make_sink(settings), settings.tail_lines)
        self.exit_code = 0
        self.installed = False
        self.notify_socket = None
        self.wakeup = None
        self._orig = {}

        env = take_service_environment()
        self.systemd = SystemdNotifier(self.logger, env.get("NOTIFY_SOCKET"))
        self.watchdog_interval = None
        self.watchdog_next = None
        usec = env.get("WATCHDOG_USEC")
        wpid = env.get("WATCHDOG_PID")
        if self.systemd.enabled and usec and (not wpid or wpid == str(os.getpid())):
            try:
                self.watchdog_interval = max(int(usec) / 2e6, 0.01)
                self.watchdog_next = time.time()
            except ValueError:
                pass

    # ------------------------------------------------------------------ install / uninstall

    def install(self):
        self._check_manager()
        opts = self.options
        self.notify_socket = NotifySocket(self.logger, self.notify_path, self.on_notify)
        self.notify_socket.add_to(self.socket_map)
        self.wakeup = WakeupPipe(self.logger)
        self.wakeup.add_to(self.socket_map)

        self._wrap(opts.poller, "poll", self._poll)
        self._wrap(opts, "get_signal", self._get_signal)
        self._wrap(opts, "cleanup", self._cleanup)
        self._wrap(self.supervisord, "add_process_group", self._add_process_group)
        self._wrap(self.supervisord, "remove_process_group", self._remove_process_group)
        self._wrap(opts, "process_config", self._process_config)

        for group in list(self.supervisord.process_groups.values()):
            self.adopt_group(group)
        events.subscribe(events.ProcessStateFatalEvent, self._on_fatal_event)
        self.installed = True

        notify = ", ".join(p if t is None else "%s=%s" % (p, t)
                           for p, t in self.settings.notify_programs) or "(none)"
        pds = self.settings.parent_death_signal
        self.logger.info(
            "kres: extensions loaded: notify socket %s (programs: %s, timeout %gs), "
            "log target %s, manager %s, parent death signal %s, net bind programs %s%s"
            % (self.notify_path, notify, self.settings.notify_timeout,
               self.settings.log_target, self.settings.manager_program or "(none)",
               signal.Signals(pds).name if pds is not None else "none",
               " ".join(self.settings.net_bind_programs) or "(none)",
               ", relaying readiness to the service manager" if self.systemd.enabled else ""))

    def _wrap(self, obj, name, replacement):
        original = getattr(obj, name)
        self._orig[(id(obj), name)] = original
        setattr(obj, name, lambda *a, **kw: replacement(original, *a, **kw))

    def uninstall(self):
        if not self.installed:
            return
        self.installed = False
        try:
            events.unsubscribe(events.ProcessStateFatalEvent, self._on_fatal_event)
        except Exception:
            pass
        for disp in (self.notify_socket, self.wakeup):
            if disp is not None:
                disp.remove_from(self.socket_map, self.options.poller)
                disp.close()
        self.output.close()
        self.systemd.close()

    # ------------------------------------------------------------------ processes

    def adopt_group(self, group):
        gname = group.config.name
        if type(group) is not ProcessGroup:
            self.logger.info("kres: group %s (%s) is not a plain program group: not managed"
                             % (gname, type(group).__name__))
            return
        for process in group.processes.values():
            namespec = make_namespec(gname, process.config.name)
            if isinstance(process, KresSubprocess):
                continue
            if type(process) is not Subprocess:
                self.logger.warn("kres: process %s is a %s: not managed"
                                 % (namespec, type(process).__name__))
                continue
            process.__class__ = KresSubprocess
            process.kres = ProcState(self, namespec,
                                     self.settings.notify_timeout_for(namespec),
                                     namespec == self.settings.manager_program,
                                     self.settings.net_bind(namespec))
            for channel in ("stdout", "stderr"):
                logfile = getattr(process.config, "%s_logfile" % channel, None)
                if logfile and self.settings.log_target != "none":
                    self.logger.warn(
                        "kres: %s also writes its %s to %s; set %s_logfile=NONE to keep "
                        "output only in the merged stream" % (namespec, channel, logfile, channel))

    def processes(self):
        for group in self.supervisord.process_groups.values():
            for process in group.processes.values():
                if isinstance(process, KresSubprocess):
                    yield process

    def find(self, namespec):
        for group in self.supervisord.process_groups.values():
            for process in group.processes.values():
                if make_namespec(group.config.name, process.config.name) == namespec:
                    return group, process
        return None, None

    def manager_process(self):
        if not self.settings.manager_program:
            return None
        return self.find(self.settings.manager_program)[1]

    def _check_manager(self):
        name = self.settings.manager_program
        if not name:
            return
        group, process = self.find(name)
        if process is None:
            raise SettingsError("manager_program %r is not a program of this supervisord" % name)
        if len(group.processes) != 1:
            raise SettingsError("manager_program %r must be alone in its group (group %r has %d "
                                "processes)" % (name, group.config.name, len(group.processes)))
        for other in self.supervisord.process_groups.values():
            if other is not group and other.config.priority <= group.config.priority:
                raise SettingsError(
                    "the manager %r must have the lowest priority of all groups so that it "
                    "starts first and stops last: its priority is %d, group %r has %d"
                    % (name, group.config.priority, other.config.name, other.config.priority))

    def _add_process_group(self, original, config):
        added = original(config)
        if added:
            group = self.supervisord.process_groups[config.name]
            self.adopt_group(group)
            manager = self.manager_process()
            if manager is not None and group.config.priority <= manager.group.config.priority \
                    and manager.group is not group:
                self.logger.warn("kres: group %s has a priority <= the manager's: it will be "
                                 "stopped after the manager" % config.name)
        return added

    def _remove_process_group(self, original, name):
        group = self.supervisord.process_groups.get(name)
        removed = original(name)
        if removed and group is not None:
            # Nothing can ask for them any more (kres.tail refuses unknown names); a group
            # added again under the same name starts with an empty tail.
            for process in group.processes.values():
                st = getattr(process, "kres", None)
                if st is not None and st.ext is self:
                    self.output.forget(st.namespec)
        return removed

    def _process_config(self, original, *args, **kwargs):
        """supervisor.reloadConfig re-reads the file; our section is only read at start-up.

        rpcinterface factories are called only when supervisord (re)starts its HTTP servers,
        so a changed [rpcinterface:kres] section takes effect only then: say so in the log.
        """
        result = original(*args, **kwargs)
        try:
            self._check_reloaded_settings()
        except Exception:
            self._log_exception("checking the re-read [rpcinterface:kres] section")
        return result

    def _check_reloaded_settings(self):
        section = self.options.configroot.supervisord
        ours = [extras for _, factory, extras in section.rpcinterface_factories
                if getattr(factory, "__module__", None) == __package__
                and getattr(factory, "__name__", None) == "make_rpcinterface"]
        if not ours:
            self.logger.warn("kres: the [rpcinterface:kres] section was removed from the "
                             "configuration: the extensions stay loaded with their settings "
                             "until supervisord restarts")
            return
        raw = ours[0]
        new = dict(DEFAULTS)
        new.update({k: (v or "").strip() for k, v in raw.items()})
        old = self.settings.raw
        changed = sorted(k for k in set(new) | set(old) if new.get(k) != old.get(k))
        if not changed:
            return
        try:
            Settings(raw, default_socket_dir(self.options))
        except SettingsError as exc:
            self.logger.warn("kres: the [rpcinterface:kres] section changed (%s) and is invalid: "
                             "%s; supervisord would refuse to start with it. The running "
                             "extensions keep their settings" % (", ".join(changed), exc))
            return
        self.logger.warn("kres: the [rpcinterface:kres] section changed (%s): not applied until "
                         "supervisord restarts; the running extensions keep their settings"
                         % ", ".join(changed))

    # ------------------------------------------------------------------ sd_notify

    def on_notify(self, pid, fields):
        process = self.options.pidhistory.get(pid)
        st = getattr(process, "kres", None)
        if st is None or not st.notify or process.pid != pid:
            self.logger.debug("kres: ignored notify message from pid %d (not the main pid of a "
                              "notify program): %r" % (pid, fields))
            return
        self.logger.debug("kres: notify from %s[%d]: %r" % (st.namespec, pid, fields))
        if "STATUS" in fields:
            st.status = fields["STATUS"]
        if fields.get("STOPPING") == "1":
            st.stopping = True
        if fields.get("READY") == "1" and not st.ready:
            if process.state == ProcessStates.STARTING and not process.killing \
                    and not st.timed_out:
                process.mark_ready(time.time())
            else:
                self.logger.info("kres: READY=1 from %s[%d] ignored in state %s"
                                 % (st.namespec, pid,
                                    getProcessStateDescription(process.state)))
        if st.is_manager:
            relay = ["%s=%s" % (k, fields[k]) for k in RELAYED_KEYS if k in fields]
            if relay and self.systemd.enabled:
                self.systemd.send("\n".join(relay))
        self.kick()

    # ------------------------------------------------------------------ main loop hooks

    def on_state_change(self, process, new_state):
        self.kick()

    def kick(self):
        """Make HTTP channels that wait for a deferred XML-RPC result poll it now.

        supervisor's deferring_http_channel only asks a deferred callback again when `delay`
        seconds passed since `last_writable_check`; resetting the latter makes it ask in the
        next main loop iteration.  Harmless for other deferred calls (they answer NOT_DONE_YET).
        """
        for disp in list(self.socket_map.values()):
            if getattr(disp, "delay", None) and hasattr(disp, "last_writable_check"):
                disp.last_writable_check = 0

    def next_deadline(self):
        """The earliest time at which supervisord's main loop has something to do.

        supervisord polls with a fixed 1 s timeout and only then runs its transitions, so
        e.g. autostart, autorestart, the end of startsecs or a SIGKILL after stopwaitsecs can
        wait up to 1 s.  The poll timeout is cut to this deadline instead.
        """
        best = self.watchdog_next
        now = time.time()
        stop_groups = getattr(self.supervisord, "stop_groups", None)
        if self.options.mood < SupervisorStates.RUNNING and stop_groups \
                and not stop_groups[-1].get_unstopped_processes():
            # Shutting down, and the group being stopped has nothing left to wait for:
            # supervisord moves on to the next group after this poll, don't sleep in it.
            return now
        spawning = self.options.mood > SupervisorStates.RESTARTING
        for process in self.processes():
            st = process.kres
            state = process.state
            when = None
            if spawning and self._spawns_now(process, state):
                return now
            if state == ProcessStates.STARTING:
                if st.notify:
                    if not st.ready and not st.timed_out and st.deadline:
                        when = st.deadline
                else:
                    when = process.laststart + process.config.startsecs + 0.001
            elif state == ProcessStates.BACKOFF and process.backoff > process.config.startretries:
                return now  # transition() gives up (FATAL) at once
            elif state in (ProcessStates.STOPPING, ProcessStates.BACKOFF) and process.delay:
                when = process.delay + 0.001
            if when is not None and (best is None or when < best):
                best = when
        return best

    @staticmethod
    def _spawns_now(process, state):
        """Whether supervisor's Subprocess.transition would spawn `process` right now."""
        config = process.config
        if state == ProcessStates.STOPPED:
            return not process.laststart and config.autostart
        if state == ProcessStates.EXITED and config.autorestart:
            if config.autorestart is RestartUnconditionally:
                return True
            return process.exitstatus not in config.exitcodes
        return False

    def _poll(self, original, timeout):
        try:
            deadline = self.next_deadline()
            if deadline is not None:
                timeout = max(0.0, min(timeout, deadline - time.time()))
        except Exception:
            self._log_exception("next_deadline")
        result = original(timeout)
        try:
            self.run_timers(time.time())
        except Exception:
            self._log_exception("run_timers")
        return result

    def _log_exception(self, where):
        import traceback

        self.logger.critical("kres: error in %s:\n%s" % (where, traceback.format_exc()))

    def run_timers(self, now):
        for process in list(self.processes()):
            st = process.kres
            if (st.notify and st.deadline is not None and now >= st.deadline and not st.ready
                    and not st.timed_out and process.state == ProcessStates.STARTING
                    and process.pid and process.pid == st.pid):
                self.ready_timeout(process)
        if self.watchdog_next is not None and now >= self.watchdog_next:
            self.systemd.send("WATCHDOG=1")
            self.watchdog_next = now + self.watchdog_interval

    def ready_timeout(self, process):
        st = process.kres
        st.timed_out = True
        st.failure = "no READY=1 within %g s (killed)" % round(st.deadline - process.laststart, 3)
        self.logger.error("kres: %s (pid %d) sent no READY=1 within %g s: killing it with SIGKILL"
                          % (st.namespec, process.pid, round(st.deadline - process.laststart, 3)))
        target = -process.pid if process.config.killasgroup else process.pid
        try:
            self.options.kill(target, signal.SIGKILL)
        except OSError as exc:
            self.logger.warn("kres: cannot kill %s: %s" % (st.namespec, exc))
        self.kick()

    # ------------------------------------------------------------------ manager lifecycle

    def _get_signal(self, original):
        sig = original()
        if sig is None:
            return None
        running = self.options.mood >= SupervisorStates.RUNNING
        if sig == signal.SIGHUP and running and self.settings.manager_program:
            self.forward_sighup()
            return None  # consumed: supervisord does not reload itself
        if sig in (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT) and running:
            self.systemd.send("STOPPING=1")
        return sig

    def forward_sighup(self):
        process = self.manager_process()
        name = self.settings.manager_program
        # Only a RUNNING manager (READY=1 sent, if it is a notify program) gets it: before
        # that it may not have a SIGHUP handler yet, and the default action would kill it.
        if process is not None and process.pid and process.state == ProcessStates.RUNNING:
            try:
                self.options.kill(process.pid, signal.SIGHUP)
                self.logger.warn("kres: received SIGHUP: forwarded to the manager %s (pid %d) as "
                                 "a reload request" % (name, process.pid))
            except OSError as exc:
                self.logger.warn("kres: cannot forward SIGHUP to %s: %s" % (name, exc))
        else:
            state = getProcessStateDescription(process.state) if process else "missing"
            self.logger.warn("kres: received SIGHUP: ignored, the manager %s is not running (%s)"
                             % (name, state))

    def _on_fatal_event(self, event):
        st = getattr(event.process, "kres", None)
        if st is None or not st.is_manager or st.ext is not self:
            return
        code = self.settings.manager_fatal_exit_code
        reason = event.process.spawnerr or st.failure or "too many start retries"
        self.logger.critical("kres: the manager %s entered FATAL state (%s): stopping every "
                             "process; supervisord will exit with status %d"
                             % (st.namespec, reason, code))
        self.exit_code = code
        if self.systemd.enabled:
            self.systemd.send("STOPPING=1\nSTATUS=manager failed: %s" % reason.replace("\n", " "))
        if self.options.mood >= SupervisorStates.RUNNING:
            self.options.mood = SupervisorStates.SHUTDOWN

    def _cleanup(self, original):
        try:
            original()
        finally:
            self.uninstall()
        if self.exit_code:
            self.logger.critical("kres: exiting with status %d" % self.exit_code)
            raise SystemExit(self.exit_code)


def make_extension(supervisord, config):
    """Create (once per supervisord run) and install the extension."""
    ext = getattr(supervisord, "kres_extension", None)
    if ext is None:
        compat.check_all(supervisord)
    settings = Settings(config, default_socket_dir(supervisord.options))
    if ext is not None:
        if ext.settings != settings:
            raise SettingsError("kres_supervisord_ext is loaded twice with different settings")
        return ext
    ext = Extension(supervisord, settings)
    ext.install()
    supervisord.kres_extension = ext
    return ext
