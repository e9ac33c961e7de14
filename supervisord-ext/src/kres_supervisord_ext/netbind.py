"""Which programs may bind ports below 1024 (``net_bind_programs``), and no other may.

The rule: a program matched by ``net_bind_programs`` keeps (or gets) CAP_NET_BIND_SERVICE;
every other program starts with an empty ambient capability set.

Why the second half: supervisord may itself run unprivileged with CAP_NET_BIND_SERVICE as an
ambient capability (the service start switches to the resolver's user keeping only that one).
Ambient capabilities survive ``execve``, so every child would inherit it, the cache GC
included.  Each child that is not listed therefore calls ``prctl(PR_CAP_AMBIENT,
PR_CAP_AMBIENT_CLEAR_ALL)`` right before ``execve`` (after supervisor's ``set_uid``); a non-root
program then starts with empty permitted and effective sets.  For a program that runs as root
this changes nothing: ``execve`` as root gives it root's capabilities anyway.

Listed programs:

* supervisord not root: left alone, they inherit what supervisord has (its ambient
  CAP_NET_BIND_SERVICE);
* supervisord root and the program has a non-root ``user=``: a kresd worker must listen on
  port 53, but nothing else it does needs root.  Started as root and told to drop privileges in
  its Lua config, it would run that config (written by the manager) as root first.  Instead,
  supervisord starts it directly as its ``user=`` and hands it exactly one capability as an
  *ambient* capability: the kernel keeps ambient capabilities across ``execve`` of an ordinary
  binary for a non-root user, so kresd starts with that one capability in its permitted and
  effective sets and never as root.  In the forked child (see
  ``KresSubprocess._spawn_as_child``):

  - before supervisor's ``set_uid``: ``prctl(PR_SET_KEEPCAPS, 1)``, so that the switch from
    root to the user keeps the permitted set (it clears the effective set);
  - after ``set_uid``, right before ``execve``: ``capset`` reduces permitted, effective and
    inheritable to CAP_NET_BIND_SERVICE alone, then ``prctl(PR_CAP_AMBIENT_RAISE)`` makes it
    ambient (a capability must be permitted and inheritable to be raised).  ``execve`` clears
    KEEPCAPS;
* supervisord root and the program without a non-root ``user=`` (it runs as root): left
  alone.

A failure of any of these calls is fatal for the child: it writes why on its stderr (which
supervisord logs) and exits without exec, so the start fails with that message instead of kresd
failing later with "permission denied" on its listeners, or a program running with a
capability it must not have.
"""

import ctypes
import os

PR_SET_KEEPCAPS = 8
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_RAISE = 2
PR_CAP_AMBIENT_CLEAR_ALL = 4
CAP_NET_BIND_SERVICE = 10
_LINUX_CAPABILITY_VERSION_3 = 0x20080522

# Exit status of a child that could not get (or drop) its capability (supervisor uses 127 for
# "not spawned"; 126 tells the two apart in the log).
CAPABILITY_EXIT_STATUS = 126


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                ("inheritable", ctypes.c_uint32)]


def load_capset(libc_name):
    """libc's capset as a ctypes function (errno captured); None when libc has none."""
    try:
        capset = ctypes.CDLL(libc_name, use_errno=True).capset
    except (OSError, AttributeError):
        return None
    capset.argtypes = [ctypes.POINTER(_CapHeader), ctypes.POINTER(_CapData)]
    capset.restype = ctypes.c_int
    return capset


def applies(process_uid):
    """Whether a program started with `process_uid` (None: no ``user=``) gets the capability."""
    return process_uid is not None and process_uid != 0 and os.geteuid() == 0


def _fail(what, consequence="not starting without CAP_NET_BIND_SERVICE"):
    err = ctypes.get_errno()
    message = "kres: net_bind_programs: %s failed: %s; %s\n" % (what, os.strerror(err),
                                                                   consequence)
    try:
        os.write(2, message.encode("utf-8", "replace"))
    except OSError:
        pass
    os._exit(CAPABILITY_EXIT_STATUS)


def keep_across_setuid(prctl):
    """In the forked child, before supervisor's set_uid."""
    if prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0:
        _fail("prctl(PR_SET_KEEPCAPS)")


def make_ambient(prctl, capset):
    """In the forked child, after set_uid and before execve: CAP_NET_BIND_SERVICE only."""
    if capset is None:
        ctypes.set_errno(38)  # ENOSYS
        _fail("capset (not in the C library)")
    bit = 1 << CAP_NET_BIND_SERVICE
    header = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (_CapData * 2)(_CapData(bit, bit, bit), _CapData(0, 0, 0))
    if capset(ctypes.byref(header), data) != 0:
        _fail("capset(CAP_NET_BIND_SERVICE)")
    if prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_NET_BIND_SERVICE, 0, 0) != 0:
        _fail("prctl(PR_CAP_AMBIENT_RAISE, CAP_NET_BIND_SERVICE)")


def clear_ambient(prctl):
    """In the forked child of a program not in net_bind_programs, after set_uid and before
    execve: no ambient capability inherited from supervisord."""
    if prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0:
        _fail("prctl(PR_CAP_AMBIENT_CLEAR_ALL)",
              "not starting with the ambient capabilities of supervisord")
