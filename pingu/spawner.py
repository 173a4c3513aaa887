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

import _signal  # type: ignore[import-not-found]  # typeshed has no stub for the C module
import ctypes
import errno
import fcntl
import os
import queue
import signal
import threading
import time
from typing import Any, Callable, Optional

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
    # default in the child, as Twisted does.  Read per spawn through the C
    # module: signal.getsignal wraps each answer in an enum, 3.7 % of a
    # churn session's samples for 64 signals (bench/PROFILE.md).
    ignored = _signal.SIG_IGN
    return [s for s in range(1, signal.NSIG) if _signal.getsignal(s) == ignored]


class _PipeReader(abstract.FileDescriptor):
    """The parent's end of one of the child's output pipes."""

    def __init__(self, reactor: Any, child: ChildProcess, name: int, fd: int) -> None:
        super().__init__(reactor)
        self.reactor: Any = reactor  # a file descriptor's reactor, with a clock too (callLater)
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
    """One child: its pid, its two output pipes, its pidfd.

    With ``background``, the ``posix_spawn`` runs on :class:`_SpawnPool`
    (the reactor goes on while the child execs) and ``pid`` is None until
    it is known: :meth:`when_started` callbacks run then, in the reactor
    thread, and a signal asked for meanwhile is sent then."""

    def __init__(
        self,
        reactor: Any,
        proto: Any,
        executable: str,
        argv: list[str],
        env: dict[str, str],
        background: bool = False,
        announce: Optional[Callable[[int], None]] = None,
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
        self.pending = False
        self._pending_signal: Optional[int] = None
        self._started: list[Callable[[int], None]] = []
        self._watcher: Optional[_PidWatcher] = None
        self._pidfd = -1
        fds: list[int] = []
        try:
            out_r, out_w = os.pipe2(os.O_CLOEXEC)
            fds += [out_r, out_w]
            err_r, err_w = os.pipe2(os.O_CLOEXEC)
            fds += [err_r, err_w]
            if not background:
                pid = os.posix_spawn(
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
        # Only the parent's ends are non-blocking: ping writes a blocking pipe.
        fcntl.fcntl(out_r, fcntl.F_SETFL, os.O_NONBLOCK)
        fcntl.fcntl(err_r, fcntl.F_SETFL, os.O_NONBLOCK)
        for name, fd in ((1, out_r), (2, err_r)):
            reader = _PipeReader(reactor, self, name, fd)
            reader.connected = True
            self.pipes[name] = reader
        if background:
            self.pending = True
            _spawn_pool().submit(self, executable, argv, env, out_w, err_w, announce)
        else:
            os.close(out_w)
            os.close(err_w)
            # Nobody else waits for this pid, so it is ours until we reap it,
            # even if it has already exited (a zombie still has its pidfd).
            self._watch(pid, os.pidfd_open(pid))
        proto.makeConnection(self)
        for reader in list(self.pipes.values()):
            if reader.fd >= 0:
                reader.startReading()
        if self._watcher is not None:
            self._watcher.startReading()

    def _watch(self, pid: int, pidfd: int) -> None:
        self.pid = pid
        self._pidfd = pidfd
        self._watcher = _PidWatcher(self.reactor, self, pidfd)

    def when_started(self, callback: Callable[[int], None]) -> None:
        """``callback(pid)`` once the pid is known (now, when it is)."""
        if self.pending:
            self._started.append(callback)
        elif self.pid is not None:
            callback(self.pid)

    def _spawned(self, pid: int, pidfd: int, err: int, out_w: int, err_w: int) -> None:
        """In the reactor thread: the spawn thread's answer."""
        if _pool is not None:
            _pool.done(self)
        os.close(out_w)
        os.close(err_w)
        self.pending = False
        if err:
            # The executable was checked before; what is left (ENOEXEC,
            # E2BIG, EAGAIN) reads as a child that could not exec: 127.
            if self.proto is not None:
                self.proto.childDataReceived(
                    2, f"pingu: cannot start: {os.strerror(err)}\n".encode()
                )
            self.status = 127 << 8
            self._maybe_ended()
            return
        self._watch(pid, pidfd)
        assert self._watcher is not None
        self._watcher.startReading()
        callbacks, self._started = self._started, []
        for callback in callbacks:
            callback(pid)
        if self._pending_signal is not None:
            signum, self._pending_signal = self._pending_signal, None
            try:
                self.signalProcess(signum)
            except error.ProcessExitedAlready:
                pass

    # -- the transport's interface -------------------------------------------------

    def signalProcess(self, signalID: Any) -> None:
        signum = _SIGNALS.get(signalID, signalID)
        if self.pending:
            # Not spawned yet: sent once it is (the last asked is the firmest).
            self._pending_signal = signum
            return
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
        if self.pid is None:
            return  # reaped already
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
        if self._watcher is not None:
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
        if self.pipes or self.status is None or self.proto is None or self.pending:
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


# -- spawning off the reactor thread ----------------------------------------------

# glibc's posix_spawnattr_setflags bits (<spawn.h>)
_POSIX_SPAWN_SETSIGDEF = 0x04
_POSIX_SPAWN_SETSIGMASK = 0x08


class _CSpawn:
    """libc's posix_spawn through ctypes, which lets go of the GIL for the
    call: ``os.posix_spawn`` (Python 3.11) holds it while the vfork'd child
    execs, 0.4 to 3 ms in which the reactor stands still (bench/PROFILE.md).

    Why not ``os.posix_spawn`` on the spawn thread: holding the GIL, it would
    stop the reactor thread just the same.  Measured again (2026-12-06, the
    2-core dev VM with other test suites running, 300 ``os.posix_spawn`` of
    ``ping -V``, each call timed): p50 0.10 ms, p90 2.8 ms, p99 27 ms, max 38 ms,
    all of it with the GIL held.  ``os.posix_spawn`` stays as the fallback where
    libc's cannot be called (:func:`background_available`)."""

    def __init__(self) -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        self.spawn = libc.posix_spawn
        self.fa_init = libc.posix_spawn_file_actions_init
        self.fa_destroy = libc.posix_spawn_file_actions_destroy
        self.fa_open = libc.posix_spawn_file_actions_addopen
        self.fa_dup2 = libc.posix_spawn_file_actions_adddup2
        self.attr_init = libc.posix_spawnattr_init
        self.attr_destroy = libc.posix_spawnattr_destroy
        self.attr_flags = libc.posix_spawnattr_setflags
        self.attr_sigdef = libc.posix_spawnattr_setsigdefault
        self.attr_sigmask = libc.posix_spawnattr_setsigmask
        self.sigemptyset = libc.sigemptyset
        self.sigaddset = libc.sigaddset
        self.attr_flags.argtypes = [ctypes.c_void_p, ctypes.c_short]

    def __call__(
        self, path: str, argv: list[str], env: dict[str, str], out_w: int, err_w: int,
        sigdef: list[int],
    ) -> tuple[int, int]:  # fmt: skip
        """(pid, 0) or (0, errno)."""
        # generous sizes: glibc's are 80, 336 and 128 bytes
        actions = ctypes.create_string_buffer(256)
        attr = ctypes.create_string_buffer(1024)
        defaults = ctypes.create_string_buffer(256)
        mask = ctypes.create_string_buffer(256)
        self.fa_init(actions)
        self.attr_init(attr)
        try:
            self.fa_open(actions, 0, b"/dev/null", os.O_RDONLY, 0)
            self.fa_dup2(actions, out_w, 1)
            self.fa_dup2(actions, err_w, 2)
            self.sigemptyset(defaults)
            for signum in sigdef:
                self.sigaddset(defaults, signum)
            self.sigemptyset(mask)
            self.attr_sigdef(attr, defaults)
            self.attr_sigmask(attr, mask)
            self.attr_flags(attr, _POSIX_SPAWN_SETSIGDEF | _POSIX_SPAWN_SETSIGMASK)
            args = [os.fsencode(a) for a in argv]
            envs = [os.fsencode(f"{k}={v}") for k, v in env.items()]
            c_argv = (ctypes.c_char_p * (len(args) + 1))(*args, None)
            c_env = (ctypes.c_char_p * (len(envs) + 1))(*envs, None)
            pid = ctypes.c_int(0)
            err = self.spawn(ctypes.byref(pid), os.fsencode(path), actions, attr, c_argv, c_env)
            return (pid.value, 0) if err == 0 else (0, err)
        finally:
            self.fa_destroy(actions)
            self.attr_destroy(attr)


class _SpawnPool:
    """A few threads that spawn children and hand each pid (and its pidfd)
    back to the reactor thread; and how long the oldest start has waited.

    Several threads, because a ``posix_spawn`` mostly waits: the calling
    thread stands still (vfork) until the child has exec'd, which on a
    loaded machine is a wait for a CPU, not work.  Measured (2026-12-06,
    2-core VM, bench churn of the realping child at 600 sessions/s, the
    machine loaded by other jobs): one thread took p50 3.0 ms, p99 15-18 ms
    per spawn, so it carried ~330 starts a second and past that the queue
    grew by the second (the oldest start waited 1.9 s, every first line
    with it).  See bench/PROFILE.md for the pool's figures."""

    #: spawning threads
    threads = 4
    #: How much nicer than the server the spawning threads are (their
    #: children inherit it):
    #: the tools wait for a CPU behind the server, so that a server whose
    #: machine is full of starting tools still answers at once.  Measured
    #: (bench scenario f, 800 sessions/s on 2 cores, 2026-12-06): a refusal's
    #: p99 167-209 ms with the tools at 0, 51-86 ms at 10 or 19; at 10 the
    #: server also admitted the most (364-375 first lines/s against 249-297).
    #: A ping's round trip is timed by the kernel, not by its scheduling.
    nice = 10

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.spawn = _CSpawn()
        self.clock = clock
        self.jobs: queue.SimpleQueue[Any] = queue.SimpleQueue()
        #: the children asked for and not yet spawned -> when they were asked
        #: (in the reactor thread only; oldest first)
        self.waiting: dict[ChildProcess, float] = {}
        for i in range(self.threads):
            thread = threading.Thread(target=self._run, name=f"pingu-spawn-{i}", daemon=True)
            thread.start()

    def submit(
        self, child: ChildProcess, path: str, argv: list[str], env: dict[str, str],
        out_w: int, err_w: int, announce: Optional[Callable[[int], None]] = None,
    ) -> None:  # fmt: skip
        """Spawn on a thread; ``announce(pid)`` is called there, at once."""
        self.waiting[child] = self.clock()
        # the signal dispositions are read here, in the reactor thread
        self.jobs.put((child, path, argv, env, out_w, err_w, _ignored_signals(), announce))

    def done(self, child: ChildProcess) -> None:
        """In the reactor thread: ``child``'s spawn has been answered."""
        self.waiting.pop(child, None)

    def oldest_wait(self) -> float:
        """Seconds the oldest start still unanswered has waited (0: none)."""
        for asked in self.waiting.values():
            return max(0.0, self.clock() - asked)
        return 0.0

    def _run(self) -> None:
        if self.nice:
            me = threading.get_native_id()
            try:
                os.setpriority(
                    os.PRIO_PROCESS, me, min(19, os.getpriority(os.PRIO_PROCESS, me) + self.nice)
                )
            except OSError:  # pragma: no cover - a sandbox that forbids it
                pass
        while True:
            child, path, argv, env, out_w, err_w, sigdef, announce = self.jobs.get()
            pidfd = -1
            try:
                pid, err = self.spawn(path, argv, env, out_w, err_w, sigdef)
                if pid:
                    pidfd = os.pidfd_open(pid)
                    if announce is not None:
                        announce(pid)
            except OSError as e:  # pragma: no cover - pidfd_open of our own child
                pid, err = 0, e.errno or errno.EIO
            except Exception:  # pragma: no cover - a ctypes failure
                pid, err = 0, errno.EIO
            child.reactor.callFromThread(child._spawned, pid, pidfd, err, out_w, err_w)


_pool: Optional[_SpawnPool] = None
_pool_lock = threading.Lock()


def _spawn_pool() -> _SpawnPool:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = _SpawnPool()
        return _pool


def start_wait() -> float:
    """Seconds the oldest child asked for has waited for its spawn (0 when
    none waits, or none was ever spawned off the reactor thread): how far
    behind the starts are, for :class:`pingu.lag.LagMeter`."""
    return 0.0 if _pool is None else _pool.oldest_wait()


_background: Optional[bool] = None


def background_available() -> bool:
    """Can children be spawned off the reactor thread here (libc's
    posix_spawn through ctypes)?  Checked once."""
    global _background
    if _background is None:
        try:
            _CSpawn()
            _background = available()
        except (OSError, AttributeError):
            _background = False
    return _background
