"""pingu.sendpath: frames collected per child chunk, sent straight to the socket."""

from __future__ import annotations

import socket

from twisted.internet import tcp
from twisted.test import iosim

from pingu import sendpath


class FakeTCP(tcp.Server):
    """Enough of a tcp.Server for write_now: its buffer and a real socket."""

    def __init__(self, sock: socket.socket) -> None:  # no reactor, no registration
        self.socket = sock
        self.dataBuffer = b""
        self._tempDataLen = 0
        self.connected = True
        self.disconnecting = False
        self.written: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.written.append(data)


def test_only_plain_tcp_sends_directly():
    assert sendpath.direct_socket(iosim.FakeTransport(object(), isServer=True)) is None
    a, b = socket.socketpair()
    try:
        server = tcp.Server.__new__(tcp.Server)
        server.socket = a
        server.TLS = False
        assert sendpath.direct_socket(server) is a
        server.TLS = True
        assert sendpath.direct_socket(server) is None
    finally:
        a.close()
        b.close()


def test_write_now_sends_when_nothing_is_queued_and_queues_behind_a_backlog():
    a, b = socket.socketpair()
    try:
        a.setblocking(False)
        transport = FakeTCP(a)
        sendpath.write_now(transport, a, b"one")
        assert b.recv(10) == b"one" and transport.written == []
        transport.dataBuffer = b"x"  # Twisted holds bytes: ours go after them
        sendpath.write_now(transport, a, b"two")
        assert transport.written == [b"two"]
    finally:
        a.close()
        b.close()


def test_what_the_kernel_does_not_take_goes_to_twisted():
    a, b = socket.socketpair()
    try:
        a.setblocking(False)
        transport = FakeTCP(a)
        big = b"z" * (16 << 20)
        sendpath.write_now(transport, a, big)
        assert transport.written and 0 < len(transport.written[0]) < len(big)
        assert big.endswith(transport.written[0])
    finally:
        a.close()
        b.close()


def test_a_batch_flushes_each_connection_once_at_its_end():
    flushed: list[str] = []
    assert not sendpath.defer_flush(lambda: flushed.append("outside"))
    sendpath.begin()
    sendpath.begin()  # nested: only the outer end flushes
    assert sendpath.defer_flush(lambda: flushed.append("a"))
    assert sendpath.defer_flush(lambda: flushed.append("b"))
    sendpath.end()
    assert flushed == []
    sendpath.end()
    assert flushed == ["a", "b"]
