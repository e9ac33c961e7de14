"""Merged logging: children's stdout/stderr as one line stream, plus in-memory tails."""

import collections
import errno
import os
import socket
import time

MAX_LINE = 16384  # a longer line without newline is cut into pieces of this size


class StdoutSink:
    """Writes lines to supervisord's own fd 1 (unbuffered, whole lines)."""

    name = "stdout"

    def __init__(self, fd=1):
        self.fd = fd
        self.broken = False

    def emit(self, prefix, pid, text, stderr=False):
        if self.broken:
            return
        data = ("%s[%d]: %s\n" % (prefix, pid, text)).encode("utf-8", "replace")
        while data:
            try:
                n = os.write(self.fd, data)
            except InterruptedError:
                continue
            except BlockingIOError:
                # stdout is a non-blocking pipe that is full: drop rather than stall the loop
                return
            except OSError as exc:
                if exc.errno in (errno.EPIPE, errno.EBADF):
                    self.broken = True
                    return
                raise
            data = data[n:]

    def close(self):
        pass


class SyslogSink:
    """Sends each line as one datagram to the local syslog socket (RFC 3164 framing).

    The tag is the process namespec and the pid is the child's, so journald's syslog
    compatibility sets SYSLOG_IDENTIFIER and SYSLOG_PID from them.
    """

    name = "syslog"
    FACILITY_DAEMON = 3
    SEV_INFO = 6

    def __init__(self, path="/dev/log"):
        self.path = path
        self.sock = None
        self.warned = False

    def emit(self, prefix, pid, text, stderr=False):
        # Like journald for a service's stdout/stderr: both streams at "info" (kresd, for
        # one, writes all its log messages to stderr).
        pri = self.FACILITY_DAEMON * 8 + self.SEV_INFO
        stamp = time.strftime("%b %d %H:%M:%S", time.localtime())
        msg = "<%d>%s %s[%d]: %s" % (pri, stamp, prefix, pid, text)
        try:
            if self.sock is None:
                self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC
                                          | socket.SOCK_NONBLOCK)
            self.sock.sendto(msg.encode("utf-8", "replace"), self.path)
        except OSError:
            # no syslog daemon, or it is congested: lines still reach the tail buffer
            pass

    def close(self):
        if self.sock is not None:
            self.sock.close()
            self.sock = None


class NullSink:
    name = "none"

    def emit(self, prefix, pid, text, stderr=False):
        pass

    def close(self):
        pass


def make_sink(settings):
    if settings.log_target == "stdout":
        return StdoutSink()
    if settings.log_target == "syslog":
        return SyslogSink(settings.syslog_socket)
    return NullSink()


class OutputRouter:
    """Splits output chunks into lines, sends them to the sink and keeps per-process tails."""

    def __init__(self, sink, tail_lines):
        self.sink = sink
        self.tail_lines = tail_lines
        self.tails = {}  # namespec -> deque of (pid, text)

    def tail(self, namespec):
        t = self.tails.get(namespec)
        if t is None:
            t = self.tails[namespec] = collections.deque(maxlen=self.tail_lines)
        return t

    def line(self, namespec, pid, raw, stderr):
        text = raw.decode("utf-8", "replace")
        if text.endswith("\r"):
            text = text[:-1]
        self.tail(namespec).append((pid, text))
        self.sink.emit(namespec, pid, text, stderr)

    def feed(self, buf, data, namespec, pid, stderr):
        """Append `data` to the partial-line buffer `buf` (a bytearray); emit whole lines."""
        buf += data
        start = 0
        while True:
            nl = buf.find(b"\n", start)
            if nl < 0:
                break
            self.line(namespec, pid, bytes(buf[start:nl]), stderr)
            start = nl + 1
        del buf[:start]
        while len(buf) >= MAX_LINE:
            self.line(namespec, pid, bytes(buf[:MAX_LINE]), stderr)
            del buf[:MAX_LINE]

    def flush(self, buf, namespec, pid, stderr):
        if buf:
            self.line(namespec, pid, bytes(buf), stderr)
            del buf[:]

    def last_lines(self, namespec, n, pid=None):
        """The last `n` lines of `namespec` (only those of `pid` when given), formatted."""
        lines = [(p, t) for (p, t) in self.tails.get(namespec, ()) if pid is None or p == pid]
        if n >= 0:
            lines = lines[-n:] if n else []
        return ["%s[%d]: %s" % (namespec, p, t) for (p, t) in lines]

    def forget(self, namespec):
        """Drop the tail of a process whose group was removed."""
        self.tails.pop(namespec, None)

    def close(self):
        self.sink.close()
