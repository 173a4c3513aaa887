"""Accepted connections handed from the parent to a worker (``--workers N``).

The parent owns the listening socket and does one thing with it: accept,
choose the worker by client, pass the connected socket's descriptor over a
``SOCK_SEQPACKET`` Unix socket (``SCM_RIGHTS``, one descriptor a message),
close its own copy.  The worker adopts the descriptor into its site
(``reactor.adoptStreamConnection``): from then on the connection is the
worker's alone, byte for byte as if it had accepted it.

Why not ``SO_REUSEPORT`` (each worker listening on its own socket): the
kernel spreads connections by their 4-tuple, so one client's sockets land
on every worker, and every per-client limit would be counted N times or
would need counts shared between processes on every request.  Choosing the
worker by client keeps each client in one worker, where its counts are
exact, at the cost of one ``sendmsg`` per connection in the parent.

A connection the parent cannot hand over (no worker alive, a worker's queue
full, a channel that failed, no descriptor left to accept it with) is
closed: every one is counted by reason in :class:`Drops`
(``pingu_parent_dropped_total``) and logged, at most one line per reason a
second with the count since the last.
"""

from __future__ import annotations

import array
import errno
import os
import socket
import zlib
from collections import deque
from typing import Any, Callable, Optional

from twisted.application import service
from twisted.internet.interfaces import IReadDescriptor, IWriteDescriptor
from twisted.logger import Logger
from zope.interface import implementer

from pingu.clients import client_key

log = Logger(namespace="pingu")

#: The byte each descriptor travels with (a message needs one).
_TOKEN = b"\0"
#: Descriptors accepted (or received) in one reactor turn at most, so that a
#: burst of connections does not starve the other sockets.
BATCH = 64
#: Seconds the parent stops accepting when it has no descriptor at all.
PAUSE = 0.1
#: Connections that may wait for one worker's channel; beyond, they are closed.
MAX_WAITING = 1024
#: Seconds between two log lines about dropped connections of one reason.
DROP_LOG_INTERVAL = 1.0
#: Errors of a channel whose worker has gone.
_GONE = (errno.EPIPE, errno.ECONNRESET, errno.ENOTCONN, errno.EBADF)


class Drops:
    """The connections the parent closed without handing them over, by
    reason: counted, and logged at most once a second per reason."""

    #: Why a connection is dropped: the only values of the metric's label.
    REASONS = {
        "no-worker": "no worker is running (one is being restarted)",
        "worker-busy": f"the worker's queue is full ({MAX_WAITING} connections wait)",
        "worker-gone": "the worker ended with connections waiting for it",
        "handoff-failed": "the descriptor could not be sent to the worker",
        "out-of-descriptors": "the parent has no file descriptor left to accept with",
    }

    def __init__(self, reactor: Any) -> None:
        self.reactor = reactor
        self.counts = dict.fromkeys(self.REASONS, 0)
        self._unlogged = dict.fromkeys(self.REASONS, 0)
        self._logged_at = dict.fromkeys(self.REASONS, float("-inf"))
        self._flushes: dict[str, Any] = {}

    def dropped(self, reason: str, count: int = 1) -> None:
        """``count`` connections were closed for ``reason``."""
        if count <= 0:
            return
        self.counts[reason] += count
        self._unlogged[reason] += count
        wait = self._logged_at[reason] + DROP_LOG_INTERVAL - self.reactor.seconds()
        if wait <= 0:
            self._log(reason)
        elif reason not in self._flushes:
            # What a burst drops after its first line is said when the second is up.
            self._flushes[reason] = self.reactor.callLater(wait, self._log, reason)

    def _log(self, reason: str) -> None:
        self._flushes.pop(reason, None)
        count, self._unlogged[reason] = self._unlogged[reason], 0
        self._logged_at[reason] = self.reactor.seconds()
        log.warn(
            "pingu: the --workers parent dropped {count} connection(s): {why}",
            count=count,
            why=self.REASONS[reason],
            reason=reason,
            event="dropped",
        )

    def stop(self) -> None:
        """Say what is left unsaid now (the parent is stopping)."""
        for reason in list(self._flushes):
            call = self._flushes[reason]
            if call.active():
                call.cancel()
            self._log(reason)


