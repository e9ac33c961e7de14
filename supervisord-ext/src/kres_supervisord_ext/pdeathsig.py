"""Children die with supervisord: prctl(PR_SET_PDEATHSIG) in the child before exec.

supervisord puts every child in its own process group (setpgrp), so when supervisord dies
without stopping them (SIGKILL, OOM killer, a crash) the kresd workers, the cache GC and the
manager would live on as orphans, holding sockets and the cache.  The kernel's parent-death
signal kills each of them when supervisord's main thread exits.

The child sets it itself, between fork and exec (see ``KresSubprocess._spawn_as_child``):

* after supervisor's ``set_uid`` (``user=``): a change of the effective/filesystem uid or gid
  clears the setting, so it is armed as late as possible, right before ``execve``;
* then ``getppid()`` is compared with supervisord's pid taken before fork: if supervisord died
  between fork and prctl, the child was already reparented and no signal will ever come, so it
  exits at once without exec;
* exec keeps the setting, except for set-user-ID/set-group-ID binaries and binaries with file
  capabilities (the kernel clears it then; nothing can be done from here).
"""

import ctypes
import os
import signal

PR_SET_PDEATHSIG = 1

# Exit status of a child that finds supervisord already gone before exec (nobody reaps it but
# init; the value mirrors supervisor's "child process was not spawned").
ORPHAN_EXIT_STATUS = 127


class PrctlUnavailable(RuntimeError):
    pass


def libc_name():
    # glibc's soname. Not ctypes.util.find_library("c"): that runs ldconfig in a subprocess,
    # about 7 ms of supervisord's start for a name that is always this one on glibc systems.
    return "libc.so.6"


def load_prctl():
    """libc's prctl as a ctypes function (errno captured); raises PrctlUnavailable."""
    name = libc_name()
    try:
        libc = ctypes.CDLL(name, use_errno=True)
        prctl = libc.prctl
    except (OSError, AttributeError) as exc:
        raise PrctlUnavailable(
            "cannot find prctl() in the C library %r through ctypes (%s); children need it to "
            "drop the ambient capabilities they would inherit (see net_bind_programs) and for "
            "parent_death_signal" % (name, exc))
    prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong,
                      ctypes.c_ulong]
    prctl.restype = ctypes.c_int
    return prctl


def _write_stderr(text):
    try:
        os.write(2, text.encode("utf-8", "replace"))
    except OSError:
        pass


def arm_in_child(prctl, sig, parent_pid):
    """In the forked child, before exec: ask for `sig` when supervisord dies.

    Exits the child at once (no exec) when supervisord (`parent_pid`) is already gone.
    A failing prctl is reported on the child's stderr (which supervisord logs) and the child
    goes on without the protection.
    """
    if prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) != 0:
        err = ctypes.get_errno()
        _write_stderr("kres: prctl(PR_SET_PDEATHSIG, %s) failed: %s; this process will not "
                      "die with supervisord\n" % (signal.Signals(sig).name, os.strerror(err)))
    # Also right after a failed prctl: a child whose supervisord is gone must not start.
    if os.getppid() != parent_pid:
        os._exit(ORPHAN_EXIT_STATUS)
