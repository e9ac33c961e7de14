"""A small program for the tests to run under supervisord.

Options (all optional):
  --lines N           print N lines "line I of NAME" on stdout at start
  --stderr TEXT       print TEXT on stderr at start
  --partial TEXT      write TEXT on stdout without a newline
  --ready-after S     send READY=1 to $NOTIFY_SOCKET after S seconds
  --status TEXT       send STATUS=TEXT together with READY=1
  --ready-from-child  send READY=1 from a forked child instead of this process
  --exit-after S      exit after S seconds (status from --exit-code, default 0)
  --exit-code N
  --env-dump PATH     write the environment as JSON to PATH
  --hup-file PATH     on SIGHUP append "HUP" to PATH (and print "got SIGHUP")
  --ignore-term       ignore SIGTERM
  --usr1-status TEXT  on SIGUSR1 send STATUS=TEXT
  --bind PORT         bind UDP 127.0.0.1:PORT at start, print "bound PORT" or
                      "bind failed: REASON" (and go on either way)
  --name NAME         used in printed lines
On SIGTERM (unless ignored): send STOPPING=1, print "stopping NAME", exit 0.
"""

import argparse
import json
import os
import signal
import socket
import sys
import time


def notify(message):
    path = os.environ.get("NOTIFY_SOCKET")
    if not path:
        return
    if path.startswith("@"):
        path = "\0" + path[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        s.sendto(message.encode(), path)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--name", default="helper")
    p.add_argument("--lines", type=int, default=0)
    p.add_argument("--stderr")
    p.add_argument("--partial")
    p.add_argument("--ready-after", type=float)
    p.add_argument("--status")
    p.add_argument("--ready-from-child", action="store_true")
    p.add_argument("--exit-after", type=float)
    p.add_argument("--exit-code", type=int, default=0)
    p.add_argument("--env-dump")
    p.add_argument("--hup-file")
    p.add_argument("--ignore-term", action="store_true")
    p.add_argument("--usr1-status")
    p.add_argument("--bind", type=int)
    a = p.parse_args()

    if a.env_dump:
        tmp = a.env_dump + ".tmp"
        with open(tmp, "w") as f:
            json.dump(dict(os.environ), f)
        os.rename(tmp, a.env_dump)

    def on_term(signum, frame):
        notify("STOPPING=1")
        print("stopping %s" % a.name, flush=True)
        sys.exit(0)

    def on_hup(signum, frame):
        with open(a.hup_file, "a") as f:
            f.write("HUP\n")
        print("got SIGHUP", flush=True)

    def on_usr1(signum, frame):
        notify("STATUS=%s" % a.usr1_status)

    signal.signal(signal.SIGTERM, signal.SIG_IGN if a.ignore_term else on_term)
    if a.hup_file:
        signal.signal(signal.SIGHUP, on_hup)
    if a.usr1_status:
        signal.signal(signal.SIGUSR1, on_usr1)

    for i in range(a.lines):
        print("line %d of %s" % (i, a.name), flush=True)
    if a.stderr:
        print(a.stderr, file=sys.stderr, flush=True)
    if a.bind is not None:
        bound = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            bound.bind(("127.0.0.1", a.bind))
            print("bound %d" % a.bind, flush=True)
        except OSError as exc:
            print("bind failed: %s" % exc.strerror, flush=True)
    if a.partial:
        sys.stdout.write(a.partial)
        sys.stdout.flush()

    start = time.monotonic()
    ready_sent = a.ready_after is None
    while True:
        now = time.monotonic() - start
        if not ready_sent and now >= a.ready_after:
            ready_sent = True
            msg = "READY=1" + ("\nSTATUS=%s" % a.status if a.status else "")
            if a.ready_from_child:
                pid = os.fork()
                if pid == 0:
                    notify(msg)
                    os._exit(0)
                os.waitpid(pid, 0)
            else:
                notify(msg)
        if a.exit_after is not None and now >= a.exit_after:
            sys.exit(a.exit_code)
        time.sleep(0.01)


if __name__ == "__main__":
    main()
