"""Small objects that live in supervisord's main loop (its asyncore socket map).

supervisord's ``runforever`` merges ``options.get_socket_map()`` (the global asyncore map,
where its HTTP servers live) with the processes' pipe dispatchers on every iteration, registers
every dispatcher whose ``readable()`` is true with ``options.poller`` and calls
``handle_read_event()`` when its fd is readable.  Objects added to that map therefore take part
in the loop without any change to supervisord.
"""

import array
import errno
import os
import signal
import socket
import struct
import traceback

_UCRED = struct.Struct("iII")  # pid, uid, gid (struct ucred)


class LoopDispatcher:
    """Minimal asyncore-style dispatcher for supervisord's main loop."""

    def __init__(self, logger, name):
        self.logger = logger
        self.name = name
        self.fd = None
        self.closed = False

    def readable(self):
        return not self.closed

    def writable(self):
        return False

    def handle_write_event(self):  # pragma: no cover - never writable
        pass

    def handle_error(self):
        self.logger.critical("kres: error in %s:\n%s" % (self.name, traceback.format_exc()))

    def add_to(self, socket_map):
        socket_map[self.fd] = self

    def remove_from(self, socket_map, poller):
        if socket_map.get(self.fd) is self:
            del socket_map[self.fd]
        try:
            poller.unregister_readable(self.fd)
        except Exception:
            pass

    def __repr__(self):
        return "<kres %s fd=%s>" % (self.name, self.fd)


class WakeupPipe(LoopDispatcher):
    """Wakes supervisord's poll() as soon as a signal arrives.

    Python retries poll() after a signal handler ran (PEP 475), so supervisord normally notices
    SIGCHLD/SIGTERM only when its 1 s poll timeout expires or another fd becomes ready.  With
    ``signal.set_wakeup_fd`` the C signal handler writes a byte to this pipe, poll() returns,
    and the main loop reaps, stops or forwards at once.
    """

    def __init__(self, logger):
        LoopDispatcher.__init__(self, logger, "signal wakeup pipe")
        self.fd, self.wfd = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self.previous = signal.set_wakeup_fd(self.wfd, warn_on_full_buffer=False)

    def handle_read_event(self):
        while True:
            try:
                if not os.read(self.fd, 4096):
                    return
            except BlockingIOError:
                return
            except InterruptedError:
                continue

    def close(self):
        if self.closed:
            return
        self.closed = True
        try:
            current = signal.set_wakeup_fd(-1)
            if current != self.wfd:  # somebody else replaced it: put it back
                signal.set_wakeup_fd(current)
        except ValueError:  # pragma: no cover - not in the main thread
            pass
        for fd in (self.fd, self.wfd):
            try:
                os.close(fd)
            except OSError:
                pass


def parse_notify_message(data):
    """sd_notify datagram -> dict of KEY -> value (newline-separated KEY=VALUE assignments)."""
    result = {}
    text = data.decode("utf-8", "replace")
    for line in text.split("\n"):
        if not line:
            continue
        key, sep, value = line.partition("=")
        if sep:
            result[key] = value
    return result


class NotifySocket(LoopDispatcher):
    """The AF_UNIX/SOCK_DGRAM socket that children get as $NOTIFY_SOCKET.

    SO_PASSCRED makes the kernel attach the sender's pid (SCM_CREDENTIALS) to every datagram, so
    a message is attributed to a process by its real pid, never by its content.
    """

    MAX_DATAGRAM = 4096

    def __init__(self, logger, path, on_message):
        LoopDispatcher.__init__(self, logger, "notify socket %s" % path)
        self.path = path
        self.on_message = on_message
        if os.path.exists(path) or os.path.islink(path):
            import stat as _stat

            if not _stat.S_ISSOCK(os.lstat(path).st_mode):
                raise ValueError("notify_socket %r exists and is not a socket" % path)
            os.unlink(path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC
                                  | socket.SOCK_NONBLOCK)
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
            self.sock.bind(path)
            # Anyone who can reach the path may send; only datagrams whose kernel-verified
            # sender pid is a managed notify process are acted upon.
            os.chmod(path, 0o666)
        except Exception:
            self.sock.close()
            raise
        self.fd = self.sock.fileno()
        self.ancbufsize = socket.CMSG_SPACE(_UCRED.size) + socket.CMSG_SPACE(253 * 4)

    def handle_read_event(self):
        for _ in range(256):  # bounded: never starve the rest of the loop
            try:
                data, ancdata, flags, _addr = self.sock.recvmsg(
                    self.MAX_DATAGRAM, self.ancbufsize, socket.MSG_CMSG_CLOEXEC)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                if exc.errno in (errno.EAGAIN, errno.EWOULDBLOCK):
                    return
                raise
            pid = None
            for level, ctype, cdata in ancdata:
                if level == socket.SOL_SOCKET and ctype == socket.SCM_CREDENTIALS:
                    if len(cdata) >= _UCRED.size:
                        pid = _UCRED.unpack_from(cdata)[0]
                elif level == socket.SOL_SOCKET and ctype == socket.SCM_RIGHTS:
                    # FDSTORE is not supported: close any passed descriptor.
                    fds = array.array("i")
                    fds.frombytes(cdata[: len(cdata) - (len(cdata) % fds.itemsize)])
                    for fd in fds:
                        try:
                            os.close(fd)
                        except OSError:
                            pass
            if flags & socket.MSG_TRUNC:
                self.logger.warn("kres: notify message from pid %s truncated; ignored" % pid)
                continue
            if pid is None:
                self.logger.warn("kres: notify message without sender credentials; ignored")
                continue
            self.on_message(pid, parse_notify_message(data))

    def close(self):
        if self.closed:
            return
        self.closed = True
        self.sock.close()
        try:
            if os.path.exists(self.path):
                os.unlink(self.path)
        except OSError:
            pass


def notify_address(value):
    """$NOTIFY_SOCKET value -> address for socket.sendto (abstract sockets start with '@')."""
    if value.startswith("@"):
        return "\0" + value[1:]
    return value


class SystemdNotifier:
    """Sends sd_notify messages to the service manager that started supervisord (if any)."""

    def __init__(self, logger, socket_value):
        self.logger = logger
        self.address = notify_address(socket_value) if socket_value else None
        self.sock = None

    @property
    def enabled(self):
        return self.address is not None

    def send(self, text):
        if not self.address:
            return False
        try:
            if self.sock is None:
                self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC
                                          | socket.SOCK_NONBLOCK)
            self.sock.sendto(text.encode("utf-8"), self.address)
            return True
        except OSError as exc:
            self.logger.warn("kres: cannot notify the service manager (%r): %s"
                             % (text.split("\n")[0], exc))
            return False

    def close(self):
        if self.sock is not None:
            self.sock.close()
            self.sock = None
