"""No ping child outlives the server, however the server ends.

Why a separate process: when the server is killed with SIGKILL (or
crashes), nothing runs in it any more, and its children are simply
reparented.  ``PR_SET_PDEATHSIG`` cannot be used either: Twisted's
``spawnProcess`` has no pre-exec hook to set it, and the kernel clears it
anyway when the child execs a binary with file capabilities, which is what
Debian's ping is (``cap_net_raw``) for a user other than root.

So the server starts ONE small watchdog process (this file, run as a script
by a bare interpreter: ``python -I -S .../pingu/watchdog.py``, standard
library only) whose standard input is the read end of a pipe.  The write
end exists only in the server: ``os.pipe()`` makes it close-on-exec, and
Twisted's ``spawnProcess`` closes every descriptor a child is not given, so
no ping child (nor the watchdog) holds it.  The server writes one line per
event, each well under ``PIPE_BUF`` so that it is written whole:

``+ PID START``
    a child exists; ``START`` is its start time (``/proc/PID/stat`` field
    22, clock ticks since boot), read while the child is not yet reaped so
    that it is the child's own;
``- PID START``
    the child with that start time has been reaped: forget it (a pid listed
    since with another start time, a new child's, stays listed; ``- PID``
    without a start time forgets the pid whatever its start time).  These
    lines are written together, once a second at most
    (:data:`FORGET_DELAY`), not one a child.

When the pipe reaches end of file, the server has gone, whatever the way,
since the kernel closes a dead process's descriptors.  The watchdog then
sends SIGKILL to every child still listed whose start time is still the
one it was told, so a pid the system has since given to another process is
left alone, and exits.  A clean stop (:class:`WatchdogService`) waits until
the server has ended and reaped its children, so the list is empty and the
end of file kills nothing.

The one gap left is the instant between ``fork`` and the server's write of
``+ PID``, both in the same call of :func:`pingu.process.spawn`: a server
killed in those microseconds leaves that one child behind.
"""

from __future__ import annotations

import os
import select
import signal
import sys
import threading
from typing import Any, Optional

#: Signals the watchdog ignores: a Ctrl-C, a hang-up or a TERM sent to the
#: whole process group must not take it away before the server, whose clean
#: stop (or death) it waits for.  Only SIGKILL ends it before that.
IGNORED_SIGNALS = ("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGTSTP", "SIGTTIN", "SIGTTOU")


