"""Children started with ``posix_spawn`` and reaped through their pidfd.

Twisted's ``reactor.spawnProcess`` costs, per child, a listing of
``/proc/self/fd`` and an ``fcntl`` on every open descriptor (to decide which
to close in the child), and every ``SIGCHLD`` makes it call ``waitpid`` once
for every living child (``reapAllProcesses``): with a thousand sessions that
is thousands of system calls per start and a thousand per end, so churn cost
grows with the square of the sessions (bench/PROFILE.md has the counts).

Here instead:

* **start**: one ``posix_spawn`` (vfork and exec: no copy of the server's
  memory) whose file actions only put the child's three descriptors in place:
  stdin is ``/dev/null`` (opened by the child), stdout and stderr the write
  ends of two pipes.  Nothing else reaches the child because every
  descriptor the server holds is close-on-exec: Python makes every descriptor
  it creates non-inheritable (PEP 446), Twisted's sockets and pipes included,
  and :func:`close_on_exec_all` marks, once, whatever the server was started
  with.
* **end**: ``os.pidfd_open(pid)`` right after the spawn (the child cannot be
  reaped by anybody else before: Twisted only waits for pids it registered),
  watched by the reactor like a socket; it becomes readable when that child
  ends, and only then is ``waitpid(pid, WNOHANG)`` called, for that child.
  Signals go through ``pidfd_send_signal``: never to a reused pid.

The transport offers what :class:`pingu.process.PingProcess` uses of
Twisted's process transport: ``pid``, ``signalProcess`` (``ProcessExitedAlready``
once reaped), ``closeStdin``, ``loseConnection``; the protocol gets
``makeConnection``, ``childDataReceived``, ``childConnectionLost`` and, once
the child is reaped and both pipes are at their end, ``processEnded`` with
``ProcessDone`` or ``ProcessTerminated``, as from Twisted.

:func:`available` says whether this works here (Linux 5.3+, Python 3.9+);
:func:`pingu.process.spawn` falls back to Twisted otherwise.
"""

from __future__ import annotations

import errno
import fcntl
import os
import signal
from typing import Any, Optional

from twisted.internet import abstract, error, main
from twisted.python.failure import Failure

#: Read this much from a child's pipe at once (Twisted reads 8 KiB).
READ_SIZE = 65536

_SIGNALS = {"HUP": signal.SIGHUP, "STOP": signal.SIGSTOP, "INT": signal.SIGINT,
            "KILL": signal.SIGKILL, "TERM": signal.SIGTERM}  # fmt: skip

_available: Optional[bool] = None
_swept = False


def available() -> bool:
    """pidfds and posix_spawn work here (checked once, on this process)."""
    global _available
    if _available is None:
        ok = hasattr(os, "pidfd_open") and hasattr(os, "posix_spawn")
        ok = ok and hasattr(signal, "pidfd_send_signal")
        if ok:
            try:
                os.close(os.pidfd_open(os.getpid()))
            except OSError:
                ok = False
        _available = ok
    return _available


def close_on_exec_all() -> int:
    """Mark every open descriptor above 2 close-on-exec; how many were not.

    Run once, before the first spawn: descriptors the server inherited from
    whoever started it are the only ones Python did not make
    non-inheritable itself."""
    marked = 0
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd <= 2:
            continue
        try:
            flags = fcntl.fcntl(fd, fcntl.F_GETFD)
            if not flags & fcntl.FD_CLOEXEC:
                fcntl.fcntl(fd, fcntl.F_SETFD, flags | fcntl.FD_CLOEXEC)
                marked += 1
        except OSError:
            pass  # the listing's own descriptor, closed by now
    return marked


def _ignored_signals() -> list[int]:
    # A child inherits ignored signals (Python ignores SIGPIPE): back to the
    # default in the child, as Twisted does.
    return [s for s in range(1, signal.NSIG) if signal.getsignal(s) == signal.SIG_IGN]


class _PipeReader(abstract.FileDescriptor):
    """The parent's end of one of the child's output pipes."""

    def __init__(self, reactor: Any, child: ChildProcess, name: int, fd: int) -> None:
        super().__init__(reactor)
        self.child = child
        self.name = name
        self.fd = fd

    def fileno(self) -> int:
        return self.fd

    def doRead(self) -> Any:
        try:
            data = os.read(self.fd, READ_SIZE)
        except (BlockingIOError, InterruptedError):
            return None
        except OSError:
            return main.CONNECTION_LOST
        if not data:
            return main.CONNECTION_DONE
        self.child.proto.childDataReceived(self.name, data)
        return None

    def writeSomeData(self, data: bytes) -> int:
        return 0

    def loseConnection(self, _connDone: Any = None) -> None:
        if self.connected and not self.disconnecting:
            self.disconnecting = True
            self.stopReading()
            self.reactor.callLater(0, self.connectionLost, Failure(main.CONNECTION_DONE))

    def connectionLost(self, reason: Failure) -> None:
        if self.fd < 0:
            return
        abstract.FileDescriptor.connectionLost(self, reason)
        os.close(self.fd)
        self.fd = -1
        self.child._pipe_closed(self.name, reason)


