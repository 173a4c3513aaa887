"""Run one ping child and hand its output over line by line.

Modelled on ``twisted.runner.procmon``: output is reassembled into lines the
way ``LineReceiver`` does it, stopping is graceful first (SIGINT, so ping
prints its statistics) and then firmer (SIGTERM, then SIGKILL) after a grace
period, and a child that has already gone (``ProcessExitedAlready``) is not
an error.  The child is reaped (by :mod:`pingu.spawner` through its pidfd,
or by Twisted), so it never lingers as a zombie, and its pipes are closed
when it ends.

A child must also end when the server itself dies without stopping it
(SIGKILL, a crash): :func:`spawn` tells a :class:`Watcher` (in practice
:class:`pingu.watchdog.Watchdog`) each child's pid as soon as it exists, and
again once Twisted has reaped it.
"""

from __future__ import annotations

import functools
import os
from typing import Any, Callable, Optional, Protocol

from twisted.internet import error, protocol
from twisted.python.failure import Failure

from pingu import sendpath, spawner
from pingu.spawner import ChildProcess


class LineSplitter:
    """Reassemble lines from chunks, with a bound on what is held.

    A line ends at ``\\n``; a ``\\r`` before it is dropped.  A line longer
    than ``max_line`` bytes is cut there: its first ``max_line`` bytes are
    delivered and the rest, up to the next newline, is discarded, so memory
    stays bounded whatever the child prints.

    Not Twisted's ``LineReceiver`` (``delimiter = b"\n"``, ``MAX_LENGTH``):
    it keeps the line begun in a private buffer (:meth:`pending` reads it),
    drops the connection on a long line, and cuts a chunk one line at a
    time.  Measured 2026-12-06 (``bench/libcosts.py``: timeit, best of 5,
    a ping line, the shared 2-core machine under load 5): about the same
    at one line a chunk (ping's pace: 0.47 µs a line against 0.45 µs),
    0.20 µs against 0.93 µs in 64 KiB chunks (a tool that floods).
    """

    def __init__(self, max_line: int) -> None:
        self.max_line = max_line
        self._buffer = b""
        self._discarding = False

    def feed(self, data: bytes) -> list[str]:
        """Take a chunk; return the complete lines it finished."""
        lines: list[str] = []
        # One split per chunk: slicing the rest off after each line would
        # copy the chunk once per line it holds.
        *complete, buffer = (self._buffer + data).split(b"\n")
        for chunk in complete:
            if self._discarding:
                self._discarding = False
                continue
            lines.append(self._decode(chunk))
        if len(buffer) > self.max_line:
            if not self._discarding:
                lines.append(self._decode(buffer[: self.max_line]))
            self._discarding = True
            buffer = b""
        self._buffer = buffer
        return lines

    def pending(self) -> Optional[str]:
        """The line begun but not ended yet (None when there is none): for a
        tool that ends a line only when it begins the next (traceroute)."""
        if self._discarding or not self._buffer:
            return None
        return self._decode(self._buffer)

    def flush(self) -> list[str]:
        """End of stream: the last line, if it had no newline."""
        rest, self._buffer = self._buffer, b""
        if self._discarding or not rest:
            self._discarding = False
            return []
        return [self._decode(rest)]

    def _decode(self, chunk: bytes) -> str:
        if chunk.endswith(b"\r"):
            chunk = chunk[:-1]
        return chunk[: self.max_line].decode("utf-8", "replace")


#: The signals of a stop, mildest first.
SIGNAL_ORDER = ("INT", "TERM", "KILL")


class Watcher(Protocol):
    """What :func:`spawn` tells about its children (see :mod:`pingu.watchdog`).

    A watcher may also have ``announce(pid)``, safe to call from another
    thread: the spawn thread calls it the moment a background child exists."""

    def started(self, pid: int) -> None:
        """A child with this pid now exists (and is not reaped yet)."""

    def ended(self, pid: int) -> None:
        """The child with this pid has been reaped."""


