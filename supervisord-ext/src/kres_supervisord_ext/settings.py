"""Settings of the extension: the keys of its ``[rpcinterface:kres]`` section."""

import fnmatch
import os
import re
import signal
import socket


class SettingsError(ValueError):
    pass


LOG_TARGETS = ("stdout", "syslog", "none")
# parent_death_signal values (case-insensitive)
PARENT_DEATH_SIGNALS = {"kill": signal.SIGKILL, "sigkill": signal.SIGKILL,
                        "term": signal.SIGTERM, "sigterm": signal.SIGTERM, "none": None}

DEFAULTS = {
    "notify_programs": "",
    "notify_timeout": "10",
    "notify_socket": "",
    "manager_program": "",
    "manager_fatal_exit_code": "1",
    "log_target": "stdout",
    "syslog_socket": "/dev/log",
    "tail_lines": "200",
    "parent_death_signal": "KILL",
    "net_bind_programs": "",
}


def _float(key, value, minimum=0.0):
    try:
        f = float(value)
    except ValueError:
        raise SettingsError("%s: %r is not a number of seconds" % (key, value))
    if f != f or f < minimum or f == float("inf"):
        raise SettingsError("%s: %r must be a finite number >= %s" % (key, value, minimum))
    return f


def _int(key, value, minimum, maximum):
    try:
        i = int(value)
    except ValueError:
        raise SettingsError("%s: %r is not an integer" % (key, value))
    if not minimum <= i <= maximum:
        raise SettingsError("%s: %r must be within %d..%d" % (key, value, minimum, maximum))
    return i


class Settings:
    """Parsed settings.

    notify_programs: list of (pattern, timeout-or-None); a pattern is an fnmatch pattern matched
    against the process namespec (``group:name``, or ``name`` when group and name are equal).
    """

    def __init__(self, raw, default_socket_dir=None):
        unknown = sorted(set(raw) - set(DEFAULTS))
        if unknown:
            raise SettingsError(
                "unknown key(s) in the kres rpcinterface section: %s (known: %s)"
                % (", ".join(unknown), ", ".join(sorted(DEFAULTS)))
            )
        values = dict(DEFAULTS)
        values.update({k: (v or "").strip() for k, v in raw.items()})
        self.raw = values

        self.notify_timeout = _float("notify_timeout", values["notify_timeout"], 0.001)
        self.notify_programs = []
        for item in re.split(r"[\s,]+", values["notify_programs"]):
            if not item:
                continue
            pattern, timeout = item, None
            if "=" in item:
                pattern, _, t = item.partition("=")
                timeout = _float("notify_programs (%s)" % item, t, 0.001)
            if not pattern:
                raise SettingsError("notify_programs: empty pattern in %r" % item)
            self.notify_programs.append((pattern, timeout))

        path = values["notify_socket"]
        if not path:
            if default_socket_dir is None:
                raise SettingsError(
                    "notify_socket is not set and there is no [unix_http_server] file to put it "
                    "beside; set notify_socket to an absolute path"
                )
            path = os.path.join(default_socket_dir, "kres-notify.sock")
        if not os.path.isabs(path):
            raise SettingsError("notify_socket: %r must be an absolute path" % path)
        if len(os.fsencode(path)) >= 108:
            raise SettingsError("notify_socket: %r is too long for a unix socket path" % path)
        self.notify_socket = path

        self.manager_program = values["manager_program"] or None
        self.manager_fatal_exit_code = _int(
            "manager_fatal_exit_code", values["manager_fatal_exit_code"], 1, 255)

        target = values["log_target"].lower()
        if target not in LOG_TARGETS:
            raise SettingsError("log_target: %r is not one of %s" % (target, ", ".join(LOG_TARGETS)))
        self.log_target = target
        self.syslog_socket = values["syslog_socket"]
        self.tail_lines = _int("tail_lines", values["tail_lines"], 1, 100000)

        pds = values["parent_death_signal"].lower()
        if pds not in PARENT_DEATH_SIGNALS:
            raise SettingsError("parent_death_signal: %r is not one of KILL, TERM, none"
                                % values["parent_death_signal"])
        self.parent_death_signal = PARENT_DEATH_SIGNALS[pds]

        self.net_bind_programs = [p for p in re.split(r"[\s,]+", values["net_bind_programs"]) if p]

    def net_bind(self, namespec):
        """Whether `namespec` runs unprivileged with CAP_NET_BIND_SERVICE (see netbind.py)."""
        return any(fnmatch.fnmatchcase(namespec, p) for p in self.net_bind_programs)

    def notify_timeout_for(self, namespec):
        """None when `namespec` is not a notify program, else its READY=1 timeout in seconds."""
        for pattern, timeout in self.notify_programs:
            if fnmatch.fnmatchcase(namespec, pattern):
                return self.notify_timeout if timeout is None else timeout
        return None

    def __eq__(self, other):
        return isinstance(other, Settings) and self.raw == other.raw


def default_socket_dir(options):
    """The directory of the first [unix_http_server] socket file, if any."""
    for config in getattr(options, "server_configs", None) or []:
        if config.get("family") == socket.AF_UNIX and config.get("file"):
            return os.path.dirname(os.path.abspath(config["file"]))
    return None
