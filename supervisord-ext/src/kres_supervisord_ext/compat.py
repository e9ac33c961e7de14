"""Checks that the supervisord internals we hook into have the shape we expect.

The extensions patch or subclass a handful of supervisor internals.  These are not a public
API, so before anything is installed every extension verifies that the attributes, methods and
signatures it relies on exist.  On a mismatch the factory raises :class:`UnsupportedSupervisor`
with one line per problem, supervisord logs it and refuses to start ("Could not make kres rpc
interface"), instead of misbehaving later.

Checked against supervisor 4.3.0 (PyPI) and 4.2.5 (Debian 12).
"""

import inspect


class UnsupportedSupervisor(RuntimeError):
    """The running supervisor does not have the internals an extension needs."""


def _params(func):
    try:
        return list(inspect.signature(func).parameters)
    except (TypeError, ValueError):
        return None


class _Checker:
    def __init__(self, extension):
        self.extension = extension
        self.problems = []

    def fail(self, what):
        self.problems.append("[%s] %s" % (self.extension, what))

    def has(self, obj, objname, attr):
        if not hasattr(obj, attr):
            self.fail("%s.%s is missing" % (objname, attr))
            return False
        return True

    def method(self, cls, clsname, name, params):
        """`params` is the expected leading parameter list (without self)."""
        if not self.has(cls, clsname, name):
            return
        func = getattr(cls, name)
        if not callable(func):
            self.fail("%s.%s is not callable" % (clsname, name))
            return
        got = _params(func)
        if got is None:
            return
        if inspect.isfunction(func) and got and got[0] == "self":
            got = got[1:]
        if got[: len(params)] != list(params):
            self.fail(
                "%s.%s has parameters (%s), expected (%s)"
                % (clsname, name, ", ".join(got), ", ".join(params))
            )


def check_core(supervisord):
    """Hooks shared by all extensions: the main loop object, options, poller, events."""
    c = _Checker("core")
    try:
        from supervisor import events, states, options as soptions
        from supervisor.process import Subprocess, ProcessGroup
        from supervisor.xmlrpc import RPCError, Faults  # noqa: F401
        from supervisor.http import NOT_DONE_YET  # noqa: F401
    except ImportError as exc:
        raise UnsupportedSupervisor("[core] cannot import supervisor internals: %s" % exc)

    for attr in ("process_groups", "options", "reap", "add_process_group",
                 "remove_process_group", "stop_groups"):
        c.has(supervisord, "Supervisor", attr)
    opts = getattr(supervisord, "options", None)
    if opts is not None:
        for attr in ("poller", "logger", "mood", "pidhistory", "get_socket_map", "cleanup",
                     "kill", "execve", "get_signal", "server_configs", "process_config",
                     "configroot"):
            c.has(opts, "ServerOptions", attr)
        poller = getattr(opts, "poller", None)
        if poller is not None:
            c.method(type(poller), type(poller).__name__, "poll", ["timeout"])
            for attr in ("register_readable", "unregister_readable"):
                c.has(poller, type(poller).__name__, attr)
    for name in ("STOPPED", "STARTING", "RUNNING", "BACKOFF", "STOPPING", "EXITED", "FATAL",
                 "UNKNOWN"):
        c.has(states.ProcessStates, "ProcessStates", name)
    for name in ("RUNNING_STATES", "STOPPED_STATES", "SupervisorStates",
                 "getProcessStateDescription"):
        c.has(states, "supervisor.states", name)
    for name in ("subscribe", "unsubscribe", "ProcessStateFatalEvent", "ProcessStateEvent"):
        c.has(events, "supervisor.events", name)
    for name in ("split_namespec", "make_namespec", "decode_wait_status", "signame"):
        c.has(soptions, "supervisor.options", name)

    c.method(Subprocess, "Subprocess", "change_state", ["new_state", "expected"])
    c.method(Subprocess, "Subprocess", "spawn", [])
    c.method(Subprocess, "Subprocess", "transition", [])
    c.method(Subprocess, "Subprocess", "finish", ["pid", "sts"])
    c.method(Subprocess, "Subprocess", "get_execv_args", [])
    c.method(Subprocess, "Subprocess", "stop", [])
    c.method(Subprocess, "Subprocess", "give_up", [])
    c.method(Subprocess, "Subprocess", "drain", [])
    return c.problems


def check_fast_start():
    """kres.startProcess / stopProcess: deferred XML-RPC responses that we wake up early."""
    c = _Checker("fast-start")
    from supervisor import http
    from supervisor.xmlrpc import DeferredXMLRPCResponse

    chan = getattr(http, "deferring_http_channel", None)
    if chan is None:
        c.fail("supervisor.http.deferring_http_channel is missing")
    else:
        # We wake a channel that waits for a deferred result by resetting
        # last_writable_check; writable() compares it with `delay`.
        c.has(chan, "deferring_http_channel", "delay")
        c.has(chan, "deferring_http_channel", "last_writable_check")
        c.method(chan, "deferring_http_channel", "writable", [])
    c.has(DeferredXMLRPCResponse, "DeferredXMLRPCResponse", "more")
    return c.problems


def check_notify():
    """sd_notify: the child side of spawn and the parent side of finish."""
    c = _Checker("sd_notify")
    from supervisor.process import Subprocess

    c.method(Subprocess, "Subprocess", "_spawn_as_child", ["filename", "argv"])
    for attr in ("config", "pid", "state", "laststart", "delay", "backoff", "killing",
                 "spawnerr", "dispatchers"):
        c.has(Subprocess, "Subprocess", attr)
    return c.problems


def check_logging():
    """Merged logging: the output dispatcher's per-chunk log hook."""
    c = _Checker("logging")
    from supervisor.dispatchers import POutputDispatcher

    c.method(POutputDispatcher, "POutputDispatcher", "_log", ["data"])
    c.method(POutputDispatcher, "POutputDispatcher", "close", [])
    c.method(POutputDispatcher, "POutputDispatcher", "handle_read_event", [])
    return c.problems


def check_manager(supervisord):
    """Manager lifecycle: signal interception and clean-up hook."""
    c = _Checker("manager")
    opts = supervisord.options
    recv = getattr(opts, "signal_receiver", None)
    if recv is None:
        c.fail("ServerOptions.signal_receiver is missing")
    else:
        c.has(recv, "SignalReceiver", "get_signal")
    return c.problems


def check_all(supervisord):
    problems = []
    problems += check_core(supervisord)
    if not problems:
        problems += check_fast_start()
        problems += check_notify()
        problems += check_logging()
        problems += check_manager(supervisord)
    if problems:
        try:
            from supervisor.options import VERSION
        except Exception:  # pragma: no cover
            VERSION = "unknown"
        raise UnsupportedSupervisor(
            "kres_supervisord_ext cannot be loaded into supervisor %s (supported: 4.2.5, 4.3.x);"
            " its internals differ:\n  %s" % (VERSION, "\n  ".join(problems))
        )