class _PidWatcher(abstract.FileDescriptor):
    """A child's pidfd: readable once the child has ended."""

    def __init__(self, reactor: Any, child: ChildProcess, pidfd: int) -> None:
        super().__init__(reactor)
        self.child = child
        self.fd = pidfd

    def fileno(self) -> int:
        return self.fd

    def doRead(self) -> None:
        self.child._reap()

    def writeSomeData(self, data: bytes) -> int:
        return 0

    def close(self) -> None:
        if self.fd >= 0:
            self.stopReading()
            os.close(self.fd)
            self.fd = -1


class ChildProcess:
    """One child: its pid, its two output pipes, its pidfd."""

    def __init__(
        self, reactor: Any, proto: Any, executable: str, argv: list[str], env: dict[str, str]
    ) -> None:
        global _swept
        if not _swept:
            close_on_exec_all()
            _swept = True
        self.reactor = reactor
        self.proto = proto
        self.pid: Optional[int] = None
        self.status: Optional[int] = None
        self.pipes: dict[int, _PipeReader] = {}
        fds: list[int] = []
        try:
            out_r, out_w = os.pipe2(os.O_CLOEXEC)
            fds += [out_r, out_w]
            err_r, err_w = os.pipe2(os.O_CLOEXEC)
            fds += [err_r, err_w]
            self.pid = os.posix_spawn(
                executable,
                argv,
                env,
                file_actions=[
                    (os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
                    (os.POSIX_SPAWN_DUP2, out_w, 1),
                    (os.POSIX_SPAWN_DUP2, err_w, 2),
                ],
                setsigdef=_ignored_signals(),
            )
        except BaseException:
            for fd in fds:
                os.close(fd)
            raise
        os.close(out_w)
        os.close(err_w)
        # Only the parent's ends are non-blocking: ping writes a blocking pipe.
        fcntl.fcntl(out_r, fcntl.F_SETFL, os.O_NONBLOCK)
        fcntl.fcntl(err_r, fcntl.F_SETFL, os.O_NONBLOCK)
        # Nobody else waits for this pid, so it is ours until we reap it,
        # even if it has already exited (a zombie still has its pidfd).
        self._watcher = _PidWatcher(reactor, self, os.pidfd_open(self.pid))
        for name, fd in ((1, out_r), (2, err_r)):
            reader = _PipeReader(reactor, self, name, fd)
            reader.connected = True
            self.pipes[name] = reader
        self._pidfd = self._watcher.fd
        proto.makeConnection(self)
        for reader in list(self.pipes.values()):
            if reader.fd >= 0:
                reader.startReading()
        self._watcher.startReading()

    # -- the transport's interface -------------------------------------------------

    def signalProcess(self, signalID: Any) -> None:
        signum = _SIGNALS.get(signalID, signalID)
        if self.pid is None:
            raise error.ProcessExitedAlready()
        try:
            signal.pidfd_send_signal(self._pidfd, signum)
        except ProcessLookupError:
            raise error.ProcessExitedAlready() from None

    def closeStdin(self) -> None:
        """The child's stdin is /dev/null: nothing to close."""

    def closeChildFD(self, childFD: int) -> None:
        pipe = self.pipes.get(childFD)
        if pipe is not None:
            pipe.loseConnection()

    def closeStdout(self) -> None:
        self.closeChildFD(1)

    def closeStderr(self) -> None:
        self.closeChildFD(2)

    def loseConnection(self) -> None:
        for fd in list(self.pipes):
            self.closeChildFD(fd)

    def writeToChild(self, childFD: int, data: bytes) -> None:
        raise KeyError(childFD)

    def write(self, data: bytes) -> None:
        """The child reads nothing (its stdin is /dev/null)."""

    def getPeer(self) -> Any:
        return ("process", self.pid)

    def getHost(self) -> Any:
        return ("process",)

    # -- ending ------------------------------------------------------------------

    def _reap(self) -> None:
        try:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
        except ChildProcessError:
            pid, status = self.pid, 0  # reaped by somebody else: status unknown
        except OSError as e:  # pragma: no cover - waitpid's other errors
            if e.errno != errno.EINTR:
                raise
            return
        if not pid:
            return  # readable but not yet waitable: the next wake-up will do
        self._watcher.close()
        self.status = status
        self.pid = None
        self._maybe_ended()

    def _pipe_closed(self, name: int, reason: Failure) -> None:
        self.pipes.pop(name, None)
        try:
            self.proto.childConnectionLost(name)
        finally:
            self._maybe_ended()

    def _maybe_ended(self) -> None:
        if self.pipes or self.status is None or self.proto is None:
            return
        proto, self.proto = self.proto, None
        proto.processEnded(Failure(_reason(self.status)))


def _reason(status: int) -> BaseException:
    code = sig = None
    if os.WIFEXITED(status):
        code = os.WEXITSTATUS(status)
    elif os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
    if code or sig:
        return error.ProcessTerminated(code, sig, status)
    return error.ProcessDone(status)