def start_time(pid: int) -> Optional[int]:
    """The start time of ``pid`` (``/proc/PID/stat`` field 22), or None if it is gone.

    A zombie still has one; a reaped process does not.
    """
    # os.open/os.read/os.close: three system calls per child start, where
    # open() adds an fstat, an ioctl and lseeks (bench/PROFILE.md).
    try:
        fd = os.open(f"/proc/{pid}/stat", os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        stat = os.read(fd, 4096)
    except OSError:
        return None
    finally:
        os.close(fd)
    # Field 2, the command name, is in parentheses and may itself hold
    # spaces and parentheses: count the fields from after the last ")".
    # What follows starts with field 3 (the state), so field 22 is at 19.
    try:
        return int(stat.rsplit(b")", 1)[1].split()[19])
    except (IndexError, ValueError):
        return None


def kill_listed(watched: dict[int, int]) -> list[int]:
    """SIGKILL every ``pid`` of ``watched`` whose start time is still ``start``.

    Returns the pids signalled.  A pidfd, where the kernel has them, makes
    the check and the kill one and the same process: once the pidfd is
    open, a matching start time proves it is the process that was listed,
    and a signal through it can never reach a process that got the pid later.
    """
    killed = []
    for pid, start in watched.items():
        pidfd = None
        try:
            try:
                pidfd = os.pidfd_open(pid)
            except (AttributeError, OSError):
                pidfd = None  # gone already, or no pidfd support: checked below
            if start_time(pid) != start:
                continue  # gone, or the pid now belongs to another process
            if pidfd is not None:
                signal.pidfd_send_signal(pidfd, signal.SIGKILL)
            else:
                os.kill(pid, signal.SIGKILL)
            killed.append(pid)
        except OSError:
            continue  # it ended meanwhile
        finally:
            if pidfd is not None:
                os.close(pidfd)
    return killed


def apply(watched: dict[int, int], line: bytes) -> None:
    """Apply one line of the server's (``+ PID START`` or ``- PID``)."""
    parts = line.split()
    try:
        if len(parts) == 3 and parts[0] == b"+":
            watched[int(parts[1])] = int(parts[2])
        elif len(parts) == 2 and parts[0] == b"-":
            watched.pop(int(parts[1]), None)
        elif len(parts) == 3 and parts[0] == b"-":
            pid, start = int(parts[1]), int(parts[2])
            if watched.get(pid) == start:
                del watched[pid]
    except ValueError:
        pass  # not a line the server writes: nothing to do with it


def watch(fd: int) -> dict[int, int]:
    """Read the server's lines from ``fd`` until end of file; what is still listed then."""
    watched: dict[int, int] = {}
    pending = b""
    while True:
        chunk = os.read(fd, 65536)  # EINTR is retried by Python (PEP 475)
        if not chunk:
            return watched
        *lines, pending = (pending + chunk).split(b"\n")
        for line in lines:
            apply(watched, line)


def main() -> int:
    """The watchdog process: watch standard input, then kill what is left."""
    for name in IGNORED_SIGNALS:
        signal.signal(getattr(signal, name), signal.SIG_IGN)
    os.chdir("/")  # hold no directory of the server's busy
    left = watch(0)
    killed = kill_listed(left)
    if killed:
        try:
            # Best effort: the server's stderr may be gone with the server.
            os.write(
                2,
                f"pingu watchdog: the server is gone; killed {len(killed)} child(ren): "
                f"{' '.join(map(str, killed))}\n".encode(),
            )
        except OSError:
            pass
    return 0


if __name__ == "__main__":
    # The watchdog process stops here: it runs with the standard library
    # only (python -I -S), 10 MB and 20 ms instead of Twisted's 30 MB and
    # 300 ms, and what follows is the server's side, which needs Twisted.
    sys.exit(main())


from twisted.application import service  # noqa: E402  (see just above)
from twisted.internet import defer, protocol  # noqa: E402
from twisted.logger import Logger  # noqa: E402
from twisted.python.failure import Failure  # noqa: E402

log = Logger(namespace="pingu.watchdog")

#: Seconds before a watchdog that died is started again (not in a tight loop
#: if it cannot start at all).
RESPAWN_DELAY = 0.5

#: Seconds the ``-`` lines of reaped children wait, to be written together.
#: One write a child was one system call in the server and one wake-up of
#: the watchdog process (a read, a parse) per session (bench/PROFILE.md
#: section 9).  Late is safe: until the line is written, the watchdog
#: lists a pid that has been reaped, which it would not kill if the server
#: died meanwhile (it checks the start time through a pidfd first), and a
#: line carries its child's start time, so it never forgets a new child
#: that got the pid since.  A "+" line is never delayed.
FORGET_DELAY = 1.0

#: Bytes a pipe writes whole (POSIX's PIPE_BUF, 4096 on Linux): the batch
#: of ``-`` lines goes in writes of at most this, each of whole lines, so
#: that a "+" line the spawn thread writes meanwhile never lands inside one.
PIPE_BUF = getattr(select, "PIPE_BUF", 512)


def watchdog_argv() -> list[str]:
    """How the watchdog is started: this file, by a bare interpreter.

    ``-I`` keeps the environment and the current directory out of it, ``-S``
    keeps site-packages out: it needs the standard library only.
    """
    return [sys.executable, "-I", "-S", os.path.abspath(__file__)]


class _WatchdogProcess(protocol.ProcessProtocol):
    def __init__(self, owner: Watchdog) -> None:
        self.owner = owner

    def processEnded(self, reason: Failure) -> None:
        self.owner._watchdog_ended(self, reason)


class Watchdog:
    """The server's side: starts the watchdog process and tells it about children.

    ``started(pid)`` and ``ended(pid)`` are what :func:`pingu.process.spawn`
    calls (it is a :class:`pingu.process.Watcher`).  Children announced
    before :meth:`start`, or while a watchdog that died is being replaced,
    are kept and told to the next watchdog process when it starts.
    """

    def __init__(self, reactor: Any, argv: Optional[list[str]] = None) -> None:
        self.reactor = reactor
        self.argv = argv if argv is not None else watchdog_argv()
        #: pid -> start time of every child that is alive or not yet reaped.
        self.watched: dict[int, int] = {}
        self._fd: Optional[int] = None
        self._process: Optional[_WatchdogProcess] = None
        self._transport: Optional[Any] = None
        self._closing = False
        self._respawn: Optional[Any] = None  # the delayed call of _restart
        self._exited: list[defer.Deferred[None]] = []
        self._drained: list[defer.Deferred[None]] = []
        # Held while the pipe's fd is closed or replaced, and by announce(),
        # which writes to it from the spawn thread.
        self._lock = threading.Lock()
        #: Which watchdog process this is (counted up at each start): a child
        #: announced to an earlier one must be told again.
        self._generation = 0
        #: pid -> (start time, generation) of children announce() has told.
        self._announced: dict[int, tuple[int, int]] = {}
        #: ``-`` lines of reaped children not written yet, and the delayed
        #: call that writes them (FORGET_DELAY)
        self._forget: list[str] = []
        self._forget_call: Optional[Any] = None

    @property
    def pid(self) -> Optional[int]:
        """The watchdog process's pid while it runs."""
        return getattr(self._transport, "pid", None)

    def start(self) -> None:
        """Start the watchdog process; ``OSError`` if it cannot be started."""
        self._closing = False
        read, write = os.pipe()  # both close-on-exec (PEP 446)
        self._process = _WatchdogProcess(self)
        try:
            # fd 0 is the read end; 1 and 2 are the server's own stderr, so
            # its last words reach the terminal or log the server writes to.
            self._transport = self.reactor.spawnProcess(
                self._process, self.argv[0], self.argv, env={},
                childFDs={0: read, 1: 2, 2: 2},
            )  # fmt: skip
        except BaseException:
            os.close(write)
            raise
        finally:
            os.close(read)  # the watchdog has its own copy now
        with self._lock:
            self._fd = write
            self._generation += 1
        self._forget = []  # of children the new watchdog was never told of
        for pid, start in list(self.watched.items()):
            self._send(f"+ {pid} {start}\n")
        log.info("pingu: watchdog {pid} started", pid=self.pid)

    def announce(self, pid: int) -> None:
        """From the spawn thread (:mod:`pingu.spawner`), the moment the child
        exists: the watchdog knows it before the reactor hears of the pid,
        so there is no moment (not even one whose output has been sent on)
        when the server could die and leave the child.  :meth:`started`
        follows in the reactor thread and keeps the books."""
        start = start_time(pid)
        if start is None:
            return
        with self._lock:
            if self._fd is None:
                return  # between watchdogs: started() lists it for the next one
            try:
                os.write(self._fd, f"+ {pid} {start}\n".encode("ascii"))
            except OSError:
                return  # the reactor's own write (started) reports and recovers
            self._announced[pid] = (start, self._generation)

    def started(self, pid: int) -> None:
        """A child with this pid exists: kill it if the server dies."""
        announced = self._announced.pop(pid, None)
        if announced is not None and announced[1] == self._generation:
            self.watched[pid] = announced[0]  # this watchdog has been told
            return
        start = start_time(pid)
        if start is None:
            return  # already reaped: there is nothing left to kill
        self.watched[pid] = start
        self._send(f"+ {pid} {start}\n")

    def ended(self, pid: int) -> None:
        """The child with this pid has been reaped: forget it (told to the
        watchdog within :data:`FORGET_DELAY`, with others)."""
        start = self.watched.pop(pid, None)
        if start is None:
            return
        self._forget.append(f"- {pid} {start}\n")
        if self._forget_call is None:
            self._forget_call = self.reactor.callLater(FORGET_DELAY, self._write_forget)
        if not self.watched:
            drained, self._drained = self._drained, []
            for d in drained:
                d.callback(None)

    def drained(self, timeout: float) -> defer.Deferred[None]:
        """Fires once no child is listed, or after ``timeout`` seconds at most."""
        d: defer.Deferred[None] = defer.Deferred()
        if not self.watched:
            d.callback(None)
            return d
        self._drained.append(d)

        def expire() -> None:
            if d in self._drained:
                self._drained.remove(d)
                log.warn(
                    "pingu: {n} child(ren) still running after {t} s; the watchdog ends them",
                    n=len(self.watched),
                    t=timeout,
                )
                d.callback(None)

        call = self.reactor.callLater(timeout, expire)

        def cancel_expiry(result: None) -> None:
            if call.active():
                call.cancel()
            return result

        d.addBoth(cancel_expiry)
        return d

    def _write_forget(self) -> None:
        """Write the ``-`` lines held back, in as few writes as whole lines
        of at most PIPE_BUF bytes allow."""
        if self._forget_call is not None and self._forget_call.active():
            self._forget_call.cancel()
        self._forget_call = None
        lines, self._forget = self._forget, []
        chunk = ""
        for line in lines:
            if len(chunk) + len(line) > PIPE_BUF:
                self._send(chunk)
                chunk = ""
            chunk += line
        if chunk:
            self._send(chunk)

    def close(self) -> defer.Deferred[None]:
        """Let the watchdog go: end of file, so it kills whatever is still
        listed (nothing, after :meth:`drained`), and exits.  Fires when it has."""
        self._closing = True
        if self._respawn is not None and self._respawn.active():
            self._respawn.cancel()
        self._respawn = None
        self._write_forget()  # its list empty before the end of file
        self._close_pipe()
        if self._process is None:
            return defer.succeed(None)
        d: defer.Deferred[None] = defer.Deferred()
        self._exited.append(d)
        return d

    def _close_pipe(self) -> None:
        with self._lock:
            fd, self._fd = self._fd, None
            if fd is not None:
                os.close(fd)

    def _send(self, text: str) -> None:
        if self._fd is None:
            return  # kept in self.watched: the next watchdog is told at start
        data = text.encode("ascii")
        try:
            # A blocking write of a few bytes into a pipe the watchdog empties
            # at once: done before the reactor runs again, so before the
            # server could die in between.
            os.write(self._fd, data)
        except OSError as e:
            log.error("pingu: the watchdog cannot be told ({error})", error=str(e))
            self._close_pipe()  # processEnded follows and starts another

    def _watchdog_ended(self, process: _WatchdogProcess, reason: Failure) -> None:
        if process is not self._process:
            return
        self._process = None
        self._transport = None
        self._close_pipe()
        if self._closing:
            exited, self._exited = self._exited, []
            for d in exited:
                d.callback(None)
            return
        # Killed or crashed: until another one runs, no child is protected.
        log.error(
            "pingu: the watchdog ended unexpectedly ({why}); starting another",
            why=reason.getErrorMessage(),
        )
        self._respawn = self.reactor.callLater(RESPAWN_DELAY, self._restart)

    def _restart(self) -> None:
        self._respawn = None
        try:
            self.start()
        except OSError as e:
            log.error("pingu: cannot start the watchdog: {error}", error=str(e))
            self._respawn = self.reactor.callLater(RESPAWN_DELAY, self._restart)


class WatchdogService(service.Service):
    """Start the watchdog with the server; on a clean stop, kill nothing.

    Stopping waits (``drain_timeout`` seconds at most) until the server has
    ended and reaped every child it told the watchdog about, then ends the
    watchdog: normally nothing is left to kill.  A child still running after
    that would outlive the server, so the watchdog kills it.
    """

    def __init__(
        self, reactor: Any, drain_timeout: float = 10.0, argv: Optional[list[str]] = None
    ) -> None:
        self.watchdog = Watchdog(reactor, argv)
        self.drain_timeout = drain_timeout

    def startService(self) -> None:
        # Here, not in privilegedStartService: after twistd has daemonised
        # (a watchdog started before would see the pipe close when the
        # first process exits) and shed privileges (it runs as the user the
        # children run as, which is all it needs to kill them).
        service.Service.startService(self)
        try:
            self.watchdog.start()
        except OSError as e:
            raise SystemExit(f"pingu: cannot start the watchdog: {e}") from None

    def stopService(self) -> defer.Deferred[None]:
        service.Service.stopService(self)
        d = self.watchdog.drained(self.drain_timeout)
        d.addCallback(lambda _: self.watchdog.close())
        return d
