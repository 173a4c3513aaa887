"""One ``send`` per connection per child chunk, straight to the socket.

Twisted's ``transport.write`` only queues: it adds the socket to the
reactor's write set (``epoll_ctl``), the reactor wakes again, sends, and
takes the socket out again (another ``epoll_ctl``).  For pingu's typical
load, one line now and then on each of a thousand sessions, that is five
system calls and two reactor iterations per line where two calls would do
(bench/PROFILE.md: 2 ``epoll_ctl`` and 1.3 ``epoll_wait`` per line).

So, while a child's chunk of output is being handed out (:func:`batch`,
around :meth:`pingu.process.PingProcess.childDataReceived`), connections
collect their frames (:func:`defer_flush`); when the chunk is done each of
them writes what it collected at once, with :func:`write_now`:
``socket.send`` directly when the transport has nothing queued (a plain TCP
connection only: never TLS or anything else), Twisted's ``write`` for
whatever the kernel did not take, or when something is queued already, or
on any other transport (the in-memory tests' too).  Order is kept: a
connection that has bytes queued in Twisted goes through Twisted.

Why not Autobahn's ``sendMessage`` and Twisted's ``write``, which do the
same job with no reading of Twisted's privates (``_tempDataLen``): the
server's CPU per message, this path against ``sendMessage`` on a plain
Autobahn protocol (``bench/sendcost.py``, 100 connections on 127.0.0.1,
50 000 ping-sized messages, best of 3, 2026-12-06 on the shared 2-core
machine under load 4 to 6) is 6.5 µs against 14.0 µs with one message a
reactor turn, 3.1 µs against 10.4 µs with eight: two to three times less.
The reads of ``dataBuffer``/``_tempDataLen`` are what keeps the order of
bytes when Twisted holds some (tests/test_sendpath.py).
"""

from __future__ import annotations

from typing import Any, Callable, Optional

from twisted.internet import tcp
from twisted.internet.interfaces import ISSLTransport

_depth = 0
_pending: list[Callable[[], None]] = []


def begin() -> None:
    """A child's chunk starts being handed out."""
    global _depth
    _depth += 1


def end() -> None:
    """The chunk is done: every connection that collected frames writes them."""
    global _depth
    _depth -= 1
    if _depth == 0:
        while _pending:
            pending = _pending[:]
            del _pending[:]
            for flush in pending:
                flush()


def defer_flush(flush: Callable[[], None]) -> bool:
    """Inside a batch: call ``flush`` at its end (True); outside: False."""
    if _depth:
        _pending.append(flush)
        return True
    return False


def direct_socket(transport: Any) -> Optional[Any]:
    """The socket a connection may ``send`` on itself, or None (TLS, Unix,
    in-memory and every other transport go through Twisted)."""
    if type(transport) is not tcp.Server:
        return None
    if getattr(transport, "TLS", False) or ISSLTransport.providedBy(transport):
        return None
    return getattr(transport, "socket", None)


def write_now(transport: Any, sock: Optional[Any], data: bytes) -> None:
    """Send ``data``: on ``sock`` when nothing is queued before it, the rest
    (or all) through the transport's ``write``."""
    if (
        sock is not None
        and not transport.dataBuffer
        and not transport._tempDataLen
        and transport.connected
        and not transport.disconnecting
    ):
        try:
            sent = sock.send(data)
        except OSError:
            sent = 0  # would block, or an error Twisted will find and report
        if sent == len(data):
            return
        if sent:
            data = data[sent:]
    transport.write(data)