def channel() -> tuple[socket.socket, socket.socket]:
    """A (parent's end, worker's end) pair; only the worker's end is inheritable."""
    parent, worker = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    parent.setblocking(False)
    worker.set_inheritable(True)
    return parent, worker


def worker_of(client: str, workers: int) -> int:
    """The worker (0-based) a client's connections go to: stable across the
    parent's restarts (CRC-32, not Python's per-process salted ``hash``)."""
    return zlib.crc32(client.encode()) % workers


@implementer(IWriteDescriptor)
class Sender:
    """The parent's end of one worker's channel: descriptors go out in order;
    what the channel cannot take now waits (and is sent when it can)."""

    def __init__(self, reactor: Any, sock: socket.socket, drops: Drops) -> None:
        self.reactor = reactor
        self.sock = sock
        self.drops = drops
        self.waiting: deque[int] = deque()
        self.closed = False

    def fileno(self) -> int:
        return self.sock.fileno() if not self.closed else -1

    def logPrefix(self) -> str:
        return "pingu-handoff"

    def send(self, fd: int) -> None:
        """Hand ``fd`` over; it is closed here once sent (or if it cannot be)."""
        if self.closed or len(self.waiting) >= MAX_WAITING:
            # A worker that does not take its connections (wedged, not dead)
            # must not make the parent hold every socket until it runs out.
            os.close(fd)
            self.drops.dropped("worker-gone" if self.closed else "worker-busy")
            return
        self.waiting.append(fd)
        if len(self.waiting) == 1:
            self.doWrite()

    def doWrite(self) -> None:
        while self.waiting:
            fd = self.waiting[0]
            try:
                self.sock.sendmsg(
                    [_TOKEN], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [fd]))]
                )
            except BlockingIOError:
                self.reactor.addWriter(self)
                return
            except OSError as e:
                if e.errno in _GONE:
                    # The worker is gone: its pool restarts it; what waited for
                    # it is closed, its clients reconnect.
                    log.info("pingu: a worker's channel failed: {e}", e=e, event="handoff_failed")
                    self.close()
                    return
                # ENOBUFS, ETOOMANYREFS (too many descriptors in flight): this
                # connection is dropped, the channel stays.
                self.drops.dropped("handoff-failed")
            self.waiting.popleft()
            os.close(fd)
        self.reactor.removeWriter(self)

    def close(self) -> None:
        """Close the channel and every descriptor still waiting."""
        if self.closed:
            return
        self.reactor.removeWriter(self)
        self.closed = True
        self.drops.dropped("worker-gone", len(self.waiting))
        while self.waiting:
            os.close(self.waiting.popleft())
        self.sock.close()

    def connectionLost(self, reason: Any) -> None:
        self.close()