class PingProcess(protocol.ProcessProtocol):
    """The protocol of one ping child.

    ``on_line(text, fd)`` is called for every output line (fd 1 or 2, in the
    order they arrive); ``on_exit(exit_code, signal)`` exactly once when the
    child has ended and its output has been delivered.  ``on_pending(text,
    fd)``, when given, is offered the unterminated rest after each chunk
    (the same text may be offered again, longer, and then come as a line):
    Debian's traceroute writes a hop's newline only when the next hop
    begins, seconds later behind a silent hop.
    """

    def __init__(
        self,
        reactor: Any,
        on_line: Callable[[str, int], None],
        on_exit: Callable[[Optional[int], Optional[int]], None],
        grace: float,
        max_line: int,
        on_pending: Optional[Callable[[str, int], None]] = None,
    ) -> None:
        self.reactor = reactor
        self.on_line = on_line
        self.on_pending = on_pending
        self.on_exit = on_exit
        self.grace = grace
        self.splitters = {1: LineSplitter(max_line), 2: LineSplitter(max_line)}
        self.ended = False
        self._escalation: Optional[Any] = None
        self._level = -1  # index in SIGNAL_ORDER of the last signal sent
        #: Called once when the child has been reaped (set by :func:`spawn`).
        self.on_reaped: Optional[Callable[[], None]] = None

    def connectionMade(self) -> None:
        # ping reads nothing; its stdin is a pipe only so that fd 0 is taken.
        assert self.transport is not None
        self.transport.closeStdin()

    @property
    def pid(self) -> Optional[int]:
        """The child's pid while it runs."""
        return getattr(self.transport, "pid", None)

    def childDataReceived(self, childFD: int, data: bytes) -> None:
        splitter = self.splitters.get(childFD)
        if splitter is None:
            return
        # Each viewer's frames of this chunk go out in one send at its end.
        sendpath.begin()
        try:
            for text in splitter.feed(data):
                self.on_line(text, childFD)
            if self.on_pending is not None:
                rest = splitter.pending()
                if rest is not None:
                    self.on_pending(rest, childFD)
        finally:
            sendpath.end()

    def processEnded(self, reason: Failure) -> None:
        self.ended = True
        # First, before anything that could raise: Twisted has reaped the
        # child, so its pid may be reused and must no longer be watched.
        reaped, self.on_reaped = self.on_reaped, None
        if reaped is not None:
            reaped()
        if self._escalation is not None and self._escalation.active():
            self._escalation.cancel()
        for fd, splitter in self.splitters.items():
            for text in splitter.flush():
                self.on_line(text, fd)
        value = reason.value
        exit_code = getattr(value, "exitCode", None)
        signal = getattr(value, "signal", None)
        self.on_exit(exit_code, signal)

    def signal(self, name: str) -> bool:
        """Send a signal; False when the child has already gone."""
        if self.ended or self.transport is None:
            return False
        try:
            self.transport.signalProcess(name)
        except error.ProcessExitedAlready:
            return False
        except OSError:
            return False
        return True

    def stop(self, first: str = "INT") -> None:
        """Stop gracefully: ``first``, then TERM, then KILL, a grace period apart.

        Asking again never restarts the sequence; it only makes it firmer
        when ``first`` is firmer than the last signal sent.
        """
        level = SIGNAL_ORDER.index(first)
        if level <= self._level:
            return
        if self._escalation is not None and self._escalation.active():
            self._escalation.cancel()
        self._escalate(level)

    def _escalate(self, level: int) -> None:
        self._level = level
        if self.signal(SIGNAL_ORDER[level]) and level + 1 < len(SIGNAL_ORDER):
            self._escalation = self.reactor.callLater(self.grace, self._escalate, level + 1)


def spawn(
    reactor: Any,
    proto: PingProcess,
    argv: list[str],
    env: dict[str, str],
    watchdog: Optional[Watcher] = None,
    background: bool = False,
) -> Any:
    """Start the child; ``OSError`` when the executable is missing or not
    executable (checked here because a failed ``exec`` in the forked child
    would otherwise only show as exit status 1, indistinguishable from a
    ping that got no reply).

    On Linux the child is started with ``posix_spawn`` and reaped through
    its pidfd (:mod:`pingu.spawner`: no walk over every open descriptor per
    start, no ``waitpid`` per living child per end); elsewhere, and on a
    reactor that cannot watch file descriptors, by Twisted.

    With ``background`` (the server's own runs), the spawn itself happens on
    a thread of :mod:`pingu.spawner`, so that the reactor does not stand
    still while the child execs: ``transport.pid`` is None until the pid is
    known, and that thread tells the watchdog (``announce``) before it
    hands the pid back.

    With a ``watchdog``, the child's pid is handed to it before this returns
    (so before the reactor runs again, the earliest moment the pid is
    known), and taken back once Twisted has reaped the child.
    """
    executable = argv[0]
    if not os.path.isfile(executable):
        raise FileNotFoundError(f"{executable}: no such file")
    if not os.access(executable, os.X_OK):
        raise PermissionError(f"{executable}: not executable")
    if _use_spawner(reactor):
        background = background and spawner.background_available()
        # In the background, the spawn thread itself tells the watchdog.
        announce = getattr(watchdog, "announce", None) if background else None
        transport: Any = ChildProcess(
            reactor, proto, executable, argv, env, background, announce=announce
        )
        if watchdog is not None:
            transport.when_started(functools.partial(_watch, watchdog, proto))
        return transport
    transport = reactor.spawnProcess(
        proto, executable, argv, env=env, childFDs={0: "w", 1: "r", 2: "r"}
    )
    pid = proto.pid
    # Twisted reaps a child that has already exited inside spawnProcess (and
    # calls processEnded then): such a pid is free again and is not watched.
    if watchdog is not None and pid is not None and not proto.ended:
        watchdog.started(pid)
        proto.on_reaped = functools.partial(watchdog.ended, pid)
    return transport


def _use_spawner(reactor: Any) -> bool:
    # pingu's spawner needs a reactor that watches descriptors (a real one).
    return spawner.available() and hasattr(reactor, "addReader")


def _watch(watchdog: Watcher, proto: PingProcess, pid: int) -> None:
    # pingu's spawner: the pid is known (at once, or from the spawn thread).
    if not proto.ended:
        watchdog.started(pid)
        proto.on_reaped = functools.partial(watchdog.ended, pid)
