"""pingu.spawner: children started with posix_spawn, reaped through their pidfd."""

from __future__ import annotations

import os
import socket
import threading

import pytest
import pytest_twisted
from twisted.internet import defer, error, process, protocol, reactor

from pingu import spawner
from pingu.process import PingProcess, spawn

pytestmark = pytest.mark.skipif(not spawner.available(), reason="no pidfds here")


class Recorder(protocol.ProcessProtocol):
    def __init__(self) -> None:
        self.out: dict[int, bytes] = {1: b"", 2: b""}
        self.lost: list[int] = []
        self.ended: defer.Deferred = defer.Deferred()

    def childDataReceived(self, childFD: int, data: bytes) -> None:
        self.out[childFD] += data

    def childConnectionLost(self, childFD: int) -> None:
        self.lost.append(childFD)

    def processEnded(self, reason) -> None:
        self.ended.callback(reason.value)  # a Failure would errback


def start(argv: list[str]) -> tuple[spawner.ChildProcess, Recorder]:
    proto = Recorder()
    child = spawner.ChildProcess(reactor, proto, argv[0], argv, {"PATH": "/usr/bin:/bin"})
    return child, proto


class Told:
    """A watchdog stand-in: what spawn told it, as (what, pid, thread), in order."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int, str]] = []

    def _note(self, what: str, pid: int) -> None:
        self.calls.append((what, pid, threading.current_thread().name))

    def started(self, pid: int) -> None:
        self._note("started", pid)

    def ended(self, pid: int) -> None:
        self._note("ended", pid)

    def said(self) -> list[tuple[str, int]]:
        return [(what, pid) for what, pid, _ in self.calls]


class Announced(Told):
    """One the spawn thread may also tell the moment a child exists."""

    def announce(self, pid: int) -> None:
        self._note("announce", pid)


def fake_ping(tmp_path, body: str) -> str:
    """An executable shell script standing in for ping (a FAKE)."""
    script = tmp_path / "ping"
    script.write_text(f"#!/bin/sh\n{body}")
    script.chmod(0o755)
    return str(script)


@pytest_twisted.inlineCallbacks
def test_the_child_gets_stdout_stderr_and_a_null_stdin():
    _, proto = start(["/bin/sh", "-c", "cat; echo out; echo err >&2"])
    reason = yield proto.ended
    assert isinstance(reason, error.ProcessDone)
    assert proto.out == {1: b"out\n", 2: b"err\n"}
    assert sorted(proto.lost) == [1, 2]


@pytest_twisted.inlineCallbacks
def test_exit_status_and_signal_as_twisted_reports_them():
    _, proto = start(["/bin/sh", "-c", "exit 3"])
    reason = yield proto.ended
    assert isinstance(reason, error.ProcessTerminated)
    assert (reason.exitCode, reason.signal) == (3, None)
    child, proto = start(["/bin/sleep", "30"])
    child.signalProcess("KILL")
    reason = yield proto.ended
    assert (reason.exitCode, reason.signal) == (None, 9)
    with pytest.raises(error.ProcessExitedAlready):
        child.signalProcess("INT")


@pytest_twisted.inlineCallbacks
def test_only_the_three_descriptors_reach_the_child():
    # The server holds sockets and pipes of its own; none reaches the child.
    held = [socket.socket(), *os.pipe()]
    try:
        _, proto = start(["/bin/ls", "/proc/self/fd"])
        yield proto.ended
    finally:
        held[0].close()
        os.close(held[1])
        os.close(held[2])
    # 0, 1, 2 and the directory ls itself opened to list them
    assert sorted(int(x) for x in proto.out[1].split()) == [0, 1, 2, 3]


def test_an_inherited_descriptor_is_made_close_on_exec():
    r, w = os.pipe()
    try:
        os.set_inheritable(r, True)
        assert spawner.close_on_exec_all() >= 1
        assert not os.get_inheritable(r)
    finally:
        os.close(r)
        os.close(w)


@pytest_twisted.inlineCallbacks
def test_one_child_ending_is_reaped_alone_and_twisted_never_sees_it():
    sleepers = [start(["/bin/sleep", "30"]) for _ in range(20)]
    quick, proto = start(["/bin/true"])
    pid = quick.pid
    assert pid not in process.reapProcessHandlers
    yield proto.ended
    assert quick.pid is None
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # reaped already, by its pidfd's owner
    assert all(child.pid is not None and not p.ended.called for child, p in sleepers)
    for child, _ in sleepers:
        child.signalProcess("KILL")
    yield defer.gatherResults([p.ended for _, p in sleepers])


@pytest_twisted.inlineCallbacks
def test_no_descriptor_is_left_behind():
    before = len(os.listdir("/proc/self/fd"))
    for _ in range(10):
        _, proto = start(["/bin/true"])
        yield proto.ended
    assert len(os.listdir("/proc/self/fd")) <= before


def test_a_missing_executable_raises_and_leaks_nothing(tmp_path):
    before = len(os.listdir("/proc/self/fd"))
    with pytest.raises(OSError):
        start([str(tmp_path / "nope")])
    assert len(os.listdir("/proc/self/fd")) <= before


@pytest_twisted.inlineCallbacks
def test_pingprocess_goes_through_the_spawner_and_tells_the_watchdog(tmp_path):
    script = fake_ping(tmp_path, "echo one\necho two\nexit 1\n")
    lines: list[tuple[str, int]] = []
    done: defer.Deferred = defer.Deferred()
    told = Told()
    proto = PingProcess(
        reactor,
        lambda text, fd: lines.append((text, fd)),
        lambda code, sig: done.callback((code, sig)),
        grace=1,
        max_line=100,
    )
    transport = spawn(reactor, proto, [script], {"PATH": "/usr/bin:/bin"}, watchdog=told)
    assert isinstance(transport, spawner.ChildProcess)
    pid = transport.pid
    assert (yield done) == (1, None)
    assert lines == [("one", 1), ("two", 1)]
    assert told.said() == [("started", pid), ("ended", pid)]


# -- spawned off the reactor thread (the server's own runs) ---------------------------


def start_background(argv: list[str]) -> tuple[spawner.ChildProcess, Recorder]:
    proto = Recorder()
    child = spawner.ChildProcess(
        reactor, proto, argv[0], argv, {"PATH": "/usr/bin:/bin"}, background=True
    )
    return child, proto


@pytest.mark.skipif(not spawner.background_available(), reason="no libc posix_spawn")
@pytest_twisted.inlineCallbacks
def test_a_background_spawn_tells_its_pid_later_and_delivers_everything():
    child, proto = start_background(["/bin/sh", "-c", "cat; echo out; echo err >&2; exit 4"])
    assert child.pid is None and child.pending
    pids: list[int] = []
    child.when_started(pids.append)
    reason = yield proto.ended
    assert len(pids) == 1 and pids[0] > 0
    assert proto.out == {1: b"out\n", 2: b"err\n"}
    assert (reason.exitCode, reason.signal) == (4, None)


@pytest.mark.skipif(not spawner.background_available(), reason="no libc posix_spawn")
@pytest_twisted.inlineCallbacks
def test_a_signal_asked_before_the_pid_is_known_is_sent_once_it_is():
    child, proto = start_background(["/bin/sleep", "30"])
    child.signalProcess("TERM")
    child.signalProcess("KILL")  # the firmest, last asked, is the one sent
    reason = yield proto.ended
    assert (reason.exitCode, reason.signal) == (None, 9)


@pytest.mark.skipif(not spawner.background_available(), reason="no libc posix_spawn")
@pytest_twisted.inlineCallbacks
def test_background_children_get_only_three_descriptors_and_default_signals():
    held = [socket.socket(), *os.pipe()]
    try:
        _, proto = start_background(["/bin/ls", "/proc/self/fd"])
        yield proto.ended
        # SIGPIPE, ignored by Python, is back to its default in the child
        _, sig = start_background(["/bin/sh", "-c", "grep SigIgn /proc/self/status"])
        yield sig.ended
    finally:
        held[0].close()
        os.close(held[1])
        os.close(held[2])
    assert sorted(int(x) for x in proto.out[1].split()) == [0, 1, 2, 3]
    ignored = int(sig.out[1].split()[1], 16)
    assert not ignored & (1 << (13 - 1))  # SIGPIPE


@pytest.mark.skipif(not spawner.background_available(), reason="no libc posix_spawn")
@pytest_twisted.inlineCallbacks
def test_the_watchdog_hears_of_a_background_child_once_its_pid_is_known(tmp_path):
    script = fake_ping(tmp_path, "echo one\n")
    told = Told()
    done: defer.Deferred = defer.Deferred()
    proto = PingProcess(
        reactor, lambda text, fd: None, lambda code, sig: done.callback(code), 1, 100
    )
    transport = spawn(
        reactor, proto, [script], {"PATH": "/usr/bin:/bin"}, watchdog=told, background=True
    )
    assert transport.pid is None
    assert (yield done) == 0
    said = told.said()
    assert [what for what, _ in said] == ["started", "ended"] and said[0][1] == said[1][1]


@pytest.mark.skipif(not spawner.background_available(), reason="no libc posix_spawn")
@pytest_twisted.inlineCallbacks
def test_the_spawn_thread_tells_the_watchdog_before_the_reactor_hears_of_the_pid(tmp_path):
    """The child's output (and the run's start event) can reach a client
    before the reactor runs the spawn thread's answer: were the server to die
    in that moment, only a watchdog told by the thread itself would know the
    child.  Here the reactor is held still and the watchdog knows it anyway."""
    import time

    script = fake_ping(tmp_path, "echo one\n")
    watch = Announced()
    told = watch.calls
    done: defer.Deferred = defer.Deferred()
    proto = PingProcess(
        reactor, lambda text, fd: None, lambda code, sig: done.callback(code), 1, 100
    )
    spawn(reactor, proto, [script], {"PATH": "/usr/bin:/bin"}, watchdog=watch, background=True)
    deadline = time.monotonic() + 5
    while not told and time.monotonic() < deadline:
        time.sleep(0.01)  # the reactor does not turn meanwhile
    assert [what for what, *_ in told] == ["announce"]
    assert told[0][2] != threading.current_thread().name
    assert (yield done) == 0
    assert [what for what, *_ in told] == ["announce", "started", "ended"]
    assert len({pid for _, pid, _ in told}) == 1


@pytest.mark.skipif(not spawner.background_available(), reason="no libc posix_spawn")
@pytest_twisted.inlineCallbacks
def test_background_children_wait_for_a_cpu_behind_the_server():
    """Defence: the tools run at the spawn threads' niceness (10), the
    server's own threads at theirs, so that a machine full of starting tools
    does not hold the server's refusals back (bench scenario f)."""
    mine = os.getpriority(os.PRIO_PROCESS, 0)  # this (the reactor's) thread
    _, proto = start_background(["/bin/sh", "-c", "cut -d' ' -f19 /proc/self/stat"])
    yield proto.ended
    assert int(proto.out[1]) == min(19, mine + spawner._SpawnPool.nice) != mine
    assert os.getpriority(os.PRIO_PROCESS, 0) == mine