@implementer(IReadDescriptor)
class Acceptor:
    """Reads the parent's listening socket in place of Twisted's port: each
    connection is accepted and handed to ``hand(fd, client)`` unopened."""

    def __init__(
        self,
        reactor: Any,
        sock: socket.socket,
        hand: Callable[[int, str], None],
        prefix6: int,
        drops: Drops,
    ) -> None:
        self.reactor = reactor
        self.sock = sock
        self.hand = hand
        self.prefix6 = prefix6
        self.drops = drops
        # A descriptor kept in reserve: out of descriptors, it is given up to
        # accept the connection waiting, which is closed at once (a clean
        # refusal), and taken again.  Without it the connection would stay
        # in the kernel's queue, the socket readable, and the reactor would
        # call doRead in a loop that accepts nothing (Twisted's ports do the same).
        self._reserve: Optional[int] = _reserve()
        self._resume: Optional[Any] = None

    def fileno(self) -> int:
        return self.sock.fileno()

    def logPrefix(self) -> str:
        return "pingu-acceptor"

    def doRead(self) -> None:
        for _ in range(BATCH):
            try:
                conn, address = self.sock.accept()
            except BlockingIOError:
                return
            except OSError as e:
                if e.errno in (errno.EMFILE, errno.ENFILE):
                    if not self._refuse_one():
                        self._pause()
                        return
                    continue
                if e.errno in (errno.ENOBUFS, errno.ENOMEM):
                    # Out of memory: the connection waits in the queue.
                    log.warn("pingu: cannot accept: {e}", e=e, event="accept_failed")
                    return
                if e.errno in (errno.ECONNABORTED, errno.EPROTO):
                    continue  # gone before it was accepted
                # Anything else: said, and tried again next turn (raising would
                # make the reactor drop this reader: no connection accepted again).
                log.error("pingu: cannot accept: {e}", e=e, event="accept_failed")
                return
            host = address[0] if isinstance(address, tuple) else None
            self.hand(conn.detach(), client_key(host, self.prefix6))

    def _refuse_one(self) -> bool:
        """Out of descriptors: accept one waiting connection with the reserve
        and close it.  False when there was none to give up (or none waited)."""
        if self._reserve is None:
            return False
        os.close(self._reserve)
        self._reserve = None
        try:
            conn, _ = self.sock.accept()
        except OSError:
            return False
        else:
            conn.close()
            self.drops.dropped("out-of-descriptors")
            return True
        finally:
            self._reserve = _reserve()

    def _pause(self) -> None:
        """No descriptor, not even the reserve: stop reading the listening
        socket for :data:`PAUSE` seconds rather than spin on it."""
        log.warn("pingu: cannot accept: no file descriptor left", event="accept_failed")
        self.reactor.removeReader(self)
        self._resume = self.reactor.callLater(PAUSE, self._resumed)

    def _resumed(self) -> None:
        self._resume = None
        if self._reserve is None:
            self._reserve = _reserve()
        self.reactor.addReader(self)

    def close(self) -> None:
        """Stop accepting; give back the reserve."""
        self.reactor.removeReader(self)
        if self._resume is not None and self._resume.active():
            self._resume.cancel()
        if self._reserve is not None:
            os.close(self._reserve)
            self._reserve = None

    def connectionLost(self, reason: Any) -> None:
        pass


def _reserve() -> Optional[int]:
    """A descriptor to give up when there is none left (None: none now)."""
    try:
        return os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None


@implementer(IReadDescriptor)
class Receiver(service.Service):
    """The worker's end: adopts each descriptor into ``factory``; when the
    parent is gone (end of file), calls ``parent_gone`` (the worker stops)."""

    def __init__(
        self, reactor: Any, fd: int, factory: Any, parent_gone: Callable[[], None]
    ) -> None:
        self.reactor = reactor
        self.fd = fd
        self.factory = factory
        self.parent_gone = parent_gone
        self.sock: Optional[socket.socket] = None

    def startService(self) -> None:
        service.Service.startService(self)
        self.sock = socket.socket(fileno=self.fd)
        self.sock.setblocking(False)
        self.sock.set_inheritable(False)
        self.reactor.addReader(self)

    def fileno(self) -> int:
        return self.sock.fileno() if self.sock is not None else -1

    def logPrefix(self) -> str:
        return "pingu-worker"

    def connectionLost(self, reason: Any) -> None:
        pass

    def doRead(self) -> None:
        """Adopt what the parent sent (a batch at most, then the reactor turns)."""
        assert self.sock is not None
        for _ in range(BATCH):
            try:
                data, fds, _flags, _address = socket.recv_fds(self.sock, 1, 4)
            except BlockingIOError:
                return
            except OSError:
                data, fds = b"", []
            if not data and not fds:
                self._stop_reading()
                self.parent_gone()
                return
            for fd in fds:
                conn = socket.socket(fileno=fd)  # owns fd: closed below
                try:
                    # The reactor takes a duplicate; the connection is its now.
                    self.reactor.adoptStreamConnection(conn.fileno(), conn.family, self.factory)
                except OSError as e:  # reset before it was adopted
                    log.info("pingu: a connection went before it was adopted: {e}", e=e)
                finally:
                    conn.close()

    def _stop_reading(self) -> None:
        if self.sock is not None:
            self.reactor.removeReader(self)
            self.sock.close()
            self.sock = None

    def stopService(self) -> None:
        service.Service.stopService(self)
        self._stop_reading()
